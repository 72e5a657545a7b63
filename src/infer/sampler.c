/* sampler.c — greedy/temperature/top-k/top-p sampling and the repetition guard. */
#include "infer/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/rowsample.h"

int32_t sample_pick(const float *z, int64_t V, float inv_t, float lse, double u) { return rs_pick(z, V, inv_t, lse, u); }

int32_t sample_token(const float *z, int64_t V, const sample_cfg *c, philox_rng *r, float *logp) {
  if (c->temperature <= 0.0f) {
    int64_t best = 0;
    for (int64_t j = 1; j < V; j++)
      if (z[j] > z[best]) best = j;
    if (logp) {
      float mx;
      *logp = z[best] - rs_lse(z, V, 1.0f, &mx);
    }
    return (int32_t)best;
  }
  float inv_t = 1.0f / c->temperature, mx;
  float lse = rs_lse(z, V, inv_t, &mx);
  int32_t tok = rs_draw(z, V, inv_t, lse, c->top_k, c->top_p, philox_uniform_d(r));
  if (logp) *logp = z[tok] * inv_t - lse;
  return tok;
}

int rep_guard_hit(const rep_guard *g, const int32_t *seq, int64_t n) {
  int maxp = g->max_period > 0 ? g->max_period : 32;
  int reps = g->min_repeats > 0 ? g->min_repeats : 4;
  int span = g->min_span > 0 ? g->min_span : 24;
  for (int p = 1; p <= maxp; p++) {
    int64_t need = (int64_t)p * reps;
    if (need < span) need = span;
    if (need > n) continue;
    /* the tail of length run + p has period p when each of its last `run` tokens equals the
     * token p before it */
    int64_t run = 0;
    for (int64_t j = n - 1; j - p >= 0 && seq[j] == seq[j - p]; j--) run++;
    if (run + p >= need) return 1;
  }
  return 0;
}
