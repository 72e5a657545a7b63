/* encoder_posconv.c — the convolutional positional embedding, forward and backward:
 * data2vec / data2vec 2.0: a stack of grouped convs (k odd, "same" padding), each followed by a
 * LayerNorm without affine parameters and the activation, on (B, T, C) (channels-last, the
 * default: enc_pos_cl) or (B, C, T);
 * wav2vec2: one weight-normed grouped conv (weight = g v / ||v||, norm per kernel tap), the last
 * frame dropped when k is even (SamePad), then the activation. */
#include <string.h>

#include "model/encoder_int.h"

#define POS_LN_EPS 1e-5f /* LayerNorm(elementwise_affine=False) default in both references */

static int pos_w(const enc_model *m, int j, const char *what, int grad, tensor *t, ts_err *e) {
  char nm[256];
  enc_nm_pos(&m->c, j, what, nm, sizeof nm);
  return enc_view(m, nm, grad, t, e);
}

/* a data2vec positional activation (B, C, T), or (B, T, C) channels-last (cl in scope) */
#define PS3(p) (cl ? ET3((p), B, T, C) : ET3((p), B, C, T))

static int64_t pos_out_len(const enc_cfg *c, int64_t T) {
  return op_conv1d_out_len(T, c->pos_kernel, 1, c->pos_kernel / 2);
}

int enc_pos_forward(enc_model *m, enc_acts *a, arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  const enc_cfg *c = &m->c;
  int64_t B = a->B, T = a->T, C = c->C, K = c->pos_kernel;
  int G = c->pos_groups, pad = (int)(K / 2), cl = enc_pos_cl(c, a->cl);
  EALLOC(a->pos, B * T * C);
  tensor HP = ET3(a->hp, B, T, C), POS = ET3(a->pos, B, T, C);
  if (cl) /* channels-last: the stack reads hp as it is */
    a->pin[0] = a->hp;
  else
    EALLOC(a->pin[0], B * C * T);
  tensor P0 = ET3(a->pin[0], B, C, T);
  if (!cl) ETRY(op_transpose(be, &HP, &P0, e));
  if (c->kind == ENC_WAV2VEC2) {
    tensor V, Gn, Bs;
    ETRY(pos_w(m, 0, "weight_v", 0, &V, e));
    ETRY(pos_w(m, 0, "weight_g", 0, &Gn, e));
    ETRY(pos_w(m, 0, "bias", 0, &Bs, e));
    EALLOC(a->wn_w, tensor_numel(&V));
    EALLOC(a->wn_norm, K);
    tensor W = V, NR = ET1(a->wn_norm, K);
    W.data = a->wn_w;
    ETRY(op_weightnorm(be, &V, &Gn, &W, &NR, 2, e));
    int64_t To = pos_out_len(c, T);
    EALLOC(a->po[0], B * C * To);
    EALLOC(a->pt[0], B * To * C);
    tensor PO = ET3(a->po[0], B, C, To), PT = ET3(a->pt[0], B, To, C);
    ETRY(op_conv1d(be, &P0, &W, &Bs, &PO, 1, pad, G, e));
    ETRY(op_transpose(be, &PO, &PT, e));
    for (int64_t b = 0; b < B; b++) { /* SamePad: keep the first T frames */
      tensor X = ET2(a->pt[0] + b * To * C, T, C), Y = ET2(a->pos + b * T * C, T, C);
      ETRY(op_act(be, c->fe_act, &X, &Y, e));
    }
    return TS_OK;
  }
  /* data2vec: each layer's norm runs over the channels. Channels-last: rows of (B, T, C), the
   * norm and the activation in one op (op_layernorm_act, the norm's output never stored), no
   * transpose at all, the last activation written into pos. Channel-first: the channel axis of
   * (B, C, T) (op_layernorm_ch: the stack stays in that layout, only its output transposed) */
  for (int j = 0; j < c->pos_layers; j++) {
    tensor W, Bs;
    int top = j == c->pos_layers - 1;
    ETRY(pos_w(m, j, "weight", 0, &W, e));
    ETRY(pos_w(m, j, "bias", 0, &Bs, e));
    EALLOC(a->po[j], B * C * T);
    if (!cl) EALLOC(a->pn[j], B * C * T);
    EALLOC(a->pm[j], B * T);
    EALLOC(a->pr[j], B * T);
    tensor PI = PS3(a->pin[j]), PO = PS3(a->po[j]), PM = ET1(a->pm[j], B * T), PR = ET1(a->pr[j], B * T);
    if (cl) {
      if (!top) EALLOC(a->pin[j + 1], B * C * T);
      tensor OUT = top ? POS : PS3(a->pin[j + 1]), PO2 = enc_rows(&PO), OUT2 = enc_rows(&OUT);
      ETRY(op_conv1d_cl(be, &PI, &W, &Bs, &PO, 1, pad, G, e));
      ETRY(op_layernorm_act(be, &PO2, NULL, NULL, &OUT2, &PM, &PR, c->fe_act, POS_LN_EPS, e));
      continue;
    }
    tensor PN = PS3(a->pn[j]);
    ETRY(op_conv1d(be, &PI, &W, &Bs, &PO, 1, pad, G, e));
    ETRY(op_layernorm_ch(be, &PO, NULL, NULL, &PN, &PM, &PR, POS_LN_EPS, e));
    if (top) {
      arena_mark mg = arena_get_mark(ar);
      float *g;
      EALLOC(g, B * C * T);
      tensor GG = ET3(g, B, C, T);
      ETRY(op_act(be, c->fe_act, &PN, &GG, e));
      ETRY(op_transpose(be, &GG, &POS, e));
      arena_rewind(ar, mg);
    } else {
      EALLOC(a->pin[j + 1], B * C * T);
      tensor PI1 = PS3(a->pin[j + 1]);
      ETRY(op_act(be, c->fe_act, &PN, &PI1, e));
    }
  }
  return TS_OK;
}

int enc_pos_backward(enc_model *m, const enc_acts *a, const float *dpos, float *dhp, arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  const enc_cfg *c = &m->c;
  int64_t B = a->B, T = a->T, C = c->C, K = c->pos_kernel;
  int G = c->pos_groups, pad = (int)(K / 2), cl = enc_pos_cl(c, a->cl);
  arena_mark mk = arena_get_mark(ar);
  tensor DHP = ET3(dhp, B, T, C);
  float *dpin = NULL;
  if (!cl) EALLOC(dpin, B * C * T); /* channels-last: the first layer's conv adds into dhp itself */
  tensor DPIN = ET3(dpin, B, C, T);
  if (c->kind == ENC_WAV2VEC2) {
    int64_t To = pos_out_len(c, T);
    float *dpt, *dpo, *dw;
    EALLOC(dpt, B * To * C);
    EALLOC(dpo, B * C * To);
    tensor DPT = ET3(dpt, B, To, C), DPO = ET3(dpo, B, C, To);
    ETRY(op_fill(be, &DPT, 0.0f, e));
    ETRY(op_fill(be, &DPO, 0.0f, e));
    for (int64_t b = 0; b < B; b++) {
      tensor X = ET2(a->pt[0] + b * To * C, T, C), DY = ET2((float *)dpos + b * T * C, T, C),
             DX = ET2(dpt + b * To * C, T, C);
      ETRY(op_act_bwd(be, c->fe_act, &X, &DY, &DX, e));
    }
    ETRY(op_transpose_bwd(be, &DPT, &DPO, e));
    tensor V, Gn, gV, gG, gB;
    ETRY(pos_w(m, 0, "weight_v", 0, &V, e));
    ETRY(pos_w(m, 0, "weight_g", 0, &Gn, e));
    ETRY(pos_w(m, 0, "weight_v", 1, &gV, e));
    ETRY(pos_w(m, 0, "weight_g", 1, &gG, e));
    ETRY(pos_w(m, 0, "bias", 1, &gB, e));
    tensor W = V, NR = ET1(a->wn_norm, K), P0 = ET3(a->pin[0], B, C, T);
    W.data = a->wn_w;
    int need_w = gV.data || gG.data;
    tensor DW = V;
    if (need_w) {
      EALLOC(dw, tensor_numel(&V));
      DW.data = dw;
      ETRY(op_fill(be, &DW, 0.0f, e));
    }
    ETRY(op_fill(be, &DPIN, 0.0f, e));
    ETRY(op_conv1d_bwd(be, &P0, &W, &DPO, &DPIN, need_w ? &DW : NULL, enc_optw(&gB), 1, pad, G, e));
    if (need_w) ETRY(op_weightnorm_bwd(be, &V, &Gn, &NR, &DW, enc_optw(&gV), enc_optw(&gG), 2, e));
    ETRY(op_transpose_bwd(be, &DPIN, &DHP, e));
    arena_rewind(ar, mk);
    return TS_OK;
  }
  /* the output's gradient in the stack's layout (dpos itself channels-last, else transposed
   * into (B, C, T)); then per layer (last first) the activation, the norm and the conv, the
   * conv's input gradient being the next layer's dg (two buffers in turn) or, for the first
   * layer, dhp's (channels-last: added in place; else transposed and added) */
  float *pp[2], *dpn = NULL, *dpo;
  EALLOC(pp[0], B * C * T);
  EALLOC(pp[1], B * C * T);
  if (!cl) EALLOC(dpn, B * C * T); /* the norm's output gradient (channel-first only) */
  EALLOC(dpo, B * C * T);
  tensor DPN = PS3(dpn), DPO = PS3(dpo), DP0 = ET3(pp[0], B, C, T), DPOS = ET3((float *)dpos, B, T, C);
  if (!cl) ETRY(op_transpose(be, &DPOS, &DP0, e));
  int slot = 0;
  for (int j = c->pos_layers - 1; j >= 0; j--) {
    int top = j == c->pos_layers - 1;
    tensor DG = cl && top ? DPOS : PS3(pp[slot]), PO = PS3(a->po[j]), PM = ET1(a->pm[j], B * T),
           PR = ET1(a->pr[j], B * T), PI = PS3(a->pin[j]);
    if (cl) { /* the norm and the activation in one op, the norm's output recomputed; dpo written */
      tensor PO2 = enc_rows(&PO), DG2 = enc_rows(&DG), DPO2 = enc_rows(&DPO);
      ETRY(op_layernorm_act_bwd_set(be, &PO2, NULL, NULL, &PM, &PR, &DG2, &DPO2, NULL, NULL, c->fe_act, e));
    } else {
      tensor PN = PS3(a->pn[j]);
      ETRY(op_fill(be, &DPO, 0.0f, e));
      ETRY(op_act_bwd_set(be, c->fe_act, &PN, &DG, &DPN, e));
      ETRY(op_layernorm_ch_bwd(be, &PO, NULL, &PM, &PR, &DPN, &DPO, NULL, NULL, e));
    }
    tensor W, gW, gB;
    ETRY(pos_w(m, j, "weight", 0, &W, e));
    ETRY(pos_w(m, j, "weight", 1, &gW, e));
    ETRY(pos_w(m, j, "bias", 1, &gB, e));
    tensor DX = j > 0 ? PS3(pp[slot ^ 1]) : cl ? DHP : DPIN;
    if (!cl) ETRY(op_fill(be, &DX, 0.0f, e));
    if (cl && j > 0) /* the next layer's dg, written */
      ETRY(op_conv1d_cl_bwd_set(be, &PI, &W, &DPO, &DX, enc_optw(&gW), enc_optw(&gB), 1, pad, G, e));
    else if (cl) /* the first layer's input gradient adds into dhp */
      ETRY(op_conv1d_cl_bwd(be, &PI, &W, &DPO, &DX, enc_optw(&gW), enc_optw(&gB), 1, pad, G, e));
    else
      ETRY(op_conv1d_bwd(be, &PI, &W, &DPO, &DX, enc_optw(&gW), enc_optw(&gB), 1, pad, G, e));
    if (j > 0)
      slot ^= 1;
    else if (!cl)
      ETRY(op_transpose_bwd(be, &DPIN, &DHP, e));
  }
  arena_rewind(ar, mk);
  return TS_OK;
}
