// cu_norm.cuh — LayerNorm / RMSNorm over the last dim (forward, with the output's bf16 rounding
// on request, and backward: dx per row, weight and bias gradients as column reductions; with an
// activation after the LayerNorm, op_layernorm_act, in the same kernels), and
// LayerNorm over the channel axis of (B,C,T) (forward and backward, and their forms that hold
// a thread's channels in registers).
// Device code only: included by cu_norm.cu, which launches them, and by
// tests/gpu/simt/test_norm_emu.cpp, which runs them under the SIMT emulator in ctest.
#pragma once

#include "cu_act_fn.cuh"

/* ---- LayerNorm / RMSNorm over the last dim: one block per row ---- */
/* yb or NULL: y rounded to bf16 as well (the next GEMM's operand, cu_round_want), or instead
 * of y when y is NULL (a bf16 activation, op_act_dtype). act >= 0 (CU_ACT_*): y is the
 * activation of the norm's output (op_layernorm_act), which is not stored */
__global__ void k_layernorm(const float *x, const float *w, const float *b, float *y, unsigned short *yb, float *mean,
                            float *rstd, int64_t C, float eps, int rms, int act) {
  const float *xr = x + blockIdx.x * C;
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
    if (act >= 0) o = act_f(act, o);
    if (y) y[blockIdx.x * C + c] = o;
    if (yb) yb[blockIdx.x * C + c] = cu_bf16_bits(o);
  }
  if (threadIdx.x == 0) {
    if (mean) mean[blockIdx.x] = m;
    if (rstd) rstd[blockIdx.x] = r;
  }
}

/* the gradient at the norm's output for x's normalised value xh in channel c: g itself, or
 * (act >= 0, op_layernorm_act) g at the activation's output carried back through it, its input
 * recomputed with the forward's formula (the same bits as the output k_layernorm wrote) */
__device__ __forceinline__ float ln_gout(float g, float xh, const float *w, const float *b, int64_t c, int act) {
  if (act < 0) return g;
  return act_g(act, xh * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f), g);
}

/* b and act: as k_layernorm's (b only read when act >= 0); dx = dxin + the gradient, dxin (rows, C)
 * dx itself (added to), a residual's gradient, or NULL (0 + the gradient: dx's old values unread) */
__global__ void k_layernorm_bwd_dx(const float *x, const float *w, const float *b, const float *mean, const float *rstd,
                                   const float *g, const float *dxin, float *dx, int64_t C, int rms, int act) {
  const float *xr = x + blockIdx.x * C, *gr = g + blockIdx.x * C;
  float m = rms ? 0.0f : mean[blockIdx.x], r = rstd[blockIdx.x];
  double sd = 0, sdx = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float xh = (xr[c] - m) * r;
    float dn = ln_gout(gr[c], xh, w, b, c, act) * (w ? w[c] : 1.0f);
    sd += dn;
    sdx += (double)dn * xh;
  }
  float md = rms ? 0.0f : (float)(cu_block_sum(sd) / C);
  float mdx = (float)(cu_block_sum(sdx) / C);
  float *dr = dx + blockIdx.x * C;
  const float *br = dxin ? dxin + blockIdx.x * C : NULL;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float xh = (xr[c] - m) * r;
    float dn = ln_gout(gr[c], xh, w, b, c, act) * (w ? w[c] : 1.0f);
    dr[c] = (br ? br[c] : 0.0f) + r * (dn - md - xh * mdx);
  }
}

/* The weight and bias gradients' partials: pw[blockIdx.y * C + c] = the sum over the block's rows of
 * g * xhat, pb[...] of g (g at the norm's output: ln_gout), in double; blockDim (32, 8), row chunks in
 * grid.y. k_colpart_add (cu_colred.cuh) adds them into dw, db in chunk order: the same bits every
 * run. pw or pb may be NULL. */
__global__ void k_layernorm_bwd_dwb(const float *x, const float *w, const float *b, const float *mean,
                                    const float *rstd, const float *g, double *pw, double *pb, int64_t N, int64_t C,
                                    int rms, int act) {
  __shared__ double sw[8][33], sb[8][33];
  int64_t c = (int64_t)blockIdx.x * 32 + threadIdx.x;
  double aw = 0, ab = 0;
  if (c < C)
    for (int64_t i = blockIdx.y * 8 + threadIdx.y; i < N; i += (int64_t)gridDim.y * 8) {
      float m = rms ? 0.0f : mean[i];
      float xh = (x[i * C + c] - m) * rstd[i];
      float gv = ln_gout(g[i * C + c], xh, w, b, c, act);
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
    if (pw) pw[blockIdx.y * C + c] = aw;
    if (pb) pb[blockIdx.y * C + c] = ab;
  }
}

/* ---- LayerNorm / RMSNorm over the last dim, a warp per row holding the row in registers
 * (cuda_set_elem_vec, C <= 32 R, many rows): the channels-last conv stack's rows (4 x 64,000
 * rows of 512 at 4 x 20 s), where a block of 256 threads per row spends its time in two block
 * reductions for 2 values a thread. x is read once. Each lane adds its values in order
 * (double), then the 32 lane sums go through a xor-shuffle tree, which leaves every lane the
 * same bits (each step adds the same pair, only in swapped order). Forward and dx as
 * k_layernorm and k_layernorm_bwd_dx, with their act (dw, db stay with k_layernorm_bwd_dwb);
 * a warp's row is the same for its 32 lanes, so a warp past the last row leaves whole. y may
 * be x, dx may be dy (every value is in registers before the first store). ---- */
#define LNW_WARPS 8 /* rows a block of 256 threads */

__device__ __forceinline__ double lnw_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <int R>
__global__ void __launch_bounds__(32 * LNW_WARPS)
    k_layernorm_w(const float *x, const float *w, const float *b, float *y, unsigned short *yb, float *mean,
                  float *rstd, int64_t N, int C, float eps, int rms, int act) {
  const int lane = (int)(threadIdx.x & 31);
  const int64_t row = (int64_t)blockIdx.x * LNW_WARPS + (threadIdx.x >> 5);
  if (row >= N) return;
  const float *xr = x + row * C;
  float v[R];
  double s = 0;
#pragma unroll
  for (int j = 0; j < R; j++) {
    const int c = j * 32 + lane;
    v[j] = c < C ? xr[c] : 0.0f;
    s += v[j];
  }
  const float m = rms ? 0.0f : (float)(lnw_sum(s) / C);
  double q = 0;
#pragma unroll
  for (int j = 0; j < R; j++)
    if (j * 32 + lane < C) {
      const float d = v[j] - m;
      q += (double)d * d;
    }
  const float r = 1.0f / sqrtf((float)(lnw_sum(q) / C) + eps);
#pragma unroll
  for (int j = 0; j < R; j++) {
    const int c = j * 32 + lane;
    if (c >= C) continue;
    float o = (v[j] - m) * r * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
    if (act >= 0) o = act_f(act, o);
    if (y) y[row * C + c] = o;
    if (yb) yb[row * C + c] = cu_bf16_bits(o);
  }
  if (lane == 0) {
    if (mean) mean[row] = m;
    if (rstd) rstd[row] = r;
  }
}

template <int R>
__global__ void __launch_bounds__(32 * LNW_WARPS)
    k_layernorm_bwd_dx_w(const float *x, const float *w, const float *b, const float *mean, const float *rstd,
                         const float *g, const float *dxin, float *dx, int64_t N, int C, int rms, int act) {
  const int lane = (int)(threadIdx.x & 31);
  const int64_t row = (int64_t)blockIdx.x * LNW_WARPS + (threadIdx.x >> 5);
  if (row >= N) return;
  const float *xr = x + row * C, *gr = g + row * C;
  const float m = rms ? 0.0f : mean[row], r = rstd[row];
  float xh[R], dn[R];
  double sd = 0, sdx = 0;
#pragma unroll
  for (int j = 0; j < R; j++) {
    const int c = j * 32 + lane;
    xh[j] = dn[j] = 0.0f;
    if (c >= C) continue;
    xh[j] = (xr[c] - m) * r;
    dn[j] = ln_gout(gr[c], xh[j], w, b, c, act) * (w ? w[c] : 1.0f);
    sd += dn[j];
    sdx += (double)dn[j] * xh[j];
  }
  const float md = rms ? 0.0f : (float)(lnw_sum(sd) / C);
  const float mdx = (float)(lnw_sum(sdx) / C);
  float *dr = dx + row * C;
  const float *br = dxin ? dxin + row * C : NULL; /* as k_layernorm_bwd_dx's */
#pragma unroll
  for (int j = 0; j < R; j++) {
    const int c = j * 32 + lane;
    if (c < C) dr[c] = (br ? br[c] : 0.0f) + r * (dn[j] - md - xh[j] * mdx);
  }
}

/* ---- LayerNorm / RMSNorm of few long rows, each split into chunks over many blocks: one block
 * per row kept the waveform normalisation (4 rows of 320,000 samples) on 4 SMs, 0.9 ms a row on
 * an H200. Three passes, each a grid (rows, P chunks of `chunk` values): the chunks' sums of x
 * (part), then of (x - mean)^2 (part2), then the output. Each pass's blocks add the partial sums
 * in chunk order (deterministic), in double like k_layernorm, with the same float mean and
 * rstd formulas. x may be y (each pass reads only what it writes in the last). ---- */
__device__ __forceinline__ double ln_split_total(const double *part, int P) {
  double t = 0;
  for (int p = 0; p < P; p++) t += part[p];
  return t;
}

/* part[row * P + p] = the sum of x over chunk p of the row (LayerNorm only) */
__global__ void k_ln_split_sum(const float *x, double *part, int64_t C, int64_t chunk) {
  const int64_t row = blockIdx.x, c0 = (int64_t)blockIdx.y * chunk, c1 = c0 + chunk < C ? c0 + chunk : C;
  const float *xr = x + row * C;
  double s = 0;
  for (int64_t c = c0 + threadIdx.x; c < c1; c += blockDim.x) s += xr[c];
  s = cu_block_sum(s);
  if (threadIdx.x == 0) part[row * gridDim.y + blockIdx.y] = s;
}

/* part2[row * P + p] = the sum of (x - mean)^2 over chunk p (mean 0 for RMSNorm) */
__global__ void k_ln_split_var(const float *x, const double *part, double *part2, int64_t C, int64_t chunk, int rms) {
  const int64_t row = blockIdx.x, c0 = (int64_t)blockIdx.y * chunk, c1 = c0 + chunk < C ? c0 + chunk : C;
  const int P = (int)gridDim.y;
  const float *xr = x + row * C;
  const float m = rms ? 0.0f : (float)(ln_split_total(part + row * P, P) / C);
  double v = 0;
  for (int64_t c = c0 + threadIdx.x; c < c1; c += blockDim.x) {
    float d = xr[c] - m;
    v += (double)d * d;
  }
  v = cu_block_sum(v);
  if (threadIdx.x == 0) part2[row * P + blockIdx.y] = v;
}

/* the output of chunk p, as k_layernorm writes it; chunk 0's block writes mean and rstd */
__global__ void k_ln_split_out(const float *x, const float *w, const float *b, float *y, unsigned short *yb,
                               float *mean, float *rstd, const double *part, const double *part2, int64_t C,
                               int64_t chunk, float eps, int rms) {
  const int64_t row = blockIdx.x, c0 = (int64_t)blockIdx.y * chunk, c1 = c0 + chunk < C ? c0 + chunk : C;
  const int P = (int)gridDim.y;
  const float *xr = x + row * C;
  const float m = rms ? 0.0f : (float)(ln_split_total(part + row * P, P) / C);
  const float r = 1.0f / sqrtf((float)(ln_split_total(part2 + row * P, P) / C) + eps);
  for (int64_t c = c0 + threadIdx.x; c < c1; c += blockDim.x) {
    float n = (xr[c] - m) * r, o = n * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
    if (y) y[row * C + c] = o;
    if (yb) yb[row * C + c] = cu_bf16_bits(o);
  }
  if (blockIdx.y == 0 && threadIdx.x == 0) {
    if (mean) mean[row] = m;
    if (rstd) rstd[row] = r;
  }
}

/* ---- LayerNorm over the channel axis of x (B,C,T) (the conv feature extractor's, without
 * transposes): a block of LNC_TX x LNC_TY threads per (LNC_TX steps, batch row); thread (tx, ty)
 * takes step t0 + tx over channels ty, ty + LNC_TY, ... (consecutive threads read consecutive
 * steps), and a step's LNC_TY partial sums meet in shared memory in ty order. mean, rstd (B,T).
 * Grid (ceil(T / LNC_TX), B). ---- */
#define LNC_TX 32
#define LNC_TY 16 /* 512 threads: short rows (the positional stack's 1,000 frames x 4) still fill the SMs */

/* the block's sums over ty of v, for this thread's step (every thread must call) */
__device__ __forceinline__ double lnc_sum(double v, double (*sh)[LNC_TX + 1]) {
  sh[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  double s = 0;
  for (int k = 0; k < LNC_TY; k++) s += sh[k][threadIdx.x];
  __syncthreads(); /* sh is reused by the next sum */
  return s;
}

/* y may be x (in place); mean, rstd may be NULL */
__global__ void k_layernorm_ch(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                               int64_t C, int64_t T, float eps) {
  __shared__ double sh[LNC_TY][LNC_TX + 1];
  const int64_t t = (int64_t)blockIdx.x * LNC_TX + threadIdx.x, bo = (int64_t)blockIdx.y * C * T;
  const bool in = t < T;
  double s = 0;
  if (in)
    for (int64_t c = threadIdx.y; c < C; c += LNC_TY) s += x[bo + c * T + t];
  const float m = (float)(lnc_sum(s, sh) / C);
  double v = 0;
  if (in)
    for (int64_t c = threadIdx.y; c < C; c += LNC_TY) {
      float d = x[bo + c * T + t] - m;
      v += (double)d * d;
    }
  const float r = 1.0f / sqrtf((float)(lnc_sum(v, sh) / C) + eps);
  if (!in) return;
  for (int64_t c = threadIdx.y; c < C; c += LNC_TY) {
    float n = (x[bo + c * T + t] - m) * r;
    y[bo + c * T + t] = n * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
  }
  if (threadIdx.y == 0) {
    if (mean) mean[(int64_t)blockIdx.y * T + t] = m;
    if (rstd) rstd[(int64_t)blockIdx.y * T + t] = r;
  }
}

/* dx += the input gradient. dx may be g: the first loop's reads of g all precede the barriers in
 * lnc_sum, and after them each (c, t) is read and written by the one thread that owns it (a
 * change of that mapping must keep this) */
__global__ void k_layernorm_ch_bwd_dx(const float *x, const float *w, const float *mean, const float *rstd,
                                      const float *g, float *dx, int64_t C, int64_t T) {
  __shared__ double sh[LNC_TY][LNC_TX + 1];
  const int64_t t = (int64_t)blockIdx.x * LNC_TX + threadIdx.x, bo = (int64_t)blockIdx.y * C * T;
  const bool in = t < T;
  const float m = in ? mean[(int64_t)blockIdx.y * T + t] : 0.0f, r = in ? rstd[(int64_t)blockIdx.y * T + t] : 0.0f;
  double sd = 0, sdx = 0;
  if (in)
    for (int64_t c = threadIdx.y; c < C; c += LNC_TY) {
      float xh = (x[bo + c * T + t] - m) * r, dn = g[bo + c * T + t] * (w ? w[c] : 1.0f);
      sd += dn;
      sdx += (double)dn * xh;
    }
  const float md = (float)(lnc_sum(sd, sh) / C), mdx = (float)(lnc_sum(sdx, sh) / C);
  if (!in) return;
  for (int64_t c = threadIdx.y; c < C; c += LNC_TY) {
    float xh = (x[bo + c * T + t] - m) * r, dn = g[bo + c * T + t] * (w ? w[c] : 1.0f);
    dx[bo + c * T + t] += r * (dn - md - xh * mdx);
  }
}

/* dw[c] += sum over (b, t) of g xhat, db[c] += sum of g: a block per channel (grid-stride over
 * channels), its threads striding over t; double sums, no atomics. Launch before the dx kernel
 * when dx is g. */
__global__ void k_layernorm_ch_bwd_dwb(const float *x, const float *mean, const float *rstd, const float *g,
                                       float *dw, float *db, int64_t B, int64_t C, int64_t T) {
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double aw = 0, ab = 0;
    for (int64_t b = 0; b < B; b++) {
      const float *xr = x + (b * C + c) * T, *gr = g + (b * C + c) * T, *mr = mean + b * T, *rr = rstd + b * T;
      for (int64_t t = threadIdx.x; t < T; t += blockDim.x) {
        float gv = gr[t];
        aw += (double)gv * ((xr[t] - mr[t]) * rr[t]);
        ab += gv;
      }
    }
    aw = cu_block_sum(aw);
    ab = cu_block_sum(ab);
    if (threadIdx.x == 0) {
      if (dw) dw[c] += (float)aw;
      if (db) db[c] += (float)ab;
    }
  }
}

/* ---- the register forms of the two kernels above (cuda_set_elem_vec, C <= LNC_TY x LNC_R):
 * thread (tx, ty) keeps its step's values of channels ty + j LNC_TY (j < LNC_R) in registers, so
 * x is read once in the forward (not three times), and x and g once in the backward, which
 * also leaves per-block partials of the weight and bias gradients (the separate dw/db kernel
 * read x and g a second time). Session 17's profile on an H200: the channel LayerNorm of the
 * conv feature extractor took 4.8 ms of a 99 ms SFT step (k_layernorm_ch_bwd_dx 1.18 ms on its
 * 131 M values, about twice what their 16 bytes a value take at 3.4 TB/s). The sums over
 * channels run in the order of the kernels above: the forward and dx give the same bits;
 * dw, db are summed in another order (float over a block's 32 steps, then double over the
 * blocks). ---- */
#define LNC_R 32 /* channels a thread holds: C up to 512, the feature extractor's */

/* one exchange of lnc_lane_sums: lanes with bit H set keep a[H..2H) and take their partner's
 * (lane ^ H) values there, the others keep a[0..H); both add the pair into a[0..H) */
template <int H>
__device__ __forceinline__ void lnc_halve(float (&a)[LNC_R], unsigned lane) {
  const bool up = (lane & (unsigned)H) != 0;
#pragma unroll
  for (int i = 0; i < H; i++) {
    const float send = up ? a[i] : a[i + H], keep = up ? a[i + H] : a[i];
    a[i] = keep + __shfl_xor_sync(0xffffffffu, send, H);
  }
}

/* each a[j]'s sum over the warp's 32 lanes (blockDim.x = 32, so a warp is one ty), lane L
 * ending with j = L's (in a[0]): five exchanges that each halve what a lane holds (31
 * shuffles where 32 separate sums would take 160), every index a constant so that a stays in
 * registers. Every lane of the warp must call it. */
__device__ __forceinline__ float lnc_lane_sums(float (&a)[LNC_R]) {
  static_assert(LNC_R == 32, "one value per lane at the end");
  const unsigned lane = threadIdx.x & 31u;
  lnc_halve<16>(a, lane);
  lnc_halve<8>(a, lane);
  lnc_halve<4>(a, lane);
  lnc_halve<2>(a, lane);
  lnc_halve<1>(a, lane);
  return a[0];
}

/* k_layernorm_ch with x in registers; the same grid and block (LNC_TX, LNC_TY). Offsets in a
 * batch row are 32-bit (LNC_TY LNC_R T < 2^31: the launcher checks), which keeps the register
 * count down */
__global__ void __launch_bounds__(LNC_TX *LNC_TY)
    k_layernorm_ch_r(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd, int64_t C,
                     int64_t T, float eps) {
  __shared__ double sh[LNC_TY][LNC_TX + 1];
  const int64_t t = (int64_t)blockIdx.x * LNC_TX + threadIdx.x, bo = (int64_t)blockIdx.y * C * T + t;
  const bool in = t < T;
  const int c0 = (int)threadIdx.y, nc = (int)C;
  const unsigned o0 = threadIdx.y * (unsigned)T, os = LNC_TY * (unsigned)T; /* channel c0's offset, the step */
  float v[LNC_R];
#pragma unroll
  for (int j = 0; j < LNC_R; j++) /* every load first: 32 in flight */
    v[j] = in && c0 + j * LNC_TY < nc ? x[bo + (o0 + j * os)] : 0.0f;
  double s = 0;
#pragma unroll
  for (int j = 0; j < LNC_R; j++)
    if (c0 + j * LNC_TY < nc) s += v[j];
  const float m = (float)(lnc_sum(s, sh) / C);
  double q = 0;
#pragma unroll
  for (int j = 0; j < LNC_R; j++)
    if (c0 + j * LNC_TY < nc) {
      const float d = v[j] - m;
      q += (double)d * d;
    }
  const float r = 1.0f / sqrtf((float)(lnc_sum(q, sh) / C) + eps);
  if (!in) return;
#pragma unroll
  for (int j = 0; j < LNC_R; j++) {
    const int c = c0 + j * LNC_TY;
    if (c < nc) y[bo + (o0 + j * os)] = (v[j] - m) * r * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
  }
  if (threadIdx.y == 0) {
    if (mean) mean[(int64_t)blockIdx.y * T + t] = m;
    if (rstd) rstd[(int64_t)blockIdx.y * T + t] = r;
  }
}

/* k_layernorm_ch_bwd_dx with x and g in registers (dx NULL: none), and when pw is not NULL the
 * block's partials of dw and db: pw[k C + c] = the sum over its LNC_TX steps of g xhat,
 * pb[k C + c] of g, k = blockIdx.y gridDim.x + blockIdx.x (k_layernorm_ch_part_sum adds them
 * up). dx may be g: each thread reads its values of g before the barriers and writes only its
 * own. The same grid, block and offsets as k_layernorm_ch_r. */
__global__ void __launch_bounds__(LNC_TX *LNC_TY)
    k_layernorm_ch_bwd_r(const float *x, const float *w, const float *mean, const float *rstd, const float *g,
                         float *dx, float *pw, float *pb, int64_t C, int64_t T) {
  __shared__ double sh[LNC_TY][LNC_TX + 1];
  const int64_t t = (int64_t)blockIdx.x * LNC_TX + threadIdx.x, bo = (int64_t)blockIdx.y * C * T + t;
  const bool in = t < T;
  const int c0 = (int)threadIdx.y, nc = (int)C;
  const unsigned o0 = threadIdx.y * (unsigned)T, os = LNC_TY * (unsigned)T;
  const float m = in ? mean[(int64_t)blockIdx.y * T + t] : 0.0f, r = in ? rstd[(int64_t)blockIdx.y * T + t] : 0.0f;
  float xh[LNC_R], gv[LNC_R]; /* xhat and g of this thread's channels (0 past C or T) */
#pragma unroll
  for (int j = 0; j < LNC_R; j++) {
    const bool ok = in && c0 + j * LNC_TY < nc;
    xh[j] = ok ? x[bo + (o0 + j * os)] : 0.0f;
    gv[j] = ok ? g[bo + (o0 + j * os)] : 0.0f;
  }
  double sd = 0, sdx = 0;
#pragma unroll
  for (int j = 0; j < LNC_R; j++) {
    const int c = c0 + j * LNC_TY;
    xh[j] = in && c < nc ? (xh[j] - m) * r : 0.0f;
    if (in && c < nc) {
      const float dn = gv[j] * (w ? w[c] : 1.0f);
      sd += dn;
      sdx += (double)dn * xh[j];
    }
  }
  const float md = (float)(lnc_sum(sd, sh) / C), mdx = (float)(lnc_sum(sdx, sh) / C);
  if (in && dx)
#pragma unroll
    for (int j = 0; j < LNC_R; j++) {
      const int c = c0 + j * LNC_TY;
      if (c < nc) dx[bo + (o0 + j * os)] += r * (gv[j] * (w ? w[c] : 1.0f) - md - xh[j] * mdx);
    }
  if (pw) { /* a uniform branch: every lane of every warp takes it; xh and g summed in place */
#pragma unroll
    for (int j = 0; j < LNC_R; j++) xh[j] *= gv[j];
    const float sw = lnc_lane_sums(xh), sb = lnc_lane_sums(gv);
    const int64_t k = (int64_t)blockIdx.y * gridDim.x + blockIdx.x, c = c0 + (int64_t)threadIdx.x * LNC_TY;
    if (c < C) pw[k * C + c] = sw, pb[k * C + c] = sb;
  }
}

/* dw[c] += the sum over k < nb of pw[k C + c], db[c] likewise from pb (either NULL), in double
 * and in a fixed order. Block (32, 32): tx a channel, ty a stride over k. Grid ceil(C / 32). */
__global__ void k_layernorm_ch_part_sum(const float *pw, const float *pb, float *dw, float *db, int64_t nb,
                                        int64_t C) {
  __shared__ double sw[32][33], sb[32][33];
  const int64_t c = (int64_t)blockIdx.x * 32 + threadIdx.x;
  double aw = 0, ab = 0;
  if (c < C)
    for (int64_t k = threadIdx.y; k < nb; k += 32) aw += pw[k * C + c], ab += pb[k * C + c];
  sw[threadIdx.y][threadIdx.x] = aw, sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y || c >= C) return;
  for (int k = 1; k < 32; k++) aw += sw[k][threadIdx.x], ab += sb[k][threadIdx.x];
  if (dw) dw[c] += (float)aw;
  if (db) db[c] += (float)ab;
}
