/* encoder_params.c — the encoder's tensors: names (HF or fairseq data2vec 2.0), declaration in
 * a pset, views for the forward/backward, and loading from safetensors with checks that name
 * the tensor at fault. */
#include <stdlib.h>
#include <string.h>

#include "model/encoder_int.h"

#define D2V2 "modality_encoders.AUDIO."

static int is_d2v2(const enc_cfg *c) { return c->kind == ENC_DATA2VEC2; }

void enc_nm_conv(const enc_cfg *c, int i, const char *what, char *out, size_t n) {
  int ln = !strncmp(what, "ln.", 3);
  if (is_d2v2(c))
    snprintf(out, n, D2V2 "local_encoder.conv_layers.%d.%s%s", i, ln ? "2.1." : "0.", ln ? what + 3 : what);
  else
    snprintf(out, n, "feature_extractor.conv_layers.%d.%s%s", i, ln ? "layer_norm." : "conv.", ln ? what + 3 : what);
}

void enc_nm_proj(const enc_cfg *c, const char *what, char *out, size_t n) {
  int ln = !strncmp(what, "ln.", 3);
  if (is_d2v2(c))
    snprintf(out, n, D2V2 "project_features.%s%s", ln ? "1." : "2.", ln ? what + 3 : what);
  else
    snprintf(out, n, "feature_projection.%s%s", ln ? "layer_norm." : "projection.", ln ? what + 3 : what);
}

void enc_nm_pos(const enc_cfg *c, int j, const char *what, char *out, size_t n) {
  if (is_d2v2(c))
    snprintf(out, n, D2V2 "relative_positional_encoder.%d.0.%s", j + 1, what);
  else if (c->kind == ENC_WAV2VEC2)
    snprintf(out, n, "encoder.pos_conv_embed.conv.%s", what);
  else
    snprintf(out, n, "encoder.pos_conv_embed.layers.%d.conv.%s", j, what);
}

void enc_nm_encln(const enc_cfg *c, const char *what, char *out, size_t n) {
  snprintf(out, n, "%s%s", is_d2v2(c) ? D2V2 "context_encoder.norm." : "encoder.layer_norm.", what);
}

void enc_nm_layer(const enc_cfg *c, int l, char *out, size_t n) {
  if (!is_d2v2(c))
    snprintf(out, n, "encoder.layers.%d.", l);
  else if (l < c->L_prenet)
    snprintf(out, n, D2V2 "context_encoder.blocks.%d.", l);
  else
    snprintf(out, n, "blocks.%d.", l - c->L_prenet);
}

const char *enc_nm_alibi(void) { return D2V2 "alibi_scale"; }

int enc_n_layers(const enc_cfg *c) { return c->L_prenet + c->L; }

/* ---- the tensor list ---- */

/* packed: stored right after the previous tensor (pset_add_packed), so that a group is one matrix */
typedef int (*enc_tensor_fn)(void *ctx, const char *suffix, int ndim, const int64_t *ne, int decay, int packed,
                             ts_err *e);

static int each(const enc_cfg *c, enc_tensor_fn fn, void *ctx, ts_err *e) {
  char nm[256], lp[160];
  int64_t C = c->C, F = c->F;
#define TP(nd, a, b, cc, dec, packed)                   \
  do {                                                  \
    int64_t ne_[4] = {(a), (b), (cc), 0};               \
    ETRY(fn(ctx, nm, (nd), ne_, (dec), (packed), e));   \
  } while (0)
#define T(nd, a, b, cc, dec) TP(nd, a, b, cc, dec, 0)
  for (int i = 0; i < c->n_conv; i++) {
    int64_t cin = i ? c->conv_dim[i - 1] : (c->fbank ? c->fbank : 1), co = c->conv_dim[i];
    enc_nm_conv(c, i, "weight", nm, sizeof nm);
    T(3, co, cin, c->conv_kernel[i], 1);
    if (c->conv_bias) {
      enc_nm_conv(c, i, "bias", nm, sizeof nm);
      T(1, co, 0, 0, 0);
    }
    if (c->fe_norm == ENC_FE_LAYER || i == 0) {
      enc_nm_conv(c, i, "ln.weight", nm, sizeof nm);
      T(1, co, 0, 0, 0);
      enc_nm_conv(c, i, "ln.bias", nm, sizeof nm);
      T(1, co, 0, 0, 0);
    }
  }
  int64_t cl = c->conv_dim[c->n_conv - 1];
  enc_nm_proj(c, "ln.weight", nm, sizeof nm);
  T(1, cl, 0, 0, 0);
  enc_nm_proj(c, "ln.bias", nm, sizeof nm);
  T(1, cl, 0, 0, 0);
  enc_nm_proj(c, "weight", nm, sizeof nm);
  T(2, C, cl, 0, 1);
  enc_nm_proj(c, "bias", nm, sizeof nm);
  T(1, C, 0, 0, 0);
  for (int j = 0; j < c->pos_layers; j++) {
    if (c->kind == ENC_WAV2VEC2) {
      enc_nm_pos(c, j, "weight_g", nm, sizeof nm);
      T(3, 1, 1, c->pos_kernel, 0);
      enc_nm_pos(c, j, "weight_v", nm, sizeof nm);
      T(3, C, C / c->pos_groups, c->pos_kernel, 1);
    } else {
      enc_nm_pos(c, j, "weight", nm, sizeof nm);
      T(3, C, C / c->pos_groups, c->pos_kernel, 1);
    }
    enc_nm_pos(c, j, "bias", nm, sizeof nm);
    T(1, C, 0, 0, 0);
  }
  if (c->alibi) {
    snprintf(nm, sizeof nm, "%s", enc_nm_alibi());
    T(1, c->alibi_scale_heads, 0, 0, 0);
  }
  enc_nm_encln(c, "weight", nm, sizeof nm);
  T(1, C, 0, 0, 0);
  enc_nm_encln(c, "bias", nm, sizeof nm);
  T(1, C, 0, 0, 0);
  for (int l = 0; l < enc_n_layers(c); l++) {
    enc_nm_layer(c, l, lp, sizeof lp);
    if (is_d2v2(c)) {
      static const struct { const char *n; int w; } t[] = {
          {"attn.qkv.weight", 3}, {"attn.qkv.bias", -3}, {"attn.proj.weight", 1}, {"attn.proj.bias", 0},
          {"norm1.weight", 0},    {"norm1.bias", 0},     {"mlp.fc1.weight", 2},   {"mlp.fc1.bias", -2},
          {"mlp.fc2.weight", 4},  {"mlp.fc2.bias", 0},   {"norm2.weight", 0},     {"norm2.bias", 0}};
      for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        if (t[k].w == -3 && !c->qkv_bias) continue;
        snprintf(nm, sizeof nm, "%s%s", lp, t[k].n);
        switch (t[k].w) {
          case 3: T(2, 3 * C, C, 0, 1); break;
          case -3: T(1, 3 * C, 0, 0, 0); break;
          case 1: T(2, C, C, 0, 1); break;
          case 2: T(2, F, C, 0, 1); break;
          case -2: T(1, F, 0, 0, 0); break;
          case 4: T(2, C, F, 0, 1); break;
          default: T(1, C, 0, 0, 0);
        }
      }
    } else {
      /* q/k/v weights, then their biases, each group packed: one (3C, C) matrix, one (3C) bias */
      static const char *proj[] = {"q_proj", "k_proj", "v_proj"};
      for (int k = 0; k < 3; k++) {
        snprintf(nm, sizeof nm, "%sattention.%s.weight", lp, proj[k]);
        TP(2, C, C, 0, 1, k > 0);
      }
      for (int k = 0; k < 3; k++) {
        snprintf(nm, sizeof nm, "%sattention.%s.bias", lp, proj[k]);
        TP(1, C, 0, 0, 0, k > 0);
      }
      snprintf(nm, sizeof nm, "%sattention.out_proj.weight", lp);
      T(2, C, C, 0, 1);
      snprintf(nm, sizeof nm, "%sattention.out_proj.bias", lp);
      T(1, C, 0, 0, 0);
      snprintf(nm, sizeof nm, "%slayer_norm.weight", lp);
      T(1, C, 0, 0, 0);
      snprintf(nm, sizeof nm, "%slayer_norm.bias", lp);
      T(1, C, 0, 0, 0);
      snprintf(nm, sizeof nm, "%sfeed_forward.intermediate_dense.weight", lp);
      T(2, F, C, 0, 1);
      snprintf(nm, sizeof nm, "%sfeed_forward.intermediate_dense.bias", lp);
      T(1, F, 0, 0, 0);
      snprintf(nm, sizeof nm, "%sfeed_forward.output_dense.weight", lp);
      T(2, C, F, 0, 1);
      snprintf(nm, sizeof nm, "%sfeed_forward.output_dense.bias", lp);
      T(1, C, 0, 0, 0);
      snprintf(nm, sizeof nm, "%sfinal_layer_norm.weight", lp);
      T(1, C, 0, 0, 0);
      snprintf(nm, sizeof nm, "%sfinal_layer_norm.bias", lp);
      T(1, C, 0, 0, 0);
    }
  }
#undef T
#undef TP
  return TS_OK;
}

typedef struct decl_ctx {
  pset *ps;
  const char *prefix;
} decl_ctx;

static int decl_one(void *ctx, const char *suffix, int ndim, const int64_t *ne, int decay, int packed, ts_err *e) {
  decl_ctx *d = ctx;
  char nm[320];
  snprintf(nm, sizeof nm, "%s%s", d->prefix, suffix);
  int i = packed ? pset_add_packed(d->ps, nm, ndim, ne, decay, e) : pset_add(d->ps, nm, ndim, ne, decay, e);
  return i < 0 ? (e ? e->code : TS_EARG) : TS_OK;
}

int enc_declare(pset *ps, const char *prefix, const enc_cfg *c, ts_err *e) {
  decl_ctx d = {ps, prefix};
  return each(c, decl_one, &d, e);
}

typedef struct count_ctx {
  int64_t n;
} count_ctx;

static int count_one(void *ctx, const char *suffix, int ndim, const int64_t *ne, int decay, int packed, ts_err *e) {
  int64_t k = 1;
  for (int i = 0; i < ndim; i++) k *= ne[i];
  ((count_ctx *)ctx)->n += k;
  return TS_OK;
}

int64_t enc_param_count(const enc_cfg *c) {
  count_ctx k = {0};
  each(c, count_one, &k, NULL);
  return k.n;
}

static int tally_one(void *ctx, const char *suffix, int ndim, const int64_t *ne, int decay, int packed, ts_err *e) {
  ((count_ctx *)ctx)->n++;
  return TS_OK;
}

int enc_bind(enc_model *m, pset *ps, const char *prefix, const enc_cfg *c, ts_err *e) {
  memset(m, 0, sizeof *m);
  m->c = *c;
  m->ps = ps;
  if (strlen(prefix) >= sizeof m->prefix) return err_set(e, TS_EARG, "encoder: prefix \"%s\" too long", prefix);
  snprintf(m->prefix, sizeof m->prefix, "%s", prefix);
  if (!ps->w) return err_set(e, TS_EARG, "encoder: bind needs an allocated parameter set");
  char nm[320];
  enc_nm_conv(c, 0, "weight", nm, sizeof nm);
  char full[400];
  snprintf(full, sizeof full, "%s%s", prefix, nm);
  m->first = pset_find(ps, full);
  if (m->first < 0) return err_set(e, TS_EFORMAT, "encoder: parameter %s missing (declare with enc_declare)", full);
  /* enc_declare adds the tensors consecutively, the first conv weight first */
  count_ctx k = {0};
  each(c, tally_one, &k, NULL);
  m->count = (int)k.n;
  size_t lp = strlen(prefix);
  for (int i = m->first; i < m->first + m->count; i++)
    if (i >= ps->n || strncmp(ps->v[i].name, prefix, lp))
      return err_set(e, TS_EFORMAT, "encoder: the parameter set does not hold the %d tensors enc_declare adds under "
                     "\"%s\" consecutively", m->count, prefix);
  /* every view used by the forward must be present */
  for (int l = 0; l < enc_n_layers(c); l++) {
    enc_lp p;
    ETRY(enc_layer_params(m, l, 0, &p, e));
  }
  return TS_OK;
}

static int find_in(const enc_model *m, const char *full) {
  for (int i = m->first; i < m->first + m->count; i++)
    if (!strcmp(m->ps->v[i].name, full)) return i;
  return pset_find(m->ps, full);
}

int enc_view(const enc_model *m, const char *suffix, int grad, tensor *t, ts_err *e) {
  char full[400];
  snprintf(full, sizeof full, "%s%s", m->prefix, suffix);
  int i = find_in(m, full);
  if (i < 0) return err_set(e, TS_EFORMAT, "encoder: parameter %s missing", full);
  if (!grad) {
    *t = pset_w(m->ps, i);
  } else {
    *t = pset_g(m->ps, i);
    if (!m->ps->g || m->ps->v[i].frozen) t->data = NULL;
  }
  return TS_OK;
}

/* q/k/v of a layer as one stacked view (stored packed by enc_declare); gradients need the three
 * trained or frozen together */
static int enc_stack3(const enc_model *m, const char *suffix, int grad, tensor *t, ts_err *e) {
  char full[400];
  snprintf(full, sizeof full, "%s%s", m->prefix, suffix);
  int i = find_in(m, full);
  if (i < 0) return err_set(e, TS_EFORMAT, "encoder: parameter %s missing", full);
  ETRY(pset_rows(m->ps, grad ? m->ps->g : m->ps->w, i, 3, t, e));
  if (grad) {
    const pview *v = m->ps->v;
    if (v[i].frozen != v[i + 1].frozen || v[i].frozen != v[i + 2].frozen)
      return err_set(e, TS_EARG, "encoder: %s and the k/v projections after it must be frozen together", full);
    if (v[i].frozen) t->data = NULL;
  }
  return TS_OK;
}

int enc_layer_params(const enc_model *m, int l, int grad, enc_lp *p, ts_err *e) {
  const enc_cfg *c = &m->c;
  char lp[160], nm[256];
  memset(p, 0, sizeof *p);
  enc_nm_layer(c, l, lp, sizeof lp);
#define V(field, s)                             \
  do {                                          \
    snprintf(nm, sizeof nm, "%s%s", lp, s);     \
    ETRY(enc_view(m, nm, grad, &p->field, e));  \
  } while (0)
  if (is_d2v2(c)) {
    V(wqkv, "attn.qkv.weight");
    if (c->qkv_bias) V(bqkv, "attn.qkv.bias");
    V(wo, "attn.proj.weight");
    V(bo, "attn.proj.bias");
    V(ln1w, "norm1.weight");
    V(ln1b, "norm1.bias");
    V(w1, "mlp.fc1.weight");
    V(b1, "mlp.fc1.bias");
    V(w2, "mlp.fc2.weight");
    V(b2, "mlp.fc2.bias");
    V(ln2w, "norm2.weight");
    V(ln2b, "norm2.bias");
  } else {
#define S3(field, s)                              \
  do {                                            \
    snprintf(nm, sizeof nm, "%s%s", lp, s);       \
    ETRY(enc_stack3(m, nm, grad, &p->field, e));  \
  } while (0)
    S3(wqkv, "attention.q_proj.weight");
    S3(bqkv, "attention.q_proj.bias");
#undef S3
    V(wo, "attention.out_proj.weight");
    V(bo, "attention.out_proj.bias");
    V(ln1w, "layer_norm.weight");
    V(ln1b, "layer_norm.bias");
    V(w1, "feed_forward.intermediate_dense.weight");
    V(b1, "feed_forward.intermediate_dense.bias");
    V(w2, "feed_forward.output_dense.weight");
    V(b2, "feed_forward.output_dense.bias");
    V(ln2w, "final_layer_norm.weight");
    V(ln2b, "final_layer_norm.bias");
  }
#undef V
  return TS_OK;
}

int enc_cl_on(void) {
  const char *v = getenv("TSASR_ENC_CL");
  return !v || strcmp(v, "0");
}

float *enc_falloc(arena *ar, int64_t n, ts_err *e) {
  float *p = arena_alloc(ar, sizeof(float) * (size_t)(n > 0 ? n : 1));
  if (!p) err_set(e, TS_ENOMEM, "encoder: activation arena out of memory (%lld floats)", (long long)n);
  return p;
}

/* ---- loading ---- */

/* Alternative names of a declared tensor in files written by other library versions. */
static const char *alias_of(const char *suffix, char *buf, size_t n) {
  static const struct { const char *ours, *theirs; } al[] = {
      {"encoder.pos_conv_embed.conv.weight_g", "encoder.pos_conv_embed.conv.parametrizations.weight.original0"},
      {"encoder.pos_conv_embed.conv.weight_v", "encoder.pos_conv_embed.conv.parametrizations.weight.original1"},
  };
  for (size_t i = 0; i < sizeof al / sizeof al[0]; i++)
    if (!strcmp(suffix, al[i].ours)) {
      snprintf(buf, n, "%s", al[i].theirs);
      return buf;
    }
  return NULL;
}

/* Names inside the encoder's namespace of a file that the encoder does not use. */
static int ignorable(const char *suffix) {
  return !strcmp(suffix, "masked_spec_embed");
}

/* Families of names that belong to the encoder: an unexpected tensor there means the config
 * does not describe the checkpoint. */
static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

static int in_family(const enc_cfg *c, const char *suffix) {
  if (is_d2v2(c))
    return starts(suffix, D2V2 "local_encoder.") || starts(suffix, D2V2 "project_features.") ||
           starts(suffix, D2V2 "relative_positional_encoder.") || starts(suffix, D2V2 "context_encoder.") ||
           starts(suffix, "blocks.") || !strcmp(suffix, D2V2 "alibi_scale");
  return starts(suffix, "feature_extractor.") || starts(suffix, "feature_projection.") || starts(suffix, "encoder.");
}

static const char *cfg_hint(const enc_cfg *c, const char *suffix) {
  if (strstr(suffix, "layers.") || strstr(suffix, "blocks."))
    return is_d2v2(c) ? " (num_hidden_layers / num_prenet_layers?)" : " (num_hidden_layers?)";
  if (strstr(suffix, "conv_layers.")) return " (conv_dim / feat_extract_norm / conv_bias?)";
  if (strstr(suffix, "pos_conv") || strstr(suffix, "positional")) return " (num_conv_pos_embeddings?)";
  return "";
}

/* 1 when suffix is in block N ("...layers.N." / "...blocks.N.") and the file has no tensor of
 * that block at all (then the config's layer count is the likely culprit). */
static int block_absent(const st_file *f, const char *pre, const char *suffix) {
  const char *p = strstr(suffix, "layers.");
  if (!p) p = strstr(suffix, "blocks.");
  if (!p) return 1;
  const char *q = strchr(p + 7, '.');
  if (!q) return 1;
  char bp[512];
  snprintf(bp, sizeof bp, "%s%.*s", pre, (int)(q + 1 - suffix), suffix);
  size_t n = strlen(bp);
  for (int i = 0; i < f->n_tensors; i++)
    if (!strncmp(f->tensors[i].name, bp, n)) return 0;
  return 1;
}

static const char *shape_str(int nd, const int64_t *ne, char *buf, size_t n) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, n - k, "[");
  for (int i = 0; i < nd && k < n; i++) k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)ne[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
  return buf;
}

static int detect_prefix(const enc_cfg *c, const st_file *f, char *out, size_t n, ts_err *e) {
  char anchor[256];
  enc_nm_conv(c, 0, "weight", anchor, sizeof anchor);
  size_t la = strlen(anchor);
  for (int i = 0; i < f->n_tensors; i++) {
    const char *nm = f->tensors[i].name;
    size_t ln = strlen(nm);
    if (ln >= la && !strcmp(nm + ln - la, anchor) && ln - la < n) {
      memcpy(out, nm, ln - la);
      out[ln - la] = 0;
      return TS_OK;
    }
  }
  return err_set(e, TS_EFORMAT, "%s: no encoder tensors: nothing ends in \"%s\" (is this a %s checkpoint?)", f->name,
                 anchor, is_d2v2(c) ? "data2vec 2.0 (exported)" : "Hugging Face wav2vec2/data2vec-audio");
}

/* Reads every declared tensor from f (names under pre) into the pset: directly, or through
 * stage (host memory of the largest tensor's size) and an upload when stage is given. */
static int load_tensors(enc_model *m, const st_file *f, const char *pre, float *stage, ts_err *e) {
  const enc_cfg *c = &m->c;
  size_t lp = strlen(m->prefix);
  char nm[512], alt[256], s1[96], s2[96];
  for (int i = m->first; i < m->first + m->count; i++) {
    const pview *v = &m->ps->v[i];
    const char *suffix = v->name + lp;
    snprintf(nm, sizeof nm, "%s%s", pre, suffix);
    const st_tensor *t = st_find(f, nm);
    if (!t && alias_of(suffix, alt, sizeof alt)) {
      snprintf(nm, sizeof nm, "%s%s", pre, alt);
      t = st_find(f, nm);
    }
    if (!t)
      return err_set(e, TS_EFORMAT, "%s: tensor %s%s missing; the config expects it%s", f->name, pre, suffix,
                     block_absent(f, pre, suffix) ? cfg_hint(c, suffix) : "");
    int same = t->ndim == v->ndim;
    for (int d = 0; same && d < v->ndim; d++) same = t->shape[d] == v->ne[d];
    if (!same)
      return err_set(e, TS_ESHAPE, "%s: tensor %s has shape %s, the config expects %s", f->name, nm,
                     shape_str(t->ndim, t->shape, s1, sizeof s1), shape_str(v->ndim, v->ne, s2, sizeof s2));
    ETRY(st_read_f32(f, t, stage ? stage : pset_wp(m->ps, i), v->n, e));
    if (stage) ETRY(be_upload(m->ps->be, pset_wp(m->ps, i), stage, sizeof(float) * (size_t)v->n, v->name, e));
  }
  return TS_OK;
}

int enc_load(enc_model *m, const st_file *f, const char *src_prefix, ts_err *e) {
  const enc_cfg *c = &m->c;
  char pre[256];
  if (src_prefix)
    snprintf(pre, sizeof pre, "%s", src_prefix);
  else
    ETRY(detect_prefix(c, f, pre, sizeof pre, e));
  size_t lsrc = strlen(pre);
  char nm[512];
  /* weights in device memory are read into a host staging buffer (the largest tensor) and
   * uploaded; on a host backend they are read in place */
  backend *be = m->ps->be;
  float *stage = NULL;
  if (!be_is_host(be)) {
    int64_t mx = 1;
    for (int i = m->first; i < m->first + m->count; i++) mx = m->ps->v[i].n > mx ? m->ps->v[i].n : mx;
    if (!(stage = malloc(sizeof(float) * (size_t)mx)))
      return err_set(e, TS_ENOMEM, "%s: out of memory for a staging buffer of %lld floats", f->name, (long long)mx);
  }
  int rc = load_tensors(m, f, pre, stage, e);
  free(stage);
  ETRY(rc);
  /* tensors of the encoder's families that the config does not account for */
  for (int i = 0; i < f->n_tensors; i++) {
    const char *fn = f->tensors[i].name;
    if (strncmp(fn, pre, lsrc)) continue;
    const char *suffix = fn + lsrc;
    if (ignorable(suffix) || !in_family(c, suffix)) continue;
    snprintf(nm, sizeof nm, "%s%s", m->prefix, suffix);
    if (find_in(m, nm) >= 0) continue;
    if (!strcmp(suffix, "encoder.pos_conv_embed.conv.parametrizations.weight.original0") ||
        !strcmp(suffix, "encoder.pos_conv_embed.conv.parametrizations.weight.original1"))
      if (c->kind == ENC_WAV2VEC2) continue;
    return err_set(e, TS_EFORMAT, "%s: tensor %s is not part of the encoder the config describes%s", f->name, fn,
                   cfg_hint(c, suffix));
  }
  return TS_OK;
}

int enc_load_file(enc_model *m, const char *path, ts_err *e) {
  char p[1024];
  size_t n = strlen(path);
  if (n >= 12 && !strcmp(path + n - 12, ".safetensors"))
    snprintf(p, sizeof p, "%s", path);
  else
    snprintf(p, sizeof p, "%s/model.safetensors", path);
  st_file *f = NULL;
  ETRY(st_open(p, &f, e));
  int rc = enc_load(m, f, NULL, e);
  st_close(f);
  return rc;
}
