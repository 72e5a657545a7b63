/* decode.h — decoding a manifest with the composed model into a decode JSONL (DESIGN §9):
 * batched greedy or sampled generation, the paper's answer extraction (a format error scores
 * as an empty hypothesis), WER against the target's transcript; lines are appended and
 * flushed as they are produced, and an interrupted decode resumes where it stopped. */
#ifndef TS_DECODE_H
#define TS_DECODE_H

#include "data/sample.h"
#include "infer/generate.h"

typedef struct decode_cfg {
  const char *manifest;
  const char *out;       /* decode JSONL */
  int batch;             /* inputs per generate call */
  gen_cfg gen;           /* greedy by default */
  int64_t limit;         /* at most this many entries (0 = all) */
  int resume;            /* skip ids already in out */
  int threads;
  sample_opts sample;
  /* response prefix (NULL: none): tokenized (special tokens recognised) and forced after the
   * prompt, and put in front of each output before it is parsed and scored (e.g.
   * "<think></think><answer>" decodes a CoT model without reasoning); the record's tokens and
   * logp cover the generated tokens only */
  const char *prefix;
  /* progress callback (done, total); non-zero stops */
  int (*on_progress)(void *user, int64_t done, int64_t total, double wer_so_far);
  void *user;
} decode_cfg;

typedef struct decode_summary {
  int64_t n, format_errors, repetition;
  int64_t sub, del, ins, words;
  double wer;
  double secs, tokens_per_s;
} decode_summary;

void decode_cfg_default(decode_cfg *c);
int decode_run(tsm *m, const decode_cfg *c, decode_summary *out, ts_err *e);

#endif
