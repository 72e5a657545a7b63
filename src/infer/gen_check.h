/* gen_check.h — the check of a replayed decoding step (TSASR_CUDA_GRAPHS_CHECK=1, generate.c):
 * what the replay left, the whole KV cache and the R rows of logits, is kept on the host, then
 * compared bit for bit with what the step's ops leave when run again (they write the same cache
 * rows). A wrong logit and a cache row the replay missed or got wrong differ; a row it wrote
 * that the step does not write would not (the rerun leaves it as it is). */
#ifndef TS_GEN_CHECK_H
#define TS_GEN_CHECK_H

#include <stdint.h>

#include "base/err.h"
#include "model/qwen2.h"
#include "tensor/backend.h"

/* Keeps the replay's state in the first half of *chk (2 cap floats, made on first use; cap >=
 * 2 nkv + R V): nkv = the cache's floats per tensor (L, B, Tmax, Hkv, D), lgd the R rows of V
 * logits. */
int gen_check_keep(backend *be, const float *lgd, int64_t R, int64_t V, const qwen2_kv *kv, int64_t nkv, int64_t cap,
                   float **chk, ts_err *e);
/* After the rerun: the same into the second half, compared with the first; TS_EDEVICE naming
 * step and the first difference (the caches first: a wrong cache row also spoils every later
 * step), by layer (of L), sequence and position, or by logit and row. */
int gen_check_same(backend *be, const float *lgd, int64_t R, int64_t V, const qwen2_kv *kv, const int32_t *n_new,
                   int64_t L, int64_t nkv, int64_t cap, int step, float *chk, ts_err *e);

#endif
