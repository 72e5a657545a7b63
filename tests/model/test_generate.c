/* test_generate.c — batched decoding with a shared encoder pass and prefill: greedy outputs
 * are the argmax of a teacher-forced forward at every step; sampled outputs (G per input,
 * temperatures 1 and 0.7) carry exactly the log-probs the teacher-forced forward gives at
 * that temperature (what GRPO's ratio needs); the same seed gives the same outputs; a sequence
 * ends at the model's context. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"
#include "infer/generate.h"
#include "tensor/gemm.h"
#include "tensor/ops.h"
#include "testutil.h"

static tsm *g_m;
static fixture g_fx;
static float *g_wav;
static int64_t g_L, g_len[2];

static int setup(void **s) {
  (void)s;
  char dir[512];
  ts_err e;
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny", TS_FIXTURES);
  if (tsm_load(dir, be_cpu(), 0, 0, &g_m, &e)) return 1;
  if (fx_load(&g_fx, "tsmodel", "tiny_ref")) return 1;
  const cJSON *jl = fx_value(&g_fx, "lens");
  for (int b = 0; b < 2; b++) g_len[b] = (int64_t)cJSON_GetArrayItem(jl, b)->valuedouble;
  g_L = g_len[0] > g_len[1] ? g_len[0] : g_len[1];
  g_wav = tu_zeros(2 * g_L);
  memcpy(g_wav, fx_tensor(&g_fx, "wav0", NULL), sizeof(float) * (size_t)g_len[0]);
  memcpy(g_wav + g_L, fx_tensor(&g_fx, "wav1", NULL), sizeof(float) * (size_t)g_len[1]);
  return 0;
}

static int teardown(void **s) {
  (void)s;
  tsm_free(g_m);
  fx_free(&g_fx);
  free(g_wav);
  return 0;
}

/* teacher-forced log-probs of output o of input b at temperature tau; returns argmax hits */
static int64_t teacher(const int32_t *prompt, int32_t np, int64_t b, const gen_output *o, float tau, float *logp) {
  int32_t n = np + o->n + (o->stopped ? 1 : 0);
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
  memcpy(ids, prompt, sizeof(int32_t) * (size_t)np);
  memcpy(ids + np, o->tok, sizeof(int32_t) * (size_t)o->n);
  if (o->stopped) ids[n - 1] = g_m->im_end_id;
  int32_t rs = np, re = n;
  const int32_t *idp[1] = {ids};
  tsm_batch bt;
  memset(&bt, 0, sizeof bt);
  bt.B = 1;
  bt.wav = g_wav + b * g_L;
  /* padded as in the batch: Data2VecAudio (like HF) lets padding reach the last valid frames
   * through its stacked positional convolutions, so the padded length matters */
  bt.L = g_L;
  bt.wav_len = &g_len[b];
  bt.ids = idp;
  bt.n_ids = &n;
  bt.resp_start = &rs;
  bt.resp_end = &re;
  bt.temperature = tau;
  bt.logp_out = logp;
  arena ar;
  arena_init(&ar, 1 << 20);
  tsm_loss lo;
  ts_err e;
  if (tsm_train_step(g_m, &bt, 0.0f, &lo, &ar, &e)) fail_msg("%s", e.msg);
  arena_free(&ar);
  free(ids);
  return lo.correct;
}

static void run_tr(float temp, int G, uint64_t seed, int top_k, float top_p, gen_output *outs) {
  int32_t *prompt, np;
  ts_err e;
  assert_int_equal(tsm_prompt_ids(g_m, &prompt, &np, &e), 0);
  const int32_t *ids[2] = {prompt, prompt};
  int32_t n_ids[2] = {np, np};
  gen_input in = {2, g_wav, g_L, g_len, ids, n_ids, NULL};
  gen_cfg c;
  memset(&c, 0, sizeof c);
  c.samp.temperature = temp;
  c.samp.top_p = top_p;
  c.samp.top_k = top_k;
  c.max_new = 10;
  c.G = G;
  c.seed = seed;
  c.guard.min_span = 1000; /* random weights repeat a lot; keep the guard out of this test */
  arena ar;
  arena_init(&ar, 1 << 22);
  if (tsm_generate(g_m, &in, &c, outs, &ar, &e)) fail_msg("%s", e.msg);
  for (int64_t b = 0; b < 2; b++)
    for (int g = 0; g < G; g++) {
      gen_output *o = &outs[b * G + g];
      assert_true(o->n > 0 || o->stopped);
      float lp[32];
      int64_t hits = teacher(prompt, np, b, o, temp > 0 ? temp : 1.0f, lp);
      /* greedy = argmax each step; so is a top-k of 1 or a nucleus of one token at any temperature */
      if (temp == 0.0f || top_k == 1 || top_p < 1e-6f) assert_int_equal(hits, o->n + (o->stopped ? 1 : 0));
      char what[64];
      snprintf(what, sizeof what, "logp T=%.1f b=%lld g=%d", temp, (long long)b, g);
      assert_true(tu_close_ff(what, o->logp, lp, o->n, 1e-4, 1e-3));
      assert_non_null(o->text);
    }
  arena_free(&ar);
  free(prompt);
}

static void run(float temp, int G, uint64_t seed, gen_output *outs) { run_tr(temp, G, seed, 0, 1.0f, outs); }

static void test_greedy(void **s) {
  (void)s;
  gen_output outs[2];
  run(0.0f, 1, 1, outs);
  for (int i = 0; i < 2; i++) gen_output_free(&outs[i]);
}

static void test_sampled_groups(void **s) {
  (void)s;
  gen_output a[6], b[6];
  run(1.0f, 3, 7, a);
  run(1.0f, 3, 7, b);
  int differ = 0;
  for (int i = 0; i < 6; i++) {
    assert_int_equal(a[i].n, b[i].n); /* same seed, same outputs */
    assert_memory_equal(a[i].tok, b[i].tok, sizeof(int32_t) * (size_t)a[i].n);
    if (i % 3 && (a[i].n != a[i - 1].n || memcmp(a[i].tok, a[i - 1].tok, sizeof(int32_t) * (size_t)a[i].n))) differ++;
  }
  assert_true(differ > 0); /* the samples of a group are not all the same */
  for (int i = 0; i < 6; i++) gen_output_free(&a[i]), gen_output_free(&b[i]);
  run(0.7f, 2, 3, a);
  for (int i = 0; i < 4; i++) gen_output_free(&a[i]);
}

/* top-k / top-p through the sample op: a cut to one token is greedy (checked in run_tr); a wider
 * one still samples */
static void test_truncated(void **s) {
  (void)s;
  gen_output a[4], g[2];
  run(0.0f, 1, 1, g);
  run_tr(1.0f, 2, 5, 1, 1.0f, a);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(a[i].n, g[i / 2].n); /* every sample is the greedy output */
    assert_memory_equal(a[i].tok, g[i / 2].tok, sizeof(int32_t) * (size_t)a[i].n);
    gen_output_free(&a[i]);
  }
  run_tr(1.5f, 2, 5, 0, 1e-7f, a);
  for (int i = 0; i < 4; i++) {
    assert_memory_equal(a[i].tok, g[i / 2].tok, sizeof(int32_t) * (size_t)a[i].n);
    gen_output_free(&a[i]);
  }
  run_tr(1.0f, 2, 5, 40, 0.9f, a);
  for (int i = 0; i < 4; i++) gen_output_free(&a[i]);
  /* settings outside their range are refused with a message naming them */
  int32_t *prompt, np;
  ts_err e;
  assert_int_equal(tsm_prompt_ids(g_m, &prompt, &np, &e), 0);
  const int32_t *ids[1] = {prompt};
  gen_input in = {1, g_wav, g_L, g_len, ids, &np, NULL};
  arena ar;
  arena_init(&ar, 1 << 22);
  const float bad[3][3] = {{1.0f, 1.5f, 0}, {1.0f, -0.1f, 0}, {-1.0f, 1.0f, 0}};
  for (int k = 0; k < 4; k++) {
    gen_cfg c;
    memset(&c, 0, sizeof c);
    c.max_new = 4;
    if (k < 3) c.samp.temperature = bad[k][0], c.samp.top_p = bad[k][1];
    else c.samp.temperature = 1.0f, c.samp.top_p = 1.0f, c.samp.top_k = -2;
    assert_int_equal(tsm_generate(g_m, &in, &c, a, &ar, &e), TS_EARG);
    assert_non_null(strstr(e.msg, "top_p"));
  }
  arena_free(&ar);
  free(prompt);
  for (int i = 0; i < 2; i++) gen_output_free(&g[i]);
}

/* A generate call that fails before it opens the weights hint (an empty prompt) closes none:
 * an enclosing hint (here decoding's, with its bf16 mirror) stays open. */
static void test_failed_keeps_hint(void **s) {
  (void)s;
  if (!gemm_bf16_available()) {
    print_message("no bf16 GEMM here: the mirror is not observable, not tested\n");
    return;
  }
  ts_err e;
  assert_int_equal(gemm_set_precision("bf16"), TS_OK);
  assert_int_equal(op_weights_bf16(be_cpu(), g_m->ps.w, g_m->ps.total, 1, &e), TS_OK);
  assert_non_null(gemm_mirror_find(g_m->ps.w, 1));
  int32_t none = 0;
  const int32_t *ids[2] = {&none, &none};
  int32_t n_ids[2] = {0, 0};
  gen_input in = {2, g_wav, g_L, g_len, ids, n_ids, NULL};
  gen_cfg c;
  memset(&c, 0, sizeof c);
  c.max_new = 4;
  c.G = 1;
  gen_output outs[2];
  memset(outs, 0, sizeof outs);
  arena ar;
  arena_init(&ar, 1 << 22);
  assert_int_not_equal(tsm_generate(g_m, &in, &c, outs, &ar, &e), TS_OK);
  arena_free(&ar);
  assert_non_null(gemm_mirror_find(g_m->ps.w, 1)); /* still open */
  assert_int_equal(op_weights_bf16(be_cpu(), g_m->ps.w, g_m->ps.total, 0, &e), TS_OK);
  assert_null(gemm_mirror_find(g_m->ps.w, 1));
  assert_int_equal(gemm_set_precision("f32"), TS_OK);
}

/* greedy outputs of both inputs that never choose <|im_end|>, with the LLM's context set to ctx */
static int gen_ctx(int64_t ctx, int max_new, gen_output *outs, ts_err *e) {
  int32_t *prompt, np;
  assert_int_equal(tsm_prompt_ids(g_m, &prompt, &np, e), 0);
  const int32_t *ids[2] = {prompt, prompt};
  int32_t n_ids[2] = {np, np};
  gen_input in = {2, g_wav, g_L, g_len, ids, n_ids, NULL};
  gen_cfg c;
  memset(&c, 0, sizeof c);
  c.max_new = max_new;
  c.min_new = max_new;
  c.G = 1;
  c.guard.min_span = 100000;
  int64_t keep = g_m->lcfg.ctx;
  g_m->lcfg.ctx = ctx;
  arena ar;
  arena_init(&ar, 1 << 22);
  int rc = tsm_generate(g_m, &in, &c, outs, &ar, e);
  arena_free(&ar);
  g_m->lcfg.ctx = keep;
  free(prompt);
  return rc;
}

/* A sequence ends where the model's context (max_position_embeddings) ends, before a larger
 * budget; the cache is sized by the context, not by the budget; a prompt that fills the context
 * is refused with a message naming it. */
static void test_context(void **s) {
  (void)s;
  ts_err e;
  gen_output a[2], b[2], w[2];
  assert_int_equal(qwen2_ctx(&g_m->lcfg), 256); /* the fixture's config */
  assert_int_equal(gen_ctx(256, 2000000000, a, &e), TS_OK); /* a budget far past any cache */
  assert_int_equal(gen_ctx(257, 1000, b, &e), TS_OK);
  assert_int_equal(gen_ctx(100000, a[0].n + 3, w, &e), TS_OK);
  for (int i = 0; i < 2; i++) {
    assert_true(a[i].n > 10 && a[i].n < 256);
    assert_false(a[i].stopped);
    assert_int_equal(b[i].n, a[i].n + 1); /* one position more, one token more */
    assert_memory_equal(b[i].tok, a[i].tok, sizeof(int32_t) * (size_t)a[i].n);
    assert_true(w[i].n >= a[i].n);
    assert_memory_equal(w[i].tok, a[i].tok, sizeof(int32_t) * (size_t)a[i].n);
  }
  /* prompt and generated tokens fill the context exactly: S[b] = text ids - 1 + audio frames */
  int32_t *prompt, np, na[2];
  float *aud;
  int64_t Ta;
  arena ar;
  arena_init(&ar, 1 << 22);
  assert_int_equal(tsm_prompt_ids(g_m, &prompt, &np, &e), 0);
  assert_int_equal(tsm_encode_audio(g_m, 2, g_wav, g_L, g_len, &aud, &Ta, na, NULL, NULL, 0, &ar, &e), TS_OK);
  for (int i = 0; i < 2; i++) assert_int_equal(np - 1 + na[i] + a[i].n, 256);
  assert_int_not_equal(na[0], na[1]);
  arena_free(&ar);
  free(prompt);
  for (int i = 0; i < 2; i++) gen_output_free(&a[i]), gen_output_free(&b[i]), gen_output_free(&w[i]);
  assert_int_equal(gen_ctx(12, 4, a, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "max_position_embeddings"));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_greedy), cmocka_unit_test(test_sampled_groups),
                                     cmocka_unit_test(test_truncated), cmocka_unit_test(test_failed_keeps_hint), cmocka_unit_test(test_context)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
