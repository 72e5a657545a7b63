/* spk_import.h — speaker embeddings computed elsewhere (e.g. CAM++ of 3D-Speaker), imported from
 * a JSONL file, one segment a line:
 *
 *   {"utt": "1089-134686-0000", "start": 0, "duration": 3.0, "emb": [0.013, -0.274, ...]}
 *
 * utt: utterance id (the manifest's "utt", else the audio file name without extension);
 * start, duration: the segment in seconds within that utterance (default 0; duration 0 or
 * absent = the whole utterance / to its end); emb: the embedding, the same length on every line.
 * Blank lines are skipped. Any other problem is an error naming the file and line: not JSON, a
 * missing or mistyped key, a non-finite value, an embedding of another length than the first
 * line's (or than the expected dimension), a segment listed twice. */
#ifndef TS_SPK_IMPORT_H
#define TS_SPK_IMPORT_H

#include <stdint.h>

#include "base/err.h"

typedef struct spk_seg {
  char *utt;
  double start, duration;
  int line;
} spk_seg;

typedef struct spk_table {
  char *path;
  int dim;
  int64_t n;
  spk_seg *seg;   /* (n) sorted by utt, start, duration */
  float *emb;     /* (n, dim) in the same order */
} spk_table;

/* Reads path; dim > 0 requires that dimension, 0 takes the first line's. */
int spk_table_load(const char *path, int dim, spk_table *t, ts_err *e);
/* The embedding of (utt, start, duration) within 5 ms, or NULL. duration 0 matches only a
 * whole-utterance line. */
const float *spk_table_find(const spk_table *t, const char *utt, double start, double duration);
void spk_table_free(spk_table *t);

#endif
