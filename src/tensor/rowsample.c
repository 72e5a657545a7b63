/* rowsample.c — log-sum-exp and inverse-CDF pick over one row of logits (rowsample.h). */
#include "tensor/rowsample.h"

#include <math.h>

float rs_lse(const float *z, int64_t V, float inv_t, float *mx_out) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < V; j++) mx = z[j] * inv_t > mx ? z[j] * inv_t : mx;
  double s = 0;
  for (int64_t j = 0; j < V; j++) s += exp((double)(z[j] * inv_t - mx));
  *mx_out = mx;
  return mx + (float)log(s);
}

float rs_lse_tau(const float *z, int64_t V, float tau) {
  float mx = -INFINITY;
  for (int64_t v = 0; v < V; v++) mx = z[v] / tau > mx ? z[v] / tau : mx;
  double se = 0;
  for (int64_t v = 0; v < V; v++) se += exp((double)(z[v] / tau - mx));
  return mx + (float)log(se);
}

int32_t rs_pick(const float *z, int64_t V, float inv_t, float lse, double u) {
  /* one pass in the usual case; with a rounded lse the total falls a little short of 1, and a
   * draw past it is rescaled by the summed total in a second pass, so it never lands on
   * whatever token is last (e.g. a masked row, p = 0) */
  double acc = 0;
  for (int64_t j = 0; j < V; j++) {
    acc += exp((double)(z[j] * inv_t - lse));
    if (u < acc) return (int32_t)j;
  }
  double t = u * acc, run = 0;
  int32_t last = -1;
  for (int64_t j = 0; j < V; j++) {
    double p = exp((double)(z[j] * inv_t - lse));
    if (!(p > 0)) continue;
    run += p, last = (int32_t)j;
    if (t < run) return (int32_t)j;
  }
  return last < 0 ? 0 : last;
}
