/* test_qwen2_hf.c — the Qwen2 stack against Hugging Face transformers 4.40.2 (fixtures from
 * tools/gen_qwen2_fixtures.py): HF model directories load (f32 and bf16), logits of a
 * right-padded batch match within 1e-4, the response-token loss and the gradient of every
 * parameter within 1e-3; KV-cache decoding of sequences of different lengths reproduces
 * the full forward's logits; bad checkpoints are rejected naming the tensor. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/jsonx.h"
#include "fixture.h"
#include "model/qwen2.h"
#include "tensor/ops.h"
#include "tensor/params_io.h"
#include "testutil.h"

#define LOGIT_TOL 1e-4
#define GRAD_TOL 1e-3

typedef struct q2_fix {
  qwen2_cfg c;
  pset ps;
  qwen2 m;
  fixture fx;
  int64_t B, T;
  int32_t ids[64], tg[64], lens[4], pos[64];
  float w[64];
} q2_fix;

static void q2_load(q2_fix *q, const char *name, const char *dir_suffix, int with_grad) {
  char path[1024];
  ts_err e;
  snprintf(path, sizeof path, "%s/qwen2/%s%s/config.json", TS_FIXTURES, name, dir_suffix);
  if (qwen2_cfg_load(path, &q->c, &e)) fail_msg("%s", e.msg);
  pset_init(&q->ps, be_cpu());
  assert_int_equal(qwen2_declare(&q->ps, "", &q->c, &e), 0);
  assert_int_equal(pset_alloc(&q->ps, with_grad, 0, &e), 0);
  snprintf(path, sizeof path, "%s/qwen2/%s%s/model.safetensors", TS_FIXTURES, name, dir_suffix);
  if (pset_load_file(&q->ps, path, "", "", &e)) fail_msg("%s", e.msg);
  assert_int_equal(qwen2_bind(&q->m, &q->ps, "", &q->c, &e), 0);
  char ref[256];
  snprintf(ref, sizeof ref, "%s_ref", name);
  assert_int_equal(fx_load(&q->fx, "qwen2", ref), 0);
  q->B = (int64_t)fx_num(&q->fx, "B");
  q->T = (int64_t)fx_num(&q->fx, "T");
  const cJSON *ji = fx_value(&q->fx, "ids"), *jt = fx_value(&q->fx, "targets"), *jw = fx_value(&q->fx, "weights"),
              *jl = fx_value(&q->fx, "lens");
  for (int64_t i = 0; i < q->B * q->T; i++) {
    q->ids[i] = (int32_t)cJSON_GetArrayItem(ji, (int)i)->valuedouble;
    q->tg[i] = (int32_t)cJSON_GetArrayItem(jt, (int)i)->valuedouble;
    q->w[i] = (float)cJSON_GetArrayItem(jw, (int)i)->valuedouble;
    q->pos[i] = (int32_t)(i % q->T);
  }
  for (int64_t b = 0; b < q->B; b++) q->lens[b] = (int32_t)cJSON_GetArrayItem(jl, (int)b)->valuedouble;
}

static void q2_free(q2_fix *q) {
  pset_free(&q->ps);
  fx_free(&q->fx);
}

/* Full forward; compares logits at valid positions; returns logits (caller frees). */
static float *q2_forward_check(q2_fix *q, arena *ar, qwen2_acts *acts, float **x_out) {
  ts_err e;
  int64_t N = q->B * q->T, V = q->c.V;
  float *x = tu_zeros(N * q->c.C), *lg = tu_zeros(N * V);
  attn_cfg mask = {0};
  mask.kv_len = q->lens;
  assert_int_equal(qwen2_embed(&q->m, q->ids, N, x, &e), 0);
  if (qwen2_forward(&q->m, q->B, q->T, x, q->pos, &mask, acts, ar, &e)) fail_msg("%s", e.msg);
  assert_int_equal(qwen2_head(&q->m, acts->hid, N, lg, &e), 0);
  const float *ref = fx_tensor(&q->fx, "logits", NULL);
  assert_non_null(ref);
  for (int64_t b = 0; b < q->B; b++) {
    char what[64];
    snprintf(what, sizeof what, "logits of sequence %lld", (long long)b);
    assert_true(tu_close_ff(what, lg + b * q->T * V, ref + b * q->T * V, q->lens[b] * V, LOGIT_TOL, 1e-6));
  }
  *x_out = x;
  return lg;
}

static void run_parity(const char *name) {
  q2_fix q;
  q2_load(&q, name, "", 1);
  arena ar;
  arena_init(&ar, 1 << 20);
  qwen2_acts acts;
  float *x;
  float *lg = q2_forward_check(&q, &ar, &acts, &x);
  int64_t N = q.B * q.T;
  double wsum = 0;
  for (int64_t i = 0; i < N; i++) wsum += q.w[i];
  float losses[64];
  ts_err e;
  tensor LG = tensor_f32(lg, 2, N, q.c.V, 0, 0);
  assert_int_equal(op_xent(be_cpu(), &LG, q.tg, q.w, losses, (float)(1.0 / wsum), &e), 0);
  double loss = 0;
  for (int64_t i = 0; i < N; i++) loss += losses[i];
  loss /= wsum;
  if (fabs(loss - fx_num(&q.fx, "loss")) > 1e-4 * fabs(loss)) fail_msg("%s loss %.8f vs HF %.8f", name, loss, fx_num(&q.fx, "loss"));
  float *dh = tu_zeros(N * q.c.C), *dx = tu_zeros(N * q.c.C);
  attn_cfg mask = {0};
  mask.kv_len = q.lens;
  { /* the inference forward: the same hidden states bit for bit, less arena, no backward */
    arena ai;
    arena_init(&ai, 1 << 20);
    qwen2_acts ia;
    assert_int_equal(qwen2_forward_infer(&q.m, q.B, q.T, x, q.pos, &mask, &ia, &ai, &e), 0);
    assert_memory_equal(ia.hid, acts.hid, sizeof(float) * (size_t)(N * q.c.C));
    assert_memory_equal(ia.rf, acts.rf, sizeof(float) * (size_t)N);
    assert_true(ai.peak < ar.peak);
    assert_int_equal(qwen2_backward(&q.m, &ia, q.pos, &mask, dh, dx, &ai, &e), TS_EARG);
    assert_non_null(strstr(e.msg, "inference"));
    arena_free(&ai);
  }
  assert_int_equal(qwen2_head_bwd(&q.m, acts.hid, lg, N, dh, &e), 0);
  assert_int_equal(qwen2_backward(&q.m, &acts, q.pos, &mask, dh, dx, &ar, &e), 0);
  assert_int_equal(qwen2_embed_bwd(&q.m, q.ids, N, dx, &e), 0);
  int checked = 0;
  for (int i = 0; i < q.ps.n; i++) {
    char key[300];
    snprintf(key, sizeof key, "g.%s", q.ps.v[i].name);
    const float *g = fx_tensor(&q.fx, key, NULL);
    if (!g) fail_msg("%s: HF gives no gradient for %s", name, key);
    if (!tu_close_ff(key, pset_gp(&q.ps, i), g, q.ps.v[i].n, GRAD_TOL, 1e-7)) fail_msg("%s: gradient %s differs", name, key);
    checked++;
  }
  assert_int_equal(checked, q.ps.n);
  free(x), free(lg), free(dh), free(dx);
  arena_free(&ar);
  q2_free(&q);
}

static void test_gqa7_tied(void **s) {
  (void)s;
  run_parity("gqa7_tied");
}

static void test_gqa2_untied(void **s) {
  (void)s;
  run_parity("gqa2_untied");
}

/* bf16 checkpoints load: weights equal the f32 ones rounded to bf16, logits stay close */
static void test_bf16_load(void **s) {
  (void)s;
  q2_fix a, b;
  q2_load(&a, "gqa2_untied", "", 0);
  q2_load(&b, "gqa2_untied", "-bf16", 0);
  for (int64_t i = 0; i < a.ps.total; i++) assert_true(b.ps.w[i] == bf16_to_f32(f32_to_bf16(a.ps.w[i])));
  q2_free(&a);
  q2_free(&b);
}

/* KV-cache decoding of two sequences of different lengths reproduces the full forward and
 * leaves the caller's input untouched */
static void test_kv_cache(void **s) {
  (void)s;
  q2_fix q;
  q2_load(&q, "gqa7_tied", "", 0);
  arena ar;
  arena_init(&ar, 1 << 20);
  qwen2_acts acts;
  float *x;
  float *full = q2_forward_check(&q, &ar, &acts, &x);
  int64_t V = q.c.V, C = q.c.C, B = q.B, T = q.T;
  qwen2_kv kv;
  ts_err e;
  assert_int_equal(qwen2_kv_init(&kv, &q.m, B, 16, &e), 0);
  int32_t prefill[2] = {4, 2}; /* different prompt lengths per sequence */
  float *step_x = tu_zeros(B * 4 * C), *lg = tu_zeros(B * V);
  int32_t n_new[2];
  /* prefill: T_step = 4 with right padding for sequence 1 */
  for (int64_t b = 0; b < B; b++) {
    n_new[b] = prefill[b];
    for (int t = 0; t < 4; t++)
      memcpy(step_x + (b * 4 + t) * C, x + (b * T + (t < prefill[b] ? t : 0)) * C, sizeof(float) * (size_t)C);
  }
  float *x_before = tu_zeros(B * 4 * C);
  memcpy(x_before, step_x, sizeof(float) * (size_t)(B * 4 * C));
  assert_int_equal(qwen2_step(&q.m, &kv, 4, step_x, n_new, lg, &ar, &e), 0);
  /* the layers run in place on the step's own copy: the caller's input is left as it was */
  assert_memory_equal(step_x, x_before, sizeof(float) * (size_t)(B * 4 * C));
  free(x_before);
  int compared = 0;
  for (;;) {
    for (int64_t b = 0; b < B; b++)
      if (n_new[b]) {
        char what[64];
        int64_t t = kv.len[b] - 1;
        snprintf(what, sizeof what, "cached logits seq %lld pos %lld", (long long)b, (long long)t);
        assert_true(tu_close_ff(what, lg + b * V, full + (b * T + t) * V, V, LOGIT_TOL, 1e-6));
        compared++;
      }
    int any = 0;
    for (int64_t b = 0; b < B; b++) {
      n_new[b] = kv.len[b] < q.lens[b] ? 1 : 0;
      any |= n_new[b];
      if (n_new[b]) memcpy(step_x + b * C, x + (b * T + kv.len[b]) * C, sizeof(float) * (size_t)C);
    }
    if (!any) break;
    assert_int_equal(qwen2_step(&q.m, &kv, 1, step_x, n_new, lg, &ar, &e), 0);
  }
  assert_int_equal(compared, (q.lens[0] - prefill[0] + 1) + (q.lens[1] - prefill[1] + 1));
  qwen2_kv_free(&kv);
  free(full), free(x), free(step_x), free(lg);
  arena_free(&ar);
  q2_free(&q);
}

/* a config that does not match the weights is rejected with the tensor's name */
static void test_bad_checkpoints(void **s) {
  (void)s;
  char path[1024];
  ts_err e;
  qwen2_cfg c;
  snprintf(path, sizeof path, "%s/qwen2/gqa2_untied/config.json", TS_FIXTURES);
  assert_int_equal(qwen2_cfg_load(path, &c, &e), 0);
  snprintf(path, sizeof path, "%s/qwen2/gqa2_untied/model.safetensors", TS_FIXTURES);
  qwen2_cfg variants[3] = {c, c, c};
  variants[0].L = 3;     /* a layer the file lacks */
  variants[1].F = 81;    /* wrong MLP width */
  variants[2].tied = 1;  /* tied: lm_head.weight unused, but embed fine -> ok; use V instead */
  variants[2].V = 65;
  const char *want[3] = {"model.layers.2.", "mlp.gate_proj.weight has shape [80, 32]", "model.embed_tokens.weight"};
  for (int i = 0; i < 3; i++) {
    pset ps;
    pset_init(&ps, be_cpu());
    assert_int_equal(qwen2_declare(&ps, "", &variants[i], &e), 0);
    assert_int_equal(pset_alloc(&ps, 0, 0, &e), 0);
    int rc = pset_load_file(&ps, path, "", "", &e);
    assert_int_not_equal(rc, 0);
    if (!strstr(e.msg, want[i])) fail_msg("message \"%s\" lacks \"%s\"", e.msg, want[i]);
    assert_non_null(strstr(e.msg, "model.safetensors"));
    pset_free(&ps);
  }
  /* a config.json that is not a Qwen2 config */
  cJSON *j = cJSON_Parse("{\"model_type\": \"llama\", \"vocab_size\": 10}");
  assert_int_equal(qwen2_cfg_from_json(j, "x/config.json", &c, &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "llama"));
  cJSON_Delete(j);
  j = cJSON_Parse("{\"vocab_size\": 10, \"hidden_size\": 30, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
                  "\"intermediate_size\": 8}");
  assert_int_equal(qwen2_cfg_from_json(j, "x/config.json", &c, &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "multiple"));
  cJSON_Delete(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gqa7_tied),  cmocka_unit_test(test_gqa2_untied), cmocka_unit_test(test_bf16_load),
      cmocka_unit_test(test_kv_cache),   cmocka_unit_test(test_bad_checkpoints),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
