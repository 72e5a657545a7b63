/* test_encoder.c — the speech encoders against their reference implementations, through the
 * fixtures of tools/gen_encoder_fixtures.py (HF transformers 4.38.2 on torch 1.13, float64
 * reference): Data2VecAudio, wav2vec2 base (group norm, post-LN, weight-normed pos conv) and
 * large (layer-norm conv stack with bias, stable layer norm), data2vec 2.0 (fused qkv, ALiBi
 * with learned per-head scale, prenet + shared blocks; exported from a synthetic fairseq
 * checkpoint). Each model is loaded from its fixture dir (config.json + model.safetensors)
 * through our loader, run on raw waveforms of two lengths (our normalisation), and compared:
 * hidden states on valid frames within 1e-4 of the largest magnitude, the gradient of
 * sum(out * dout) w.r.t. every parameter within 1e-3 of that gradient's largest magnitude
 * (or of 1e-3 x the model's largest gradient where the true gradient vanishes). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "fixture.h"
#include "model/encoder.h"
#include "model/encoder_int.h"
#include "tensor/cpu_act16.h"
#include "tensor/devsim.h"
#include "tensor/gemm.h"
#include "tensor/ops.h"
#include "testutil.h"

#define OUT_TOL 1e-4
#define GRAD_TOL 1e-3
#define PREFIX "encoder."

typedef struct loaded {
  enc_cfg c;
  pset ps;
  enc_model m;
} loaded;

/* max |a - b| / max(max |b|, floor): what the tolerance checks, for ENC_REPORT=1 */
static double rel_err(const float *a, const float *b, int64_t n, double floor) {
  double num = 0, den = floor;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    num = d > num ? d : num;
    den = fabs(b[i]) > den ? fabs(b[i]) : den;
  }
  return num / den;
}

static void fx_dir(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/encoder/%s", TS_FIXTURES, name); }

static int load_model(loaded *lm, const char *dir, const char *st_path, ts_err *e) {
  memset(lm, 0, sizeof *lm);
  int rc = enc_config_load(dir, &lm->c, e);
  if (rc) return rc;
  pset_init(&lm->ps, be_cpu());
  if ((rc = enc_declare(&lm->ps, PREFIX, &lm->c, e))) return rc;
  if ((rc = pset_alloc(&lm->ps, 1, 0, e))) return rc;
  if ((rc = enc_bind(&lm->m, &lm->ps, PREFIX, &lm->c, e))) return rc;
  return enc_load_file(&lm->m, st_path ? st_path : dir, e);
}

static void run_parity(const char *name) {
  char dir[1024];
  fx_dir(dir, sizeof dir, name);
  loaded lm;
  ts_err e;
  int rc = load_model(&lm, dir, NULL, &e);
  if (rc) fprintf(stderr, "%s\n", e.msg);
  assert_int_equal(rc, 0);
  fixture fx;
  assert_int_equal(fx_load(&fx, "encoder", name), 0);
  int64_t nw, n_out;
  const float *wav = fx_tensor(&fx, "wav", &nw), *ref = fx_tensor(&fx, "out", &n_out), *dout = fx_tensor(&fx, "dout", NULL);
  assert_non_null(wav);
  assert_non_null(ref);
  const cJSON *jl = fx_value(&fx, "len"), *jf = fx_value(&fx, "frames");
  int64_t B = cJSON_GetArraySize(jl), len[8];
  for (int64_t b = 0; b < B; b++) len[b] = (int64_t)cJSON_GetArrayItem(jl, (int)b)->valuedouble;
  int64_t L = nw / B, C = lm.c.C;
  arena ar;
  arena_init(&ar, 1 << 20);
  enc_acts a;
  rc = enc_forward(&lm.m, B, L, wav, len, &a, &ar, &e);
  if (rc) fprintf(stderr, "%s\n", e.msg);
  assert_int_equal(rc, 0);
  assert_int_equal(a.T * B * C, n_out);
  /* frame counts and the valid rows of the output */
  int64_t nv = 0;
  for (int64_t b = 0; b < B; b++) {
    assert_int_equal(a.frames[b], (int)cJSON_GetArrayItem(jf, (int)b)->valuedouble);
    nv += a.frames[b];
  }
  float *got = malloc(sizeof(float) * (size_t)(nv * C)), *want = malloc(sizeof(float) * (size_t)(nv * C));
  int64_t k = 0;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < a.frames[b]; t++, k++) {
      memcpy(got + k * C, a.out + (b * a.T + t) * C, sizeof(float) * (size_t)C);
      memcpy(want + k * C, ref + (b * a.T + t) * C, sizeof(float) * (size_t)C);
    }
  char what[256];
  snprintf(what, sizeof what, "%s hidden states", name);
  assert_true(tu_close_ff(what, got, want, nv * C, OUT_TOL, 1e-6));
  double out_err = rel_err(got, want, nv * C, 1e-6), grad_err = 0;
  const char *worst = "";
  { /* the inference forward: the same output bit for bit, less arena, no backward */
    arena ai;
    arena_init(&ai, 1 << 20);
    enc_acts b;
    assert_int_equal(enc_forward_infer(&lm.m, B, L, wav, len, &b, &ai, &e), 0);
    assert_int_equal(b.T, a.T);
    assert_memory_equal(b.frames, a.frames, sizeof(int32_t) * (size_t)B);
    assert_memory_equal(b.out, a.out, sizeof(float) * (size_t)(a.T * B * C));
    if (getenv("ENC_REPORT"))
      fprintf(stderr, "%s: arena peak %.1f MB (training forward) vs %.1f MB (inference)\n", name, ar.peak / 1e6,
              ai.peak / 1e6);
    assert_true(ai.peak < ar.peak); /* (the fixtures have 2 blocks; the saving grows with depth) */
    assert_int_equal(enc_backward(&lm.m, &b, dout, &ai, &e), TS_EARG);
    assert_non_null(strstr(e.msg, "inference"));
    arena_free(&ai);
  }
  /* gradients of every parameter */
  pset_zero_grad(&lm.ps);
  rc = enc_backward(&lm.m, &a, dout, &ar, &e);
  if (rc) fprintf(stderr, "%s\n", e.msg);
  assert_int_equal(rc, 0);
  const cJSON *names = fx_value(&fx, "names"), *it;
  int checked = 0;
  /* the largest gradient of the model: the floor for tensors whose true gradient vanishes
   * (k_proj.bias: the softmax does not see a per-query constant) */
  double gmax = 0;
  cJSON_ArrayForEach(it, names) {
    char key[400];
    snprintf(key, sizeof key, "grad.%s", it->valuestring);
    int64_t ng;
    const float *g = fx_tensor(&fx, key, &ng);
    for (int64_t q = 0; g && q < ng; q++) gmax = fabs(g[q]) > gmax ? fabs(g[q]) : gmax;
  }
  assert_true(gmax > 0);
  cJSON_ArrayForEach(it, names) {
    char key[400], full[400];
    snprintf(key, sizeof key, "grad.%s", it->valuestring);
    snprintf(full, sizeof full, PREFIX "%s", it->valuestring);
    int i = pset_find(&lm.ps, full);
    if (i < 0) fprintf(stderr, "%s: %s not declared\n", name, full);
    assert_true(i >= 0);
    int64_t ng;
    const float *g = fx_tensor(&fx, key, &ng);
    assert_non_null(g);
    assert_int_equal(ng, lm.ps.v[i].n);
    snprintf(what, sizeof what, "%s grad %s", name, it->valuestring);
    assert_true(tu_close_ff(what, pset_gp(&lm.ps, i), g, ng, GRAD_TOL, 1e-3 * gmax));
    double ge = rel_err(pset_gp(&lm.ps, i), g, ng, 1e-3 * gmax);
    if (ge > grad_err) grad_err = ge, worst = it->valuestring;
    checked++;
  }
  assert_int_equal(checked, lm.ps.n); /* every declared tensor was checked */
  if (getenv("ENC_REPORT"))
    fprintf(stderr, "%s: hidden states rel err %.2e; %d gradients, worst rel err %.2e (%s)\n", name, out_err, checked,
            grad_err, worst);
  free(got), free(want);
  arena_free(&ar);
  fx_free(&fx);
  pset_free(&lm.ps);
}

static void test_data2vec_audio(void **state) {
  (void)state;
  run_parity("d2v");
}

static void test_wav2vec2_base(void **state) {
  (void)state;
  run_parity("w2v_base");
}

static void test_wav2vec2_large(void **state) {
  (void)state;
  run_parity("w2v_large");
}

static void test_data2vec2(void **state) {
  (void)state;
  run_parity("d2v2");
}

/* ---- checkpoint checks ---- */

/* Copies the fixture's model.safetensors to path, letting edit() drop (return 0), rename or
 * reshape entries, and converting to dtype. */
typedef int (*edit_fn)(st_entry *en, void *ctx);
static void rewrite(const char *src, const char *path, ts_dtype dt, edit_fn edit, void *ctx) {
  st_file *f;
  ts_err e;
  assert_int_equal(st_open(src, &f, &e), 0);
  st_entry *en = calloc((size_t)f->n_tensors, sizeof *en);
  char **names = calloc((size_t)f->n_tensors, sizeof *names);
  void **bufs = calloc((size_t)f->n_tensors, sizeof *bufs);
  int n = 0;
  for (int i = 0; i < f->n_tensors; i++) {
    const st_tensor *t = &f->tensors[i];
    float *x = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
    assert_int_equal(st_read_f32(f, t, x, t->numel, &e), 0);
    names[i] = strdup(t->name);
    st_entry *s = &en[n];
    s->name = names[i];
    s->dtype = dt;
    s->ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++) s->shape[d] = t->shape[d];
    if (dt == DT_F32) {
      bufs[i] = x;
    } else {
      bufs[i] = malloc(2 * (size_t)(t->numel ? t->numel : 1));
      dtype_from_f32(dt, x, bufs[i], t->numel);
      free(x);
    }
    s->data = bufs[i];
    if (!edit || edit(s, ctx)) n++;
  }
  assert_int_equal(st_write(path, en, n, NULL, 0, &e), 0);
  for (int i = 0; i < f->n_tensors; i++) free(names[i]), free(bufs[i]);
  free(names), free(bufs), free(en);
  st_close(f);
}

static int drop_one(st_entry *en, void *ctx) { return strcmp(en->name, (const char *)ctx) != 0; }
static int reshape_one(st_entry *en, void *ctx) {
  if (!strcmp(en->name, (const char *)ctx)) { /* same numel, other shape */
    en->shape[0] /= 2;
    en->shape[1] *= 2;
  }
  return 1;
}
static int to_parametrizations(st_entry *en, void *ctx) {
  (void)ctx;
  if (!strcmp(en->name, "encoder.pos_conv_embed.conv.weight_g"))
    en->name = "encoder.pos_conv_embed.conv.parametrizations.weight.original0";
  else if (!strcmp(en->name, "encoder.pos_conv_embed.conv.weight_v"))
    en->name = "encoder.pos_conv_embed.conv.parametrizations.weight.original1";
  return 1;
}

static void tmp_path(char *buf, size_t n, const char *leaf) {
  snprintf(buf, n, "%s/test_encoder_tmp", TS_BUILD_DIR);
  ts_err e;
  assert_int_equal(afile_mkdirs(buf, &e), 0);
  size_t k = strlen(buf);
  snprintf(buf + k, n - k, "/%s", leaf);
}

/* The fbank front end (our extension, "feature_type": "fbank"): HF Data2VecAudio with an
 * 80-channel first conv fed torchaudio's Kaldi fbank, normalised per utterance and bin. Without
 * the audio build the encoder must refuse it with a message instead. */
static void test_data2vec_fbank(void **state) {
  (void)state;
#ifdef TS_HAVE_AUDIO
  run_parity("d2v_fbank");
#else
  char dir[1024];
  fx_dir(dir, sizeof dir, "d2v_fbank");
  loaded lm;
  ts_err e;
  assert_int_equal(load_model(&lm, dir, NULL, &e), 0);
  float wav[800] = {0};
  int64_t len = 800;
  arena ar;
  arena_init(&ar, 1 << 16);
  enc_acts a;
  assert_int_equal(enc_forward(&lm.m, 1, 800, wav, &len, &a, &ar, &e), TS_EUNSUP);
  assert_non_null(strstr(e.msg, "fbank"));
  arena_free(&ar);
  pset_free(&lm.ps);
#endif
}

/* feature_type must be known; the fbank geometry: 25 ms windows every 10 ms, then the convs */
static void test_fbank_config(void **state) {
  (void)state;
  ts_err e;
  enc_cfg c;
  cJSON *j = cJSON_Parse("{\"model_type\":\"data2vec-audio\",\"hidden_size\":8,\"num_attention_heads\":2,"
                         "\"intermediate_size\":8,\"num_hidden_layers\":1,\"conv_dim\":[4,4],\"conv_kernel\":[3,3],"
                         "\"conv_stride\":[2,2],\"num_conv_pos_embedding_groups\":2,\"conv_pos_kernel_size\":3,"
                         "\"feature_type\":\"fbank\"}");
  assert_non_null(j);
  assert_int_equal(enc_config_from_json(j, "cfg", &c, &e), 0);
  assert_int_equal(c.fbank, 80);
  assert_int_equal(enc_hop(&c), 640);
  assert_int_equal(enc_frames(&c, 399), 0);            /* no fbank frame */
  assert_int_equal(enc_frames(&c, 400 + 160 * 6), 1);  /* 7 fbank frames -> 3 -> 1 */
  assert_int_equal(enc_frames(&c, 400 + 160 * 6 + 159), 1);
  assert_int_equal(enc_frames(&c, 400 + 160 * 4), 0);  /* 5 -> 2 -> too short for k3 */
  assert_int_equal(enc_frames(&c, 400 + 160 * 10), 2); /* 11 -> 5 -> 2 */
  cJSON_ReplaceItemInObject(j, "feature_type", cJSON_CreateString("mfcc"));
  assert_int_equal(enc_config_from_json(j, "cfg.json", &c, &e), TS_EUNSUP);
  assert_non_null(strstr(e.msg, "cfg.json"));
  assert_non_null(strstr(e.msg, "mfcc"));
  cJSON_ReplaceItemInObject(j, "feature_type", cJSON_CreateString("fbank"));
  cJSON_AddNumberToObject(j, "num_mel_bins", 0);
  assert_int_equal(enc_config_from_json(j, "cfg.json", &c, &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "num_mel_bins"));
  cJSON_Delete(j);
}

static void test_checkpoint_errors(void **state) {
  (void)state;
  char dir[1024], src[1200], path[1200];
  fx_dir(dir, sizeof dir, "d2v");
  snprintf(src, sizeof src, "%s/model.safetensors", dir);
  loaded lm;
  ts_err e;
  /* a missing tensor */
  const char *victim = "encoder.layers.1.attention.k_proj.bias";
  tmp_path(path, sizeof path, "missing.safetensors");
  rewrite(src, path, DT_F32, drop_one, (void *)victim);
  assert_int_not_equal(load_model(&lm, dir, path, &e), 0);
  assert_non_null(strstr(e.msg, victim));
  assert_non_null(strstr(e.msg, "missing"));
  pset_free(&lm.ps);
  /* a wrong shape */
  victim = "encoder.layers.0.feed_forward.intermediate_dense.weight";
  tmp_path(path, sizeof path, "shape.safetensors");
  rewrite(src, path, DT_F32, reshape_one, (void *)victim);
  assert_int_equal(load_model(&lm, dir, path, &e), TS_ESHAPE);
  assert_non_null(strstr(e.msg, victim));
  assert_non_null(strstr(e.msg, "[24, 64]"));
  pset_free(&lm.ps);
  /* a config that does not match the weights: one layer fewer, then a wider hidden size */
  cJSON *j;
  char cfgp[1200];
  snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
  assert_int_equal(jsonx_load(cfgp, &j, &e), 0);
  cJSON_ReplaceItemInObject(j, "num_hidden_layers", cJSON_CreateNumber(1));
  memset(&lm, 0, sizeof lm);
  assert_int_equal(enc_config_from_json(j, "cfg", &lm.c, &e), 0);
  pset_init(&lm.ps, be_cpu());
  assert_int_equal(enc_declare(&lm.ps, PREFIX, &lm.c, &e), 0);
  assert_int_equal(pset_alloc(&lm.ps, 0, 0, &e), 0);
  assert_int_equal(enc_bind(&lm.m, &lm.ps, PREFIX, &lm.c, &e), 0);
  assert_int_not_equal(enc_load_file(&lm.m, dir, &e), 0);
  assert_non_null(strstr(e.msg, "encoder.layers.1."));
  assert_non_null(strstr(e.msg, "num_hidden_layers"));
  pset_free(&lm.ps);
  cJSON_ReplaceItemInObject(j, "num_hidden_layers", cJSON_CreateNumber(2));
  cJSON_ReplaceItemInObject(j, "hidden_size", cJSON_CreateNumber(48));
  memset(&lm, 0, sizeof lm);
  assert_int_equal(enc_config_from_json(j, "cfg", &lm.c, &e), 0);
  pset_init(&lm.ps, be_cpu());
  assert_int_equal(enc_declare(&lm.ps, PREFIX, &lm.c, &e), 0);
  assert_int_equal(pset_alloc(&lm.ps, 0, 0, &e), 0);
  assert_int_equal(enc_bind(&lm.m, &lm.ps, PREFIX, &lm.c, &e), 0);
  assert_int_equal(enc_load_file(&lm.m, dir, &e), TS_ESHAPE);
  assert_non_null(strstr(e.msg, "feature_projection.projection.weight"));
  pset_free(&lm.ps);
  /* config errors name the key */
  cJSON_ReplaceItemInObject(j, "hidden_size", cJSON_CreateNumber(30));
  assert_int_not_equal(enc_config_from_json(j, "cfg", &lm.c, &e), 0);
  assert_non_null(strstr(e.msg, "num_attention_heads"));
  cJSON_ReplaceItemInObject(j, "hidden_size", cJSON_CreateNumber(32));
  cJSON_ReplaceItemInObject(j, "conv_kernel", cJSON_CreateIntArray((const int[]){10, 3, 3}, 3));
  assert_int_not_equal(enc_config_from_json(j, "cfg", &lm.c, &e), 0);
  assert_non_null(strstr(e.msg, "conv_kernel"));
  cJSON_ReplaceItemInObject(j, "model_type", cJSON_CreateString("hubert"));
  assert_int_equal(enc_config_from_json(j, "cfg", &lm.c, &e), TS_EUNSUP);
  assert_non_null(strstr(e.msg, "hubert"));
  cJSON_Delete(j);
  /* a file without encoder tensors */
  fx_dir(dir, sizeof dir, "w2v_base");
  memset(&lm, 0, sizeof lm);
  assert_int_not_equal(load_model(&lm, dir, src, &e), 0); /* d2v weights for a wav2vec2 config */
  pset_free(&lm.ps);
}

/* torch >= 2.1 saves the weight-normed pos conv under parametrizations names; BF16 files load
 * with rounding; both give the same model. */
static void test_checkpoint_variants(void **state) {
  (void)state;
  char dir[1024], src[1200], path[1200];
  fx_dir(dir, sizeof dir, "w2v_base");
  snprintf(src, sizeof src, "%s/model.safetensors", dir);
  loaded ref, lm;
  ts_err e;
  assert_int_equal(load_model(&ref, dir, NULL, &e), 0);
  tmp_path(path, sizeof path, "param.safetensors");
  rewrite(src, path, DT_F32, to_parametrizations, NULL);
  int rc = load_model(&lm, dir, path, &e);
  if (rc) fprintf(stderr, "%s\n", e.msg);
  assert_int_equal(rc, 0);
  assert_memory_equal(lm.ps.w, ref.ps.w, sizeof(float) * (size_t)ref.ps.total);
  pset_free(&lm.ps);
  tmp_path(path, sizeof path, "bf16.safetensors");
  rewrite(src, path, DT_BF16, NULL, NULL);
  assert_int_equal(load_model(&lm, dir, path, &e), 0);
  for (int i = 0; i < ref.ps.n; i++) {
    const float *a = pset_wp(&lm.ps, i), *b = pset_wp(&ref.ps, i);
    for (int64_t k = 0; k < ref.ps.v[i].n; k++) assert_true(a[k] == bf16_to_f32(f32_to_bf16(b[k])));
  }
  pset_free(&lm.ps);
  /* an empty prefix with other tensors declared after the encoder's (a composed model) */
  pset ps;
  enc_model m;
  pset_init(&ps, be_cpu());
  assert_int_equal(enc_declare(&ps, "", &ref.c, &e), 0);
  int64_t ne[1] = {3};
  assert_true(pset_add(&ps, "adapter.linear.bias", 1, ne, 0, &e) >= 0);
  assert_int_equal(pset_alloc(&ps, 0, 0, &e), 0);
  assert_int_equal(enc_bind(&m, &ps, "", &ref.c, &e), 0);
  assert_int_equal(m.count, ps.n - 1);
  assert_int_equal(enc_load_file(&m, dir, &e), 0);
  assert_memory_equal(ps.w, ref.ps.w, sizeof(float) * (size_t)ref.ps.total);
  pset_free(&ps);
  pset_free(&ref.ps);
}

/* enc_info_get: parameter count equals the declared tensors; the activation estimate matches
 * what enc_forward takes from the arena. */
static void test_info(void **state) {
  (void)state;
  const char *names[] = {"d2v", "w2v_base", "w2v_large", "d2v2"};
  for (int k = 0; k < 4; k++) {
    char dir[1024];
    fx_dir(dir, sizeof dir, names[k]);
    loaded lm;
    ts_err e;
    assert_int_equal(load_model(&lm, dir, NULL, &e), 0);
    enc_info inf;
    int64_t B = 2, L = 4000;
    assert_int_equal(enc_info_get(&lm.c, lm.ps.be, B, L, &inf, &e), 0);
    assert_int_equal(inf.params, lm.ps.total > 0 ? pset_count(&lm.ps, "") : 0);
    assert_int_equal(inf.frames, enc_frames(&lm.c, L));
    /* a backend that keeps each layer's attention operands (devsim keeps a 64-byte
     * fingerprint) adds its keep to every layer's activations, one arena block each */
    enc_info infk;
    assert_int_equal(enc_info_get(&lm.c, be_devsim(), B, L, &infk, &e), 0);
    assert_int_equal(infk.act_bytes - inf.act_bytes, (int64_t)enc_n_layers(&lm.c) * (64 + 63));
    float *wav = tu_alloc_rand(B * L, -1, 1, 5);
    int64_t len[2] = {L, L - 700};
    arena ar;
    arena_init(&ar, 1 << 16);
    enc_acts a;
    assert_int_equal(enc_forward(&lm.m, B, L, wav, len, &a, &ar, &e), 0);
    if (!((int64_t)ar.used <= inf.act_bytes && inf.act_bytes <= (int64_t)ar.used * 11 / 10 + 65536))
      fprintf(stderr, "%s: arena used %zu, estimate %lld\n", names[k], ar.used, (long long)inf.act_bytes);
    assert_true((int64_t)ar.used <= inf.act_bytes);
    assert_true(inf.act_bytes <= (int64_t)ar.used * 11 / 10 + 65536);
    assert_true(inf.train_bytes > inf.act_bytes + 4 * inf.param_bytes);
    char d[512], want[64];
    snprintf(want, sizeof want, "hidden %lld,", (long long)lm.c.C);
    assert_non_null(strstr(enc_describe(&lm.c, d, sizeof d), want));
    /* too short an utterance is refused with a message */
    len[1] = 100;
    assert_int_equal(enc_forward(&lm.m, B, L, wav, len, &a, &ar, &e), TS_EARG);
    assert_non_null(strstr(e.msg, "receptive field"));
    free(wav);
    arena_free(&ar);
    pset_free(&lm.ps);
  }
}

/* Frozen tensors get no gradient and leave the others' unchanged; a frozen conv stack keeps no
 * activations (less arena) and its backward is skipped. */
static void test_frozen(void **state) {
  (void)state;
  const char *names[] = {"d2v", "w2v_base"};
  for (int k = 0; k < 2; k++) {
    char dir[1024];
    fx_dir(dir, sizeof dir, names[k]);
    loaded lm;
    ts_err e;
    assert_int_equal(load_model(&lm, dir, NULL, &e), 0);
    fixture fx;
    assert_int_equal(fx_load(&fx, "encoder", names[k]), 0);
    int64_t nw;
    const float *wav = fx_tensor(&fx, "wav", &nw), *dout = fx_tensor(&fx, "dout", NULL);
    const cJSON *jl = fx_value(&fx, "len");
    int64_t len[2] = {(int64_t)cJSON_GetArrayItem(jl, 0)->valuedouble, (int64_t)cJSON_GetArrayItem(jl, 1)->valuedouble};
    arena ar;
    arena_init(&ar, 1 << 20);
    enc_acts a;
    assert_int_equal(enc_forward(&lm.m, 2, nw / 2, wav, len, &a, &ar, &e), 0);
    size_t used_all = ar.used;
    float *out_all = malloc(sizeof(float) * (size_t)(a.T * 2 * lm.c.C));
    memcpy(out_all, a.out, sizeof(float) * (size_t)(a.T * 2 * lm.c.C));
    arena_reset(&ar);
    assert_true(pset_freeze(&lm.ps, PREFIX "feature_extractor.", 1) > 0);
    assert_int_equal(pset_freeze(&lm.ps, PREFIX "encoder.layers.1.attention.", 1), 8);
    assert_int_equal(enc_forward(&lm.m, 2, nw / 2, wav, len, &a, &ar, &e), 0);
    assert_true(ar.used < used_all * 3 / 4);
    assert_memory_equal(a.out, out_all, sizeof(float) * (size_t)(a.T * 2 * lm.c.C));
    pset_zero_grad(&lm.ps);
    assert_int_equal(enc_backward(&lm.m, &a, dout, &ar, &e), 0);
    /* a gradient that is zero in exact arithmetic (a key bias: softmax ignores a per-row
     * shift) is summation noise, so its scale is that of the model's gradients */
    double gall = 0;
    for (int i = 0; i < lm.ps.n; i++) {
      char key[400];
      snprintf(key, sizeof key, "grad.%s", lm.ps.v[i].name + strlen(PREFIX));
      const float *want = lm.ps.v[i].frozen ? NULL : fx_tensor(&fx, key, NULL);
      for (int64_t q = 0; want && q < lm.ps.v[i].n; q++) gall = fabs(want[q]) > gall ? fabs(want[q]) : gall;
    }
    int frozen = 0;
    for (int i = 0; i < lm.ps.n; i++) {
      const pview *v = &lm.ps.v[i];
      const float *g = pset_gp(&lm.ps, i);
      if (v->frozen) {
        for (int64_t q = 0; q < v->n; q++) assert_true(g[q] == 0.0f);
        frozen++;
        continue;
      }
      char key[400], what[400];
      snprintf(key, sizeof key, "grad.%s", v->name + strlen(PREFIX));
      const float *want = fx_tensor(&fx, key, NULL);
      assert_non_null(want);
      snprintf(what, sizeof what, "%s frozen-conv grad %s", names[k], v->name);
      double gmax = 0;
      for (int64_t q = 0; q < v->n; q++) gmax = fabs(want[q]) > gmax ? fabs(want[q]) : gmax;
      assert_true(tu_close_ff(what, g, want, v->n, GRAD_TOL, gmax > 1e-6 ? 1e-6 : 1e-3 * gall));
    }
    assert_true(frozen > 8);
    free(out_all);
    arena_free(&ar);
    fx_free(&fx);
    pset_free(&lm.ps);
  }
}

/* the encoder's forward and backward in the bf16 precision (every GEMM bf16) with the FFN
 * activation, pre-LN's LayerNorm outputs and the conv stack's inner inputs stored in f32 and
 * in bf16 (op_act_dtype): the GEMMs round them to bf16 either way, so the output and every
 * gradient agree bit for bit, with a smaller arena; post-LN with a layer-norm conv stack
 * (data2vec), a group-norm one (wav2vec2 base), pre-LN (wav2vec2 large), data2vec 2.0 */
static void test_bf16_storage(void **state) {
  (void)state;
  if (gemm_set_precision("bf16") != TS_OK) skip(); /* no bf16 GEMM on this machine: nothing stored in bf16 */
  gemm_bf16_all(1);
  int was = cpu_act_bf16();
  static const char *const names[] = {"d2v", "w2v_base", "w2v_large", "d2v2", "d2v_fbank"};
  for (int f = 0; f < 5; f++) {
    char dir[1024];
    fx_dir(dir, sizeof dir, names[f]);
    loaded lm;
    ts_err e;
    if (load_model(&lm, dir, NULL, &e)) fail_msg("%s", e.msg);
    fixture fx;
    assert_int_equal(fx_load(&fx, "encoder", names[f]), 0);
    int64_t nw;
    const float *wav = fx_tensor(&fx, "wav", &nw), *dout = fx_tensor(&fx, "dout", NULL);
    const cJSON *jl = fx_value(&fx, "len");
    int64_t B = cJSON_GetArraySize(jl), len[8];
    for (int64_t b = 0; b < B; b++) len[b] = (int64_t)cJSON_GetArrayItem(jl, (int)b)->valuedouble;
    float *out[2], *g[2];
    size_t peak[2];
    int64_t nout = 0;
    for (int k = 0; k < 2; k++) {
      cpu_set_act_bf16(k);
      assert_int_equal(op_act_dtype(be_cpu()), k ? DT_BF16 : DT_F32);
      arena ar;
      arena_init(&ar, 1 << 20);
      enc_acts a;
      pset_zero_grad(&lm.ps);
      if (enc_forward(&lm.m, B, nw / B, wav, len, &a, &ar, &e) || enc_backward(&lm.m, &a, dout, &ar, &e))
        fail_msg("%s: %s", names[f], e.msg);
      assert_int_equal(a.xdt, k ? DT_BF16 : DT_F32); /* the conv stack's inner inputs too */
      nout = a.T * B * lm.c.C;
      out[k] = malloc(sizeof(float) * (size_t)nout);
      memcpy(out[k], a.out, sizeof(float) * (size_t)nout);
      g[k] = malloc(sizeof(float) * (size_t)lm.ps.total);
      memcpy(g[k], lm.ps.g, sizeof(float) * (size_t)lm.ps.total);
      peak[k] = ar.peak;
      arena_free(&ar);
    }
    if (memcmp(out[0], out[1], sizeof(float) * (size_t)nout)) fail_msg("%s: output differs with bf16 storage", names[f]);
    for (int i = 0; i < lm.ps.n; i++)
      if (memcmp(g[0] + lm.ps.v[i].off, g[1] + lm.ps.v[i].off, sizeof(float) * (size_t)lm.ps.v[i].n))
        fail_msg("%s: gradient %s differs with bf16 storage", names[f], lm.ps.v[i].name);
    if (!(peak[1] < peak[0])) fail_msg("%s: arena peak %zu with bf16 storage, %zu without", names[f], peak[1], peak[0]);
    for (int k = 0; k < 2; k++) free(out[k]), free(g[k]);
    fx_free(&fx);
    pset_free(&lm.ps);
  }
  cpu_set_act_bf16(was);
  gemm_bf16_all(0);
  assert_int_equal(gemm_set_precision("f32"), TS_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_bf16_storage),
      cmocka_unit_test(test_data2vec_audio),   cmocka_unit_test(test_wav2vec2_base),
      cmocka_unit_test(test_wav2vec2_large),   cmocka_unit_test(test_data2vec2),
      cmocka_unit_test(test_checkpoint_errors), cmocka_unit_test(test_checkpoint_variants),
      cmocka_unit_test(test_info),             cmocka_unit_test(test_frozen),
      cmocka_unit_test(test_data2vec_fbank),   cmocka_unit_test(test_fbank_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
