/* test_audio_io.c — audio_read/audio_write: round trips, channel mixing, resampling on read,
 * and the error messages for missing, corrupt, truncated, empty and wrong-rate files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sndfile.h>

#include "audio/audio_io.h"

static char tmpdir[256];

static int setup(void **state) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/tsasr_audio_io_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void tpath(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", tmpdir, name); }

/* A test signal whose values are exact in PCM16 (multiples of 1/32768). */
static float *pcm_exact_signal(int64_t n) {
  float *x = malloc((size_t)n * sizeof *x);
  for (int64_t i = 0; i < n; i++) {
    double v = 0.6 * sin(2 * M_PI * 440.0 * (double)i / 16000.0) + 0.2 * sin(0.013 * (double)(i * i % 9973));
    x[i] = (float)(nearbyint(v * 32768.0) / 32768.0);
  }
  x[0] = -1.0f;          /* the most negative PCM16 value */
  x[1] = 32767.0f / 32768.0f;
  return x;
}

static void roundtrip(const char *name, int exact) {
  char p[512];
  tpath(p, sizeof p, name);
  const int64_t n = 4000;
  float *x = pcm_exact_signal(n);
  ts_err e = {0};
  assert_int_equal(audio_write(p, x, n, 16000, &e), TS_OK);
  audio_buf b;
  assert_int_equal(audio_read(p, 0, &b, &e), TS_OK);
  assert_int_equal(b.n, n);
  assert_int_equal(b.rate, 16000);
  double maxd = 0;
  for (int64_t i = 0; i < n; i++) maxd = fmax(maxd, fabs((double)b.samples[i] - x[i]));
  if (exact)
    assert_true(maxd == 0.0);
  else
    assert_true(maxd < 1.0 / 32768.0);
  audio_free(&b);
  assert_null(b.samples);
  free(x);
  /* no temp file is left beside the target */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", tmpdir);
  assert_int_not_equal(system(cmd), 0);
}

static void test_roundtrip_wav(void **state) { roundtrip("a.wav", 1); }
static void test_roundtrip_flac(void **state) { roundtrip("a.flac", 1); }
static void test_roundtrip_f32(void **state) {
  /* float WAV keeps arbitrary floats bit-exactly */
  char p[512];
  tpath(p, sizeof p, "b.f32.wav");
  float x[5] = {0.1f, -0.123456789f, 1.5f, -2.0f, 1e-6f};
  ts_err e = {0};
  assert_int_equal(audio_write(p, x, 5, 8000, &e), TS_OK);
  audio_buf b;
  assert_int_equal(audio_read(p, 0, &b, &e), TS_OK);
  assert_int_equal(b.n, 5);
  assert_int_equal(b.rate, 8000);
  assert_memory_equal(b.samples, x, sizeof x);
  audio_free(&b);
  /* the same values as PCM16 are clipped to [-1, 1) */
  tpath(p, sizeof p, "b.wav");
  assert_int_equal(audio_write(p, x, 5, 8000, &e), TS_OK);
  assert_int_equal(audio_read(p, 0, &b, &e), TS_OK);
  assert_true(fabsf(b.samples[2] - 32767.0f / 32768.0f) < 1e-9f);
  assert_true(b.samples[3] == -1.0f);
  audio_free(&b);
}

static void test_write_overwrites_atomically(void **state) {
  char p[512];
  tpath(p, sizeof p, "over.wav");
  float a[100] = {0}, bb[50];
  for (int i = 0; i < 50; i++) bb[i] = 0.5f;
  ts_err e = {0};
  assert_int_equal(audio_write(p, a, 100, 16000, &e), TS_OK);
  assert_int_equal(audio_write(p, bb, 50, 16000, &e), TS_OK);
  audio_buf b;
  assert_int_equal(audio_read(p, 0, &b, &e), TS_OK);
  assert_int_equal(b.n, 50);
  assert_true(b.samples[10] == 0.5f);
  audio_free(&b);
}

static void test_write_errors(void **state) {
  char p[512];
  float x[4] = {0, 0.1f, NAN, 0};
  ts_err e = {0};
  tpath(p, sizeof p, "x.mp3");
  assert_int_equal(audio_write(p, x, 2, 16000, &e), TS_EARG);
  assert_non_null(strstr(e.msg, p));
  tpath(p, sizeof p, "nan.wav");
  assert_int_equal(audio_write(p, x, 4, 16000, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "not finite"));
  assert_int_not_equal(access(p, F_OK), 0);
  assert_int_equal(audio_write("/nonexistent_dir_tsasr/a.wav", x, 2, 16000, &e), TS_EIO);
  assert_non_null(strstr(e.msg, "/nonexistent_dir_tsasr/a.wav"));
}

/* Writes a multi-channel file directly with libsndfile. */
static void write_multi(const char *p, const float *inter, int64_t frames, int ch, int rate, int format) {
  SF_INFO info = {0};
  info.samplerate = rate;
  info.channels = ch;
  info.format = format;
  SNDFILE *sf = sf_open(p, SFM_WRITE, &info);
  assert_non_null(sf);
  assert_int_equal(sf_writef_float(sf, inter, frames), frames);
  sf_close(sf);
}

static void test_channel_mixing(void **state) {
  char p[512];
  tpath(p, sizeof p, "stereo.f32.wav");
  enum { N = 1000 };
  float inter[2 * N];
  for (int i = 0; i < N; i++) {
    inter[2 * i] = 0.5f * sinf(0.01f * i);
    inter[2 * i + 1] = 0.25f - 0.001f * (i % 7);
  }
  write_multi(p, inter, N, 2, 16000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  audio_buf b;
  ts_err e = {0};
  assert_int_equal(audio_read(p, 0, &b, &e), TS_OK);
  assert_int_equal(b.n, N);
  for (int i = 0; i < N; i++)
    assert_true(fabsf(b.samples[i] - 0.5f * (inter[2 * i] + inter[2 * i + 1])) < 1e-7f);
  audio_free(&b);
  /* three channels, one of them the negation of another: the mean is the third / 3 */
  tpath(p, sizeof p, "three.f32.wav");
  float tri[3 * N];
  for (int i = 0; i < N; i++) {
    tri[3 * i] = 0.3f * sinf(0.02f * i);
    tri[3 * i + 1] = -tri[3 * i];
    tri[3 * i + 2] = 0.6f;
  }
  write_multi(p, tri, N, 3, 16000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  assert_int_equal(audio_read(p, 0, &b, &e), TS_OK);
  for (int i = 0; i < N; i++) assert_true(fabsf(b.samples[i] - 0.2f) < 1e-7f);
  audio_free(&b);
}

static void test_ogg_read(void **state) {
  SF_INFO info = {0};
  info.samplerate = 16000;
  info.channels = 1;
  info.format = SF_FORMAT_OGG | SF_FORMAT_VORBIS;
  if (!sf_format_check(&info)) skip();
  char p[512];
  tpath(p, sizeof p, "tone.ogg");
  enum { N = 16000 };
  float *x = malloc(N * sizeof *x);
  for (int i = 0; i < N; i++) x[i] = 0.5f * sinf(2 * (float)M_PI * 500.0f * i / 16000.0f);
  write_multi(p, x, N, 1, 16000, info.format);
  audio_buf b;
  ts_err e = {0};
  assert_int_equal(audio_read(p, 8000, &b, &e), TS_OK);
  assert_int_equal(b.rate, 8000);
  assert_true(llabs(b.n - N / 2) <= 2);
  double ss = 0;
  for (int64_t i = 1000; i < b.n - 1000; i++) ss += (double)b.samples[i] * b.samples[i];
  double rms = sqrt(ss / (double)(b.n - 2000));
  assert_true(fabs(rms - 0.5 / sqrt(2.0)) < 0.02); /* lossy codec */
  audio_free(&b);
  free(x);
}

static void test_read_resamples(void **state) {
  char p[512];
  tpath(p, sizeof p, "r44.f32.wav");
  enum { N = 44100 };
  float *x = malloc(N * sizeof *x);
  for (int i = 0; i < N; i++) x[i] = 0.4f * sinf(2 * (float)M_PI * 300.0f * i / 44100.0f);
  ts_err e = {0};
  assert_int_equal(audio_write(p, x, N, 44100, &e), TS_OK);
  audio_buf b;
  assert_int_equal(audio_read(p, 16000, &b, &e), TS_OK);
  assert_int_equal(b.rate, 16000);
  assert_int_equal(b.n, 16000);
  for (int i = 2000; i < 14000; i += 97)
    assert_true(fabs(b.samples[i] - 0.4 * sin(2 * M_PI * 300.0 * i / 16000.0)) < 2e-3);
  audio_free(&b);
  /* audio_read_expect refuses it instead */
  assert_int_equal(audio_read_expect(p, 16000, &b, &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, p));
  assert_non_null(strstr(e.msg, "44100"));
  assert_non_null(strstr(e.msg, "16000"));
  assert_null(b.samples);
  /* and takes it at its own rate */
  assert_int_equal(audio_read_expect(p, 44100, &b, &e), TS_OK);
  assert_int_equal(b.n, N);
  audio_free(&b);
  free(x);
}

static void write_bytes(const char *p, const void *d, size_t n) {
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  if (n) assert_int_equal(fwrite(d, 1, n, f), n);
  fclose(f);
}

static void expect_fail(const char *p, ts_code code) {
  audio_buf b = {(float *)1, 7, 3};
  ts_err e = {0};
  int rc = audio_read(p, 0, &b, &e);
  assert_int_equal(rc, code);
  assert_int_equal(e.code, code);
  assert_non_null(strstr(e.msg, p));
  assert_null(b.samples);
  assert_int_equal(b.n, 0);
  e.msg[0] = 0;
  assert_int_equal(audio_read_expect(p, 16000, &b, &e), code);
  assert_non_null(strstr(e.msg, p));
  e.msg[0] = 0;
  assert_int_equal(audio_read(p, 8000, &b, NULL), code); /* a NULL ts_err is fine */
}

static void test_bad_inputs(void **state) {
  char p[512];
  tpath(p, sizeof p, "missing.wav");
  expect_fail(p, TS_EIO);
  {
    audio_buf b;
    ts_err e = {0};
    audio_read(p, 0, &b, &e);
    assert_non_null(strstr(e.msg, "No such file"));
  }
  tpath(p, sizeof p, "garbage.wav");
  const char junk[] = "this is certainly not a RIFF file, just some text bytes......";
  write_bytes(p, junk, sizeof junk);
  expect_fail(p, TS_EFORMAT);

  tpath(p, sizeof p, "empty.flac");
  write_bytes(p, "", 0);
  expect_fail(p, TS_EFORMAT);

  /* a real WAV cut inside its header */
  char good[512];
  tpath(good, sizeof good, "good.wav");
  float x[800];
  for (int i = 0; i < 800; i++) x[i] = 0.1f * (float)(i % 10);
  ts_err e = {0};
  assert_int_equal(audio_write(good, x, 800, 16000, &e), TS_OK);
  FILE *f = fopen(good, "rb");
  unsigned char head[64];
  assert_int_equal(fread(head, 1, sizeof head, f), sizeof head);
  fclose(f);
  tpath(p, sizeof p, "trunc_header.wav");
  write_bytes(p, head, 20);
  expect_fail(p, TS_EFORMAT);

  /* a header with no samples after it */
  tpath(p, sizeof p, "nodata.wav");
  assert_int_equal(audio_write(p, x, 0, 16000, &e), TS_OK);
  expect_fail(p, TS_EFORMAT);

  /* a float WAV holding NaN or infinity (was read as is and silently poisoned the features) */
  for (int k = 0; k < 2; k++) {
    float bad[400];
    for (int i = 0; i < 400; i++) bad[i] = 0.1f;
    bad[123] = k ? INFINITY : NAN;
    tpath(p, sizeof p, k ? "inf.f32.wav" : "nan.f32.wav");
    write_multi(p, bad, 400, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    expect_fail(p, TS_EFORMAT);
    audio_buf b;
    audio_read(p, 0, &b, &e);
    assert_non_null(strstr(e.msg, "sample 123 is not a finite number"));
  }

  /* a directory */
  expect_fail(tmpdir, TS_EIO);
}

static void test_truncated_data_reads_what_is_there(void **state) {
  char good[512], p[512];
  tpath(good, sizeof good, "long.wav");
  float x[2000];
  for (int i = 0; i < 2000; i++) x[i] = 0.25f;
  ts_err e = {0};
  assert_int_equal(audio_write(good, x, 2000, 16000, &e), TS_OK);
  FILE *f = fopen(good, "rb");
  unsigned char buf[5000];
  size_t got = fread(buf, 1, sizeof buf, f);
  fclose(f);
  assert_true(got > 2044);
  tpath(p, sizeof p, "cut.wav");
  write_bytes(p, buf, 44 + 1000 * 2); /* half the samples */
  audio_buf b;
  assert_int_equal(audio_read(p, 0, &b, &e), TS_OK);
  assert_int_equal(b.n, 1000);
  assert_true(b.samples[999] == 0.25f);
  audio_free(&b);
}

static void test_long_file(void **state) {
  /* longer than the reader's first buffer (2^22 samples): it has to grow */
  char p[512];
  tpath(p, sizeof p, "long.flac");
  const int64_t n = ((int64_t)1 << 22) + 12345;
  float *x = malloc((size_t)n * sizeof *x);
  for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 1000) / 32768.0f;
  ts_err e = {0};
  assert_int_equal(audio_write(p, x, n, 16000, &e), TS_OK);
  audio_buf b;
  assert_int_equal(audio_read(p, 0, &b, &e), TS_OK);
  assert_int_equal(b.n, n);
  for (int64_t i = 0; i < n; i += 4099) assert_true(b.samples[i] == x[i]);
  assert_true(b.samples[n - 1] == x[n - 1]);
  audio_free(&b);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_wav),
      cmocka_unit_test(test_roundtrip_flac),
      cmocka_unit_test(test_roundtrip_f32),
      cmocka_unit_test(test_write_overwrites_atomically),
      cmocka_unit_test(test_write_errors),
      cmocka_unit_test(test_channel_mixing),
      cmocka_unit_test(test_ogg_read),
      cmocka_unit_test(test_read_resamples),
      cmocka_unit_test(test_bad_inputs),
      cmocka_unit_test(test_truncated_data_reads_what_is_there),
      cmocka_unit_test(test_long_file),
  };
  return cmocka_run_group_tests_name("audio_io", tests, setup, teardown);
}
