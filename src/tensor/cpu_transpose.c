/* cpu_transpose.c — batched 2-D transpose on the CPU (the layout op behind ops_layout.h):
 * y (B, C, R) = transpose(x (B, R, C)) + beta * y, blocked for cache locality. */
#include "tensor/cpu_ops.h"

#define TR_BLK 32

int cpu_transpose(backend *be, const tensor *x, tensor *y, float beta) {
  (void)be;
  int nd = x->ndim;
  int64_t R = x->ne[nd - 2], C = x->ne[nd - 1];
  int64_t B = (R > 0 && C > 0) ? tensor_numel(x) / (R * C) : 0;
  const float *xp = cpu_f(x);
  float *yp = cpu_f(y);
  int64_t nbr = (R + TR_BLK - 1) / TR_BLK, nbc = (C + TR_BLK - 1) / TR_BLK;
  int64_t tiles = B * nbr * nbc;
#pragma omp parallel for if (B * R * C > 65536)
  for (int64_t t = 0; t < tiles; t++) {
    int64_t b = t / (nbr * nbc), rb = (t / nbc) % nbr, cb = t % nbc;
    const float *xb = xp + b * R * C;
    float *yb = yp + b * R * C;
    int64_t r1 = (rb + 1) * TR_BLK < R ? (rb + 1) * TR_BLK : R;
    int64_t c1 = (cb + 1) * TR_BLK < C ? (cb + 1) * TR_BLK : C;
    for (int64_t c = cb * TR_BLK; c < c1; c++) {
      float *yr = yb + c * R;
      if (beta == 0.0f)
        for (int64_t r = rb * TR_BLK; r < r1; r++) yr[r] = xb[r * C + c];
      else
        for (int64_t r = rb * TR_BLK; r < r1; r++) yr[r] = xb[r * C + c] + beta * yr[r];
    }
  }
  return TS_OK;
}
