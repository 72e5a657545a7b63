/* test_fbank.c — fbank_compute against torchaudio.compliance.kaldi.fbank on committed fixtures
 * (tools/gen_audio_fbank.py), frame counts, concurrent use, and bad configurations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/fbank.h"

#define FIX TS_FIXTURES "/audio/"

static float *read_f32(const char *path, int64_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long bytes = ftell(f);
  fseek(f, 0, SEEK_SET);
  *n = bytes / 4;
  float *x = malloc((size_t)(bytes > 0 ? bytes : 4));
  assert_int_equal(fread(x, 4, (size_t)*n, f), (size_t)*n);
  fclose(f);
  return x;
}

static void test_matches_torchaudio(void **state) {
  int64_t nin = 0;
  float *x = read_f32(FIX "fbank_in.f32", &nin);
  FILE *t = fopen(FIX "fbank.txt", "r");
  assert_non_null(t);
  char line[512];
  int variants = 0;
  while (fgets(line, sizeof line, t)) {
    if (line[0] == '#') continue;
    char name[64];
    long long n, frames;
    double scale;
    int cmn, bins;
    assert_int_equal(sscanf(line, "%63s %lld %lf %d %lld %d", name, &n, &scale, &cmn, &frames, &bins), 6);
    assert_true(n <= nin);
    fbank_cfg c = fbank_cfg_default();
    c.input_scale = (float)scale;
    c.subtract_mean = cmn;
    assert_int_equal(bins, c.num_mel_bins);
    float *feat = NULL;
    int64_t nf = -1;
    ts_err e = {0};
    assert_int_equal(fbank_compute(&c, x, n, &feat, &nf, &e), TS_OK);
    assert_int_equal(nf, frames);
    assert_int_equal(fbank_num_frames(&c, n), frames);
    char p[512];
    snprintf(p, sizeof p, FIX "fbank_%s.f32", name);
    int64_t nref = 0;
    float *ref = read_f32(p, &nref);
    assert_int_equal(nref, frames * bins);
    double worst = 0, sum = 0;
    for (int64_t i = 0; i < nref; i++) {
      double d = fabs((double)feat[i] - ref[i]);
      sum += d;
      if (d > worst) worst = d;
    }
    print_message("%-11s %4lld frames  max |diff| %.2e  mean %.2e\n", name, frames, worst, sum / (double)nref);
    assert_true(worst < 1e-3);
    free(ref);
    free(feat);
    variants++;
  }
  fclose(t);
  assert_true(variants >= 3);
  free(x);
}

static void test_frames_and_floor(void **state) {
  fbank_cfg c = fbank_cfg_default();
  assert_int_equal(fbank_num_frames(&c, 399), 0);
  assert_int_equal(fbank_num_frames(&c, 400), 1);
  assert_int_equal(fbank_num_frames(&c, 559), 1);
  assert_int_equal(fbank_num_frames(&c, 560), 2);
  assert_int_equal(fbank_num_frames(&c, 16000), 98);
  float z[1000] = {0}, *out = (float *)1;
  int64_t nf = -1;
  assert_int_equal(fbank_compute(&c, z, 399, &out, &nf, NULL), TS_OK);
  assert_int_equal(nf, 0);
  assert_null(out);
  /* digital silence sits on the floor log(FLT_EPSILON) */
  assert_int_equal(fbank_compute(&c, z, 1000, &out, &nf, NULL), TS_OK);
  assert_int_equal(nf, 4);
  for (int i = 0; i < 4 * 80; i++) assert_true(out[i] == logf(FLT_EPSILON));
  free(out);
  /* a constant (pure DC) is removed by the per-frame mean subtraction */
  for (int i = 0; i < 1000; i++) z[i] = 0.3f;
  assert_int_equal(fbank_compute(&c, z, 1000, &out, &nf, NULL), TS_OK);
  for (int i = 0; i < 4 * 80; i++) assert_true(out[i] < logf(FLT_EPSILON) + 1e-3f);
  free(out);
}

static void test_tone_peaks_in_its_bin(void **state) {
  /* a 1 kHz tone puts its energy in the mel bin whose centre is nearest 1 kHz */
  enum { N = 4000 };
  float x[N];
  for (int i = 0; i < N; i++) x[i] = 0.5f * sinf(2 * (float)M_PI * 1000.0f * i / 16000.0f);
  fbank_cfg c = fbank_cfg_default();
  float *out = NULL;
  int64_t nf = 0;
  assert_int_equal(fbank_compute(&c, x, N, &out, &nf, NULL), TS_OK);
  double mlo = 1127 * log(1 + 20.0 / 700), mhi = 1127 * log(1 + 8000.0 / 700), m1k = 1127 * log(1 + 1000.0 / 700);
  double delta = (mhi - mlo) / 81;
  int expect = (int)lround((m1k - mlo) / delta) - 1;
  int best = 0;
  for (int b = 1; b < 80; b++)
    if (out[5 * 80 + b] > out[5 * 80 + best]) best = b;
  assert_int_equal(best, expect);
  free(out);
}

typedef struct job {
  const float *x;
  int64_t n;
  float *out;
  int64_t nf;
  int rc;
} job;

static void *run_job(void *arg) {
  job *j = arg;
  fbank_cfg c = fbank_cfg_default();
  for (int k = 0; k < 3; k++) {
    free(j->out);
    j->out = NULL;
    j->rc = fbank_compute(&c, j->x, j->n, &j->out, &j->nf, NULL);
    if (j->rc) break;
  }
  return NULL;
}

static void test_concurrent_use(void **state) {
  fbank_cleanup(); /* the threads race to make the plan */
  int64_t n = 0;
  float *x = read_f32(FIX "fbank_in.f32", &n);
  fbank_cfg c = fbank_cfg_default();
  float *ref = NULL;
  int64_t nref = 0;
  enum { T = 4 };
  pthread_t th[T];
  job jobs[T];
  for (int i = 0; i < T; i++) {
    jobs[i] = (job){x, n, NULL, 0, -1};
    assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
  }
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  assert_int_equal(fbank_compute(&c, x, n, &ref, &nref, NULL), TS_OK);
  for (int i = 0; i < T; i++) {
    assert_int_equal(jobs[i].rc, TS_OK);
    assert_int_equal(jobs[i].nf, nref);
    assert_memory_equal(jobs[i].out, ref, (size_t)nref * 80 * sizeof(float));
    free(jobs[i].out);
  }
  free(ref);
  free(x);
}

static void test_bad_config(void **state) {
  float x[800] = {0}, *out = NULL;
  int64_t nf;
  ts_err e = {0};
  fbank_cfg c = fbank_cfg_default();
  c.num_mel_bins = 2;
  assert_int_equal(fbank_compute(&c, x, 800, &out, &nf, &e), TS_EARG);
  c = fbank_cfg_default();
  c.high_freq = 9000; /* above Nyquist */
  assert_int_equal(fbank_compute(&c, x, 800, &out, &nf, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "Nyquist"));
  c = fbank_cfg_default();
  c.num_mel_bins = 400; /* more bins than FFT bins can fill */
  assert_int_equal(fbank_compute(&c, x, 800, &out, &nf, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "empty"));
  c = fbank_cfg_default();
  c.sample_rate = 0;
  assert_int_equal(fbank_compute(&c, x, 800, &out, &nf, &e), TS_EARG);
  assert_int_equal(fbank_compute(NULL, x, 800, &out, &nf, &e), TS_EARG);
  c = fbank_cfg_default();
  c.high_freq = -400; /* an offset from Nyquist is fine */
  assert_int_equal(fbank_compute(&c, x, 800, &out, &nf, &e), TS_OK);
  free(out);
  fbank_cleanup();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matches_torchaudio), cmocka_unit_test(test_frames_and_floor),
      cmocka_unit_test(test_tone_peaks_in_its_bin), cmocka_unit_test(test_concurrent_use),
      cmocka_unit_test(test_bad_config),
  };
  return cmocka_run_group_tests_name("fbank", tests, NULL, NULL);
}
