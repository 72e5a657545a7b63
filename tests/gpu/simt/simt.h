// simt.h — a small single-threaded SIMT emulator that runs CUDA kernel source on the CPU, so
// that kernels can be checked in CI on machines without a GPU (tests only; never linked into
// the library). Each CUDA thread is a fiber; a fiber runs until it reaches a synchronisation
// point (__syncthreads, __syncwarp, a shuffle), where it waits for the others: a block-wide
// barrier releases when every live thread of the block has arrived, a warp operation when
// every live lane of the warp has. Blocks run one after another.
//
// Ordering. In the default (lockstep) schedule the runnable threads of a block run in lane
// order each round, so a lane reading a LOWER lane's write without synchronising sees the new
// value and one reading a HIGHER lane's sees the old one. The skewed schedule (set_schedule)
// runs each warp in a round with probability 1/2 and its lanes in ascending or descending order
// at random, so over a few seeds both directions and races between warps (one warp several
// steps ahead of another between barriers) show; tests run their kernels under both.
//
// WMMA fragments hold the whole 16x16 tile in every lane; a fragment store writes only the
// storing lane's elements (element e by lane e % 32), so a lane reading a stored tile before
// __syncwarp sees stale elements in either order; mma_sync computes only those elements
// (kernels must not do position-dependent work on fragment elements: the real layout is
// opaque and not modelled).
//
// Errors (simt::errors(), and the launch's return value): a barrier that some threads reach
// while others wait at a warp operation, at a different __syncthreads or have exited; lanes
// of a warp meeting at different warp operations (kind or source line); lanes of a warp that
// made different numbers of WMMA calls by their next warp rendezvous; shuffles reading an
// exited lane; misaligned WMMA pointers or leading dimensions. Not checked: shuffle and
// __syncwarp masks (every lane of the warp must take part), timing, coalescing.
//
// Memory. Static `__shared__` arrays become statics in one section that is refilled with
// garbage before every block; dynamic shared memory is a fresh heap block of the exact size
// per block (AddressSanitizer sees its bounds); float4 is 16-byte aligned, so UBSan builds
// report misaligned vector accesses. Kernel sources test `SIMT_EMU` to swap their CUDA
// headers for this one.
#pragma once
#define SIMT_EMU 1

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(16) float4 { /* CUDA's alignment: UBSan reports a misaligned float4 access */
  float x, y, z, w;
};
inline float4 make_float4(float a, float b, float c, float d) { return float4{a, b, c, d}; }
struct alignas(8) uint2 {
  unsigned x, y;
};
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

/* internal linkage for kernels and device functions: their static __shared__ arrays then share
 * one ordinary section (template and inline functions' statics would otherwise be COMDAT) */
#define __global__ static __attribute__((unused))
#define __device__
#define __host__
#define __forceinline__ static inline
#define __launch_bounds__(...)
/* static shared arrays go to one section, which the scheduler refills with garbage before every
 * block (a kernel must not rely on what an earlier block left there) */
#define __shared__ static __attribute__((section("simt_shared")))
#define __align__(n) __attribute__((aligned(n)))

namespace simt {
enum { SHFL_XOR, SHFL_IDX, SHFL_DOWN, SHFL_UP };
dim3 thread_idx();
int lane();
extern dim3 g_block_idx, g_block_dim, g_grid_dim;
unsigned char *dyn_smem();
void syncthreads(int line);
void syncwarp(unsigned mask, int line);
uint64_t shfl(int kind, unsigned mask, uint64_t bits, int arg, int width, int line);
void error(const char *what, int line);
void wmma_op(); /* counts a lane's WMMA calls: lanes of a warp must make the same calls */
/* Runs body once per thread of every block of grid (blocks in x, then y, then z order), with
 * smem bytes of dynamic shared memory per block. Returns the errors of this launch. */
long launch(dim3 grid, dim3 block, size_t smem, const std::function<void()> &body);
long errors(); /* all launches so far */
/* 0 (the default): threads advance in lockstep rounds between synchronisation points. Any
 * other seed: warps are scheduled at random (each runnable warp runs in a round with
 * probability 1/2), so that one warp can be ahead of another, exposing races between warps
 * that lockstep hides; tests run their kernels under a few seeds. */
void set_schedule(uint64_t seed);
}  // namespace simt

#define threadIdx (simt::thread_idx())
#define blockIdx (simt::g_block_idx)
#define blockDim (simt::g_block_dim)
#define gridDim (simt::g_grid_dim)
#define __syncthreads() simt::syncthreads(__LINE__)

/* warp operations carry their source line: lanes of a warp meeting at different call sites
 * are an error (masks are not checked: every lane of the warp must take part) */
struct simt_syncwarp_at {
  int line;
  void operator()(unsigned mask = 0xffffffffu) const { simt::syncwarp(mask, line); }
};
#define __syncwarp simt_syncwarp_at{__LINE__}

template <class T>
inline T simt_shfl(int kind, int line, unsigned mask, T v, int arg, int width = 32) {
  static_assert(sizeof(T) <= 8, "shuffle of more than 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof v);
  b = simt::shfl(kind, mask, b, arg, width, line);
  T r;
  std::memcpy(&r, &b, sizeof r);
  return r;
}
#define __shfl_xor_sync(mask, v, ...) simt_shfl(simt::SHFL_XOR, __LINE__, (mask), (v), __VA_ARGS__)
#define __shfl_sync(mask, v, ...) simt_shfl(simt::SHFL_IDX, __LINE__, (mask), (v), __VA_ARGS__)
#define __shfl_down_sync(mask, v, ...) simt_shfl(simt::SHFL_DOWN, __LINE__, (mask), (v), __VA_ARGS__)
/* fibers are never preempted between two synchronisation points: a plain add is atomic */
template <class T>
inline T atomicAdd(T *p, T v) {
  T o = *p;
  *p = o + v;
  return o;
}
/* f32 arithmetic rounded once, never contracted into an FMA (volatile keeps the compiler from
 * fusing) */
inline float __fmul_rn(float a, float b) {
  volatile float r = a * b;
  return r;
}
inline float __fsub_rn(float a, float b) {
  volatile float r = a - b;
  return r;
}
inline float __fadd_rn(float a, float b) {
  volatile float r = a + b;
  return r;
}
template <class T>
inline T __ldg(const T *p) {
  return *p;
}

/* ---- bf16 (cuda_bf16.h): round to nearest even, NaN kept quiet ---- */
struct __nv_bfloat16 {
  uint16_t bits;
};
inline __nv_bfloat16 __float2bfloat16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  __nv_bfloat16 h;
  if ((u & 0x7fffffffu) > 0x7f800000u)
    h.bits = (uint16_t)((u >> 16) | 0x40u);
  else
    h.bits = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  return h;
}
inline float __bfloat162float(__nv_bfloat16 h) {
  uint32_t u = (uint32_t)h.bits << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/* ---- warp matrix multiply-accumulate (mma.h), the 16x16x16 shapes ---- */
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static constexpr int rows = std::is_same<Use, matrix_b>::value ? K : M;
  static constexpr int cols = std::is_same<Use, matrix_a>::value ? K : N;
  static constexpr int num_elements = rows * cols; /* the whole tile, in every lane */
  float x[rows * cols];
};

inline void check_ptr(const void *p, unsigned ldm, unsigned elem) {
  simt::wmma_op();
  if ((uintptr_t)p % 32) simt::error("wmma: pointer not 256-bit aligned", 0);
  if ((ldm * elem) % 16) simt::error("wmma: ldm not a multiple of 16 bytes", 0);
}

template <class Use, int M, int N, int K, class T, class Layout, class V>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout> &f, V v) {
  for (int i = 0; i < f.num_elements; i++) f.x[i] = (float)v;
}

/* matrix_a / matrix_b from bf16 memory in the fragment's layout */
template <class Use, int M, int N, int K, class Layout>
inline void load_matrix_sync(fragment<Use, M, N, K, __nv_bfloat16, Layout> &f, const __nv_bfloat16 *p, unsigned ldm) {
  typedef fragment<Use, M, N, K, __nv_bfloat16, Layout> F;
  check_ptr(p, ldm, 2);
  for (int r = 0; r < F::rows; r++)
    for (int c = 0; c < F::cols; c++)
      f.x[r * F::cols + c] =
          __bfloat162float(std::is_same<Layout, row_major>::value ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r]);
}

template <int M, int N, int K>
inline void load_matrix_sync(fragment<accumulator, M, N, K, float> &f, const float *p, unsigned ldm, layout_t l) {
  check_ptr(p, ldm, 4);
  for (int r = 0; r < M; r++)
    for (int c = 0; c < N; c++) f.x[r * N + c] = l == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}

/* each lane writes its share only: element e = r N + c when e % 32 is the lane */
template <int M, int N, int K>
inline void store_matrix_sync(float *p, const fragment<accumulator, M, N, K, float> &f, unsigned ldm, layout_t l) {
  check_ptr(p, ldm, 4);
  int ln = simt::lane();
  for (int e = ln; e < M * N; e += 32) {
    int r = e / N, c = e % N;
    (l == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r]) = f.x[e];
  }
}

/* d = a b + c: bf16 products (exact in f32) summed in f32, k ascending. A lane computes only
 * the accumulator elements it stores (e % 32 == lane): accumulators are only ever written to
 * memory by store_matrix_sync, which writes those, so the other elements are never seen (as
 * on a GPU, where a lane holds a part of the tile) and the emulation costs 1/32 of the work. */
template <int M, int N, int K, class LA, class LB>
inline void mma_sync(fragment<accumulator, M, N, K, float> &d, const fragment<matrix_a, M, N, K, __nv_bfloat16, LA> &a,
                     const fragment<matrix_b, M, N, K, __nv_bfloat16, LB> &b,
                     const fragment<accumulator, M, N, K, float> &c) {
  simt::wmma_op();
  for (int e = simt::lane(); e < M * N; e += 32) {
    int i = e / N, j = e % N;
    float s = c.x[e];
    for (int k = 0; k < K; k++) s += a.x[i * K + k] * b.x[k * N + j];
    d.x[e] = s;
  }
}
}  // namespace wmma
}  // namespace nvcuda
