// cu_optim.cu — AdamW (decoupled weight decay, as torch.optim.AdamW, same float arithmetic as
// the CPU backend) and the sum of squares for the global gradient norm (double reduction).
#include <math.h>

#include "cu_common.h"

__global__ void k_adamw(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2,
                        float eps, float wd, float step, float bc2s) {
  CU_LOOP(i, n) {
    float gi = g[i];
    float pi = p[i] * (1.0f - lr * wd);
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step * mi / (sqrtf(vi) / bc2s + eps);
  }
}

int cu_adamw(backend *be, float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
             float beta2, float eps, float wd, int64_t t) {
  if (n <= 0) return TS_OK;
  float bc1 = 1.0f - (float)pow(beta1, (double)t);
  float bc2 = 1.0f - (float)pow(beta2, (double)t);
  k_adamw<<<cu_blocks(n), 256, 0, cu_stream()>>>(p, g, m, v, n, lr, beta1, beta2, eps, wd, lr / bc1, sqrtf(bc2));
  CU_LAUNCHED("k_adamw");
  return TS_OK;
}

__global__ void k_sumsq(const float *x, int64_t n, double *out) {
  double s = 0;
  CU_LOOP(i, n) s += (double)x[i] * x[i];
  s = cu_block_sum(s);
  if (threadIdx.x == 0) atomicAdd(out, s);
}

/* Returns NaN (and records the CUDA error) when the device fails. */
double cu_sumsq(backend *be, const float *x, int64_t n) {
  if (n <= 0) return 0.0;
  cu_ctx *c = cu_of(be);
  double s = NAN;
  cudaError_t st = cudaMemsetAsync(c->red, 0, sizeof(double), cu_stream());
  if (st != cudaSuccess) {
    cu_fail("sumsq: memset", st);
    return NAN;
  }
  unsigned nb = cu_blocks(n);
  if (nb > 1024) nb = 1024;
  k_sumsq<<<nb, 256, 0, cu_stream()>>>(x, n, c->red);
  st = cudaGetLastError();
  if (st == cudaSuccess) st = cudaMemcpy(&s, c->red, sizeof(double), cudaMemcpyDeviceToHost);
  if (st != cudaSuccess) {
    cu_fail("sumsq", st);
    return NAN;
  }
  return s;
}
