/* cpu_pool.c — statistics pooling (mean and standard deviation over the valid frames of each
 * sequence) forward and backward on the CPU; semantics in backend.h (stats_pool). */
#include <math.h>

#include "tensor/cpu_ops.h"

int cpu_stats_pool(backend *be, const tensor *x, const int32_t *lens, tensor *y, const tensor *dy,
                   tensor *dx, float eps) {
  (void)be;
  int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2];
  const float *xp = cpu_f(x);
  float *yp = cpu_f(y);
  const float *gp = cpu_f(dy);
  float *dxp = cpu_f(dx);
#pragma omp parallel for collapse(2) if (B * C * T > 65536)
  for (int64_t b = 0; b < B; b++)
    for (int64_t c = 0; c < C; c++) {
      int64_t L = lens ? lens[b] : T;
      const float *xr = xp + (b * C + c) * T;
      float *yr = yp + b * 2 * C;
      if (!gp) { /* forward: two passes in double */
        double s = 0;
        for (int64_t t = 0; t < L; t++) s += xr[t];
        double mu = s / (double)L, v = 0;
        for (int64_t t = 0; t < L; t++) {
          double d = xr[t] - mu;
          v += d * d;
        }
        yr[c] = (float)mu;
        yr[C + c] = (float)sqrt(v / (double)L + eps);
      } else if (dxp) { /* backward from the saved output y */
        const float *gr = gp + b * 2 * C;
        float mu = yr[c], sd = yr[C + c];
        float a = gr[c] / (float)L, k = gr[C + c] / ((float)L * sd);
        float *dr = dxp + (b * C + c) * T;
        for (int64_t t = 0; t < L; t++) dr[t] += a + k * (xr[t] - mu);
      }
    }
  return TS_OK;
}
