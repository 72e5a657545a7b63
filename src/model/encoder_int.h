/* encoder_int.h — what the encoder_*.c files share: tensor names, parameter views, arena
 * helpers. Not part of the public API (encoder.h). */
#ifndef TS_ENCODER_INT_H
#define TS_ENCODER_INT_H

#include <stdio.h>

#include "model/encoder.h"
#include "tensor/be_mem.h"
#include "tensor/ops.h"
#include "tensor/ops_layout.h"

#define ETRY(x)          \
  do {                   \
    int rc_ = (x);       \
    if (rc_) return rc_; \
  } while (0)

/* Tensor name suffixes (under the model prefix) for this config's family. */
void enc_nm_conv(const enc_cfg *c, int i, const char *what, char *out, size_t n); /* what: weight|bias|ln.weight|ln.bias */
void enc_nm_proj(const enc_cfg *c, const char *what, char *out, size_t n);        /* ln.weight|ln.bias|weight|bias */
void enc_nm_pos(const enc_cfg *c, int j, const char *what, char *out, size_t n);  /* weight|bias|weight_g|weight_v */
void enc_nm_encln(const enc_cfg *c, const char *what, char *out, size_t n);       /* weight|bias */
void enc_nm_layer(const enc_cfg *c, int l, char *out, size_t n);                  /* block prefix */
const char *enc_nm_alibi(void);

/* Weight view (grad = 0) or gradient view (grad = 1) of the tensor named prefix+suffix.
 * A gradient view has data NULL when the tensor is frozen or the pset has no gradients. */
int enc_view(const enc_model *m, const char *suffix, int grad, tensor *t, ts_err *e);
static inline const tensor *enc_opt(const tensor *t) { return t->data ? t : NULL; }
static inline tensor *enc_optw(tensor *t) { return t->data ? t : NULL; }

/* One block's parameters (or gradients). q/k/v are one stacked matrix: attn.qkv in data2vec
 * 2.0, the packed q_proj/k_proj/v_proj otherwise. */
typedef struct enc_lp {
  tensor wqkv, bqkv;                     /* (3C, C), (3C) (bqkv without data when there is none) */
  tensor wo, bo;                         /* (C, C), (C) */
  tensor ln1w, ln1b, ln2w, ln2b;         /* (C) */
  tensor w1, b1, w2, b2;                 /* (F, C), (F), (C, F), (C) */
} enc_lp;
int enc_layer_params(const enc_model *m, int l, int grad, enc_lp *p, ts_err *e);

/* Channels-last (the default): the layer-norm mode's conv stack runs on (B, T, C) with
 * op_conv1d_cl and row LayerNorms, and data2vec's positional stack likewise, so neither
 * transposes anything; TSASR_ENC_CL=0 keeps the channel-first layout (op_conv1d and
 * op_layernorm_ch), for an A/B of the two. The group-norm mode and wav2vec2's positional
 * convolution stay channel-first. The same weights give the same results up to summation order. */
int enc_cl_on(void);
static inline int enc_fe_cl(const enc_cfg *c, int cl) { return cl && c->fe_norm == ENC_FE_LAYER; }
static inline int enc_pos_cl(const enc_cfg *c, int cl) { return cl && c->kind != ENC_WAV2VEC2; }
/* a channels-last activation (B, T, C) viewed as the (B T, C) rows a LayerNorm normalises */
static inline tensor enc_rows(const tensor *t) {
  tensor r = *t;
  r.ndim = 2, r.ne[0] = t->ne[0] * t->ne[1], r.ne[1] = t->ne[2], r.ne[2] = 1;
  return r;
}

float *enc_falloc(arena *ar, int64_t n, ts_err *e);
#define EALLOC(dst, n)                                       \
  do {                                                       \
    if (!((dst) = enc_falloc(ar, (n), e))) return TS_ENOMEM; \
  } while (0)

/* Views of activations (arena_alloc memory: the backend's) on the backend's device; every
 * caller has `be` (the encoder's backend, m->ps->be) in scope. */
#define ET1(p, a) tensor_dev(be->device, (p), 1, (a), 0, 0, 0)
#define ET2(p, a, b) tensor_dev(be->device, (p), 2, (a), (b), 0, 0)
#define ET3(p, a, b, c) tensor_dev(be->device, (p), 3, (a), (b), (c), 0)
#define ET4(p, a, b, c, d) tensor_dev(be->device, (p), 4, (a), (b), (c), (d))

/* Stages of the forward/backward (encoder_conv.c, encoder_posconv.c, encoder_layers.c). */
/* Fills a->xin[0] (B, D, Tf) (channels-last: (B, Tf, D)) and a->conv_T[0] with the normalised
 * fbank of wav (B, L) (host memory; fbank mode): computed on the host, uploaded into the arena. */
int enc_fbank_input(enc_model *m, enc_acts *a, const float *wav, arena *ar, ts_err *e);
/* wav (B, L) host memory */
int enc_conv_forward(enc_model *m, enc_acts *a, const float *wav, arena *ar, ts_err *e);
int enc_conv_backward(enc_model *m, const enc_acts *a, const float *dhp, arena *ar, ts_err *e);
int enc_pos_forward(enc_model *m, enc_acts *a, arena *ar, ts_err *e);
/* dpos (B,T,C) -> dhp (B,T,C) += d/dhp of the positional branch */
int enc_pos_backward(enc_model *m, const enc_acts *a, const float *dpos, float *dhp, arena *ar, ts_err *e);
int enc_layer_forward(enc_model *m, int l, const enc_acts *a, enc_layer_acts *la, const float *x, float *y,
                      arena *ar, ts_err *e);
/* dy (N,C) -> dx (N,C) (overwritten); parameter gradients added; dbias (H,T,T) += ALiBi bias grad */
int enc_layer_backward(enc_model *m, int l, const enc_acts *a, const enc_layer_acts *la, const float *y,
                       const float *dy, float *dx, float *dbias, arena *ar, ts_err *e);
int enc_n_layers(const enc_cfg *c);
int64_t enc_param_count(const enc_cfg *c);

#endif
