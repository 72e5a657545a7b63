// cu_loss.cu — fused softmax cross-entropy on the GPU: per row the log-sum-exp, the loss and
// (when asked) dlogits written over the logits in place. Targets, weights and the returned
// losses are host arrays (backend.h), staged through device scratch.
#include <math.h>

#include "cu_common.h"

/* one block per row */
__global__ void k_xent(float *logits, const int32_t *tg, const float *wt, float *loss, int64_t V, float gs) {
  int64_t r = blockIdx.x;
  float *x = logits + r * V;
  float w = wt ? wt[r] : 1.0f;
  int32_t t = tg[r];
  if (t < 0 || w == 0.0f) { /* no loss, zero gradient */
    if (threadIdx.x == 0) loss[r] = 0.0f;
    if (gs != 0.0f)
      for (int64_t j = threadIdx.x; j < V; j += blockDim.x) x[j] = 0.0f;
    return;
  }
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, x[j]);
  mx = cu_block_max(mx);
  double s = 0;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) s += expf(x[j] - mx);
  s = cu_block_sum(s);
  float lse = mx + logf((float)s);
  float xt = x[t]; /* every thread reads the target logit before any write */
  if (threadIdx.x == 0) loss[r] = w * (lse - xt);
  if (gs == 0.0f) return;
  __syncthreads();
  float a = gs * w;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) x[j] = a * expf(x[j] - lse) - (j == t ? a : 0.0f);
}

int cu_xent(backend *be, tensor *logits, const int32_t *targets, const float *weights, float *losses,
            float grad_scale) {
  int64_t V = cu_last(logits), N = V ? cu_rows(logits) : 0;
  if (N <= 0) return TS_OK;
  size_t tb = sizeof(int32_t) * (size_t)N, fb = sizeof(float) * (size_t)N;
  char *cur;
  TS_TRY(cu_scratch(be, cu_rnd(tb) + 2 * cu_rnd(fb), (void **)&cur));
  int32_t *dt = (int32_t *)cu_carve(&cur, tb);
  float *dw = weights ? (float *)cu_carve(&cur, fb) : NULL;
  float *dl = (float *)cu_carve(&cur, fb);
  TS_TRY(cu_h2d(be, dt, targets, tb));
  if (weights) TS_TRY(cu_h2d(be, dw, weights, fb));
  k_xent<<<(unsigned)N, 256, 0, cu_stream()>>>(cu_f(logits), dt, dw, dl, V, grad_scale);
  CU_LAUNCHED("k_xent");
  if (losses) CU_TRY(cudaMemcpy(losses, dl, fb, cudaMemcpyDeviceToHost));
  return TS_OK;
}
