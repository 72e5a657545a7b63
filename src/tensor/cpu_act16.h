/* cpu_act16.h — bf16 activation storage on the CPU backend: the policy behind op_act_dtype
 * (cpu_act16.c), and the store the ops' kernels write an output element with (f32, or rounded
 * to bf16 nearest even as f32_to_bf16 does, NaN kept quiet). The GEMMs take a bf16 x through
 * gemm_mp16 (gemm.h). */
#ifndef TS_CPU_ACT16_H
#define TS_CPU_ACT16_H

#include <stdint.h>
#include <string.h>

#include "tensor/backend.h"

/* TSASR_BF16_ACTS=0 (or cpu_set_act_bf16(0)) keeps every activation f32; on by default */
void cpu_set_act_bf16(int on);
int cpu_act_bf16(void);
/* DT_BF16 in the bf16 GEMM precision with the setting on, else DT_F32 (CPU and devsim) */
ts_dtype cpu_act_dtype(backend *be);

/* f rounded to bf16, nearest even, a NaN kept NaN (quieted); branch-free, so loops of it
 * vectorize (the bf16 GEMM's operand packing and the weights' mirror use it too) */
static inline uint16_t cpu_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  uint32_t rne = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, nan = (u >> 16) | 0x40u;
  return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rne);
}

/* a bf16 value's f32 (exact) */
static inline float cpu_bf16_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* an output y: yp (f32) or yh (bf16 bits), the other NULL; CPU_STORE writes element i */
#define CPU_OUT(y, yp, yh)                                               \
  uint16_t *yh = (y)->dtype == DT_BF16 ? (uint16_t *)(y)->data : NULL; \
  float *yp = yh ? NULL : (float *)(y)->data
#define CPU_STORE(yp, yh, i, v)      \
  do {                               \
    float v_ = (v);                  \
    if (yh)                          \
      (yh)[i] = cpu_bf16(v_);        \
    else                             \
      (yp)[i] = v_;                  \
  } while (0)

#endif
