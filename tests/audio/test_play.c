/* test_play.c — playback cursor of the silent sink (advances in real time, stops, restarts,
 * ends), argument checks, and the once-only notice when no device is found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio/play.h"
#include "base/log.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static void test_silent_sink_advances_and_stops(void **state) {
  play *p = NULL;
  ts_err e = {0};
  assert_int_equal(play_open(&p, PLAY_SILENT, &e), TS_OK);
  assert_true(play_is_silent(p));
  assert_int_equal(play_position(p), 0);
  assert_false(play_active(p));
  enum { RATE = 16000, N = 16000 }; /* one second */
  float *x = calloc(N, sizeof *x);
  assert_int_equal(play_start(p, x, N, RATE, 0, &e), TS_OK);
  assert_true(play_active(p));
  sleep_ms(200);
  int64_t a = play_position(p);
  /* real time: about 0.2 s worth, with slack for a loaded machine */
  assert_true(a >= RATE / 5);
  assert_true(a < N);
  play_stop(p);
  assert_false(play_active(p));
  int64_t s = play_position(p);
  assert_true(s >= a);
  sleep_ms(100);
  assert_int_equal(play_position(p), s); /* stopped: the cursor holds */
  play_stop(p);                          /* stopping twice is fine */
  assert_int_equal(play_position(p), s);

  /* restart from the middle: the cursor starts there */
  assert_int_equal(play_start(p, x, N, RATE, N / 2, &e), TS_OK);
  int64_t m = play_position(p);
  assert_true(m >= N / 2 && m < N / 2 + RATE / 10);
  assert_true(play_seconds(p) >= 0.5);
  play_stop(p);

  /* a short buffer plays to its end and the cursor stops at n */
  assert_int_equal(play_start(p, x, 800, RATE, 0, &e), TS_OK); /* 50 ms */
  sleep_ms(150);
  assert_false(play_active(p));
  assert_int_equal(play_position(p), 800);
  play_close(p);
  free(x);
}

static void test_bad_args(void **state) {
  play *p = NULL;
  ts_err e = {0};
  assert_int_equal(play_open(&p, PLAY_SILENT, &e), TS_OK);
  float x[10] = {0};
  assert_int_equal(play_start(p, x, 10, 0, 0, &e), TS_EARG);
  assert_int_equal(play_start(p, x, 10, 16000, 11, &e), TS_EARG);
  assert_int_equal(play_start(p, NULL, 10, 16000, 0, &e), TS_EARG);
  assert_int_equal(play_start(NULL, x, 10, 16000, 0, &e), TS_EARG);
  assert_false(play_active(p));
  play_close(p);
  play_close(NULL);
}

static int notices;
static void count_sink(log_level lv, const char *msg, void *user) {
  if (lv == LOG_WARN && strstr(msg, "silent sink")) notices++;
}

static void test_env_forces_silent(void **state) {
  setenv("TSASR_AUDIO_SILENT", "1", 1);
  play *p = NULL;
  assert_int_equal(play_open(&p, 0, NULL), TS_OK);
  assert_true(play_is_silent(p));
  play_close(p);
  unsetenv("TSASR_AUDIO_SILENT");
}

static void test_device_or_fallback(void **state) {
  /* Without PLAY_SILENT: the real device where there is one, else the silent sink with one
   * notice for the whole process. Either way the cursor moves. */
  log_set_sink(count_sink, NULL);
  notices = 0;
  play *p = NULL, *q = NULL;
  ts_err e = {0};
  assert_int_equal(play_open(&p, 0, &e), TS_OK);
  assert_int_equal(play_open(&q, 0, &e), TS_OK);
  log_set_sink(NULL, NULL);
  if (play_is_silent(p))
    assert_int_equal(notices, 1);
  else
    assert_int_equal(notices, 0);
  float x[8000] = {0};
  assert_int_equal(play_start(p, x, 8000, 16000, 0, &e), TS_OK);
  sleep_ms(200);
  assert_true(play_position(p) > 0);
  play_stop(p);
  play_close(q);
  play_close(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_silent_sink_advances_and_stops),
      cmocka_unit_test(test_bad_args),
      cmocka_unit_test(test_env_forces_silent),
      cmocka_unit_test(test_device_or_fallback),
  };
  return cmocka_run_group_tests_name("play", tests, NULL, NULL);
}
