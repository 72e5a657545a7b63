/* rowsample.c — log-sum-exp and inverse-CDF pick over one row of logits (rowsample.h). */
#include "tensor/rowsample.h"

#include <math.h>
#include <string.h>

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

/* ---- top-k / top-p truncation (rowsample.h) ---- */

static int rs_elig(float x) { return x > -INFINITY; }

static float rs_max_scaled(const float *z, int64_t V, float inv_t) {
  float m = -INFINITY;
  for (int64_t j = 0; j < V; j++)
    if (rs_elig(z[j]) && z[j] * inv_t > m) m = z[j] * inv_t;
  return m;
}

static uint64_t rs_w(float z, float inv_t, float m, double scale) {
  return (uint64_t)(exp((double)(z * inv_t - m)) * scale);
}

rs_cut rs_cut_all(void) {
  rs_cut c = {0, INT64_MAX};
  return c;
}

/* walks the 256 bins of one radix digit from the top: the bin where the running total of h
 * reaches need (need is reduced by the bins above); bin 0 when none does */
static int rs_walk(const uint64_t *h, uint64_t *need) {
  int b = 255;
  for (; b > 0; b--) {
    if (h[b] >= *need) break;
    *need -= h[b];
  }
  return b;
}

rs_cut rs_cut_top_k(const float *z, int64_t V, int64_t k) {
  int64_t n = 0;
  for (int64_t j = 0; j < V; j++) n += rs_elig(z[j]);
  if (k <= 0 || k >= n) return rs_cut_all();
  uint32_t prefix = 0, pmask = 0;
  uint64_t need = (uint64_t)k, h[256];
  for (int sh = 24; sh >= 0; sh -= 8) {
    memset(h, 0, sizeof h);
    for (int64_t j = 0; j < V; j++) {
      uint32_t key = rs_key(z[j]);
      if (rs_elig(z[j]) && (key & pmask) == prefix) h[(key >> sh) & 255u]++;
    }
    prefix |= (uint32_t)rs_walk(h, &need) << sh;
    pmask |= 255u << sh;
  }
  rs_cut c = {prefix, (int64_t)need};
  return c;
}

rs_cut rs_cut_top_p(const float *z, int64_t V, float inv_t, rs_cut c, float top_p) {
  if (!(top_p > 0.0f && top_p < 1.0f)) return c;
  float m = rs_max_scaled(z, V, inv_t);
  if (m == -INFINITY) return c;
  double scale = ldexp(1.0, rs_fix_shift(V));
  /* the entries of c: every eligible one above c.key, plus c.m ties at c.key (all of equal
   * weight), which stand in as one group */
  int cut_ties = c.key != 0;
  uint64_t wt = cut_ties ? rs_w(rs_unkey(c.key), inv_t, m, scale) : 0, tot = cut_ties ? (uint64_t)c.m * wt : 0;
  for (int64_t j = 0; j < V; j++)
    if (rs_elig(z[j]) && rs_key(z[j]) > c.key) tot += rs_w(z[j], inv_t, m, scale);
  double want = ceil((double)top_p * (double)tot);
  uint64_t need = want < 1.0 ? 1 : want >= (double)tot ? tot : (uint64_t)want;
  uint32_t prefix = 0, pmask = 0;
  uint64_t hm[256];
  for (int sh = 24; sh >= 0; sh -= 8) {
    memset(hm, 0, sizeof hm);
    for (int64_t j = 0; j < V; j++) {
      uint32_t key = rs_key(z[j]);
      if (rs_elig(z[j]) && key > c.key && (key & pmask) == prefix) hm[(key >> sh) & 255u] += rs_w(z[j], inv_t, m, scale);
    }
    if (cut_ties && (c.key & pmask) == prefix) hm[(c.key >> sh) & 255u] += (uint64_t)c.m * wt;
    prefix |= (uint32_t)rs_walk(hm, &need) << sh;
    pmask |= 255u << sh;
  }
  /* need is now the mass still wanted from the entries with key == prefix, each of weight w */
  uint64_t w = rs_w(rs_unkey(prefix), inv_t, m, scale);
  rs_cut r = {prefix, w ? (int64_t)((need + w - 1) / w) : 1};
  if (r.m < 1) r.m = 1; /* (the walk chose this key's bin holding >= need, so r.m <= their count) */
  return r;
}

int32_t rs_pick_cut(const float *z, int64_t V, float inv_t, rs_cut c, double u) {
  float m = rs_max_scaled(z, V, inv_t);
  if (m == -INFINITY) return 0;
  double scale = ldexp(1.0, rs_fix_shift(V));
  uint64_t tot = 0;
  int64_t rank = 0;
  for (int64_t j = 0; j < V; j++) {
    if (!rs_elig(z[j])) continue;
    uint32_t key = rs_key(z[j]);
    if (key > c.key || (key == c.key && rank++ < c.m)) tot += rs_w(z[j], inv_t, m, scale);
  }
  uint64_t target = (uint64_t)(u * (double)tot), run = 0;
  if (target >= tot) target = tot ? tot - 1 : 0;
  int32_t last = 0;
  rank = 0;
  for (int64_t j = 0; j < V; j++) {
    if (!rs_elig(z[j])) continue;
    uint32_t key = rs_key(z[j]);
    if (key > c.key || (key == c.key && rank++ < c.m)) {
      uint64_t w = rs_w(z[j], inv_t, m, scale);
      if (!w) continue;
      run += w, last = (int32_t)j;
      if (target < run) return (int32_t)j;
    }
  }
  return last;
}

int32_t rs_draw(const float *z, int64_t V, float inv_t, float lse, int64_t top_k, float top_p, double u) {
  if (!rs_truncated(top_k, top_p, V)) return rs_pick(z, V, inv_t, lse, u);
  return rs_pick_cut(z, V, inv_t, rs_cut_top_p(z, V, inv_t, rs_cut_top_k(z, V, top_k), top_p), u);
}
