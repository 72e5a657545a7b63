// cu_mma.cuh — the warp-level bf16 tensor-core product the attention kernels build on:
// mma.sync m16n8k16 (bf16 operands, f32 accumulators kept in registers), and the packing of
// two floats into the bf16 pair one of its registers holds. Fragment layout (PTX ISA, g =
// lane / 4, t = lane % 4; a pair's lower index in the low half):
//   A (16, 16) a[0] = A(g, 2t..2t+1)  a[1] = A(g+8, 2t..)  a[2] = A(g, 2t+8..)  a[3] = A(g+8, 2t+8..)
//   B (16, 8)  b[0] = B(2t..2t+1, g)  b[1] = B(2t+8..2t+9, g)
//   C (16, 8)  c[0..1] = C(g, 2t..2t+1)  c[2..3] = C(g+8, 2t..2t+1)
// so the accumulators of two adjacent 8-column tiles are, once packed, the A registers of a
// 16-wide k step (what lets attention feed P from one product into the next without memory).
// Under the SIMT emulator (SIMT_EMU) the product is a warp rendezvous that reads the 32 lanes'
// registers in this layout (tests/gpu/simt).
#pragma once

#include "cu_dev.cuh"
#ifndef SIMT_EMU
#include <cuda_bf16.h>
#endif

/* two floats rounded to bf16 (nearest even) as one register: lo in bits 0-15, hi in 16-31 */
__device__ __forceinline__ uint32_t cu_bf16x2(float lo, float hi) {
  return (uint32_t)__bfloat16_as_ushort(__float2bfloat16(lo)) |
         ((uint32_t)__bfloat16_as_ushort(__float2bfloat16(hi)) << 16);
}

/* d (16, 8) += A (16, 16) B (16, 8) for the calling warp (every lane, same call site) */
#ifdef SIMT_EMU
#define cu_mma16816(d, a, b) simt::mma_m16n8k16((d), (a), (b), __LINE__)
#else
__device__ __forceinline__ void cu_mma16816(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif
