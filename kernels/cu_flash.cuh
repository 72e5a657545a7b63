// cu_flash.cuh — attention on tensor cores for the bf16 GEMM precision, flash style: the
// (Tq, Tk) scores never go to memory. Built on mma.sync m16n8k16 (cu_mma.cuh) with every
// product's operands and sums in registers (FlashAttention-2's organisation): a warp owns 16
// rows of the product it accumulates, the scores of a 64-wide tile stay in its accumulators,
// and their softmax, packed to bf16 pairs, is directly the A operand of the next product.
// Shared memory holds only the staged bf16 tiles of the other operand (row-major for a
// product over D, transposed for a product over the tile's rows), so every fragment register
// is one 32-bit shared load; row strides of 8 extra bf16 keep the 32 lanes of such a load on
// 32 banks.
//
// Forward: a block takes 128 queries of one (batch row, query head), 8 warps of 16 rows (each
// staged tile serves 8 warps: half the re-reads of K and V that 4 would make); per tile of 64
// keys it stages K (row-major) and V (transposed), forms S = Q K^T, updates each
// row's running max and sum (online softmax in f32; a row's 4 lanes meet over two shuffles),
// rescales its output and adds P V. At the end O /= sum and lse = max + log(sum), the CPU's
// definitions (a row with no visible key: O = 0, lse = -inf), so the backward recomputes P
// from lse. Masks as the CPU's: key j is visible to query i of batch row b when j < kv_len[b]
// and, causal, j <= q_pos0[b] + i. Grouped-query heads read K/V head h / (Hq / Hkv). D is 64
// or 128 (template); no additive bias (the materialised path takes it). Q, K, V, P (and in the
// backward dO and dS) are rounded to bf16 as the operands of the products they feed, as
// cuBLAS's FAST_16BF rounds the operands of the batched GEMMs in the materialised path.
// Device code only: included by cu_attn.cu, and by tests/gpu/simt/test_flash_emu.cpp, which
// runs it under the SIMT emulator (SIMT_EMU) against a double-precision reference in ctest.
#pragma once

#include "cu_mma.cuh"
#ifdef SIMT_EMU
#define FL_UNROLL
#else
#define FL_UNROLL _Pragma("unroll") /* loops over fragment arrays: registers, not local memory */
#endif

#define FL_WARPS 8
#define FL_THREADS (32 * FL_WARPS)
#define FL_BQ (16 * FL_WARPS) /* queries per block of the forward and the dQ kernel, 16 per warp */
#define FL_BK (16 * FL_WARPS) /* keys per block of the dK/dV kernel, 16 per warp */
#define FL_TILE 64            /* rows of the staged tiles a block walks (keys; queries for dK/dV) */
#define FL_LDT (FL_TILE + 8)  /* bf16 row stride of a transposed (D, 64) tile */
static_assert(FL_TILE == 64, "the staging loops and fl_prod_rows / fl_prod_cols walk 64 rows");

/* bf16 row stride of a row-major (64, D) tile */
template <int D>
struct fl_ld {
  static constexpr int v = D + 8;
};

/* Shared memory of the forward: K (64, D) row-major, V^T (D, 64). */
template <int D>
struct fl_geom {
  static constexpr size_t k_off = 0;
  static constexpr size_t vt_off = k_off + 2 * FL_TILE * fl_ld<D>::v;
  static constexpr size_t bytes = vt_off + 2 * D * FL_LDT;
};

/* Stages rows t0 .. t0+63 of one head of a (., T, H, D) f32 tensor (src + base is row t0's
 * head, rows rs floats apart) as bf16: row-major into rm (row stride fl_ld<D>) and/or
 * transposed into tr ((D, 64), row stride FL_LDT); rows at or past lim are zeros. Either
 * destination may be NULL. Every thread of the block takes part and writes bf16 pairs. */
template <int D>
__device__ __forceinline__ void fl_stage(uint32_t *rm, uint32_t *tr, const float *src, int64_t base, int64_t rs,
                                         int t0, int lim) {
  const float *p = src + base;
  if (rm)
    for (int e = threadIdx.x; e < 64 * D / 2; e += FL_THREADS) {
      int r = e / (D / 2), d = 2 * (e % (D / 2));
      const float *row = p + (int64_t)r * rs;
      bool in = t0 + r < lim;
      rm[r * (fl_ld<D>::v / 2) + d / 2] = cu_bf16x2(in ? row[d] : 0.0f, in ? row[d + 1] : 0.0f);
    }
  /* transposed: a warp's 32 stores take 8 columns d x 4 row pairs, words 36 d + pair (mod 32:
   * 4 d + pair, all 32 banks); its loads read 8 consecutive floats of 8 rows */
  if (tr)
    for (int e = threadIdx.x; e < 32 * D; e += FL_THREADS) {
      int c = e >> 5, d = (c % (D / 8)) * 8 + (e & 7), pr = (c / (D / 8)) * 4 + ((e >> 3) & 3), r = 2 * pr;
      const float *row = p + (int64_t)r * rs;
      float lo = t0 + r < lim ? row[d] : 0.0f, hi = t0 + r + 1 < lim ? row[rs + d] : 0.0f;
      tr[d * (FL_LDT / 2) + pr] = cu_bf16x2(lo, hi);
    }
}

/* A fragments of 16 rows (r0 and r0 + 8 as this lane's g rows) of one head of a (., T, H, D)
 * f32 tensor, rounded to bf16, straight from global memory: rows at or past lim are zeros.
 * a[ks] covers columns 16 ks .. 16 ks + 15. */
template <int D>
__device__ __forceinline__ void fl_afrag(uint32_t (&a)[D / 16][4], const float *src, int64_t base, int64_t rs, int r0,
                                         int lim) {
  const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  const float *x0 = src + base + (int64_t)(r0 + g) * rs, *x1 = x0 + 8 * rs;
  const bool in0 = r0 + g < lim, in1 = r0 + g + 8 < lim;
  FL_UNROLL
  for (int ks = 0; ks < D / 16; ks++) {
    int c = 16 * ks + 2 * t;
    a[ks][0] = in0 ? cu_bf16x2(x0[c], x0[c + 1]) : 0u;
    a[ks][1] = in1 ? cu_bf16x2(x1[c], x1[c + 1]) : 0u;
    a[ks][2] = in0 ? cu_bf16x2(x0[c + 8], x0[c + 9]) : 0u;
    a[ks][3] = in1 ? cu_bf16x2(x1[c + 8], x1[c + 9]) : 0u;
  }
}

/* acc[nt] (16, 8) = A (16, D) X^T for the 8 key tiles nt of a staged row-major (64, D) tile X:
 * the product over D (S = Q K^T, dP = dO V^T, S^T = K Q^T, dP^T = V dO^T) */
template <int D>
__device__ __forceinline__ void fl_prod_rows(float (&acc)[8][4], const uint32_t (&a)[D / 16][4], const uint32_t *X) {
  const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  FL_UNROLL
  for (int nt = 0; nt < 8; nt++) {
    acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
    const uint32_t *row = X + (8 * nt + g) * (fl_ld<D>::v / 2);
    FL_UNROLL
    for (int ks = 0; ks < D / 16; ks++) {
      uint32_t b[2] = {row[8 * ks + t], row[8 * ks + 4 + t]};
      cu_mma16816(acc[nt], a[ks], b);
    }
  }
}

/* out[nd] (16, 8) += P (16, 64) Y for the D / 8 column tiles nd of a staged transposed tile
 * Y^T (D, 64): the product over the tile's 64 rows (O += P V, dV += P^T dO, dK += dS^T Q,
 * dQ += dS K). P comes as accumulators p[nt] (16, 8), packed here to bf16 A fragments. */
template <int D>
__device__ __forceinline__ void fl_prod_cols(float (&out)[D / 8][4], const float (&p)[8][4], const uint32_t *Yt) {
  const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  uint32_t a[4][4];
  FL_UNROLL
  for (int kk = 0; kk < 4; kk++) {
    a[kk][0] = cu_bf16x2(p[2 * kk][0], p[2 * kk][1]);
    a[kk][1] = cu_bf16x2(p[2 * kk][2], p[2 * kk][3]);
    a[kk][2] = cu_bf16x2(p[2 * kk + 1][0], p[2 * kk + 1][1]);
    a[kk][3] = cu_bf16x2(p[2 * kk + 1][2], p[2 * kk + 1][3]);
  }
  FL_UNROLL
  for (int nd = 0; nd < D / 8; nd++) {
    const uint32_t *row = Yt + (8 * nd + g) * (FL_LDT / 2);
    FL_UNROLL
    for (int kk = 0; kk < 4; kk++) {
      uint32_t b[2] = {row[8 * kk + t], row[8 * kk + 4 + t]};
      cu_mma16816(out[nd], a[kk], b);
    }
  }
}

/* the sum (max) over a row's 4 lanes (lanes 4g .. 4g + 3 hold row g's columns) */
__device__ __forceinline__ float fl_quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}
__device__ __forceinline__ float fl_quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

/* keys [0, lim) visible to query i (0 past Tq): the masks */
__device__ __forceinline__ int fl_lim(int i, int Tq, int klen, int causal, int p0) {
  if (i >= Tq) return 0;
  int lim = klen;
  if (causal && p0 + i + 1 < lim) lim = p0 + i + 1;
  return lim < 0 ? 0 : lim;
}

/* kv_len[b] clamped to [0, Tk] (NULL: Tk) */
__device__ __forceinline__ int fl_klen(const int *kv_len, int b, int Tk) {
  int klen = kv_len ? kv_len[b] : Tk;
  return klen < 0 ? 0 : klen > Tk ? Tk : klen;
}

/* keys [0, kend) some query of the block's [q0, q0 + FL_BQ) sees */
__device__ __forceinline__ int fl_kend(int q0, int Tq, int klen, int causal, int p0) {
  int kend = klen;
  if (causal) {
    int last = (q0 + FL_BQ < Tq ? q0 + FL_BQ : Tq) - 1;
    if (p0 + last + 1 < kend) kend = p0 + last + 1;
  }
  return kend < 0 ? 0 : kend;
}

/* dst row r (of a (., T, H, D) tensor at base, rows rs apart) += f * this lane's accumulator
 * columns (acc[nd][0..1] for row r0 + g, acc[nd][2..3] for r0 + g + 8) where the row < lim */
template <int D>
__device__ __forceinline__ void fl_add_rows(float *dst, int64_t base, int64_t rs, int r0, int lim,
                                            const float (&acc)[D / 8][4], float f0, float f1, int add) {
  const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  float *x0 = dst + base + (int64_t)(r0 + g) * rs, *x1 = x0 + 8 * rs;
  const bool in0 = r0 + g < lim, in1 = r0 + g + 8 < lim;
  FL_UNROLL
  for (int nd = 0; nd < D / 8; nd++) {
    int c = 8 * nd + 2 * t;
    if (in0) {
      x0[c] = (add ? x0[c] : 0.0f) + f0 * acc[nd][0];
      x0[c + 1] = (add ? x0[c + 1] : 0.0f) + f0 * acc[nd][1];
    }
    if (in1) {
      x1[c] = (add ? x1[c] : 0.0f) + f1 * acc[nd][2];
      x1[c + 1] = (add ? x1[c + 1] : 0.0f) + f1 * acc[nd][3];
    }
  }
}

/* q, out (B, Tq, Hq, D); k, v (B, Tk, Hkv, D); lse (B, Hq, Tq); grid (ceil(Tq/FL_BQ), Hq, B),
 * FL_THREADS threads, fl_geom<D>::bytes of dynamic shared memory. */
template <int D>
__global__ void __launch_bounds__(FL_THREADS)
    k_flash_fwd(const float *__restrict__ q, const float *__restrict__ k, const float *__restrict__ v, float *out,
                float *lse, int Tq, int Tk, int Hq, int Hkv, float scale, int causal, const int *kv_len,
                const int *q_pos0) {
  typedef fl_geom<D> G;
  CU_DYN_SMEM(unsigned char, smem);
  uint32_t *Ks = (uint32_t *)(smem + G::k_off), *Vt = (uint32_t *)(smem + G::vt_off);
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * FL_BQ, hk = h / (Hq / Hkv);
  const int64_t qs = (int64_t)Hq * D, ks = (int64_t)Hkv * D; /* row strides of q/out and k/v */
  const int klen = fl_klen(kv_len, b, Tk), p0 = q_pos0 ? q_pos0[b] : 0;
  const int kend = fl_kend(q0, Tq, klen, causal, p0);
  const int r0 = q0 + 16 * w, i0 = r0 + g, i1 = i0 + 8; /* this lane's two query rows */
  const int lim0 = fl_lim(i0, Tq, klen, causal, p0), lim1 = fl_lim(i1, Tq, klen, causal, p0);
  uint32_t qa[D / 16][4];
  fl_afrag<D>(qa, q, (int64_t)b * Tq * qs + (int64_t)h * D, qs, r0, Tq);
  float o[D / 8][4];
  FL_UNROLL
  for (int nd = 0; nd < D / 8; nd++) o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f; /* running max (scaled), this lane's part of the sum */
  for (int k0 = 0; k0 < kend; k0 += FL_TILE) {
    __syncthreads(); /* the previous tile's readers are done */
    const int64_t kb = ((int64_t)b * Tk + k0) * ks + (int64_t)hk * D;
    fl_stage<D>(Ks, NULL, k, kb, ks, k0, kend);
    fl_stage<D>(NULL, Vt, v, kb, ks, k0, kend);
    __syncthreads();
    float s[8][4];
    fl_prod_rows<D>(s, qa, Ks);
    float mx0 = -INFINITY, mx1 = -INFINITY;
    FL_UNROLL
    for (int nt = 0; nt < 8; nt++) {
      int j = k0 + 8 * nt + 2 * t;
      s[nt][0] = j < lim0 ? s[nt][0] * scale : -INFINITY;
      s[nt][1] = j + 1 < lim0 ? s[nt][1] * scale : -INFINITY;
      s[nt][2] = j < lim1 ? s[nt][2] * scale : -INFINITY;
      s[nt][3] = j + 1 < lim1 ? s[nt][3] * scale : -INFINITY;
      mx0 = fmaxf(mx0, fmaxf(s[nt][0], s[nt][1]));
      mx1 = fmaxf(mx1, fmaxf(s[nt][2], s[nt][3]));
    }
    const float n0 = fmaxf(m0, fl_quad_max(mx0)), n1 = fmaxf(m1, fl_quad_max(mx1));
    /* a row that has seen no visible key keeps max -inf: its p are exp(-inf) = 0, alpha 1 */
    const float u0 = n0 == -INFINITY ? 0.0f : n0, u1 = n1 == -INFINITY ? 0.0f : n1;
    const float a0 = n0 == -INFINITY ? 1.0f : expf(m0 - n0), a1 = n1 == -INFINITY ? 1.0f : expf(m1 - n1);
    m0 = n0, m1 = n1;
    float sum0 = 0.0f, sum1 = 0.0f;
    FL_UNROLL
    for (int nt = 0; nt < 8; nt++) {
      s[nt][0] = expf(s[nt][0] - u0), s[nt][1] = expf(s[nt][1] - u0);
      s[nt][2] = expf(s[nt][2] - u1), s[nt][3] = expf(s[nt][3] - u1);
      sum0 += s[nt][0] + s[nt][1];
      sum1 += s[nt][2] + s[nt][3];
    }
    l0 = l0 * a0 + sum0, l1 = l1 * a1 + sum1;
    FL_UNROLL
    for (int nd = 0; nd < D / 8; nd++) o[nd][0] *= a0, o[nd][1] *= a0, o[nd][2] *= a1, o[nd][3] *= a1;
    fl_prod_cols<D>(o, s, Vt);
  }
  l0 = fl_quad_sum(l0), l1 = fl_quad_sum(l1);
  const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
  fl_add_rows<D>(out, (int64_t)b * Tq * qs + (int64_t)h * D, qs, r0, Tq, o, inv0, inv1, 0);
  if (t == 0) {
    float *lr = lse + ((int64_t)b * Hq + h) * Tq;
    if (i0 < Tq) lr[i0] = l0 > 0.0f ? m0 + logf(l0) : -INFINITY;
    if (i1 < Tq) lr[i1] = l1 > 0.0f ? m1 + logf(l1) : -INFINITY;
  }
}

/* ---- backward (FlashAttention-2's order, without atomics: deterministic) ----
 * Dq = rowsum(dO o O) per (b, h, i); then k_flash_bwd_kv: a block per (128 keys, head, batch
 * row), its 8 warps 16 keys each, walks every query tile that can see its keys, recomputes
 * P^T = exp(scale S^T - lse) from the forward's lse, and keeps dV += P^T dO and dK += dS^T Q
 * (dS = P (dP - Dq), dP = dO V^T) in registers, written once at the end (scaled). Without
 * grouped heads a block's head is the kv head and it adds into dk, dv; with them (split) a
 * block takes one query head and writes its part to per-query-head scratch, which
 * k_flash_gsum adds into dk, dv head by head in order (a grid Hq / Hkv times larger than one
 * block per kv head walking its group, still without atomics). k_flash_bwd_q: a block per
 * (128 queries, query head, batch row) walks the key tiles and keeps dQ += dS K, added to dq
 * at the end. Gradients add into dq, dk, dv (NULL: not wanted), as the op's contract. */

/* Dq (B, Hq, Tq) = sum_d dO o O: a warp per row (grid-stride over rows), its lanes reading
 * consecutive elements, the lanes' sums met over shuffles; blockDim a multiple of 32 */
template <int D>
__global__ void k_flash_dot(const float *__restrict__ dout, const float *__restrict__ out, float *dq, int B, int Tq,
                            int Hq) {
  const int64_t n = (int64_t)B * Hq * Tq, warps = (int64_t)gridDim.x * (blockDim.x / 32);
  const int lane = threadIdx.x & 31;
  for (int64_t e = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5); e < n; e += warps) {
    int64_t i = e % Tq, h = e / Tq % Hq, b = e / ((int64_t)Tq * Hq);
    const float *g = dout + ((b * Tq + i) * Hq + h) * D, *o = out + ((b * Tq + i) * Hq + h) * D;
    float s = 0.0f;
    for (int d = lane; d < D; d += 32) s += g[d] * o[d];
    for (int k = 16; k > 0; k >>= 1) s += __shfl_xor_sync(0xffffffffu, s, k);
    if (lane == 0) dq[e] = s;
  }
}

/* Shared memory of k_flash_bwd_kv: Q and dO of a query tile, row-major and transposed, and
 * the tile's lse and Dq (64 floats each). */
template <int D>
struct fl_bwd_geom {
  static constexpr size_t rm = 2 * FL_TILE * fl_ld<D>::v, tr = 2 * D * FL_LDT;
  static constexpr size_t q_off = 0, qt_off = rm, g_off = rm + tr, gt_off = 2 * rm + tr;
  static constexpr size_t lse_off = 2 * rm + 2 * tr, dot_off = lse_off + 4 * FL_TILE;
  static constexpr size_t bytes = dot_off + 4 * FL_TILE;
};

/* grid (ceil(Tk/FL_BK), Hkv, B) adding into dk, dv (B, Tk, Hkv, D); or split: grid
 * (ceil(Tk/FL_BK), Hq, B) writing dk, dv as per-query-head scratch (B, Hq, Tk, D) for
 * k_flash_gsum. FL_THREADS threads, fl_bwd_geom<D>::bytes of shared memory. */
template <int D>
__global__ void __launch_bounds__(FL_THREADS)
    k_flash_bwd_kv(const float *__restrict__ q, const float *__restrict__ k, const float *__restrict__ v,
                   const float *__restrict__ dout, const float *__restrict__ lse, const float *__restrict__ dot,
                   float *dk, float *dv, int Tq, int Tk, int Hq, int Hkv, float scale, int causal, const int *kv_len,
                   const int *q_pos0, int split) {
  typedef fl_bwd_geom<D> G;
  CU_DYN_SMEM(unsigned char, smem);
  uint32_t *Qs = (uint32_t *)(smem + G::q_off), *Qt = (uint32_t *)(smem + G::qt_off);
  uint32_t *Gs = (uint32_t *)(smem + G::g_off), *Gt = (uint32_t *)(smem + G::gt_off);
  float *Ls = (float *)(smem + G::lse_off), *Ds = (float *)(smem + G::dot_off);
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int b = blockIdx.z, grp = Hq / Hkv, k0 = blockIdx.x * FL_BK;
  const int hk = split ? (int)blockIdx.y / grp : (int)blockIdx.y; /* the kv head */
  const int h_first = split ? (int)blockIdx.y : hk * grp, h_end = split ? h_first + 1 : h_first + grp;
  const int64_t qs = (int64_t)Hq * D, ks = (int64_t)Hkv * D;
  /* where the gradients go: dk, dv themselves (rows ks apart, added) or the query head's scratch
   * rows (D apart, written) */
  const int64_t ob = split ? ((int64_t)b * Hq + blockIdx.y) * Tk * D : (int64_t)b * Tk * ks + (int64_t)hk * D,
                ors = split ? D : ks;
  const int klen = fl_klen(kv_len, b, Tk), p0 = q_pos0 ? q_pos0[b] : 0;
  if (k0 >= klen) { /* no query sees these keys: their gradients gain nothing (scratch: zeros) */
    if (split)
      for (int e = threadIdx.x; e < FL_BK * D; e += FL_THREADS) {
        int j = k0 + e / D;
        if (j < Tk) {
          if (dk) dk[ob + (int64_t)j * D + e % D] = 0.0f;
          if (dv) dv[ob + (int64_t)j * D + e % D] = 0.0f;
        }
      }
    return;
  }
  const int r0 = k0 + 16 * w, j0 = r0 + g, j1 = j0 + 8; /* this lane's two keys */
  const int64_t kvb = (int64_t)b * Tk * ks + (int64_t)hk * D;
  uint32_t ka[D / 16][4], va[D / 16][4];
  fl_afrag<D>(ka, k, kvb, ks, r0, klen);
  fl_afrag<D>(va, v, kvb, ks, r0, klen);
  float dka[D / 8][4], dva[D / 8][4];
  FL_UNROLL
  for (int nd = 0; nd < D / 8; nd++)
    FL_UNROLL
    for (int e = 0; e < 4; e++) dka[nd][e] = dva[nd][e] = 0.0f;
  /* causal: the first query that sees key k0 is k0 - p0 */
  int qfirst = causal ? k0 - p0 : 0;
  qfirst = qfirst < 0 ? 0 : qfirst / FL_TILE * FL_TILE;
  for (int h = h_first; h < h_end; h++)
    for (int q0 = qfirst; q0 < Tq; q0 += FL_TILE) {
      __syncthreads(); /* the previous tile's readers are done */
      const int64_t qb = ((int64_t)b * Tq + q0) * qs + (int64_t)h * D;
      fl_stage<D>(Qs, Qt, q, qb, qs, q0, Tq);
      fl_stage<D>(Gs, Gt, dout, qb, qs, q0, Tq);
      for (int r = threadIdx.x; r < FL_TILE; r += FL_THREADS) {
        int64_t at = ((int64_t)b * Hq + h) * Tq + q0 + r;
        Ls[r] = q0 + r < Tq ? lse[at] : -INFINITY;
        Ds[r] = q0 + r < Tq ? dot[at] : 0.0f;
      }
      __syncthreads();
      /* P^T (16 keys, 64 queries) = exp(scale K Q^T - lse) where visible */
      float p[8][4], dp[8][4];
      fl_prod_rows<D>(p, ka, Qs);
      FL_UNROLL
      for (int nt = 0; nt < 8; nt++)
        FL_UNROLL
        for (int e = 0; e < 4; e++) {
          int c = 8 * nt + 2 * t + (e & 1), i = q0 + c, j = e < 2 ? j0 : j1;
          bool vis = j < fl_lim(i, Tq, klen, causal, p0) && Ls[c] != -INFINITY;
          p[nt][e] = vis ? expf(p[nt][e] * scale - Ls[c]) : 0.0f;
        }
      fl_prod_cols<D>(dva, p, Gt); /* dV += P^T dO */
      fl_prod_rows<D>(dp, va, Gs); /* dP^T = V dO^T */
      FL_UNROLL
      for (int nt = 0; nt < 8; nt++)
        FL_UNROLL
        for (int e = 0; e < 4; e++) dp[nt][e] = p[nt][e] * (dp[nt][e] - Ds[8 * nt + 2 * t + (e & 1)]);
      fl_prod_cols<D>(dka, dp, Qt); /* dK += dS^T Q */
    }
  if (dv) fl_add_rows<D>(dv, ob, ors, r0, Tk, dva, 1.0f, 1.0f, !split);
  if (dk) fl_add_rows<D>(dk, ob, ors, r0, Tk, dka, scale, scale, !split);
}

/* dst (B, Tk, Hkv, D) += the sum over each group of the split scratch src (B, Hq, Tk, D), the
 * group's heads added in order; a thread per element of dst */
template <int D>
__global__ void k_flash_gsum(float *dst, const float *__restrict__ src, int B, int Tk, int Hkv, int grp) {
  const int64_t n = (int64_t)B * Tk * Hkv * D, Hq = (int64_t)Hkv * grp;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t d = e % D, kh = e / D % Hkv, j = e / ((int64_t)D * Hkv) % Tk, b = e / ((int64_t)D * Hkv * Tk);
    float acc = dst[e];
    for (int g = 0; g < grp; g++) acc += src[((b * Hq + kh * grp + g) * Tk + j) * D + d];
    dst[e] = acc;
  }
}

/* Shared memory of k_flash_bwd_q: K and V of a key tile row-major, K transposed. */
template <int D>
struct fl_q_geom {
  static constexpr size_t rm = 2 * FL_TILE * fl_ld<D>::v;
  static constexpr size_t k_off = 0, v_off = rm, kt_off = 2 * rm;
  static constexpr size_t bytes = kt_off + 2 * D * FL_LDT;
};

/* grid (ceil(Tq/FL_BQ), Hq, B), FL_THREADS threads, fl_q_geom<D>::bytes of shared memory */
template <int D>
__global__ void __launch_bounds__(FL_THREADS)
    k_flash_bwd_q(const float *__restrict__ q, const float *__restrict__ k, const float *__restrict__ v,
                  const float *__restrict__ dout, const float *__restrict__ lse, const float *__restrict__ dot,
                  float *dq, int Tq, int Tk, int Hq, int Hkv, float scale, int causal, const int *kv_len,
                  const int *q_pos0) {
  typedef fl_q_geom<D> G;
  CU_DYN_SMEM(unsigned char, smem);
  uint32_t *Ks = (uint32_t *)(smem + G::k_off), *Vs = (uint32_t *)(smem + G::v_off),
           *Kt = (uint32_t *)(smem + G::kt_off);
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * FL_BQ, hk = h / (Hq / Hkv);
  const int64_t qs = (int64_t)Hq * D, ks = (int64_t)Hkv * D;
  const int klen = fl_klen(kv_len, b, Tk), p0 = q_pos0 ? q_pos0[b] : 0;
  const int kend = fl_kend(q0, Tq, klen, causal, p0);
  const int r0 = q0 + 16 * w, i0 = r0 + g, i1 = i0 + 8;
  const int lim0 = fl_lim(i0, Tq, klen, causal, p0), lim1 = fl_lim(i1, Tq, klen, causal, p0);
  const int64_t qb = (int64_t)b * Tq * qs + (int64_t)h * D;
  uint32_t qa[D / 16][4], ga[D / 16][4];
  fl_afrag<D>(qa, q, qb, qs, r0, Tq);
  fl_afrag<D>(ga, dout, qb, qs, r0, Tq);
  const float *lr = lse + ((int64_t)b * Hq + h) * Tq, *dr = dot + ((int64_t)b * Hq + h) * Tq;
  const float L0 = i0 < Tq ? lr[i0] : -INFINITY, L1 = i1 < Tq ? lr[i1] : -INFINITY;
  const float D0 = i0 < Tq ? dr[i0] : 0.0f, D1 = i1 < Tq ? dr[i1] : 0.0f;
  float dqa[D / 8][4];
  FL_UNROLL
  for (int nd = 0; nd < D / 8; nd++) dqa[nd][0] = dqa[nd][1] = dqa[nd][2] = dqa[nd][3] = 0.0f;
  for (int k0 = 0; k0 < kend; k0 += FL_TILE) {
    __syncthreads();
    const int64_t kb = ((int64_t)b * Tk + k0) * ks + (int64_t)hk * D;
    fl_stage<D>(Ks, Kt, k, kb, ks, k0, kend);
    fl_stage<D>(Vs, NULL, v, kb, ks, k0, kend);
    __syncthreads();
    float p[8][4], dp[8][4];
    fl_prod_rows<D>(p, qa, Ks);  /* S = Q K^T */
    fl_prod_rows<D>(dp, ga, Vs); /* dP = dO V^T */
    FL_UNROLL
    for (int nt = 0; nt < 8; nt++) {
      int j = k0 + 8 * nt + 2 * t;
      p[nt][0] = j < lim0 ? expf(p[nt][0] * scale - L0) : 0.0f;
      p[nt][1] = j + 1 < lim0 ? expf(p[nt][1] * scale - L0) : 0.0f;
      p[nt][2] = j < lim1 ? expf(p[nt][2] * scale - L1) : 0.0f;
      p[nt][3] = j + 1 < lim1 ? expf(p[nt][3] * scale - L1) : 0.0f;
      dp[nt][0] = p[nt][0] * (dp[nt][0] - D0), dp[nt][1] = p[nt][1] * (dp[nt][1] - D0);
      dp[nt][2] = p[nt][2] * (dp[nt][2] - D1), dp[nt][3] = p[nt][3] * (dp[nt][3] - D1);
    }
    fl_prod_cols<D>(dqa, dp, Kt); /* dQ += dS K */
  }
  if (dq) fl_add_rows<D>(dq, qb, qs, r0, Tq, dqa, scale, scale, 1);
}
