/* decode_rec.h — one decoded sample as the decoder writes it and eval/select read it: the
 * record, its construction from a raw model output, its JSONL form (one object a line, stable
 * key order), a line-flushing appending writer, a tolerant reader, and the set of ids already
 * decoded (to resume a partial decode).
 *
 * Scoring (paper §3.3): the output is format-checked (cot_parse.h); a format error scores as an
 * empty hypothesis, so every reference word is a deletion. Reference and answer are normalised
 * to LibriSpeech form (normalize.h) and aligned word by word (wer.h).
 *
 * JSONL keys, in this order (optional ones only when known):
 *   id, set, speakers?, target?, sample?, ref, hyp, format_ok, fmt?, sub, del, ins, n,
 *   wrong_speaker?, think_ok?, repetition?, tokens?, logp?, reward?, think?, raw
 * format_ok, wrong_speaker, think_ok and repetition are JSON booleans (the reader also takes
 * 0/1); fmt names the format error (cot_fmt_err_name) when format_ok is false. Every string
 * written is valid UTF-8: invalid bytes and NUL become U+FFFD. */
#ifndef TS_DECODE_REC_H
#define TS_DECODE_REC_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct drec {
  char *id;       /* sample id (from the manifest) */
  char *set;      /* test/train set name, e.g. "single", "libri2mix" */
  char *ref;      /* normalised reference transcript */
  char *hyp;      /* normalised answer; "" on a format error */
  char *raw;      /* the model output text */
  int format_ok;  /* 1 = well-formed (cot_parse.h) */
  int64_t sub, del, ins;
  int64_t n;      /* reference words */
  /* optional: the "unknown" value in brackets means "not written" */
  char *fmt;          /* format error name when format_ok == 0 [NULL] */
  int speakers;       /* speakers in the mixture, 1..3 [0] */
  int target;         /* target speaker index [-1] */
  char *think;        /* the think body, whitespace-trimmed [NULL] */
  int think_ok;       /* CoT checked against the truth: 1 / 0 [-1] */
  int wrong_speaker;  /* hyp closer to an interferer's transcript than the target's [-1] */
  int repetition;     /* the decoder's repetition guard fired [-1] */
  int64_t tokens;     /* completion length in tokens [-1] */
  int has_logp;
  double logp;        /* sum of the completion's token log-probs [has_logp = 0] */
  int sample;         /* index within a GRPO group [-1] */
  int has_reward;
  double reward;      /* [has_reward = 0] */
} drec;

/* Sets every field to empty/unknown (strings NULL). */
void drec_init(drec *r);
/* Frees the strings and re-initialises. */
void drec_free(drec *r);
/* Deep copy into dst (initialised by the call). */
int drec_copy(drec *dst, const drec *src, ts_err *e);
/* S + D + I. */
int64_t drec_errors(const drec *r);
/* A malloc'd copy of n bytes of s as valid UTF-8: each maximal invalid subpart and each NUL
 * byte become U+FFFD. */
int drec_clean_text(const char *s, size_t n, char **out, ts_err *e);

/* Fills out (initialised by the call; free with drec_free) from a raw model output of raw_n
 * bytes: format_ok/fmt, think (when well-formed), hyp = normalised answer ("" on a format
 * error), ref = normalised ref, and sub/del/ins/n from aligning them. id, set and raw are
 * copied (raw made valid UTF-8 as above). Optional fields are left unknown for the caller.
 * Errors: TS_EARG for a NULL id/set/ref, TS_ENOMEM. */
int drec_from_output(const char *id, const char *set, const char *ref, const char *raw,
                     size_t raw_n, drec *out, ts_err *e);

/* Sets r->wrong_speaker from the transcripts of the other speakers of the mixture (raw text,
 * normalised here): 1 when the hypothesis is non-empty and its WER against some interferer is
 * strictly below its WER against the target (r->ref), else 0. With no interferers it is 0. */
int drec_set_wrong_speaker(drec *r, const char *const *others, size_t n_others, ts_err *e);

/* Sets r->think_ok by checking the CoT in r->raw against the sample's facts step by step
 * (cot_parse.h): 1 when every step is right, 0 when any is wrong or missing or the output is
 * not well-formed, -1 (unknown) for a well-formed output with an empty think (BASE, random
 * reasoning: nothing to check). o may be NULL (level mode). Errors: TS_EARG (invalid facts or
 * no raw), TS_ENOMEM. */
struct cot_facts;
struct cot_check_opts;
int drec_set_think_ok(drec *r, const struct cot_facts *f, const struct cot_check_opts *o, ts_err *e);

/* ---- JSONL ---- */

/* One line (no newline), malloc'd into *line. */
int drec_to_json(const drec *r, char **line, ts_err *e);
/* Parses n bytes of one line into out (initialised by the call). what names the place in
 * messages, e.g. "decode.jsonl:12". Required keys: id, set, ref, hyp, format_ok, sub, del,
 * ins, n (raw defaults to ""); a record is rejected when counts are negative, sub + del > n,
 * or a format error has a non-empty hyp. */
int drec_from_json(const char *line, size_t n, const char *what, drec *out, ts_err *e);

/* Line-flushing writer: each put writes one line and flushes it, so a killed decode keeps
 * every finished line. In append mode a file whose last line was cut off gets a newline first
 * (the cut line is then a bad line the reader skips, and its id is not "done"). */
typedef struct drec_writer {
  void *fp; /* FILE * */
  char path[4096];
  int64_t n_written;
} drec_writer;
int drec_writer_open(drec_writer *w, const char *path, int append, ts_err *e);
int drec_writer_put(drec_writer *w, const drec *r, ts_err *e);
int drec_writer_close(drec_writer *w, ts_err *e);

/* Reader: calls fn for each good record (r is valid only during the call; fn returns TS_OK
 * to go on, anything else stops the read with that code). Blank lines are ignored; a bad line
 * is skipped with a warning "PATH:LINE: problem" and counted in *skipped (may be NULL).
 * Only an unreadable file (TS_EIO) or fn's code is an error. */
typedef int (*drec_fn)(const drec *r, void *user, ts_err *e);
int drec_read_each(const char *path, drec_fn fn, void *user, int64_t *skipped, ts_err *e);

/* All good records of a file, appended to *recs (count *n, capacity managed here). */
int drec_read_all(const char *path, drec **recs, size_t *n, int64_t *skipped, ts_err *e);
void drec_free_all(drec *recs, size_t n);

/* ---- id sets (resume, duplicates, selection) ---- */

/* Hash map from id string to an int64 value. */
typedef struct drec_ids drec_ids;
int drec_ids_new(drec_ids **out, ts_err *e);
void drec_ids_free(drec_ids *s);
/* Adds id with val. When id is already present nothing changes and *found = 1 (*old gets its
 * value; found/old may be NULL). */
int drec_ids_add(drec_ids *s, const char *id, int64_t val, int *found, int64_t *old, ts_err *e);
/* 1 when present (*val gets the value; val may be NULL), else 0. */
int drec_ids_get(const drec_ids *s, const char *id, int64_t *val);
/* Changes the value of a present id; 0 when absent. */
int drec_ids_set(drec_ids *s, const char *id, int64_t val);
size_t drec_ids_count(const drec_ids *s);

/* The ids of the good records already in a (possibly partial) decode file: a missing file
 * gives an empty set. Resume by skipping these and appending the rest (drec_writer_open with
 * append = 1). */
int drec_done_ids(const char *path, drec_ids **out, int64_t *skipped, ts_err *e);

#endif
