// cu_optim.cuh — AdamW's update (decoupled weight decay, as torch.optim.AdamW, the CPU backend's
// float arithmetic): one value a thread, or four a thread-step with 16-byte loads and stores
// (cuda_set_elem_vec; p, g, m, v 16-byte aligned, the launcher checks), both through the same
// per-value function, so they give the same bits. Device code only: included by cu_optim.cu,
// which launches them, and by tests/gpu/simt/test_optim_emu.cpp (SIMT emulator, ctest).
#pragma once

#include "cu_dev.cuh"

/* the step's constants: lr, betas, eps, weight decay, lr / (1 - b1^t), sqrt(1 - b2^t) */
struct adamw_k {
  float lr, b1, b2, eps, wd, step, bc2s;
};

/* one value: *p, *m, *v updated from gradient g */
__device__ __forceinline__ void adamw_1(const adamw_k &k, float &p, float g, float &m, float &v) {
  float pi = p * (1.0f - k.lr * k.wd);
  float mi = k.b1 * m + (1.0f - k.b1) * g;
  float vi = k.b2 * v + (1.0f - k.b2) * g * g;
  m = mi;
  v = vi;
  p = pi - k.step * mi / (sqrtf(vi) / k.bc2s + k.eps);
}

__global__ void k_adamw(float *p, const float *g, float *m, float *v, int64_t n, adamw_k k) {
  CU_LOOP(i, n) {
    float pi = p[i], mi = m[i], vi = v[i];
    adamw_1(k, pi, g[i], mi, vi);
    p[i] = pi, m[i] = mi, v[i] = vi;
  }
}

__global__ void k_adamw4(float *p, const float *g, float *m, float *v, int64_t n, adamw_k k) {
  const int64_t n4 = n / 4;
  CU_LOOP(i, n4) {
    float4 P = ((float4 *)p)[i], M = ((float4 *)m)[i], V = ((float4 *)v)[i];
    const float4 G = ((const float4 *)g)[i];
    adamw_1(k, P.x, G.x, M.x, V.x);
    adamw_1(k, P.y, G.y, M.y, V.y);
    adamw_1(k, P.z, G.z, M.z, V.z);
    adamw_1(k, P.w, G.w, M.w, V.w);
    ((float4 *)p)[i] = P, ((float4 *)m)[i] = M, ((float4 *)v)[i] = V;
  }
  CU_LOOP(j, n - 4 * n4) {
    const int64_t i = 4 * n4 + j;
    float pi = p[i], mi = m[i], vi = v[i];
    adamw_1(k, pi, g[i], mi, vi);
    p[i] = pi, m[i] = mi, v[i] = vi;
  }
}
