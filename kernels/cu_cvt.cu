// cu_cvt.cu — the f32 <-> bf16 conversions' launchers (cu_common.h): the eight-a-step kernels of
// cu_cvt.cuh when cuda_set_elem_vec is on and both pointers are 16-byte aligned, else its
// one-a-thread kernels.
#include "cu_common.h"
#include "cu_cvt.cuh"

int g_cu_elem_vec;

/* the launch of a conversion: k8 eight values a thread-step when cu_vec_ok, else k1 */
#define CV_RUN(k8, k1, src, dst, n)                                              \
  do {                                                                          \
    if ((n) <= 0) return TS_OK;                                                 \
    if (cu_vec_ok(src, dst)) {                                                  \
      k8<<<cu_blocks(((n) + 7) / 8), 256, 0, cu_stream()>>>(src, dst, n);       \
      CU_LAUNCHED(#k8);                                                         \
    } else {                                                                    \
      k1<<<cu_blocks(n), 256, 0, cu_stream()>>>(src, dst, n);                   \
      CU_LAUNCHED(#k1);                                                         \
    }                                                                           \
    return TS_OK;                                                               \
  } while (0)

int cu_round_bf16(const float *src, unsigned short *dst, int64_t n) { CV_RUN(k_round8, k_f32_to_bf16, src, dst, n); }

int cu_widen_bf16(const unsigned short *src, float *dst, int64_t n) {
  CV_RUN(k_widen8<false>, k_bf16_to_f32, src, dst, n);
}

int cu_add_bf16(const unsigned short *src, float *dst, int64_t n) { CV_RUN(k_widen8<true>, k_add_bf16, src, dst, n); }
