/* cpu_loss.c — fused softmax cross-entropy: loss and dlogits in one pass, in place. */
#include <math.h>
#include <string.h>

#include "tensor/cpu_ops.h"
#include "tensor/vmath.h"

int cpu_xent(backend *be, tensor *logits, const int32_t *targets, const float *weights,
             float *losses, float grad_scale) {
  int64_t N = cpu_rows(logits), V = cpu_last(logits);
  float *lp = cpu_f(logits);
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t i = 0; i < N; i++) {
    float *x = lp + i * V;
    float w = weights ? weights[i] : 1.0f;
    int32_t t = targets[i];
    if (t < 0 || w == 0.0f) {
      if (losses) losses[i] = 0.0f;
      if (grad_scale != 0.0f) memset(x, 0, sizeof(float) * (size_t)V);
      continue;
    }
    float mx = -INFINITY;
    for (int64_t j = 0; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < V; j++) s += vm_expf(x[j] - mx);
    float lse = mx + logf(s);
    if (losses) losses[i] = w * (lse - x[t]);
    if (grad_scale != 0.0f) {
      float a = grad_scale * w;
#pragma omp simd
      for (int64_t j = 0; j < V; j++) x[j] = a * vm_expf(x[j] - lse);
      x[t] -= a;
    }
  }
  return TS_OK;
}
