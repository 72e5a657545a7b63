/* corpus.h — index of a LibriSpeech-layout corpus: speakers (gender from SPEAKERS.TXT),
 * utterances (transcript, audio path, duration from the audio header), cached on disk.
 *
 * Layout: ROOT/[SUBSET/]SPEAKER/CHAPTER/SPEAKER-CHAPTER-UTT.flac (or .wav) with
 * SPEAKER-CHAPTER.trans.txt beside it ("UTTID TEXT" lines) and SPEAKERS.TXT in ROOT or one of
 * its two parents (";" comment lines, "ID | SEX | SUBSET | MINUTES | NAME").
 * Header information (frames, rate) is cached in a TSV keyed by path, size and mtime: a file
 * that changed is probed again, a new one is added, a removed one dropped, and the cache is
 * rewritten whenever it differs from the tree. */
#ifndef TS_CORPUS_H
#define TS_CORPUS_H

#include <stdint.h>

#include "base/err.h"

typedef struct corpus_utt {
  char *id;       /* "19-198-0001" */
  char *path;     /* audio file (ROOT joined with the relative path) */
  char *text;     /* transcript as written in the .trans.txt */
  int spk;        /* index into corpus.spks */
  int trans;      /* index into corpus.trans_files (-1 for utterances added by hand) */
  int line;       /* line in that transcript (1-based) */
  int64_t frames; /* samples per channel; -1 = unknown (built without audio) */
  int rate;       /* Hz; 0 = unknown */
  double dur;     /* seconds; NAN = unknown */
} corpus_utt;

typedef struct corpus_spk {
  char *id;
  char gender;    /* 'M', 'F' or '?' */
  char *subset;   /* from SPEAKERS.TXT or the folder; may be NULL */
  char *name;     /* may be NULL */
  int64_t *utts;  /* (n_utts) indices into corpus.utts, in id order */
  int n_utts;
} corpus_spk;

typedef struct corpus {
  char *root;
  corpus_utt *utts; /* (n_utts) sorted by id */
  int64_t n_utts, cap_utts;
  corpus_spk *spks; /* (n_spks) sorted by id */
  int n_spks, cap_spks;
  char **trans_files; /* (n_trans) */
  int n_trans;
  char *speakers_txt; /* path of SPEAKERS.TXT used, or NULL */
  int64_t n_skipped;  /* utterances or lines left out because something was wrong */
  int64_t n_short;    /* utterances left out by min_dur / max_dur */
  char first_skip[512];
  int64_t n_probed;   /* audio headers read this time (0 when all came from the cache) */
  int cache_written;  /* 1 when the cache file was (re)written */
  char **pend_spk;    /* internal: speaker id of each utterance until corpus_finish */
} corpus;

typedef struct corpus_opts {
  const char *cache_dir; /* NULL: $TSASR_CACHE, else $XDG_CACHE_HOME/tsasr, else ~/.cache/tsasr */
  int no_cache;          /* 1: neither read nor write the cache */
  int rate;              /* expected sample rate; files at another rate are skipped; 0 = any */
  double min_dur;        /* seconds; shorter utterances are left out (LibriMix: 3); 0 = keep */
  double max_dur;        /* seconds; 0 = no limit */
} corpus_opts;

void corpus_opts_default(corpus_opts *o);

/* Indexes the tree under root. Problems with single files or lines (no audio, unreadable
 * audio, wrong rate, malformed transcript line, bad SPEAKERS.TXT line) are logged with the
 * file and line, counted in n_skipped, and skipped. */
int corpus_open(const char *root, const corpus_opts *o, corpus *c, ts_err *e);
void corpus_free(corpus *c);

/* Building a corpus by hand (tests, generators): init, add, then finish (sorts, links). */
void corpus_init(corpus *c, const char *root);
int corpus_add_speaker(corpus *c, const char *id, char gender, const char *subset, ts_err *e);
int corpus_add_utt(corpus *c, const char *id, const char *spk_id, const char *path,
                   const char *text, int64_t frames, int rate, ts_err *e);
int corpus_finish(corpus *c, ts_err *e);

/* Index of the utterance or speaker with that id, or -1. */
int64_t corpus_find_utt(const corpus *c, const char *id);
int corpus_find_spk(const corpus *c, const char *id);
/* "file:line" of an utterance's transcript line (or its id when added by hand). */
const char *corpus_utt_where(const corpus *c, int64_t u, char *buf, int n);

/* Reads frames and sample rate from an audio header (libsndfile); TS_EUNSUP without audio. */
int corpus_probe_audio(const char *path, int64_t *frames, int *rate, ts_err *e);

#endif
