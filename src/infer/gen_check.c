/* gen_check.c — the check of a replayed decoding step (gen_check.h): the KV cache and logits a
 * replay left against those of the step's ops run again, and against the cache before it,
 * bit for bit. */
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

int gen_check_keep(gen_chk *c, backend *be, const float *lgd, int64_t R, int64_t V, const qwen2_kv *kv, int64_t nkv,
                   int64_t cap, ts_err *e) {
  if (!c->replay) { /* 2 nkv + R V <= cap always */
    c->before = malloc(sizeof(float) * (size_t)cap);
    c->replay = malloc(sizeof(float) * (size_t)cap);
    c->rerun = malloc(sizeof(float) * (size_t)cap);
    c->before_ok = 0;
    if (!c->before || !c->replay || !c->rerun) {
      gen_check_free(c);
      return err_set(e, TS_ENOMEM, "generate: out of memory (the replay check)");
    }
  }
  return gen_check_grab(be, lgd, R, V, kv, nkv, c->replay, e);
}

int gen_check_untouched(const float *before, const float *now, const int32_t *len0, const int32_t *n_new, int64_t L,
                        int64_t B, int64_t Tmax, int64_t per, int step, ts_err *e) {
  int64_t nkv = L * B * Tmax * per;
  for (int64_t i = 0; i < 2 * nkv; i++) {
    if (!memcmp(&before[i], &now[i], sizeof(float))) continue;
    int64_t j = i % nkv, t = j / per % Tmax, r = j / per / Tmax % B, l = j / per / Tmax / B;
    if (t == len0[r]) continue; /* a row the step writes */
    return err_set(e, TS_EDEVICE,
                   "generate: decoding step %d replayed changed %s cache layer %lld, sequence %lld, position %lld "
                   "(%.9g -> %.9g), which the step does not write (the sequence's length before the step %d, %s)",
                   step, i < nkv ? "key" : "value", (long long)l, (long long)r, (long long)t, (double)before[i],
                   (double)now[i], len0[r], n_new[r] ? "taking a token" : "taking none");
  }
  return TS_OK;
}

int gen_check_same(gen_chk *c, backend *be, const float *lgd, int64_t R, int64_t V, const qwen2_kv *kv,
                   const int32_t *n_new, int64_t L, int64_t nkv, int step, ts_err *e) {
  const float *a = c->replay, *b = c->rerun;
  int rc = gen_check_grab(be, lgd, R, V, kv, nkv, c->rerun, e);
  if (rc) return rc;
  int64_t per = nkv / (L * kv->B * kv->Tmax); /* (L, B, Tmax, per) */
  int32_t *len0 = malloc(sizeof(int32_t) * (size_t)kv->B); /* the lengths before the step */
  if (!len0) return err_set(e, TS_ENOMEM, "generate: out of memory (the replay check)");
  for (int64_t r = 0; r < kv->B; r++) len0[r] = kv->len[r] - n_new[r];
  if (c->before_ok) rc = gen_check_untouched(c->before, a, len0, n_new, L, kv->B, kv->Tmax, per, step, e);
  for (int64_t i = 0; !rc && i < 2 * nkv + R * V; i++) {
    if (!memcmp(&a[i], &b[i], sizeof(float))) continue;
    if (i >= 2 * nkv) {
      int64_t j = i - 2 * nkv;
      rc = err_set(e, TS_EDEVICE,
                   "generate: decoding step %d replayed gives logit %lld of its row %lld (rows: the sequences "
                   "taking a token, in order) = %.9g, its ops run again %.9g (the replay record misses something "
                   "that changes between steps)",
                   step, (long long)(j % V), (long long)(j / V), (double)a[i], (double)b[i]);
      break;
    }
    int64_t j = i % nkv, t = j / per % kv->Tmax, r = j / per / kv->Tmax % kv->B, l = j / per / kv->Tmax / kv->B;
    rc = err_set(e, TS_EDEVICE,
                 "generate: decoding step %d replayed leaves %s cache layer %lld, sequence %lld, position %lld "
                 "(its length before the step %d) = %.9g, its ops run again %.9g (a cache row the replay missed "
                 "or got wrong)",
                 step, i < nkv ? "key" : "value", (long long)l, (long long)r, (long long)t, len0[r], (double)a[i],
                 (double)b[i]);
  }
  free(len0);
  if (rc) return rc;
  float *t = c->before; /* the rerun's state is the cache before the next step */
  c->before = c->rerun, c->rerun = t;
  c->before_ok = 1;
  return TS_OK;
}

void gen_check_drop(gen_chk *c) { c->before_ok = 0; }

void gen_check_free(gen_chk *c) {
  free(c->before), free(c->replay), free(c->rerun);
  memset(c, 0, sizeof *c);
}
