// cu_cvt.cu — the f32 <-> bf16 conversions' launchers (cu_common.h): the eight-a-step kernels of
// cu_cvt.cuh when cuda_set_elem_vec is on and both pointers are 16-byte aligned, else its
// one-a-thread kernels.
#include <stdint.h>

#include "cu_common.h"
#include "cu_cvt.cuh"

int g_cu_elem_vec;

static bool cv_al16(const void *a, const void *b) { return !(((uintptr_t)a | (uintptr_t)b) & 15); }

int cu_round_bf16(const float *src, unsigned short *dst, int64_t n) {
  if (n <= 0) return TS_OK;
  if (g_cu_elem_vec && cv_al16(src, dst)) {
    k_round8<<<cu_blocks((n + 7) / 8), 256, 0, cu_stream()>>>(src, dst, n);
    CU_LAUNCHED("k_round8");
  } else {
    k_f32_to_bf16<<<cu_blocks(n), 256, 0, cu_stream()>>>(src, dst, n);
    CU_LAUNCHED("k_f32_to_bf16");
  }
  return TS_OK;
}

int cu_widen_bf16(const unsigned short *src, float *dst, int64_t n) {
  if (n <= 0) return TS_OK;
  if (g_cu_elem_vec && cv_al16(src, dst)) {
    k_widen8<false><<<cu_blocks((n + 7) / 8), 256, 0, cu_stream()>>>(src, dst, n);
    CU_LAUNCHED("k_widen8");
  } else {
    k_bf16_to_f32<<<cu_blocks(n), 256, 0, cu_stream()>>>(src, dst, n);
    CU_LAUNCHED("k_bf16_to_f32");
  }
  return TS_OK;
}

int cu_add_bf16(const unsigned short *src, float *dst, int64_t n) {
  if (n <= 0) return TS_OK;
  if (g_cu_elem_vec && cv_al16(src, dst)) {
    k_widen8<true><<<cu_blocks((n + 7) / 8), 256, 0, cu_stream()>>>(src, dst, n);
    CU_LAUNCHED("k_widen8");
  } else {
    k_add_bf16<<<cu_blocks(n), 256, 0, cu_stream()>>>(src, dst, n);
    CU_LAUNCHED("k_add_bf16");
  }
  return TS_OK;
}
