/* encoder_config.c — the encoder configuration from a Hugging Face config.json
 * (Data2VecAudioConfig, Wav2Vec2Config) or our data2vec 2.0 export, with checks that name the
 * key at fault; the conv length formula; a one-line description. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/jsonx.h"
#include "model/encoder.h"

/* Largest size, count or conv length accepted: these are kept in int and multiplied together,
 * so a bigger value is a corrupt config (it used to be truncated silently). */
#define ENC_MAX_SIZE (1 << 24)

static int cfg_int_array(const cJSON *j, const char *key, const char *what, int64_t *out, int *n, int has_def,
                         const int64_t *def, int ndef, ts_err *e) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, key);
  if (!a) {
    if (!has_def) return err_set(e, TS_EFORMAT, "%s: key \"%s\" missing", what, key);
    for (int i = 0; i < ndef; i++) out[i] = def[i];
    *n = ndef;
    return TS_OK;
  }
  if (!cJSON_IsArray(a)) return err_set(e, TS_EFORMAT, "%s: \"%s\" must be a list of integers", what, key);
  int k = cJSON_GetArraySize(a);
  if (k < 1 || k > ENC_MAX_CONV)
    return err_set(e, TS_EFORMAT, "%s: \"%s\" has %d entries; 1..%d supported", what, key, k, ENC_MAX_CONV);
  for (int i = 0; i < k; i++) {
    const cJSON *v = cJSON_GetArrayItem(a, i);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 ||
        v->valuedouble > ENC_MAX_SIZE)
      return err_set(e, TS_EFORMAT, "%s: \"%s\"[%d] must be an integer in 1..%d", what, key, i, ENC_MAX_SIZE);
    out[i] = (int64_t)v->valuedouble;
  }
  *n = k;
  return TS_OK;
}

static int cfg_act(const cJSON *j, const char *key, const char *what, act_kind *out, ts_err *e) {
  const char *s = jsonx_str(j, key, 1, "gelu", what, e);
  if (!s) return e ? e->code : TS_EFORMAT;
  if (!strcmp(s, "gelu")) *out = ACT_GELU;
  else if (!strcmp(s, "relu")) *out = ACT_RELU;
  else if (!strcmp(s, "silu") || !strcmp(s, "swish")) *out = ACT_SILU;
  else
    return err_set(e, TS_EUNSUP, "%s: \"%s\" is \"%s\"; supported: gelu (erf), relu, silu", what, key, s);
  return TS_OK;
}

#define TRY(x)           \
  do {                   \
    int rc_ = (x);       \
    if (rc_) return rc_; \
  } while (0)

static int cfg_pos_int(const cJSON *j, const char *key, int64_t def, int has_def, const char *what, int64_t *out,
                       ts_err *e) {
  TRY(jsonx_int(j, key, out, has_def, def, what, e));
  if (*out < 1) return err_set(e, TS_EFORMAT, "%s: \"%s\" = %lld must be positive", what, key, (long long)*out);
  if (*out > ENC_MAX_SIZE)
    return err_set(e, TS_EFORMAT, "%s: \"%s\" = %lld out of range (1..%d)", what, key, (long long)*out, ENC_MAX_SIZE);
  return TS_OK;
}

int enc_config_from_json(const cJSON *j, const char *what, enc_cfg *c, ts_err *e) {
  memset(c, 0, sizeof *c);
  if (!cJSON_IsObject(j)) return err_set(e, TS_EFORMAT, "%s: not a JSON object", what);
  const char *mt = jsonx_str(j, "model_type", 0, NULL, what, e);
  if (!mt) return e ? e->code : TS_EFORMAT;
  if (!strcmp(mt, "data2vec-audio")) c->kind = ENC_DATA2VEC_AUDIO;
  else if (!strcmp(mt, "wav2vec2")) c->kind = ENC_WAV2VEC2;
  else if (!strcmp(mt, "data2vec2-audio")) c->kind = ENC_DATA2VEC2;
  else
    return err_set(e, TS_EUNSUP, "%s: model_type \"%s\" is not a supported encoder "
                   "(data2vec-audio, wav2vec2, data2vec2-audio)", what, mt);

  static const int64_t d_dim[7] = {512, 512, 512, 512, 512, 512, 512}, d_k[7] = {10, 3, 3, 3, 3, 2, 2},
                       d_s[7] = {5, 2, 2, 2, 2, 2, 2};
  int64_t tmp[ENC_MAX_CONV];
  int nd = 0, nk = 0, ns = 0;
  TRY(cfg_int_array(j, "conv_dim", what, c->conv_dim, &nd, 1, d_dim, 7, e));
  TRY(cfg_int_array(j, "conv_kernel", what, tmp, &nk, 1, d_k, 7, e));
  for (int i = 0; i < nk; i++) c->conv_kernel[i] = (int)tmp[i];
  TRY(cfg_int_array(j, "conv_stride", what, tmp, &ns, 1, d_s, 7, e));
  for (int i = 0; i < ns; i++) c->conv_stride[i] = (int)tmp[i];
  if (nd != nk || nd != ns)
    return err_set(e, TS_EFORMAT, "%s: conv_dim, conv_kernel and conv_stride have %d, %d and %d entries; they must agree",
                   what, nd, nk, ns);
  c->n_conv = nd;
  TRY(jsonx_bool(j, "conv_bias", &c->conv_bias, 1, 0, what, e));
  TRY(cfg_act(j, "feat_extract_activation", what, &c->fe_act, e));
  TRY(cfg_act(j, "hidden_act", what, &c->act, e));

  int64_t v;
  TRY(cfg_pos_int(j, "hidden_size", 768, 0, what, &c->C, e));
  TRY(cfg_pos_int(j, "num_attention_heads", 12, 0, what, &c->H, e));
  TRY(cfg_pos_int(j, "intermediate_size", 3072, 0, what, &c->F, e));
  TRY(jsonx_int(j, "num_hidden_layers", &v, 0, 0, what, e));
  if (v < 0 || v > 1000) return err_set(e, TS_EFORMAT, "%s: num_hidden_layers = %lld out of range", what, (long long)v);
  c->L = (int)v;
  double eps;
  TRY(jsonx_num(j, "layer_norm_eps", &eps, 1, 1e-5, what, e));
  if (!(eps > 0 && eps < 1)) return err_set(e, TS_EFORMAT, "%s: layer_norm_eps = %g out of range", what, eps);
  c->eps = (float)eps;
  if (c->C % c->H)
    return err_set(e, TS_EFORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld", what,
                   (long long)c->C, (long long)c->H);

  int adapter = 0;
  TRY(jsonx_bool(j, "add_adapter", &adapter, 1, 0, what, e));
  if (adapter) return err_set(e, TS_EUNSUP, "%s: add_adapter (the HF conv adapter after the encoder) is not supported", what);
  c->do_normalize = 1;
  c->norm_eps = 1e-7f;
  c->qkv_bias = 1;
  if (c->kind == ENC_DATA2VEC_AUDIO) {
    /* architecture fixed: LN conv stack, post-LN; leftover wav2vec2 keys are ignored like HF does */
    c->fe_norm = ENC_FE_LAYER;
    TRY(cfg_pos_int(j, "num_conv_pos_embeddings", 5, 1, what, &v, e));
    c->pos_layers = (int)v;
    TRY(cfg_pos_int(j, "conv_pos_kernel_size", 19, 1, what, &v, e));
    c->pos_kernel = (int)v;
    TRY(cfg_pos_int(j, "num_conv_pos_embedding_groups", 16, 1, what, &v, e));
    c->pos_groups = (int)v;
  } else if (c->kind == ENC_WAV2VEC2) {
    const char *fn = jsonx_str(j, "feat_extract_norm", 1, "group", what, e);
    if (!fn) return e ? e->code : TS_EFORMAT;
    if (!strcmp(fn, "group")) c->fe_norm = ENC_FE_GROUP;
    else if (!strcmp(fn, "layer")) c->fe_norm = ENC_FE_LAYER;
    else return err_set(e, TS_EFORMAT, "%s: feat_extract_norm \"%s\" must be \"group\" or \"layer\"", what, fn);
    TRY(jsonx_bool(j, "do_stable_layer_norm", &c->stable_ln, 1, 0, what, e));
    c->pos_layers = 1;
    TRY(cfg_pos_int(j, "num_conv_pos_embeddings", 128, 1, what, &v, e)); /* the kernel size in wav2vec2 */
    c->pos_kernel = (int)v;
    TRY(cfg_pos_int(j, "num_conv_pos_embedding_groups", 16, 1, what, &v, e));
    c->pos_groups = (int)v;
  } else {
    c->fe_norm = ENC_FE_LAYER;
    const char *fn = jsonx_str(j, "feat_extract_norm", 1, "layer", what, e);
    if (!fn) return e ? e->code : TS_EFORMAT;
    if (strcmp(fn, "layer"))
      return err_set(e, TS_EUNSUP, "%s: data2vec 2.0 with feat_extract_norm \"%s\": only \"layer\" (extractor_mode "
                     "layer_norm) is supported", what, fn);
    TRY(jsonx_int(j, "num_prenet_layers", &v, 1, 0, what, e));
    if (v < 0 || v > 1000) return err_set(e, TS_EFORMAT, "%s: num_prenet_layers out of range", what);
    c->L_prenet = (int)v;
    TRY(cfg_pos_int(j, "num_conv_pos_embeddings", 5, 1, what, &v, e));
    c->pos_layers = (int)v;
    TRY(cfg_pos_int(j, "conv_pos_kernel_size", 19, 1, what, &v, e));
    c->pos_kernel = (int)v;
    TRY(cfg_pos_int(j, "num_conv_pos_embedding_groups", 16, 1, what, &v, e));
    c->pos_groups = (int)v;
    TRY(jsonx_bool(j, "qkv_bias", &c->qkv_bias, 1, 1, what, e));
    TRY(jsonx_bool(j, "use_alibi", &c->alibi, 1, 1, what, e));
    int per_head = 1;
    TRY(jsonx_bool(j, "alibi_scale_per_head", &per_head, 1, 1, what, e));
    c->alibi_scale_heads = c->alibi ? (per_head ? (int)c->H : 1) : 0;
    c->norm_eps = 1e-5f;
  }
  if (c->pos_layers > 8)
    return err_set(e, TS_EUNSUP, "%s: %d positional conv layers; at most 8 supported", what, c->pos_layers);
  if (c->C % c->pos_groups)
    return err_set(e, TS_EFORMAT, "%s: hidden_size %lld is not a multiple of num_conv_pos_embedding_groups %d", what,
                   (long long)c->C, c->pos_groups);
  if (c->kind != ENC_WAV2VEC2 && c->pos_kernel % 2 == 0)
    return err_set(e, TS_EUNSUP, "%s: conv_pos_kernel_size %d must be odd for the stacked positional convs", what,
                   c->pos_kernel);
  const char *ft = jsonx_str(j, "feature_type", 1, "waveform", what, e);
  if (!ft) return e ? e->code : TS_EFORMAT;
  if (!strcmp(ft, "fbank")) {
    TRY(cfg_pos_int(j, "num_mel_bins", 80, 1, what, &v, e));
    if (v > 256) return err_set(e, TS_EFORMAT, "%s: num_mel_bins = %lld out of range (1..256)", what, (long long)v);
    c->fbank = (int)v;
  } else if (strcmp(ft, "waveform")) {
    return err_set(e, TS_EUNSUP, "%s: feature_type \"%s\" must be \"waveform\" or \"fbank\"", what, ft);
  }
  TRY(jsonx_bool(j, "do_normalize", &c->do_normalize, 1, c->do_normalize, what, e));
  TRY(jsonx_num(j, "normalize_eps", &eps, 1, c->norm_eps, what, e));
  if (!(eps > 0 && eps < 1)) return err_set(e, TS_EFORMAT, "%s: normalize_eps = %g out of range", what, eps);
  c->norm_eps = (float)eps;
  return TS_OK;
}

int enc_config_load(const char *path, enc_cfg *c, ts_err *e) {
  char cfgp[1024], pre[1024];
  size_t n = strlen(path);
  int is_json = n >= 5 && !strcmp(path + n - 5, ".json");
  if (is_json) {
    snprintf(cfgp, sizeof cfgp, "%s", path);
    pre[0] = 0;
  } else {
    snprintf(cfgp, sizeof cfgp, "%s/config.json", path);
    snprintf(pre, sizeof pre, "%s/preprocessor_config.json", path);
  }
  cJSON *j = NULL;
  TRY(jsonx_load(cfgp, &j, e));
  int rc = enc_config_from_json(j, cfgp, c, e);
  cJSON_Delete(j);
  if (rc || !pre[0]) return rc;
  FILE *fp = fopen(pre, "rb");
  if (!fp) return TS_OK; /* optional */
  fclose(fp);
  TRY(jsonx_load(pre, &j, e));
  int dn = c->do_normalize;
  rc = jsonx_bool(j, "do_normalize", &dn, 1, dn, pre, e);
  cJSON_Delete(j);
  if (rc) return rc;
  c->do_normalize = dn;
  return TS_OK;
}

int64_t enc_frames(const enc_cfg *c, int64_t n) {
  if (c->fbank) n = enc_fbank_frames(n);
  for (int i = 0; i < c->n_conv; i++) {
    if (n < c->conv_kernel[i]) return 0;
    n = (n - c->conv_kernel[i]) / c->conv_stride[i] + 1;
  }
  return n;
}

int64_t enc_hop(const enc_cfg *c) {
  int64_t h = c->fbank ? ENC_FBANK_HOP : 1;
  for (int i = 0; i < c->n_conv; i++) h *= c->conv_stride[i];
  return h;
}

const char *enc_describe(const enc_cfg *c, char *buf, size_t n) {
  static const char *kinds[] = {"data2vec-audio", "wav2vec2", "data2vec2-audio"};
  char fe[48] = "";
  if (c->fbank) snprintf(fe, sizeof fe, "%d-bin fbank, ", c->fbank);
  snprintf(buf, n, "%s: %s%d conv layers (%s norm) -> %lld, %d%s blocks%s, hidden %lld, %lld heads, ffn %lld, "
           "pos conv %dx k%d g%d%s, hop %lld samples",
           kinds[c->kind], fe, c->n_conv, c->fe_norm == ENC_FE_GROUP ? "group" : "layer",
           (long long)c->conv_dim[c->n_conv - 1], c->L_prenet + c->L, c->L_prenet ? " (incl. prenet)" : "",
           c->stable_ln ? " pre-LN" : " post-LN", (long long)c->C, (long long)c->H, (long long)c->F, c->pos_layers,
           c->pos_kernel, c->pos_groups, c->alibi ? ", ALiBi" : "", (long long)enc_hop(c));
  return buf;
}
