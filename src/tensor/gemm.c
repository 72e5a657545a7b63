/* gemm.c — GEMM dispatch (OpenBLAS) and the built-in blocked fallback kernel. */
#include "tensor/gemm.h"
#include "tensor/cpu_scratch.h"
#include "tensor/par.h"
#include "base/err.h"

#include <stdatomic.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#ifdef TS_HAVE_BLAS
#include <cblas.h>
#endif

#define GEMM_MC 64
#define GEMM_KC 256
#define GEMM_NC 512

/* Packs op(A)[i0:i0+mb, k0:k0+kb] into ap (mb, kb) row-major. */
static void gemm_pack_a(int ta, const float *A, int lda, int i0, int k0, int mb, int kb, float *ap) {
  for (int i = 0; i < mb; i++)
    for (int k = 0; k < kb; k++)
      ap[i * kb + k] = ta ? A[(size_t)(k0 + k) * lda + i0 + i] : A[(size_t)(i0 + i) * lda + k0 + k];
}

/* Packs op(B)[k0:k0+kb, j0:j0+nb] into bp (kb, nb) row-major. */
static void gemm_pack_b(int tb, const float *B, int ldb, int k0, int j0, int kb, int nb, float *bp) {
  for (int k = 0; k < kb; k++)
    for (int j = 0; j < nb; j++)
      bp[k * nb + j] = tb ? B[(size_t)(j0 + j) * ldb + k0 + k] : B[(size_t)(k0 + k) * ldb + j0 + j];
}

void gemm_f32_builtin(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc) {
  /* scale C by beta first */
  for (int i = 0; i < M; i++) {
    float *c = C + (size_t)i * ldc;
    if (beta == 0.0f)
      memset(c, 0, sizeof(float) * (size_t)N);
    else if (beta != 1.0f)
      for (int j = 0; j < N; j++) c[j] *= beta;
  }
  if (K == 0 || alpha == 0.0f) return;
  for (int j0 = 0; j0 < N; j0 += GEMM_NC) {
    int nb = N - j0 < GEMM_NC ? N - j0 : GEMM_NC;
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
      int kb = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
      float *bp = malloc(sizeof(float) * (size_t)kb * nb);
      if (!bp) return; /* cannot happen for these small blocks unless memory is exhausted */
      gemm_pack_b(tb, B, ldb, k0, j0, kb, nb, bp);
#pragma omp parallel for schedule(dynamic) if (M > GEMM_MC && !par_in_parallel())
      for (int i0 = 0; i0 < M; i0 += GEMM_MC) {
        int mb = M - i0 < GEMM_MC ? M - i0 : GEMM_MC;
        float ap[GEMM_MC * GEMM_KC];
        gemm_pack_a(ta, A, lda, i0, k0, mb, kb, ap);
        for (int i = 0; i < mb; i++) {
          float *c = C + (size_t)(i0 + i) * ldc + j0;
          const float *a = ap + i * kb;
          for (int k = 0; k < kb; k++) {
            float av = alpha * a[k];
            const float *b = bp + k * nb;
            for (int j = 0; j < nb; j++) c[j] += av * b[j];
          }
        }
      }
      free(bp);
    }
  }
}

void gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (GEMM_SMALLM_ON && !ta && tb && M <= GEMM_SMALLM_MAX_M && K >= 16) {
    gemm_f32_smallm(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#ifdef TS_HAVE_BLAS
  if (K <= 0) {
    gemm_f32_builtin(ta, tb, M, N, 0, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K,
              alpha, A, lda, B, ldb, beta, C, ldc);
#else
  gemm_f32_builtin(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

static atomic_int g_bf16;     /* the precision mode: 0 f32, 1 bf16 */
static atomic_int g_bf16_all; /* bf16 mode takes every GEMM (reference runs: gemm_bf16_all) */

void gemm_bf16_all(int on) { atomic_store(&g_bf16_all, on ? 1 : 0); }

int gemm_set_precision(const char *name) {
  if (!name) return TS_EARG;
  if (!strcmp(name, "f32")) {
    atomic_store(&g_bf16, 0);
    return TS_OK;
  }
  if (strcmp(name, "bf16")) return TS_EARG;
  if (!gemm_bf16_available()) return TS_EUNSUP;
  atomic_store(&g_bf16, 1);
  return TS_OK;
}

const char *gemm_precision(void) { return atomic_load(&g_bf16) ? "bf16" : "f32"; }

/* whether gemm_mp sends this GEMM to the bf16 kernel */
static int gemm_wants_bf16(int M, int N, int K) {
  return atomic_load(&g_bf16) && M > 0 && N > 0 && K > 0 &&
         (atomic_load(&g_bf16_all) ||
          (M >= GEMM_BF16_MIN_MN && N >= GEMM_BF16_MIN_MN && (int64_t)M * N * K >= GEMM_BF16_MIN_MACS));
}

/* op(X) stored as rows x cols with leading dimension ld: its extent in values */
static int64_t gemm_extent(int rows, int cols, int ld) { return (int64_t)(rows - 1) * ld + cols; }

/* whether op(X), stored as rows x cols with leading dimension ld, is inside an open mirror (the
 * bf16 precision only) */
static int gemm_mirrored(const void *X, int rows, int cols, int ld) {
  return atomic_load(&g_bf16) && rows > 0 && cols > 0 && gemm_mirror_has(X, gemm_extent(rows, cols, ld));
}

/* A GEMM against a mirrored weight of wn values, rows being the other operand's: the bf16 kernel
 * reads the mirror with no rounding pass. Measured against the f32 path (gemm_smallm, 1-2
 * threads, weight in cache): bf16 wins from 8 rows on (256 x 256: 1.5x; 4864 x 896: 1.6-1.9x)
 * and loses below them on small weights (1 row against 768 x 256: 0.45-0.6x, oneDNN's ~7 us a
 * call); from 896 x 896 on it is level or ahead at any rows, and decoding streams such weights
 * from memory, where bf16 reads half the bytes. */
static int gemm_mirror_wants(int rows, int64_t wn) {
  return (rows >= GEMM_MIRROR_MIN_ROWS && wn >= GEMM_MIRROR_MIN_W) || wn >= GEMM_MIRROR_BIG_W;
}

/* gemm_bf16_ex with mirrored f32 operands read from their mirrors (a16 / b16 operands are bf16
 * already): 0, -1 (not run: C untouched) or -2 (failed part way), as gemm_bf16 */
static int gemm_mp_bf16(int ta, int tb, int M, int N, int K, float alpha, const void *A, int a16, int lda,
                        const void *B, int b16, int ldb, float beta, float *C, int ldc) {
  int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
  int am = !a16 && gemm_mirrored(A, ar, ac, lda), bm = !b16 && gemm_mirrored(B, br, bc, ldb);
  if (!gemm_wants_bf16(M, N, K) && !(am && gemm_mirror_wants(N, (int64_t)M * K)) &&
      !(bm && gemm_mirror_wants(M, (int64_t)N * K)))
    return -1;
  /* only now are the mirrored operands rounded (where a chunk was not yet) */
  const uint16_t *a = am ? gemm_mirror_find(A, gemm_extent(ar, ac, lda)) : NULL;
  const uint16_t *b = bm ? gemm_mirror_find(B, gemm_extent(br, bc, ldb)) : NULL;
  return gemm_bf16_ex(ta, tb, M, N, K, alpha, a ? (const void *)a : A, a16 || a, lda, b ? (const void *)b : B,
                      b16 || b, ldb, beta, C, ldc);
}

void gemm_mp(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
  if (atomic_load(&g_bf16) && gemm_mp_bf16(ta, tb, M, N, K, alpha, A, 0, lda, B, 0, ldb, beta, C, ldc) != -1)
    return; /* done, or (-2, counted) failed after writing part of C */
  gemm_f32(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* the stored rows x cols block of bf16 bits src (leading dimension ld) widened into scratch,
 * dense (leading dimension cols); NULL when out of memory */
static const float *gemm_widen(const uint16_t *src, int rows, int cols, int ld) {
  float *d = cpu_scratch(SCRATCH_ACT16, (size_t)rows * (size_t)cols + 1);
  if (!d) return NULL;
#pragma omp parallel for schedule(static) if ((int64_t)rows * cols > 65536 && !par_in_parallel())
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) {
      uint32_t u = (uint32_t)src[(size_t)r * ld + c] << 16;
      memcpy(&d[(size_t)r * cols + c], &u, sizeof u);
    }
  return d;
}

int gemm_mp16_reserve(int64_t n) { return cpu_scratch(SCRATCH_ACT16, (size_t)(n > 0 ? n : 0) + 1) ? 0 : TS_ENOMEM; }

int gemm_mp16(int ta, int tb, int M, int N, int K, float alpha, const void *A, int a16, int lda, const void *B,
              int b16, int ldb, float beta, float *C, int ldc) {
  if (a16 && b16) return TS_EARG; /* one scratch buffer: one bf16 operand */
  if (atomic_load(&g_bf16) && gemm_mp_bf16(ta, tb, M, N, K, alpha, A, a16, lda, B, b16, ldb, beta, C, ldc) != -1)
    return 0;
  const float *a = A, *b = B;
  if (M > 0 && N > 0 && K > 0 && (a16 || b16)) { /* one operand in bf16 (the scratch holds one) */
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    if (a16 && !(a = gemm_widen(A, ar, ac, lda))) return TS_ENOMEM;
    if (a16) lda = ac;
    if (b16 && !(b = gemm_widen(B, br, bc, ldb))) return TS_ENOMEM;
    if (b16) ldb = bc;
  }
  gemm_f32(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, C, ldc);
  return 0;
}
