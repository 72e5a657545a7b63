// cu_norm.cuh — LayerNorm / RMSNorm over the last dim (forward, with the output's bf16 rounding
// on request, and backward: dx per row, weight and bias gradients as column reductions).
// Device code only: included by cu_norm.cu, which launches them, and by
// tests/gpu/simt/test_norm_emu.cpp, which runs them under the SIMT emulator in ctest.
#pragma once

#include "cu_dev.cuh"

/* ---- LayerNorm / RMSNorm over the last dim: one block per row ---- */
/* yb or NULL: y rounded to bf16 as well (the next GEMM's operand, cu_round_want) */
__global__ void k_layernorm(const float *x, const float *w, const float *b, float *y, unsigned short *yb, float *mean,
                            float *rstd, int64_t C, float eps, int rms) {
  const float *xr = x + blockIdx.x * C;
  float *yr = y + blockIdx.x * C;
  float m = 0.0f;
  if (!rms) {
    double s = 0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += xr[c];
    m = (float)(cu_block_sum(s) / C);
  }
  double v = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float d = xr[c] - m;
    v += (double)d * d;
  }
  v = cu_block_sum(v);
  float r = 1.0f / sqrtf((float)(v / C) + eps);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float n = (xr[c] - m) * r, o = n * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
    yr[c] = o;
    if (yb) yb[blockIdx.x * C + c] = cu_bf16_bits(o);
  }
  if (threadIdx.x == 0) {
    if (mean) mean[blockIdx.x] = m;
    if (rstd) rstd[blockIdx.x] = r;
  }
}

__global__ void k_layernorm_bwd_dx(const float *x, const float *w, const float *mean, const float *rstd,
                                   const float *g, float *dx, int64_t C, int rms) {
  const float *xr = x + blockIdx.x * C, *gr = g + blockIdx.x * C;
  float m = rms ? 0.0f : mean[blockIdx.x], r = rstd[blockIdx.x];
  double sd = 0, sdx = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float xh = (xr[c] - m) * r;
    float dn = gr[c] * (w ? w[c] : 1.0f);
    sd += dn;
    sdx += (double)dn * xh;
  }
  float md = rms ? 0.0f : (float)(cu_block_sum(sd) / C);
  float mdx = (float)(cu_block_sum(sdx) / C);
  float *dr = dx + blockIdx.x * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float xh = (xr[c] - m) * r;
    float dn = gr[c] * (w ? w[c] : 1.0f);
    dr[c] += r * (dn - md - xh * mdx);
  }
}

/* dw[c] += sum_rows g * xhat, db[c] += sum_rows g; blockDim (32, 8), row chunks in grid.y */
__global__ void k_layernorm_bwd_dwb(const float *x, const float *mean, const float *rstd, const float *g,
                                    float *dw, float *db, int64_t N, int64_t C, int rms) {
  __shared__ double sw[8][33], sb[8][33];
  int64_t c = blockIdx.x * 32 + threadIdx.x;
  double aw = 0, ab = 0;
  if (c < C)
    for (int64_t i = blockIdx.y * 8 + threadIdx.y; i < N; i += (int64_t)gridDim.y * 8) {
      float m = rms ? 0.0f : mean[i];
      float xh = (x[i * C + c] - m) * rstd[i];
      float gv = g[i * C + c];
      aw += (double)gv * xh;
      ab += gv;
    }
  sw[threadIdx.y][threadIdx.x] = aw;
  sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    for (int y = 1; y < 8; y++) {
      aw += sw[y][threadIdx.x];
      ab += sb[y][threadIdx.x];
    }
    if (dw) atomicAdd(dw + c, (float)aw);
    if (db) atomicAdd(db + c, (float)ab);
  }
}
