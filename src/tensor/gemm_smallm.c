/* gemm_smallm.c — f32 GEMM of few rows against a weight stored (N, K): a decoding step's
 * x W^T. OpenBLAS 0.3's sgemm is slow there (8 rows against 768 x 256: 70 us, 42 GFLOP/s on one
 * AVX-512 core); this kernel keeps an MR x NB block of 16-lane partial sums in registers while
 * it walks K once, so each W row is read once per 8 rows of x. */
#include "tensor/gemm.h"
#include "tensor/par.h"

#include <stdint.h>
#include <string.h>

typedef float gsm_v16 __attribute__((vector_size(64)));

static inline gsm_v16 gsm_load(const float *p) {
  gsm_v16 v;
  memcpy(&v, p, sizeof v);
  return v;
}

typedef float gsm_v8 __attribute__((vector_size(32)));
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

/* rows m0.. (MR of them) against every W row: blocks of NB, the last columns one at a time */
static inline __attribute__((always_inline)) void gsm_rows(int MR, int NB, int N, int K, float alpha,
                                                           const float *A, int lda, const float *W, int ldw,
                                                           float beta, float *C, int ldc, int nb0, int nb1) {
  for (int b = nb0; b < nb1; b++) {
    int n0 = b * NB;
    if (n0 + NB <= N)
      gsm_block(MR, NB, n0, K, alpha, A, lda, W, ldw, beta, C, ldc);
    else
      for (int n = n0; n < N; n++) gsm_block(MR, 1, n, K, alpha, A, lda, W, ldw, beta, C, ldc);
  }
}

/* the W rows a block takes for MR rows of x: MR x NB sums, NB W vectors and one x vector stay
 * within AVX-512's 32 registers (8 x 4 spilled: 64 against 117 GFLOP/s measured on 2 threads) */
static int gsm_nb(int mr) {
  static const int nb[9] = {0, 8, 8, 6, 6, 4, 4, 3, 3};
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
