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
// steps ahead of another between barriers) show; tests run their kernels under both. The
// high-warp-first schedule runs one warp at a time, the highest first (warp 0 last).
//
// mma.sync (m16n8k16, bf16 in, f32 accumulate) is a warp rendezvous: each lane hands in its
// fragment registers in the layout the PTX ISA documents for that shape, and the product is
// formed from all 32 lanes' registers, so a kernel that places an element in the wrong
// register or lane gets a wrong result here as it would on a GPU.
//
// Errors (simt::errors(), and the launch's return value): a barrier that some threads reach
// while others wait at a warp operation, at a different __syncthreads or have exited; lanes
// of a warp meeting at different warp operations (kind or source line); shuffles reading an
// exited lane; an mma.sync without all 32 lanes. Not checked: shuffle and __syncwarp masks
// (every lane of the warp must take part), timing, coalescing.
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
struct alignas(16) uint4 {
  unsigned x, y, z, w;
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
/* d (4) += A (16,16) B (16,8) for the calling warp, mma.sync.aligned.m16n8k16.row.col.f32.bf16.
 * bf16.f32 in PTX's fragment layout (g = lane / 4, t = lane % 4; a bf16 pair's lower index in
 * the low half): a[0] A(g, 2t..2t+1), a[1] A(g+8, 2t..), a[2] A(g, 2t+8..), a[3] A(g+8, 2t+8..);
 * b[0] B(2t..2t+1, g), b[1] B(2t+8.., g); d[0..1] C(g, 2t..2t+1), d[2..3] C(g+8, 2t..). Every
 * lane of the warp must call it at the same site; products are exact in f32 and summed in f32,
 * k ascending, after d (the hardware's order is unspecified). */
void mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2], int line);
/* Runs body once per thread of every block of grid (blocks in x, then y, then z order), with
 * smem bytes of dynamic shared memory per block. Returns the errors of this launch. */
long launch(dim3 grid, dim3 block, size_t smem, const std::function<void()> &body);
long errors(); /* all launches so far */
/* 0 (the default): threads advance in lockstep rounds between synchronisation points. Any
 * other seed: warps are scheduled at random (each runnable warp runs in a round with
 * probability 1/2), so that one warp can be ahead of another, exposing races between warps
 * that lockstep hides; tests run their kernels under a few seeds. HIGH_WARP_FIRST: only the
 * highest-numbered warp that can run does, until it waits at a barrier or exits, so warp 0
 * runs last: a warp that reads other warps' shared-memory results after a barrier meets
 * their next writes when a barrier before those is missing (random schedules rarely starve a
 * warp that long). */
constexpr unsigned long long HIGH_WARP_FIRST = ~0ull; /* the tests' seed lists are ull */
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
/* one thread at a time: every write is seen by the next read, so a fence orders nothing more,
 * and a load through L2 is a load */
inline void __threadfence() {}
template <class T>
inline T __ldcg(const T *p) {
  return *p;
}
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
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.bits; }
inline float __bfloat162float(__nv_bfloat16 h) {
  uint32_t u = (uint32_t)h.bits << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
