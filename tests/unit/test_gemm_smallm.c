/* test_gemm_smallm.c — the f32 kernel for few rows against a (N, K) weight (gemm_smallm.c):
 * every row count 1..16 with N and K on both sides of its blocks (tails of W rows and of K),
 * padded leading dimensions, alpha and beta, against a double-precision reference within f32
 * summation error; beta = 0 does not read C (NaN there stays out); a NaN in x spoils its row
 * only; the thread split covers every W row once; gemm_f32 takes it for this form (built
 * without AVX-512 the kernel is gemm_f32 itself, and these check that). */
#include <math.h>
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

static float *rnd_buf(philox_rng *r, size_t n) {
  float *p = malloc(sizeof(float) * (n ? n : 1));
  assert_non_null(p);
  for (size_t i = 0; i < n; i++) p[i] = 2.0f * philox_uniform(r) - 1.0f;
  return p;
}

/* C against the reference: alpha sum A W^T + beta C0, within (K + 4) 2^-24 of the terms' sizes;
 * C's padding columns untouched */
static void check(int M, int N, int K, float alpha, const float *A, int lda, const float *W, int ldw, float beta,
                  const float *C0, const float *C, int ldc, const char *what) {
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      double s = 0, sa = 0;
      for (int k = 0; k < K; k++) {
        double p = (double)A[(size_t)i * lda + k] * W[(size_t)j * ldw + k];
        s += p, sa += fabs(p);
      }
      double c0 = beta == 0.0f ? 0.0 : C0[(size_t)i * ldc + j];
      double ref = alpha * s + beta * c0, bound = (K + 4) * 0x1p-24 * (fabs(alpha) * sa + fabs(beta * c0)) + 1e-30;
      double got = C[(size_t)i * ldc + j];
      if (!(fabs(got - ref) <= bound))
        fail_msg("%s: M %d N %d K %d alpha %g beta %g: C[%d][%d] = %.9g, reference %.9g (bound %.3g)", what, M, N, K,
                 alpha, beta, i, j, got, ref, bound);
    }
    for (int j = N; j < ldc; j++)
      if (memcmp(&C[(size_t)i * ldc + j], &C0[(size_t)i * ldc + j], sizeof(float)))
        fail_msg("%s: M %d N %d: padding C[%d][%d] written", what, M, N, i, j);
  }
}

static void test_shapes(void **s) {
  (void)s;
  philox_rng r;
  philox_init(&r, 41, 0);
  static const int Ns[] = {1, 3, 8, 13, 37};
  static const int Ks[] = {16, 17, 31, 48, 261};
  static const float ab[][2] = {{1.0f, 0.0f}, {-0.5f, 1.0f}, {2.0f, 0.25f}};
  for (int M = 1; M <= GEMM_SMALLM_MAX_M; M++)
    for (size_t n = 0; n < sizeof Ns / sizeof Ns[0]; n++)
      for (size_t k = 0; k < sizeof Ks / sizeof Ks[0]; k++)
        for (int pad = 0; pad <= 3; pad += 3) {
          int N = Ns[n], K = Ks[k], lda = K + pad, ldw = K + 2 * pad, ldc = N + pad;
          float *A = rnd_buf(&r, (size_t)M * lda), *W = rnd_buf(&r, (size_t)N * ldw), *C0 = rnd_buf(&r, (size_t)M * ldc);
          float *C = malloc(sizeof(float) * (size_t)M * ldc);
          for (size_t v = 0; v < sizeof ab / sizeof ab[0]; v++) {
            memcpy(C, C0, sizeof(float) * (size_t)M * ldc);
            gemm_f32_smallm(M, N, K, ab[v][0], A, lda, W, ldw, ab[v][1], C, ldc);
            check(M, N, K, ab[v][0], A, lda, W, ldw, ab[v][1], C0, C, ldc, "gemm_f32_smallm");
            /* gemm_f32 takes this kernel for the form: bit for bit */
            float *G = malloc(sizeof(float) * (size_t)M * ldc);
            memcpy(G, C0, sizeof(float) * (size_t)M * ldc);
            gemm_f32(0, 1, M, N, K, ab[v][0], A, lda, W, ldw, ab[v][1], G, ldc);
            if (memcmp(G, C, sizeof(float) * (size_t)M * ldc)) fail_msg("gemm_f32 M %d N %d K %d: not this kernel", M, N, K);
            free(G);
          }
          free(A), free(W), free(C0), free(C);
        }
}

/* beta = 0 ignores C (NaN garbage there must not leak); a NaN in a row of x spoils that row */
static void test_nan(void **s) {
  (void)s;
  philox_rng r;
  philox_init(&r, 42, 0);
  enum { M = 5, N = 40, K = 64 };
  float *A = rnd_buf(&r, M * K), *W = rnd_buf(&r, N * K), *C = malloc(sizeof(float) * M * N);
  for (int i = 0; i < M * N; i++) C[i] = NAN;
  gemm_f32_smallm(M, N, K, 1.0f, A, K, W, K, 0.0f, C, N);
  for (int i = 0; i < M * N; i++)
    if (isnan(C[i])) fail_msg("beta 0: C[%d] is NaN (C was read)", i);
  A[2 * K + 7] = NAN;
  gemm_f32_smallm(M, N, K, 1.0f, A, K, W, K, 0.0f, C, N);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++)
      if (isnan(C[i * N + j]) != (i == 2)) fail_msg("NaN in row 2: C[%d][%d] = %g", i, j, C[i * N + j]);
  free(A), free(W), free(C);
}

/* large enough to split W's rows over threads: the same bits on 1 and 2 threads (each sum's
 * order does not depend on the split, so this catches W rows left out or done twice by it) */
static void test_threads(void **s) {
  (void)s;
  philox_rng r;
  philox_init(&r, 43, 0);
  enum { M = 8, N = 1000, K = 256 };
  assert_true((int64_t)N * K >= GEMM_SMALLM_PAR);
  float *A = rnd_buf(&r, M * K), *W = rnd_buf(&r, (size_t)N * K), *C1 = malloc(sizeof(float) * M * N),
        *C2 = malloc(sizeof(float) * M * N);
  be_cpu_set_threads(1);
  gemm_f32_smallm(M, N, K, 1.0f, A, K, W, K, 0.0f, C1, N);
  be_cpu_set_threads(2);
  gemm_f32_smallm(M, N, K, 1.0f, A, K, W, K, 0.0f, C2, N);
  assert_memory_equal(C1, C2, sizeof(float) * M * N);
  check(M, N, K, 1.0f, A, K, W, K, 0.0f, C1, C1, N, "threads");
  free(A), free(W), free(C1), free(C2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shapes),
      cmocka_unit_test(test_nan),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
