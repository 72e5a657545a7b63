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

#ifdef SIMT_EMU
#define FL_DYN_SMEM(name) unsigned char *name = simt::dyn_smem()
#else
#include <cuda_bf16.h>
#include <mma.h>
#define FL_DYN_SMEM(name) extern __shared__ __align__(32) unsigned char name[]
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
  FL_DYN_SMEM(smem);
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
  for (int e = tid; e < FL_BQ * D; e += FL_THREADS) {
    int r = e / D, d = e % D, i = q0 + r;
    Qs[r * G::LDH + d] = __float2bfloat16(i < Tq ? q[((int64_t)b * Tq + i) * qs + (int64_t)h * D + d] : 0.0f);
  }
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
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fq[D / 16];
  for (int kb = 0; kb < D / 16; kb++) wmma::load_matrix_sync(fq[kb], Qs + w * 16 * G::LDH + kb * 16, G::LDH);
  for (int k0 = 0; k0 < kend; k0 += FL_BK) {
    for (int e = tid; e < FL_BK * D; e += FL_THREADS) {
      int rr = e / D, d = e % D, j = k0 + rr;
      int64_t off = ((int64_t)b * Tk + j) * ks + (int64_t)hk * D + d;
      Ks[rr * G::LDH + d] = __float2bfloat16(j < kend ? k[off] : 0.0f);
      Vs[rr * G::LDH + d] = __float2bfloat16(j < kend ? v[off] : 0.0f);
    }
    __syncthreads();
    /* S (16, BK) = Q_w K^T */
    for (int nb = 0; nb < FL_BK / 16; nb++) {
      facc acc;
      wmma::fill_fragment(acc, 0.0f);
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
    for (int db = 0; db < D / 16; db++) {
      facc acc;
      wmma::load_matrix_sync(acc, Ow + db * 16, G::LDO, wmma::mem_row_major);
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
