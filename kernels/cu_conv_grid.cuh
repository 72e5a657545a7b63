// cu_conv_grid.cuh — what the convolutions' element kernels share (cu_conv.cuh, channel-first;
// cu_conv_cl.cuh, channels-last): the block size, the grid's row limit and the grid helpers,
// and an x element's f32 value from an f32 or a bf16 activation. Device code only.
#pragma once

#include "cu_dev.cuh"

#define CV_THREADS 256
#define CV_MAXY 65535 /* the grid's y and z limit: kernels loop over rows past it */

/* x's value as f32: an f32 x, or a bf16 activation's bits (op_act_dtype), widened exactly */
__device__ __forceinline__ float cv_val(const float *x, int64_t i) { return x[i]; }
__device__ __forceinline__ float cv_val(const unsigned short *x, int64_t i) {
  return __uint_as_float((unsigned)x[i] << 16);
}

/* the grid of a convolution kernel: x over n elements of a row, y (and z) over rows, capped */
__host__ __device__ static inline unsigned cv_cap(int64_t rows) { return (unsigned)(rows < CV_MAXY ? rows : CV_MAXY); }
__host__ __device__ static inline unsigned cv_xblocks(int64_t n) { return (unsigned)((n + CV_THREADS - 1) / CV_THREADS); }
