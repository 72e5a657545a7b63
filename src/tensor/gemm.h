/* gemm.h — single-precision GEMM on row-major matrices: OpenBLAS when built with it,
 * otherwise a cache-blocked OpenMP kernel. C (M,N) = alpha op(A) op(B) + beta C, where
 * op(A) is (M,K) [A stored (K,M) when ta] and op(B) is (K,N) [B stored (N,K) when tb]. */
#ifndef TS_GEMM_H
#define TS_GEMM_H

void gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* The built-in kernel, always available (tests compare it with BLAS). */
void gemm_f32_builtin(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc);

#endif
