/* rowsample.h — the arithmetic of drawing one token from a row of logits, shared by the host
 * sampler (src/infer/sampler.c) and the CPU backend's sample op, so both give the same token:
 * the row's log-sum-exp at inverse temperature inv_t and the inverse-CDF pick. */
#ifndef TS_ROWSAMPLE_H
#define TS_ROWSAMPLE_H

#include <stdint.h>

/* log sum_j exp(z_j inv_t) (max subtracted, summed in double); *mx = max_j z_j inv_t. */
float rs_lse(const float *z, int64_t V, float inv_t, float *mx);
/* log sum_j exp(z_j / tau) (divided, not multiplied by 1/tau: the log-prob decoding reports
 * for a token is z_t / tau minus this). */
float rs_lse_tau(const float *z, int64_t V, float tau);
/* The first j with u < sum_{i<=j} exp(z_i inv_t - lse); a u past the rounded total is rescaled
 * by it, and a token of p = 0 (a masked entry) is never returned. */
int32_t rs_pick(const float *z, int64_t V, float inv_t, float lse, double u);

#endif
