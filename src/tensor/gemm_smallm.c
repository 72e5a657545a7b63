/* gemm_smallm.c — f32 GEMM of few rows against a weight stored (N, K): a decoding step's
 * x W^T. OpenBLAS 0.3's sgemm is slow there (8 rows against 768 x 256: 70 us, 42 GFLOP/s on one
 * AVX-512 core); this kernel keeps an MR x NB block of 16-lane partial sums in registers while
 * it walks K once, so each W row is read once per 8 rows of x. Its blocks are sized for
 * AVX-512's 32 vector registers: built for a CPU without AVX-512 it would spill (2-8x slower than
 * OpenBLAS, measured with -march=x86-64-v3), so there gemm_f32 keeps BLAS (GEMM_SMALLM_ON). */
#include "tensor/gemm.h"
#include "tensor/par.h"

#include <stdint.h>
#include <string.h>

#if GEMM_SMALLM_ON

typedef float gsm_v16 __attribute__((vector_size(64)));

static inline gsm_v16 gsm_load(const float *p) {
  gsm_v16 v;
  memcpy(&v, p, sizeof v);
  return v;
}

typedef float gsm_v8 __attribute__((vector_size(32)));
/* a constant shuffle of two vectors' 32 lanes into 16 (GCC before 12 has only __builtin_shuffle,
 * clang only __builtin_shufflevector) */
#if defined(__clang__)
#define GSM_SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
typedef int gsm_i16 __attribute__((vector_size(64)));
#define GSM_SHUF(a, b, ...) __builtin_shuffle(a, b, (gsm_i16){__VA_ARGS__})
#endif
typedef float gsm_v4 __attribute__((vector_size(16)));

/* the 16 lanes' sum, pairwise (halves added, then their halves) */
static inline float gsm_sum(gsm_v16 v) {
  gsm_v8 h[2];
  memcpy(h, &v, sizeof h);
  gsm_v8 s8 = h[0] + h[1];
  gsm_v4 q[2];
  memcpy(q, &s8, sizeof q);
  gsm_v4 s4 = q[0] + q[1];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

/* C[m][n0 + j] = alpha sum_k A[m][k] W[n0 + j][k] + beta C (beta == 0: C not read), m < MR,
 * j < NB: the block's MR x NB sums, 16 lanes each, in registers over K's multiples of 16, then
 * the tail in scalars */
static inline __attribute__((always_inline)) void gsm_block(int MR, int NB, int n0, int K, float alpha,
                                                            const float *A, int lda, const float *W, int ldw,
                                                            float beta, float *C, int ldc) {
  gsm_v16 acc[8][8];
  for (int m = 0; m < MR; m++)
    for (int j = 0; j < NB; j++) acc[m][j] = (gsm_v16){0};
  int K16 = K / 16 * 16;
  for (int k = 0; k < K16; k += 16) {
    gsm_v16 w[8];
    for (int j = 0; j < NB; j++) w[j] = gsm_load(W + (size_t)(n0 + j) * ldw + k);
    for (int m = 0; m < MR; m++) {
      gsm_v16 a = gsm_load(A + (size_t)m * lda + k);
      for (int j = 0; j < NB; j++) acc[m][j] += a * w[j];
    }
  }
  for (int m = 0; m < MR; m++)
    for (int j = 0; j < NB; j++) {
      float s = gsm_sum(acc[m][j]);
      const float *a = A + (size_t)m * lda, *w = W + (size_t)(n0 + j) * ldw;
      for (int k = K16; k < K; k++) s += a[k] * w[k];
      float *c = C + (size_t)m * ldc + n0 + j;
      *c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;
    }
}

/* The 16 lanes' sums of x[0..15] as one vector, lane l holding x[r(l)]'s where r reverses
 * l's 4 bits: four levels of pairwise shuffles and adds, each halving the lanes a sum spans
 * (31 shuffles and 15 adds for 16 sums, against ~10 operations per sum one at a time). */
static inline gsm_v16 gsm_sum16(const gsm_v16 *x) {
  gsm_v16 y[8], z[4], w[2];
  for (int i = 0; i < 8; i++)
    y[i] = GSM_SHUF(x[2 * i], x[2 * i + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
           GSM_SHUF(x[2 * i], x[2 * i + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  for (int i = 0; i < 4; i++)
    z[i] = GSM_SHUF(y[2 * i], y[2 * i + 1], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) +
           GSM_SHUF(y[2 * i], y[2 * i + 1], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
  for (int i = 0; i < 2; i++)
    w[i] = GSM_SHUF(z[2 * i], z[2 * i + 1], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29) +
           GSM_SHUF(z[2 * i], z[2 * i + 1], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
  return GSM_SHUF(w[0], w[1], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30) +
         GSM_SHUF(w[0], w[1], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
}

/* One row of x against W rows n0..n0+15: 16 sums in registers over K's multiples of 16, reduced
 * together (a decoding step's attention scores: K = the head size, where one-at-a-time
 * reductions cost more than the products) */
static void gsm_row16(int n0, int K, float alpha, const float *a, const float *W, int ldw, float beta, float *c) {
  static const int rev[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
  gsm_v16 acc[16];
  for (int j = 0; j < 16; j++) acc[j] = (gsm_v16){0};
  int K16 = K / 16 * 16;
  for (int k = 0; k < K16; k += 16) {
    gsm_v16 x = gsm_load(a + k);
    for (int j = 0; j < 16; j++) acc[rev[j]] += x * gsm_load(W + (size_t)(n0 + j) * ldw + k);
  }
  gsm_v16 sum = gsm_sum16(acc); /* lane j: W row n0 + j (the bit reversal undone) */
  for (int j = 0; j < 16; j++) {
    float s = sum[j];
    const float *w = W + (size_t)(n0 + j) * ldw;
    for (int k = K16; k < K; k++) s += a[k] * w[k];
    c[n0 + j] = beta == 0.0f ? alpha * s : alpha * s + beta * c[n0 + j];
  }
}

/* rows m0.. (MR of them) against every W row: blocks of NB, the last columns one at a time */
static inline __attribute__((always_inline)) void gsm_rows(int MR, int NB, int N, int K, float alpha,
                                                           const float *A, int lda, const float *W, int ldw,
                                                           float beta, float *C, int ldc, int nb0, int nb1) {
  for (int b = nb0; b < nb1; b++) {
    int n0 = b * NB;
    if (n0 + NB <= N && MR == 1) /* NB is 16 then */
      gsm_row16(n0, K, alpha, A, W, ldw, beta, C);
    else if (n0 + NB <= N)
      gsm_block(MR, NB, n0, K, alpha, A, lda, W, ldw, beta, C, ldc);
    else
      for (int n = n0; n < N; n++) gsm_block(MR, 1, n, K, alpha, A, lda, W, ldw, beta, C, ldc);
  }
}

/* the W rows a block takes for MR rows of x: MR x NB sums, NB W vectors and one x vector stay
 * within AVX-512's 32 registers (8 x 4 spilled: 64 against 117 GFLOP/s measured on 2 threads);
 * one row takes 16 (gsm_row16) */
static int gsm_nb(int mr) {
  static const int nb[9] = {0, 16, 8, 6, 6, 4, 4, 3, 3};
  return nb[mr];
}

/* one chunk of at most 8 rows: MR and NB fixed at compile time for each count (the blocks'
 * arrays then live in registers) */
static void gsm_chunk(int MR, int N, int K, float alpha, const float *A, int lda, const float *W, int ldw,
                      float beta, float *C, int ldc, int nb0, int nb1) {
#define GSM_CASE(mr)                                                                      \
  case mr:                                                                                \
    gsm_rows(mr, gsm_nb(mr), N, K, alpha, A, lda, W, ldw, beta, C, ldc, nb0, nb1);        \
    break
  switch (MR) {
    GSM_CASE(1);
    GSM_CASE(2);
    GSM_CASE(3);
    GSM_CASE(4);
    GSM_CASE(5);
    GSM_CASE(6);
    GSM_CASE(7);
    default:
      gsm_rows(8, gsm_nb(8), N, K, alpha, A, lda, W, ldw, beta, C, ldc, nb0, nb1);
  }
#undef GSM_CASE
}

void gemm_f32_smallm(int M, int N, int K, float alpha, const float *A, int lda, const float *W, int ldw, float beta,
                     float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) { /* C = beta C, A and W unread */
    gemm_f32_builtin(0, 1, M, N, 0, alpha, A, lda, W, ldw, beta, C, ldc);
    return;
  }
  for (int m0 = 0; m0 < M; m0 += 8) {
    int mr = M - m0 < 8 ? M - m0 : 8, nb = gsm_nb(mr), blocks = (N + nb - 1) / nb;
    const float *a = A + (size_t)m0 * lda;
    float *c = C + (size_t)m0 * ldc;
    /* the W rows split over the threads (a W that fits in cache is not worth waking them) */
#pragma omp parallel if ((int64_t)N * K >= GEMM_SMALLM_PAR && !par_in_parallel())
    {
      int nt = par_threads(), t = par_thread();
      int b0 = (int)((int64_t)blocks * t / nt), b1 = (int)((int64_t)blocks * (t + 1) / nt);
      gsm_chunk(mr, N, K, alpha, a, lda, W, ldw, beta, c, ldc, b0, b1);
    }
  }
}

#else /* no AVX-512: the form stays with gemm_f32 (BLAS) */

void gemm_f32_smallm(int M, int N, int K, float alpha, const float *A, int lda, const float *W, int ldw, float beta,
                     float *C, int ldc) {
  gemm_f32(0, 1, M, N, K, alpha, A, lda, W, ldw, beta, C, ldc);
}

#endif
