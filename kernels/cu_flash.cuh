// cu_flash.cuh — attention forward on tensor cores for the bf16 GEMM precision: a flash-style
// kernel that never writes the (Tq, Tk) scores to memory. A block takes 64 queries of one
// (batch row, query head); its 4 warps own 16 query rows each. Per tile of 64 keys the block
// stages K and V (rounded to bf16, as cuBLAS's FAST_16BF rounds the operands of the batched
// GEMMs in the materialised path), each warp forms its scores S = Q K^T with 16x16x16 bf16
// WMMA products (f32 sums) into shared memory, updates its rows' running max and sum (online
// softmax in f32, two lanes per row), writes P = exp(scale S - max) rounded to bf16, rescales
// its f32 output rows and adds P V with WMMA. At the end O /= sum and lse = max + log(sum), the
// CPU's definitions (a row with no visible key: O = 0, lse = -inf), so the backward can
// recompute P from lse. Masks as the CPU's: key j is visible to query i of batch row b when
// j < kv_len[b] and, causal, j <= q_pos0[b] + i. Grouped-query heads read K/V head
// h / (Hq / Hkv). D is 64 or 128 (template); no additive bias (the materialised path takes it).
// Device code only: included by cu_attn.cu, and by tests/gpu/simt/test_flash_emu.cpp, which
// runs it under the SIMT emulator (SIMT_EMU) against a double-precision reference in ctest.
#pragma once

#include "cu_dev.cuh"
#ifdef SIMT_EMU
#define FL_UNROLL
#else
#include <cuda_bf16.h>
#include <mma.h>
#define FL_UNROLL _Pragma("unroll") /* loops over fragment arrays: registers, not local memory */
#endif

#define FL_BQ 64      /* queries per block: 4 warps x 16 rows */
#define FL_BK 64      /* keys per tile */
#define FL_THREADS 128

/* Shared memory of one block. Row strides are padded (bank spread) and keep every 16-row,
 * 16-column tile 32-byte aligned, as WMMA loads and stores require. */
template <int D>
struct fl_geom {
  static constexpr int LDH = D + 8;     /* bf16 rows of the Q, K, V tiles */
  static constexpr int LDS = FL_BK + 4; /* f32 rows of a warp's scores (16, BK) */
  static constexpr int LDP = FL_BK + 8; /* bf16 rows of a warp's probabilities (16, BK) */
  static constexpr int LDO = D + 4;     /* f32 rows of a warp's output (16, D) */
  static constexpr size_t q_off = 0;
  static constexpr size_t k_off = q_off + 2 * FL_BQ * LDH;
  static constexpr size_t v_off = k_off + 2 * FL_BK * LDH;
  static constexpr size_t s_off = v_off + 2 * FL_BK * LDH;
  static constexpr size_t p_off = s_off + 4 * 4 * 16 * LDS;
  static constexpr size_t o_off = p_off + 2 * 4 * 16 * LDP;
  static constexpr size_t bytes = o_off + 4 * 4 * 16 * LDO;
};

/* Stages 64 rows of one or two (., T, H, D) tensors (rows t0 + rr of the head at base =
 * element offset of row 0, rows rs elements apart) into bf16 tiles of row stride ldh; rows at
 * or past lim are zeros. b / db may be NULL. Every thread of the block takes part. */
template <int D>
__device__ __forceinline__ void fl_stage(__nv_bfloat16 *da, __nv_bfloat16 *db, const float *a, const float *b,
                                         int64_t base, int64_t rs, int t0, int lim, int ldh) {
  for (int e = threadIdx.x; e < 64 * D; e += FL_THREADS) {
    int rr = e / D, d = e % D, t = t0 + rr;
    int64_t off = base + (int64_t)t * rs + d;
    da[rr * ldh + d] = __float2bfloat16(t < lim ? a[off] : 0.0f);
    if (db) db[rr * ldh + d] = __float2bfloat16(t < lim ? b[off] : 0.0f);
  }
}

typedef nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major> fl_fa;

/* A warp's two (16, 64) products against the rows of two staged (64, D) tiles: o1 = a1 X^T and
 * o2 = a2 Y^T (a1, a2: the warp's 16 rows as D/16 fragments), stored in f32 at row stride lds */
template <int D>
__device__ __forceinline__ void fl_two_products(const fl_fa (&a1)[D / 16], const fl_fa (&a2)[D / 16],
                                                const __nv_bfloat16 *X, const __nv_bfloat16 *Y, int ldh, float *o1,
                                                float *o2, int lds) {
  using namespace nvcuda;
  FL_UNROLL
  for (int nb = 0; nb < 4; nb++) {
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> s, p;
    wmma::fill_fragment(s, 0.0f);
    wmma::fill_fragment(p, 0.0f);
    FL_UNROLL
    for (int kb = 0; kb < D / 16; kb++) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fx, fy;
      wmma::load_matrix_sync(fx, X + nb * 16 * ldh + kb * 16, ldh);
      wmma::load_matrix_sync(fy, Y + nb * 16 * ldh + kb * 16, ldh);
      wmma::mma_sync(s, a1[kb], fx, s);
      wmma::mma_sync(p, a2[kb], fy, p);
    }
    wmma::store_matrix_sync(o1 + nb * 16, s, lds, wmma::mem_row_major);
    wmma::store_matrix_sync(o2 + nb * 16, p, lds, wmma::mem_row_major);
  }
}

/* q, out (B, Tq, Hq, D); k, v (B, Tk, Hkv, D); lse (B, Hq, Tq); grid (ceil(Tq/64), Hq, B),
 * FL_THREADS threads, fl_geom<D>::bytes of dynamic shared memory. */
template <int D>
__global__ void __launch_bounds__(FL_THREADS)
    k_flash_fwd(const float *__restrict__ q, const float *__restrict__ k, const float *__restrict__ v, float *out,
                float *lse, int Tq, int Tk, int Hq, int Hkv, float scale, int causal, const int *kv_len,
                const int *q_pos0) {
  using namespace nvcuda;
  typedef fl_geom<D> G;
  typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> facc;
  CU_DYN_SMEM(unsigned char, smem);
  __nv_bfloat16 *Qs = (__nv_bfloat16 *)(smem + G::q_off), *Ks = (__nv_bfloat16 *)(smem + G::k_off),
                *Vs = (__nv_bfloat16 *)(smem + G::v_off);
  const int tid = threadIdx.x, w = tid >> 5, lane = tid & 31;
  float *Sw = (float *)(smem + G::s_off) + w * 16 * G::LDS;                     /* (16, BK) */
  __nv_bfloat16 *Pw = (__nv_bfloat16 *)(smem + G::p_off) + w * 16 * G::LDP;      /* (16, BK) */
  float *Ow = (float *)(smem + G::o_off) + w * 16 * G::LDO;                     /* (16, D) */
  const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * FL_BQ, hk = h / (Hq / Hkv);
  const int64_t qs = (int64_t)Hq * D, ks = (int64_t)Hkv * D; /* row strides of q/out and k/v */
  int klen = kv_len ? kv_len[b] : Tk;
  klen = klen < 0 ? 0 : klen > Tk ? Tk : klen;
  const int p0 = q_pos0 ? q_pos0[b] : 0;
  int kend = klen; /* keys any query of the block sees: [0, kend) */
  if (causal) {
    int last = (q0 + FL_BQ < Tq ? q0 + FL_BQ : Tq) - 1;
    if (p0 + last + 1 < kend) kend = p0 + last + 1;
  }
  /* the Q tile in bf16 (rows past Tq zero); this warp's output rows start at 0 */
  fl_stage<D>(Qs, NULL, q, NULL, (int64_t)b * Tq * qs + (int64_t)h * D, qs, q0, Tq, G::LDH);
  for (int e = lane; e < 16 * D; e += 32) Ow[(e / D) * G::LDO + e % D] = 0.0f;
  /* this lane's query row (two lanes per row) and its half of a tile's columns */
  const int r = lane >> 1, half = lane & 1, i = q0 + w * 16 + r;
  int lim = 0; /* keys [0, lim) visible to query i */
  if (i < Tq) {
    lim = klen;
    if (causal && p0 + i + 1 < lim) lim = p0 + i + 1;
    if (lim < 0) lim = 0;
  }
  float m = -INFINITY, l = 0.0f; /* running max of the scaled scores, running sum */
  __syncthreads();
  fl_fa fq[D / 16];
  FL_UNROLL
  for (int kb = 0; kb < D / 16; kb++) wmma::load_matrix_sync(fq[kb], Qs + w * 16 * G::LDH + kb * 16, G::LDH);
  for (int k0 = 0; k0 < kend; k0 += FL_BK) {
    fl_stage<D>(Ks, Vs, k, v, (int64_t)b * Tk * ks + (int64_t)hk * D, ks, k0, kend, G::LDH);
    __syncthreads();
    /* S (16, BK) = Q_w K^T */
    FL_UNROLL
    for (int nb = 0; nb < FL_BK / 16; nb++) {
      facc acc;
      wmma::fill_fragment(acc, 0.0f);
      FL_UNROLL
      for (int kb = 0; kb < D / 16; kb++) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fk;
        wmma::load_matrix_sync(fk, Ks + nb * 16 * G::LDH + kb * 16, G::LDH);
        wmma::mma_sync(acc, fq[kb], fk, acc);
      }
      wmma::store_matrix_sync(Sw + nb * 16, acc, G::LDS, wmma::mem_row_major);
    }
    __syncwarp();
    /* online softmax over this lane's half row */
    const float *srow = Sw + r * G::LDS + half * (FL_BK / 2);
    __nv_bfloat16 *prow = Pw + r * G::LDP + half * (FL_BK / 2);
    const int jb = k0 + half * (FL_BK / 2);
    float mx = -INFINITY;
    for (int c = 0; c < FL_BK / 2; c++)
      if (jb + c < lim) mx = fmaxf(mx, srow[c] * scale);
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float mn = fmaxf(m, mx);
    const float alpha = mn == -INFINITY ? 1.0f : expf(m - mn);
    float sum = 0.0f;
    for (int c = 0; c < FL_BK / 2; c++) {
      float p = jb + c < lim ? expf(srow[c] * scale - mn) : 0.0f;
      prow[c] = __float2bfloat16(p);
      sum += p;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l = l * alpha + sum;
    m = mn;
    float *orow = Ow + r * G::LDO + half * (D / 2);
    for (int c = 0; c < D / 2; c++) orow[c] *= alpha;
    __syncwarp();
    /* O_w (16, D) += P (16, BK) V (BK, D) */
    FL_UNROLL
    for (int db = 0; db < D / 16; db++) {
      facc acc;
      wmma::load_matrix_sync(acc, Ow + db * 16, G::LDO, wmma::mem_row_major);
      FL_UNROLL
      for (int kb = 0; kb < FL_BK / 16; kb++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fp;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fv;
        wmma::load_matrix_sync(fp, Pw + kb * 16, G::LDP);
        wmma::load_matrix_sync(fv, Vs + kb * 16 * G::LDH + db * 16, G::LDH);
        wmma::mma_sync(acc, fp, fv, acc);
      }
      wmma::store_matrix_sync(Ow + db * 16, acc, G::LDO, wmma::mem_row_major);
    }
    __syncthreads(); /* K and V are overwritten next */
  }
  __syncwarp();
  if (i < Tq) {
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    const float *orow = Ow + r * G::LDO + half * (D / 2);
    float *dst = out + ((int64_t)b * Tq + i) * qs + (int64_t)h * D + half * (D / 2);
    for (int c = 0; c < D / 2; c++) dst[c] = orow[c] * inv;
    if (half == 0) lse[((int64_t)b * Hq + h) * Tq + i] = l > 0.0f ? m + logf(l) : -INFINITY;
  }
}

/* ---- backward (FlashAttention-2's order, without atomics: deterministic) ----
 * Dq = rowsum(dO o O) per (b, h, i); then k_flash_bwd_kv: a block per (key tile of 64, kv
 * head, batch row) walks every query head of its group and every query tile that can see its
 * keys, recomputes P^T = exp(scale S^T - lse) from the forward's lse, and keeps dV += P^T dO and
 * dK += dS^T Q (dS = P (dP - Dq), dP = dO V^T) in WMMA accumulators, added to dk, dv once at
 * the end (scaled); k_flash_bwd_q: a block per (query tile, query head, batch row) walks the
 * key tiles and keeps dQ += dS K, added to dq at the end. P and dS are rounded to bf16 as the
 * operands of the GEMMs they feed (as cuBLAS's FAST_16BF rounds them in the batched path);
 * Q, K, V and dO too. Gradients add into dq, dk, dv (NULL: not wanted), as the op's contract. */

/* Dq (B, Hq, Tq) = sum_d dO o O: a thread per row */
template <int D>
__global__ void k_flash_dot(const float *__restrict__ dout, const float *__restrict__ out, float *dq, int B, int Tq,
                            int Hq) {
  int64_t n = (int64_t)B * Hq * Tq;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t i = e % Tq, h = e / Tq % Hq, b = e / ((int64_t)Tq * Hq);
    const float *g = dout + ((b * Tq + i) * Hq + h) * D, *o = out + ((b * Tq + i) * Hq + h) * D;
    float s = 0.0f;
    for (int d = 0; d < D; d++) s += g[d] * o[d];
    dq[e] = s;
  }
}

/* keys [0, lim) visible to query i (0 past Tq): the forward's masks */
__device__ __forceinline__ int fl_lim(int i, int Tq, int klen, int causal, int p0) {
  if (i >= Tq) return 0;
  int lim = klen;
  if (causal && p0 + i + 1 < lim) lim = p0 + i + 1;
  return lim < 0 ? 0 : lim;
}

/* g (B, T, H, D) row (b, t, head h) += this lane's half of staged row r (when t < tmax; g may
 * be NULL: not wanted) */
template <int D>
__device__ __forceinline__ void fl_add_rows(float *g, const float *stage, int ld, int b, int t, int tmax, int T, int h,
                                            int64_t rs, int r, int half) {
  if (!g || t >= tmax) return;
  float *dst = g + ((int64_t)b * T + t) * rs + (int64_t)h * D + half * (D / 2);
  const float *src = stage + r * ld + half * (D / 2);
  for (int d = 0; d < D / 2; d++) dst[d] += src[d];
}

template <int D>
struct fl_bwd_geom {
  static constexpr int LDH = D + 8, LDS = FL_BK + 4, LDP = FL_BK + 8, LDO = D + 4;
  static constexpr size_t t_bytes = 2 * 64 * LDH;             /* one bf16 (64, D) tile */
  static constexpr size_t w_f32 = 4 * 4 * 16 * LDS;           /* a (16, 64) f32 tile per warp */
  static constexpr size_t w_h = 2 * 4 * 16 * LDP;             /* a (16, 64) bf16 tile per warp */
  static constexpr size_t a_off = 0, b_off = t_bytes, c_off = 2 * t_bytes, d_off = 3 * t_bytes;
  static constexpr size_t s_off = 4 * t_bytes, s2_off = s_off + w_f32;
  static constexpr size_t h_off = s2_off + w_f32, h2_off = h_off + w_h;
  static constexpr size_t r_off = h2_off + w_h;               /* 64 lse + 64 Dq (kv kernel) */
  static constexpr size_t bytes = r_off + 2 * 64 * 4;
  /* the final (16, D) f32 staging of a warp reuses the f32 tile regions, 2 LDS per row */
  static_assert(2 * LDS >= LDO, "staging does not fit");
};

/* grid (ceil(Tk/64), Hkv, B), FL_THREADS threads, fl_bwd_geom<D>::bytes of shared memory */
template <int D>
__global__ void __launch_bounds__(FL_THREADS)
    k_flash_bwd_kv(const float *__restrict__ q, const float *__restrict__ k, const float *__restrict__ v,
                   const float *__restrict__ dout, const float *__restrict__ lse, const float *__restrict__ dot,
                   float *dk, float *dv, int Tq, int Tk, int Hq, int Hkv, float scale, int causal, const int *kv_len,
                   const int *q_pos0) {
  using namespace nvcuda;
  typedef fl_bwd_geom<D> G;
  typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> facc;
  CU_DYN_SMEM(unsigned char, smem);
  __nv_bfloat16 *Ks = (__nv_bfloat16 *)(smem + G::a_off), *Vs = (__nv_bfloat16 *)(smem + G::b_off),
                *Qs = (__nv_bfloat16 *)(smem + G::c_off), *Gs = (__nv_bfloat16 *)(smem + G::d_off);
  float *Ls = (float *)(smem + G::r_off), *Ds = Ls + 64;
  const int tid = threadIdx.x, w = tid >> 5, lane = tid & 31;
  float *STw = (float *)(smem + G::s_off) + w * 16 * G::LDS;   /* S^T (16 keys, 64 queries) */
  float *PTw = (float *)(smem + G::s2_off) + w * 16 * G::LDS;  /* dP^T */
  __nv_bfloat16 *Ph = (__nv_bfloat16 *)(smem + G::h_off) + w * 16 * G::LDP;  /* P^T in bf16 */
  __nv_bfloat16 *Dh = (__nv_bfloat16 *)(smem + G::h2_off) + w * 16 * G::LDP; /* dS^T in bf16 */
  const int b = blockIdx.z, hk = blockIdx.y, k0 = blockIdx.x * FL_BK, grp = Hq / Hkv;
  const int64_t qs = (int64_t)Hq * D, ks = (int64_t)Hkv * D;
  int klen = kv_len ? kv_len[b] : Tk;
  klen = klen < 0 ? 0 : klen > Tk ? Tk : klen;
  const int p0 = q_pos0 ? q_pos0[b] : 0;
  if (k0 >= klen) return; /* no query sees these keys: nothing to add */
  fl_stage<D>(Ks, Vs, k, v, (int64_t)b * Tk * ks + (int64_t)hk * D, ks, k0, klen, G::LDH);
  __syncthreads();
  fl_fa fk[D / 16], fv[D / 16];
  FL_UNROLL
  for (int kb = 0; kb < D / 16; kb++) {
    wmma::load_matrix_sync(fk[kb], Ks + w * 16 * G::LDH + kb * 16, G::LDH);
    wmma::load_matrix_sync(fv[kb], Vs + w * 16 * G::LDH + kb * 16, G::LDH);
  }
  facc adk[D / 16], adv[D / 16];
  FL_UNROLL
  for (int db = 0; db < D / 16; db++) wmma::fill_fragment(adk[db], 0.0f), wmma::fill_fragment(adv[db], 0.0f);
  const int r = lane >> 1, half = lane & 1, j = k0 + w * 16 + r; /* this lane's key row */
  int qstart = causal ? k0 - p0 : 0; /* the first query that sees key k0 */
  qstart = qstart < 0 ? 0 : qstart / FL_BQ * FL_BQ;
  for (int hh = 0; hh < grp; hh++) {
    const int h = hk * grp + hh;
    for (int q0 = qstart; q0 < Tq; q0 += FL_BQ) {
      __syncthreads(); /* the previous tile's Q, dO, lse, Dq are read */
      fl_stage<D>(Qs, Gs, q, dout, (int64_t)b * Tq * qs + (int64_t)h * D, qs, q0, Tq, G::LDH);
      for (int e = tid; e < FL_BQ; e += FL_THREADS) {
        int i = q0 + e;
        int64_t off = ((int64_t)b * Hq + h) * Tq + i;
        Ls[e] = i < Tq ? lse[off] : 0.0f;
        Ds[e] = i < Tq ? dot[off] : 0.0f;
      }
      __syncthreads();
      /* S^T (16, 64) = K_w Q^T and dP^T (16, 64) = V_w dO^T */
      fl_two_products<D>(fk, fv, Qs, Gs, G::LDH, STw, PTw, G::LDS);
      __syncwarp();
      for (int c = half * 32; c < half * 32 + 32; c++) {
        int i = q0 + c;
        float pv = 0.0f, ds = 0.0f;
        if (j < fl_lim(i, Tq, klen, causal, p0)) {
          pv = expf(STw[r * G::LDS + c] * scale - Ls[c]);
          ds = pv * (PTw[r * G::LDS + c] - Ds[c]);
        }
        Ph[r * G::LDP + c] = __float2bfloat16(pv);
        Dh[r * G::LDP + c] = __float2bfloat16(ds);
      }
      __syncwarp();
      /* dV_w += P^T dO, dK_w += dS^T Q */
      FL_UNROLL
      for (int db = 0; db < D / 16; db++)
        FL_UNROLL
        for (int kb = 0; kb < FL_BQ / 16; kb++) {
          wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fp, fs;
          wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fg, fq;
          wmma::load_matrix_sync(fp, Ph + kb * 16, G::LDP);
          wmma::load_matrix_sync(fs, Dh + kb * 16, G::LDP);
          wmma::load_matrix_sync(fg, Gs + kb * 16 * G::LDH + db * 16, G::LDH);
          wmma::load_matrix_sync(fq, Qs + kb * 16 * G::LDH + db * 16, G::LDH);
          wmma::mma_sync(adv[db], fp, fg, adv[db]);
          wmma::mma_sync(adk[db], fs, fq, adk[db]);
        }
    }
  }
  /* add to the gradients through shared memory: dK scaled, then dV. Every warp is past its
   * last tile; each takes (16, LDO) of the two f32 tile regions (2 LDS per row) */
  __syncthreads();
  float *stage = (float *)(smem + G::s_off) + w * 2 * 16 * G::LDS;
  FL_UNROLL
  for (int db = 0; db < D / 16; db++) {
    for (int t = 0; t < adk[db].num_elements; t++) adk[db].x[t] *= scale;
    wmma::store_matrix_sync(stage + db * 16, adk[db], G::LDO, wmma::mem_row_major);
  }
  __syncwarp();
  fl_add_rows<D>(dk, stage, G::LDO, b, j, klen, Tk, hk, ks, r, half);
  __syncwarp();
  FL_UNROLL
  for (int db = 0; db < D / 16; db++) wmma::store_matrix_sync(stage + db * 16, adv[db], G::LDO, wmma::mem_row_major);
  __syncwarp();
  fl_add_rows<D>(dv, stage, G::LDO, b, j, klen, Tk, hk, ks, r, half);
}

template <int D>
struct fl_q_geom {
  static constexpr int LDH = D + 8, LDS = FL_BK + 4, LDP = FL_BK + 8, LDO = D + 4;
  static constexpr size_t t_bytes = 2 * 64 * LDH;
  static constexpr size_t w_f32 = 4 * 4 * 16 * LDS, w_h = 2 * 4 * 16 * LDP;
  static constexpr size_t q_off = 0, g_off = t_bytes, k_off = 2 * t_bytes, v_off = 3 * t_bytes;
  static constexpr size_t s_off = 4 * t_bytes, s2_off = s_off + w_f32, h_off = s2_off + w_f32;
  static constexpr size_t bytes = h_off + w_h;
  static_assert(2 * LDS >= LDO, "staging does not fit");
};

/* grid (ceil(Tq/64), Hq, B), FL_THREADS threads, fl_q_geom<D>::bytes of shared memory */
template <int D>
__global__ void __launch_bounds__(FL_THREADS)
    k_flash_bwd_q(const float *__restrict__ q, const float *__restrict__ k, const float *__restrict__ v,
                  const float *__restrict__ dout, const float *__restrict__ lse, const float *__restrict__ dot,
                  float *dq, int Tq, int Tk, int Hq, int Hkv, float scale, int causal, const int *kv_len,
                  const int *q_pos0) {
  using namespace nvcuda;
  typedef fl_q_geom<D> G;
  typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> facc;
  CU_DYN_SMEM(unsigned char, smem);
  __nv_bfloat16 *Qs = (__nv_bfloat16 *)(smem + G::q_off), *Gs = (__nv_bfloat16 *)(smem + G::g_off),
                *Ks = (__nv_bfloat16 *)(smem + G::k_off), *Vs = (__nv_bfloat16 *)(smem + G::v_off);
  const int tid = threadIdx.x, w = tid >> 5, lane = tid & 31;
  float *Sw = (float *)(smem + G::s_off) + w * 16 * G::LDS;  /* S (16 queries, 64 keys) */
  float *Pw = (float *)(smem + G::s2_off) + w * 16 * G::LDS; /* dP */
  __nv_bfloat16 *Dh = (__nv_bfloat16 *)(smem + G::h_off) + w * 16 * G::LDP; /* dS in bf16 */
  const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * FL_BQ, hk = h / (Hq / Hkv);
  const int64_t qs = (int64_t)Hq * D, ks = (int64_t)Hkv * D;
  int klen = kv_len ? kv_len[b] : Tk;
  klen = klen < 0 ? 0 : klen > Tk ? Tk : klen;
  const int p0 = q_pos0 ? q_pos0[b] : 0;
  int kend = klen;
  if (causal) {
    int last = (q0 + FL_BQ < Tq ? q0 + FL_BQ : Tq) - 1;
    if (p0 + last + 1 < kend) kend = p0 + last + 1;
  }
  fl_stage<D>(Qs, Gs, q, dout, (int64_t)b * Tq * qs + (int64_t)h * D, qs, q0, Tq, G::LDH);
  const int r = lane >> 1, half = lane & 1, i = q0 + w * 16 + r; /* this lane's query row */
  const int lim = fl_lim(i, Tq, klen, causal, p0);
  const int64_t ro = ((int64_t)b * Hq + h) * Tq + i;
  const float li = i < Tq ? lse[ro] : 0.0f, di = i < Tq ? dot[ro] : 0.0f;
  __syncthreads();
  fl_fa fq[D / 16], fg[D / 16];
  FL_UNROLL
  for (int kb = 0; kb < D / 16; kb++) {
    wmma::load_matrix_sync(fq[kb], Qs + w * 16 * G::LDH + kb * 16, G::LDH);
    wmma::load_matrix_sync(fg[kb], Gs + w * 16 * G::LDH + kb * 16, G::LDH);
  }
  facc adq[D / 16];
  FL_UNROLL
  for (int db = 0; db < D / 16; db++) wmma::fill_fragment(adq[db], 0.0f);
  for (int k0 = 0; k0 < kend; k0 += FL_BK) {
    __syncthreads(); /* the previous tile's K, V are read */
    fl_stage<D>(Ks, Vs, k, v, (int64_t)b * Tk * ks + (int64_t)hk * D, ks, k0, kend, G::LDH);
    __syncthreads();
    /* S (16, 64) = Q_w K^T and dP (16, 64) = dO_w V^T */
    fl_two_products<D>(fq, fg, Ks, Vs, G::LDH, Sw, Pw, G::LDS);
    __syncwarp();
    for (int c = half * 32; c < half * 32 + 32; c++) {
      float ds = 0.0f;
      if (k0 + c < lim) {
        float pv = expf(Sw[r * G::LDS + c] * scale - li);
        ds = pv * (Pw[r * G::LDS + c] - di);
      }
      Dh[r * G::LDP + c] = __float2bfloat16(ds);
    }
    __syncwarp();
    /* dQ_w += dS K */
    FL_UNROLL
    for (int db = 0; db < D / 16; db++)
      FL_UNROLL
      for (int kb = 0; kb < FL_BK / 16; kb++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fs;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fk;
        wmma::load_matrix_sync(fs, Dh + kb * 16, G::LDP);
        wmma::load_matrix_sync(fk, Ks + kb * 16 * G::LDH + db * 16, G::LDH);
        wmma::mma_sync(adq[db], fs, fk, adq[db]);
      }
  }
  __syncthreads(); /* every warp is past its last tile: each stages (16, LDO) in 2 LDS-row f32 tiles */
  float *stage = (float *)(smem + G::s_off) + w * 2 * 16 * G::LDS;
  FL_UNROLL
  for (int db = 0; db < D / 16; db++) {
    for (int t = 0; t < adq[db].num_elements; t++) adq[db].x[t] *= scale;
    wmma::store_matrix_sync(stage + db * 16, adq[db], G::LDO, wmma::mem_row_major);
  }
  __syncwarp();
  fl_add_rows<D>(dq, stage, G::LDO, b, i, Tq, Tq, h, qs, r, half);
}
