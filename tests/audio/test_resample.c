/* test_resample.c — audio_resample keeps a sine's frequency, amplitude and timing, removes
 * content above the new Nyquist frequency, and checks its arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "audio/audio_io.h"

static float *sine(int64_t n, int rate, double f, double amp) {
  float *x = malloc((size_t)n * sizeof *x);
  for (int64_t i = 0; i < n; i++) x[i] = (float)(amp * sin(2 * M_PI * f * (double)i / rate));
  return x;
}

/* Least-squares fit y[i] ~ a sin(w i) + b cos(w i) over [lo, hi); returns the RMS residual. */
static double fit_sine(const float *y, int64_t lo, int64_t hi, int rate, double f, double *a, double *b) {
  double ss = 0, cc = 0, sc = 0, ys = 0, yc = 0;
  for (int64_t i = lo; i < hi; i++) {
    double s = sin(2 * M_PI * f * (double)i / rate), c = cos(2 * M_PI * f * (double)i / rate);
    ss += s * s;
    cc += c * c;
    sc += s * c;
    ys += y[i] * s;
    yc += y[i] * c;
  }
  double det = ss * cc - sc * sc;
  *a = (ys * cc - yc * sc) / det;
  *b = (yc * ss - ys * sc) / det;
  double r = 0;
  for (int64_t i = lo; i < hi; i++) {
    double d = y[i] - (*a * sin(2 * M_PI * f * (double)i / rate) + *b * cos(2 * M_PI * f * (double)i / rate));
    r += d * d;
  }
  return sqrt(r / (double)(hi - lo));
}

static void check_sine(int rin, int rout, double f, double amp) {
  const int64_t n = rin; /* one second */
  float *x = sine(n, rin, f, amp), *y = NULL;
  int64_t ny = 0;
  ts_err e = {0};
  assert_int_equal(audio_resample(x, n, rin, rout, &y, &ny, &e), TS_OK);
  assert_int_equal(ny, rout);
  double a, b;
  /* Away from the edges, the output is the same sine: same frequency (tiny residual), same
   * amplitude, same phase (no delay: the cos part is ~0). */
  double res = fit_sine(y, rout / 10, ny - rout / 10, rout, f, &a, &b);
  assert_true(res < 1e-3 * amp);
  assert_true(fabs(a - amp) < 1e-3 * amp);
  assert_true(fabs(b) < 1e-3 * amp);
  /* a fit at a slightly different frequency explains it much worse */
  double res2 = fit_sine(y, rout / 10, ny - rout / 10, rout, f * 1.01, &a, &b);
  assert_true(res2 > 100 * res);
  free(x);
  free(y);
}

static void test_down_44k_16k(void **state) { check_sine(44100, 16000, 1000.0, 0.5); }
static void test_up_16k_48k(void **state) { check_sine(16000, 48000, 3000.0, 0.8); }
static void test_down_48k_8k(void **state) { check_sine(48000, 8000, 440.0, 0.3); }

static void test_alias_removed(void **state) {
  /* 7 kHz is above the 4 kHz Nyquist frequency of 8 kHz: it must not fold back */
  float *x = sine(44100, 44100, 7000.0, 0.5), *y = NULL;
  int64_t ny;
  assert_int_equal(audio_resample(x, 44100, 44100, 8000, &y, &ny, NULL), TS_OK);
  double ss = 0;
  for (int64_t i = 800; i < ny - 800; i++) ss += (double)y[i] * y[i];
  assert_true(sqrt(ss / (double)(ny - 1600)) < 1e-3);
  free(x);
  free(y);
}

static void test_same_rate_and_lengths(void **state) {
  float x[3] = {1, 2, 3}, *y = NULL;
  int64_t ny = -1;
  assert_int_equal(audio_resample(x, 3, 16000, 16000, &y, &ny, NULL), TS_OK);
  assert_int_equal(ny, 3);
  assert_memory_equal(x, y, sizeof x);
  free(y);
  float z[1001] = {0};
  assert_int_equal(audio_resample(z, 1001, 16000, 8000, &y, &ny, NULL), TS_OK);
  assert_int_equal(ny, 501); /* round(1001 / 2) */
  free(y);
  assert_int_equal(audio_resample(z, 0, 16000, 8000, &y, &ny, NULL), TS_OK);
  assert_int_equal(ny, 0);
  free(y);
}

static void test_bad_args(void **state) {
  float x[4] = {0}, *y = (float *)1;
  int64_t ny = 5;
  ts_err e = {0};
  assert_int_equal(audio_resample(x, 4, 0, 16000, &y, &ny, &e), TS_EARG);
  assert_null(y);
  assert_int_equal(audio_resample(x, 4, 16000, -1, &y, &ny, &e), TS_EARG);
  assert_int_equal(audio_resample(x, 4, 1, 16000, &y, &ny, &e), TS_EUNSUP); /* ratio > 256 */
  assert_int_equal(audio_resample(NULL, 4, 8000, 16000, &y, &ny, &e), TS_EARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_down_44k_16k),   cmocka_unit_test(test_up_16k_48k),
      cmocka_unit_test(test_down_48k_8k),    cmocka_unit_test(test_alias_removed),
      cmocka_unit_test(test_same_rate_and_lengths), cmocka_unit_test(test_bad_args),
  };
  return cmocka_run_group_tests_name("resample", tests, NULL, NULL);
}
