/* qwen2_infer.c — KV cache and batched incremental decoding for the Qwen2 stack. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/qwen2.h"
#include "tensor/be_mem.h"
#include "tensor/ops.h"

int qwen2_kv_init(qwen2_kv *kv, const qwen2 *m, int64_t B, int64_t Tmax, ts_err *e) {
  memset(kv, 0, sizeof *kv);
  backend *be = m->ps->be;
  size_t n = (size_t)(m->c.L * B * Tmax * m->c.Hkv * m->c.D);
  kv->be = be;
  kv->B = B;
  kv->Tmax = Tmax;
  kv->k = be->ops->alloc(be, sizeof(float) * (n ? n : 1));
  kv->v = be->ops->alloc(be, sizeof(float) * (n ? n : 1));
  kv->len = calloc((size_t)(B ? B : 1), sizeof(int32_t));
  if (!kv->k || !kv->v || !kv->len) {
    qwen2_kv_free(kv);
    return err_set(e, TS_ENOMEM, "kv cache: cannot allocate %.1f MiB", 2.0 * n * 4 / 1048576.0);
  }
  /* zeroed: positions past a sequence's length are masked in the scores, but their values still
   * meet zero weights in P.V, and 0 x NaN from uninitialised memory would poison the output */
  tensor tk = tensor_f32(kv->k, 1, (int64_t)(n ? n : 1), 0, 0, 0), tv = tensor_f32(kv->v, 1, (int64_t)(n ? n : 1), 0, 0, 0);
  tk.device = tv.device = be->device;
  if (be->ops->fill(be, &tk, 0.0f) || be->ops->fill(be, &tv, 0.0f)) {
    qwen2_kv_free(kv);
    return err_set(e, TS_EDEVICE, "kv cache: zeroing on the %s device failed", be->ops->name);
  }
  return TS_OK;
}

void qwen2_kv_free(qwen2_kv *kv) {
  if (kv->be) {
    if (kv->k) kv->be->ops->release(kv->be, kv->k);
    if (kv->v) kv->be->ops->release(kv->be, kv->v);
  }
  free(kv->len);
  memset(kv, 0, sizeof *kv);
}

int qwen2_kv_copy_seq(qwen2_kv *kv, const qwen2 *m, int64_t src, int64_t dst, ts_err *e) {
  if (src < 0 || dst < 0 || src >= kv->B || dst >= kv->B) return err_set(e, TS_EARG, "kv cache: bad sequence index");
  if (src == dst) return TS_OK;
  int64_t row = kv->Tmax * m->c.Hkv * m->c.D, n = (int64_t)kv->len[src] * m->c.Hkv * m->c.D;
  for (int64_t l = 0; l < m->c.L; l++) {
    float *base_k = kv->k + l * kv->B * row, *base_v = kv->v + l * kv->B * row;
    tensor sk = tensor_f32(base_k + src * row, 1, n, 0, 0, 0), dk = tensor_f32(base_k + dst * row, 1, n, 0, 0, 0);
    tensor sv = tensor_f32(base_v + src * row, 1, n, 0, 0, 0), dv = tensor_f32(base_v + dst * row, 1, n, 0, 0, 0);
    sk.device = dk.device = sv.device = dv.device = kv->be->device;
    if (n && (op_copy(kv->be, &sk, &dk, e) || op_copy(kv->be, &sv, &dv, e))) return e ? e->code : TS_EINTERNAL;
  }
  kv->len[dst] = kv->len[src];
  return TS_OK;
}

int qwen2_kv_copy_from(qwen2_kv *dst, int64_t db, const qwen2_kv *src, int64_t sb, const qwen2 *m, ts_err *e) {
  if (db < 0 || db >= dst->B || sb < 0 || sb >= src->B) return err_set(e, TS_EARG, "kv cache: bad sequence index");
  if (src->len[sb] > dst->Tmax) return err_set(e, TS_EARG, "kv cache: %d cached tokens do not fit %lld", src->len[sb], (long long)dst->Tmax);
  int64_t hd = m->c.Hkv * m->c.D, n = (int64_t)src->len[sb] * hd;
  for (int64_t l = 0; l < m->c.L && n; l++) {
    const float *sk = src->k + (l * src->B + sb) * src->Tmax * hd, *sv = src->v + (l * src->B + sb) * src->Tmax * hd;
    float *dk = dst->k + (l * dst->B + db) * dst->Tmax * hd, *dv = dst->v + (l * dst->B + db) * dst->Tmax * hd;
    tensor a = tensor_f32((float *)sk, 1, n, 0, 0, 0), b = tensor_f32(dk, 1, n, 0, 0, 0);
    tensor c = tensor_f32((float *)sv, 1, n, 0, 0, 0), d = tensor_f32(dv, 1, n, 0, 0, 0);
    a.device = b.device = c.device = d.device = dst->be->device;
    if (op_copy(dst->be, &a, &b, e) || op_copy(dst->be, &c, &d, e)) return e ? e->code : TS_EINTERNAL;
  }
  dst->len[db] = src->len[sb];
  return TS_OK;
}

int qwen2_step_into(qwen2 *m, qwen2_kv *kv, int64_t T, const float *x, const int32_t *n_new, float *lg, int64_t *Rout,
                    arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  int64_t B = kv->B, C = m->c.C, N = B * T, L = m->c.L;
  arena_mark mk = arena_get_mark(ar);
  int rc = TS_OK;
  int32_t *pos = arena_host_alloc(ar, sizeof(int32_t) * (size_t)(N + 1));
  float *h = arena_alloc(ar, sizeof(float) * (size_t)(N * C + 1)); /* (N, C) the residual stream */
  float *last = arena_alloc(ar, sizeof(float) * (size_t)(B * C + 1));
  float *rs = arena_alloc(ar, sizeof(float) * (size_t)(B + 1));
  if (!pos || !h || !last || !rs) {
    arena_rewind(ar, mk);
    return err_set(e, TS_ENOMEM, "qwen2_step: arena out of memory");
  }
  for (int64_t b = 0; b < B; b++) {
    if (n_new[b] < 0 || n_new[b] > T) {
      arena_rewind(ar, mk);
      return err_set(e, TS_EARG, "qwen2_step: n_new[%lld] = %d outside 0..%lld", (long long)b, n_new[b], (long long)T);
    }
    for (int64_t t = 0; t < T; t++) pos[b * T + t] = kv->len[b] + (int32_t)t;
  }
  int64_t row = kv->Tmax * m->c.Hkv * m->c.D;
  /* the layers run in place on one copy of x (x is the caller's) */
  tensor Xin = tensor_dev(be->device, (float *)x, 2, N, C, 0, 0), H = tensor_dev(be->device, h, 2, N, C, 0, 0);
  rc = op_copy(be, &Xin, &H, e);
  const float *cur = h;
  for (int64_t l = 0; l < L && !rc; l++) {
    dec_params p;
    char nm[256];
    snprintf(nm, sizeof nm, "%smodel.layers.%lld.", m->prefix, (long long)l);
    if ((rc = dec_bind(m->ps, nm, &m->layer, 0, &p, e))) break;
    dec_kv lk = {kv->k + l * B * row, kv->v + l * B * row, kv->Tmax, kv->len, n_new};
    arena_mark lm = arena_get_mark(ar);
    rc = dec_forward_kv(be, &m->layer, &p, B, T, cur, h, pos, &lk, ar, e);
    arena_rewind(ar, lm);
  }
  if (rc) {
    arena_rewind(ar, mk);
    return rc;
  }
  /* gather each sequence's last valid row (one row lookup), then norm + head on B rows only */
  int64_t R = 0;
  int32_t *lrow = arena_host_alloc(ar, sizeof(int32_t) * (size_t)(B + 1));
  if (!lrow) rc = err_set(e, TS_ENOMEM, "qwen2_step: arena out of memory");
  for (int64_t b = 0; !rc && b < B; b++)
    if (n_new[b]) lrow[R++] = (int32_t)(b * T + n_new[b] - 1);
  if (!rc && R) {
    tensor Cur = tensor_dev(be->device, (float *)cur, 2, N, C, 0, 0), Last = tensor_dev(be->device, last, 2, R, C, 0, 0);
    rc = op_embed(be, &Cur, lrow, &Last, e);
  }
  if (!rc && R) {
    tensor Ls = tensor_dev(be->device, last, 2, R, C, 0, 0), Rs = tensor_dev(be->device, rs, 1, R, 0, 0, 0),
           W = pset_w(m->ps, m->i_norm);
    rc = op_rmsnorm(be, &Ls, &W, &Ls, &Rs, m->c.eps, e);
    if (!rc) rc = qwen2_head(m, last, R, lg, e);
  }
  if (Rout) *Rout = R;
  if (!rc)
    for (int64_t b = 0; b < B; b++) kv->len[b] += n_new[b];
  arena_rewind(ar, mk);
  return rc;
}

int qwen2_step(qwen2 *m, qwen2_kv *kv, int64_t T, const float *x, const int32_t *n_new, float *logits,
               arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  int64_t B = kv->B, V = m->c.V, R = 0;
  arena_mark mk = arena_get_mark(ar);
  float *lg = arena_alloc(ar, sizeof(float) * (size_t)(B * V + 1)); /* (B, V) backend memory */
  int rc = lg ? TS_OK : err_set(e, TS_ENOMEM, "qwen2_step: arena out of memory");
  if (!rc) rc = qwen2_step_into(m, kv, T, x, n_new, lg, &R, ar, e);
  if (!rc && R == B) /* every sequence took a token: one copy */
    rc = be_download(be, logits, lg, sizeof(float) * (size_t)(B * V), "qwen2_step logits", e);
  for (int64_t b = 0, r = 0; !rc && R < B && b < B; b++) {
    if (!n_new[b]) continue;
    rc = be_download(be, logits + b * V, lg + r * V, sizeof(float) * (size_t)V, "qwen2_step logits", e);
    r++;
  }
  arena_rewind(ar, mk);
  return rc;
}
