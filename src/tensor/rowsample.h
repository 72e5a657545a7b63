/* rowsample.h — the arithmetic of drawing one token from a row of logits, shared by the host
 * sampler (src/infer/sampler.c) and the CPU backend's sample op, so both give the same token:
 * the row's log-sum-exp at inverse temperature inv_t, the inverse-CDF pick, and top-k / top-p
 * truncation. */
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

/* Top-k / top-p (nucleus) truncation. Both keep a prefix of the row's eligible entries (z > -inf;
 * banned ids are -inf) in one total order, logit descending (by rs_key, so -0 ranks below +0)
 * then id ascending, so the kept set
 * is the same whatever the algorithm (no tie is left to a sort). A prefix is described by its
 * last entry's order key and how many of the entries with that key (lowest ids first) it holds.
 * Masses are fixed-point integers, w_j = trunc(exp(z_j inv_t - m) 2^s) with m the largest
 * eligible z inv_t and s = rs_fix_shift(V) (the sum of V weights fits in 63 bits): integer sums
 * are exact in any order, so a device computing the same w gets the same set and the same
 * token. A token of w = 0 (relative probability below 2^-s) is never drawn from a truncated
 * row. The CUDA kernel (kernels/cu_sample.cu) follows these definitions. */
typedef struct rs_cut {
  uint32_t key; /* order key (rs_key) of the prefix's last entry; 0 keeps every eligible entry */
  int64_t m;    /* entries with this key in the prefix, lowest ids first */
} rs_cut;

/* order key of a logit: larger float, larger key */
static inline uint32_t rs_key(float x) {
  union {
    float f;
    uint32_t u;
  } b = {x};
  return (b.u & 0x80000000u) ? ~b.u : (b.u | 0x80000000u);
}
static inline float rs_unkey(uint32_t k) {
  union {
    uint32_t u;
    float f;
  } b = {(k & 0x80000000u) ? (k & 0x7fffffffu) : ~k};
  return b.f;
}
/* the fixed-point shift for a row of V entries: 62 - ceil(log2 V) */
static inline int rs_fix_shift(int64_t V) {
  int b = 0;
  while (b < 62 && ((int64_t)1 << b) < V) b++;
  return 62 - b;
}

/* whether top_k / top_p ask for truncation (the truncated pick is then used, also when the
 * prefix turns out to hold the whole row) */
static inline int rs_truncated(int64_t top_k, float top_p, int64_t V) {
  return (top_k > 0 && top_k < V) || (top_p > 0.0f && top_p < 1.0f);
}

/* One draw with u from the row at inverse temperature inv_t: the truncated pick over top_k then
 * top_p when they ask for a cut (rs_truncated), else the plain inverse-CDF pick with the row's
 * log-sum-exp lse (rs_lse at inv_t). */
int32_t rs_draw(const float *z, int64_t V, float inv_t, float lse, int64_t top_k, float top_p, double u);

/* the prefix holding every eligible entry */
rs_cut rs_cut_all(void);
/* the prefix of the k first eligible entries (every entry when k <= 0 or k >= their count) */
rs_cut rs_cut_top_k(const float *z, int64_t V, int64_t k);
/* within prefix c, the shortest prefix whose mass reaches top_p of c's mass (c itself when
 * top_p <= 0 or >= 1) */
rs_cut rs_cut_top_p(const float *z, int64_t V, float inv_t, rs_cut c, float top_p);
/* the inverse-CDF pick over prefix c in id order: the first j whose running mass exceeds
 * trunc(u total) */
int32_t rs_pick_cut(const float *z, int64_t V, float inv_t, rs_cut c, double u);

#endif
