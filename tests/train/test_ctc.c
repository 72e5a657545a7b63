/* test_ctc.c — CTC loss against brute force: for tiny T and V every path of V^T symbols is
 * enumerated, collapsed (merge repeats, drop blanks) and its probability summed when it
 * yields the labels; the gradient is checked against finite differences of that reference. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "testutil.h"
#include "nn/ctc.h"

typedef struct bf_ctx {
  int64_t T, V, L;
  const int32_t *lab;
} bf_ctx;

static void brute(void *ctx, double *const *in, double *out) {
  const bf_ctx *c = ctx;
  const double *z = in[0];
  double *lp = malloc(sizeof(double) * (size_t)(c->T * c->V));
  for (int64_t t = 0; t < c->T; t++) {
    double mx = -INFINITY, s = 0;
    for (int64_t v = 0; v < c->V; v++) mx = fmax(mx, z[t * c->V + v]);
    for (int64_t v = 0; v < c->V; v++) s += exp(z[t * c->V + v] - mx);
    for (int64_t v = 0; v < c->V; v++) lp[t * c->V + v] = z[t * c->V + v] - mx - log(s);
  }
  int64_t npaths = 1;
  for (int64_t t = 0; t < c->T; t++) npaths *= c->V;
  double p = 0;
  for (int64_t k = 0; k < npaths; k++) {
    int32_t path[16], col[16];
    int64_t x = k, n = 0;
    double lpp = 0;
    for (int64_t t = 0; t < c->T; t++) {
      path[t] = (int32_t)(x % c->V);
      x /= c->V;
      lpp += lp[t * c->V + path[t]];
    }
    for (int64_t t = 0; t < c->T; t++)
      if (path[t] != 0 && (t == 0 || path[t] != path[t - 1])) col[n++] = path[t];
    if (n == c->L && !memcmp(col, c->lab, sizeof(int32_t) * (size_t)n)) p += exp(lpp);
  }
  free(lp);
  out[0] = -log(p);
}

static void run(int64_t T, int64_t V, const int32_t *lab, int64_t L, uint64_t seed) {
  float *z = tu_alloc_rand(T * V, -2, 2, seed), *g = tu_zeros(T * V);
  double loss;
  int ok;
  ts_err e;
  assert_int_equal(ctc_loss(z, T, V, lab, L, 1.0f, &loss, g, &ok, &e), 0);
  assert_true(ok);
  bf_ctx c = {T, V, L, lab};
  double *zd = tu_to_double(z, T * V), ref;
  double *in[1] = {zd};
  brute(&c, in, &ref);
  if (fabs(loss - ref) > 1e-6 * fabs(ref)) fail_msg("ctc loss %.10f, brute force %.10f", loss, ref);
  float one = 1.0f;
  int64_t in_n[1] = {T * V};
  const float *ins[1] = {z};
  const float *gs[1] = {g};
  assert_true(tu_gradcheck("ctc", brute, &c, 1, in_n, ins, 1, &one, gs, 1e-5, 1e-4));
  free(zd), free(z), free(g);
}

static void test_brute_force(void **s) {
  (void)s;
  int32_t a[2] = {1, 2}, b[2] = {1, 1}, c1[1] = {2}, d[3] = {2, 1, 2};
  run(4, 3, a, 2, 1);
  run(5, 3, b, 2, 2); /* a repeat needs a blank between */
  run(3, 4, c1, 1, 3);
  run(6, 3, d, 3, 4);
  int32_t none[1] = {0};
  run(2, 3, none, 0, 5); /* empty label: all blanks */
}

static void test_infeasible_and_chars(void **s) {
  (void)s;
  int32_t rep[3] = {1, 1, 1}; /* needs 5 frames */
  float z[4 * 3] = {0};
  double loss;
  int ok;
  float g[12];
  assert_int_equal(ctc_loss(z, 4, 3, rep, 3, 1.0f, &loss, g, &ok, NULL), 0);
  assert_false(ok);
  assert_true(isinf(loss));
  for (int i = 0; i < 12; i++) assert_true(g[i] == 0.0f);
  int32_t bad[1] = {3};
  assert_int_equal(ctc_loss(z, 4, 3, bad, 1, 1.0f, &loss, g, &ok, NULL), TS_EARG);
  int32_t lab[32];
  int64_t n = ctc_chars("IT'S a go!", lab, 32);
  int32_t want[9] = {3 + 8, 3 + 19, 2, 3 + 18, 1, 3 + 0, 1, 3 + 6, 3 + 14};
  assert_int_equal(n, 9);
  assert_memory_equal(lab, want, sizeof want);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_brute_force), cmocka_unit_test(test_infeasible_and_chars)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
