/* testutil.c — random tensors, closeness checks and the finite-difference gradient checker. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tu_rand(float *x, int64_t n, float lo, float hi, uint64_t seed) {
  philox_rng r;
  philox_init(&r, seed, 77);
  for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * philox_uniform(&r);
}

float *tu_alloc_rand(int64_t n, float lo, float hi, uint64_t seed) {
  float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
  tu_rand(x, n, lo, hi, seed);
  return x;
}

float *tu_zeros(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(float)); }

double *tu_to_double(const float *x, int64_t n) {
  double *d = malloc(sizeof(double) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) d[i] = x[i];
  return d;
}

int tu_close(const char *what, const float *a, const double *b, int64_t n, double tol, double floor) {
  double mx = floor, worst = 0;
  int64_t wi = -1;
  for (int64_t i = 0; i < n; i++)
    if (fabs(b[i]) > mx) mx = fabs(b[i]);
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (!(d <= worst)) { /* also catches NaN */
      worst = isnan(d) ? INFINITY : d;
      wi = i;
    }
  }
  double rel = worst / mx;
  if (rel > tol || (wi >= 0 && isnan((double)a[wi]))) {
    fprintf(stderr, "%s: relative error %.3g > %.3g at %lld (got %.9g, want %.9g, scale %.3g)\n", what, rel, tol,
            (long long)wi, (double)a[wi], b[wi], mx);
    return 0;
  }
  return 1;
}

int tu_close_ff(const char *what, const float *a, const float *b, int64_t n, double tol, double floor) {
  double *bd = tu_to_double(b, n);
  int ok = tu_close(what, a, bd, n, tol, floor);
  free(bd);
  return ok;
}

static double tu_loss(tu_ref_fn f, void *ctx, double *const *in, double *out, int64_t n_out,
                      const float *dy) {
  f(ctx, in, out);
  double s = 0;
  for (int64_t i = 0; i < n_out; i++) s += (double)dy[i] * out[i];
  return s;
}

int tu_gradcheck(const char *what, tu_ref_fn f, void *ctx, int n_in, const int64_t *in_n,
                 const float *const *in, int64_t n_out, const float *dy, const float *const *grad,
                 double h, double tol) {
  double *din[16];
  for (int i = 0; i < n_in; i++) din[i] = tu_to_double(in[i], in_n[i]);
  double *out = malloc(sizeof(double) * (size_t)(n_out ? n_out : 1));
  int ok = 1;
  for (int i = 0; i < n_in && ok; i++) {
    if (!grad[i]) continue;
    double *num = malloc(sizeof(double) * (size_t)(in_n[i] ? in_n[i] : 1));
    for (int64_t j = 0; j < in_n[i]; j++) {
      double x0 = din[i][j];
      double step = h * (fabs(x0) > 1.0 ? fabs(x0) : 1.0);
      din[i][j] = x0 + step;
      double lp = tu_loss(f, ctx, din, out, n_out, dy);
      din[i][j] = x0 - step;
      double lm = tu_loss(f, ctx, din, out, n_out, dy);
      din[i][j] = x0;
      num[j] = (lp - lm) / (2 * step);
    }
    char name[160];
    snprintf(name, sizeof name, "%s: gradient of input %d", what, i);
    ok = tu_close(name, grad[i], num, in_n[i], tol, 1e-6);
    free(num);
  }
  for (int i = 0; i < n_in; i++) free(din[i]);
  free(out);
  return ok;
}
