/* test_torch_parity.c — attention and a 2-layer Qwen2-style toy transformer (forward, loss
 * and every parameter gradient) against PyTorch, through the fixtures written by
 * tools/gen_engine_fixtures.py (torch 1.13, float64 reference stored as float32).
 * Tolerances: outputs and logits 1e-5 relative to the tensor's largest magnitude; gradients
 * 1e-4 relative (measured: ~1e-7 on outputs, f32 accumulation over two layers). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"
#include "model/qwen2.h"
#include "tensor/ops.h"
#include "testutil.h"

#define OUT_TOL 1e-5
#define GRAD_TOL 1e-4

static void test_attention_cases(void **state) {
  (void)state;
  fixture fx;
  assert_int_equal(fx_load(&fx, "engine", "attention"), 0);
  backend *be = be_cpu();
  ts_err e;
  int count = (int)fx_num(&fx, "count");
  assert_true(count >= 5);
  for (int c = 0; c < count; c++) {
    char key[64];
#define NAME(s) (snprintf(key, sizeof key, "case%d.%s", c, s), key)
    const cJSON *dims = fx_value(&fx, NAME("dims"));
    int64_t d[6];
    for (int i = 0; i < 6; i++) d[i] = (int64_t)cJSON_GetArrayItem(dims, i)->valuedouble;
    int64_t B = d[0], Tq = d[1], Tk = d[2], Hq = d[3], Hkv = d[4], D = d[5];
    int causal = (int)fx_num(&fx, NAME("causal"));
    int32_t kvl[8], p0[8];
    const cJSON *kv = fx_value(&fx, NAME("kv_len")), *qp = fx_value(&fx, NAME("q_pos0"));
    int has_kv = cJSON_GetArraySize(kv) > 0, has_p0 = cJSON_GetArraySize(qp) > 0;
    for (int i = 0; i < cJSON_GetArraySize(kv); i++) kvl[i] = (int32_t)cJSON_GetArrayItem(kv, i)->valuedouble;
    for (int i = 0; i < cJSON_GetArraySize(qp); i++) p0[i] = (int32_t)cJSON_GetArrayItem(qp, i)->valuedouble;
    int64_t nq = B * Tq * Hq * D, nk = B * Tk * Hkv * D;
    const float *q = fx_tensor(&fx, NAME("q"), NULL), *k = fx_tensor(&fx, NAME("k"), NULL),
                *v = fx_tensor(&fx, NAME("v"), NULL), *dout = fx_tensor(&fx, NAME("dout"), NULL);
    const float *bias = fx_tensor(&fx, NAME("bias"), NULL);
    assert_non_null(q);
    float *o = tu_zeros(nq), *lse = tu_zeros(B * Hq * Tq), *dq = tu_zeros(nq), *dk = tu_zeros(nk), *dv = tu_zeros(nk);
    float *db = tu_zeros(Hq * Tq * Tk);
    tensor Q = tensor_f32((float *)q, 4, B, Tq, Hq, D), K = tensor_f32((float *)k, 4, B, Tk, Hkv, D), V = K, O = Q,
           DO = Q, DQ = Q, DK = K, DV = K;
    V.data = (float *)v, O.data = o, DO.data = (float *)dout, DQ.data = dq, DK.data = dk, DV.data = dv;
    tensor L = tensor_f32(lse, 3, B, Hq, Tq, 0), BS = tensor_f32((float *)bias, 3, Hq, Tq, Tk, 0), DB = BS;
    DB.data = db;
    attn_cfg cfg = {causal, 1.0f / sqrtf((float)D), has_kv ? kvl : NULL, has_p0 ? p0 : NULL, bias ? &BS : NULL, NULL, 0};
    assert_int_equal(op_attention(be, &Q, &K, &V, &O, &L, &cfg, &e), 0);
    assert_int_equal(op_attention_bwd(be, &Q, &K, &V, &O, &L, &DO, &DQ, &DK, &DV, bias ? &DB : NULL, &cfg, &e), 0);
    char what[64];
    snprintf(what, sizeof what, "attention case %d out", c);
    assert_true(tu_close_ff(what, o, fx_tensor(&fx, NAME("out"), NULL), nq, OUT_TOL, 1e-6));
    snprintf(what, sizeof what, "attention case %d dq", c);
    assert_true(tu_close_ff(what, dq, fx_tensor(&fx, NAME("dq"), NULL), nq, GRAD_TOL, 1e-6));
    snprintf(what, sizeof what, "attention case %d dk", c);
    assert_true(tu_close_ff(what, dk, fx_tensor(&fx, NAME("dk"), NULL), nk, GRAD_TOL, 1e-6));
    snprintf(what, sizeof what, "attention case %d dv", c);
    assert_true(tu_close_ff(what, dv, fx_tensor(&fx, NAME("dv"), NULL), nk, GRAD_TOL, 1e-6));
    if (bias) {
      snprintf(what, sizeof what, "attention case %d dbias", c);
      assert_true(tu_close_ff(what, db, fx_tensor(&fx, NAME("dbias"), NULL), Hq * Tq * Tk, GRAD_TOL, 1e-6));
    }
    free(o), free(lse), free(dq), free(dk), free(dv), free(db);
#undef NAME
  }
  fx_free(&fx);
}

static int64_t cfg_int(const cJSON *c, const char *k) { return (int64_t)cJSON_GetObjectItem(c, k)->valuedouble; }

static void test_toy_transformer(void **state) {
  (void)state;
  fixture fx;
  assert_int_equal(fx_load(&fx, "engine", "toy_block"), 0);
  const cJSON *cj = fx_value(&fx, "config");
  qwen2_cfg c = {cfg_int(cj, "V"), cfg_int(cj, "C"), cfg_int(cj, "L"), cfg_int(cj, "Hq"), cfg_int(cj, "Hkv"),
                 cfg_int(cj, "D"), cfg_int(cj, "F"), (float)cJSON_GetObjectItem(cj, "eps")->valuedouble,
                 (float)cJSON_GetObjectItem(cj, "theta")->valuedouble, 0, 0};
  int64_t B = cfg_int(cj, "B"), T = cfg_int(cj, "T"), N = B * T;
  ts_err e;
  pset ps;
  pset_init(&ps, be_cpu());
  assert_int_equal(qwen2_declare(&ps, "", &c, &e), 0);
  assert_int_equal(pset_alloc(&ps, 1, 0, &e), 0);
  for (int i = 0; i < ps.n; i++) { /* load every weight by its Hugging Face name */
    char key[300];
    snprintf(key, sizeof key, "w.%s", ps.v[i].name);
    int64_t n;
    const float *w = fx_tensor(&fx, key, &n);
    if (!w) fail_msg("fixture lacks %s", key);
    assert_int_equal(n, ps.v[i].n);
    memcpy(pset_wp(&ps, i), w, sizeof(float) * (size_t)n);
  }
  qwen2 m;
  assert_int_equal(qwen2_bind(&m, &ps, "", &c, &e), 0);
  int32_t ids[64], tg[64], pos[64], lens[8];
  float wts[64];
  const cJSON *ji = fx_value(&fx, "ids"), *jt = fx_value(&fx, "targets"), *jw = fx_value(&fx, "weights"),
              *jl = cJSON_GetObjectItem(cj, "lens");
  double wsum = 0;
  for (int64_t i = 0; i < N; i++) {
    ids[i] = (int32_t)cJSON_GetArrayItem(ji, (int)i)->valuedouble;
    tg[i] = (int32_t)cJSON_GetArrayItem(jt, (int)i)->valuedouble;
    wts[i] = (float)cJSON_GetArrayItem(jw, (int)i)->valuedouble;
    pos[i] = (int32_t)(i % T);
    wsum += wts[i];
  }
  for (int64_t b = 0; b < B; b++) lens[b] = (int32_t)cJSON_GetArrayItem(jl, (int)b)->valuedouble;
  attn_cfg mask = {0};
  mask.kv_len = lens;
  arena ar;
  arena_init(&ar, 1 << 20);
  float *x = tu_zeros(N * c.C), *logits = tu_zeros(N * c.V), *dhid = tu_zeros(N * c.C), *dx = tu_zeros(N * c.C);
  float losses[64];
  qwen2_acts acts;
  assert_int_equal(qwen2_embed(&m, ids, N, x, &e), 0);
  assert_int_equal(qwen2_forward(&m, B, T, x, pos, &mask, &acts, &ar, &e), 0);
  assert_int_equal(qwen2_head(&m, acts.hid, N, logits, &e), 0);
  assert_true(tu_close_ff("toy logits", logits, fx_tensor(&fx, "logits", NULL), N * c.V, OUT_TOL, 1e-6));
  tensor LG = tensor_f32(logits, 2, N, c.V, 0, 0);
  assert_int_equal(op_xent(be_cpu(), &LG, tg, wts, losses, (float)(1.0 / wsum), &e), 0);
  double loss = 0;
  for (int64_t i = 0; i < N; i++) loss += losses[i];
  loss /= wsum;
  double want = fx_num(&fx, "loss");
  if (fabs(loss - want) > 1e-5 * fabs(want)) fail_msg("toy loss %.9f, torch %.9f", loss, want);
  assert_int_equal(qwen2_head_bwd(&m, acts.hid, logits, N, dhid, &e), 0);
  assert_int_equal(qwen2_backward(&m, &acts, pos, &mask, dhid, dx, &ar, &e), 0);
  assert_int_equal(qwen2_embed_bwd(&m, ids, N, dx, &e), 0);
  for (int i = 0; i < ps.n; i++) {
    char key[300];
    snprintf(key, sizeof key, "g.%s", ps.v[i].name);
    const float *g = fx_tensor(&fx, key, NULL);
    assert_non_null(g);
    if (!tu_close_ff(key, pset_gp(&ps, i), g, ps.v[i].n, GRAD_TOL, 1e-7)) fail_msg("gradient %s differs", key);
  }
  free(x), free(logits), free(dhid), free(dx);
  arena_free(&ar);
  pset_free(&ps);
  fx_free(&fx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_attention_cases),
      cmocka_unit_test(test_toy_transformer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
