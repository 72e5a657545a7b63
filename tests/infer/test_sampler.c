/* test_sampler.c — sampling: greedy picks the argmax; temperature sampling follows
 * softmax(z/T) (chi-square-style check of frequencies); top-k and top-p keep exactly the
 * right candidates (and the truncated sets equal a sort-based reference, ties included); the reported log-prob is log softmax(z/T) of the token; draws are
 * reproducible for a seed; the repetition guard fires on loops and not on normal text; the CPU
 * backend's sample op, whose rows go to the threads, gives each row what that row alone gives. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "infer/sampler.h"
#include "tensor/ops.h"
#include "tensor/rowsample.h"

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
  assert_int_equal(sample_token(z, 6, &c, &r, &lp), 3);
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
  int cnt[V] = {0};
  for (int i = 0; i < N; i++) {
    float lp;
    int32_t t = sample_token(z, V, &c, &r, &lp);
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
  for (int i = 0; i < 50; i++) a[i] = sample_token(z, 5, &c, &r1, NULL);
  for (int i = 0; i < 50; i++) b[i] = sample_token(z, 5, &c, &r2, NULL);
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

/* Reference for the truncated sets: sort the eligible ids by (logit desc, id asc) and take the
 * first k, then the shortest prefix of those whose probability (renormalised within them, in
 * long double) reaches top_p. */
static const float *g_z;
static int cmp_order(const void *a, const void *b) {
  int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
  if (g_z[i] != g_z[j]) return g_z[i] > g_z[j] ? -1 : 1;
  return i < j ? -1 : 1;
}

static int64_t ref_set(const float *z, int64_t V, float inv_t, int64_t k, float top_p, int32_t *idx) {
  int64_t n = 0;
  for (int64_t j = 0; j < V; j++)
    if (z[j] > -INFINITY) idx[n++] = (int32_t)j;
  g_z = z;
  qsort(idx, (size_t)n, sizeof(int32_t), cmp_order);
  if (k > 0 && k < n) n = k;
  if (top_p > 0.0f && top_p < 1.0f) {
    long double mx = (long double)z[idx[0]] * inv_t, tot = 0, acc = 0;
    for (int64_t i = 0; i < n; i++) tot += expl((long double)(z[idx[i]] * inv_t) - mx);
    int64_t m = 0;
    while (m < n) {
      acc += expl((long double)(z[idx[m]] * inv_t) - mx);
      m++;
      if (acc >= (long double)top_p * tot) break;
    }
    n = m;
  }
  return n;
}

/* the prefix described by a cut, as a membership list in id order */
static int64_t cut_members(const float *z, int64_t V, rs_cut c, uint8_t *in) {
  int64_t n = 0, rank = 0;
  for (int64_t j = 0; j < V; j++) {
    in[j] = 0;
    if (!(z[j] > -INFINITY)) continue;
    uint32_t key = rs_key(z[j]);
    if (key > c.key || (key == c.key && rank++ < c.m)) in[j] = 1, n++;
  }
  return n;
}

static void test_truncation_sets(void **s) {
  (void)s;
  enum { V = 300 };
  float z[V];
  int32_t idx[V];
  uint8_t in[V];
  philox_rng r;
  philox_init(&r, 5, 1);
  int checked = 0, with_ties = 0;
  for (int trial = 0; trial < 400; trial++) {
    int levels = trial % 3 == 0 ? 7 : 1000; /* few distinct values: many ties at the cut */
    for (int j = 0; j < V; j++) {
      double u = philox_uniform_d(&r);
      z[j] = levels < 1000 ? (float)((int)(u * levels)) * 0.5f - 1.0f : (float)(6.0 * u - 3.0);
      if (philox_uniform_d(&r) < 0.1) z[j] = -INFINITY; /* banned */
    }
    if (trial % 5 == 0) z[trial % V] = 0.0f, z[(trial + 1) % V] = -0.0f; /* signed zeros */
    int64_t k = (int64_t)(philox_uniform_d(&r) * 60) - 5;               /* <= 0: off */
    float top_p = trial % 4 == 0 ? 1.0f : (float)philox_uniform_d(&r);
    float inv_t = trial % 2 ? 1.0f : 1.0f / 0.7f;
    rs_cut c = rs_cut_top_p(z, V, inv_t, rs_cut_top_k(z, V, k), top_p);
    int64_t n = ref_set(z, V, inv_t, k, top_p, idx), got = cut_members(z, V, c, in);
    if (got != n) fail_msg("trial %d (k=%lld p=%.4f): %lld kept, reference %lld", trial, (long long)k, (double)top_p,
                           (long long)got, (long long)n);
    for (int64_t i = 0; i < n; i++)
      if (!in[idx[i]]) fail_msg("trial %d: id %d of the reference set is not kept", trial, idx[i]);
    with_ties += n > 0 && n < V && levels < 1000;
    checked++;
    /* every draw lands inside the set, and the lowest / highest uniforms on its first / last
     * member in id order */
    int32_t first = -1, last = -1;
    for (int j = 0; j < V; j++)
      if (in[j]) last = j, first = first < 0 ? j : first;
    for (int d = 0; d < 20; d++) {
      int32_t t = rs_pick_cut(z, V, inv_t, c, philox_uniform_d(&r));
      assert_true(t >= 0 && t < V && in[t]);
    }
    assert_int_equal(rs_pick_cut(z, V, inv_t, c, 0.0), first);
    (void)last;
  }
  assert_int_equal(checked, 400);
  assert_true(with_ties > 100);
}

/* a nucleus that needs only part of a run of equal logits takes the lowest ids of the run */
static void test_truncation_ties(void **s) {
  (void)s;
  float z[8] = {1.0f, 2.0f, 2.0f, 0.5f, 2.0f, 2.0f, -INFINITY, 2.0f};
  /* five equal logits of 2.0 (ids 1, 2, 4, 5, 7): top-k 3 keeps ids 1, 2, 4 */
  rs_cut c = rs_cut_top_k(z, 8, 3);
  uint8_t in[8];
  assert_int_equal(cut_members(z, 8, c, in), 3);
  assert_true(in[1] && in[2] && in[4] && !in[5] && !in[7] && !in[0]);
  /* each 2.0 holds ~19.3 % of the row: top_p 0.3 needs two of them */
  c = rs_cut_top_p(z, 8, 1.0f, rs_cut_all(), 0.3f);
  assert_int_equal(cut_members(z, 8, c, in), 2);
  assert_true(in[1] && in[2]);
  /* within top-k 3, top_p 0.5 of those three needs two */
  c = rs_cut_top_p(z, 8, 1.0f, rs_cut_top_k(z, 8, 3), 0.5f);
  assert_int_equal(cut_members(z, 8, c, in), 2);
  /* top_p 0.7 of them needs all three */
  c = rs_cut_top_p(z, 8, 1.0f, rs_cut_top_k(z, 8, 3), 0.7f);
  assert_int_equal(cut_members(z, 8, c, in), 3);
  assert_int_equal(rs_pick_cut(z, 8, 1.0f, c, 0.999), 4);
  /* draws from a cut through a run of ties are uniform over the members kept */
  c = rs_cut_top_k(z, 8, 3);
  philox_rng r;
  philox_init(&r, 11, 2);
  int cnt[8] = {0};
  for (int i = 0; i < 30000; i++) cnt[rs_pick_cut(z, 8, 1.0f, c, philox_uniform_d(&r))]++;
  for (int j = 0; j < 8; j++) {
    double want = (j == 1 || j == 2 || j == 4) ? 1.0 / 3 : 0.0, got = cnt[j] / 30000.0;
    if (fabs(got - want) > 0.015) fail_msg("tie draw: id %d frequency %.4f, expected %.4f", j, got, want);
  }
  /* key order and its inverse */
  float xs[] = {-INFINITY, -3.5f, -0.0f, 0.0f, 1e-30f, 2.0f, INFINITY};
  for (int i = 0; i < 7; i++) {
    assert_true(rs_unkey(rs_key(xs[i])) == xs[i] || (xs[i] == 0.0f));
    if (i) assert_true(rs_key(xs[i]) > rs_key(xs[i - 1]));
  }
}

/* op_sample on R rows of a Qwen2-sized vocabulary (the rows split over the threads) against R
 * calls of one row each (one thread): the same token and the same log-prob bits per row, with
 * per-row bans and draws, greedy, temperature and top-k/top-p */
static void test_op_rows(void **s) {
  (void)s;
  enum { R = 8, V = 151936 };
  float *z = malloc(sizeof(float) * R * V);
  assert_non_null(z);
  philox_rng g;
  philox_init(&g, 7, 0);
  for (int64_t i = 0; i < (int64_t)R * V; i++) z[i] = 8.0f * philox_uniform(&g);
  int32_t ban_row[R];
  double u[R];
  for (int r = 0; r < R; r++) {
    ban_row[r] = r % 2 ? -1 : (int32_t)(philox_uniform(&g) * V);
    u[r] = philox_uniform(&g);
  }
  const float temps[4] = {0.0f, 0.7f, 1.0f, 1.0f};
  const int64_t topk[4] = {0, 0, 50, 0};
  const float topp[4] = {1.0f, 1.0f, 0.9f, 0.95f};
  backend *be = be_cpu();
  ts_err e;
  for (int c = 0; c < 4; c++) {
    sample_req q = {temps[c], V - 5, 7, ban_row, u, topk[c], topp[c]};
    int32_t tok[R], tok1;
    float lp[R], lp1;
    tensor Z = tensor_f32(z, 2, R, V, 0, 0);
    assert_int_equal(op_sample(be, &Z, &q, tok, lp, &e), TS_OK);
    int distinct = 0;
    for (int r = 0; r < R; r++) {
      sample_req q1 = q;
      q1.ban_row = ban_row + r, q1.u = u + r;
      tensor Z1 = tensor_f32(z + (int64_t)r * V, 2, 1, V, 0, 0);
      assert_int_equal(op_sample(be, &Z1, &q1, &tok1, &lp1, &e), TS_OK);
      assert_int_equal(tok[r], tok1);
      assert_memory_equal(&lp[r], &lp1, sizeof lp1);
      assert_true(tok[r] != 7 && tok[r] != ban_row[r] && tok[r] < V - 5);
      distinct += r > 0 && tok[r] != tok[r - 1];
    }
    assert_true(distinct > 0); /* the rows' draws are not all one token */
  }
  free(z);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_greedy), cmocka_unit_test(test_distributions),
                                     cmocka_unit_test(test_reproducible), cmocka_unit_test(test_rep_guard),
                                     cmocka_unit_test(test_pick_never_masked), cmocka_unit_test(test_truncation_sets),
                                     cmocka_unit_test(test_truncation_ties), cmocka_unit_test(test_op_rows)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
