// cu_conv_cl.cuh — the element kernels of the channels-last 1-D convolution (cu_conv_cl.cu does
// the GEMMs): the weight's permutation (Cout, Cg, K) -> (Cout, K, Cg) and back, the row im2col
// and its gather back, the rows' bias. Rows go over the grid's y (and z) with loops past
// CV_MAXY; a thread divides once per row it takes, not per element (the gather's division by
// the stride is 32-bit). Device code only: included by cu_conv_cl.cu and
// by tests/gpu/simt/test_conv_cl_emu.cpp, which runs them under the SIMT emulator.
#pragma once

#include "cu_conv_grid.cuh"

/* wp (Cout, K, Cg)[o][k][c] = w (Cout, Cg, K)[o][c][k], as f32 (wp) or rounded to bf16 bits
 * (wp16; nearest even), whichever is not NULL. Grid (ceil(Cg / CV_THREADS), min(Cout K, CV_MAXY)). */
__global__ void k_cl_permute(const float *__restrict__ w, int64_t Cout, int64_t Cg, int K, float *__restrict__ wp,
                             unsigned short *__restrict__ wp16) {
  const int64_t c = (int64_t)blockIdx.x * CV_THREADS + threadIdx.x;
  if (c >= Cg) return;
  for (int64_t ok = blockIdx.y; ok < Cout * K; ok += gridDim.y) {
    const int64_t o = ok / K, k = ok - o * K;
    const float v = w[(o * Cg + c) * K + k];
    if (wp) wp[ok * Cg + c] = v;
    if (wp16) wp16[ok * Cg + c] = cu_bf16_bits(v);
  }
}

/* dw (Cout, Cg, K)[o][c][k] += dwp (Cout, K, Cg)[o][k][c]. Grid (ceil(Cg K / CV_THREADS),
 * min(Cout, CV_MAXY)): a thread per (c, k), so the writes to dw's row are contiguous. */
__global__ void k_cl_unpermute_add(const float *__restrict__ dwp, int64_t Cout, int64_t Cg, int K,
                                   float *__restrict__ dw) {
  const int64_t ck = (int64_t)blockIdx.x * CV_THREADS + threadIdx.x;
  if (ck >= Cg * K) return;
  const int64_t c = ck / K, k = ck - c * K;
  for (int64_t o = blockIdx.y; o < Cout; o += gridDim.y) dw[o * Cg * K + ck] += dwp[(o * K + k) * Cg + c];
}

/* the col rows a block of k_cl_im2row takes for rows of n values: CV_THREADS / n when a row is
 * shorter than a block (the waveform's K Cin = 10: 25 rows a block, where one row a block left
 * 246 of 256 threads idle in 64,000 blocks a batch row), else 1 */
__host__ __device__ static inline int cv_im2row_rpb(int64_t n) {
  return n > 0 && n < CV_THREADS ? CV_THREADS / (int)n : 1;
}

/* col (Tout, groups K Cg) of one batch row x (T, Cin = groups Cg): col[t][(g K + k) Cg + c] =
 * x[t stride + k - pad][g Cg + c] (0 outside [0, T)); X float or unsigned short (bf16 bits,
 * widened exactly). A thread per element of a col row (K Cin < 2^31, the launcher checks), so
 * the writes are contiguous whatever Cg is; a row shorter than a block takes a block with the
 * next rows (cv_im2row_rpb = R rows, thread i on row i / n). Grid (ceil(K Cin / CV_THREADS),
 * min(ceil(Tout / R), CV_MAXY)). */
template <typename X>
__global__ void k_cl_im2row(const X *__restrict__ x, int64_t T, int64_t Cin, int64_t Cg, int K, int64_t Tout,
                            int stride, int pad, float *__restrict__ col) {
  const int n = (int)(K * Cin), R = cv_im2row_rpb(n), i = (int)threadIdx.x, r = R > 1 ? i / n : 0;
  const int j = R > 1 ? i - r * n : (int)(blockIdx.x * CV_THREADS + threadIdx.x);
  if (j >= n || r >= R) return;
  const int cg = (int)Cg, gk = j / cg, c = j - gk * cg, g = gk / K, k = gk - g * K; /* 32-bit */
  for (int64_t t = (int64_t)blockIdx.y * R + r; t < Tout; t += (int64_t)gridDim.y * R) {
    const int64_t s = t * stride + k - pad;
    col[t * n + j] = s >= 0 && s < T ? cv_val(x, s * Cin + (int64_t)g * cg + c) : 0.0f;
  }
}

/* dx (T, Cin) of one batch row += the gather of dcol (Tout, groups K Cg): dx[u][g Cg + c] +=
 * the sum over k (in order) with u + pad - k = t stride, 0 <= t < Tout, of
 * dcol[t][(g K + k) Cg + c]; set: dx written with the sum (its old values unread). Grid
 * (ceil(Cin / CV_THREADS), min(T, CV_MAXY)). */
__global__ void k_cl_row2im(const float *__restrict__ dcol, int64_t T, int64_t Cin, int64_t Cg, int K, int64_t Tout,
                            int stride, int pad, int set, float *__restrict__ dx) {
  const int64_t ci = (int64_t)blockIdx.x * CV_THREADS + threadIdx.x;
  if (ci >= Cin) return;
  const int64_t g = ci / Cg, c = ci - g * Cg;
  for (int64_t u = blockIdx.y; u < T; u += gridDim.y) {
    float acc = 0.0f;
    for (int k = 0; k < K; k++) {
      const int64_t v = u + pad - k; /* t stride */
      if (v < 0) break;              /* k only grows */
      const int64_t t = v <= 0x7fffffff ? (int64_t)((int)v / stride) : v / stride; /* 32-bit division */
      if (t * stride == v && t < Tout) acc += dcol[((t * (Cin / Cg) + g) * K + k) * Cg + c];
    }
    if (set)
      dx[u * Cin + ci] = acc;
    else
      dx[u * Cin + ci] += acc;
  }
}

/* y (R, N) rows = bias (N), or 0 when bias is NULL. Grid (ceil(N / CV_THREADS), min(R, CV_MAXY)). */
__global__ void k_cl_rows_init(float *__restrict__ y, const float *__restrict__ bias, int64_t R, int64_t N) {
  const int64_t j = (int64_t)blockIdx.x * CV_THREADS + threadIdx.x;
  if (j >= N) return;
  const float b = bias ? bias[j] : 0.0f;
  for (int64_t r = blockIdx.y; r < R; r += gridDim.y) y[r * N + j] = b;
}
