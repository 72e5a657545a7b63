// cu_act.cuh — the elementwise activations (GELU with erf, ReLU, SiLU): forward, with y as
// f32 or as a bf16 activation (op_act_dtype), and backward adding into dx (and writing the sum's
// bf16 rounding when the next GEMM's backward wants it, cu_round_want).
// Device code only: included by cu_elem.cu, which launches them, and by
// tests/gpu/simt/test_proj_emu.cpp, which runs them under the SIMT emulator in ctest.
#pragma once

#include "cu_dev.cuh"

/* kind: act_kind's values (tensor/backend.h) */
enum { CU_ACT_GELU = 0, CU_ACT_RELU = 1, CU_ACT_SILU = 2 };

/* yb: y as a bf16 activation (op_act_dtype) instead of f32 y */
__global__ void k_act(int kind, const float *x, float *y, unsigned short *yb, int64_t n) {
  CU_LOOP(i, n) {
    float v = x[i], r;
    if (kind == CU_ACT_GELU)
      r = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    else if (kind == CU_ACT_RELU)
      r = v > 0.0f ? v : 0.0f;
    else
      r = v * d_sigmoid(v);
    if (yb)
      yb[i] = cu_bf16_bits(r);
    else
      y[i] = r;
  }
}
/* dxb (n) or NULL: dx's new values rounded to bf16 as well (the dC of the GEMM before it) */
__global__ void k_act_bwd(int kind, const float *x, const float *g, float *dx, unsigned short *dxb, int64_t n) {
  CU_LOOP(i, n) {
    float v = x[i], d;
    if (kind == CU_ACT_GELU) {
      float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
      float pdf = 0.3989422804014327f * expf(-0.5f * v * v);
      d = g[i] * (cdf + v * pdf);
    } else if (kind == CU_ACT_RELU) {
      d = v > 0.0f ? g[i] : 0.0f;
    } else {
      float s = d_sigmoid(v);
      d = g[i] * s * (1.0f + v * (1.0f - s));
    }
    float t = dx[i] + d;
    dx[i] = t;
    if (dxb) dxb[i] = cu_bf16_bits(t);
  }
}
