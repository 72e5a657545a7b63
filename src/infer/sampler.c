/* sampler.c — greedy/temperature/top-k/top-p sampling and the repetition guard. */
#include "infer/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/rowsample.h"

size_t sample_scratch_bytes(int64_t V) { return (size_t)V * (2 * sizeof(float) + sizeof(int32_t)); }

static float sample_lse(const float *z, int64_t V, float inv_t, float *mx_out) { return rs_lse(z, V, inv_t, mx_out); }

/* sorts idx (n entries) by p descending (shell sort; n is small after top-k) */
static void sample_sort_desc(const float *p, int32_t *idx, int64_t n) {
  for (int64_t gap = n / 2; gap > 0; gap /= 2)
    for (int64_t i = gap; i < n; i++) {
      int32_t t = idx[i];
      int64_t j = i;
      while (j >= gap && p[idx[j - gap]] < p[t]) {
        idx[j] = idx[j - gap];
        j -= gap;
      }
      idx[j] = t;
    }
}

int32_t sample_pick(const float *z, int64_t V, float inv_t, float lse, double u) { return rs_pick(z, V, inv_t, lse, u); }

int32_t sample_token(const float *z, int64_t V, const sample_cfg *c, philox_rng *r, float *logp, void *scratch) {
  if (c->temperature <= 0.0f) {
    int64_t best = 0;
    for (int64_t j = 1; j < V; j++)
      if (z[j] > z[best]) best = j;
    if (logp) {
      float mx;
      *logp = z[best] - sample_lse(z, V, 1.0f, &mx);
    }
    return (int32_t)best;
  }
  float inv_t = 1.0f / c->temperature, mx;
  float lse = sample_lse(z, V, inv_t, &mx);
  int truncate = (c->top_k > 0 && c->top_k < V) || (c->top_p > 0.0f && c->top_p < 1.0f);
  int32_t tok;
  if (!truncate || !scratch) {
    /* inverse-CDF draw over the full distribution */
    tok = sample_pick(z, V, inv_t, lse, philox_uniform_d(r));
  } else {
    float *p = scratch;
    int32_t *idx = (int32_t *)(p + 2 * V);
    /* candidates: top-k by logit first (cheap partial selection), then nucleus */
    int64_t n = 0;
    for (int64_t j = 0; j < V; j++) {
      p[j] = (float)exp((double)(z[j] * inv_t - lse));
      idx[n++] = (int32_t)j;
    }
    int64_t k = (c->top_k > 0 && c->top_k < V) ? c->top_k : V;
    if (k < V) {
      /* keep the k largest: nth-element by repeated partitioning */
      int64_t lo = 0, hi = V - 1;
      while (lo < hi) {
        float pivot = p[idx[(lo + hi) / 2]];
        int64_t i = lo, j = hi;
        while (i <= j) {
          while (p[idx[i]] > pivot) i++;
          while (p[idx[j]] < pivot) j--;
          if (i <= j) {
            int32_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            i++;
            j--;
          }
        }
        if (k - 1 <= j)
          hi = j;
        else if (k - 1 >= i)
          lo = i;
        else
          break;
      }
      n = k;
    }
    sample_sort_desc(p, idx, n);
    if (c->top_p > 0.0f && c->top_p < 1.0f) {
      double acc = 0;
      int64_t m = 0;
      while (m < n) {
        acc += p[idx[m]];
        m++;
        if (acc >= c->top_p) break;
      }
      n = m;
    }
    double tot = 0;
    for (int64_t i = 0; i < n; i++) tot += p[idx[i]];
    double u = philox_uniform_d(r) * tot, acc = 0;
    tok = idx[0];
    for (int64_t i = n - 1; i >= 0; i--) /* a draw past the rounded total: the last candidate with p > 0 */
      if (p[idx[i]] > 0) {
        tok = idx[i];
        break;
      }
    for (int64_t i = 0; i < n; i++) {
      acc += p[idx[i]];
      if (u < acc) {
        tok = idx[i];
        break;
      }
    }
  }
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
