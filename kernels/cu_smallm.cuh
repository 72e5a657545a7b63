// cu_smallm.cuh — the small-row GEMM of decoding steps, y = x W^T for at most 16 rows (behind
// cuda_set_decode_kernels), with f32 or bf16 weights, and the f32 -> bf16 conversion of the
// weights' copy. Device code only: included by cu_matmul.cu, which launches it, and
// by tests/gpu/simt/test_decode_emu.cpp, which runs it under the SIMT emulator in ctest.
#pragma once

#include "cu_dev.cuh"

/* ---- few rows against a weight stored (N, K): a decoding step's x W^T with G rows. Used only
 * when cuda_set_decode_kernels is on (2, the default since the H100 run of session 16: on the
 * small projections; tests/gpu/run.sh checks and times it on a GPU, and ctest runs it under the
 * SIMT emulator). On an H200 cuBLAS takes ~10-15 us of GPU
 * time per such GEMM (8 rows) and 14.6-16.9 us of host time to launch it (cublasLtMatmul /
 * cublasGemmEx), which is what holds a decoding step up: a kernel of our own launches in ~4 us.
 *
 * A tile is NC = 32 / MM columns; a block takes one tile at a time (a grid-stride loop over
 * tiles), and its 8 warps split K between them: lane l of warp w takes float4 w * 32 + l,
 * then + 256, ..., keeping the 32 sums (MM rows x NC columns) of its share, so every x value a
 * lane loads serves NC columns. A transposing butterfly leaves lane l with the warp's sum
 * number l in 31 shuffles; the 8 warps' sums meet in shared memory and warp 0 adds them in
 * warp order and writes them.
 * History: the first version (a block per tile, its 256 threads striding over K with a block
 * reduction per column) took 49 us per call on an H200 against cuBLAS's 29 (synced). The second
 * (a warp per tile, lanes striding over K) slowed rollouts too (2,030-2,068 against
 * 2,356-2,826 tokens/s): at N = 896 it made 28 blocks, each warp walking all of K in a serial
 * chain of loads, so most SMs idled while a few waited on memory. The third made a block per
 * tile (224 blocks at N = 896, 8 rows) with 8 chains of a K / 8 each: rollouts 1,797 against
 * 3,356-3,441 (H200, session 15), each tile re-reading x, 4x the weights' bytes at 8 rows.
 * This fourth keeps x in registers across the tiles of a block when K <= 1,024 and loads the
 * next tile's weights ahead, with the grid cut to one wave (sm_blocks_on); untimed.
 * f32 products and sums on every GEMM precision; in the bf16 precision the weights may be
 * their bf16 copy (W = uint2, cu_weights_bf16).
 * y (M,N) = x (M,K) w (N,K)^T + (beta y + bias), bias (N) or NULL; M <= MM; K % 4 == 0 and x, w
 * 16-byte aligned (the caller checks). */
#define SM_THREADS 256
#define SM_WARPS (SM_THREADS / 32)

/* four consecutive weights: f32 as they are, or bf16 (a uint2 of four 16-bit halves, element
 * k in bits 16 (k % 2) .. of word k / 2) widened exactly to f32 */
__device__ __forceinline__ float4 sm_w4(const float4 *w, int64_t i) { return __ldg(w + i); }
__device__ __forceinline__ float sm_bf(unsigned bits) { return __uint_as_float(bits); }
__device__ __forceinline__ float4 sm_w4(const uint2 *w, int64_t i) {
  uint2 r = __ldg(w + i);
  return make_float4(sm_bf(r.x << 16), sm_bf(r.x & 0xffff0000u), sm_bf(r.y << 16), sm_bf(r.y & 0xffff0000u));
}

/* the number of tiles of NC columns, and the blocks to launch for them: one per tile, at most
 * 16,384 (a grid-stride loop takes the rest) */
__host__ __device__ __forceinline__ int64_t sm_tiles(int MM, int64_t N) { return (N + 32 / MM - 1) / (32 / MM); }
__host__ __device__ __forceinline__ unsigned sm_blocks(int MM, int64_t N) {
  int64_t b = sm_tiles(MM, N);
  return (unsigned)(b < 16384 ? b : 16384);
}
/* whether the kernel keeps x across a block's tiles (its ONE form): K4 <= SM_THREADS (K <=
 * 1,024) and MM >= 4 (at most 8 columns a tile, whose weights fit in registers twice) */
__host__ __device__ __forceinline__ bool sm_one(int MM, int64_t K4) { return MM >= 4 && K4 <= SM_THREADS; }
/* the grid of the ONE form on a device of sms multiprocessors holding per_sm of its blocks each
 * (occupancy: 2 at 8 rows, 1 at 16): one wave, each block looping over tiles with its x;
 * otherwise as sm_blocks */
__host__ __device__ __forceinline__ unsigned sm_blocks_on(int MM, int64_t N, int64_t K4, int sms, int per_sm) {
  unsigned b = sm_blocks(MM, N), cap = (unsigned)((per_sm > 0 ? per_sm : 1) * (sms > 0 ? sms : 132));
  return sm_one(MM, K4) && b > cap ? cap : b;
}

/* The transposing butterfly over a warp's 32 sums: at half H, a lane keeps the half of its sums
 * that its bit H selects and adds the partner's copy of it; lane l ends with the warp's sum
 * number l in v[0]. A template per level, so that every index is a constant: as nested loops
 * over h and j, nvcc unrolled the x-keeping form's by 4 only, and v went to local memory. */
template <int H>
__device__ __forceinline__ void sm_bfly(float (&v)[32], int lane) {
  const bool up = (lane & H) != 0;
#pragma unroll
  for (int j = 0; j < H; j++) {
    float send = up ? v[j] : v[j + H], keep = up ? v[j + H] : v[j];
    v[j] = keep + __shfl_xor_sync(0xffffffffu, send, H);
  }
  if constexpr (H > 1) sm_bfly<H / 2>(v, lane);
}

/* W: float4 (f32 weights) or uint2 (bf16 weights, cu_ctx's copy made for decoding: see
 * cu_weights_bf16); x, the products and the sums stay f32 either way. ONE: sm_one(MM, K4)
 * (a form of its own, so the per-tile form keeps its registers: the down projection's
 * occupancy). Grid sm_blocks(MM, N), or sm_blocks_on for ONE; SM_THREADS threads. */
template <int MM, typename W, bool ONE>
__global__ void __launch_bounds__(SM_THREADS)
    k_smallm_nt(const float4 *__restrict__ x, const W *__restrict__ w, const float *__restrict__ bias, float *y,
                int M, int64_t N, int64_t K4, float beta) {
  constexpr int NC = 32 / MM; /* columns per tile */
  /* each warp's sums of a tile, lane l's sum number l; two sets, alternating by tile: warp 0
   * reads set s of a tile while the others write the other set for the next, and set s is
   * written again only after the next tile's barrier, which warp 0 reaches after its reads */
  __shared__ float part[2 * SM_WARPS * 32];
  unsigned ps = 0; /* the set's offset: 0 or SM_WARPS * 32 */
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t tiles = (N + NC - 1) / NC;
  /* ONE (K4 <= SM_THREADS: every GEMM of a Qwen2.5-0.5B decoding step but the down
   * projection): a thread has at most the one float4 k1 of every tile, so its x is loaded once
   * and serves all the tiles the block takes, and the next tile's weights are loaded before
   * this tile's sums are met (the third version re-read x per tile: 4x the weights' bytes at 8
   * rows, ~1 GB for the head). It pays where the tiles outnumber the grid: gate/up and the
   * head; at N = 896 or 1,152 a block has about one tile. */
  constexpr bool one = ONE && MM >= 4;
  const int64_t k1 = (int64_t)warp * 32 + lane; /* this thread's float4 when one */
  const bool has = one && k1 < K4;
  float4 xk[MM], wn[NC];
  const float4 z4 = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
  for (int m = 0; m < MM; m++) xk[m] = has && m < M ? __ldg(x + m * K4 + k1) : z4;
#pragma unroll
  for (int c = 0; c < NC; c++) {
    const int64_t n = (int64_t)blockIdx.x * NC + c;
    wn[c] = has && (int64_t)blockIdx.x < tiles && n < N ? sm_w4(w, n * K4 + k1) : z4;
  }
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) { /* uniform in the block */
    const int64_t n0 = tile * NC;
    float v[32]; /* sum m * NC + c: row m, column n0 + c, over this thread's float4s */
#pragma unroll
    for (int i = 0; i < 32; i++) v[i] = 0.0f;
    if constexpr (one) {
      float4 wv[NC];
#pragma unroll
      for (int c = 0; c < NC; c++) wv[c] = wn[c];
      const int64_t nx = (tile + gridDim.x) * NC; /* the next tile's first column */
#pragma unroll
      for (int c = 0; c < NC; c++) wn[c] = has && nx + c < N ? sm_w4(w, (nx + c) * K4 + k1) : z4;
#pragma unroll
      for (int c = 0; c < NC; c++)
#pragma unroll
        for (int m = 0; m < MM; m++)
          v[m * NC + c] += xk[m].x * wv[c].x + xk[m].y * wv[c].y + xk[m].z * wv[c].z + xk[m].w * wv[c].w;
    } else {
      /* not unrolled: unrolling by 2 put v in local memory (ptxas, sm_90) */
      for (int64_t k4 = k1; k4 < K4; k4 += SM_THREADS) {
        float4 xv[MM];
#pragma unroll
        for (int m = 0; m < MM; m++) xv[m] = m < M ? __ldg(x + m * K4 + k4) : z4;
#pragma unroll
        for (int c = 0; c < NC; c++) {
          float4 wv = n0 + c < N ? sm_w4(w, (n0 + c) * K4 + k4) : z4;
#pragma unroll
          for (int m = 0; m < MM; m++)
            v[m * NC + c] += xv[m].x * wv.x + xv[m].y * wv.y + xv[m].z * wv.z + xv[m].w * wv.w;
        }
      }
    }
    sm_bfly<16>(v, lane);
    part[ps + warp * 32 + lane] = v[0];
    __syncthreads();
    if (warp == 0) {
      float sum = 0.0f;
#pragma unroll
      for (int i = 0; i < SM_WARPS; i++) sum += part[ps + i * 32 + lane];
      const int m = lane / NC;
      const int64_t n = n0 + lane % NC;
      if (m < M && n < N) {
        float *p = y + m * N + n;
        if (bias)
          *p = sum + (beta == 0.0f ? bias[n] : beta * *p + bias[n]);
        else
          *p = beta == 0.0f ? sum : sum + beta * *p;
      }
    }
    ps ^= SM_WARPS * 32; /* one barrier a tile (the third version had two) */
  }
}

