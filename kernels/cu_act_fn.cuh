// cu_act_fn.cuh — the activations' per-value functions (GELU with erf, ReLU, SiLU) and their
// gradients, shared by the element kernels (cu_act.cuh) and the fused LayerNorm + activation
// (cu_norm.cuh), so both give the same bits. Device code only.
#pragma once

#include "cu_dev.cuh"

/* kind: act_kind's values (tensor/backend.h) */
enum { CU_ACT_GELU = 0, CU_ACT_RELU = 1, CU_ACT_SILU = 2 };

/* the activation of v */
__device__ __forceinline__ float act_f(int kind, float v) {
  if (kind == CU_ACT_GELU) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
  if (kind == CU_ACT_RELU) return v > 0.0f ? v : 0.0f;
  return v * d_sigmoid(v);
}
/* the gradient g at the activation's output carried to its input v */
__device__ __forceinline__ float act_g(int kind, float v, float g) {
  if (kind == CU_ACT_GELU) {
    float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
    float pdf = 0.3989422804014327f * expf(-0.5f * v * v);
    return g * (cdf + v * pdf);
  }
  if (kind == CU_ACT_RELU) return v > 0.0f ? g : 0.0f;
  float s = d_sigmoid(v);
  return g * s * (1.0f + v * (1.0f - s));
}
