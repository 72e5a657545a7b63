// cu_act.cuh — the elementwise activations (GELU with erf, ReLU, SiLU): forward, with y as
// f32 or as a bf16 activation (op_act_dtype), and backward adding into dx (and writing the sum's
// bf16 rounding when the next GEMM's backward wants it, cu_round_want). One value a thread, or
// eight a thread-step with 16-byte loads and stores (cuda_set_elem_vec; pointers 16-byte
// aligned, the launcher checks); both go through the same per-value functions, so they give
// the same bits. Device code only: included by cu_elem.cu, which launches them, and by
// tests/gpu/simt/test_proj_emu.cpp, which runs them under the SIMT emulator in ctest.
#pragma once

#include "cu_act_fn.cuh"

/* yb: y as a bf16 activation (op_act_dtype) instead of f32 y */
__global__ void k_act(int kind, const float *x, float *y, unsigned short *yb, int64_t n) {
  CU_LOOP(i, n) {
    float r = act_f(kind, x[i]);
    if (yb)
      yb[i] = cu_bf16_bits(r);
    else
      y[i] = r;
  }
}
/* dxb (n) or NULL: dx's new values rounded to bf16 as well (the dC of the GEMM before it) */
__global__ void k_act_bwd(int kind, const float *x, const float *g, float *dx, unsigned short *dxb, int64_t n,
                          int set) {
  CU_LOOP(i, n) {
    const float a = act_g(kind, x[i], g[i]);
    float t = set ? a : dx[i] + a; /* set: dx written, not read */
    dx[i] = t;
    if (dxb) dxb[i] = cu_bf16_bits(t);
  }
}

/* the eight-a-step forms: four values of a float4, two bf16 in a word (the first in the low half) */
__device__ __forceinline__ unsigned act_pack2(float a, float b) {
  return (unsigned)cu_bf16_bits(a) | (unsigned)cu_bf16_bits(b) << 16;
}
__global__ void k_act8(int kind, const float *x, float *y, unsigned short *yb, int64_t n) {
  const int64_t n8 = n / 8;
  const float4 *x4 = (const float4 *)x;
  CU_LOOP(i, n8) {
    const float4 a = x4[2 * i], b = x4[2 * i + 1];
    const float4 ra = make_float4(act_f(kind, a.x), act_f(kind, a.y), act_f(kind, a.z), act_f(kind, a.w));
    const float4 rb = make_float4(act_f(kind, b.x), act_f(kind, b.y), act_f(kind, b.z), act_f(kind, b.w));
    if (yb) {
      uint4 o;
      o.x = act_pack2(ra.x, ra.y), o.y = act_pack2(ra.z, ra.w), o.z = act_pack2(rb.x, rb.y), o.w = act_pack2(rb.z, rb.w);
      ((uint4 *)yb)[i] = o;
    } else {
      ((float4 *)y)[2 * i] = ra, ((float4 *)y)[2 * i + 1] = rb;
    }
  }
  CU_LOOP(j, n - 8 * n8) {
    const int64_t i = 8 * n8 + j;
    const float r = act_f(kind, x[i]);
    if (yb)
      yb[i] = cu_bf16_bits(r);
    else
      y[i] = r;
  }
}
__global__ void k_act_bwd8(int kind, const float *x, const float *g, float *dx, unsigned short *dxb, int64_t n,
                           int set) {
  const int64_t n8 = n / 8;
  CU_LOOP(i, n8) {
    float4 t[2];
    for (int h = 0; h < 2; h++) {
      const float4 v = ((const float4 *)x)[2 * i + h], gg = ((const float4 *)g)[2 * i + h];
      const float4 a = make_float4(act_g(kind, v.x, gg.x), act_g(kind, v.y, gg.y), act_g(kind, v.z, gg.z),
                                   act_g(kind, v.w, gg.w));
      float4 d = a;
      if (!set) { /* set: dx written, not read */
        d = ((float4 *)dx)[2 * i + h];
        d.x = d.x + a.x, d.y = d.y + a.y, d.z = d.z + a.z, d.w = d.w + a.w;
      }
      ((float4 *)dx)[2 * i + h] = d;
      t[h] = d;
    }
    if (dxb) {
      uint4 o;
      o.x = act_pack2(t[0].x, t[0].y), o.y = act_pack2(t[0].z, t[0].w);
      o.z = act_pack2(t[1].x, t[1].y), o.w = act_pack2(t[1].z, t[1].w);
      ((uint4 *)dxb)[i] = o;
    }
  }
  CU_LOOP(j, n - 8 * n8) {
    const int64_t i = 8 * n8 + j;
    const float a = act_g(kind, x[i], g[i]);
    const float t = set ? a : dx[i] + a;
    dx[i] = t;
    if (dxb) dxb[i] = cu_bf16_bits(t);
  }
}
