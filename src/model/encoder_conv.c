/* encoder_conv.c — input normalisation, the convolutional feature extractor (group-norm or
 * layer-norm mode) and the feature projection (LayerNorm + Linear), forward and backward.
 * In the layer-norm mode the conv stack works channels-last (the default, enc_fe_cl): on
 * (B, T, C) with op_conv1d_cl and row LayerNorms fused with the activation (op_layernorm_act),
 * its last activation written straight into the features; otherwise on (B, C, T) (its layer
 * norm over the channel axis, op_layernorm_ch), the last layer's output transposed into them.
 * The features and the projection are (B, T, C). */
#include <string.h>

#include "model/encoder_int.h"

#define FE_NORM_EPS 1e-5f /* torch LayerNorm / GroupNorm default, used by both references */

/* a conv stack activation (B, C, T), or (B, T, C) channels-last (cl in scope) */
#define FE3(p, C, T) (cl ? ET3((p), B, (T), (C)) : ET3((p), B, (C), (T)))

static int fe_conv(backend *be, int cl, const tensor *x, const tensor *w, const tensor *b, tensor *y, int stride,
                   ts_err *e) {
  return cl ? op_conv1d_cl(be, x, w, b, y, stride, 0, 1, e) : op_conv1d(be, x, w, b, y, stride, 0, 1, e);
}

static int conv_w(const enc_model *m, int i, const char *what, int grad, tensor *t, ts_err *e) {
  char nm[256];
  enc_nm_conv(&m->c, i, what, nm, sizeof nm);
  return enc_view(m, nm, grad, t, e);
}

static int proj_w(const enc_model *m, const char *what, int grad, tensor *t, ts_err *e) {
  char nm[256];
  enc_nm_proj(&m->c, what, nm, sizeof nm);
  return enc_view(m, nm, grad, t, e);
}

static int conv_trainable(const enc_model *m, int i, ts_err *e) {
  tensor t;
  static const char *w[] = {"weight", "bias", "ln.weight", "ln.bias"};
  for (int k = 0; k < 4; k++) {
    if (k == 1 && !m->c.conv_bias) continue;
    if (k >= 2 && m->c.fe_norm == ENC_FE_GROUP && i > 0) continue;
    if (conv_w(m, i, w[k], 1, &t, e)) return 0;
    if (t.data) return 1;
  }
  return 0;
}

int enc_conv_forward(enc_model *m, enc_acts *a, const float *wav, arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  const enc_cfg *c = &m->c;
  int64_t B = a->B, L = a->L, Cl = c->conv_dim[c->n_conv - 1];
  /* a conv stack without trainable tensors (frozen, or no gradients at all), or an inference
   * forward, needs none of its activations in backward: they live in scratch and only the
   * features are kept */
  int keep = 0;
  for (int i = 0; i < c->n_conv && !a->infer; i++) keep |= conv_trainable(m, i, e);
  float *feat_keep = NULL;
  if (!keep) EALLOC(feat_keep, B * a->T * Cl);
  arena_mark mk = arena_get_mark(ar);
  if (c->fbank) {
    ETRY(enc_fbank_input(m, a, wav, ar, e));
  } else {
    /* the host waveform is uploaded as is: straight into a->wav, or (normalised) into a copy
     * that the per-utterance norm reads (it stays in the arena: counted by enc_info_get);
     * samples past len[b] are zeroed */
    EALLOC(a->wav, B * L);
    EALLOC(a->wm, B);
    EALLOC(a->wr, B);
    float *raw = a->wav;
    if (c->do_normalize) EALLOC(raw, B * L);
    ETRY(be_upload(be, raw, wav, sizeof(float) * (size_t)(B * L), "encoder input", e));
    for (int64_t b = 0; b < B; b++) {
      int64_t n = a->len[b];
      tensor X = ET2(raw + b * L, 1, n), Y = ET2(a->wav + b * L, 1, n), M = ET1(a->wm + b, 1),
             R = ET1(a->wr + b, 1);
      if (c->do_normalize) ETRY(op_layernorm(be, &X, NULL, NULL, &Y, &M, &R, c->norm_eps, e));
      if (n < L) {
        tensor P = ET1(a->wav + b * L + n, L - n);
        ETRY(op_fill(be, &P, 0.0f, e));
      }
    }
    a->xin[0] = a->wav;
    a->conv_T[0] = L;
  }
  int64_t Cin = c->fbank ? c->fbank : 1, Tin = a->conv_T[0];
  int cl = enc_fe_cl(c, a->cl);
  a->xdt = op_act_dtype(be);
  for (int i = 0; i < c->n_conv; i++) {
    int64_t Co = c->conv_dim[i], To = op_conv1d_out_len(Tin, c->conv_kernel[i], c->conv_stride[i], 0);
    a->conv_T[i + 1] = To;
    tensor W, Bs, Nw, Nb;
    ETRY(conv_w(m, i, "weight", 0, &W, e));
    if (c->conv_bias) ETRY(conv_w(m, i, "bias", 0, &Bs, e));
    int last = i == c->n_conv - 1;
    tensor X = FE3(a->xin[i], Cin, Tin);
    if (i) X.dtype = a->xdt;
    /* the activation's output: the next layer's input (in xdt), or the last layer's (f32: the
     * features, or transposed into them) */
    ts_dtype gdt = last ? DT_F32 : a->xdt;
    int64_t gsz = gdt == DT_BF16 ? (B * Co * To + 1) / 2 : B * Co * To;
    if (c->fe_norm == ENC_FE_LAYER) {
      /* the layer norm runs over the channels, so no transposes. Channels-last: rows of
       * (B, To, Co), the norm and the activation in one op (op_layernorm_act), whose backward
       * recomputes the norm's output: backward needs the conv output co, the stats and the next
       * layer's input; the last layer's activation is the (B, To, Co) features. Channel-first:
       * the channel axis of (B, Co, To) (op_layernorm_ch), the norm's output cn kept for the
       * activation's backward, the last layer's activation in scratch, transposed into the
       * features */
      ETRY(conv_w(m, i, "ln.weight", 0, &Nw, e));
      ETRY(conv_w(m, i, "ln.bias", 0, &Nb, e));
      EALLOC(a->co[i], B * Co * To);
      if (!cl) EALLOC(a->cn[i], B * Co * To);
      EALLOC(a->cm[i], B * To);
      EALLOC(a->cr[i], B * To);
      if (last)
        a->feat = keep ? enc_falloc(ar, B * To * Co, e) : feat_keep;
      else
        a->xin[i + 1] = enc_falloc(ar, gsz, e);
      if (last ? !a->feat : !a->xin[i + 1]) return TS_ENOMEM;
      arena_mark mk2 = arena_get_mark(ar);
      float *gn = last ? a->feat : a->xin[i + 1];
      if (last && !cl) EALLOC(gn, B * Co * To);
      tensor Y = FE3(a->co[i], Co, To), CN = FE3(a->cn[i], Co, To), GN = FE3(gn, Co, To), CM = ET1(a->cm[i], B * To),
             CR = ET1(a->cr[i], B * To);
      GN.dtype = gdt;
      ETRY(fe_conv(be, cl, &X, &W, c->conv_bias ? &Bs : NULL, &Y, c->conv_stride[i], e));
      if (cl) {
        tensor Y2 = enc_rows(&Y), G2 = enc_rows(&GN);
        ETRY(op_layernorm_act(be, &Y2, &Nw, &Nb, &G2, &CM, &CR, c->fe_act, FE_NORM_EPS, e));
      } else {
        ETRY(op_layernorm_ch(be, &Y, &Nw, &Nb, &CN, &CM, &CR, FE_NORM_EPS, e));
        ETRY(op_act(be, c->fe_act, &CN, &GN, e));
      }
      if (last && !cl) {
        tensor FT = ET3(a->feat, B, To, Co);
        ETRY(op_transpose(be, &GN, &FT, e));
      }
      arena_rewind(ar, mk2);
      a->gn[i] = last ? a->feat : NULL;
    } else {
      EALLOC(a->co[i], B * Co * To);
      tensor Y = ET3(a->co[i], B, Co, To);
      ETRY(op_conv1d(be, &X, &W, c->conv_bias ? &Bs : NULL, &Y, c->conv_stride[i], 0, 1, e));
      EALLOC(a->gn[i], gsz);
      tensor GN = ET3(a->gn[i], B, Co, To);
      GN.dtype = gdt;
      if (i == 0) {
        ETRY(conv_w(m, i, "ln.weight", 0, &Nw, e));
        ETRY(conv_w(m, i, "ln.bias", 0, &Nb, e));
        EALLOC(a->cn[i], B * Co * To);
        EALLOC(a->cm[i], B * Co);
        EALLOC(a->cr[i], B * Co);
        tensor CN = ET3(a->cn[i], B, Co, To), CM = ET1(a->cm[i], B * Co), CR = ET1(a->cr[i], B * Co);
        ETRY(op_groupnorm(be, &Y, &Nw, &Nb, &CN, &CM, &CR, (int)Co, FE_NORM_EPS, e));
        ETRY(op_act(be, c->fe_act, &CN, &GN, e));
      } else {
        ETRY(op_act(be, c->fe_act, &Y, &GN, e));
      }
      a->xin[i + 1] = a->gn[i];
      if (last) {
        if (keep)
          EALLOC(a->feat, B * To * Co);
        else
          a->feat = feat_keep;
        tensor FT = ET3(a->feat, B, To, Co);
        ETRY(op_transpose(be, &GN, &FT, e));
      }
    }
    Cin = Co, Tin = To;
  }
  if (!keep) {
    arena_rewind(ar, mk);
    a->wav = a->wm = a->wr = NULL;
    for (int i = 0; i <= c->n_conv; i++) a->xin[i] = NULL;
    for (int i = 0; i < c->n_conv; i++) a->co[i] = a->cn[i] = a->cm[i] = a->cr[i] = a->gn[i] = NULL;
    a->feat = feat_keep;
  }
  /* feature projection */
  int64_t T = a->T, N = B * T, C = c->C;
  tensor Lw, Lb, Pw, Pb;
  ETRY(proj_w(m, "ln.weight", 0, &Lw, e));
  ETRY(proj_w(m, "ln.bias", 0, &Lb, e));
  ETRY(proj_w(m, "weight", 0, &Pw, e));
  ETRY(proj_w(m, "bias", 0, &Pb, e));
  EALLOC(a->fn, N * Cl);
  EALLOC(a->fm, N);
  EALLOC(a->fr, N);
  EALLOC(a->hp, N * C);
  tensor FE = ET2(a->feat, N, Cl), FN = ET2(a->fn, N, Cl), FM = ET1(a->fm, N), FR = ET1(a->fr, N),
         HP = ET2(a->hp, N, C);
  ETRY(op_layernorm(be, &FE, &Lw, &Lb, &FN, &FM, &FR, c->eps, e));
  ETRY(op_matmul(be, &FN, &Pw, &Pb, &HP, 0, 1, 0.0f, e));
  return TS_OK;
}

int enc_conv_backward(enc_model *m, const enc_acts *a, const float *dhp, arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  const enc_cfg *c = &m->c;
  int64_t B = a->B, T = a->T, N = B * T, Cl = c->conv_dim[c->n_conv - 1], C = c->C;
  arena_mark mk = arena_get_mark(ar);
  int lo = c->n_conv; /* lowest conv layer with a trainable tensor */
  for (int i = c->n_conv - 1; i >= 0; i--)
    if (conv_trainable(m, i, e)) lo = i;
  tensor Lw, Pw, gLw, gLb, gPw, gPb;
  ETRY(proj_w(m, "ln.weight", 0, &Lw, e));
  ETRY(proj_w(m, "weight", 0, &Pw, e));
  ETRY(proj_w(m, "ln.weight", 1, &gLw, e));
  ETRY(proj_w(m, "ln.bias", 1, &gLb, e));
  ETRY(proj_w(m, "weight", 1, &gPw, e));
  ETRY(proj_w(m, "bias", 1, &gPb, e));
  int need_dfeat = lo < c->n_conv;
  float *dfn = NULL, *dfeat = NULL;
  tensor FN = ET2(a->fn, N, Cl), DHP = ET2((float *)dhp, N, C);
  if (need_dfeat || gLw.data || gLb.data) {
    EALLOC(dfn, N * Cl);
    tensor DFN = ET2(dfn, N, Cl);
    ETRY(op_matmul_bwd_set(be, &FN, &Pw, &DHP, &DFN, enc_optw(&gPw), enc_optw(&gPb), 0, 1, e));
    tensor FE = ET2(a->feat, N, Cl), FM = ET1(a->fm, N), FR = ET1(a->fr, N);
    tensor DFE = ET2(NULL, N, Cl);
    if (need_dfeat) { /* written by the norm's backward */
      EALLOC(dfeat, N * Cl);
      DFE.data = dfeat;
    }
    ETRY(op_layernorm_bwd_to(be, &FE, &Lw, &FM, &FR, &DFN, NULL, need_dfeat ? &DFE : NULL, enc_optw(&gLw),
                             enc_optw(&gLb), e));
  } else {
    ETRY(op_matmul_bwd(be, &FN, &Pw, &DHP, NULL, enc_optw(&gPw), enc_optw(&gPb), 0, 1, e));
  }
  if (!need_dfeat) {
    arena_rewind(ar, mk);
    return TS_OK;
  }
  /* dg: gradient w.r.t. layer i's activation output (B,Co,To), kept in two ping-pong buffers;
   * everything else a layer needs is scratch rewound after it */
  int64_t maxn = 0;
  for (int i = lo; i < c->n_conv; i++) {
    int64_t n = B * c->conv_dim[i] * a->conv_T[i + 1];
    maxn = n > maxn ? n : maxn;
  }
  float *pp[2];
  EALLOC(pp[0], maxn);
  EALLOC(pp[1], maxn);
  int slot = 0, cl = enc_fe_cl(c, a->cl);
  float *dg = NULL;
  for (int i = c->n_conv - 1; i >= lo; i--) {
    int64_t Co = c->conv_dim[i], To = a->conv_T[i + 1], Cin = i ? c->conv_dim[i - 1] : (c->fbank ? c->fbank : 1), Tin = a->conv_T[i];
    int last = i == c->n_conv - 1;
    arena_mark it = arena_get_mark(ar);
    float *dco;
    EALLOC(dco, B * Co * To);
    tensor DCO = FE3(dco, Co, To);
    /* dco is written by the channels-last norm's backward and by the activation's (group norm,
     * i > 0); the channel-first norm's backward and the group norm's add into it */
    int dco_set = c->fe_norm == ENC_FE_LAYER ? cl : i > 0;
    if (!dco_set) ETRY(op_fill(be, &DCO, 0.0f, e));
    tensor Nw, gNw, gNb;
    if (last && cl) { /* channels-last: the features' gradient is the layer's */
      dg = dfeat;
    } else if (last) { /* the features' gradient (B,To,Co) into the layer's layout */
      dg = pp[slot];
      slot ^= 1;
      tensor DG = ET3(dg, B, Co, To), DF = ET3(dfeat, B, To, Co);
      ETRY(op_transpose(be, &DF, &DG, e));
    }
    if (c->fe_norm == ENC_FE_LAYER) {
      tensor DG = FE3(dg, Co, To), CO = FE3(a->co[i], Co, To);
      ETRY(conv_w(m, i, "ln.weight", 0, &Nw, e));
      ETRY(conv_w(m, i, "ln.weight", 1, &gNw, e));
      ETRY(conv_w(m, i, "ln.bias", 1, &gNb, e));
      tensor CM = ET1(a->cm[i], B * To), CR = ET1(a->cr[i], B * To);
      if (cl) { /* the norm and the activation in one op, the norm's output recomputed */
        tensor Nb, CO2 = enc_rows(&CO), DG2 = enc_rows(&DG), DCO2 = enc_rows(&DCO);
        ETRY(conv_w(m, i, "ln.bias", 0, &Nb, e));
        ETRY(op_layernorm_act_bwd_set(be, &CO2, &Nw, &Nb, &CM, &CR, &DG2, &DCO2, enc_optw(&gNw), enc_optw(&gNb),
                                      c->fe_act, e));
      } else {
        tensor CN = FE3(a->cn[i], Co, To);
        float *dcn;
        EALLOC(dcn, B * Co * To);
        tensor DCN = FE3(dcn, Co, To);
        ETRY(op_act_bwd_set(be, c->fe_act, &CN, &DG, &DCN, e));
        ETRY(op_layernorm_ch_bwd(be, &CO, &Nw, &CM, &CR, &DCN, &DCO, enc_optw(&gNw), enc_optw(&gNb), e));
      }
    } else {
      tensor DG = ET3(dg, B, Co, To), CO = ET3(a->co[i], B, Co, To);
      if (i == 0) {
        float *dcn;
        EALLOC(dcn, B * Co * To);
        tensor DCN = ET3(dcn, B, Co, To), CN = ET3(a->cn[i], B, Co, To);
        ETRY(op_act_bwd_set(be, c->fe_act, &CN, &DG, &DCN, e));
        ETRY(conv_w(m, i, "ln.weight", 0, &Nw, e));
        ETRY(conv_w(m, i, "ln.weight", 1, &gNw, e));
        ETRY(conv_w(m, i, "ln.bias", 1, &gNb, e));
        tensor CM = ET1(a->cm[i], B * Co), CR = ET1(a->cr[i], B * Co);
        ETRY(op_groupnorm_bwd(be, &CO, &Nw, &CM, &CR, &DCN, &DCO, enc_optw(&gNw), enc_optw(&gNb), (int)Co, e));
      } else {
        ETRY(op_act_bwd_set(be, c->fe_act, &CO, &DG, &DCO, e));
      }
    }
    tensor W, gW, gB;
    ETRY(conv_w(m, i, "weight", 0, &W, e));
    ETRY(conv_w(m, i, "weight", 1, &gW, e));
    if (c->conv_bias) ETRY(conv_w(m, i, "bias", 1, &gB, e));
    tensor X = FE3(a->xin[i], Cin, Tin);
    if (i) X.dtype = a->xdt;
    float *dx = NULL;
    tensor DX = FE3(NULL, Cin, Tin);
    if (i > lo) { /* xin[i] = gn[i-1]: its gradient is the next dg (written by the channels-last conv) */
      dx = pp[slot];
      slot ^= 1;
      DX.data = dx;
      if (!cl) ETRY(op_fill(be, &DX, 0.0f, e));
    }
    if (cl)
      ETRY(op_conv1d_cl_bwd_set(be, &X, &W, &DCO, dx ? &DX : NULL, enc_optw(&gW),
                                c->conv_bias ? enc_optw(&gB) : NULL, c->conv_stride[i], 0, 1, e));
    else
      ETRY(op_conv1d_bwd(be, &X, &W, &DCO, dx ? &DX : NULL, enc_optw(&gW), c->conv_bias ? enc_optw(&gB) : NULL,
                         c->conv_stride[i], 0, 1, e));
    if (dx) dg = dx;
    arena_rewind(ar, it);
    if (!dx) break;
  }
  arena_rewind(ar, mk);
  return TS_OK;
}
