// cu_cvt.cuh — f32 <-> bf16 conversions: one value a thread (k_f32_to_bf16, k_bf16_to_f32,
// k_add_bf16), and eight values a thread-step (cuda_set_elem_vec: k_round8, k_widen8): two
// 16-byte loads of f32 and one 16-byte store of eight bf16 (or the reverse). Rounding is
// cu_bf16_bits' (nearest even, NaN kept quiet) in both, so their results agree bit for bit.
// The eight-a-step kernels need src and dst 16-byte aligned (the launchers in cu_cvt.cu check);
// their last n % 8 values go one a thread. Device code only: included by cu_cvt.cu, which
// launches them, and by tests/gpu/simt/test_cvt_emu.cpp and test_decode_emu.cpp, which run them
// under the SIMT emulator in ctest.
#pragma once

#include "cu_dev.cuh"

/* two bf16 (bits) in one word, the first in the low half (the lower address) */
__device__ __forceinline__ unsigned cv_pack2(float a, float b) {
  return (unsigned)cu_bf16_bits(a) | (unsigned)cu_bf16_bits(b) << 16;
}
__device__ __forceinline__ float cv_lo(unsigned w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float cv_hi(unsigned w) { return __uint_as_float(w & 0xffff0000u); }

/* dst (n) = src rounded to bf16, nearest even (NaN kept quiet): the weights' copy, GEMM operands */
__global__ void k_f32_to_bf16(const float *__restrict__ src, unsigned short *dst, int64_t n) {
  CU_LOOP(i, n) dst[i] = cu_bf16_bits(src[i]);
}

/* dst (n) = the bf16 values at src, exactly (a bf16 activation for a GEMM without the bf16 copy) */
__global__ void k_bf16_to_f32(const unsigned short *__restrict__ src, float *dst, int64_t n) {
  CU_LOOP(i, n) dst[i] = __uint_as_float((unsigned)src[i] << 16);
}

/* dst (n) += the bf16 values at src (SDPA's gradients into the op's f32 ones) */
__global__ void k_add_bf16(const unsigned short *__restrict__ src, float *dst, int64_t n) {
  CU_LOOP(i, n) dst[i] += __uint_as_float((unsigned)src[i] << 16);
}

/* the same eight a thread-step: dst (n) = src rounded to bf16 */
__global__ void k_round8(const float *__restrict__ src, unsigned short *__restrict__ dst, int64_t n) {
  const int64_t n8 = n / 8;
  const float4 *s = (const float4 *)src;
  uint4 *d = (uint4 *)dst;
  CU_LOOP(i, n8) {
    const float4 a = s[2 * i], b = s[2 * i + 1];
    uint4 o;
    o.x = cv_pack2(a.x, a.y), o.y = cv_pack2(a.z, a.w), o.z = cv_pack2(b.x, b.y), o.w = cv_pack2(b.z, b.w);
    d[i] = o;
  }
  CU_LOOP(j, n - 8 * n8) dst[8 * n8 + j] = cu_bf16_bits(src[8 * n8 + j]);
}

/* dst (n) = the bf16 values at src, exactly; add: dst += them */
template <bool ADD>
__global__ void k_widen8(const unsigned short *__restrict__ src, float *__restrict__ dst, int64_t n) {
  const int64_t n8 = n / 8;
  const uint4 *s = (const uint4 *)src;
  float4 *d = (float4 *)dst;
  CU_LOOP(i, n8) {
    const uint4 w = s[i];
    float4 a = make_float4(cv_lo(w.x), cv_hi(w.x), cv_lo(w.y), cv_hi(w.y));
    float4 b = make_float4(cv_lo(w.z), cv_hi(w.z), cv_lo(w.w), cv_hi(w.w));
    if (ADD) {
      const float4 p = d[2 * i], q = d[2 * i + 1];
      a.x += p.x, a.y += p.y, a.z += p.z, a.w += p.w;
      b.x += q.x, b.y += q.y, b.z += q.z, b.w += q.w;
    }
    d[2 * i] = a, d[2 * i + 1] = b;
  }
  CU_LOOP(j, n - 8 * n8) {
    const int64_t i = 8 * n8 + j;
    const float v = __uint_as_float((unsigned)src[i] << 16);
    dst[i] = ADD ? dst[i] + v : v;
  }
}
