// cu_optim.cu — AdamW and the sum of squares for the global gradient norm (double, in a fixed
// order); their kernels are in cu_optim.cuh.
#include <math.h>

#include "cu_common.h"
#include "cu_optim.cuh"

int cu_adamw(backend *be, float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
             float beta2, float eps, float wd, int64_t t) {
  if (n <= 0) return TS_OK;
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
