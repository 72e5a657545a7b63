/* tsmodel_int.h — what the training step's files share (tsmodel_train.c, tsmodel_prefix.c):
 * arena helpers and the shared-prefix layout of a batch whose sequences share their audio
 * input's prompt (GRPO's G completions of one prompt). */
#ifndef TS_TSMODEL_INT_H
#define TS_TSMODEL_INT_H

#include "model/tsmodel.h"

/* backend memory (activations) / host memory (ids, positions, targets) from the arena; NULL
 * with e set when it is full */
void *tsm_dev_alloc(arena *ar, size_t bytes, ts_err *e);
void *tsm_host_alloc(arena *ar, size_t bytes, ts_err *e);
/* *p = the index of the one <|audio|> in ids (n) of sample i; an error naming i when there is
 * none or more than one */
int tsm_audio_index(const tsm *m, const int32_t *ids, int32_t n, int64_t i, int32_t *p, ts_err *e);
/* copies n rows of C floats between backend buffers */
int tsm_copy_rows(backend *be, const float *src, float *dst, int64_t n, int64_t C, ts_err *e);

/* A batch laid out packed, without padding: each audio input's prompt once (the prefix: its
 * text and audio frames), then every sequence's continuation (the tokens from resp_start on). */
typedef struct tsm_pfx {
  dec_prefix pf;          /* P = U prefixes, Bc = B continuations */
  float *x;               /* (N, C) the LLM's input rows, backend memory */
  int64_t N;
  int32_t *pos;           /* (N) positions */
  int32_t *tid;           /* (Ntext) text ids in row order: each prompt's (no <|audio|>), then each continuation's */
  int64_t Ntext;
  int32_t *pp;            /* (U) the <|audio|> index in each prompt: its frames start at that row of the prefix */
  int32_t *row, *tg;      /* (R) the row predicting each response token, and the token, in batch order */
  int64_t R;
} tsm_pfx;

/* Whether batch b can take the layout: sequences with an audio input in common (audio_of; none
 * without it) have the same ids before the same resp_start, every input is used, and some
 * sequence continues past its prompt. */
int tsm_pfx_usable(const tsm_batch *b, int64_t U);
/* Builds the layout from the adapter's output aud (U, Ta, C) with una (U) frames; pp (B) is
 * each sequence's <|audio|> index, its response span checked by the caller (train_step: after
 * the audio, with a row before it). */
int tsm_pfx_build(tsm *m, const tsm_batch *b, int64_t U, const int32_t *pp, const float *aud, int64_t Ta,
                  const int32_t *una, tsm_pfx *o, arena *ar, ts_err *e);
/* From the gradient dx (N, C) of the input rows: the text rows' into the embedding table,
 * and (daud not NULL) the audio rows' added into daud (U, Ta, C). */
int tsm_pfx_input_grads(tsm *m, const tsm_pfx *o, int64_t U, int64_t Ta, const int32_t *una, const float *dx,
                        float *daud, arena *ar, ts_err *e);

#endif
