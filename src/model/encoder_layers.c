/* encoder_layers.c — one transformer block of the encoder, forward and backward:
 *   post-LN (data2vec, wav2vec2 base, data2vec 2.0):  h = LN1(x + attn(x));  y = LN2(h + ffn(h))
 *   pre-LN (wav2vec2 stable-layer-norm):              h = x + attn(LN1(x)); y = h + ffn(LN2(h))
 * attn: q/k/v projections as one GEMM against their stacked weights, the out projection, all
 * with bias; scale head_dim^-1/2, key padding from the frame counts, and (data2vec 2.0) the
 * additive ALiBi bias; ffn: Linear -> act -> Linear. */
#include <math.h>
#include <string.h>

#include "model/encoder_int.h"

/* kv_len: the frame counts (host); bias: the ALiBi table (backend memory) */
static attn_cfg layer_attn(const enc_model *m, const enc_acts *a, tensor *bias) {
  const backend *be = m->ps->be;
  attn_cfg ac;
  memset(&ac, 0, sizeof ac);
  ac.causal = 0;
  ac.scale = 1.0f / sqrtf((float)(m->c.C / m->c.H));
  ac.kv_len = a->frames;
  if (m->c.alibi) {
    *bias = ET3(a->ab, m->c.H, a->T, a->T);
    ac.bias = bias;
  }
  return ac;
}

int enc_layer_forward(enc_model *m, int l, const enc_acts *a, enc_layer_acts *la, const float *x, float *y,
                      arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  const enc_cfg *c = &m->c;
  int64_t B = a->B, T = a->T, N = B * T, C = c->C, F = c->F, H = c->H, D = C / H;
  enc_lp p;
  ETRY(enc_layer_params(m, l, 0, &p, e));
  memset(la, 0, sizeof *la);
  la->x = (float *)x;
  la->gdt = op_act_dtype(be);
  int64_t nc16 = c->stable_ln && la->gdt == DT_BF16 ? (N * C + 1) / 2 : N * C; /* LN outputs that only feed a GEMM */
  EALLOC(la->n1, nc16);
  EALLOC(la->m1, N);
  EALLOC(la->r1, N);
  EALLOC(la->q, N * C);
  EALLOC(la->k, N * C);
  EALLOC(la->v, N * C);
  EALLOC(la->att, N * C);
  EALLOC(la->lse, B * H * T);
  EALLOC(la->h, N * C);
  EALLOC(la->n2, nc16);
  EALLOC(la->m2, N);
  EALLOC(la->r2, N);
  EALLOC(la->u, N * F);
  EALLOC(la->g, la->gdt == DT_BF16 ? (N * F + 1) / 2 : N * F);
  tensor X = ET2((float *)x, N, C), N1 = ET2(la->n1, N, C), M1 = ET1(la->m1, N), R1 = ET1(la->r1, N);
  tensor A2 = ET2(la->att, N, C);
  tensor Hh = ET2(la->h, N, C), N2 = ET2(la->n2, N, C), M2 = ET1(la->m2, N), R2 = ET1(la->r2, N);
  tensor U = ET2(la->u, N, F), G = ET2(la->g, N, F), Y = ET2(y, N, C);
  G.dtype = la->gdt;
  if (c->stable_ln) N1.dtype = N2.dtype = la->gdt;
  const tensor *ain = &X;
  if (c->stable_ln) {
    ETRY(op_layernorm(be, &X, &p.ln1w, &p.ln1b, &N1, &M1, &R1, c->eps, e));
    ain = &N1;
  }
  tensor bias;
  attn_cfg ac = layer_attn(m, a, &bias);
  tensor Q4 = ET4(la->q, B, T, H, D), K4 = ET4(la->k, B, T, H, D), V4 = ET4(la->v, B, T, H, D),
         A4 = ET4(la->att, B, T, H, D), LSE = ET3(la->lse, B, H, T);
  /* what the backend keeps of this forward for the backward (attn_cfg.keep) */
  if (!a->infer) ETRY(be_attn_keep(be, ar, &Q4, &K4, &ac, &la->keep, "encoder", e));
  { /* one GEMM against the stacked q/k/v weights into scratch, its heads then taken apart (and
     * written into the attention's keep as well, where the backend keeps them) */
    arena_mark mk = arena_get_mark(ar);
    float *qkv;
    EALLOC(qkv, N * 3 * C);
    tensor QKV = ET2(qkv, N, 3 * C), QKV4 = ET4(qkv, B, T, 3 * H, D);
    int rc = op_matmul(be, ain, &p.wqkv, enc_opt(&p.bqkv), &QKV, 0, 1, 0.0f, e);
    if (!rc) rc = op_split_heads_keep(be, &QKV4, &Q4, &K4, &V4, NULL, 0.0f, ac.keep, e);
    arena_rewind(ar, mk);
    ETRY(rc);
  }
  /* residual sum x + out_proj(att): into h (pre-LN) or n1 (post-LN, then LN1 -> h), a GEMM onto
   * x (op_matmul_res: x not copied into the sum first where the backend reads it as it writes
   * the sum) right after the attention (a device backend's GEMM may then take the attention's
   * own bf16 output as its rounding of att) */
  tensor *S1 = c->stable_ln ? &Hh : &N1;
  ETRY(op_attention(be, &Q4, &K4, &V4, &A4, &LSE, &ac, e));
  ETRY(op_matmul_res(be, &A2, &p.wo, &p.bo, &X, S1, 0, 1, e));
  if (!c->stable_ln) ETRY(op_layernorm(be, &N1, &p.ln1w, &p.ln1b, &Hh, &M1, &R1, c->eps, e));
  const tensor *fin = &Hh;
  if (c->stable_ln) {
    ETRY(op_layernorm(be, &Hh, &p.ln2w, &p.ln2b, &N2, &M2, &R2, c->eps, e));
    fin = &N2;
  }
  ETRY(op_matmul(be, fin, &p.w1, &p.b1, &U, 0, 1, 0.0f, e));
  ETRY(op_act(be, c->act, &U, &G, e));
  tensor *S2 = c->stable_ln ? &Y : &N2;
  ETRY(op_matmul_res(be, &G, &p.w2, &p.b2, &Hh, S2, 0, 1, e));
  if (!c->stable_ln) ETRY(op_layernorm(be, &N2, &p.ln2w, &p.ln2b, &Y, &M2, &R2, c->eps, e));
  return TS_OK;
}

int enc_layer_backward(enc_model *m, int l, const enc_acts *a, const enc_layer_acts *la, const float *y,
                       const float *dy, float *dx, float *dbias, arena *ar, ts_err *e) {
  (void)y;
  backend *be = m->ps->be;
  const enc_cfg *c = &m->c;
  int64_t B = a->B, T = a->T, N = B * T, C = c->C, F = c->F, H = c->H, D = C / H;
  enc_lp p, gp;
  ETRY(enc_layer_params(m, l, 0, &p, e));
  ETRY(enc_layer_params(m, l, 1, &gp, e));
  arena_mark mk = arena_get_mark(ar);
  float *dh, *dg, *du, *dt, *datt, *dq, *dk, *dv, *dqkv;
  EALLOC(dh, N * C);
  EALLOC(dg, N * F);
  EALLOC(du, N * F);
  EALLOC(dt, N * C);
  EALLOC(datt, N * C);
  EALLOC(dq, N * C);
  EALLOC(dk, N * C);
  EALLOC(dv, N * C);
  EALLOC(dqkv, N * 3 * C);
  tensor X = ET2(la->x, N, C), N1 = ET2(la->n1, N, C), M1 = ET1(la->m1, N), R1 = ET1(la->r1, N);
  tensor A2 = ET2(la->att, N, C), Hh = ET2(la->h, N, C), N2 = ET2(la->n2, N, C), M2 = ET1(la->m2, N),
         R2 = ET1(la->r2, N), U = ET2(la->u, N, F), G = ET2(la->g, N, F);
  G.dtype = la->gdt;
  if (c->stable_ln) N1.dtype = N2.dtype = la->gdt;
  tensor DY = ET2((float *)dy, N, C), DX = ET2(dx, N, C), DH = ET2(dh, N, C), DG = ET2(dg, N, F),
         DU = ET2(du, N, F), DT = ET2(dt, N, C), DATT = ET2(datt, N, C);
  /* ---- FFN half ---- */
  const tensor *dS2 = &DY; /* gradient of the residual sum h + ffn */
  if (!c->stable_ln) {
    /* written into dh (op_layernorm_bwd_to with no dxin: no zero fill first), where the w1 GEMM
     * below adds the FFN's input gradient after the w2 GEMM has read it: no copy either */
    ETRY(op_layernorm_bwd_to(be, &N2, &p.ln2w, &M2, &R2, &DY, NULL, &DH, enc_optw(&gp.ln2w), enc_optw(&gp.ln2b), e));
    dS2 = &DH;
  }
  /* gradients a GEMM writes (op_matmul_bwd_set) need no zero fill first */
  ETRY(op_matmul_bwd_set(be, &G, &p.w2, dS2, &DG, enc_optw(&gp.w2), enc_optw(&gp.b2), 0, 1, e));
  /* the act (writing DU) right before the GEMM: a device GEMM takes DU's rounding made just before it */
  ETRY(op_act_bwd_set(be, c->act, &U, &DG, &DU, e));
  if (c->stable_ln) {
    ETRY(op_matmul_bwd_set(be, &N2, &p.w1, &DU, &DT, enc_optw(&gp.w1), enc_optw(&gp.b1), 0, 1, e));
    /* dh = dS2 + the norm's input gradient, onto the residual's gradient without a copy first */
    ETRY(op_layernorm_bwd_to(be, &Hh, &p.ln2w, &M2, &R2, &DT, dS2, &DH, enc_optw(&gp.ln2w), enc_optw(&gp.ln2b), e));
  } else {
    ETRY(op_matmul_bwd(be, &Hh, &p.w1, &DU, &DH, enc_optw(&gp.w1), enc_optw(&gp.b1), 0, 1, e));
  }
  /* ---- attention half: dS1 = gradient of the residual sum x + attn ---- */
  const tensor *dS1 = &DH;
  if (!c->stable_ln) { /* written into dx, where the qkv GEMM adds after the out projection's read it */
    ETRY(op_layernorm_bwd_to(be, &N1, &p.ln1w, &M1, &R1, &DH, NULL, &DX, enc_optw(&gp.ln1w), enc_optw(&gp.ln1b), e));
    dS1 = &DX;
  }
  ETRY(op_matmul_bwd_set(be, &A2, &p.wo, dS1, &DATT, enc_optw(&gp.wo), enc_optw(&gp.bo), 0, 1, e));
  tensor bias;
  attn_cfg ac = layer_attn(m, a, &bias);
  if (la->keep.buf) ac.keep = (attn_keep *)&la->keep; /* the forward's (it only reads it here) */
  tensor Q4 = ET4(la->q, B, T, H, D), K4 = ET4(la->k, B, T, H, D), V4 = ET4(la->v, B, T, H, D),
         A4 = ET4(la->att, B, T, H, D), LSE = ET3(la->lse, B, H, T);
  tensor DA4 = ET4(datt, B, T, H, D), DQ4 = ET4(dq, B, T, H, D), DK4 = ET4(dk, B, T, H, D), DV4 = ET4(dv, B, T, H, D);
  ac.grad_set = 1; /* dq, dk, dv written by the op: no zero fill first */
  tensor DB = ET3(dbias, H, T, T);
  ETRY(op_attention_bwd(be, &Q4, &K4, &V4, &A4, &LSE, &DA4, &DQ4, &DK4, &DV4, dbias && c->alibi ? &DB : NULL, &ac, e));
  /* the heads packed back for one GEMM pair against the stacked q/k/v weights */
  tensor DQKV4 = ET4(dqkv, B, T, 3 * H, D), DQKV = ET2(dqkv, N, 3 * C);
  ETRY(op_merge_heads(be, &DQ4, &DK4, &DV4, &DQKV4, NULL, 0.0f, e));
  if (c->stable_ln) { /* d LN1(x), written by the GEMM */
    ETRY(op_matmul_bwd_set(be, &N1, &p.wqkv, &DQKV, &DT, enc_optw(&gp.wqkv), enc_optw(&gp.bqkv), 0, 1, e));
    ETRY(op_layernorm_bwd_to(be, &X, &p.ln1w, &M1, &R1, &DT, dS1, &DX, enc_optw(&gp.ln1w), enc_optw(&gp.ln1b), e));
  } else {
    ETRY(op_matmul_bwd(be, &X, &p.wqkv, &DQKV, &DX, enc_optw(&gp.wqkv), enc_optw(&gp.bqkv), 0, 1, e));
  }
  arena_rewind(ar, mk);
  return TS_OK;
}
