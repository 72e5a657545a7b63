// cu_optim.cu — AdamW (over one buffer, or over the parameter runs in one launch) and the sum of squares for the global gradient norm (double, in a fixed
// order); their kernels are in cu_optim.cuh.
#include <math.h>
#include <stdlib.h>

#include "cu_common.h"
#include "cu_optim.cuh"

int cu_adamw(backend *be, float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
             float beta2, float eps, float wd, int64_t t) {
  if (n <= 0) return TS_OK;
  cu_wcopy_touch(cu_of(be), p, sizeof(float) * (size_t)n); /* the weights' copy does not follow */
  float bc1 = 1.0f - (float)pow(beta1, (double)t);
  float bc2 = 1.0f - (float)pow(beta2, (double)t);
  adamw_k k = {lr, beta1, beta2, eps, wd, lr / bc1, sqrtf(bc2)};
  if (cu_vec_ok(p, g, m, v)) {
    k_adamw4<<<cu_blocks((n + 3) / 4), 256, 0, cu_stream()>>>(p, g, m, v, n, k);
    CU_LAUNCHED("k_adamw4");
  } else {
    k_adamw<<<cu_blocks(n), 256, 0, cu_stream()>>>(p, g, m, v, n, k);
    CU_LAUNCHED("k_adamw");
  }
  return TS_OK;
}

/* the runs as one launch: their table (adamw_seg, empty runs left out) staged once and reused
 * while it stays the same (cu_stage_same: the parameter layout does not change between steps);
 * the weights' bf16 copy updated too where it mirrors p (cu_wcopy_follow).
 * One launch per run instead while the switch is off, inside a captured step (a staged copy
 * there belongs to the graph) or for a single run. */
int cu_adamw_runs(backend *be, float *p, const float *g, float *m, float *v, const adamw_run *runs, int nr, float lr,
                  float beta1, float beta2, float eps, float wd, int64_t t) {
  cu_ctx *c = cu_of(be);
  int live = 0;
  for (int r = 0; r < nr; r++) live += runs[r].n > 0;
  if (!c->adamw_runs || c->gr_capturing || live < 2) {
    for (int r = 0; r < nr; r++) {
      const int64_t o = runs[r].off;
      TS_TRY(cu_adamw(be, p + o, g + o, m + o, v + o, runs[r].n, lr, beta1, beta2, eps, runs[r].decay ? wd : 0.0f, t));
    }
    return TS_OK;
  }
  adamw_seg *s = (adamw_seg *)malloc(sizeof *s * (size_t)live);
  if (!s) return TS_ENOMEM;
  int64_t total = 0;
  int k = 0;
  for (int r = 0; r < nr; r++)
    if (runs[r].n > 0) {
      s[k].off = runs[r].off, s[k].start = total, s[k].n = runs[r].n;
      s[k].decay = runs[r].decay != 0, s[k].pad = 0;
      total += runs[r].n, k++;
    }
  int64_t lo = s[0].off, hi = s[live - 1].off + s[live - 1].n; /* runs ascend (op_adamw_runs) */
  const void *dev = NULL;
  int rc = cu_stage_same(be, s, sizeof *s * (size_t)live, SR_NONE, &dev);
  free(s);
  TS_TRY(rc);
  /* the weights' bf16 copy, when it mirrors these parameters, follows them: the next step's
   * bracket then needs no rounding */
  unsigned short *wb = cu_wcopy_follow(c, p, lo, hi);
  float bc1 = 1.0f - (float)pow(beta1, (double)t);
  float bc2 = 1.0f - (float)pow(beta2, (double)t);
  adamw_k kd = {lr, beta1, beta2, eps, wd, lr / bc1, sqrtf(bc2)}, kn = kd;
  kn.wd = 0.0f;
  k_adamw_runs<<<cu_blocks((total + AR_PER - 1) / AR_PER), 256, 0, cu_stream()>>>(p, g, m, v, (const adamw_seg *)dev,
                                                                                  live, total, kd, kn, wb);
  CU_LAUNCHED("k_adamw_runs");
  return TS_OK;
}

size_t cu_sumsq_bytes(void) { return sizeof(double) * (1 + SQ_BLOCKS); }

/* Returns NaN (and records the CUDA error) when the device fails. One wait: the result's copy. */
double cu_sumsq(backend *be, const float *x, int64_t n) {
  if (n <= 0) return 0.0;
  cu_ctx *c = cu_of(be);
  double s = NAN, *part = c->red + 1; /* red: the total, then SQ_BLOCKS partials */
  unsigned nb = cu_blocks(n);
  if (nb > SQ_BLOCKS) nb = SQ_BLOCKS;
  k_sumsq_part<<<nb, 256, 0, cu_stream()>>>(x, n, part);
  cudaError_t st = cudaGetLastError();
  if (st == cudaSuccess) {
    k_sumsq_total<<<1, 256, 0, cu_stream()>>>(part, (int)nb, c->red);
    st = cudaGetLastError();
  }
  if (st == cudaSuccess) st = cudaMemcpy(&s, c->red, sizeof(double), cudaMemcpyDeviceToHost);
  if (st != cudaSuccess) {
    cu_fail("sumsq", st);
    return NAN;
  }
  return s;
}
