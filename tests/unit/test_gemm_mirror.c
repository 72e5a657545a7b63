/* test_gemm_mirror.c — bf16 mirrors of held weights (gemm_mirror.c) and the CPU's weights hint
 * that drives them: a GEMM reading a mirrored operand gives bit for bit what rounding it per
 * call gives (either operand, transposed or not, strided); a few-row GEMM against a large
 * mirrored weight is the bf16 GEMM (and measurably not f32), below the size rule it stays f32;
 * lookups cover only whole extents inside an open block; hints nest; the f32 precision makes no
 * mirror; the CPU backend mirrors decoding's hint (1) and not a training step's (2), whichever
 * nests in which. Skipped (77) where there is no bf16 GEMM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/philox.h"
#include "tensor/backend.h"
#include "tensor/gemm.h"
#include "tensor/ops.h"

static float *rnd_buf(philox_rng *r, size_t n) {
  float *p = malloc(sizeof(float) * n);
  assert_non_null(p);
  for (size_t i = 0; i < n; i++) p[i] = 2.0f * philox_uniform(r) - 1.0f;
  return p;
}

/* C (M, ldc) of gemm_mp from C0 */
static float *mp_run(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     const float *C0, int ldc) {
  size_t n = (size_t)M * ldc;
  float *C = malloc(sizeof(float) * n);
  assert_non_null(C);
  memcpy(C, C0, sizeof(float) * n);
  gemm_mp(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.5f, C, ldc);
  return C;
}

/* Weights W (a block of params) as B (x W^T, W (N, K)), as B not transposed (dy W, W (K, N)),
 * strided inside the block (ld > cols), and as A (a convolution's W X): with the block mirrored
 * the result is bit for bit the per-call rounding's. */
static void test_same_bits(void **s) {
  (void)s;
  philox_rng r;
  philox_init(&r, 31, 0);
  assert_int_equal(gemm_set_precision("bf16"), TS_OK);
  enum { M = 200, N = 300, K = 260, PAD = 40 };
  const int64_t nw = (int64_t)(N + 8) * (K + PAD) + 16; /* the block: a weight inside, 16 values in */
  float *blk = rnd_buf(&r, (size_t)nw), *X = rnd_buf(&r, (size_t)(M + K) * (N + K)),
        *C0 = rnd_buf(&r, (size_t)(M + K) * (N + K));
  const float *W = blk + 16;
  struct {
    int ta, tb, m, n, k, lda, ldb, w_is_a;
  } cs[] = {
      {0, 1, M, N, K, K, K, 0},        /* x W^T, W (N, K) dense */
      {0, 0, M, N, K, K, N, 0},        /* dy W, W (K, N) */
      {0, 1, M, N, K, K, K + PAD, 0},  /* W strided inside the block */
      {0, 0, N, M, K, K, M, 1},        /* W X, W (N, K) as A */
      {1, 0, K, M, N, K, M, 1},        /* W^T X, W (N, K) stored as A transposed */
  };
  for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
    const float *A = cs[c].w_is_a ? W : X, *B = cs[c].w_is_a ? X : W;
    float *plain = mp_run(cs[c].ta, cs[c].tb, cs[c].m, cs[c].n, cs[c].k, A, cs[c].lda, B, cs[c].ldb, C0, cs[c].n);
    assert_int_equal(gemm_mirror(blk, nw, 1), TS_OK);
    assert_non_null(gemm_mirror_find(W, 1));
    float *mir = mp_run(cs[c].ta, cs[c].tb, cs[c].m, cs[c].n, cs[c].k, A, cs[c].lda, B, cs[c].ldb, C0, cs[c].n);
    assert_int_equal(gemm_mirror(blk, nw, 0), TS_OK);
    if (memcmp(plain, mir, sizeof(float) * (size_t)cs[c].m * cs[c].n)) fail_msg("case %zu: mirrored result differs", c);
    /* and it is the bf16 GEMM, not f32 */
    float *f32 = malloc(sizeof(float) * (size_t)cs[c].m * cs[c].n);
    memcpy(f32, C0, sizeof(float) * (size_t)cs[c].m * cs[c].n);
    gemm_f32(cs[c].ta, cs[c].tb, cs[c].m, cs[c].n, cs[c].k, 1.0f, A, cs[c].lda, B, cs[c].ldb, 0.5f, f32, cs[c].n);
    assert_true(memcmp(f32, mir, sizeof(float) * (size_t)cs[c].m * cs[c].n) != 0);
    free(plain), free(mir), free(f32);
  }
  /* a strided weight whose rows run past the block's end (its dense size would fit): rounded
   * per call, the mirror is not read past its end */
  const int64_t half = (int64_t)N * K + 1000;
  assert_true(half < (int64_t)(N - 1) * (K + PAD) + K && half < nw);
  float *plain = mp_run(0, 1, M, N, K, X, K, blk, K + PAD, C0, N);
  gemm_mirror_release(); /* the mirror's memory is then exactly the block's */
  assert_int_equal(gemm_mirror(blk, half, 1), TS_OK);
  assert_null(gemm_mirror_find(blk, (int64_t)(N - 1) * (K + PAD) + K));
  float *mir = mp_run(0, 1, M, N, K, X, K, blk, K + PAD, C0, N);
  assert_int_equal(gemm_mirror(blk, half, 0), TS_OK);
  assert_memory_equal(plain, mir, sizeof(float) * (size_t)M * N);
  free(plain), free(mir);
  assert_int_equal(gemm_set_precision("f32"), TS_OK);
  free(blk), free(X), free(C0);
}

/* Few rows against a mirrored 768 x 256 weight: the bf16 GEMM (bit for bit gemm_bf16 on the
 * same operands, and not gemm_f32); without the mirror, or below the size rule, gemm_f32. */
static void test_few_rows(void **s) {
  (void)s;
  philox_rng r;
  philox_init(&r, 32, 0);
  assert_int_equal(gemm_set_precision("bf16"), TS_OK);
  enum { N = 768, K = 256 };
  float *W = rnd_buf(&r, (size_t)N * K), *X = rnd_buf(&r, 16 * K), *C0 = rnd_buf(&r, 16 * N);
  float *bf = malloc(sizeof(float) * 8 * N), *f32 = malloc(sizeof(float) * 8 * N);
  static const int rows[] = {8, 4, 2, 1};
  for (int i = 0; i < 4; i++) {
    int M = rows[i];
    int big = (int64_t)M * N * K >= GEMM_MIRROR_MIN_MACS;
    memcpy(bf, C0, sizeof(float) * (size_t)M * N);
    memcpy(f32, C0, sizeof(float) * (size_t)M * N);
    assert_int_equal(gemm_bf16(0, 1, M, N, K, 1.0f, X, K, W, K, 0.5f, bf, N), 0);
    gemm_f32(0, 1, M, N, K, 1.0f, X, K, W, K, 0.5f, f32, N);
    assert_true(memcmp(bf, f32, sizeof(float) * (size_t)M * N) != 0);
    float *off = mp_run(0, 1, M, N, K, X, K, W, K, C0, N);
    assert_int_equal(gemm_mirror(W, (int64_t)N * K, 1), TS_OK);
    float *on = mp_run(0, 1, M, N, K, X, K, W, K, C0, N);
    assert_int_equal(gemm_mirror(W, (int64_t)N * K, 0), TS_OK);
    if (memcmp(off, f32, sizeof(float) * (size_t)M * N)) fail_msg("M %d without a mirror: not the f32 GEMM", M);
    if (memcmp(on, big ? bf : f32, sizeof(float) * (size_t)M * N))
      fail_msg("M %d (%d multiply-adds) with a mirror: not the %s GEMM", M, M * N * K, big ? "bf16" : "f32");
    free(off), free(on);
  }
  /* a weight under GEMM_MIRROR_MIN_W values stays f32 (16 rows: enough multiply-adds) */
  assert_true(128 * K < GEMM_MIRROR_MIN_W && 16 * 128 * K >= GEMM_MIRROR_MIN_MACS);
  assert_int_equal(gemm_mirror(W, 128 * K, 1), TS_OK);
  float *small = mp_run(0, 1, 16, 128, K, X, K, W, K, C0, 128);
  memcpy(f32, C0, sizeof(float) * 16 * 128);
  gemm_f32(0, 1, 16, 128, K, 1.0f, X, K, W, K, 0.5f, f32, 128);
  assert_memory_equal(small, f32, sizeof(float) * 16 * 128);
  assert_int_equal(gemm_mirror(W, 128 * K, 0), TS_OK);
  assert_int_equal(gemm_set_precision("f32"), TS_OK);
  free(small), free(W), free(X), free(C0), free(bf), free(f32);
}

/* lookups: whole extents inside an open block only; nesting; off; the f32 precision */
static void test_scope(void **s) {
  (void)s;
  float *w = calloc(1024, sizeof(float));
  assert_non_null(w);
  w[5] = 1.0f, w[6] = 1.00390625f, w[7] = 1.005859375f; /* 1 + 2^-8: a tie, to even (1); 1 + 3 2^-9 up */
  assert_int_equal(gemm_set_precision("f32"), TS_OK);
  assert_int_equal(gemm_mirror(w + 4, 1000, 1), TS_OK);
  assert_null(gemm_mirror_find(w + 4, 1)); /* f32 precision: no mirror */
  assert_int_equal(gemm_mirror(w + 4, 1000, 0), TS_OK);
  assert_int_equal(gemm_set_precision("bf16"), TS_OK);
  assert_int_equal(gemm_mirror(w + 4, 1000, 1), TS_OK);
  const uint16_t *m = gemm_mirror_find(w + 5, 3);
  assert_non_null(m);
  assert_int_equal(m[0], 0x3f80);
  assert_int_equal(m[1], 0x3f80);
  assert_int_equal(m[2], 0x3f81);
  assert_ptr_equal(gemm_mirror_find(w + 4, 1000), m - 1);
  assert_null(gemm_mirror_find(w + 4, 1001)); /* runs past the end */
  assert_null(gemm_mirror_find(w + 1003, 2));
  assert_null(gemm_mirror_find(w + 3, 1)); /* before it */
  assert_null(gemm_mirror_find((const float *)((const char *)(w + 5) + 2), 1)); /* not on a value */
  assert_int_equal(gemm_mirror(w + 4, 1000, 1), TS_OK); /* nested */
  assert_int_equal(gemm_mirror(w + 4, 1000, 0), TS_OK);
  assert_non_null(gemm_mirror_find(w + 5, 1));
  assert_int_equal(gemm_mirror(w + 4, 1000, 0), TS_OK);
  assert_null(gemm_mirror_find(w + 5, 1));
  /* a later hint rounds again (the weights changed in between) */
  w[5] = -2.0f;
  assert_int_equal(gemm_mirror(w + 4, 1000, 1), TS_OK);
  assert_int_equal(gemm_mirror_find(w + 5, 1)[0], 0xc000);
  assert_int_equal(gemm_mirror(w + 4, 1000, 0), TS_OK);
  gemm_mirror_release();
  assert_null(gemm_mirror_find(w + 5, 1));
  assert_int_equal(gemm_set_precision("f32"), TS_OK);
  free(w);
}

/* the CPU backend: decoding's hint (1) mirrors, a training step's (2) does not, and each off
 * closes the innermost hint whichever kind it was */
static void test_cpu_hint(void **s) {
  (void)s;
  ts_err e = {0};
  backend *be = be_cpu();
  float *w = calloc(64, sizeof(float));
  assert_non_null(w);
  assert_int_equal(gemm_set_precision("bf16"), TS_OK);
  assert_int_equal(op_weights_bf16(be, w, 64, 2, &e), TS_OK);
  assert_null(gemm_mirror_find(w, 64));
  assert_int_equal(op_weights_bf16(be, w, 64, 1, &e), TS_OK); /* generate inside a training step */
  assert_non_null(gemm_mirror_find(w, 64));
  assert_int_equal(op_weights_bf16(be, w, 64, 0, &e), TS_OK);
  assert_null(gemm_mirror_find(w, 64));
  assert_int_equal(op_weights_bf16(be, w, 64, 0, &e), TS_OK);
  assert_int_equal(op_weights_bf16(be, w, 64, 1, &e), TS_OK); /* a training step inside decoding */
  assert_int_equal(op_weights_bf16(be, w, 64, 2, &e), TS_OK);
  assert_int_equal(op_weights_bf16(be, w, 64, 0, &e), TS_OK);
  assert_non_null(gemm_mirror_find(w, 64)); /* the step closed, decoding's mirror stays */
  assert_int_equal(op_weights_bf16(be, w, 64, 0, &e), TS_OK);
  assert_null(gemm_mirror_find(w, 64));
  assert_int_equal(op_weights_bf16(be, w, 64, 0, &e), TS_OK); /* nothing open: nothing to do */
  /* nesting deeper than the backend tracks is refused, and unwinds */
  int opened = 0;
  while (opened < 64 && op_weights_bf16(be, w, 64, 2, &e) == TS_OK) opened++;
  assert_true(opened > 2 && opened < 64);
  assert_non_null(strstr(e.msg, "weights_bf16"));
  for (int i = 0; i < opened; i++) assert_int_equal(op_weights_bf16(be, w, 64, 0, &e), TS_OK);
  assert_int_equal(op_weights_bf16(be, w, 64, 1, &e), TS_OK);
  assert_non_null(gemm_mirror_find(w, 64));
  assert_int_equal(op_weights_bf16(be, w, 64, 0, &e), TS_OK);
  assert_null(gemm_mirror_find(w, 64));
  assert_int_equal(gemm_set_precision("f32"), TS_OK);
  gemm_mirror_release();
  free(w);
}

int main(void) {
  if (!gemm_bf16_available()) {
    fprintf(stderr, "no bf16 GEMM here: not tested\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_bits),
      cmocka_unit_test(test_few_rows),
      cmocka_unit_test(test_scope),
      cmocka_unit_test(test_cpu_hint),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
