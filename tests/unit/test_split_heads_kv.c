/* test_split_heads_kv.c — op_split_heads_kv on the CPU against a direct loop (q heads rotated
 * as RoPE does, k rotated into its cache row, v copied into its cache row, every other cache
 * row left as it was), the same result as split_heads followed by a row scatter, and its
 * refusals: rows out of range, rows not increasing, a cache whose rows are not whole heads. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tensor/ops.h"

enum { B = 2, T = 3, HQ = 4, HKV = 2, D = 8, TMAX = 7, H = HQ + 2 * HKV };

static float frand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((*s >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* the rotation of head x (D) at position p, as Hugging Face's RoPE (theta 1e6) */
static void rot(const float *x, int32_t p, float *y) {
  for (int i = 0; i < D / 2; i++) {
    float inv = 1.0f / powf(1e6f, (float)(2 * i) / (float)D), a = (float)p * inv;
    y[i] = x[i] * cosf(a) - x[i + D / 2] * sinf(a);
    y[i + D / 2] = x[i + D / 2] * cosf(a) + x[i] * sinf(a);
  }
}

static void test_against_loop(void **s) {
  (void)s;
  uint64_t seed = 5;
  static float qkv[B * T * H * D], q[B * T * HQ * D], kc[B * TMAX * HKV * D], vc[B * TMAX * HKV * D];
  static float kc0[sizeof kc / sizeof(float)], vc0[sizeof vc / sizeof(float)];
  for (size_t i = 0; i < sizeof qkv / sizeof(float); i++) qkv[i] = frand(&seed);
  for (size_t i = 0; i < sizeof kc / sizeof(float); i++) kc[i] = kc0[i] = frand(&seed), vc[i] = vc0[i] = frand(&seed);
  int32_t len[B] = {2, 4}, pos[B * T], row[B * T];
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) pos[b * T + t] = len[b] + t, row[b * T + t] = b * TMAX + len[b] + t;
  ts_err e = {0};
  tensor X = tensor_f32(qkv, 4, B, T, H, D), Q = tensor_f32(q, 4, B, T, HQ, D),
         KC = tensor_f32(kc, 2, B * TMAX, HKV * D, 0, 0), VC = tensor_f32(vc, 2, B * TMAX, HKV * D, 0, 0);
  assert_int_equal(op_split_heads_kv(be_cpu(), &X, &Q, &KC, &VC, row, pos, 1e6f, &e), TS_OK);
  /* the loop */
  float want[D];
  for (int r = 0; r < B * T; r++)
    for (int h = 0; h < H; h++) {
      const float *x = qkv + ((size_t)r * H + h) * D;
      const float *got = h < HQ         ? q + ((size_t)r * HQ + h) * D
                         : h < HQ + HKV ? kc + ((size_t)row[r] * HKV + h - HQ) * D
                                        : vc + ((size_t)row[r] * HKV + h - HQ - HKV) * D;
      if (h < HQ + HKV)
        rot(x, pos[r], want);
      else
        memcpy(want, x, sizeof want);
      for (int i = 0; i < D; i++) assert_float_equal(got[i], want[i], 1e-6f);
    }
  /* rows not written keep their values */
  for (int rr = 0; rr < B * TMAX; rr++) {
    int written = 0;
    for (int r = 0; r < B * T; r++) written |= row[r] == rr;
    if (written) continue;
    assert_memory_equal(kc + (size_t)rr * HKV * D, kc0 + (size_t)rr * HKV * D, sizeof(float) * HKV * D);
    assert_memory_equal(vc + (size_t)rr * HKV * D, vc0 + (size_t)rr * HKV * D, sizeof(float) * HKV * D);
  }
  /* the same as split_heads and a row scatter, bit for bit */
  static float q2[sizeof q / sizeof(float)], k2[B * T * HKV * D], v2[B * T * HKV * D];
  tensor Q2 = tensor_f32(q2, 4, B, T, HQ, D), K2 = tensor_f32(k2, 4, B, T, HKV, D), V2 = tensor_f32(v2, 4, B, T, HKV, D);
  assert_int_equal(op_split_heads(be_cpu(), &X, &Q2, &K2, &V2, pos, 1e6f, &e), TS_OK);
  assert_memory_equal(q, q2, sizeof q);
  for (int r = 0; r < B * T; r++) {
    assert_memory_equal(kc + (size_t)row[r] * HKV * D, k2 + (size_t)r * HKV * D, sizeof(float) * HKV * D);
    assert_memory_equal(vc + (size_t)row[r] * HKV * D, v2 + (size_t)r * HKV * D, sizeof(float) * HKV * D);
  }
}

static void test_refusals(void **s) {
  (void)s;
  static float qkv[B * T * H * D], q[B * T * HQ * D], kc[B * TMAX * HKV * D], vc[B * TMAX * HKV * D];
  int32_t pos[B * T] = {0, 1, 2, 0, 1, 2}, row[B * T] = {0, 1, 2, 7, 8, 9};
  ts_err e = {0};
  tensor X = tensor_f32(qkv, 4, B, T, H, D), Q = tensor_f32(q, 4, B, T, HQ, D),
         KC = tensor_f32(kc, 2, B * TMAX, HKV * D, 0, 0), VC = tensor_f32(vc, 2, B * TMAX, HKV * D, 0, 0);
  assert_int_equal(op_split_heads_kv(be_cpu(), &X, &Q, &KC, &VC, row, pos, 1e6f, &e), TS_OK);
  row[5] = B * TMAX; /* past the last row */
  assert_int_equal(op_split_heads_kv(be_cpu(), &X, &Q, &KC, &VC, row, pos, 1e6f, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "outside"));
  row[5] = 8; /* the same row twice */
  assert_int_equal(op_split_heads_kv(be_cpu(), &X, &Q, &KC, &VC, row, pos, 1e6f, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "increase"));
  row[5] = 9;
  assert_int_equal(op_split_heads_kv(be_cpu(), &X, &Q, &KC, &VC, NULL, pos, 1e6f, &e), TS_EARG);
  /* a cache whose rows are not whole heads */
  tensor Bad = tensor_f32(kc, 2, B * TMAX * 2, HKV * D / 2, 0, 0);
  assert_int_equal(op_split_heads_kv(be_cpu(), &X, &Q, &Bad, &Bad, row, pos, 1e6f, &e), TS_ESHAPE);
  tensor Bad4 = tensor_f32(kc, 4, B, TMAX, HKV * 2, D / 2);
  assert_int_equal(op_split_heads_kv(be_cpu(), &X, &Q, &Bad4, &Bad4, row, pos, 1e6f, &e), TS_ESHAPE);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_against_loop), cmocka_unit_test(test_refusals)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
