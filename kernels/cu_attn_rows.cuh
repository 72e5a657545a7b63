// cu_attn_rows.cuh — the row kernels of the batched (materialised-scores) attention path: the
// forward's mask + bias + softmax + log-sum-exp over each score row (in registers for rows of at
// most AR_REG_MAX keys: one read and one write of the row), the backward's recomputed
// probabilities and dS. Device code only: included by cu_attn.cu, which launches them with
// its batched GEMMs, and by tests/gpu/simt/test_attn_rows_emu.cpp, which runs them under the
// SIMT emulator against a double-precision reference.
#pragma once

#include "cu_decode.cuh" /* at_lim */

#define AR_THREADS 256                 /* threads per row block */
#define AR_REG_MAX (16 * AR_THREADS)   /* rows up to this many keys go through registers */

/* the register count per thread of k_attn_softmax_reg for rows of Tk keys (1, 2, 4, 8 or 16),
 * 0 past AR_REG_MAX (the three-pass k_attn_softmax): cu_attn.cu's dispatch and the test's */
__host__ __device__ static inline int ar_per(int64_t Tk) {
  for (int p = 1; p <= 16; p *= 2)
    if (Tk <= (int64_t)p * AR_THREADS) return p;
  return 0;
}

/* Scores of a chunk: S (bc, Hq, TTp) with (Tq, Tk) per (b, h) at stride TTp = Tq Tk rounded up
 * to 4; row r = (b, h, i) at S + (r / Tq) TTp + i Tk. klen, p0: (bc) device arrays or
 * NULL (all keys; 0). */
__device__ __forceinline__ void at_row(int64_t r, int64_t Hq, int64_t Tq, int64_t Tk, const int32_t *klen,
                                       const int32_t *p0, int causal, int64_t *h, int64_t *i, int64_t *lim) {
  int64_t b = r / (Hq * Tq), e = r % (Hq * Tq);
  *h = e / Tq, *i = e % Tq;
  *lim = at_lim(klen ? klen[b] : Tk, causal, p0 ? p0[b] : 0, *i, Tk);
}

/* Rows of S: mask + bias, softmax in place, lse (bc, Hq, Tq). Block per row. */
__global__ void k_attn_softmax(float *S, int64_t TTp, float *lse, const float *bias, int64_t Hq, int64_t Tq,
                               int64_t Tk, const int32_t *klen, const int32_t *p0, int causal) {
  int64_t row = blockIdx.x, h, i, lim;
  at_row(row, Hq, Tq, Tk, klen, p0, causal, &h, &i, &lim);
  float *s = S + (row / Tq) * TTp + i * Tk;
  const float *br = bias ? bias + (h * Tq + i) * Tk : NULL;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < lim; j += blockDim.x) {
    float v = s[j] + (br ? br[j] : 0.0f);
    s[j] = v;
    mx = fmaxf(mx, v);
  }
  mx = cu_block_max(mx);
  if (mx == -INFINITY) { /* no visible key: zero output, lse = -inf */
    for (int64_t j = threadIdx.x; j < Tk; j += blockDim.x) s[j] = 0.0f;
    if (threadIdx.x == 0 && lse) lse[row] = -INFINITY;
    return;
  }
  double sum = 0;
  for (int64_t j = threadIdx.x; j < Tk; j += blockDim.x) {
    float p = j < lim ? expf(s[j] - mx) : 0.0f;
    s[j] = p;
    sum += p;
  }
  sum = cu_block_sum(sum);
  float inv = 1.0f / (float)sum;
  for (int64_t j = threadIdx.x; j < lim; j += blockDim.x) s[j] *= inv;
  if (threadIdx.x == 0 && lse) lse[row] = mx + logf((float)sum);
}

/* P = exp(S + bias - lse) on visible keys, 0 elsewhere (recomputed for backward). */
__global__ void k_attn_probs(float *S, int64_t TTp, const float *lse, const float *bias, int64_t Hq, int64_t Tq,
                             int64_t Tk, const int32_t *klen, const int32_t *p0, int causal) {
  int64_t row = blockIdx.x, h, i, lim;
  at_row(row, Hq, Tq, Tk, klen, p0, causal, &h, &i, &lim);
  float *s = S + (row / Tq) * TTp + i * Tk;
  const float *br = bias ? bias + (h * Tq + i) * Tk : NULL;
  float l = lse[row];
  for (int64_t j = threadIdx.x; j < Tk; j += blockDim.x)
    s[j] = (j < lim && l != -INFINITY) ? expf(s[j] + (br ? br[j] : 0.0f) - l) : 0.0f;
}

/* dS = P (dP - D_i) with D_i = dO_i . O_i, in place in dP; dbias (Hq, Tq, Tk) += dS summed
 * over the chunk's batch rows in order (the bias is shared by the batch, so one block per
 * (h, i) walks the rows: no atomics, the CPU's order). go, o: the chunk's (bc, Tq, Hq, D). */
__global__ void k_attn_ds(const float *P, float *dP, int64_t TTp, const float *go, const float *o, float *dbias,
                          int64_t bc, int64_t Tq, int64_t Tk, int64_t Hq, int64_t D) {
  int64_t hi = blockIdx.x, h = hi / Tq, i = hi % Tq;
  float *db = dbias ? dbias + hi * Tk : NULL;
  for (int64_t b = 0; b < bc; b++) {
    const float *gr = go + ((b * Tq + i) * Hq + h) * D, *orow = o + ((b * Tq + i) * Hq + h) * D;
    double di = 0;
    for (int64_t c = threadIdx.x; c < D; c += blockDim.x) di += (double)gr[c] * orow[c];
    float dv = (float)cu_block_sum(di);
    int64_t at = (b * Hq + h) * TTp + i * Tk;
    const float *p = P + at;
    float *dp = dP + at;
    for (int64_t j = threadIdx.x; j < Tk; j += blockDim.x) {
      float v = p[j] * (dp[j] - dv);
      dp[j] = v;
      if (db) db[j] += v; /* thread j owns column j for every b */
    }
  }
}

/* As k_attn_softmax for rows of at most PER x AR_THREADS keys, the row held in registers
 * (thread x takes keys x, x + AR_THREADS, ...): the scores are read once and the probabilities
 * written once, where k_attn_softmax reads and writes the row three times. The same operations
 * in the same order per thread, so the same results. Block per row, AR_THREADS threads. */
template <int PER>
__global__ void __launch_bounds__(AR_THREADS)
    k_attn_softmax_reg(float *S, int64_t TTp, float *lse, const float *bias, int64_t Hq, int64_t Tq, int64_t Tk,
                       const int32_t *klen, const int32_t *p0, int causal) {
  int64_t row = blockIdx.x, h, i, lim;
  at_row(row, Hq, Tq, Tk, klen, p0, causal, &h, &i, &lim);
  float *s = S + (row / Tq) * TTp + i * Tk;
  const float *br = bias ? bias + (h * Tq + i) * Tk : NULL;
  float v[PER];
  float mx = -INFINITY;
#pragma unroll
  for (int k = 0; k < PER; k++) {
    int64_t j = threadIdx.x + (int64_t)k * AR_THREADS;
    v[k] = j < lim ? s[j] + (br ? br[j] : 0.0f) : -INFINITY;
    mx = fmaxf(mx, v[k]);
  }
  mx = cu_block_max(mx);
  if (mx == -INFINITY) { /* no visible key: zero output, lse = -inf */
#pragma unroll
    for (int k = 0; k < PER; k++) {
      int64_t j = threadIdx.x + (int64_t)k * AR_THREADS;
      if (j < Tk) s[j] = 0.0f;
    }
    if (threadIdx.x == 0 && lse) lse[row] = -INFINITY;
    return;
  }
  double sum = 0;
#pragma unroll
  for (int k = 0; k < PER; k++) {
    int64_t j = threadIdx.x + (int64_t)k * AR_THREADS;
    float p = j < lim ? expf(v[k] - mx) : 0.0f;
    v[k] = p;
    sum += p;
  }
  sum = cu_block_sum(sum);
  float inv = 1.0f / (float)sum;
#pragma unroll
  for (int k = 0; k < PER; k++) {
    int64_t j = threadIdx.x + (int64_t)k * AR_THREADS;
    if (j < Tk) s[j] = j < lim ? v[k] * inv : 0.0f;
  }
  if (threadIdx.x == 0 && lse) lse[row] = mx + logf((float)sum);
}

