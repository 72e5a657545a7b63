/* spk_model.c — the speaker encoder's parameters, forward and backward (see spk_model.h). */
#include "speaker/spk_model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/jsonx.h"
#include "tensor/ops.h"
#include "tensor/ops_layout.h"
#include "tensor/ops_pool.h"

#define TRY(x)           \
  do {                   \
    int rc_ = (x);       \
    if (rc_) return rc_; \
  } while (0)

void spk_cfg_default(spk_cfg *c) {
  memset(c, 0, sizeof *c);
  c->n_mels = 80;
  c->sample_rate = 16000;
  c->n_layers = 4;
  const int ch[4] = {128, 128, 128, 384}, k[4] = {5, 3, 3, 1};
  for (int i = 0; i < 4; i++) c->channels[i] = ch[i], c->kernels[i] = k[i];
  c->emb_dim = 128;
  c->ln_eps = 1e-5f;
  c->pool_eps = 1e-5f;
}

int spk_cfg_check(const spk_cfg *c, ts_err *e) {
  if (c->n_mels < 1 || c->n_mels > 1024) return err_set(e, TS_EARG, "speaker config: n_mels %d (1..1024)", c->n_mels);
  if (c->sample_rate < 1000) return err_set(e, TS_EARG, "speaker config: sample_rate %d", c->sample_rate);
  if (c->n_layers < 1 || c->n_layers > SPK_MAX_LAYERS)
    return err_set(e, TS_EARG, "speaker config: %d frame layers (1..%d)", c->n_layers, SPK_MAX_LAYERS);
  for (int i = 0; i < c->n_layers; i++) {
    if (c->channels[i] < 1 || c->channels[i] > 8192)
      return err_set(e, TS_EARG, "speaker config: layer %d has %d channels (1..8192)", i, c->channels[i]);
    if (c->kernels[i] < 1 || c->kernels[i] > 31 || c->kernels[i] % 2 == 0)
      return err_set(e, TS_EARG, "speaker config: layer %d kernel %d (odd, 1..31)", i, c->kernels[i]);
  }
  if (c->emb_dim < 2 || c->emb_dim > 8192) return err_set(e, TS_EARG, "speaker config: embedding_dim %d", c->emb_dim);
  if (c->n_classes < 0) return err_set(e, TS_EARG, "speaker config: n_classes %d", c->n_classes);
  if (!(c->ln_eps > 0) || !(c->pool_eps >= 0)) return err_set(e, TS_EARG, "speaker config: bad epsilon");
  return TS_OK;
}

static int cfg_int_array(const cJSON *j, const char *key, int *out, int *n, const char *what, ts_err *e) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, key);
  if (!cJSON_IsArray(a)) return err_set(e, TS_EFORMAT, "%s: \"%s\" must be an array of integers", what, key);
  int k = cJSON_GetArraySize(a);
  if (k < 1 || k > SPK_MAX_LAYERS)
    return err_set(e, TS_EFORMAT, "%s: \"%s\" has %d entries (1..%d)", what, key, k, SPK_MAX_LAYERS);
  for (int i = 0; i < k; i++) {
    const cJSON *v = cJSON_GetArrayItem(a, i);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
      return err_set(e, TS_EFORMAT, "%s: \"%s\"[%d] is not an integer", what, key, i);
    out[i] = (int)v->valuedouble;
  }
  *n = k;
  return TS_OK;
}

int spk_cfg_from_json(const cJSON *j, const char *what, spk_cfg *c, ts_err *e) {
  spk_cfg_default(c);
  const char *kind = jsonx_str(j, "model", 0, NULL, what, e);
  if (!kind) return e ? e->code : TS_EFORMAT;
  if (strcmp(kind, SPK_MODEL_KIND))
    return err_set(e, TS_EFORMAT, "%s: model \"%s\" is not a %s speaker encoder", what, kind, SPK_MODEL_KIND);
  int64_t v;
  double d;
  int nc = 0, nk = 0;
  TRY(jsonx_int(j, "n_mels", &v, 1, 80, what, e));
  c->n_mels = (int)v;
  TRY(jsonx_int(j, "sample_rate", &v, 1, 16000, what, e));
  c->sample_rate = (int)v;
  TRY(cfg_int_array(j, "channels", c->channels, &nc, what, e));
  TRY(cfg_int_array(j, "kernels", c->kernels, &nk, what, e));
  if (nc != nk) return err_set(e, TS_EFORMAT, "%s: %d channels but %d kernels", what, nc, nk);
  c->n_layers = nc;
  TRY(jsonx_int(j, "embedding_dim", &v, 0, 0, what, e));
  c->emb_dim = (int)v;
  TRY(jsonx_int(j, "n_classes", &v, 1, 0, what, e));
  c->n_classes = (int)v;
  TRY(jsonx_num(j, "ln_eps", &d, 1, 1e-5, what, e));
  c->ln_eps = (float)d;
  TRY(jsonx_num(j, "pool_eps", &d, 1, 1e-5, what, e));
  c->pool_eps = (float)d;
  int rc = spk_cfg_check(c, e);
  return rc ? err_prefix(e, "%s", what) : TS_OK;
}

int spk_cfg_to_json(const spk_cfg *c, cJSON *j, ts_err *e) {
  cJSON *ch = cJSON_CreateArray(), *k = cJSON_CreateArray();
  int ok = ch && k;
  for (int i = 0; ok && i < c->n_layers; i++)
    ok = cJSON_AddItemToArray(ch, cJSON_CreateNumber(c->channels[i])) &&
         cJSON_AddItemToArray(k, cJSON_CreateNumber(c->kernels[i]));
  ok = ok && cJSON_AddStringToObject(j, "model", SPK_MODEL_KIND) && cJSON_AddNumberToObject(j, "n_mels", c->n_mels) &&
       cJSON_AddNumberToObject(j, "sample_rate", c->sample_rate) && cJSON_AddItemToObject(j, "channels", ch);
  if (ok) ch = NULL;
  ok = ok && cJSON_AddItemToObject(j, "kernels", k);
  if (ok) k = NULL;
  ok = ok && cJSON_AddNumberToObject(j, "embedding_dim", c->emb_dim) &&
       cJSON_AddNumberToObject(j, "n_classes", c->n_classes) && cJSON_AddNumberToObject(j, "ln_eps", c->ln_eps) &&
       cJSON_AddNumberToObject(j, "pool_eps", c->pool_eps);
  cJSON_Delete(ch);
  cJSON_Delete(k);
  return ok ? TS_OK : err_set(e, TS_ENOMEM, "speaker config: out of memory");
}

static int spk_add(spk_model *m, int *idx, int decay, ts_err *e, int ndim, int64_t d0, int64_t d1, int64_t d2,
                   const char *fmt, int l) {
  char nm[96];
  snprintf(nm, sizeof nm, fmt, l);
  int64_t ne[3] = {d0, d1, d2};
  *idx = pset_add(&m->ps, nm, ndim, ne, decay, e);
  return *idx < 0 ? (e ? e->code : TS_EARG) : TS_OK;
}

int spk_model_init(spk_model *m, const spk_cfg *c, backend *be, int with_grad, int with_adam, ts_err *e) {
  memset(m, 0, sizeof *m);
  TRY(spk_cfg_check(c, e));
  m->c = *c;
  m->i_head = -1;
  pset_init(&m->ps, be);
  int cin = c->n_mels, rc;
  for (int l = 0; l < c->n_layers; l++) {
    int co = c->channels[l];
    if ((rc = spk_add(m, &m->i_cw[l], 1, e, 3, co, cin, c->kernels[l], "frame.%d.conv.weight", l)) ||
        (rc = spk_add(m, &m->i_cb[l], 0, e, 1, co, 0, 0, "frame.%d.conv.bias", l)) ||
        (rc = spk_add(m, &m->i_nw[l], 0, e, 1, co, 0, 0, "frame.%d.norm.weight", l)) ||
        (rc = spk_add(m, &m->i_nb[l], 0, e, 1, co, 0, 0, "frame.%d.norm.bias", l)))
      goto fail;
    cin = co;
  }
  if ((rc = spk_add(m, &m->i_ew, 1, e, 2, c->emb_dim, 2 * cin, 0, "embed.weight", 0)) ||
      (rc = spk_add(m, &m->i_eb, 0, e, 1, c->emb_dim, 0, 0, "embed.bias", 0)))
    goto fail;
  /* the head is normalised row by row, so weight decay would only shrink it: none */
  if (c->n_classes > 0 && (rc = spk_add(m, &m->i_head, 0, e, 2, c->n_classes, c->emb_dim, 0, "head.weight", 0)))
    goto fail;
  if ((rc = pset_alloc(&m->ps, with_grad, with_adam, e))) goto fail;
  return TS_OK;
fail:
  pset_free(&m->ps);
  return rc;
}

void spk_model_init_weights(spk_model *m, uint64_t seed) {
  pset *ps = &m->ps;
  /* N(0, 1) matrices, unit norm weights, zero biases; speaker models live on the CPU, where
   * this cannot fail */
  pset_init_normal(ps, 1.0f, seed, NULL);
  for (int i = 0; i < ps->n; i++) {
    pview *v = &ps->v[i];
    if (v->ndim < 2) continue;
    int64_t fan_in = v->n / v->ne[0];
    /* He for the ReLU convolutions, 1/sqrt(fan-in) for the linear layers */
    double std = v->ndim == 3 ? sqrt(2.0 / (double)fan_in) : sqrt(1.0 / (double)fan_in);
    float *w = ps->w + v->off;
    for (int64_t j = 0; j < v->n; j++) w[j] *= (float)std;
  }
}

void spk_model_free(spk_model *m) {
  pset_free(&m->ps);
  memset(m, 0, sizeof *m);
}

int64_t spk_model_n_params(const spk_model *m, int with_head) {
  int64_t n = pset_count(&m->ps, "");
  if (!with_head && m->i_head >= 0) n -= m->ps.v[m->i_head].n;
  return n;
}

static float *spk_alloc(arena *ar, int64_t n, ts_err *e) {
  float *p = arena_alloc(ar, sizeof(float) * (size_t)(n > 0 ? n : 1));
  if (!p) err_set(e, TS_ENOMEM, "speaker encoder: arena out of memory (%lld floats)", (long long)n);
  return p;
}

int spk_forward(spk_model *m, int64_t B, int64_t T, const float *x, const int32_t *lens, float *emb, spk_acts *acts,
                arena *ar, ts_err *e) {
  const spk_cfg *c = &m->c;
  backend *be = m->ps.be;
  pset *ps = &m->ps;
  if (B < 1 || T < 1) return err_set(e, TS_EARG, "speaker encoder: empty batch (B %lld, T %lld)", (long long)B, (long long)T);
  spk_acts tmp;
  spk_acts *a = acts ? acts : &tmp;
  memset(a, 0, sizeof *a);
  a->B = B, a->T = T, a->lens = lens;
  int64_t cmax = c->n_mels;
  for (int l = 0; l < c->n_layers; l++)
    if (c->channels[l] > cmax) cmax = c->channels[l];
  float *scratch = spk_alloc(ar, B * T * cmax, e);
  if (!scratch || !(a->in = spk_alloc(ar, B * T * c->n_mels, e))) return TS_ENOMEM;
  tensor X = tensor_f32((float *)x, 3, B, T, c->n_mels, 0), IN = tensor_f32(a->in, 3, B, c->n_mels, T, 0);
  TRY(op_transpose(be, &X, &IN, e));
  const float *cur = a->in;
  int64_t cin = c->n_mels;
  for (int l = 0; l < c->n_layers; l++) {
    int64_t co = c->channels[l];
    if (!(a->h[l] = spk_alloc(ar, B * co * T, e)) || !(a->t[l] = spk_alloc(ar, B * T * co, e)) ||
        !(a->mean[l] = spk_alloc(ar, B * T, e)) || !(a->rstd[l] = spk_alloc(ar, B * T, e)) ||
        !(a->o[l] = spk_alloc(ar, B * co * T, e)))
      return TS_ENOMEM;
    tensor XI = tensor_f32((float *)cur, 3, B, cin, T, 0), H = tensor_f32(a->h[l], 3, B, co, T, 0);
    tensor W = pset_w(ps, m->i_cw[l]), Bc = pset_w(ps, m->i_cb[l]);
    TRY(op_conv1d(be, &XI, &W, &Bc, &H, 1, c->kernels[l] / 2, 1, e));
    tensor R = tensor_f32(scratch, 3, B, co, T, 0), Tt = tensor_f32(a->t[l], 3, B, T, co, 0);
    TRY(op_act(be, ACT_RELU, &H, &R, e));
    TRY(op_transpose(be, &R, &Tt, e));
    tensor T2 = tensor_f32(a->t[l], 2, B * T, co, 0, 0), N2 = tensor_f32(scratch, 2, B * T, co, 0, 0);
    tensor NW = pset_w(ps, m->i_nw[l]), NB = pset_w(ps, m->i_nb[l]);
    tensor MU = tensor_f32(a->mean[l], 1, B * T, 0, 0, 0), RS = tensor_f32(a->rstd[l], 1, B * T, 0, 0, 0);
    TRY(op_layernorm(be, &T2, &NW, &NB, &N2, &MU, &RS, c->ln_eps, e));
    tensor N3 = tensor_f32(scratch, 3, B, T, co, 0), O = tensor_f32(a->o[l], 3, B, co, T, 0);
    TRY(op_transpose(be, &N3, &O, e));
    cur = a->o[l];
    cin = co;
  }
  if (!(a->pool = spk_alloc(ar, B * 2 * cin, e))) return TS_ENOMEM;
  tensor XL = tensor_f32((float *)cur, 3, B, cin, T, 0), P = tensor_f32(a->pool, 2, B, 2 * cin, 0, 0);
  TRY(op_stats_pool(be, &XL, lens, &P, c->pool_eps, e));
  tensor EW = pset_w(ps, m->i_ew), EB = pset_w(ps, m->i_eb), EMB = tensor_f32(emb, 2, B, c->emb_dim, 0, 0);
  return op_matmul(be, &P, &EW, &EB, &EMB, 0, 1, 0.0f, e);
}

int spk_backward(spk_model *m, const spk_acts *a, const float *demb, arena *ar, ts_err *e) {
  const spk_cfg *c = &m->c;
  backend *be = m->ps.be;
  pset *ps = &m->ps;
  if (!ps->g) return err_set(e, TS_EARG, "speaker encoder: backward needs a model with gradients");
  int64_t B = a->B, T = a->T, L = c->n_layers, cl = c->channels[L - 1];
  int64_t cmax = c->n_mels;
  for (int l = 0; l < L; l++)
    if (c->channels[l] > cmax) cmax = c->channels[l];
  arena_mark mk = arena_get_mark(ar);
  float *dpool = spk_alloc(ar, B * 2 * cl, e), *dcur = spk_alloc(ar, B * T * cmax, e);
  float *dnext = spk_alloc(ar, B * T * cmax, e), *s1 = spk_alloc(ar, B * T * cmax, e);
  float *s2 = spk_alloc(ar, B * T * cmax, e);
  if (!dpool || !dcur || !dnext || !s1 || !s2) return TS_ENOMEM;
  tensor DP = tensor_f32(dpool, 2, B, 2 * cl, 0, 0), P = tensor_f32(a->pool, 2, B, 2 * cl, 0, 0);
  tensor EW = pset_w(ps, m->i_ew), GEW = pset_g(ps, m->i_ew), GEB = pset_g(ps, m->i_eb);
  tensor DE = tensor_f32((float *)demb, 2, B, c->emb_dim, 0, 0);
  TRY(op_fill(be, &DP, 0.0f, e));
  TRY(op_matmul_bwd(be, &P, &EW, &DE, &DP, &GEW, &GEB, 0, 1, e));
  tensor XL = tensor_f32(a->o[L - 1], 3, B, cl, T, 0), DO = tensor_f32(dcur, 3, B, cl, T, 0);
  TRY(op_fill(be, &DO, 0.0f, e));
  TRY(op_stats_pool_bwd(be, &XL, a->lens, &P, &DP, &DO, e));
  for (int64_t l = L - 1; l >= 0; l--) {
    int64_t co = c->channels[l], cin = l ? c->channels[l - 1] : c->n_mels;
    /* o = transpose(n): dn = transpose(do) */
    tensor DO3 = tensor_f32(dcur, 3, B, co, T, 0), DN = tensor_f32(s1, 3, B, T, co, 0);
    TRY(op_transpose(be, &DO3, &DN, e));
    /* n = layernorm(t) */
    tensor DN2 = tensor_f32(s1, 2, B * T, co, 0, 0), DT2 = tensor_f32(s2, 2, B * T, co, 0, 0);
    tensor T2 = tensor_f32(a->t[l], 2, B * T, co, 0, 0), NW = pset_w(ps, m->i_nw[l]);
    tensor GNW = pset_g(ps, m->i_nw[l]), GNB = pset_g(ps, m->i_nb[l]);
    tensor MU = tensor_f32(a->mean[l], 1, B * T, 0, 0, 0), RS = tensor_f32(a->rstd[l], 1, B * T, 0, 0, 0);
    TRY(op_fill(be, &DT2, 0.0f, e));
    TRY(op_layernorm_bwd(be, &T2, &NW, &MU, &RS, &DN2, &DT2, &GNW, &GNB, e));
    /* t = transpose(r): dr = transpose(dt) */
    tensor DT3 = tensor_f32(s2, 3, B, T, co, 0), DR = tensor_f32(s1, 3, B, co, T, 0);
    TRY(op_transpose(be, &DT3, &DR, e));
    /* r = relu(h) */
    tensor H = tensor_f32(a->h[l], 3, B, co, T, 0), DH = tensor_f32(s2, 3, B, co, T, 0);
    TRY(op_fill(be, &DH, 0.0f, e));
    TRY(op_act_bwd(be, ACT_RELU, &H, &DR, &DH, e));
    /* h = conv(in) */
    const float *xin = l ? a->o[l - 1] : a->in;
    tensor XI = tensor_f32((float *)xin, 3, B, cin, T, 0), W = pset_w(ps, m->i_cw[l]);
    tensor GW = pset_g(ps, m->i_cw[l]), GB = pset_g(ps, m->i_cb[l]);
    tensor DX = tensor_f32(dnext, 3, B, cin, T, 0);
    if (l) TRY(op_fill(be, &DX, 0.0f, e));
    TRY(op_conv1d_bwd(be, &XI, &W, &DH, l ? &DX : NULL, &GW, &GB, 1, c->kernels[l] / 2, 1, e));
    float *sw = dcur;
    dcur = dnext;
    dnext = sw;
  }
  arena_rewind(ar, mk);
  return TS_OK;
}
