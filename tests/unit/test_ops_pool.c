/* test_ops_pool.c — statistics pooling (masked mean and std over time): forward against a naive
 * double reference, backward against finite differences, and the argument checks. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tensor/ops_pool.h"
#include "testutil.h"

static backend *be;
static ts_err err;

typedef struct ref_pool {
  int64_t B, C, T;
  const int32_t *lens;
  double eps;
} ref_pool;

/* out (B, 2C): mean then sqrt(biased var + eps) over the first lens[b] frames */
static void ref_stats_pool(void *ctx, double *const *in, double *out) {
  const ref_pool *r = ctx;
  for (int64_t b = 0; b < r->B; b++)
    for (int64_t c = 0; c < r->C; c++) {
      int64_t L = r->lens ? r->lens[b] : r->T;
      const double *x = in[0] + (b * r->C + c) * r->T;
      double s = 0, v = 0;
      for (int64_t t = 0; t < L; t++) s += x[t];
      double mu = s / L;
      for (int64_t t = 0; t < L; t++) v += (x[t] - mu) * (x[t] - mu);
      out[b * 2 * r->C + c] = mu;
      out[b * 2 * r->C + r->C + c] = sqrt(v / L + r->eps);
    }
}

static int setup(void **state) {
  (void)state;
  be = be_cpu();
  return 0;
}

static void run_pool(int64_t B, int64_t C, int64_t T, const int32_t *lens, float eps, uint64_t seed) {
  int64_t nx = B * C * T, ny = B * 2 * C;
  float *x = tu_alloc_rand(nx, -2, 2, seed), *y = tu_zeros(ny), *dy = tu_alloc_rand(ny, -1, 1, seed + 1);
  float *dx = tu_zeros(nx);
  /* a frame past lens must not matter: poison it */
  for (int64_t b = 0; b < B; b++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t t = lens ? lens[b] : T; t < T; t++) x[(b * C + c) * T + t] = 1e6f;
  tensor X = tensor_f32(x, 3, B, C, T, 0), Y = tensor_f32(y, 2, B, 2 * C, 0, 0);
  tensor DY = tensor_f32(dy, 2, B, 2 * C, 0, 0), DX = tensor_f32(dx, 3, B, C, T, 0);
  assert_int_equal(op_stats_pool(be, &X, lens, &Y, eps, &err), 0);
  ref_pool ctx = {B, C, T, lens, eps};
  double *xd = tu_to_double(x, nx), *yd = malloc(sizeof(double) * (size_t)ny);
  double *in[1] = {xd};
  ref_stats_pool(&ctx, in, yd);
  char what[96];
  snprintf(what, sizeof what, "stats_pool B=%lld C=%lld T=%lld lens=%d", (long long)B, (long long)C, (long long)T,
           lens != NULL);
  assert_true(tu_close(what, y, yd, ny, 1e-5, 1e-3));
  /* backward adds: start from a known value and subtract it afterwards */
  for (int64_t i = 0; i < nx; i++) dx[i] = 0.5f;
  assert_int_equal(op_stats_pool_bwd(be, &X, lens, &Y, &DY, &DX, &err), 0);
  for (int64_t i = 0; i < nx; i++) dx[i] -= 0.5f;
  for (int64_t b = 0; b < B; b++) /* nothing flows to frames past lens */
    for (int64_t c = 0; c < C; c++)
      for (int64_t t = lens ? lens[b] : T; t < T; t++) assert_true(dx[(b * C + c) * T + t] == 0.0f);
  int64_t in_n[1] = {nx};
  const float *inp[1] = {x};
  const float *g[1] = {dx};
  if (nx <= 4096) {
    assert_true(tu_gradcheck(what, ref_stats_pool, &ctx, 1, in_n, inp, ny, dy, g, 1e-3, 2e-3));
  } else { /* too big for finite differences: the closed form in double */
    double *gd = calloc((size_t)nx, sizeof(double));
    for (int64_t b = 0; b < B; b++)
      for (int64_t c = 0; c < C; c++) {
        int64_t L = lens ? lens[b] : T;
        double mu = yd[b * 2 * C + c], sd = yd[b * 2 * C + C + c];
        for (int64_t t = 0; t < L; t++)
          gd[(b * C + c) * T + t] = dy[b * 2 * C + c] / L + dy[b * 2 * C + C + c] * (xd[(b * C + c) * T + t] - mu) / (L * sd);
      }
    assert_true(tu_close(what, dx, gd, nx, 1e-4, 1e-3));
    free(gd);
  }
  free(x), free(y), free(dy), free(dx), free(xd), free(yd);
}

static void test_stats_pool(void **state) {
  (void)state;
  run_pool(1, 1, 1, NULL, 1e-5f, 10);
  run_pool(2, 3, 7, NULL, 1e-5f, 11);
  const int32_t lens[3] = {7, 2, 5};
  run_pool(3, 4, 7, lens, 1e-5f, 12);
  run_pool(3, 5, 7, lens, 0.0f, 13);
  run_pool(2, 70, 300, NULL, 1e-6f, 14); /* big enough for the threaded path */
}

static void test_stats_pool_errors(void **state) {
  (void)state;
  float x[24], y[8], dy[8], dx[24];
  tensor X = tensor_f32(x, 3, 2, 4, 3, 0), Y = tensor_f32(y, 2, 2, 4, 0, 0);
  memset(x, 0, sizeof x);
  assert_int_equal(op_stats_pool(be, &X, NULL, &Y, 1e-5f, &err), TS_ESHAPE);
  assert_non_null(strstr(err.msg, "stats_pool"));
  assert_non_null(strstr(err.msg, "[2, 8]"));
  tensor X2 = tensor_f32(x, 3, 2, 2, 6, 0);
  int32_t bad[2] = {6, 7};
  assert_int_equal(op_stats_pool(be, &X2, bad, &Y, 1e-5f, &err), TS_EARG);
  assert_non_null(strstr(err.msg, "lens[1] = 7"));
  bad[1] = 0;
  assert_int_equal(op_stats_pool(be, &X2, bad, &Y, 1e-5f, &err), TS_EARG);
  tensor X1 = tensor_f32(x, 2, 4, 6, 0, 0);
  assert_int_equal(op_stats_pool(be, &X1, NULL, &Y, 1e-5f, &err), TS_ESHAPE);
  assert_non_null(strstr(err.msg, "x has 2 dims"));
  tensor DY = tensor_f32(dy, 2, 4, 2, 0, 0), DX = tensor_f32(dx, 3, 2, 2, 6, 0);
  assert_int_equal(op_stats_pool(be, &X2, NULL, &Y, 1e-5f, &err), 0);
  assert_int_equal(op_stats_pool_bwd(be, &X2, NULL, &Y, &DY, &DX, &err), TS_ESHAPE);
  assert_non_null(strstr(err.msg, "dy"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stats_pool),
      cmocka_unit_test(test_stats_pool_errors),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
