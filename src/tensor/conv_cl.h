/* conv_cl.h — what the CPU (cpu_conv_cl.c) and CUDA (kernels/cu_conv_cl.cu) forms of the
 * channels-last convolution share: which form a shape takes, each tap's range of output steps,
 * which GEMM may overwrite y instead of adding, and, for a written dx, which tap's GEMM writes
 * and which rows start at 0 (so both run the same GEMMs in the same order). Plain C, included
 * by C and CUDA sources. */
#ifndef TS_CONV_CL_H
#define TS_CONV_CL_H

#include <stdint.h>

/* fewer input channels: a tap's GEMM is too thin, and the rows form (a row im2col) takes it */
#define CONV_CL_TAP_MIN 32

/* the taps form (a GEMM per tap on x's rows in place), else the rows form */
static inline int conv_cl_taps(int64_t Cin, int groups) { return groups == 1 && Cin >= CONV_CL_TAP_MIN; }

/* the output steps [*lo, *hi) whose tap k reads a row of x (T rows) */
static inline void conv_cl_range(int64_t T, int64_t Tout, int64_t k, int stride, int pad, int64_t *lo, int64_t *hi) {
  int64_t a = pad - k, z = T - 1 - k + pad; /* t stride >= a, t stride <= z */
  *lo = a > 0 ? (a + stride - 1) / stride : 0;
  *hi = z < 0 ? 0 : z / stride + 1;
  if (*hi > Tout) *hi = Tout;
  if (*lo > *hi) *lo = *hi;
}

/* Without a bias, the first GEMM that covers every row of y may overwrite instead of adding,
 * and y then needs no start: in the rows form every group's GEMM covers its columns (returns
 * 0), in the taps form the first tap whose steps are [0, Tout) (with no padding, tap 0), which
 * runs first; -1 when none does (y starts at the bias, or 0, and every GEMM adds). */
static inline int64_t conv_cl_cover(int taps, int has_bias, int64_t T, int64_t Tout, int64_t K, int64_t Cin,
                                    int stride, int pad) {
  if (has_bias || Cin <= 0 || K <= 0) return -1;
  if (!taps) return 0;
  for (int64_t k = 0; k < K; k++) {
    int64_t lo, hi;
    conv_cl_range(T, Tout, k, stride, pad, &lo, &hi);
    if (lo == 0 && hi == Tout) return k;
  }
  return -1;
}

/* dx written, not added to, in the taps form's backward (dXk = dY Wk, tap by tap): x's rows fall
 * into classes q = (row + pad) mod stride, reached by the taps k = q, q + stride, ... The first
 * of them (in order) whose range is not empty writes its rows (beta 0) and the later ones add;
 * the class's rows outside the first tap's start at 0, and all of a class no tap reaches. Returns
 * class q's first tap (its rows [*ra, *rb], step stride), or -1 when none reaches x. */
static inline int64_t conv_cl_dx_first(int64_t T, int64_t Tout, int64_t K, int stride, int pad, int64_t q, int64_t *ra,
                                       int64_t *rb) {
  for (int64_t k = q; k < K; k += stride) {
    int64_t lo, hi;
    conv_cl_range(T, Tout, k, stride, pad, &lo, &hi);
    if (hi > lo) {
      *ra = lo * stride + k - pad;
      *rb = (hi - 1) * stride + k - pad;
      return k;
    }
  }
  return -1;
}

/* class q's rows that start at 0 when dx is written: the rows *a, *a + stride, ... (*n of them,
 * 0 when none). A first tap's first row is its class's first (a tap starting later would leave
 * that row to the tap stride before it, which would then be first), so they are the class's
 * rows after the first tap's, or the whole class when no tap reaches it
 * (tests/unit/test_ops_grad.c test_conv_cl_rows checks this on every small shape). */
static inline void conv_cl_dx_zero_run(int64_t T, int64_t Tout, int64_t K, int stride, int pad, int64_t q, int64_t *a,
                                       int64_t *n) {
  int64_t u0 = ((q - pad) % stride + stride) % stride, ra, rb; /* the class's first row */
  *a = u0, *n = 0;
  if (u0 >= T) return;
  if (conv_cl_dx_first(T, Tout, K, stride, pad, q, &ra, &rb) < 0) {
    *n = (T - 1 - u0) / stride + 1;
    return;
  }
  *a = rb + stride;
  if (*a < T) *n = (T - 1 - *a) / stride + 1;
}

/* the tap the i-th GEMM of the taps form takes: the covering tap kf first (when there is one),
 * then the others in order */
static inline int64_t conv_cl_tap(int64_t i, int64_t kf) { return kf < 0 || i > kf ? i : i == 0 ? kf : i - 1; }

#endif
