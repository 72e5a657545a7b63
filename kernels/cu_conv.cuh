// cu_conv.cuh — the element kernels of the 1-D convolution (cu_conv.cu does the GEMMs): im2col
// and its gather back (col2im), the bias and its gradient. Each takes a 2-D or 3-D grid whose
// y (and z) index a row of the output, so a thread's indices need no 64-bit division (the
// first versions divided a flat index per element: four 64-bit divisions each in im2col, which
// the GPU emulates in software). Device code only: included by cu_conv.cu, which launches
// them, and by tests/gpu/simt/test_conv_emu.cpp, which runs them under the SIMT emulator.
#pragma once

#include "cu_conv_grid.cuh"


/* col (Cin K, Tout) for one batch row: col[c K + k][t] = x[c][t stride + k - pad] (0 outside
 * [0, T)); X float or unsigned short (bf16 bits). Cin K < 2^31 (the launcher checks). Grid
 * (ceil(Tout / CV_THREADS), min(Cin K, CV_MAXY)). */
template <typename X>
__global__ void k_im2col(const X *__restrict__ x, int64_t Cin, int64_t T, int K, int64_t Tout, int stride,
                         int pad, float *__restrict__ col) {
  const int64_t t = (int64_t)blockIdx.x * CV_THREADS + threadIdx.x;
  if (t >= Tout) return;
  for (int ck = (int)blockIdx.y; ck < (int)(Cin * K); ck += (int)gridDim.y) {
    const int c = ck / K, k = ck - c * K; /* 32-bit */
    const int64_t s = t * stride + k - pad;
    col[(int64_t)ck * Tout + t] = s >= 0 && s < T ? cv_val(x, (int64_t)c * T + s) : 0.0f;
  }
}

/* dx[c][s] += the sum over (k, t) with t stride + k - pad = s of dcol[c K + k][t] (a gather:
 * no races). Grid (ceil(T / CV_THREADS), min(Cin, CV_MAXY)). */
__global__ void k_col2im(const float *__restrict__ dcol, int64_t Cin, int64_t T, int K, int64_t Tout, int stride,
                         int pad, float *__restrict__ dx) {
  const int64_t s = (int64_t)blockIdx.x * CV_THREADS + threadIdx.x;
  if (s >= T) return;
  for (int64_t c = blockIdx.y; c < Cin; c += gridDim.y) {
    float acc = 0.0f;
    for (int k = 0; k < K; k++) {
      int64_t u = s + pad - k; /* t stride */
      if (u < 0) break;        /* k only grows */
      int64_t t = u <= 0x7fffffff ? (int64_t)((int)u / stride) : u / stride; /* 32-bit division */
      if (t * stride == u && t < Tout) acc += dcol[(c * K + k) * Tout + t];
    }
    dx[c * T + s] += acc;
  }
}

/* y (B, Cout, Tout) += bias[o]. Grid (ceil(Tout / CV_THREADS), min(Cout, CV_MAXY), min(B, CV_MAXY)). */
__global__ void k_conv_bias(float *y, const float *__restrict__ bias, int64_t B, int64_t Cout, int64_t Tout) {
  const int64_t t = (int64_t)blockIdx.x * CV_THREADS + threadIdx.x;
  if (t >= Tout) return;
  for (int64_t b = blockIdx.z; b < B; b += gridDim.z)
    for (int64_t o = blockIdx.y; o < Cout; o += gridDim.y) y[(b * Cout + o) * Tout + t] += bias[o];
}

/* dbias[o] += sum over b, t of dy[b][o][t] (double, then once to f32). A block per output
 * channel (grid min(Cout, CV_MAXY), CV_THREADS threads), its threads striding over t. */
__global__ void k_conv_dbias(const float *__restrict__ g, float *db, int64_t B, int64_t Cout, int64_t Tout) {
  for (int64_t o = blockIdx.x; o < Cout; o += gridDim.x) {
    double s = 0;
    for (int64_t b = 0; b < B; b++) {
      const float *row = g + (b * Cout + o) * Tout;
      for (int64_t t = threadIdx.x; t < Tout; t += CV_THREADS) s += row[t];
    }
    s = cu_block_sum(s);
    if (threadIdx.x == 0) db[o] += (float)s;
  }
}

