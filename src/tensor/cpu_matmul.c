/* cpu_matmul.c — batched matmul with optional transposes and bias, and its backward; x (a, not
 * transposed) may be a bf16 activation (op_act_dtype), which gemm_mp16 takes as it is. */
#include <string.h>

#include "tensor/cpu_ops.h"
#include "tensor/gemm.h"

/* Matrix geometry of a batched operand: the last two dims are the matrix (rows, cols). */
typedef struct mm_geom {
  int64_t batch, rows, cols;
} mm_geom;

static mm_geom mm_geom_of(const tensor *t) {
  mm_geom g;
  g.rows = t->ne[t->ndim - 2];
  g.cols = t->ne[t->ndim - 1];
  g.batch = 1; /* the leading dims (not numel / (rows cols): a matrix may have no rows) */
  for (int i = 0; i < t->ndim - 2; i++) g.batch *= t->ne[i];
  return g;
}

/* a's storage: f32, or bf16 bits (an activation stored in bf16, op_act_dtype; never transposed);
 * AP(i) is its i-th element */
#define A16 (a->dtype == DT_BF16)
#define MM_TRY(x)         \
  do {                    \
    int rc_ = (x);        \
    if (rc_) return rc_;  \
  } while (0)
#define AP(i) ((const void *)((const char *)a->data + (size_t)(i) * (A16 ? 2 : 4)))

int cpu_matmul(backend *be, const tensor *a, const tensor *b, const tensor *bias, tensor *c, int ta,
                int tb, float beta) {
  mm_geom ga = mm_geom_of(a), gb = mm_geom_of(b), gc = mm_geom_of(c);
  int64_t M = gc.rows, N = gc.cols, K = ta ? ga.rows : ga.cols;
  float *cp = cpu_f(c);
  const float *bp = cpu_f(b);
  if (A16) MM_TRY(gemm_mp16_reserve(tensor_numel(a))); /* before c is touched */
  if (bias) {
    const float *bs = cpu_f(bias);
    int64_t rows = gc.batch * M;
#pragma omp parallel for if (rows * N > 65536)
    for (int64_t r = 0; r < rows; r++) {
      float *cr = cp + r * N;
      if (beta == 0.0f)
        memcpy(cr, bs, sizeof(float) * (size_t)N);
      else
        for (int64_t j = 0; j < N; j++) cr[j] = beta * cr[j] + bs[j];
    }
    beta = 1.0f;
  }
  if (gb.batch == 1 && !ta) {
    /* one GEMM over all batches: A rows are contiguous across the batch */
    return gemm_mp16(0, tb, (int)(gc.batch * M), (int)N, (int)K, 1.0f, AP(0), A16, (int)K, bp, 0, (int)gb.cols,
                     beta, cp, (int)N);
  }
  for (int64_t i = 0; i < gc.batch; i++) {
    const float *bi = bp + (gb.batch == 1 ? 0 : i) * gb.rows * gb.cols;
    MM_TRY(gemm_mp16(ta, tb, (int)M, (int)N, (int)K, 1.0f, AP((ga.batch == 1 ? 0 : i) * ga.rows * ga.cols), A16,
                     (int)ga.cols, bi, 0, (int)gb.cols, beta, cp + i * M * N, (int)N));
  }
  return TS_OK;
}

int cpu_matmul_res(backend *be, const tensor *a, const tensor *b, const tensor *bias, const tensor *r, tensor *c,
                   int ta, int tb) {
  if (r->data != c->data) MM_TRY(cpu_copy(be, r, c));
  return cpu_matmul(be, a, b, bias, c, ta, tb, 1.0f);
}

int cpu_matmul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da,
                    tensor *db, tensor *dbias, int ta, int tb, int da_set) {
  mm_geom ga = mm_geom_of(a), gb = mm_geom_of(b), gc = mm_geom_of(dc);
  int64_t M = gc.rows, N = gc.cols, K = ta ? ga.rows : ga.cols;
  const float dab = da_set ? 0.0f : 1.0f; /* dA written (beta 0) or added to */
  if (da && da_set && (N == 0 || M == 0)) { /* no product to write: dA is zero */
    cpu_fill(be, da, 0.0f);
    da = NULL;
  }
  const float *bp = cpu_f(b), *g = cpu_f(dc);
  int lda = (int)ga.cols, ldb = (int)gb.cols;
  if (A16 && db) MM_TRY(gemm_mp16_reserve(tensor_numel(a))); /* before any gradient is touched */
  if (dbias) {
    float *dbs = cpu_f(dbias);
    int64_t rows = gc.batch * M;
#pragma omp parallel for if (rows * N > 65536)
    for (int64_t j = 0; j < N; j++) {
      double s = 0;
      for (int64_t r = 0; r < rows; r++) s += g[r * N + j];
      dbs[j] += (float)s;
    }
  }
  int fold = gb.batch == 1 && !ta; /* batches folded into M */
  if (da) { /* (does not read a) */
    float *dap = cpu_f(da);
    if (fold) {
      /* dA (BM,K) += dC (BM,N) op(B)^T */
      gemm_mp(0, !tb, (int)(gc.batch * M), (int)K, (int)N, 1.0f, g, (int)N, bp, ldb, dab, dap, (int)K);
    } else {
      for (int64_t i = 0; i < gc.batch; i++) {
        const float *bi = bp + (gb.batch == 1 ? 0 : i) * gb.rows * gb.cols;
        const float *gi = g + i * M * N;
        float *dai = dap + i * ga.rows * ga.cols;
        if (!ta) /* dA (M,K) += dC op(B)^T */
          gemm_mp(0, !tb, (int)M, (int)K, (int)N, 1.0f, gi, (int)N, bi, ldb, dab, dai, lda);
        else /* dA stored (K,M) += op(B) dC^T */
          gemm_mp(tb, 1, (int)K, (int)M, (int)N, 1.0f, bi, ldb, gi, (int)N, dab, dai, lda);
      }
    }
  }
  if (db) {
    float *dbp = cpu_f(db);
    if (fold) {
      if (!tb) /* dB (K,N) += A^T dC over all rows */
        return gemm_mp16(1, 0, (int)K, (int)N, (int)(gc.batch * M), 1.0f, AP(0), A16, (int)K, g, 0, (int)N, 1.0f,
                         dbp, ldb);
      /* dB stored (N,K) += dC^T A */
      return gemm_mp16(1, 0, (int)N, (int)K, (int)(gc.batch * M), 1.0f, g, 0, (int)N, AP(0), A16, (int)K, 1.0f, dbp,
                       ldb);
    }
    for (int64_t i = 0; i < gc.batch; i++) {
      const void *ai = AP((ga.batch == 1 ? 0 : i) * ga.rows * ga.cols);
      const float *gi = g + i * M * N;
      float *dbi = dbp + (gb.batch == 1 ? 0 : i) * gb.rows * gb.cols;
      if (!tb) /* dB (K,N) += op(A)^T dC */
        MM_TRY(gemm_mp16(!ta, 0, (int)K, (int)N, (int)M, 1.0f, ai, A16, lda, gi, 0, (int)N, 1.0f, dbi, ldb));
      else /* dB stored (N,K) += dC^T op(A) */
        MM_TRY(gemm_mp16(1, ta, (int)N, (int)K, (int)M, 1.0f, gi, 0, (int)N, ai, A16, lda, 1.0f, dbi, ldb));
    }
  }
  return TS_OK;
}
