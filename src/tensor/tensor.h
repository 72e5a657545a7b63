/* tensor.h — the small tensor descriptor every op takes: data pointer, dtype, up to 4 dims,
 * device. Shapes are row-major: ne[ndim-1] is the innermost (contiguous) dimension.
 * A tensor never owns its memory; buffers belong to parameter sets, arenas or callers. */
#ifndef TS_TENSOR_H
#define TS_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum ts_dtype { DT_F32 = 0, DT_BF16, DT_F16, DT_I32, DT_COUNT } ts_dtype;
typedef enum ts_device { DEV_CPU = 0, DEV_CUDA = 1, DEV_SIM = 2 } ts_device; /* DEV_SIM: devsim.h */

#define TENSOR_MAX_DIMS 4

typedef struct tensor {
  void *data;
  ts_dtype dtype;
  ts_device device;
  int ndim;
  int64_t ne[TENSOR_MAX_DIMS];
} tensor;

size_t dtype_size(ts_dtype d);
const char *dtype_name(ts_dtype d);

int64_t tensor_numel(const tensor *t);
size_t tensor_nbytes(const tensor *t);
/* f32 CPU view over data with the given dims (ndim 1..4; unused dims ignored). */
tensor tensor_f32(float *data, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* The same view on device dev (a backend's be->device). */
tensor tensor_dev(ts_device dev, float *data, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* Writes "[2, 3, 4]" into buf. */
const char *tensor_shape_str(const tensor *t, char *buf, size_t n);
int tensor_same_shape(const tensor *a, const tensor *b);

/* Scalar conversions (bf16/f16 stored as uint16_t). f32 -> bf16/f16 round to nearest even. */
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
/* Converts n values of type src_dt at src into f32 at dst (CPU memory). */
void dtype_to_f32(ts_dtype src_dt, const void *src, float *dst, int64_t n);
/* Converts n f32 values into dst_dt at dst. */
void dtype_from_f32(ts_dtype dst_dt, const float *src, void *dst, int64_t n);

#endif
