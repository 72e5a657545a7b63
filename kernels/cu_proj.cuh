// cu_proj.cuh — the kernels around the stacked projections of a transformer layer: SwiGLU on
// separate or packed [gate | up] rows (forward, backward adding into the gradients) and
// split_heads (the heads of one q/k/v GEMM taken apart, q and k rotated, and the reverse).
// Device code only: included by cu_proj.cu, which launches them, and by
// tests/gpu/simt/test_proj_emu.cpp, which runs them under the SIMT emulator in ctest.
#pragma once

#include "cu_dev.cuh"

/* I: the type of the index arithmetic (divisions by H, by half, by the heads): int64_t, or
 * uint32_t where every index fits (cuda_set_elem_vec: a 64-bit division takes the GPU dozens of
 * instructions); the same values either way */

/* gate and up rows of ld floats (H separate, 2H packed [gate | up]); y and dy (N,H) */
/* yb (n) or NULL: y rounded to bf16 as well (the next GEMM's operand, cu_round_want), or
 * instead of y when y is NULL (a bf16 activation, op_act_dtype) */
template <typename I = int64_t>
__global__ void k_swiglu(const float *gt, const float *up, float *y, unsigned short *yb, int64_t n, int64_t H,
                         int64_t ld) {
  CU_LOOP(i, n) {
    const I ii = (I)i, hh = (I)H;
    int64_t j = (int64_t)(ii / hh) * ld + (int64_t)(ii % hh);
    float r = gt[j] * d_sigmoid(gt[j]) * up[j];
    if (y) y[i] = r;
    if (yb) yb[i] = cu_bf16_bits(r);
  }
}
/* pb or NULL (packed rows, both gradients wanted): the new [dgate | dup] rows rounded to bf16
 * as well, laid out as they are (the dC of the packed gate/up GEMM, cu_round_want) */
template <typename I = int64_t>
__global__ void k_swiglu_bwd(const float *gt, const float *up, const float *g, float *dg, float *du,
                             unsigned short *pb, int64_t n, int64_t H, int64_t ld, int set) {
  CU_LOOP(i, n) {
    const I ii = (I)i, hh = (I)H;
    int64_t j = (int64_t)(ii / hh) * ld + (int64_t)(ii % hh);
    float s = d_sigmoid(gt[j]);
    if (du) {
      const float a = g[i] * gt[j] * s;
      float t = set ? a : du[j] + a; /* set: written, not read */
      du[j] = t;
      if (pb) pb[j + H] = cu_bf16_bits(t);
    }
    if (dg) {
      const float a = g[i] * up[j] * s * (1.0f + gt[j] * (1.0f - s));
      float t = set ? a : dg[j] + a;
      dg[j] = t;
      if (pb) pb[j] = cu_bf16_bits(t);
    }
  }
}

/* ---- split_heads: packed x (BT, Hq+2Hkv, D) <-> q (BT,Hq,D), k, v (BT,Hkv,D); one thread per
 * (row, head, i < D/2); heads below Hq+Hkv rotated when pos is given (as k_rope). kvrow (BT)
 * or NULL (split only): k and v are row tables and row r's go to row kvrow[r]. xb or NULL:
 * merging, the packed x rounded to bf16 as well (the q/k/v GEMM's dC, cu_round_want);
 * splitting (kvrow NULL), q's rounding, with kb and vb k's and v's (an attention's keep
 * buffer, cu_keep_layout) ---- */
template <typename I = int64_t>
__global__ void k_split_heads(float *x, float *q, float *k, float *v, const int32_t *pos, const int32_t *kvrow,
                              const float *inv, int64_t BT, int64_t Hq, int64_t Hkv, int64_t half, int merge,
                              unsigned short *xb, unsigned short *kb, unsigned short *vb) {
  int64_t H = Hq + 2 * Hkv, D = 2 * half;
  CU_LOOP(n, BT * H * half) {
    const I nn = (I)n, hf = (I)half, hh = (I)H;
    const I ri = nn / hf, i_ = nn % hf, hi = ri % hh, r_ = ri / hh;
    int64_t i = (int64_t)i_, rh = (int64_t)ri, h = (int64_t)hi, r = (int64_t)r_, kr = kvrow ? kvrow[r] : r;
    float *xr = x + rh * D;
    float *hr = h < Hq         ? q + (r * Hq + h) * D
                : h < Hq + Hkv ? k + (kr * Hkv + h - Hq) * D
                               : v + (kr * Hkv + h - Hq - Hkv) * D;
    const float *src = merge ? hr : xr;
    float *dst = merge ? xr : hr;
    float x1 = src[i], x2 = src[i + half];
    float y1 = x1, y2 = x2;
    if (pos && h < Hq + Hkv) {
      float ang = (float)pos[r] * inv[i];
      float c = cosf(ang), s = merge ? -sinf(ang) : sinf(ang);
      y1 = x1 * c - x2 * s;
      y2 = x2 * c + x1 * s;
    }
    dst[i] = y1;
    dst[i + half] = y2;
    if (xb) {
      unsigned short *b = merge ? xb + rh * D
                          : h < Hq         ? xb + (r * Hq + h) * D
                          : h < Hq + Hkv   ? kb + (r * Hkv + h - Hq) * D
                                           : vb + (r * Hkv + h - Hq - Hkv) * D;
      b[i] = cu_bf16_bits(y1);
      b[i + half] = cu_bf16_bits(y2);
    }
  }
}
