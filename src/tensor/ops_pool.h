/* ops_pool.h — pooling ops over time: checked wrappers over the backend's stats_pool entry. */
#ifndef TS_OPS_POOL_H
#define TS_OPS_POOL_H

#include "tensor/backend.h"

/* Statistics pooling over the first lens[b] frames of each sequence:
 *   x (B, C, T), lens (B) host int32 with 1 <= lens[b] <= T (NULL: all T), y (B, 2C) with
 *   y[b, c] = mean_t x[b, c, t] and y[b, C + c] = sqrt(var_t x[b, c, t] + eps) (biased variance,
 *   t < lens[b]). Frames past lens[b] are ignored. */
int op_stats_pool(backend *be, const tensor *x, const int32_t *lens, tensor *y, float eps, ts_err *e);
/* Backward: dx (B, C, T) += d y / d x applied to dy (B, 2C), using x and the saved output y of the
 * forward (same lens and eps). Frames past lens[b] get nothing. */
int op_stats_pool_bwd(backend *be, const tensor *x, const int32_t *lens, const tensor *y,
                      const tensor *dy, tensor *dx, ts_err *e);

#endif
