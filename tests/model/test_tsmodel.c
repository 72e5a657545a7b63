/* test_tsmodel.c — the composed model (HF Data2VecAudio encoder -> adapter -> Qwen2 with the
 * audio spliced in at <|audio|>) against PyTorch + transformers 4.40.2 (fixture from
 * tools/gen_tsmodel_fixture.py): loading a model directory, the response-token loss and the
 * gradient of every parameter of all three parts; save/load round trip; frozen parts. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/jsonx.h"
#include "fixture.h"
#include "model/tsmodel.h"
#include "tensor/cpu_act16.h"
#include "tensor/gemm.h"
#include "tensor/ops.h"
#include "testutil.h"

typedef struct tm_fix {
  fixture fx;
  float *wav;
  int64_t L, len[2];
  int32_t *ids[2], n_ids[2], rs[2], re[2];
} tm_fix;

static void tm_inputs_named(tm_fix *t, const char *ref) {
  assert_int_equal(fx_load(&t->fx, "tsmodel", ref), 0);
  const cJSON *jl = fx_value(&t->fx, "lens"), *ji = fx_value(&t->fx, "ids"), *js = fx_value(&t->fx, "spans");
  for (int b = 0; b < 2; b++) t->len[b] = (int64_t)cJSON_GetArrayItem(jl, b)->valuedouble;
  t->L = t->len[0] > t->len[1] ? t->len[0] : t->len[1];
  t->wav = tu_zeros(2 * t->L);
  memcpy(t->wav, fx_tensor(&t->fx, "wav0", NULL), sizeof(float) * (size_t)t->len[0]);
  memcpy(t->wav + t->L, fx_tensor(&t->fx, "wav1", NULL), sizeof(float) * (size_t)t->len[1]);
  for (int b = 0; b < 2; b++) {
    const cJSON *row = cJSON_GetArrayItem(ji, b);
    t->n_ids[b] = cJSON_GetArraySize(row);
    t->ids[b] = malloc(sizeof(int32_t) * (size_t)t->n_ids[b]);
    for (int j = 0; j < t->n_ids[b]; j++) t->ids[b][j] = (int32_t)cJSON_GetArrayItem(row, j)->valuedouble;
    t->rs[b] = (int32_t)cJSON_GetArrayItem(cJSON_GetArrayItem(js, b), 0)->valuedouble;
    t->re[b] = (int32_t)cJSON_GetArrayItem(cJSON_GetArrayItem(js, b), 1)->valuedouble;
  }
}

static void tm_inputs(tm_fix *t) { tm_inputs_named(t, "tiny_ref"); }

static void tm_free(tm_fix *t) {
  free(t->wav);
  free(t->ids[0]);
  free(t->ids[1]);
  fx_free(&t->fx);
}

static tsm_batch tm_batch(tm_fix *t) {
  tsm_batch b;
  memset(&b, 0, sizeof b);
  b.B = 2;
  b.wav = t->wav;
  b.L = t->L;
  b.wav_len = t->len;
  b.ids = (const int32_t *const *)t->ids;
  b.n_ids = t->n_ids;
  b.resp_start = t->rs;
  b.resp_end = t->re;
  return b;
}

/* the tiny fixture model on the CPU, with gradients */
static tsm *tm_load_tiny(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny", TS_FIXTURES);
  tsm *m;
  ts_err e;
  if (tsm_load(dir, be_cpu(), 1, 0, &m, &e)) fail_msg("%s", e.msg);
  return m;
}

static void test_parity(void **s) {
  (void)s;
  tm_fix t;
  tm_inputs(&t);
  tsm *m = tm_load_tiny();
  ts_err e;
  tsm_batch b = tm_batch(&t);
  arena ar;
  arena_init(&ar, 1 << 22);
  tsm_loss lo;
  int64_t R = (t.re[0] - t.rs[0]) + (t.re[1] - t.rs[1]);
  if (tsm_train_step(m, &b, (float)(1.0 / R), &lo, &ar, &e)) fail_msg("%s", e.msg);
  assert_int_equal(lo.tokens, R);
  double loss = lo.loss_sum / lo.tokens, want = fx_num(&t.fx, "loss");
  if (fabs(loss - want) > 1e-5 * fabs(want)) fail_msg("loss %.8f, torch %.8f", loss, want);
  int checked = 0;
  for (int i = 0; i < m->ps.n; i++) {
    char key[300];
    snprintf(key, sizeof key, "g.%s", m->ps.v[i].name);
    const float *g = fx_tensor(&t.fx, key, NULL);
    if (!g) fail_msg("no reference gradient for %s", key);
    /* floor 1e-5: some gradients are exactly zero in theory (key biases), both sides ~1e-10 */
    if (!tu_close_ff(key, pset_gp(&m->ps, i), g, m->ps.v[i].n, 1e-3, 1e-5)) fail_msg("gradient %s differs", key);
    checked++;
  }
  assert_int_equal(checked, m->ps.n);
  /* frozen encoder: its gradients stay zero, the others are unchanged */
  float *g_adapter = malloc(sizeof(float) * (size_t)m->ps.total);
  memcpy(g_adapter, m->ps.g, sizeof(float) * (size_t)m->ps.total);
  pset_zero_grad(&m->ps);
  assert_true(pset_freeze(&m->ps, "encoder.", 1) > 0);
  arena_reset(&ar);
  assert_int_equal(tsm_train_step(m, &b, (float)(1.0 / R), &lo, &ar, &e), 0);
  for (int i = 0; i < m->ps.n; i++) {
    const pview *v = &m->ps.v[i];
    const float *g = pset_gp(&m->ps, i);
    if (v->frozen) {
      for (int64_t j = 0; j < v->n; j++) assert_true(g[j] == 0.0f);
    } else {
      assert_memory_equal(g, g_adapter + v->off, sizeof(float) * (size_t)v->n);
    }
  }
  free(g_adapter);
  arena_free(&ar);
  tsm_free(m);
  tm_free(&t);
}

/* with the encoder CTC head: loss = LM token mean + w x CTC mean (per label length, as
 * torch's reduction="mean"), and every gradient including the head's */
static void test_ctc_parity(void **s) {
  (void)s;
  tm_fix t;
  tm_inputs_named(&t, "tiny_ctc_ref");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny_ctc", TS_FIXTURES);
  tsm *m;
  ts_err e;
  if (tsm_load(dir, be_cpu(), 1, 0, &m, &e)) fail_msg("%s", e.msg);
  assert_true(m->ctc);
  float w = (float)fx_num(&t.fx, "ctc_weight");
  assert_float_equal(m->ctc_weight, w, 1e-7);
  const cJSON *jt = fx_value(&t.fx, "ctc_texts");
  const char *texts[2] = {cJSON_GetArrayItem(jt, 0)->valuestring, cJSON_GetArrayItem(jt, 1)->valuestring};
  tsm_batch b = tm_batch(&t);
  b.ctc_text = texts;
  b.ctc_scale = w / 2.0f;
  arena ar;
  arena_init(&ar, 1 << 22);
  tsm_loss lo;
  int64_t R = (t.re[0] - t.rs[0]) + (t.re[1] - t.rs[1]);
  if (tsm_train_step(m, &b, (float)(1.0 / R), &lo, &ar, &e)) fail_msg("%s", e.msg);
  assert_int_equal(lo.ctc_n, 2);
  double loss = lo.loss_sum / lo.tokens + w * lo.ctc_sum / 2.0, want = fx_num(&t.fx, "loss");
  if (fabs(loss - want) > 1e-5 * fabs(want)) fail_msg("loss %.8f, torch %.8f", loss, want);
  for (int i = 0; i < m->ps.n; i++) {
    char key[300];
    snprintf(key, sizeof key, "g.%s", m->ps.v[i].name);
    const float *g = fx_tensor(&t.fx, key, NULL);
    if (!g) fail_msg("no reference gradient for %s", key);
    /* floor 1e-4: key-bias gradients are zero in theory, both sides ~1e-8 here */
    if (!tu_close_ff(key, pset_gp(&m->ps, i), g, m->ps.v[i].n, 1e-3, 1e-4)) fail_msg("gradient %s differs", key);
  }
  arena_free(&ar);
  tsm_free(m);
  tm_free(&t);
}

/* two sequences sharing one audio input (one encoder pass) give the same loss and
 * gradients as the same two sequences each with its own copy of that audio */
static void test_shared_audio(void **s) {
  (void)s;
  tm_fix t;
  tm_inputs(&t);
  char dir[512];
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny", TS_FIXTURES);
  tsm *m;
  ts_err e;
  assert_int_equal(tsm_load(dir, be_cpu(), 1, 0, &m, &e), 0);
  tsm_batch b = tm_batch(&t);
  float *wav2 = tu_zeros(2 * t.L);
  memcpy(wav2, t.wav, sizeof(float) * (size_t)t.L);
  memcpy(wav2 + t.L, t.wav, sizeof(float) * (size_t)t.L);
  int64_t len2[2] = {t.len[0], t.len[0]};
  b.wav = wav2;
  b.wav_len = len2;
  arena ar;
  arena_init(&ar, 1 << 22);
  tsm_loss l1, l2;
  assert_int_equal(tsm_train_step(m, &b, 0.1f, &l1, &ar, &e), 0);
  float *g1 = malloc(sizeof(float) * (size_t)m->ps.total);
  memcpy(g1, m->ps.g, sizeof(float) * (size_t)m->ps.total);
  pset_zero_grad(&m->ps);
  int32_t of[2] = {0, 0};
  b.U = 1;
  b.audio_of = of;
  arena_reset(&ar);
  assert_int_equal(tsm_train_step(m, &b, 0.1f, &l2, &ar, &e), 0);
  assert_true(fabs(l1.loss_sum - l2.loss_sum) < 1e-6 * fabs(l1.loss_sum));
  assert_true(tu_close_ff("shared-audio gradients", m->ps.g, g1, m->ps.total, 1e-5, 1e-6));
  free(g1), free(wav2);
  arena_free(&ar);
  tsm_free(m);
  tm_free(&t);
}

static void test_save_load(void **s) {
  (void)s;
  char dir[512], out[512];
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny", TS_FIXTURES);
  snprintf(out, sizeof out, "%s/test_tsmodel_save.%d", TS_BUILD_DIR, (int)getpid());
  tsm *m, *m2;
  ts_err e;
  assert_int_equal(tsm_load(dir, be_cpu(), 0, 0, &m, &e), 0);
  assert_true(m->silence == TSM_DEFAULT_SILENCE); /* no "input" section: the paper's layout */
  m->silence = 0.5;
  if (tsm_save(m, out, 0, &e)) fail_msg("%s", e.msg);
  if (tsm_load(out, be_cpu(), 0, 0, &m2, &e)) fail_msg("%s", e.msg);
  assert_true(m2->silence == 0.5); /* the input layout travels with the model */
  assert_int_equal(m->ps.total, m2->ps.total);
  assert_memory_equal(m->ps.w, m2->ps.w, sizeof(float) * (size_t)m->ps.total);
  assert_string_equal(m->instruction, m2->instruction);
  char buf[4096];
  assert_true(tsm_describe(m2, 2, 20.0, buf, sizeof buf) > 0);
  assert_non_null(strstr(buf, "llm: qwen2, 2 layers"));
  assert_non_null(strstr(buf, "total:"));
  tsm_free(m);
  tsm_free(m2);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
  assert_int_equal(system(cmd), 0);
}

/* assembly from HF directories (the paper's starting point): the encoder and LLM weights are
 * the HF ones (here: those of the tiny model), the adapter is new; the result saves and loads */
static void test_assemble(void **s) {
  (void)s;
  char llm[512], enc[512], tiny[512], out[512];
  snprintf(llm, sizeof llm, "%s/tsmodel/tiny_hf/llm", TS_FIXTURES);
  snprintf(enc, sizeof enc, "%s/tsmodel/tiny_hf/encoder", TS_FIXTURES);
  snprintf(tiny, sizeof tiny, "%s/tsmodel/tiny", TS_FIXTURES);
  snprintf(out, sizeof out, "%s/test_tsmodel_asm.%d", TS_BUILD_DIR, (int)getpid());
  adapter_cfg ac = {ADAPTER_MLP, 2, 0, 28, 0};
  tsm *a, *t, *b;
  ts_err e;
  if (tsm_assemble(llm, enc, &ac, 5, be_cpu(), 0, 0, &a, &e)) fail_msg("%s", e.msg);
  assert_int_equal(tsm_load(tiny, be_cpu(), 0, 0, &t, &e), 0);
  assert_int_equal(a->ps.n, t->ps.n);
  int adapter_differs = 0;
  for (int i = 0; i < a->ps.n; i++) {
    int j = pset_find(&t->ps, a->ps.v[i].name);
    assert_true(j >= 0);
    int same = !memcmp(pset_wp(&a->ps, i), pset_wp(&t->ps, j), sizeof(float) * (size_t)a->ps.v[i].n);
    if (!strncmp(a->ps.v[i].name, "adapter.", 8))
      adapter_differs |= !same;
    else if (!same)
      fail_msg("%s differs from the HF weights", a->ps.v[i].name);
  }
  assert_true(adapter_differs); /* freshly initialised, not the tiny model's */
  assert_true(a->ecfg.do_normalize);
  if (tsm_save(a, out, 0, &e)) fail_msg("%s", e.msg);
  if (tsm_load(out, be_cpu(), 0, 0, &b, &e)) fail_msg("%s", e.msg);
  assert_memory_equal(a->ps.w, b->ps.w, sizeof(float) * (size_t)a->ps.total);
  tsm_free(a), tsm_free(t), tsm_free(b);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
  assert_int_equal(system(cmd), 0);
}

static void test_bad_dirs(void **s) {
  (void)s;
  tsm *m;
  ts_err e;
  assert_int_not_equal(tsm_load("/nonexistent/model", be_cpu(), 0, 0, &m, &e), 0);
  assert_non_null(strstr(e.msg, "/nonexistent/model/config.json"));
  /* a config whose adapter does not fit the LLM */
  char dir[512], cfgp[600];
  snprintf(dir, sizeof dir, "%s/test_tsmodel_bad.%d", TS_BUILD_DIR, (int)getpid());
  char cmd[1400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s/tsmodel/tiny' '%s'", dir, TS_FIXTURES, dir);
  assert_int_equal(system(cmd), 0);
  snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
  cJSON *j;
  assert_int_equal(jsonx_load(cfgp, &j, &e), 0);
  cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "adapter"), "output_size", cJSON_CreateNumber(30));
  assert_int_equal(jsonx_save(cfgp, j, &e), 0);
  cJSON_Delete(j);
  assert_int_not_equal(tsm_load(dir, be_cpu(), 0, 0, &m, &e), 0);
  assert_non_null(strstr(e.msg, "output_size 30"));
  /* a negative input.silence */
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s/tsmodel/tiny' '%s'", dir, TS_FIXTURES, dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(jsonx_load(cfgp, &j, &e), 0);
  cJSON_AddNumberToObject(cJSON_AddObjectToObject(j, "input"), "silence", -2);
  assert_int_equal(jsonx_save(cfgp, j, &e), 0);
  cJSON_Delete(j);
  assert_int_equal(tsm_load(dir, be_cpu(), 0, 0, &m, &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "input.silence"));
  assert_non_null(strstr(e.msg, "config.json"));
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* one training step in the bf16 precision (every GEMM bf16, however small) with the GEMM-input
 * activations stored in f32 and in bf16 (op_act_dtype): the GEMMs round them to bf16 either
 * way, so the loss and every gradient must agree bit for bit, with a smaller arena */
static void test_bf16_storage(void **s) {
  (void)s;
  if (gemm_set_precision("bf16") != TS_OK) skip(); /* no bf16 GEMM on this machine: nothing stored in bf16 */
  gemm_bf16_all(1);
  int was = cpu_act_bf16();
  tm_fix t;
  tm_inputs(&t);
  tsm *m = tm_load_tiny();
  ts_err e;
  tsm_batch b = tm_batch(&t);
  int64_t R = (t.re[0] - t.rs[0]) + (t.re[1] - t.rs[1]);
  double loss[2];
  size_t peak[2];
  float *g[2];
  for (int k = 0; k < 2; k++) {
    cpu_set_act_bf16(k);
    assert_int_equal(op_act_dtype(be_cpu()), k ? DT_BF16 : DT_F32);
    arena ar;
    arena_init(&ar, 1 << 22);
    tsm_loss lo;
    pset_zero_grad(&m->ps);
    if (tsm_train_step(m, &b, (float)(1.0 / R), &lo, &ar, &e)) fail_msg("%s", e.msg);
    loss[k] = lo.loss_sum;
    peak[k] = ar.peak;
    g[k] = malloc(sizeof(float) * (size_t)m->ps.total);
    memcpy(g[k], m->ps.g, sizeof(float) * (size_t)m->ps.total);
    arena_free(&ar);
  }
  cpu_set_act_bf16(was);
  gemm_bf16_all(0);
  assert_int_equal(gemm_set_precision("f32"), TS_OK);
  if (loss[0] != loss[1]) fail_msg("loss sum %.9g with f32 activations, %.9g with bf16", loss[0], loss[1]);
  for (int i = 0; i < m->ps.n; i++) {
    const pview *v = &m->ps.v[i];
    if (memcmp(g[0] + v->off, g[1] + v->off, sizeof(float) * (size_t)v->n))
      fail_msg("gradient %s differs between f32 and bf16 activation storage", v->name);
  }
  if (!(peak[1] < peak[0])) fail_msg("arena peak %zu with bf16 activations, %zu with f32", peak[1], peak[0]);
  printf("bf16 activation storage: loss and %d gradients bit for bit; arena peak %zu -> %zu bytes\n", m->ps.n,
         peak[0], peak[1]);
  free(g[0]);
  free(g[1]);
  tsm_free(m);
  tm_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_parity), cmocka_unit_test(test_bf16_storage), cmocka_unit_test(test_shared_audio),
                                     cmocka_unit_test(test_ctc_parity),
                                     cmocka_unit_test(test_save_load), cmocka_unit_test(test_assemble),
                                     cmocka_unit_test(test_bad_dirs)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
