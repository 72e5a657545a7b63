/* test_gemm_bf16.c — the CPU's bf16 GEMM precision (gemm_bf16.c, gemm_mp): every shape, transpose,
 * leading dimension, alpha and beta equals a double-precision reference over the bf16-rounded
 * operands within f32 summation error, and is measurably NOT the f32 product (the operands really
 * are rounded); ragged edges and padded C columns; NaN; gemm_mp's size rule; concurrent calls;
 * the precision setting's errors. Skipped (77) where there is no bf16 GEMM (a build without
 * oneDNN, a CPU without AVX-512), after checking that bf16 is then refused with the reason. */
#include <math.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/philox.h"
#include "tensor/backend.h"
#include "tensor/gemm.h"
#include "tensor/tensor.h"

static float rnd_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

typedef struct mats {
  int ta, tb, M, N, K, lda, ldb, ldc;
  float *A, *B, *C0;
} mats;

static void mats_make(mats *m, philox_rng *r, int ta, int tb, int M, int N, int K, int pad) {
  m->ta = ta, m->tb = tb, m->M = M, m->N = N, m->K = K;
  m->lda = (ta ? M : K) + pad, m->ldb = (tb ? K : N) + pad, m->ldc = N + pad;
  size_t na = (size_t)(ta ? K : M) * m->lda, nb = (size_t)(tb ? N : K) * m->ldb, nc = (size_t)M * m->ldc;
  m->A = malloc(sizeof(float) * na), m->B = malloc(sizeof(float) * nb), m->C0 = malloc(sizeof(float) * nc);
  for (size_t i = 0; i < na; i++) m->A[i] = 2.0f * philox_uniform(r) - 1.0f;
  for (size_t i = 0; i < nb; i++) m->B[i] = 2.0f * philox_uniform(r) - 1.0f;
  for (size_t i = 0; i < nc; i++) m->C0[i] = 2.0f * philox_uniform(r) - 1.0f;
}

static void mats_free(mats *m) { free(m->A), free(m->B), free(m->C0); }

static float a_at(const mats *m, int i, int k) { return m->ta ? m->A[(size_t)k * m->lda + i] : m->A[(size_t)i * m->lda + k]; }
static float b_at(const mats *m, int k, int j) { return m->tb ? m->B[(size_t)j * m->ldb + k] : m->B[(size_t)k * m->ldb + j]; }

/* Checks C against the reference over rounded operands (error bound from f32 summation) and
 * returns how many entries are farther from the UNROUNDED product than that bound allows. */
static int check(const mats *m, float alpha, float beta, const float *C, const char *what) {
  int far = 0;
  for (int i = 0; i < m->M; i++) {
    for (int j = 0; j < m->N; j++) {
      double s = 0, sa = 0, s32 = 0;
      for (int k = 0; k < m->K; k++) {
        double p = (double)rnd_bf16(a_at(m, i, k)) * rnd_bf16(b_at(m, k, j));
        s += p, sa += fabs(p), s32 += (double)a_at(m, i, k) * b_at(m, k, j);
      }
      double c0 = m->C0[(size_t)i * m->ldc + j];
      double ref = alpha * s + beta * c0, ref32 = alpha * s32 + beta * c0;
      double bound = (m->K + 4) * 0x1p-24 * (fabs(alpha) * sa + fabs(beta * c0)) + 1e-30;
      double got = C[(size_t)i * m->ldc + j];
      if (fabs(got - ref) > bound)
        fail_msg("%s: ta %d tb %d M %d N %d K %d alpha %g beta %g: C[%d][%d] = %.9g, reference %.9g (bound %.3g)", what,
                 m->ta, m->tb, m->M, m->N, m->K, alpha, beta, i, j, got, ref, bound);
      far += fabs(got - ref32) > bound;
    }
    for (int j = m->N; j < m->ldc; j++) /* C's padding columns are not C */
      if (memcmp(&C[(size_t)i * m->ldc + j], &m->C0[(size_t)i * m->ldc + j], sizeof(float)))
        fail_msg("%s: M %d N %d: padding C[%d][%d] was written", what, m->M, m->N, i, j);
  }
  return far;
}

static float *run_bf16(const mats *m, float alpha, float beta) {
  float *C = malloc(sizeof(float) * (size_t)m->M * m->ldc);
  memcpy(C, m->C0, sizeof(float) * (size_t)m->M * m->ldc);
  assert_int_equal(gemm_bf16(m->ta, m->tb, m->M, m->N, m->K, alpha, m->A, m->lda, m->B, m->ldb, beta, C, m->ldc), 0);
  return C;
}

/* every transpose pair over dims on both sides of the 64-row / 64-column / 32-deep grains */
static void test_shapes(void **s) {
  (void)s;
  static const int dims[][3] = {{1, 1, 1}, {7, 5, 3}, {64, 64, 32}, {65, 63, 33}, {130, 70, 200}, {63, 129, 64},
                                {200, 64, 17}, {64, 200, 96}, {129, 129, 1}};
  static const float ab[][2] = {{1.0f, 0.0f}, {0.37f, 1.0f}, {1.0f, -0.5f}};
  philox_rng r;
  philox_init(&r, 11, 0);
  long fb = gemm_bf16_fallbacks(), er = gemm_bf16_errors();
  int far = 0, total = 0;
  for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
    for (int t = 0; t < 4; t++)
      for (size_t c = 0; c < sizeof ab / sizeof ab[0]; c++) {
        mats m;
        mats_make(&m, &r, t & 1, t >> 1, dims[d][0], dims[d][1], dims[d][2], (int)(d % 3) * 3);
        float *C = run_bf16(&m, ab[c][0], ab[c][1]);
        far += check(&m, ab[c][0], ab[c][1], C, "gemm_bf16");
        total += m.M * m.N;
        free(C);
        mats_free(&m);
      }
  /* rounding 8 mantissa bits away must show on most entries; an f32 GEMM would show on none */
  if (far < total / 2) fail_msg("only %d of %d entries differ from the unrounded product: operands not rounded?", far, total);
  assert_int_equal(gemm_bf16_fallbacks(), fb);
  assert_int_equal(gemm_bf16_errors(), er);
}

/* K = 0 or alpha = 0 scale C by beta (BLAS semantics); M or N = 0 do nothing */
static void test_degenerate(void **s) {
  (void)s;
  float A[4] = {1, 2, 3, 4}, B[4] = {1, 1, 1, 1}, C[4] = {1, 2, 3, 4};
  assert_int_equal(gemm_bf16(0, 0, 2, 2, 0, 1.0f, A, 2, B, 2, 0.5f, C, 2), 0);
  assert_true(C[0] == 0.5f && C[3] == 2.0f);
  assert_int_equal(gemm_bf16(0, 0, 2, 2, 2, 0.0f, A, 2, B, 2, 2.0f, C, 2), 0);
  assert_true(C[0] == 1.0f && C[3] == 4.0f);
  assert_int_equal(gemm_bf16(0, 0, 0, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2), 0);
  assert_true(C[0] == 1.0f);
}

/* a NaN in A spoils its row of C and only that row, whatever its payload: 0x7fffffff and
 * 0x7f800001 would round to -0 and Inf without the rounding's NaN rule */
static void test_nan(void **s) {
  (void)s;
  static const uint32_t nans[] = {0x7fc00000u, 0x7fffffffu, 0x7f800001u, 0xffffffffu};
  philox_rng r;
  philox_init(&r, 12, 0);
  for (size_t k = 0; k < sizeof nans / sizeof nans[0]; k++) {
    mats m;
    mats_make(&m, &r, 0, 0, 70, 66, 40, 0);
    memcpy(&m.A[5 * m.lda + 3], &nans[k], sizeof(float));
    float *C = run_bf16(&m, 1.0f, 0.0f);
    for (int i = 0; i < m.M; i++)
      for (int j = 0; j < m.N; j++)
        if (isnan(C[(size_t)i * m.ldc + j]) != (i == 5))
          fail_msg("NaN 0x%08x: C[%d][%d] = %g", nans[k], i, j, C[(size_t)i * m.ldc + j]);
    free(C);
    mats_free(&m);
  }
}

/* gemm_mp: f32 mode is gemm_f32 bit for bit; bf16 mode is gemm_bf16 from GEMM_BF16_MIN_MACS
 * multiply-adds on with M, N >= GEMM_BF16_MIN_MN, and gemm_f32 otherwise */
static void test_mp_rule(void **s) {
  (void)s;
  philox_rng r;
  philox_init(&r, 13, 0);
  static const int dims[][3] = {{256, 256, 128}, {256, 256, 127}, {63, 512, 512}, {64, 512, 512}, {512, 63, 512}};
  for (int d = 0; d < 5; d++) {
    mats m;
    mats_make(&m, &r, 0, 1, dims[d][0], dims[d][1], dims[d][2], 0);
    size_t n = (size_t)m.M * m.ldc;
    float *c32 = malloc(sizeof(float) * n), *cmp = malloc(sizeof(float) * n), *cbf = run_bf16(&m, 1.0f, 1.0f);
    memcpy(c32, m.C0, sizeof(float) * n);
    gemm_f32(0, 1, m.M, m.N, m.K, 1.0f, m.A, m.lda, m.B, m.ldb, 1.0f, c32, m.ldc);
    for (int mode = 0; mode < 2; mode++) {
      assert_int_equal(gemm_set_precision(mode ? "bf16" : "f32"), TS_OK);
      assert_string_equal(gemm_precision(), mode ? "bf16" : "f32");
      memcpy(cmp, m.C0, sizeof(float) * n);
      gemm_mp(0, 1, m.M, m.N, m.K, 1.0f, m.A, m.lda, m.B, m.ldb, 1.0f, cmp, m.ldc);
      int big = (long long)m.M * m.N * m.K >= GEMM_BF16_MIN_MACS && m.M >= GEMM_BF16_MIN_MN && m.N >= GEMM_BF16_MIN_MN;
      const float *want = mode && big ? cbf : c32;
      if (memcmp(cmp, want, sizeof(float) * n))
        fail_msg("gemm_mp in %s mode, %lld MACs: not the %s GEMM", mode ? "bf16" : "f32", (long long)m.M * m.N * m.K,
                 mode && big ? "bf16" : "f32");
    }
    assert_int_equal(gemm_set_precision("f32"), TS_OK);
    assert_true(memcmp(cbf, c32, sizeof(float) * n) != 0);
    free(c32), free(cmp), free(cbf);
    mats_free(&m);
  }
}

/* calls from the threads of a parallel region (the attention's per-head GEMMs) equal serial ones */
static void test_concurrent(void **s) {
  (void)s;
  enum { JOBS = 32 };
  philox_rng r;
  philox_init(&r, 14, 0);
  mats m[JOBS];
  float *serial[JOBS], *par[JOBS];
  for (int j = 0; j < JOBS; j++) {
    mats_make(&m[j], &r, j & 1, (j >> 1) & 1, 300 + 13 * j, 260 + 7 * j, 64 + 5 * j, j % 2);
    serial[j] = run_bf16(&m[j], 1.0f, 1.0f);
    par[j] = malloc(sizeof(float) * (size_t)m[j].M * m[j].ldc);
    memcpy(par[j], m[j].C0, sizeof(float) * (size_t)m[j].M * m[j].ldc);
  }
  be_cpu_set_threads(2);
#pragma omp parallel for schedule(dynamic)
  for (int j = 0; j < JOBS; j++)
    gemm_bf16(m[j].ta, m[j].tb, m[j].M, m[j].N, m[j].K, 1.0f, m[j].A, m[j].lda, m[j].B, m[j].ldb, 1.0f, par[j], m[j].ldc);
  for (int j = 0; j < JOBS; j++) {
    if (memcmp(serial[j], par[j], sizeof(float) * (size_t)m[j].M * m[j].ldc))
      fail_msg("job %d: concurrent result differs from the serial one", j);
    free(serial[j]), free(par[j]);
    mats_free(&m[j]);
  }
}

static void test_settings(void **s) {
  (void)s;
  ts_err e = {0};
  assert_int_equal(gemm_set_precision("tf32"), TS_EARG);
  assert_int_equal(gemm_set_precision("fp8"), TS_EARG);
  assert_int_equal(gemm_set_precision(NULL), TS_EARG);
  assert_int_equal(be_set_gemm(be_cpu(), "tf32", &e), TS_EARG);
  assert_non_null(strstr(e.msg, "tf32 needs the cuda device"));
  assert_int_equal(be_set_gemm(be_cpu(), "int8", &e), TS_EARG);
  assert_non_null(strstr(e.msg, "must be f32, tf32 or bf16"));
  assert_int_equal(be_set_gemm(be_cpu(), "bf16", &e), TS_OK);
  assert_string_equal(gemm_precision(), "bf16");
  assert_int_equal(be_set_gemm(be_cpu(), "f32", &e), TS_OK);
  assert_string_equal(gemm_precision(), "f32");
}

int main(void) {
  if (!gemm_bf16_available()) {
    /* without oneDNN, bf16 must be refused with a reason, not silently run in f32 */
    ts_err e = {0};
    if (gemm_set_precision("bf16") != TS_EUNSUP || be_set_gemm(be_cpu(), "bf16", &e) != TS_EUNSUP ||
        !strstr(e.msg, "oneDNN")) {
      fprintf(stderr, "bf16 accepted or refused unclearly without oneDNN: %s\n", e.msg);
      return 1;
    }
    char why[128];
    gemm_bf16_describe(why, sizeof why);
    fprintf(stderr, "no bf16 GEMM here (%s): not tested\n", why);
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shapes),   cmocka_unit_test(test_degenerate), cmocka_unit_test(test_nan),
      cmocka_unit_test(test_mp_rule),  cmocka_unit_test(test_concurrent), cmocka_unit_test(test_settings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
