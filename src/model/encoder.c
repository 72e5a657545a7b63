/* encoder.c — the encoder's forward and backward over a padded batch (see encoder.h):
 * normalise -> conv features -> projection -> (HF: zero padded frames) -> + positional conv ->
 * encoder LN (post-LN models) -> blocks (with ALiBi for data2vec 2.0) -> final LN (pre-LN
 * models); and the size estimate behind enc_info_get. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/encoder_int.h"


static int encln_w(const enc_model *m, const char *what, int grad, tensor *t, ts_err *e) {
  char nm[256];
  enc_nm_encln(&m->c, what, nm, sizeof nm);
  return enc_view(m, nm, grad, t, e);
}

/* ALiBi slopes as fairseq's get_alibi computes them (geometric for a power of two heads;
 * otherwise the nearest lower power of two plus every other slope of the next one). */
static void alibi_slopes(int n, double *out) {
  int p = 1;
  while (p * 2 <= n) p *= 2;
  double start = pow(2.0, -pow(2.0, -(log2((double)p) - 3.0)));
  for (int i = 0; i < p; i++) out[i] = start * pow(start, i);
  if (p < n) {
    double s2 = pow(2.0, -pow(2.0, -(log2((double)(2 * p)) - 3.0)));
    for (int i = 0; i < n - p; i++) out[p + i] = s2 * pow(s2, 2 * i); /* slopes of 2p heads [0::2] */
  }
}

static int alibi_forward(enc_model *m, enc_acts *a, arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  const enc_cfg *c = &m->c;
  int64_t H = c->H, T = a->T, Ha = c->alibi_scale_heads;
  EALLOC(a->abase, H * T * T);
  EALLOC(a->ab, H * T * T);
  EALLOC(a->as, Ha);
  double *sl = malloc(sizeof(double) * (size_t)H);
  float *host = malloc(sizeof(float) * (size_t)(H * T * T));
  if (!sl || !host) {
    free(sl), free(host);
    return err_set(e, TS_ENOMEM, "encoder: out of memory for the ALiBi table");
  }
  alibi_slopes((int)H, sl);
  for (int64_t h = 0; h < H; h++) {
    float s = (float)sl[h];
    for (int64_t i = 0; i < T; i++)
      for (int64_t j = 0; j < T; j++) host[(h * T + i) * T + j] = s * (float)-(i > j ? i - j : j - i);
  }
  /* the unscaled table is built on the host and uploaded */
  int rc = be_upload(be, a->abase, host, sizeof(float) * (size_t)(H * T * T), "encoder ALiBi table", e);
  free(sl), free(host);
  ETRY(rc);
  tensor S, AS = ET1(a->as, Ha);
  ETRY(enc_view(m, enc_nm_alibi(), 0, &S, e));
  ETRY(op_act(be, ACT_RELU, &S, &AS, e)); /* clamp_min(0) */
  if (Ha == 1) {
    tensor A = ET2(a->abase, H * T * T, 1), Bm = ET2(a->as, 1, 1), Cm = ET2(a->ab, H * T * T, 1);
    return op_matmul(be, &A, &Bm, NULL, &Cm, 0, 0, 0.0f, e);
  }
  tensor A = ET3(a->abase, H, T * T, 1), Bm = ET3(a->as, H, 1, 1), Cm = ET3(a->ab, H, T * T, 1);
  return op_matmul(be, &A, &Bm, NULL, &Cm, 0, 0, 0.0f, e);
}

static int alibi_backward(enc_model *m, const enc_acts *a, const float *dbias, arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  const enc_cfg *c = &m->c;
  int64_t H = c->H, T = a->T, Ha = c->alibi_scale_heads;
  tensor S, GS;
  ETRY(enc_view(m, enc_nm_alibi(), 0, &S, e));
  ETRY(enc_view(m, enc_nm_alibi(), 1, &GS, e));
  if (!GS.data) return TS_OK;
  float *das;
  EALLOC(das, Ha);
  tensor DAS = ET1(das, Ha);
  ETRY(op_fill(be, &DAS, 0.0f, e));
  if (Ha == 1) {
    tensor A = ET2(a->abase, H * T * T, 1), Bm = ET2(a->as, 1, 1), DC = ET2((float *)dbias, H * T * T, 1),
           DB = ET2(das, 1, 1);
    ETRY(op_matmul_bwd(be, &A, &Bm, &DC, NULL, &DB, NULL, 0, 0, e));
  } else {
    tensor A = ET3(a->abase, H, T * T, 1), Bm = ET3(a->as, H, 1, 1), DC = ET3((float *)dbias, H, T * T, 1),
           DB = ET3(das, H, 1, 1);
    ETRY(op_matmul_bwd(be, &A, &Bm, &DC, NULL, &DB, NULL, 0, 0, e));
  }
  return op_act_bwd(be, ACT_RELU, &S, &DAS, &GS, e);
}

/* HF models zero the padded frames of the projected features (forward) and so pass no
 * gradient through them (backward). a->frames is host memory; x is the backend's. */
static int zero_padded_rows(backend *be, const enc_acts *a, int64_t C, float *x, ts_err *e) {
  for (int64_t b = 0; b < a->B; b++)
    if (a->frames[b] < a->T) {
      tensor P = ET2(x + (b * a->T + a->frames[b]) * C, a->T - a->frames[b], C);
      ETRY(op_fill(be, &P, 0.0f, e));
    }
  return TS_OK;
}

static int enc_forward_run(enc_model *m, int64_t B, int64_t L, const float *wav, const int64_t *len, enc_acts *a,
                           int infer, arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  const enc_cfg *c = &m->c;
  memset(a, 0, sizeof *a);
  a->infer = infer;
  a->cl = enc_cl_on();
  if (B < 1 || L < 1 || !wav || !len) return err_set(e, TS_EARG, "encoder: empty batch or missing input");
  int64_t T = enc_frames(c, L);
  int64_t rf = L; /* smallest input giving one frame */
  for (rf = 1; enc_frames(c, rf) < 1; rf++)
    if (rf > (int64_t)1 << 24) break;
  for (int64_t b = 0; b < B; b++)
    if (len[b] < rf || len[b] > L)
      return err_set(e, TS_EARG, "encoder: utterance %lld has %lld samples; need %lld..%lld (the receptive field "
                     "is %lld samples)", (long long)b, (long long)len[b], (long long)rf, (long long)L, (long long)rf);
  a->B = B, a->L = L, a->T = T;
  int64_t N = B * T, C = c->C;
  if (!(a->frames = arena_host_alloc(ar, sizeof(int32_t) * (size_t)B)) ||
      !(a->len = arena_host_alloc(ar, sizeof(int64_t) * (size_t)B)))
    return err_set(e, TS_ENOMEM, "encoder: activation arena out of memory");
  for (int64_t b = 0; b < B; b++) a->len[b] = len[b], a->frames[b] = (int32_t)enc_frames(c, len[b]);
  ETRY(enc_conv_forward(m, a, wav, ar, e));
  if (c->kind != ENC_DATA2VEC2) ETRY(zero_padded_rows(be, a, C, a->hp, e));
  EALLOC(a->x0, N * C);
  arena_mark pm = arena_get_mark(ar);
  ETRY(enc_pos_forward(m, a, ar, e));
  tensor HP = ET2(a->hp, N, C), POS = ET2(a->pos, N, C), X0 = ET2(a->x0, N, C);
  ETRY(op_add(be, &HP, &POS, &X0, e));
  if (infer) { /* the positional branch's activations are not needed: reuse their memory */
    arena_rewind(ar, pm);
    a->pos = NULL;
    memset(a->pin, 0, sizeof a->pin), memset(a->po, 0, sizeof a->po), memset(a->pt, 0, sizeof a->pt);
    memset(a->pn, 0, sizeof a->pn), memset(a->pm, 0, sizeof a->pm), memset(a->pr, 0, sizeof a->pr);
    a->wn_w = a->wn_norm = NULL;
  }
  float *x = a->x0;
  tensor Lw, Lb;
  ETRY(encln_w(m, "weight", 0, &Lw, e));
  ETRY(encln_w(m, "bias", 0, &Lb, e));
  if (!c->stable_ln) {
    EALLOC(a->x0m, N);
    EALLOC(a->x0r, N);
    EALLOC(x, N * C);
    tensor XN = ET2(x, N, C), M = ET1(a->x0m, N), R = ET1(a->x0r, N);
    ETRY(op_layernorm(be, &X0, &Lw, &Lb, &XN, &M, &R, c->eps, e));
  }
  if (c->alibi) ETRY(alibi_forward(m, a, ar, e));
  a->n_layers = enc_n_layers(c);
  if (!(a->lay = arena_host_alloc(ar, sizeof(enc_layer_acts) * (size_t)(a->n_layers ? a->n_layers : 1))))
    return err_set(e, TS_ENOMEM, "encoder: activation arena out of memory");
  float *pp[2] = {NULL, NULL}; /* inference: the blocks' outputs alternate between two buffers */
  if (infer) {
    EALLOC(pp[0], N * C);
    EALLOC(pp[1], N * C);
  }
  arena_mark lm = arena_get_mark(ar);
  for (int l = 0; l < a->n_layers; l++) {
    float *y = pp[l & 1];
    if (!infer) EALLOC(y, N * C);
    int rc = enc_layer_forward(m, l, a, &a->lay[l], x, y, ar, e);
    if (rc) return err_prefix(e, "encoder block %d", l);
    if (infer) { /* the block's activations are not needed: the next block reuses them */
      arena_rewind(ar, lm);
      memset(&a->lay[l], 0, sizeof a->lay[l]);
    }
    x = y;
  }
  a->last = x;
  if (c->stable_ln) {
    EALLOC(a->out, N * C);
    EALLOC(a->om, N);
    EALLOC(a->orr, N);
    tensor X = ET2(x, N, C), O = ET2(a->out, N, C), M = ET1(a->om, N), R = ET1(a->orr, N);
    ETRY(op_layernorm(be, &X, &Lw, &Lb, &O, &M, &R, c->eps, e));
  } else {
    a->out = x;
  }
  return TS_OK;
}

int enc_forward(enc_model *m, int64_t B, int64_t L, const float *wav, const int64_t *len, enc_acts *a, arena *ar,
                ts_err *e) {
  return enc_forward_run(m, B, L, wav, len, a, 0, ar, e);
}

int enc_forward_infer(enc_model *m, int64_t B, int64_t L, const float *wav, const int64_t *len, enc_acts *a,
                      arena *ar, ts_err *e) {
  return enc_forward_run(m, B, L, wav, len, a, 1, ar, e);
}

int enc_backward(enc_model *m, const enc_acts *a, const float *dout, arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  const enc_cfg *c = &m->c;
  if (!m->ps->g) return err_set(e, TS_EARG, "encoder: backward needs a parameter set with gradients");
  if (a->infer) return err_set(e, TS_EARG, "encoder: backward of an inference forward (enc_forward_infer keeps no activations)");
  int64_t B = a->B, T = a->T, N = B * T, C = c->C, H = c->H;
  arena_mark mk = arena_get_mark(ar);
  float *d0, *d1, *dbias = NULL;
  EALLOC(d0, N * C);
  EALLOC(d1, N * C);
  tensor DOUT = ET2((float *)dout, N, C), D0 = ET2(d0, N, C), D1 = ET2(d1, N, C);
  ETRY(op_copy(be, &DOUT, &D1, e));
  ETRY(zero_padded_rows(be, a, C, d1, e));
  tensor Lw, gLw, gLb;
  ETRY(encln_w(m, "weight", 0, &Lw, e));
  ETRY(encln_w(m, "weight", 1, &gLw, e));
  ETRY(encln_w(m, "bias", 1, &gLb, e));
  float *cur = d1, *nxt = d0;
  if (c->stable_ln) {
    tensor X = ET2(a->last, N, C), M = ET1(a->om, N), R = ET1(a->orr, N);
    ETRY(op_fill(be, &D0, 0.0f, e));
    ETRY(op_layernorm_bwd(be, &X, &Lw, &M, &R, &D1, &D0, enc_optw(&gLw), enc_optw(&gLb), e));
    cur = d0, nxt = d1;
  }
  if (c->alibi) {
    EALLOC(dbias, H * T * T);
    tensor DB = ET3(dbias, H, T, T);
    ETRY(op_fill(be, &DB, 0.0f, e));
  }
  for (int l = a->n_layers - 1; l >= 0; l--) {
    const float *y = l + 1 < a->n_layers ? a->lay[l + 1].x : a->last;
    int rc = enc_layer_backward(m, l, a, &a->lay[l], y, cur, nxt, dbias, ar, e);
    if (rc) return err_prefix(e, "encoder block %d backward", l);
    float *t = cur;
    cur = nxt, nxt = t;
  }
  /* cur = gradient w.r.t. the first block's input */
  float *dx0 = cur;
  tensor X0 = ET2(a->x0, N, C);
  if (!c->stable_ln) {
    tensor DXN = ET2(cur, N, C), DX0 = ET2(nxt, N, C), M = ET1(a->x0m, N), R = ET1(a->x0r, N);
    ETRY(op_fill(be, &DX0, 0.0f, e));
    ETRY(op_layernorm_bwd(be, &X0, &Lw, &M, &R, &DXN, &DX0, enc_optw(&gLw), enc_optw(&gLb), e));
    dx0 = nxt;
  }
  if (c->alibi) ETRY(alibi_backward(m, a, dbias, ar, e));
  float *dhp;
  EALLOC(dhp, N * C);
  tensor DHP = ET2(dhp, N, C), DX0 = ET2(dx0, N, C);
  ETRY(op_copy(be, &DX0, &DHP, e));
  ETRY(enc_pos_backward(m, a, dx0, dhp, ar, e));
  if (c->kind != ENC_DATA2VEC2) ETRY(zero_padded_rows(be, a, C, dhp, e));
  ETRY(enc_conv_backward(m, a, dhp, ar, e));
  arena_rewind(ar, mk);
  return TS_OK;
}

/* ---- sizes ---- */

typedef struct sz {
  int64_t bytes, allocs;
} sz;

static void add(sz *s, int64_t floats) {
  s->bytes += (floats > 0 ? floats : 1) * 4;
  s->allocs++;
}

int enc_info_get(const enc_cfg *c, backend *be, int64_t B, int64_t samples, enc_info *out, ts_err *e) {
  memset(out, 0, sizeof *out);
  if (B < 1 || samples < 1) return err_set(e, TS_EARG, "encoder info: batch and samples must be positive");
  int64_t T = enc_frames(c, samples), N = B * T, C = c->C, F = c->F, H = c->H, K = c->pos_kernel;
  if (T < 1) return err_set(e, TS_EARG, "encoder info: %lld samples give no frame", (long long)samples);
  out->params = enc_param_count(c);
  out->param_bytes = out->params * 4;
  out->frames = T;
  sz s = {0, 0};
  s.bytes += B * 4 + B * 8, s.allocs += 2;
  int64_t Tin = c->fbank ? enc_fbank_frames(samples) : samples, convmax = 0;
  int fe_cl = enc_fe_cl(c, enc_cl_on()), pos_cl = enc_pos_cl(c, enc_cl_on()); /* the layouts a forward now takes */
  if (c->fbank) add(&s, B * c->fbank * Tin);
  else add(&s, B * samples), add(&s, B), add(&s, B);
  if (!c->fbank && c->do_normalize) add(&s, B * samples); /* the uploaded raw waveform */
  for (int i = 0; i < c->n_conv; i++) {
    int64_t Co = c->conv_dim[i], To = (Tin - c->conv_kernel[i]) / c->conv_stride[i] + 1, n = B * Co * To;
    int last = i == c->n_conv - 1;
    if (c->fe_norm == ENC_FE_LAYER) { /* co, cn (channel-first only), stats, output (next input or features) */
      add(&s, n), add(&s, B * To), add(&s, B * To), add(&s, n);
      if (!fe_cl) add(&s, n);
    } else { /* co, activation, layer 0's norm output and stats, the transposed features */
      add(&s, n), add(&s, n);
      if (i == 0) add(&s, n), add(&s, B * Co), add(&s, B * Co);
      if (last) add(&s, n);
    }
    convmax = n > convmax ? n : convmax;
    Tin = To;
  }
  int64_t Cl = c->conv_dim[c->n_conv - 1];
  add(&s, N * Cl), add(&s, N), add(&s, N), add(&s, N * C);
  add(&s, N * C); /* pos */
  if (!pos_cl) add(&s, N * C); /* pin[0]: channels-last, hp itself */
  if (c->kind == ENC_WAV2VEC2) {
    int64_t To = T + 2 * (K / 2) - K + 1;
    add(&s, C * (C / c->pos_groups) * K), add(&s, K), add(&s, B * C * To), add(&s, B * C * To);
  } else {
    for (int j = 0; j < c->pos_layers; j++) { /* po, pn (channel-first only), stats; the next layer's input */
      add(&s, N * C), add(&s, N), add(&s, N);
      if (!pos_cl) add(&s, N * C);
      if (j < c->pos_layers - 1) add(&s, N * C);
    }
  }
  add(&s, N * C);
  if (!c->stable_ln) add(&s, N), add(&s, N), add(&s, N * C);
  if (c->alibi) add(&s, H * T * T), add(&s, H * T * T), add(&s, c->alibi_scale_heads);
  int nl = enc_n_layers(c);
  s.bytes += (int64_t)sizeof(enc_layer_acts) * (nl ? nl : 1), s.allocs++;
  /* what the backend keeps of each layer's attention for its backward (attn_cfg.keep; bytes) */
  int64_t keep = 0;
  if (be) {
    tensor q = {0}, bias = {0};
    q.dtype = DT_F32, q.ndim = 4, q.ne[0] = B, q.ne[1] = T, q.ne[2] = H, q.ne[3] = C / H;
    bias.dtype = DT_F32, bias.ndim = 3, bias.ne[0] = H, bias.ne[1] = T, bias.ne[2] = T;
    attn_cfg ac = {0};
    ac.scale = 1.0f / sqrtf((float)(C / H));
    if (c->alibi) ac.bias = &bias;
    keep = (int64_t)op_attn_keep_bytes(be, &q, &q, &ac);
  }
  for (int l = 0; l < nl; l++) {
    add(&s, N * C); /* output */
    for (int k = 0; k < 7; k++) add(&s, N * C);
    for (int k = 0; k < 4; k++) add(&s, N);
    add(&s, B * H * T), add(&s, N * F), add(&s, N * F);
    if (keep) s.bytes += keep, s.allocs++;
  }
  if (c->stable_ln) add(&s, N * C), add(&s, N), add(&s, N);
  out->act_bytes = s.bytes + s.allocs * 63; /* arena blocks are 64-byte aligned */
  /* backward scratch peak: top level (3 N*C, ALiBi grad) plus the larger of a block's
   * scratch (6 N*C + 2 N*F) and the conv stack's (2 ping-pong + 4 scratch buffers of its largest layer) */
  int64_t top = 3 * N * C + (c->alibi ? H * T * T : 0), blk = 6 * N * C + 2 * N * F, conv = 6 * convmax + 2 * N * Cl;
  int64_t scratch = 4 * (top + (blk > conv ? blk : conv));
  out->train_bytes = 4 * out->param_bytes + out->act_bytes + scratch;
  return TS_OK;
}
