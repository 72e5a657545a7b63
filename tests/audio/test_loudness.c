/* test_loudness.c — loud_lufs against pyloudnorm on committed fixtures (tools/gen_audio_loudness.py),
 * loud_gain_to reaching its target, LibriMix's peak guard, and the silent/short cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio_io.h"
#include "audio/loudness.h"

#define FIX TS_FIXTURES "/audio/"

typedef struct fixture {
  char name[64];
  int rate;
  double lufs;
} fixture;

static int load_table(fixture *t, int cap) {
  FILE *f = fopen(FIX "loudness.txt", "r");
  assert_non_null(f);
  char line[256];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    assert_true(n < cap);
    assert_int_equal(sscanf(line, "%63s %d %lf", t[n].name, &t[n].rate, &t[n].lufs), 3);
    n++;
  }
  fclose(f);
  return n;
}

static void load_signal(const fixture *fx, audio_buf *b) {
  char p[512];
  snprintf(p, sizeof p, FIX "loud_%s.wav", fx->name);
  ts_err e = {0};
  int rc = audio_read_expect(p, fx->rate, b, &e);
  if (rc) fail_msg("%s", e.msg);
}

static void test_matches_pyloudnorm(void **state) {
  fixture t[32];
  int n = load_table(t, 32);
  assert_true(n >= 5);
  double worst = 0;
  for (int i = 0; i < n; i++) {
    audio_buf b;
    load_signal(&t[i], &b);
    double l = 0;
    ts_err e = {0};
    assert_int_equal(loud_lufs(b.samples, b.n, b.rate, &l, &e), TS_OK);
    double d = fabs(l - t[i].lufs);
    print_message("%-10s %6d Hz  ours %9.4f  pyloudnorm %9.4f  diff %.4f LU\n", t[i].name, t[i].rate,
                  l, t[i].lufs, d);
    if (d > worst) worst = d;
    assert_true(d < 0.1);
    audio_free(&b);
  }
  print_message("worst difference %.4f LU over %d signals\n", worst, n);
}

static void test_gain_reaches_target(void **state) {
  fixture t[32];
  int n = load_table(t, 32);
  const double targets[] = {-33.0, -25.0, -29.3, -18.0};
  for (int i = 0; i < n; i++) {
    audio_buf b;
    load_signal(&t[i], &b);
    for (size_t k = 0; k < sizeof targets / sizeof *targets; k++) {
      double g = 0, l = 0;
      assert_int_equal(loud_gain_to(b.samples, b.n, b.rate, targets[k], &g, NULL), TS_OK);
      float *y = malloc((size_t)b.n * sizeof *y);
      for (int64_t j = 0; j < b.n; j++) y[j] = (float)(b.samples[j] * g);
      assert_int_equal(loud_lufs(y, b.n, b.rate, &l, NULL), TS_OK);
      assert_true(fabs(l - targets[k]) < 0.1);
      /* and the gain follows from pyloudnorm's value too */
      assert_true(fabs(20 * log10(g) - (targets[k] - t[i].lufs)) < 0.1);
      free(y);
    }
    audio_free(&b);
  }
}

static void test_scaling_law(void **state) {
  /* loudness is 20 log10 of a gain away: -6.0206 LU for half the amplitude */
  audio_buf b;
  fixture fx = {"bursts", 16000, 0};
  load_signal(&fx, &b);
  double l1, l2;
  assert_int_equal(loud_lufs(b.samples, b.n, b.rate, &l1, NULL), TS_OK);
  for (int64_t j = 0; j < b.n; j++) b.samples[j] *= 0.5f;
  assert_int_equal(loud_lufs(b.samples, b.n, b.rate, &l2, NULL), TS_OK);
  assert_true(fabs((l1 - l2) - 20 * log10(2.0)) < 1e-3);
  audio_free(&b);
}

static void test_peak_guard(void **state) {
  enum { N = 16000 };
  float x[N];
  for (int i = 0; i < N; i++) x[i] = 0.05f * sinf(2 * (float)M_PI * 1000.0f * i / 16000.0f);
  x[100] = 0.5f; /* one spike: bringing the sine to -10 LUFS would clip it */
  assert_true(fabs(loud_peak(x, N) - 0.5) < 1e-9);
  double g = 0, gu = 0;
  int guarded = -1;
  assert_int_equal(loud_gain_to(x, N, 16000, -10.0, &g, NULL), TS_OK);
  assert_true(g * 0.5 >= 1.0);
  assert_int_equal(loud_gain_guarded(x, N, 16000, -10.0, &gu, &guarded, NULL), TS_OK);
  assert_int_equal(guarded, 1);
  assert_true(fabs(gu * 0.5 - LOUD_PEAK_GUARD) < 1e-9);
  /* a target that does not clip leaves the gain alone */
  assert_int_equal(loud_gain_to(x, N, 16000, -30.0, &g, NULL), TS_OK);
  assert_int_equal(loud_gain_guarded(x, N, 16000, -30.0, &gu, &guarded, NULL), TS_OK);
  assert_int_equal(guarded, 0);
  assert_true(gu == g);
}

static void test_silence_and_short(void **state) {
  enum { N = 16000 };
  float *z = calloc(N, sizeof *z);
  double l = 0, g = 0;
  ts_err e = {0};
  assert_int_equal(loud_lufs(z, N, 16000, &l, &e), TS_OK);
  assert_true(isinf(l) && l < 0);
  assert_int_equal(loud_gain_to(z, N, 16000, -25.0, &g, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "silent"));
  assert_int_equal(loud_lufs(z, 6399, 16000, &l, &e), TS_EARG); /* < 400 ms */
  assert_non_null(strstr(e.msg, "400 ms"));
  assert_int_equal(loud_lufs(z, 6400, 16000, &l, &e), TS_OK);
  assert_int_equal(loud_lufs(z, N, 0, &l, &e), TS_EARG);
  assert_int_equal(loud_gain_to(z, N, 16000, NAN, &g, &e), TS_EARG);
  free(z);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matches_pyloudnorm), cmocka_unit_test(test_gain_reaches_target),
      cmocka_unit_test(test_scaling_law),        cmocka_unit_test(test_peak_guard),
      cmocka_unit_test(test_silence_and_short),
  };
  return cmocka_run_group_tests_name("loudness", tests, NULL, NULL);
}
