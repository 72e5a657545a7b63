/* test_gen_check.c — the replay check's part on cache rows a decoding step does not write
 * (gen_check_untouched): rows the step writes (each sequence's row at its length, in every
 * layer, keys and values; a sequence taking no token is computed and written too) may change;
 * any other change is reported by tensor, layer, sequence and position; -0.0 against 0.0 and a
 * NaN's bits count as changes (bit for bit). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "infer/gen_check.h"

enum { L = 2, B = 3, TM = 5, PER = 4, NKV = L * B * TM * PER };

static float g_before[2 * NKV], g_now[2 * NKV];
static const int32_t k_len0[B] = {2, 4, 1}, k_new[B] = {1, 1, 0};

static int64_t at(int v, int l, int r, int t, int c) { return (int64_t)v * NKV + (((int64_t)l * B + r) * TM + t) * PER + c; }

static void reset(void) {
  for (int i = 0; i < 2 * NKV; i++) g_before[i] = g_now[i] = (float)(i % 97) * 0.25f - 3.0f;
}

static int check(ts_err *e) { return gen_check_untouched(g_before, g_now, k_len0, k_new, L, B, TM, PER, 7, e); }

static void test_written_rows_may_change(void **s) {
  (void)s;
  ts_err e = {0};
  reset();
  for (int v = 0; v < 2; v++)
    for (int l = 0; l < L; l++)
      for (int r = 0; r < B; r++) /* sequence 2 takes no token: its row is written all the same */
        for (int c = 0; c < PER; c++) g_now[at(v, l, r, k_len0[r], c)] += 1.0f;
  assert_int_equal(check(&e), TS_OK);
}

static void test_other_changes_named(void **s) {
  (void)s;
  struct {
    int v, l, r, t, c;
    const char *what;
  } cases[] = {
      {0, 0, 0, 3, 0, "key cache layer 0, sequence 0, position 3"},     /* one past the written row */
      {1, 1, 1, 0, 3, "value cache layer 1, sequence 1, position 0"},   /* a row of the prompt */
      {0, 1, 2, 2, 2, "key cache layer 1, sequence 2, position 2"},     /* past a no-token row */
      {1, 0, 0, 1, 1, "value cache layer 0, sequence 0, position 1"},   /* one before the written row */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ts_err e = {0};
    reset();
    g_now[at(cases[i].v, cases[i].l, cases[i].r, cases[i].t, cases[i].c)] += 0.5f;
    assert_int_equal(check(&e), TS_EDEVICE);
    assert_non_null(strstr(e.msg, "decoding step 7 replayed changed"));
    assert_non_null(strstr(e.msg, cases[i].what));
    assert_non_null(strstr(e.msg, "which the step does not write"));
  }
  /* the message says the sequence's length and whether it took a token */
  ts_err e = {0};
  reset();
  g_now[at(0, 1, 2, 2, 2)] += 0.5f;
  assert_int_equal(check(&e), TS_EDEVICE);
  assert_non_null(strstr(e.msg, "length before the step 1, taking none"));
  /* bit for bit: a zero's sign and a NaN differ from what was there */
  reset();
  g_before[at(0, 0, 1, 0, 0)] = 0.0f, g_now[at(0, 0, 1, 0, 0)] = -0.0f;
  assert_int_equal(check(&e), TS_EDEVICE);
  reset();
  g_before[at(1, 1, 0, 4, 2)] = NAN, g_now[at(1, 1, 0, 4, 2)] = NAN;
  assert_int_equal(check(&e), TS_OK); /* the same NaN bits: unchanged */
  g_now[at(1, 1, 0, 4, 2)] = 1.0f;
  assert_int_equal(check(&e), TS_EDEVICE);
  assert_non_null(strstr(e.msg, "value cache layer 1, sequence 0, position 4"));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_written_rows_may_change),
                                     cmocka_unit_test(test_other_changes_named)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
