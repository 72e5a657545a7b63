/* gen_check.c — the check of a replayed decoding step (gen_check.h): the KV cache and logits a
 * replay left against those of the step's ops run again, bit for bit. */
#include "infer/gen_check.h"

#include <stdlib.h>
#include <string.h>

#include "tensor/be_mem.h"

/* the KV cache (keys, then values: nkv floats each) and R rows of logits into dst */
static int gen_check_grab(backend *be, const float *lgd, int64_t R, int64_t V, const qwen2_kv *kv, int64_t nkv,
                          float *dst, ts_err *e) {
  int rc = be_download(be, dst, kv->k, sizeof(float) * (size_t)nkv, "generate: the check's keys", e);
  if (!rc) rc = be_download(be, dst + nkv, kv->v, sizeof(float) * (size_t)nkv, "generate: the check's values", e);
  if (!rc) rc = be_download(be, dst + 2 * nkv, lgd, sizeof(float) * (size_t)(R * V), "generate: the check's logits", e);
  return rc;
}

int gen_check_keep(backend *be, const float *lgd, int64_t R, int64_t V, const qwen2_kv *kv, int64_t nkv, int64_t cap,
                   float **chk, ts_err *e) {
  if (!*chk && !(*chk = malloc(sizeof(float) * (size_t)(2 * cap)))) /* 2 nkv + R V <= cap always */
    return err_set(e, TS_ENOMEM, "generate: out of memory (the replay check)");
  return gen_check_grab(be, lgd, R, V, kv, nkv, *chk, e);
}

int gen_check_same(backend *be, const float *lgd, int64_t R, int64_t V, const qwen2_kv *kv, const int32_t *n_new,
                   int64_t L, int64_t nkv, int64_t cap, int step, float *chk, ts_err *e) {
  float *a = chk, *b = chk + cap;
  int rc = gen_check_grab(be, lgd, R, V, kv, nkv, b, e);
  if (rc) return rc;
  for (int64_t i = 0; i < 2 * nkv + R * V; i++) {
    if (!memcmp(&a[i], &b[i], sizeof(float))) continue;
    if (i >= 2 * nkv) {
      int64_t j = i - 2 * nkv;
      return err_set(e, TS_EDEVICE,
                     "generate: decoding step %d replayed gives logit %lld of its row %lld (rows: the sequences "
                     "taking a token, in order) = %.9g, its ops run again %.9g (the replay record misses something "
                     "that changes between steps)",
                     step, (long long)(j % V), (long long)(j / V), (double)a[i], (double)b[i]);
    }
    int64_t j = i % nkv, per = nkv / (L * kv->B * kv->Tmax); /* (L, B, Tmax, per) */
    int64_t t = j / per % kv->Tmax, r = j / per / kv->Tmax % kv->B, l = j / per / kv->Tmax / kv->B;
    return err_set(e, TS_EDEVICE,
                   "generate: decoding step %d replayed leaves %s cache layer %lld, sequence %lld, position %lld "
                   "(its length before the step %d) = %.9g, its ops run again %.9g (a cache row written where it "
                   "should not be, or missed)",
                   step, i < nkv ? "key" : "value", (long long)l, (long long)r, (long long)t, kv->len[r] - n_new[r],
                   (double)a[i], (double)b[i]);
  }
  return TS_OK;
}

