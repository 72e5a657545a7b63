// cu_dev.cuh — device code shared by the kernels (grid-stride loops, block reductions, dynamic
// shared memory), free of host API so that kernel headers built on it also compile under the
// SIMT emulator of tests/gpu/simt (SIMT_EMU), where ctest runs them on the CPU.
#pragma once

#ifdef SIMT_EMU
#define CU_DYN_SMEM(type, name) type *name = (type *)simt::dyn_smem()
#else
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#define CU_DYN_SMEM(type, name) extern __shared__ __align__(32) type name[]
#endif

#define CU_LOOP(i, n) for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

/* Block-wide sum of a double (blockDim.x a multiple of 32, at most 1024); every thread gets it. */
__device__ __forceinline__ double cu_block_sum(double v) {
  __shared__ double sh[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  int nw = (blockDim.x + 31) >> 5;
  double t = lane < nw ? sh[lane] : 0.0;
  for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
  return t;
}
__device__ __forceinline__ float cu_block_max(float v) {
  __shared__ float shm[32];
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) shm[w] = v;
  __syncthreads();
  int nw = (blockDim.x + 31) >> 5;
  float t = lane < nw ? shm[lane] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1) t = fmaxf(t, __shfl_xor_sync(0xffffffffu, t, o));
  return t;
}

__device__ __forceinline__ float d_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* x rounded to bf16 (the bits), nearest even, NaN kept quiet */
__device__ __forceinline__ unsigned short cu_bf16_bits(float x) {
  unsigned u = __float_as_uint(x);
  return (u & 0x7fffffffu) > 0x7f800000u ? (unsigned short)((u >> 16) | 0x40u)
                                         : (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
