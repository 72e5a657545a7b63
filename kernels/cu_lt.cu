// cu_lt.cu — single GEMMs on cuBLASLt with a cache of plans (cuda_set_lt; on by default,
// TSASR_CUDA_LT=0 turns it off):
// each (shape, leading dims, transposes, operand type, compute type, bias, alignment) gets its
// descriptors and the heuristic's first algorithm once, so a repeated GEMM costs one
// cublasLtMatmul call on the host (cublasGemmEx looks its algorithm up on every call: about
// 17-20 us of host time per decoding GEMM in the H200 profiles, where decoding is bound by the
// host; with these plans 14.6 against 16.9 us, and rollouts ~12 % faster, on 2026-11-27).
// The bias is the GEMM's epilogue (CUBLASLT_EPILOGUE_BIAS) instead of a pass of its own before
// it. A shape with no plan (no algorithm, unsupported) is remembered as such, and the caller
// takes its cuBLAS path.
#include <cublasLt.h>

#include "cu_common.h"

/* what identifies a plan; memset to zero before filling (compared with memcmp) */
typedef struct lt_key {
  int64_t M, N, K, lda, ldb, ldc;
  int ta, tb, bf16, ct, bias;
  int al_a, al_b, al_c; /* alignment classes of A, B and C: 16, 8, 4 or 2 bytes */
  int res;              /* C read from another buffer than D (cu_lt_call.R): its own plan, so that a shape
                           cuBLASLt refuses out of place still takes its in-place plan */
  int pad;              /* explicit (0): the key is compared as bytes, so it has no implicit padding */
} lt_key;
static_assert(sizeof(lt_key) == 6 * sizeof(int64_t) + 10 * sizeof(int), "lt_key has padding bytes");

typedef struct lt_plan {
  lt_key key;
  int used; /* 0 free, 1 a plan, 2 no plan (the caller's cuBLAS path) */
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t a, b, c;
  cublasLtMatmulAlgo_t algo;
} lt_plan;

#define LT_SLOTS 256 /* open addressing; a full probe run evicts its first slot */
#define LT_PROBE 8

static cublasLtHandle_t g_lt;
static int g_lt_state; /* 0 not made, 1 ready, -1 unavailable */
static lt_plan g_plans[LT_SLOTS];
static long g_calls, g_fallbacks;

static int lt_align(const void *p) {
  uintptr_t u = (uintptr_t)p;
  return !(u & 15) ? 16 : !(u & 7) ? 8 : !(u & 3) ? 4 : 2;
}

static uint64_t lt_hash(const lt_key *k) { /* FNV-1a over the key's bytes */
  const unsigned char *p = (const unsigned char *)k;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static void lt_drop(lt_plan *p) {
  if (p->used == 1) {
    cublasLtMatrixLayoutDestroy(p->a);
    cublasLtMatrixLayoutDestroy(p->b);
    cublasLtMatrixLayoutDestroy(p->c);
    cublasLtMatmulDescDestroy(p->op);
  }
  p->used = 0;
}

/* the plan of key k: descriptors and the heuristic's first algorithm (used 1), or none (2) */
static void lt_make(const cu_ctx *c, const lt_key *k, lt_plan *p) {
  memcpy(&p->key, k, sizeof *k); /* bytes, as they are compared */
  p->used = 2;
  cudaDataType_t ab = k->bf16 ? CUDA_R_16BF : CUDA_R_32F;
  cublasOperation_t oa = k->tb ? CUBLAS_OP_T : CUBLAS_OP_N, ob = k->ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  /* row-major C (M,N) = op(A) op(B) is column-major C^T (N,M) = op(B)^T op(A)^T: cuBLASLt's
   * first operand is B (stored column-major as (tb ? K : N) x (tb ? N : K), ld ldb), its
   * second A ((ta ? M : K) x (ta ? K : M), ld lda), its output (N x M, ld ldc) */
  cublasLtMatmulDesc_t op = NULL;
  cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
  cublasLtMatmulPreference_t pref = NULL;
  if (cublasLtMatmulDescCreate(&op, (cublasComputeType_t)k->ct, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS) return;
  int ok = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &oa, sizeof oa) == CUBLAS_STATUS_SUCCESS &&
           cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &ob, sizeof ob) == CUBLAS_STATUS_SUCCESS;
  if (ok && k->bias) {
    cublasLtEpilogue_t ep = CUBLASLT_EPILOGUE_BIAS;
    cudaDataType_t bt = CUDA_R_32F;
    ok = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep) == CUBLAS_STATUS_SUCCESS &&
         cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt) ==
             CUBLAS_STATUS_SUCCESS;
  }
  ok = ok &&
       cublasLtMatrixLayoutCreate(&la, ab, (uint64_t)(k->tb ? k->K : k->N), (uint64_t)(k->tb ? k->N : k->K), k->ldb) ==
           CUBLAS_STATUS_SUCCESS &&
       cublasLtMatrixLayoutCreate(&lb, ab, (uint64_t)(k->ta ? k->M : k->K), (uint64_t)(k->ta ? k->K : k->M), k->lda) ==
           CUBLAS_STATUS_SUCCESS &&
       cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, (uint64_t)k->N, (uint64_t)k->M, k->ldc) == CUBLAS_STATUS_SUCCESS &&
       cublasLtMatmulPreferenceCreate(&pref) == CUBLAS_STATUS_SUCCESS;
  if (ok) {
    size_t ws = c->blas_ws ? CU_BLAS_WS : 0;
    uint32_t al[3] = {(uint32_t)k->al_b, (uint32_t)k->al_a, (uint32_t)k->al_c}; /* cuBLASLt's A, B, C/D */
    ok = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws) ==
             CUBLAS_STATUS_SUCCESS &&
         cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al[0],
                                              sizeof al[0]) == CUBLAS_STATUS_SUCCESS &&
         cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al[1],
                                              sizeof al[1]) == CUBLAS_STATUS_SUCCESS &&
         cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al[2],
                                              sizeof al[2]) == CUBLAS_STATUS_SUCCESS &&
         cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al[2],
                                              sizeof al[2]) == CUBLAS_STATUS_SUCCESS;
  }
  cublasLtMatmulHeuristicResult_t res;
  int n = 0;
  if (ok && cublasLtMatmulAlgoGetHeuristic(g_lt, op, la, lb, lc, lc, pref, 1, &res, &n) == CUBLAS_STATUS_SUCCESS &&
      n > 0 && res.state == CUBLAS_STATUS_SUCCESS) {
    p->op = op, p->a = la, p->b = lb, p->c = lc, p->algo = res.algo;
    p->used = 1;
    cublasLtMatmulPreferenceDestroy(pref);
    return;
  }
  if (pref) cublasLtMatmulPreferenceDestroy(pref);
  if (la) cublasLtMatrixLayoutDestroy(la);
  if (lb) cublasLtMatrixLayoutDestroy(lb);
  if (lc) cublasLtMatrixLayoutDestroy(lc);
  cublasLtMatmulDescDestroy(op);
}

int cu_lt_gemm(backend *be, const cu_lt_call *g, int *done) {
  cu_ctx *c = cu_of(be);
  *done = 0;
  if (!c->lt || g->M <= 0 || g->N <= 0 || g->K <= 0) return TS_OK;
  if (!g_lt_state) g_lt_state = cublasLtCreate(&g_lt) == CUBLAS_STATUS_SUCCESS ? 1 : -1;
  /* the bias epilogue reads a 16-byte aligned vector */
  if (g_lt_state < 0 || (g->bias && lt_align(g->bias) < 16)) {
    g_fallbacks++;
    return TS_OK;
  }
  lt_key k;
  memset(&k, 0, sizeof k);
  k.M = g->M, k.N = g->N, k.K = g->K, k.lda = g->lda, k.ldb = g->ldb, k.ldc = g->ldc;
  k.ta = g->ta, k.tb = g->tb, k.bf16 = g->bf16, k.bias = g->bias != NULL;
  k.ct = g->bf16 || c->gemm == TS_GEMM_F32 ? CUBLAS_COMPUTE_32F
         : c->gemm == TS_GEMM_BF16         ? CUBLAS_COMPUTE_32F_FAST_16BF
                                           : CUBLAS_COMPUTE_32F_FAST_TF32;
  k.al_a = lt_align(g->A), k.al_b = lt_align(g->B), k.al_c = lt_align(g->C);
  if (g->R && lt_align(g->R) < k.al_c) k.al_c = lt_align(g->R); /* read as C, written as D: the plan fits both */
  k.res = g->R != NULL;
  uint64_t h = lt_hash(&k);
  lt_plan *p = NULL;
  for (int i = 0; i < LT_PROBE && !p; i++) {
    lt_plan *q = &g_plans[(h + (uint64_t)i) % LT_SLOTS];
    if (q->used && !memcmp(&q->key, &k, sizeof k)) p = q;
  }
  if (!p) {
    for (int i = 0; i < LT_PROBE && !p; i++) {
      lt_plan *q = &g_plans[(h + (uint64_t)i) % LT_SLOTS];
      if (!q->used) p = q;
    }
    if (!p) p = &g_plans[h % LT_SLOTS];
    lt_drop(p);
    lt_make(c, &k, p);
  }
  if (p->used != 1) {
    g_fallbacks++;
    return TS_OK;
  }
  if (g->bias &&
      cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias, sizeof g->bias) !=
          CUBLAS_STATUS_SUCCESS) {
    g_fallbacks++;
    return TS_OK;
  }
  c->launches++;
  const float *cin = g->R ? g->R : g->C; /* the residual, or C itself (in place) */
  cublasStatus_t st = cublasLtMatmul(g_lt, p->op, &g->alpha, g->B, p->a, g->A, p->b, &g->beta, cin, p->c, g->C, p->c,
                                     &p->algo, c->blas_ws, c->blas_ws ? CU_BLAS_WS : 0, cu_stream());
  if (st == CUBLAS_STATUS_NOT_SUPPORTED) { /* nothing launched: this shape takes the cuBLAS path from now on */
    lt_drop(p);
    memcpy(&p->key, &k, sizeof k), p->used = 2;
    g_fallbacks++;
    return TS_OK;
  }
  if (st != CUBLAS_STATUS_SUCCESS) return cu_fail_blas("cublasLtMatmul", st);
  g_calls++;
  *done = 1;
  return TS_OK;
}

extern "C" void cuda_lt_counts(long *calls, long *fallbacks) {
  if (calls) *calls = g_calls;
  if (fallbacks) *fallbacks = g_fallbacks;
}
