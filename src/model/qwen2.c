/* qwen2.c — Qwen2 decoder stack forward/backward (see qwen2.h). */
#include "model/qwen2.h"

#include <stdio.h>
#include <string.h>

#include "tensor/ops.h"

#define Q2DEV (m->ps->be->device) /* the device of the stack's parameters (m in scope) */
#define TRY(x)           \
  do {                   \
    int rc_ = (x);       \
    if (rc_) return rc_; \
  } while (0)

static void *q2_alloc(arena *ar, size_t bytes, ts_err *e) {
  void *p = arena_alloc(ar, bytes ? bytes : 1);
  if (!p) err_set(e, TS_ENOMEM, "qwen2: activation arena out of memory (%zu bytes)", bytes);
  return p;
}

/* host-side bookkeeping (pointer tables, saved-activation structs) */
static void *q2_host(arena *ar, size_t bytes, ts_err *e) {
  void *p = arena_host_alloc(ar, bytes ? bytes : 1);
  if (!p) err_set(e, TS_ENOMEM, "qwen2: activation arena out of memory (%zu bytes)", bytes);
  return p;
}

static void q2_dec_cfg(const qwen2_cfg *c, dec_cfg *d) {
  d->C = c->C;
  d->Hq = c->Hq;
  d->Hkv = c->Hkv;
  d->D = c->D;
  d->F = c->F;
  d->eps = c->eps;
  d->theta = c->theta;
  d->qkv_bias = 1;
}

int qwen2_declare(pset *ps, const char *prefix, const qwen2_cfg *c, ts_err *e) {
  char nm[256];
  dec_cfg d;
  q2_dec_cfg(c, &d);
  snprintf(nm, sizeof nm, "%smodel.embed_tokens.weight", prefix);
  int64_t emb[2] = {c->V, c->C};
  if (pset_add(ps, nm, 2, emb, 1, e) < 0) return e->code;
  for (int64_t l = 0; l < c->L; l++) {
    snprintf(nm, sizeof nm, "%smodel.layers.%lld.", prefix, (long long)l);
    TRY(dec_declare(ps, nm, &d, e));
  }
  snprintf(nm, sizeof nm, "%smodel.norm.weight", prefix);
  int64_t nn[1] = {c->C};
  if (pset_add(ps, nm, 1, nn, 0, e) < 0) return e->code;
  if (!c->tied) {
    snprintf(nm, sizeof nm, "%slm_head.weight", prefix);
    if (pset_add(ps, nm, 2, emb, 1, e) < 0) return e->code;
  }
  return TS_OK;
}

int qwen2_bind(qwen2 *m, pset *ps, const char *prefix, const qwen2_cfg *c, ts_err *e) {
  memset(m, 0, sizeof *m);
  m->c = *c;
  q2_dec_cfg(c, &m->layer);
  m->ps = ps;
  snprintf(m->prefix, sizeof m->prefix, "%s", prefix);
  char nm[256];
  snprintf(nm, sizeof nm, "%smodel.embed_tokens.weight", prefix);
  if ((m->i_embed = pset_find(ps, nm)) < 0) return err_set(e, TS_EFORMAT, "qwen2: %s missing", nm);
  snprintf(nm, sizeof nm, "%smodel.norm.weight", prefix);
  if ((m->i_norm = pset_find(ps, nm)) < 0) return err_set(e, TS_EFORMAT, "qwen2: %s missing", nm);
  if (c->tied) {
    m->i_head = m->i_embed;
  } else {
    snprintf(nm, sizeof nm, "%slm_head.weight", prefix);
    if ((m->i_head = pset_find(ps, nm)) < 0) return err_set(e, TS_EFORMAT, "qwen2: %s missing", nm);
  }
  return TS_OK;
}

int qwen2_embed(qwen2 *m, const int32_t *ids, int64_t N, float *x, ts_err *e) {
  tensor W = pset_w(m->ps, m->i_embed), X = tensor_dev(Q2DEV, x, 2, N, m->c.C, 0, 0);
  return op_embed(m->ps->be, &W, ids, &X, e);
}

int qwen2_embed_bwd(qwen2 *m, const int32_t *ids, int64_t N, const float *dx, ts_err *e) {
  if (!m->ps->g || m->ps->v[m->i_embed].frozen) return TS_OK;
  tensor G = pset_g(m->ps, m->i_embed), DX = tensor_dev(Q2DEV, (float *)dx, 2, N, m->c.C, 0, 0);
  return op_embed_bwd(m->ps->be, ids, &DX, &G, e);
}

static int q2_layer_params(qwen2 *m, int64_t l, int grad, dec_params *p, ts_err *e) {
  char nm[256];
  snprintf(nm, sizeof nm, "%smodel.layers.%lld.", m->prefix, (long long)l);
  return dec_bind(m->ps, nm, &m->layer, grad, p, e);
}

static int qwen2_forward_run(qwen2 *m, int64_t B, int64_t T, const float *x, const int32_t *pos,
                             const attn_cfg *mask, const dec_prefix *pf, qwen2_acts *a, int infer, arena *ar,
                             ts_err *e) {
  backend *be = m->ps->be;
  int64_t N = B * T, C = m->c.C, L = m->c.L;
  memset(a, 0, sizeof *a);
  a->B = B, a->T = T, a->infer = infer;
  if (!(a->xin = q2_host(ar, sizeof(float *) * (size_t)(L + 1), e))) return TS_ENOMEM;
  if (!(a->layer = q2_host(ar, sizeof(dec_acts) * (size_t)(L ? L : 1), e))) return TS_ENOMEM;
  a->xin[0] = (float *)x;
  float *pp[2] = {NULL, NULL}; /* inference: the layers' outputs alternate between two buffers */
  if (infer && (!(pp[0] = q2_alloc(ar, sizeof(float) * (size_t)(N * C), e)) ||
                !(pp[1] = q2_alloc(ar, sizeof(float) * (size_t)(N * C), e))))
    return TS_ENOMEM;
  arena_mark lm = arena_get_mark(ar);
  for (int64_t l = 0; l < L; l++) {
    if (infer) a->xin[l + 1] = pp[l & 1];
    else if (!(a->xin[l + 1] = q2_alloc(ar, sizeof(float) * (size_t)(N * C), e))) return TS_ENOMEM;
    dec_params p;
    TRY(q2_layer_params(m, l, 0, &p, e));
    TRY(pf ? dec_forward_prefix(be, &m->layer, &p, N, a->xin[l], a->xin[l + 1], pos, pf, &a->layer[l], ar, e)
           : dec_forward(be, &m->layer, &p, B, T, a->xin[l], a->xin[l + 1], pos, mask, &a->layer[l], ar, e));
    if (infer) { /* the next layer reuses this one's activations' memory */
      arena_rewind(ar, lm);
      memset(&a->layer[l], 0, sizeof a->layer[l]);
    }
  }
  if (!(a->hid = q2_alloc(ar, sizeof(float) * (size_t)(N * C), e))) return TS_ENOMEM;
  if (!(a->rf = q2_alloc(ar, sizeof(float) * (size_t)N, e))) return TS_ENOMEM;
  tensor X = tensor_dev(Q2DEV, a->xin[L], 2, N, C, 0, 0), H = tensor_dev(Q2DEV, a->hid, 2, N, C, 0, 0),
         R = tensor_dev(Q2DEV, a->rf, 1, N, 0, 0, 0), W = pset_w(m->ps, m->i_norm);
  return op_rmsnorm(be, &X, &W, &H, &R, m->c.eps, e);
}

int qwen2_forward(qwen2 *m, int64_t B, int64_t T, const float *x, const int32_t *pos, const attn_cfg *mask,
                  qwen2_acts *a, arena *ar, ts_err *e) {
  return qwen2_forward_run(m, B, T, x, pos, mask, NULL, a, 0, ar, e);
}

int qwen2_forward_prefix(qwen2 *m, int64_t N, const float *x, const int32_t *pos, const dec_prefix *pf, int infer,
                         qwen2_acts *a, arena *ar, ts_err *e) {
  return qwen2_forward_run(m, 1, N, x, pos, NULL, pf, a, infer, ar, e);
}

int qwen2_forward_infer(qwen2 *m, int64_t B, int64_t T, const float *x, const int32_t *pos, const attn_cfg *mask,
                        qwen2_acts *a, arena *ar, ts_err *e) {
  return qwen2_forward_run(m, B, T, x, pos, mask, NULL, a, 1, ar, e);
}

int qwen2_head(qwen2 *m, const float *hid, int64_t R, float *logits, ts_err *e) {
  tensor H = tensor_dev(Q2DEV, (float *)hid, 2, R, m->c.C, 0, 0), W = pset_w(m->ps, m->i_head),
         Lg = tensor_dev(Q2DEV, logits, 2, R, m->c.V, 0, 0);
  return op_matmul(m->ps->be, &H, &W, NULL, &Lg, 0, 1, 0.0f, e);
}

int qwen2_head_bwd(qwen2 *m, const float *hid, const float *dlogits, int64_t R, float *dhid, ts_err *e) {
  tensor H = tensor_dev(Q2DEV, (float *)hid, 2, R, m->c.C, 0, 0), W = pset_w(m->ps, m->i_head),
         DL = tensor_dev(Q2DEV, (float *)dlogits, 2, R, m->c.V, 0, 0), DH = tensor_dev(Q2DEV, dhid, 2, R, m->c.C, 0, 0);
  tensor G = pset_g(m->ps, m->i_head);
  int train_head = m->ps->g && !m->ps->v[m->i_head].frozen;
  return op_matmul_bwd_set(m->ps->be, &H, &W, &DL, &DH, train_head ? &G : NULL, NULL, 0, 1, e);
}

int qwen2_backward(qwen2 *m, const qwen2_acts *a, const int32_t *pos, const attn_cfg *mask, const float *dhid,
                   float *dx, arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  int64_t N = a->B * a->T, C = m->c.C, L = m->c.L;
  if (a->infer) return err_set(e, TS_EARG, "qwen2: backward of an inference forward (qwen2_forward_infer keeps no activations)");
  arena_mark mk = arena_get_mark(ar);
  float *d0 = q2_alloc(ar, sizeof(float) * (size_t)(N * C), e);
  float *d1 = q2_alloc(ar, sizeof(float) * (size_t)(N * C), e);
  if (!d0 || !d1) return TS_ENOMEM;
  tensor X = tensor_dev(Q2DEV, a->xin[L], 2, N, C, 0, 0), R = tensor_dev(Q2DEV, a->rf, 1, N, 0, 0, 0),
         W = pset_w(m->ps, m->i_norm), GW = pset_g(m->ps, m->i_norm),
         DH = tensor_dev(Q2DEV, (float *)dhid, 2, N, C, 0, 0), D0 = tensor_dev(Q2DEV, d0, 2, N, C, 0, 0);
  TRY(op_fill(be, &D0, 0.0f, e));
  TRY(op_rmsnorm_bwd(be, &X, &W, &R, &DH, &D0, m->ps->g ? &GW : NULL, e));
  float *cur = d0, *nxt = d1;
  for (int64_t l = L - 1; l >= 0; l--) {
    dec_params p, gp;
    TRY(q2_layer_params(m, l, 0, &p, e));
    TRY(q2_layer_params(m, l, 1, &gp, e));
    float *out = l == 0 ? dx : nxt;
    TRY(dec_backward(be, &m->layer, &p, &gp, &a->layer[l], pos, mask, cur, out, ar, e));
    nxt = cur;
    cur = out;
  }
  if (L == 0) {
    tensor DX = tensor_dev(Q2DEV, dx, 2, N, C, 0, 0);
    TRY(op_copy(be, &D0, &DX, e));
  }
  arena_rewind(ar, mk);
  return TS_OK;
}
