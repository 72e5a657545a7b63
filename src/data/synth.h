/* synth.h — the synthetic corpus: text-to-speech voices of Debian packages (espeak-ng voices and
 * variants at set pitch and speed, flite, festival) reading GRID-style commands or sentences of a
 * public-domain book, written in LibriSpeech layout at 16 kHz FLAC:
 *
 *   OUT/SPLIT/SPEAKER/CHAPTER/SPEAKER-CHAPTER-NNNN.flac, SPEAKER-CHAPTER.trans.txt
 *   OUT/SPEAKERS.TXT (";" comments, "ID | SEX | SUBSET | MINUTES | NAME")
 *   OUT/synth.json   (settings, voices with engine and arguments, splits, vocabulary sizes)
 *
 * Splits: train (seen voices, train sentences), dev-seen and test-seen (seen voices, held-out
 * dev/test sentences), dev-unseen and test-unseen (held-out voices, dev/test sentences). A
 * sentence's split is a hash of its text, so no dev/test sentence is ever in train. Voices that
 * are the same person in two engines (flite/festival slt, kal) are held out together.
 * Deterministic: the same settings and seed give byte-identical files, whatever --jobs is. */
#ifndef TS_SYNTH_H
#define TS_SYNTH_H

#include <stdint.h>

#include "base/err.h"

enum { SYNTH_GRID = 0, SYNTH_BOOK = 1 };
enum { SYNTH_ESPEAK = 0, SYNTH_FLITE = 1, SYNTH_FESTIVAL = 2 };

typedef struct synth_voice {
  int engine;          /* SYNTH_* */
  const char *voice;   /* espeak "en-us+f3", flite "slt", festival "kal_diphone" */
  char gender;         /* 'M' or 'F' */
  int pitch, speed;    /* espeak -p and -s (words per minute); 0 for the others */
  int group;           /* voices of the same person share a group */
} synth_voice;

typedef struct synth_opts {
  uint64_t seed;
  int voices;          /* how many voices (first of the table among installed engines); 0 = all */
  int utts_per_voice;  /* train utterances per seen voice (eval splits get max(2, U/10)) */
  int source;          /* SYNTH_GRID or SYNTH_BOOK */
  const char *book;    /* book text for SYNTH_BOOK; NULL = SYNTH_BOOK_DEFAULT */
  int jobs;            /* worker threads (each runs TTS processes) */
  unsigned engines;    /* bit mask of 1 << SYNTH_*; 0 = all installed */
  double unseen_frac;  /* share of voices held out (dev-unseen + test-unseen): 0.2 */
  int quiet;           /* no progress lines */
  int force;           /* write into a non-empty OUT_DIR */
} synth_opts;

typedef struct synth_report {
  int n_voices, n_unseen;
  int64_t n_utts;
  double audio_sec;    /* seconds of audio written */
  double wall_sec;
  double utts_per_sec;
  int vocab;           /* words of the source (grammar or book sentences) */
  int n_sentences;     /* distinct sentences available (book) or used (grid) */
  int class_sentences[3]; /* of those: train, dev, test (held-out) sentences */
  int64_t per_split[5];
} synth_report;

void synth_opts_default(synth_opts *o);
/* The full voice table (static) and its size. */
const synth_voice *synth_voice_table(int *n);
/* 1 when the engine's program (and for festival its voices) is installed. */
int synth_engine_available(int engine);
/* Generates the corpus under out_dir. Needs TS_HAVE_AUDIO (TS_EUNSUP otherwise). */
int synth_run(const char *out_dir, const synth_opts *o, synth_report *r, ts_err *e);

#endif
