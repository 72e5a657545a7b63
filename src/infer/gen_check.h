/* gen_check.h — the check of a replayed decoding step (TSASR_CUDA_GRAPHS_CHECK=1, generate.c):
 * what the replay left, the whole KV cache and the R rows of logits, is kept on the host, then
 * compared bit for bit with what the step's ops leave when run again (they write the same cache
 * rows): a wrong logit and a cache row the replay missed or got wrong differ. A row the replay
 * wrote that the step does not write, the rerun would leave as it is: so when the step before
 * was checked too, its final state is the cache before this replay, and the replay may have
 * changed only the rows the step writes (each sequence's row at its length, in every layer: a
 * sequence taking no token is computed too, its row written and not kept). The first replay
 * after a capture has no such state: that part waits for the next. */
#ifndef TS_GEN_CHECK_H
#define TS_GEN_CHECK_H

#include <stdint.h>

#include "base/err.h"
#include "model/qwen2.h"
#include "tensor/backend.h"

/* Host copies of cap floats each (cap >= 2 nkv + R V; made on first use): before (the cache
 * after the last checked step, when before_ok), replay and rerun. */
typedef struct gen_chk {
  float *before, *replay, *rerun;
  int before_ok;
} gen_chk;

/* After a replay: its state (nkv = the cache's floats per tensor, (L, B, Tmax, Hkv, D); lgd
 * the R rows of V logits) into replay. */
int gen_check_keep(gen_chk *c, backend *be, const float *lgd, int64_t R, int64_t V, const qwen2_kv *kv, int64_t nkv,
                   int64_t cap, ts_err *e);
/* After the rerun: its state compared with the replay's, and the replay's with before's where
 * before_ok; TS_EDEVICE naming the step and the first difference (the caches first: a wrong
 * cache row also spoils every later step) by layer (of L), sequence and position, or by logit
 * and row. On success the rerun's state becomes before. */
int gen_check_same(gen_chk *c, backend *be, const float *lgd, int64_t R, int64_t V, const qwen2_kv *kv,
                   const int32_t *n_new, int64_t L, int64_t nkv, int step, ts_err *e);
/* A step that was not checked changed the cache: before no longer holds. */
void gen_check_drop(gen_chk *c);
void gen_check_free(gen_chk *c);

/* The part on rows the step does not write: the first difference between before and now (the
 * keys of a cache (L, B, Tmax, per), then its values, 2 L B Tmax per floats each) outside the
 * rows (l, r, len0[r]); TS_EDEVICE naming it (n_new only for the message). */
int gen_check_untouched(const float *before, const float *now, const int32_t *len0, const int32_t *n_new, int64_t L,
                        int64_t B, int64_t Tmax, int64_t per, int step, ts_err *e);

#endif
