/* decoder.c — Qwen2-style decoder layer forward/backward (see decoder.h). */
#include "nn/decoder.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/decoder_int.h"
#include "tensor/be_mem.h"
#include "tensor/ops.h"
#include "tensor/params.h"

int dec_declare(pset *ps, const char *prefix, const dec_cfg *c, ts_err *e) {
  char nm[256];
  /* q/k/v weights (and biases) and gate/up are stored back to back (packed), so that each
   * group is one matrix and one GEMM */
  struct {
    const char *n;
    int nd;
    int64_t a, b;
    int decay, packed;
  } t[] = {
      {"input_layernorm.weight", 1, c->C, 0, 0, 0},
      {"self_attn.q_proj.weight", 2, c->Hq * c->D, c->C, 1, 0},
      {"self_attn.k_proj.weight", 2, c->Hkv * c->D, c->C, 1, 1},
      {"self_attn.v_proj.weight", 2, c->Hkv * c->D, c->C, 1, 1},
      {"self_attn.q_proj.bias", 1, c->Hq * c->D, 0, 0, 0},
      {"self_attn.k_proj.bias", 1, c->Hkv * c->D, 0, 0, 1},
      {"self_attn.v_proj.bias", 1, c->Hkv * c->D, 0, 0, 1},
      {"self_attn.o_proj.weight", 2, c->C, c->Hq * c->D, 1, 0},
      {"post_attention_layernorm.weight", 1, c->C, 0, 0, 0},
      {"mlp.gate_proj.weight", 2, c->F, c->C, 1, 0},
      {"mlp.up_proj.weight", 2, c->F, c->C, 1, 1},
      {"mlp.down_proj.weight", 2, c->C, c->F, 1, 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    if (!c->qkv_bias && strstr(t[i].n, "proj.bias")) continue;
    snprintf(nm, sizeof nm, "%s%s", prefix, t[i].n);
    int64_t ne[2] = {t[i].a, t[i].b};
    int rc = t[i].packed ? pset_add_packed(ps, nm, t[i].nd, ne, t[i].decay, e)
                         : pset_add(ps, nm, t[i].nd, ne, t[i].decay, e);
    if (rc < 0) return e ? e->code : TS_EARG;
  }
  return TS_OK;
}

static int dec_get(const pset *ps, const char *prefix, const char *name, int grad, tensor *out, ts_err *e) {
  char nm[256];
  snprintf(nm, sizeof nm, "%s%s", prefix, name);
  int i = pset_find(ps, nm);
  if (i < 0) return err_set(e, TS_EFORMAT, "decoder: parameter %s missing", nm);
  *out = grad ? pset_g(ps, i) : pset_w(ps, i);
  return TS_OK;
}

/* the `count` tensors from `first` on as one stacked view (dec_declare stores them packed) */
static int dec_stack(const pset *ps, const char *prefix, const char *first, int count, int grad, tensor *out,
                     ts_err *e) {
  char nm[256];
  snprintf(nm, sizeof nm, "%s%s", prefix, first);
  int i = pset_find(ps, nm);
  if (i < 0) return err_set(e, TS_EFORMAT, "decoder: parameter %s missing", nm);
  return pset_rows(ps, grad ? ps->g : ps->w, i, count, out, e);
}

int dec_bind(const pset *ps, const char *prefix, const dec_cfg *c, int grad, dec_params *p, ts_err *e) {
  memset(p, 0, sizeof *p);
  TRY(dec_get(ps, prefix, "input_layernorm.weight", grad, &p->ln1, e));
  TRY(dec_stack(ps, prefix, "self_attn.q_proj.weight", 3, grad, &p->wqkv, e));
  TRY(dec_get(ps, prefix, "self_attn.o_proj.weight", grad, &p->wo, e));
  if (c->qkv_bias) TRY(dec_stack(ps, prefix, "self_attn.q_proj.bias", 3, grad, &p->bqkv, e));
  TRY(dec_get(ps, prefix, "post_attention_layernorm.weight", grad, &p->ln2, e));
  TRY(dec_stack(ps, prefix, "mlp.gate_proj.weight", 2, grad, &p->wgu, e));
  TRY(dec_get(ps, prefix, "mlp.down_proj.weight", grad, &p->wd, e));
  if (p->wqkv.ne[0] != (c->Hq + 2 * c->Hkv) * c->D || p->wgu.ne[0] != 2 * c->F)
    return err_set(e, TS_ESHAPE, "decoder: %s projections do not match the configuration", prefix);
  return TS_OK;
}

static const tensor *opt(const tensor *t) { return t->data ? t : NULL; }

static int dec_fwd(backend *be, const dec_cfg *c, const dec_params *p, int64_t B, int64_t T, const float *x,
                   float *y, const int32_t *pos, const attn_cfg *mask, const dec_kv *kv, const dec_prefix *pf,
                   dec_acts *acts, arena *ar, ts_err *e) {
  int64_t N = B * T, C = c->C, QD = c->Hq * c->D, KD = c->Hkv * c->D, F = c->F;
  dec_acts tmp;
  dec_acts *a = acts ? acts : &tmp;
  memset(a, 0, sizeof *a);
  a->B = B, a->T = T, a->x = x, a->pf = pf;
  /* the GEMM inputs in bf16 where the backend stores them so (a full-sequence forward:
   * training and scoring; cached decoding keeps f32) */
  a->adt = kv ? DT_F32 : op_act_dtype(be);
  ALLOC_DT(a->h1, N * C, a->adt);
  ALLOC(a->r1, N);
  ALLOC(a->q, N * QD);
  ALLOC(a->k, N * KD);
  ALLOC(a->v, N * KD);
  ALLOC(a->att, N * QD);
  ALLOC(a->lse, pf ? c->Hq * (pf->P * pf->Tp + pf->Bc * pf->Tc) : B * c->Hq * T); /* prefix: padded queries */
  if (acts) ALLOC(a->h, N * C); /* inference keeps the residual stream in y (below) */
  ALLOC_DT(a->h2, N * C, a->adt);
  ALLOC(a->r2, N);
  ALLOC(a->gu, N * 2 * F);
  ALLOC_DT(a->a, N * F, a->adt);
  tensor X = T2((float *)x, N, C), H1 = dec_view(be, a->h1, a->adt, N, C), R1 = T1(a->r1, N);
  TRY(op_rmsnorm(be, &X, &p->ln1, &H1, &R1, c->eps, e));
  /* with a cache: the new keys/values go to each sequence's next rows of it (dst), and
   * attention reads the cache */
  int32_t *kvlen = NULL, *dst = NULL;
  if (kv) {
    if (!(kvlen = arena_host_alloc(ar, sizeof(int32_t) * (size_t)B)) ||
        !(dst = arena_host_alloc(ar, sizeof(int32_t) * (size_t)(B * T))))
      return err_set(e, TS_ENOMEM, "decoder: arena");
    for (int64_t b = 0; b < B; b++) {
      if (kv->len[b] < 0 || kv->len[b] + T > kv->Tmax)
        return err_set(e, TS_EARG, "decoder: cache of %lld positions cannot take %lld more after %d",
                       (long long)kv->Tmax, (long long)T, kv->len[b]);
      for (int64_t t = 0; t < T; t++) dst[b * T + t] = (int32_t)(b * kv->Tmax + kv->len[b] + t);
      kvlen[b] = kv->len[b] + (kv->n_new ? kv->n_new[b] : (int32_t)T);
    }
  }
  /* one GEMM against the stacked q/k/v weights, then the heads taken apart (and q, k
   * rotated) into q, k, v, or k and v straight into the cache rows (no row scatter after: a
   * decoding step's launches are what it waits on); the packed (N, QD + 2 KD) result is
   * scratch */
  tensor Q4 = T4(a->q, B, T, c->Hq, c->D), K4 = T4(a->k, B, T, c->Hkv, c->D), V4 = T4(a->v, B, T, c->Hkv, c->D);
  attn_cfg ac;
  memset(&ac, 0, sizeof ac);
  if (mask) ac = *mask;
  ac.causal = 1;
  ac.scale = 1.0f / sqrtf((float)c->D);
  ac.bias = NULL;
  ac.keep = NULL;
  /* a backward may follow: what the backend keeps of this forward for it */
  if (acts && !kv && !pf) TRY(be_attn_keep(be, ar, &Q4, &K4, &ac, &a->keep, "decoder", e));
  {
    arena_mark mk = arena_get_mark(ar);
    float *qkv;
    ALLOC(qkv, N * (QD + 2 * KD));
    tensor QKV = T2(qkv, N, QD + 2 * KD), QKV4 = T4(qkv, B, T, c->Hq + 2 * c->Hkv, c->D);
    tensor Kc = kv ? T2(kv->k, B * kv->Tmax, KD) : K4, Vc = kv ? T2(kv->v, B * kv->Tmax, KD) : V4;
    int rc = op_matmul(be, &H1, &p->wqkv, opt(&p->bqkv), &QKV, 0, 1, 0.0f, e);
    if (!rc)
      rc = kv ? op_split_heads_kv(be, &QKV4, &Q4, &Kc, &Vc, dst, pos, c->theta, e)
              : op_split_heads_keep(be, &QKV4, &Q4, &K4, &V4, pos, c->theta, ac.keep, e);
    arena_rewind(ar, mk);
    TRY(rc);
  }
  tensor A4 = T4(a->att, B, T, c->Hq, c->D), L = tensor_dev(be->device, a->lse, 3, B, c->Hq, T, 0);
  /* the residual stream: training keeps h for backward; inference accumulates it in y, so a
   * layer run in place (y == x, as decoding steps do) is a GEMM onto its own input (each op is a
   * launch on a GPU, and a decoding step's launches are what it waits on). The residual sums are
   * GEMMs onto the residual (op_matmul_res: no copy into the sum first, where the backend reads
   * the residual as it writes the sum), the out projection's right after the attention (a device
   * backend's GEMM may then take the attention's own bf16 output as its rounding of att) */
  float *hs = acts ? a->h : y; /* (N, C) */
  tensor A2 = T2(a->att, N, QD), Hh = T2(hs, N, C);
  if (kv) {
    ac.q_pos0 = kv->len;
    ac.kv_len = kvlen;
    tensor KC = T4(kv->k, B, kv->Tmax, c->Hkv, c->D), VC = T4(kv->v, B, kv->Tmax, c->Hkv, c->D);
    TRY(op_attention(be, &Q4, &KC, &VC, &A4, &L, &ac, e));
  } else if (pf) {
    TRY(dec_attn_prefix(be, c, pf, &ac, a->q, a->k, a->v, a->att, a->lse, NULL, NULL, NULL, NULL, ar, e));
  } else {
    TRY(op_attention(be, &Q4, &K4, &V4, &A4, &L, &ac, e));
  }
  TRY(op_matmul_res(be, &A2, &p->wo, NULL, &X, &Hh, 0, 1, e)); /* h = x + o_proj(att) */
  tensor H2 = dec_view(be, a->h2, a->adt, N, C), R2 = T1(a->r2, N);
  TRY(op_rmsnorm(be, &Hh, &p->ln2, &H2, &R2, c->eps, e));
  tensor GU = T2(a->gu, N, 2 * F), Aa = dec_view(be, a->a, a->adt, N, F), Y = T2(y, N, C);
  TRY(op_matmul(be, &H2, &p->wgu, NULL, &GU, 0, 1, 0.0f, e)); /* [gate | up] in one GEMM */
  TRY(op_swiglu_packed(be, &GU, &Aa, e));
  TRY(op_matmul_res(be, &Aa, &p->wd, NULL, &Hh, &Y, 0, 1, e)); /* y = h + down(a) */
  return TS_OK;
}

int dec_forward(backend *be, const dec_cfg *c, const dec_params *p, int64_t B, int64_t T, const float *x,
                float *y, const int32_t *pos, const attn_cfg *mask, dec_acts *acts, arena *ar, ts_err *e) {
  return dec_fwd(be, c, p, B, T, x, y, pos, mask, NULL, NULL, acts, ar, e);
}

int dec_forward_prefix(backend *be, const dec_cfg *c, const dec_params *p, int64_t N, const float *x, float *y,
                       const int32_t *pos, const dec_prefix *pf, dec_acts *acts, arena *ar, ts_err *e) {
  if (!pf || !pf->kidx || N != pf->N)
    return err_set(e, TS_EARG, "decoder: %lld rows do not match the shared-prefix layout", (long long)N);
  return dec_fwd(be, c, p, 1, N, x, y, pos, NULL, NULL, pf, acts, ar, e);
}

int dec_forward_kv(backend *be, const dec_cfg *c, const dec_params *p, int64_t B, int64_t T, const float *x,
                   float *y, const int32_t *pos, const dec_kv *kv, arena *ar, ts_err *e) {
  if (!kv) return err_set(e, TS_EARG, "decoder: no cache given");
  return dec_fwd(be, c, p, B, T, x, y, pos, NULL, kv, NULL, NULL, ar, e);
}

int dec_backward(backend *be, const dec_cfg *c, const dec_params *p, const dec_params *gp,
                 const dec_acts *a, const int32_t *pos, const attn_cfg *mask, const float *dy, float *dx,
                 arena *ar, ts_err *e) {
  int64_t B = a->B, T = a->T, N = B * T, C = c->C, QD = c->Hq * c->D, KD = c->Hkv * c->D, F = c->F;
  arena_mark mk = arena_get_mark(ar);
  float *dh, *dh2, *da, *dgu, *datt, *dq, *dk, *dv, *dqkv, *dh1;
  ALLOC(dh, N * C);
  ALLOC(dh2, N * C);
  ALLOC(da, N * F);
  ALLOC(dgu, N * 2 * F);
  ALLOC(datt, N * QD);
  ALLOC(dq, N * QD);
  ALLOC(dk, N * KD);
  ALLOC(dv, N * KD);
  ALLOC(dqkv, N * (QD + 2 * KD));
  ALLOC(dh1, N * C);
  tensor DY = T2((float *)dy, N, C), DH = T2(dh, N, C), DH2 = T2(dh2, N, C), DA = T2(da, N, F);
  tensor DGU = T2(dgu, N, 2 * F), H2 = dec_view(be, a->h2, a->adt, N, C), GU = T2(a->gu, N, 2 * F),
         Aa = dec_view(be, a->a, a->adt, N, F);
  tensor Hh = T2(a->h, N, C), R2 = T1(a->r2, N);
  /* MLP branch: y = h + down(a); dh = dy + the norm's input gradient, written by the norm's
   * backward onto dy (op_rmsnorm_bwd_to: no copy of dy into dh first) */
  /* gradients a GEMM writes (op_matmul_bwd_set) need no zero fill first */
  TRY(op_matmul_bwd_set(be, &Aa, &p->wd, &DY, &DA, (tensor *)&gp->wd, NULL, 0, 1, e));
  /* the SwiGLU (writing DGU) right before the GEMM: a device GEMM takes DGU's rounding made just before it */
  TRY(op_swiglu_packed_bwd_set(be, &GU, &DA, &DGU, e));
  TRY(op_matmul_bwd_set(be, &H2, &p->wgu, &DGU, &DH2, (tensor *)&gp->wgu, NULL, 0, 1, e));
  TRY(op_rmsnorm_bwd_to(be, &Hh, &p->ln2, &R2, &DH2, &DY, &DH, (tensor *)&gp->ln2, e));
  /* attention branch: h = x + o_proj(att) */
  tensor DX = T2(dx, N, C), DATT = T2(datt, N, QD), A2 = T2(a->att, N, QD); /* dx = dh + ..., at the end */
  TRY(op_matmul_bwd_set(be, &A2, &p->wo, &DH, &DATT, (tensor *)&gp->wo, NULL, 0, 1, e));
  tensor Q4 = T4(a->q, B, T, c->Hq, c->D), K4 = T4(a->k, B, T, c->Hkv, c->D), V4 = T4(a->v, B, T, c->Hkv, c->D);
  tensor A4 = T4(a->att, B, T, c->Hq, c->D), L = tensor_dev(be->device, a->lse, 3, B, c->Hq, T, 0);
  tensor DA4 = T4(datt, B, T, c->Hq, c->D), DQ4 = T4(dq, B, T, c->Hq, c->D), DK4 = T4(dk, B, T, c->Hkv, c->D),
         DV4 = T4(dv, B, T, c->Hkv, c->D);
  attn_cfg ac;
  memset(&ac, 0, sizeof ac);
  if (mask && !a->pf) ac = *mask;
  ac.causal = 1;
  ac.scale = 1.0f / sqrtf((float)c->D);
  ac.bias = NULL;
  ac.keep = a->keep.buf ? (attn_keep *)&a->keep : NULL; /* the forward's (only read here) */
  if (a->pf) { /* the packed prefix's calls add into dq, dk, dv */
    TRY(op_fill(be, &DQ4, 0.0f, e));
    TRY(op_fill(be, &DK4, 0.0f, e));
    TRY(op_fill(be, &DV4, 0.0f, e));
    TRY(dec_attn_prefix(be, c, a->pf, &ac, a->q, a->k, a->v, a->att, a->lse, datt, dq, dk, dv, ar, e));
  } else {
    ac.grad_set = 1; /* dq, dk, dv written by the op: no zero fill first */
    TRY(op_attention_bwd(be, &Q4, &K4, &V4, &A4, &L, &DA4, &DQ4, &DK4, &DV4, NULL, &ac, e));
  }
  /* RoPE undone and the heads packed back, for one GEMM pair against the stacked weights */
  tensor DQKV4 = T4(dqkv, B, T, c->Hq + 2 * c->Hkv, c->D), DQKV = T2(dqkv, N, QD + 2 * KD);
  tensor H1 = dec_view(be, a->h1, a->adt, N, C), DH1 = T2(dh1, N, C);
  TRY(op_merge_heads(be, &DQ4, &DK4, &DV4, &DQKV4, pos, c->theta, e)); /* the GEMM takes DQKV's rounding */
  TRY(op_matmul_bwd_set(be, &H1, &p->wqkv, &DQKV, &DH1, (tensor *)&gp->wqkv, (tensor *)opt(&gp->bqkv), 0, 1, e));
  tensor X = T2((float *)a->x, N, C), R1 = T1(a->r1, N);
  TRY(op_rmsnorm_bwd_to(be, &X, &p->ln1, &R1, &DH1, &DH, &DX, (tensor *)&gp->ln1, e));
  arena_rewind(ar, mk);
  return TS_OK;
}
