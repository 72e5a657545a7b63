/* test_gemm_mirror.c — bf16 mirrors of held weights (gemm_mirror.c) and the CPU's weights hint
 * that drives them: a GEMM reading a mirrored operand gives bit for bit what rounding it per
 * call gives (either operand, transposed or not, strided, read in place or copied); the
 * few-row rule (bf16 from 8 rows, or at any rows for a large weight, f32 otherwise; and
 * measurably not f32 when bf16); lookups cover only whole extents inside an open block; NaN
 * payloads stay NaN; the lazy chunk-by-chunk rounding under concurrent lookups; hints nest; the
 * f32 precision makes no mirror; the CPU backend mirrors decoding's hint (1) and not a training
 * step's (2), whichever nests in which. Skipped (77) where there is no bf16 GEMM. */
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
  enum { M = 200, N = 300, KMAX = 260, PAD = 40 };
  const int64_t nw = (int64_t)(N + 8) * (KMAX + PAD) + 16; /* the block: a weight inside, 16 values in */
  float *blk = rnd_buf(&r, (size_t)nw), *X = rnd_buf(&r, (size_t)(M + KMAX) * (N + KMAX)),
        *C0 = rnd_buf(&r, (size_t)(M + KMAX) * (N + KMAX));
  const float *W = blk + 16;
  /* K = 256: dense mirrored operands go to oneDNN in place; K = 260 is padded to 288, so they
   * are copied */
  for (int K = 256; K <= KMAX; K += KMAX - 256) {
    struct {
      int ta, tb, m, n, k, lda, ldb, w_is_a;
    } cs[] = {
        {0, 1, M, N, K, K, K, 0},       /* x W^T, W (N, K) dense */
        {0, 0, M, N, K, K, N, 0},       /* dy W, W (K, N) */
        {0, 1, M, N, K, K, K + PAD, 0}, /* W strided inside the block */
        {0, 0, N, M, K, K, M, 1},       /* W X, W (N, K) as A */
        {1, 0, K, M, N, K, M, 1},       /* W^T X, W (N, K) stored as A transposed */
    };
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
      const float *A = cs[c].w_is_a ? W : X, *B = cs[c].w_is_a ? X : W;
      float *plain = mp_run(cs[c].ta, cs[c].tb, cs[c].m, cs[c].n, cs[c].k, A, cs[c].lda, B, cs[c].ldb, C0, cs[c].n);
      assert_int_equal(gemm_mirror(blk, nw, 1), TS_OK);
      assert_non_null(gemm_mirror_find(W, 1));
      float *mir = mp_run(cs[c].ta, cs[c].tb, cs[c].m, cs[c].n, cs[c].k, A, cs[c].lda, B, cs[c].ldb, C0, cs[c].n);
      assert_int_equal(gemm_mirror(blk, nw, 0), TS_OK);
      if (memcmp(plain, mir, sizeof(float) * (size_t)cs[c].m * cs[c].n))
        fail_msg("K %d case %zu: mirrored result differs", K, c);
      /* and it is the bf16 GEMM, not f32 */
      float *f32 = malloc(sizeof(float) * (size_t)cs[c].m * cs[c].n);
      memcpy(f32, C0, sizeof(float) * (size_t)cs[c].m * cs[c].n);
      gemm_f32(cs[c].ta, cs[c].tb, cs[c].m, cs[c].n, cs[c].k, 1.0f, A, cs[c].lda, B, cs[c].ldb, 0.5f, f32, cs[c].n);
      assert_true(memcmp(f32, mir, sizeof(float) * (size_t)cs[c].m * cs[c].n) != 0);
      free(plain), free(mir), free(f32);
    }
  }
  const int K = KMAX;
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

/* gemm_mp with rows x (N, K) weight W (W as B, x W^T), or W (N, K) as A against a (K, rows)
 * operand (W X): with W mirrored, bit for bit gemm_bf16 on the same operands when want_bf16
 * (and that is not gemm_f32's result), else gemm_f32; without the mirror gemm_f32 either way */
static void rule_case(philox_rng *r, int w_is_a, int rows, int N, int K, int want_bf16) {
  float *W = rnd_buf(r, (size_t)N * K), *X = rnd_buf(r, (size_t)rows * K), *C0 = rnd_buf(r, (size_t)rows * N);
  int m = w_is_a ? N : rows, n = w_is_a ? rows : N, tb = !w_is_a;
  const float *A = w_is_a ? W : X, *B = w_is_a ? X : W;
  int lda = K, ldb = w_is_a ? rows : K;
  size_t cn = (size_t)m * n;
  float *bf = malloc(sizeof(float) * cn), *f32 = malloc(sizeof(float) * cn);
  memcpy(bf, C0, sizeof(float) * cn);
  memcpy(f32, C0, sizeof(float) * cn);
  assert_int_equal(gemm_bf16(0, tb, m, n, K, 1.0f, A, lda, B, ldb, 0.5f, bf, n), 0);
  gemm_f32(0, tb, m, n, K, 1.0f, A, lda, B, ldb, 0.5f, f32, n);
  assert_true(memcmp(bf, f32, sizeof(float) * cn) != 0);
  float *off = mp_run(0, tb, m, n, K, A, lda, B, ldb, C0, n);
  assert_int_equal(gemm_mirror(W, (int64_t)N * K, 1), TS_OK);
  float *on = mp_run(0, tb, m, n, K, A, lda, B, ldb, C0, n);
  assert_int_equal(gemm_mirror(W, (int64_t)N * K, 0), TS_OK);
  if (memcmp(off, f32, sizeof(float) * cn)) fail_msg("%d rows, %d x %d weight, no mirror: not the f32 GEMM", rows, N, K);
  if (memcmp(on, want_bf16 ? bf : f32, sizeof(float) * cn))
    fail_msg("%d rows against a mirrored %d x %d weight (as %s): not the %s GEMM", rows, N, K, w_is_a ? "A" : "B",
             want_bf16 ? "bf16" : "f32");
  free(W), free(X), free(C0), free(bf), free(f32), free(off), free(on);
}

/* the few-row rule: GEMM_MIRROR_MIN_ROWS rows against GEMM_MIRROR_MIN_W values, any rows from
 * GEMM_MIRROR_BIG_W, f32 otherwise (all these are under gemm_mp's own bf16 rule) */
static void test_few_rows(void **s) {
  (void)s;
  philox_rng r;
  philox_init(&r, 32, 0);
  assert_int_equal(gemm_set_precision("bf16"), TS_OK);
  assert_true(768 * 256 >= GEMM_MIRROR_MIN_W && 768 * 256 < GEMM_MIRROR_BIG_W && 1024 * 512 == GEMM_MIRROR_BIG_W &&
              128 * 256 < GEMM_MIRROR_MIN_W && GEMM_MIRROR_MIN_ROWS == 8);
  for (int w_is_a = 0; w_is_a <= 1; w_is_a++) {
    static const int rows[] = {16, 8, 7, 4, 1};
    for (int i = 0; i < 5; i++) rule_case(&r, w_is_a, rows[i], 768, 256, rows[i] >= GEMM_MIRROR_MIN_ROWS);
    rule_case(&r, w_is_a, 1, 1024, 512, 1);
    rule_case(&r, w_is_a, 4, 1024, 512, 1);
    rule_case(&r, w_is_a, 16, 128, 256, 0);
  }
  assert_int_equal(gemm_set_precision("f32"), TS_OK);
}

/* lookups: whole extents inside an open block only; nesting; off; the f32 precision */
static void test_scope(void **s) {
  (void)s;
  float *w = calloc(1024, sizeof(float));
  assert_non_null(w);
  w[5] = 1.0f, w[6] = 1.00390625f, w[7] = 1.005859375f; /* 1 + 2^-8: a tie, to even (1); 1 + 3 2^-9 up */
  static const uint32_t nans[2] = {0x7fffffffu, 0x7f800001u}; /* plain rounding: -0 and Inf */
  memcpy(&w[8], nans, sizeof nans);
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
  assert_int_equal(gemm_mirror_find(w + 8, 1)[0], 0x7fff);
  assert_int_equal(gemm_mirror_find(w + 9, 1)[0], 0x7fc0);
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

/* the mirror is rounded chunk by chunk as lookups reach it: lookups from the threads of a
 * parallel region, over extents that start and end anywhere (inside a chunk, across several),
 * all see the rounding of every value they cover */
static void test_lazy(void **s) {
  (void)s;
  philox_rng r;
  philox_init(&r, 33, 0);
  const int64_t n = 5 * 65536 + 1234; /* five chunks and a ragged one */
  float *w = rnd_buf(&r, (size_t)n);
  w[3 * 65536 - 1] = 1.00390625f; /* ties at chunk edges */
  w[3 * 65536] = 1.005859375f;
  assert_int_equal(gemm_set_precision("bf16"), TS_OK);
  be_cpu_set_threads(2);
  for (int round = 0; round < 3; round++) {
    assert_int_equal(gemm_mirror(w, n, 1), TS_OK);
    enum { LOOKS = 64 };
    int64_t off[LOOKS], len[LOOKS];
    for (int i = 0; i < LOOKS; i++) {
      off[i] = (int64_t)(philox_uniform(&r) * (double)(n - 1));
      len[i] = 1 + (int64_t)(philox_uniform(&r) * (double)(i % 4 == 0 ? 3 * 65536 : 3000));
      if (off[i] + len[i] > n) len[i] = n - off[i];
    }
    int bad = 0;
#pragma omp parallel for schedule(dynamic) reduction(+ : bad)
    for (int i = 0; i < LOOKS; i++) {
      const uint16_t *m = gemm_mirror_find(w + off[i], len[i]);
      if (!m) {
        bad++;
        continue;
      }
      for (int64_t j = 0; j < len[i]; j++) bad += m[j] != f32_to_bf16(w[off[i] + j]);
    }
    assert_int_equal(bad, 0);
    assert_int_equal(gemm_mirror(w, n, 0), TS_OK);
    for (int64_t i = 0; i < n; i += 997) w[i] = -w[i]; /* changed between hints: rounded again */
  }
  assert_int_equal(gemm_set_precision("f32"), TS_OK);
  gemm_mirror_release();
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
  /* an off closes the innermost hint's own block, whatever it names */
  assert_int_equal(op_weights_bf16(be, w, 64, 1, &e), TS_OK);
  assert_int_equal(op_weights_bf16(be, w + 8, 8, 0, &e), TS_OK);
  assert_null(gemm_mirror_find(w, 64));
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
      cmocka_unit_test(test_lazy),
      cmocka_unit_test(test_cpu_hint),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
