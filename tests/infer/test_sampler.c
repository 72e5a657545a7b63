/* test_sampler.c — sampling: greedy picks the argmax; temperature sampling follows
 * softmax(z/T) (chi-square-style check of frequencies); top-k and top-p keep exactly the
 * right candidates; the reported log-prob is log softmax(z/T) of the token; draws are
 * reproducible for a seed; the repetition guard fires on loops and not on normal text. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "infer/sampler.h"

static void softmax_d(const float *z, int V, double t, double *p) {
  double mx = -INFINITY, s = 0;
  for (int j = 0; j < V; j++) mx = fmax(mx, z[j] / t);
  for (int j = 0; j < V; j++) s += p[j] = exp(z[j] / t - mx);
  for (int j = 0; j < V; j++) p[j] /= s;
}

static void test_greedy(void **s) {
  (void)s;
  float z[6] = {0.1f, 2.0f, -1.0f, 3.5f, 3.4f, 0.0f}, lp;
  sample_cfg c = {0.0f, 1.0f, 0};
  philox_rng r;
  philox_init(&r, 1, 0);
  assert_int_equal(sample_token(z, 6, &c, &r, &lp, NULL), 3);
  double p[6];
  softmax_d(z, 6, 1.0, p);
  assert_float_equal(lp, log(p[3]), 1e-6);
}

static void run_freq(float temp, int top_k, float top_p, const int *allowed) {
  enum { V = 8, N = 40000 };
  float z[V] = {1.0f, 0.5f, 2.0f, -0.5f, 1.5f, 0.0f, -1.0f, 0.8f};
  double p[V];
  softmax_d(z, V, temp, p);
  double keep = 0;
  for (int j = 0; j < V; j++) keep += allowed[j] ? p[j] : 0;
  sample_cfg c = {temp, top_p, top_k};
  philox_rng r;
  philox_init(&r, 42, 7);
  void *scratch = malloc(sample_scratch_bytes(V));
  int cnt[V] = {0};
  for (int i = 0; i < N; i++) {
    float lp;
    int32_t t = sample_token(z, V, &c, &r, &lp, scratch);
    assert_true(t >= 0 && t < V);
    assert_float_equal(lp, log(p[t]), 1e-5); /* full-distribution log-prob at this temperature */
    cnt[t]++;
  }
  for (int j = 0; j < V; j++) {
    double want = allowed[j] ? p[j] / keep : 0.0, got = (double)cnt[j] / N;
    double sd = sqrt(want * (1 - want) / N) + 1e-9;
    if (fabs(got - want) > 5 * sd + 1e-12)
      fail_msg("T=%.2f k=%d p=%.2f token %d: frequency %.4f, expected %.4f", temp, top_k, top_p, j, got, want);
  }
  free(scratch);
}

static void test_distributions(void **s) {
  (void)s;
  int all[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  run_freq(1.0f, 0, 1.0f, all);
  run_freq(0.7f, 0, 1.0f, all);
  int top3[8] = {1, 0, 1, 0, 1, 0, 0, 0}; /* logits 2.0, 1.5, 1.0 */
  run_freq(1.0f, 3, 1.0f, top3);
  /* T=1 probabilities sorted: token 2 -> .3615, 4 -> .2193, 0 -> .1330, 7 -> .1089, ...
   * top-p .55: .3615 < .55, + .2193 = .5808 >= .55 -> tokens 2 and 4;
   * top-p .65: .5808 < .65, + .1330 = .7138 -> tokens 2, 4 and 0 */
  int top2[8] = {0, 0, 1, 0, 1, 0, 0, 0};
  run_freq(1.0f, 0, 0.55f, top2);
  run_freq(1.0f, 0, 0.65f, top3);
  run_freq(1.0f, 3, 0.55f, top2); /* both: top-k first, then nucleus */
}

/* A draw past the rounded total must not land on a masked row (p = 0). The old code fell
 * through to the last id, a masked padding row here, and GRPO then met log p = -inf. */
static void test_pick_never_masked(void **s) {
  (void)s;
  enum { V = 64 };
  float z[V];
  for (int j = 0; j < V; j++) z[j] = 0.37f * (float)((j * 7) % 11) - 1.0f;
  z[V - 1] = -INFINITY; /* masked rows last, as the unused rows of a padded vocabulary */
  z[V - 2] = -INFINITY;
  double s2 = 0, mx = -1e30;
  for (int j = 0; j < V; j++) mx = z[j] > mx ? z[j] : mx;
  for (int j = 0; j < V; j++) s2 += exp((double)z[j] - mx);
  float lse = (float)(mx + log(s2)) + 1e-6f; /* rounded up: the probabilities sum below 1 */
  double us[] = {0.0, 0.5, 0.999999, 0.99999999999, 1.0 - 1e-16};
  for (size_t i = 0; i < sizeof us / sizeof us[0]; i++) {
    int32_t t = sample_pick(z, V, 1.0f, lse, us[i]);
    assert_true(t >= 0 && t < V - 2);
  }
  assert_int_equal(sample_pick(z, V, 1.0f, lse, 0.0), 0);
  /* the largest u picks the last token that has probability */
  assert_int_equal(sample_pick(z, V, 1.0f, lse, 1.0 - 1e-16), V - 3);
}

static void test_reproducible(void **s) {
  (void)s;
  float z[5] = {0.3f, 0.2f, 0.1f, 0.0f, -0.1f};
  sample_cfg c = {1.0f, 1.0f, 0};
  int32_t a[50], b[50];
  philox_rng r1, r2;
  philox_init(&r1, 9, 3);
  philox_init(&r2, 9, 3);
  for (int i = 0; i < 50; i++) a[i] = sample_token(z, 5, &c, &r1, NULL, NULL);
  for (int i = 0; i < 50; i++) b[i] = sample_token(z, 5, &c, &r2, NULL, NULL);
  assert_memory_equal(a, b, sizeof a);
}

static void test_rep_guard(void **s) {
  (void)s;
  rep_guard g = {32, 4, 24};
  int32_t loop[40], text[40];
  for (int i = 0; i < 40; i++) loop[i] = 100 + i % 3;  /* period 3 */
  for (int i = 0; i < 40; i++) text[i] = (i * 7919) % 1000;
  assert_true(rep_guard_hit(&g, loop, 40));
  assert_false(rep_guard_hit(&g, loop, 20)); /* too short to call it endless */
  assert_false(rep_guard_hit(&g, text, 40));
  int32_t mixed[40];
  memcpy(mixed, text, sizeof text);
  for (int i = 10; i < 40; i++) mixed[i] = 5 + (i % 6); /* period 6 over the last 30 */
  assert_true(rep_guard_hit(&g, mixed, 40));
  mixed[39] = 999;                                       /* broken at the end */
  assert_false(rep_guard_hit(&g, mixed, 40));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_greedy), cmocka_unit_test(test_distributions),
                                     cmocka_unit_test(test_reproducible), cmocka_unit_test(test_rep_guard),
                                     cmocka_unit_test(test_pick_never_masked)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
