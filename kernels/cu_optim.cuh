// cu_optim.cuh — AdamW's update (decoupled weight decay, as torch.optim.AdamW, the CPU backend's
// float arithmetic): one value a thread, or four a thread-step with 16-byte loads and stores
// (cuda_set_elem_vec; p, g, m, v 16-byte aligned, the launcher checks), or over runs of the
// flat parameter buffers in one launch (cuda_set_adamw_runs), all through the same per-value
// function, so they give the same bits; and the sum of squares of the gradient norm
// (per-block partials, then their sum in a fixed order: the same bits on every run). Device code only: included by cu_optim.cu,
// which launches them, and by tests/gpu/simt/test_optim_emu.cpp (SIMT emulator, ctest).
#pragma once

#include "cu_dev.cuh"

/* the step's constants: lr, betas, eps, weight decay, lr / (1 - b1^t), sqrt(1 - b2^t) */
struct adamw_k {
  float lr, b1, b2, eps, wd, step, bc2s;
};

/* one value: *p, *m, *v updated from gradient g */
__device__ __forceinline__ void adamw_1(const adamw_k &k, float &p, float g, float &m, float &v) {
  float pi = p * (1.0f - k.lr * k.wd);
  float mi = k.b1 * m + (1.0f - k.b1) * g;
  float vi = k.b2 * v + (1.0f - k.b2) * g * g;
  m = mi;
  v = vi;
  p = pi - k.step * mi / (sqrtf(vi) / k.bc2s + k.eps);
}

__global__ void k_adamw(float *p, const float *g, float *m, float *v, int64_t n, adamw_k k) {
  CU_LOOP(i, n) {
    float pi = p[i], mi = m[i], vi = v[i];
    adamw_1(k, pi, g[i], mi, vi);
    p[i] = pi, m[i] = mi, v[i] = vi;
  }
}

__global__ void k_adamw4(float *p, const float *g, float *m, float *v, int64_t n, adamw_k k) {
  const int64_t n4 = n / 4;
  CU_LOOP(i, n4) {
    float4 P = ((float4 *)p)[i], M = ((float4 *)m)[i], V = ((float4 *)v)[i];
    const float4 G = ((const float4 *)g)[i];
    adamw_1(k, P.x, G.x, M.x, V.x);
    adamw_1(k, P.y, G.y, M.y, V.y);
    adamw_1(k, P.z, G.z, M.z, V.z);
    adamw_1(k, P.w, G.w, M.w, V.w);
    ((float4 *)p)[i] = P, ((float4 *)m)[i] = M, ((float4 *)v)[i] = V;
  }
  CU_LOOP(j, n - 4 * n4) {
    const int64_t i = 4 * n4 + j;
    float pi = p[i], mi = m[i], vi = v[i];
    adamw_1(k, pi, g[i], mi, vi);
    p[i] = pi, m[i] = mi, v[i] = vi;
  }
}

/* ---- AdamW over runs of the flat parameter buffers in one launch (cu_adamw_runs): the runs'
 * values as one concatenation, 256 x AR_PER of them a block-chunk; a thread finds the run of its
 * first value by binary search and walks forward; each value through adamw_1 with the run's
 * constants (kd with decay, kn without), so the bits are those of one k_adamw per run ---- */
#define AR_PER 8 /* values a thread per chunk: all loaded before any is updated */

/* a run: n values at offset off of the buffers, at index start of the concatenation */
struct adamw_seg {
  int64_t off, start, n;
  int32_t decay, pad;
};

/* the last run whose start is at most e (runs sorted by start; the host drops empty runs, so
 * the starts increase strictly) */
__device__ __forceinline__ int ar_find(const adamw_seg *s, int nr, int64_t e) {
  int lo = 0, hi = nr - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (s[mid].start <= e) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/* total: the runs' values together (the last run's start + n); wb, when not NULL, the weights'
 * bf16 copy at the same offsets as p: each updated value's rounding written there too (the
 * rounding cu_round_bf16 makes); 256 threads a block */
__global__ void k_adamw_runs(float *__restrict__ p, const float *__restrict__ g, float *__restrict__ m,
                             float *__restrict__ v, const adamw_seg *__restrict__ s, int nr, int64_t total,
                             adamw_k kd, adamw_k kn, unsigned short *__restrict__ wb) {
  const int64_t chunk = (int64_t)blockDim.x * AR_PER;
  for (int64_t c0 = (int64_t)blockIdx.x * chunk; c0 < total; c0 += (int64_t)gridDim.x * chunk) {
    const int64_t e0 = c0 + threadIdx.x;
    if (e0 >= total) return; /* every later chunk starts further on */
    int64_t idx[AR_PER];
    bool dec[AR_PER];
    int r = ar_find(s, nr, e0), cnt = 0;
#pragma unroll
    for (int j = 0; j < AR_PER; j++) {
      const int64_t e = e0 + (int64_t)j * blockDim.x;
      if (e < total) {
        while (e >= s[r].start + s[r].n) r++; /* ends before total: r stays below nr */
        idx[j] = s[r].off + (e - s[r].start), dec[j] = s[r].decay != 0, cnt = j + 1;
      }
    }
    float P[AR_PER], G[AR_PER], M[AR_PER], V[AR_PER];
#pragma unroll
    for (int j = 0; j < AR_PER; j++)
      if (j < cnt) P[j] = p[idx[j]], G[j] = g[idx[j]], M[j] = m[idx[j]], V[j] = v[idx[j]];
#pragma unroll
    for (int j = 0; j < AR_PER; j++)
      if (j < cnt) {
        adamw_1(dec[j] ? kd : kn, P[j], G[j], M[j], V[j]);
        p[idx[j]] = P[j], m[idx[j]] = M[j], v[idx[j]] = V[j];
        if (wb) wb[idx[j]] = cu_bf16_bits(P[j]);
      }
  }
}

/* ---- the sum of squares (the global gradient norm), in double: k_sumsq_part leaves one partial
 * per block, k_sumsq_total adds them in a fixed order (the first version added the blocks'
 * sums with atomicAdd, whose order, and so the norm's last bits, changed from run to run) ---- */
#define SQ_BLOCKS 1024 /* the partials' grid cap */

/* part[blockIdx.x] = the sum over this block's grid-stride share of x[i]^2; 256 threads */
__global__ void k_sumsq_part(const float *x, int64_t n, double *part) {
  double s = 0;
  CU_LOOP(i, n) s += (double)x[i] * x[i];
  s = cu_block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

/* *out = the sum of part[0..nb); one block of 256 threads */
__global__ void k_sumsq_total(const double *part, int nb, double *out) {
  double s = 0;
  for (int i = threadIdx.x; i < nb; i += blockDim.x) s += part[i];
  s = cu_block_sum(s);
  if (threadIdx.x == 0) *out = s;
}
