// cu_sample.cuh — the sample op's kernels (k_sample_part and k_sample_mass: the row's passes
// split into chunks over many blocks; k_sample: one block of SMP_THREADS per row of logits; what
// they compute is described in cu_sample.cu). Device code only: included by cu_sample.cu,
// which launches them, and by tests/gpu/simt/test_sample_emu.cpp, which runs them under the
// SIMT emulator against the CPU backend's sample op in ctest.
#pragma once

#include "cu_dev.cuh"

/* threads per row: R is small in decoding (G rows), so one block must keep many loads in flight
 * (the loops are latency-bound: with 256 threads, 8 rows of 151,936 took 0.76 ms on an H200); the
 * serial scans of thread 0 over SMP_THREADS entries are the price. 58 registers at 1024 (ptxas,
 * sm_90), within the 64 that 1024 threads allow; __launch_bounds__ keeps it so */
#define SMP_THREADS 1024

struct smp_row {
  const float *z;
  int64_t V, n_real;
  int32_t ban, ban_r;
};

__device__ static bool smp_banned(const smp_row &q, int64_t v) { return v >= q.n_real || v == q.ban || v == q.ban_r; }

/* block reductions over SMP_THREADS threads (all threads must call) */
__device__ static float smp_max(float v, float *sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = SMP_THREADS / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]);
    __syncthreads();
  }
  float r = sh[0];
  __syncthreads();
  return r;
}

__device__ static double smp_sum(double v, double *sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = SMP_THREADS / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  double r = sh[0];
  __syncthreads();
  return r;
}

/* the first index holding the largest value; idx -1 = none */
__device__ static int64_t smp_argmax(float v, int64_t idx, float *shv, int64_t *shi) {
  shv[threadIdx.x] = v;
  shi[threadIdx.x] = idx;
  __syncthreads();
  for (int s = SMP_THREADS / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) {
      float a = shv[threadIdx.x], b = shv[threadIdx.x + s];
      int64_t ia = shi[threadIdx.x], ib = shi[threadIdx.x + s];
      if (ia < 0 || (ib >= 0 && (b > a || (b == a && ib < ia)))) {
        shv[threadIdx.x] = b;
        shi[threadIdx.x] = ib;
      }
    }
    __syncthreads();
  }
  int64_t r = shi[0];
  __syncthreads();
  return r;
}

/* ---- top-k / top-p (src/tensor/rowsample.h's definitions) ---- */

__device__ static uint32_t smp_key(float x) {
  uint32_t b = __float_as_uint(x);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
__device__ static float smp_unkey(uint32_t k) { return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k); }

/* the fixed-point weight of a logit: no FMA contraction, as on the CPU */
__device__ static unsigned long long smp_w(float x, float inv_t, float m, double scale) {
  return (unsigned long long)(exp((double)__fsub_rn(__fmul_rn(x, inv_t), m)) * scale);
}

__device__ static unsigned long long smp_sum_u(unsigned long long v, unsigned long long *sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = SMP_THREADS / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  unsigned long long r = sh[0];
  __syncthreads();
  return r;
}

/* thread 0 walks the 256 bins from the top: the bin where the running total reaches *need */
__device__ static int smp_walk(const unsigned long long *h, unsigned long long *need) {
  int b = 255;
  for (; b > 0; b--) {
    if (h[b] >= *need) break;
    *need -= h[b];
  }
  return b;
}

struct smp_cut {
  uint32_t key;
  long long m;
};

/* One radix pass: adds each eligible entry's count (mass = false) or weight to the bin of its
 * key byte at shift sh when the higher bytes equal prefix; entries with key <= skip are left
 * out (the caller adds a prior cut's ties itself). A thread adds runs of one bin locally and
 * flushes them with one atomic (integer, so the order does not matter). */
__device__ static void smp_hist(const smp_row &q, uint32_t prefix, uint32_t pmask, int sh, uint32_t skip,
                                bool mass, float inv_t, float m, double scale, unsigned long long *h) {
  for (int i = threadIdx.x; i < 256; i += SMP_THREADS) h[i] = 0;
  __syncthreads();
  int cb = -1;
  unsigned long long acc = 0;
  for (int64_t v = threadIdx.x; v < q.V; v += SMP_THREADS) {
    float x = smp_banned(q, v) ? -INFINITY : q.z[v];
    if (!(x > -INFINITY)) continue;
    uint32_t key = smp_key(x);
    if (key <= skip || (key & pmask) != prefix) continue;
    int b = (int)((key >> sh) & 255u);
    if (b != cb) {
      if (cb >= 0 && acc) atomicAdd(&h[cb], acc);
      cb = b, acc = 0;
    }
    acc += mass ? smp_w(x, inv_t, m, scale) : 1ull;
  }
  if (cb >= 0 && acc) atomicAdd(&h[cb], acc);
  __syncthreads();
}

/* the prefix of the first top_k eligible entries (order: logit desc, id asc) */
__device__ static smp_cut smp_cut_top_k(const smp_row &q, long long top_k, long long n_elig, unsigned long long *h,
                                        uint32_t *s_prefix, unsigned long long *s_need) {
  smp_cut c = {0u, 0x7fffffffffffffffll};
  if (top_k <= 0 || top_k >= n_elig) return c;
  uint32_t prefix = 0, pmask = 0;
  if (threadIdx.x == 0) *s_need = (unsigned long long)top_k;
  for (int sh = 24; sh >= 0; sh -= 8) {
    smp_hist(q, prefix, pmask, sh, 0u, false, 1.0f, 0.0f, 1.0, h);
    if (threadIdx.x == 0) *s_prefix = prefix | ((uint32_t)smp_walk(h, s_need) << sh);
    __syncthreads();
    prefix = *s_prefix;
    pmask |= 255u << sh;
    __syncthreads();
  }
  c.key = prefix;
  c.m = (long long)*s_need;
  __syncthreads();
  return c;
}

/* within prefix c, the shortest prefix holding top_p of c's mass */
__device__ static smp_cut smp_cut_top_p(const smp_row &q, smp_cut c, float top_p, float inv_t, float m, double scale,
                                        unsigned long long *h, uint32_t *s_prefix, unsigned long long *s_need) {
  if (!(top_p > 0.0f && top_p < 1.0f)) return c;
  bool ties = c.key != 0u;
  unsigned long long wt = ties ? smp_w(smp_unkey(c.key), inv_t, m, scale) : 0ull, part = 0;
  for (int64_t v = threadIdx.x; v < q.V; v += SMP_THREADS) {
    float x = smp_banned(q, v) ? -INFINITY : q.z[v];
    if (x > -INFINITY && smp_key(x) > c.key) part += smp_w(x, inv_t, m, scale);
  }
  unsigned long long tot = smp_sum_u(part, h) + (ties ? (unsigned long long)c.m * wt : 0ull);
  double want = ceil((double)top_p * (double)tot);
  if (threadIdx.x == 0) *s_need = want < 1.0 ? 1ull : want >= (double)tot ? tot : (unsigned long long)want;
  uint32_t prefix = 0, pmask = 0;
  for (int sh = 24; sh >= 0; sh -= 8) {
    smp_hist(q, prefix, pmask, sh, c.key, true, inv_t, m, scale, h);
    if (threadIdx.x == 0) {
      if (ties && (c.key & pmask) == prefix) h[(c.key >> sh) & 255u] += (unsigned long long)c.m * wt;
      *s_prefix = prefix | ((uint32_t)smp_walk(h, s_need) << sh);
    }
    __syncthreads();
    prefix = *s_prefix;
    pmask |= 255u << sh;
    __syncthreads();
  }
  unsigned long long w = smp_w(smp_unkey(prefix), inv_t, m, scale), need = *s_need;
  smp_cut r = {prefix, w ? (long long)((need + w - 1) / w) : 1ll};
  if (r.m < 1) r.m = 1;
  __syncthreads();
  return r;
}

/* the fixed-point inverse-CDF pick over prefix c in id order: chunked like the plain pick, with
 * the ties at the cut ranked by id through a scan of per-chunk tie counts */
__device__ static int64_t smp_pick_cut(const smp_row &q, smp_cut c, double u, float inv_t, float m, double scale,
                                       unsigned long long *pre, long long *found) {
  int64_t chunk = (q.V + SMP_THREADS - 1) / SMP_THREADS, j0 = threadIdx.x * chunk,
          j1 = j0 + chunk < q.V ? j0 + chunk : q.V;
  unsigned long long nt = 0;
  for (int64_t j = j0; j < j1; j++) {
    float x = smp_banned(q, j) ? -INFINITY : q.z[j];
    nt += x > -INFINITY && smp_key(x) == c.key;
  }
  pre[threadIdx.x + 1] = nt;
  __syncthreads();
  if (threadIdx.x == 0) {
    pre[0] = 0;
    for (int i = 0; i < SMP_THREADS; i++) pre[i + 1] += pre[i];
  }
  __syncthreads();
  long long rank0 = (long long)pre[threadIdx.x], rank = rank0;
  __syncthreads();
  unsigned long long cs = 0;
  for (int64_t j = j0; j < j1; j++) {
    float x = smp_banned(q, j) ? -INFINITY : q.z[j];
    if (!(x > -INFINITY)) continue;
    uint32_t key = smp_key(x);
    if (key > c.key || (key == c.key && rank++ < c.m)) cs += smp_w(x, inv_t, m, scale);
  }
  pre[threadIdx.x + 1] = cs;
  if (threadIdx.x == 0) *found = -1;
  __syncthreads();
  if (threadIdx.x == 0) {
    pre[0] = 0;
    for (int i = 0; i < SMP_THREADS; i++) pre[i + 1] += pre[i];
  }
  __syncthreads();
  unsigned long long tot = pre[SMP_THREADS], target = (unsigned long long)(u * (double)tot);
  if (target >= tot) target = tot ? tot - 1 : 0;
  if (j0 < j1 && target >= pre[threadIdx.x] && target < pre[threadIdx.x + 1]) {
    unsigned long long run = pre[threadIdx.x];
    rank = rank0;
    for (int64_t j = j0; j < j1; j++) {
      float x = smp_banned(q, j) ? -INFINITY : q.z[j];
      if (!(x > -INFINITY)) continue;
      uint32_t key = smp_key(x);
      if (key > c.key || (key == c.key && rank++ < c.m)) {
        unsigned long long w = smp_w(x, inv_t, m, scale);
        if (!w) continue;
        run += w;
        if (target < run) {
          *found = j;
          break;
        }
      }
    }
  }
  __syncthreads();
  int64_t t = *found;
  __syncthreads();
  return t < 0 ? 0 : t;
}

/* The plain temperature pick over ids [c0, c1): one contiguous sub-chunk per thread in id
 * order, the sub-chunks' sums of p = exp(z * inv_t - lse2) (double) scanned by thread 0, and
 * the thread whose sub-chunk holds the draw walks it. The draw is target, or with scale_u the
 * uniform target rescaled when it is past the rounded total. Nothing found within rounding:
 * the last id with p > 0 in the span (0 when none). Every thread must call it. */
__device__ static int64_t smp_pick_span(const smp_row &q, int64_t c0, int64_t c1, double target, bool scale_u,
                                        float inv_t, float lse2, double *pre, double *shd, float *shf, int64_t *shi,
                                        int64_t *found) {
  int64_t chunk = (c1 - c0 + SMP_THREADS - 1) / SMP_THREADS, j0 = c0 + threadIdx.x * chunk,
          j1 = j0 + chunk < c1 ? j0 + chunk : c1;
  double cs = 0;
  int64_t lastp = -1;
  for (int64_t j = j0; j < j1; j++) {
    double p = smp_banned(q, j) ? 0.0 : exp((double)__fsub_rn(__fmul_rn(q.z[j], inv_t), lse2));
    cs += p;
    if (p > 0) lastp = j;
  }
  shd[threadIdx.x] = cs;
  if (threadIdx.x == 0) *found = -1;
  __syncthreads();
  if (threadIdx.x == 0) {
    pre[0] = 0;
    for (int i = 0; i < SMP_THREADS; i++) pre[i + 1] = pre[i] + shd[i];
  }
  __syncthreads();
  double total = pre[SMP_THREADS];
  if (scale_u) target = target < total ? target : target * total; /* past the rounded total: rescaled */
  if (j0 < j1 && target >= pre[threadIdx.x] && target < pre[threadIdx.x + 1]) {
    double run = pre[threadIdx.x];
    for (int64_t j = j0; j < j1; j++) {
      double p = smp_banned(q, j) ? 0.0 : exp((double)__fsub_rn(__fmul_rn(q.z[j], inv_t), lse2));
      run += p;
      if (p > 0 && target < run) {
        *found = j;
        break;
      }
    }
  }
  __syncthreads();
  int64_t t = *found;
  if (t < 0) { /* nothing found within rounding: the last token with p > 0 */
    int64_t li = smp_argmax((float)lastp, lastp, shf, shi);
    t = li < 0 ? 0 : li;
  }
  return t;
}

/* ---- the row's passes split over blocks (decoding has few rows: one block per row kept 8 of an
 * H200's 132 SMs busy, and its passes of double exp over 151,936 logits took ~250 us per step).
 * k_sample_part, grid (NB, R): block b of row r takes the ids [b C, (b + 1) C), C = ceil(V / NB),
 * and writes its chunk's partials; k_sample_mass (the plain temperature pick only) adds each
 * chunk's pick mass once the row's lse is known; k_sample then combines the NB partials in
 * chunk order instead of its own full passes, and walks only the chunk the draw falls in. ---- */
#define SMP_PART_THREADS 256

/* whether a request is the plain temperature pick (no top-k / top-p cut, not greedy): the one
 * k_sample_mass serves */
__host__ __device__ static inline bool smp_plain(float temperature, long long top_k, float top_p, int64_t V) {
  return temperature > 0.0f && !(top_k > 0 && top_k < V) && !(top_p > 0.0f && top_p < 1.0f);
}

/* the chunks per row: about 4,096 ids each, at most 32 (Qwen2's 151,936 ids: 32 chunks, 256
 * blocks for 8 rows) */
__host__ __device__ static inline int smp_nb(int64_t V) {
  int64_t n = V / 4096;
  return n < 1 ? 1 : n > 32 ? 32 : (int)n;
}

struct smp_part {
  float mx;     /* max of z / tau over every id (the log-prob's log-sum-exp) */
  float m2;     /* max of z * inv_t over the eligible ids (the temperature pick) */
  float bv;     /* greedy: the chunk's largest logit (banned ids -inf) ... */
  int64_t bi;   /* ... at its first id (-1: an empty chunk) */
  double se;    /* sum of exp(z / tau - mx) */
  double s2;    /* sum of exp(z * inv_t - m2) over the eligible ids */
  double mass;  /* k_sample_mass: the chunk's sum of exp(z * inv_t - lse2), the pick's masses */
};

/* the first and one-past-last id of chunk b of NB over V */
__device__ static void smp_chunk(int64_t V, int nb, int b, int64_t *j0, int64_t *j1) {
  int64_t c = (V + nb - 1) / nb;
  *j0 = (int64_t)b * c < V ? (int64_t)b * c : V;
  *j1 = *j0 + c < V ? *j0 + c : V;
}

/* the larger (value, id) pair, ties to the smaller id, -1 ids losing */
__device__ static void smp_better(float *bv, int64_t *bi, float v, int64_t i) {
  if (*bi < 0 || (i >= 0 && (v > *bv || (v == *bv && i < *bi)))) *bv = v, *bi = i;
}

/* grid (NB, R), SMP_PART_THREADS threads: part (R, NB); plain: the plain temperature pick follows
 * (its m2, s2 are wanted; top-k / top-p and greedy use the log-sum-exp and bv, bi alone) */
__global__ void __launch_bounds__(SMP_PART_THREADS)
    k_sample_part(const float *z, int64_t V, int64_t n_real, int32_t ban, const int32_t *ban_row, float temperature,
                  int plain, smp_part *part) {
  __shared__ float s_bv[32];
  __shared__ int64_t s_bi[32];
  const int r = blockIdx.y, b = blockIdx.x, nb = gridDim.x, lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  smp_row q = {z + (int64_t)r * V, V, n_real, ban, ban_row ? ban_row[r] : -1};
  int64_t j0, j1;
  smp_chunk(V, nb, b, &j0, &j1);
  const float tau = temperature > 0.0f ? temperature : 1.0f, inv_t = 1.0f / tau;
  float mx = -INFINITY, m2 = -INFINITY, bv = -INFINITY;
  int64_t bi = -1;
  for (int64_t v = j0 + threadIdx.x; v < j1; v += SMP_PART_THREADS) {
    float x = q.z[v];
    mx = fmaxf(mx, x / tau);
    bool banned = smp_banned(q, v);
    if (!banned) m2 = fmaxf(m2, __fmul_rn(x, inv_t));
    float g = banned ? -INFINITY : x;
    if (bi < 0 || g > bv) bv = g, bi = v; /* strided: each thread's first max */
  }
  mx = cu_block_max(mx);
  m2 = cu_block_max(m2);
  double se = 0, s2 = 0;
  for (int64_t v = j0 + threadIdx.x; v < j1; v += SMP_PART_THREADS) {
    float x = q.z[v];
    se += exp((double)(x / tau - mx));
    if (plain && !smp_banned(q, v)) s2 += exp((double)__fsub_rn(__fmul_rn(x, inv_t), m2));
  }
  se = cu_block_sum(se);
  s2 = cu_block_sum(s2);
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
    smp_better(&bv, &bi, ov, oi);
  }
  if (lane == 0) s_bv[w] = bv, s_bi[w] = bi;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int k = 1; k < SMP_PART_THREADS / 32; k++) smp_better(&bv, &bi, s_bv[k], s_bi[k]);
    smp_part p = {mx, m2, bv, bi, se, s2, 0.0};
    part[(int64_t)r * nb + b] = p;
  }
}

/* the row's lse2 (the temperature pick's log-sum-exp over the eligible ids) from its NB
 * partials, combined in chunk order: every block and k_sample compute the same value */
__device__ static float smp_lse2(const smp_part *p, int nb) {
  float m2 = -INFINITY;
  for (int b = 0; b < nb; b++) m2 = fmaxf(m2, p[b].m2);
  double s2 = 0;
  for (int b = 0; b < nb; b++)
    if (p[b].s2 > 0) s2 += p[b].s2 * exp((double)p[b].m2 - (double)m2);
  return m2 + (float)log(s2);
}

/* grid (NB, R), SMP_PART_THREADS threads: part[.].mass (the temperature pick only) */
__global__ void __launch_bounds__(SMP_PART_THREADS)
    k_sample_mass(const float *z, int64_t V, int64_t n_real, int32_t ban, const int32_t *ban_row, float temperature,
                  smp_part *part) {
  const int r = blockIdx.y, b = blockIdx.x, nb = gridDim.x;
  smp_row q = {z + (int64_t)r * V, V, n_real, ban, ban_row ? ban_row[r] : -1};
  int64_t j0, j1;
  smp_chunk(V, nb, b, &j0, &j1);
  const float inv_t = 1.0f / temperature, lse2 = smp_lse2(part + (int64_t)r * nb, nb);
  double cs = 0;
  for (int64_t j = j0 + threadIdx.x; j < j1; j += SMP_PART_THREADS)
    if (!smp_banned(q, j)) cs += exp((double)__fsub_rn(__fmul_rn(q.z[j], inv_t), lse2));
  cs = cu_block_sum(cs);
  if (threadIdx.x == 0) part[(int64_t)r * nb + b].mass = cs;
}

/* one block of SMP_THREADS per row; part (R, nb) from k_sample_part (and k_sample_mass for the
 * plain temperature pick), or NULL: the block makes every pass itself */
__global__ void __launch_bounds__(SMP_THREADS)
    k_sample(const float *z, int64_t V, int64_t n_real, int32_t ban, const int32_t *ban_row, const double *u,
             float temperature, long long top_k, float top_p, int32_t *tok, float *logp, const smp_part *part,
             int nb) {
  __shared__ float shf[SMP_THREADS];
  __shared__ double shd[SMP_THREADS];
  __shared__ int64_t shi[SMP_THREADS];
  __shared__ double pre[SMP_THREADS + 1];
  __shared__ int64_t found;
  __shared__ unsigned long long hu[SMP_THREADS + 1], s_need;
  __shared__ uint32_t s_prefix;
  __shared__ long long s_found;
  int64_t r = blockIdx.x;
  smp_row q = {z + r * V, V, n_real, ban, ban_row ? ban_row[r] : -1};
  float tau = temperature > 0.0f ? temperature : 1.0f;
  const smp_part *pr = part ? part + r * nb : NULL; /* this row's partials */
  /* the full row's log-sum-exp at tau, for the log-prob */
  float mx = -INFINITY;
  double se = 0;
  if (pr) {
    for (int b = 0; b < nb; b++) mx = fmaxf(mx, pr[b].mx);
    for (int b = 0; b < nb; b++)
      if (pr[b].se > 0) se += pr[b].se * exp((double)pr[b].mx - (double)mx);
  } else {
    for (int64_t v = threadIdx.x; v < V; v += SMP_THREADS) mx = fmaxf(mx, q.z[v] / tau);
    mx = smp_max(mx, shf);
    for (int64_t v = threadIdx.x; v < V; v += SMP_THREADS) se += exp((double)(q.z[v] / tau - mx));
    se = smp_sum(se, shd);
  }
  float lse = mx + (float)log(se);
  int64_t t;
  if (temperature <= 0.0f && pr) { /* the chunks' greedy picks, in chunk order */
    float bv = -INFINITY;
    int64_t bi = -1;
    for (int b = 0; b < nb; b++) smp_better(&bv, &bi, pr[b].bv, pr[b].bi);
    t = bi;
  } else if (temperature <= 0.0f) {
    float bv = -INFINITY;
    int64_t bi = -1;
    for (int64_t v = threadIdx.x; v < V; v += SMP_THREADS) {
      float x = smp_banned(q, v) ? -INFINITY : q.z[v];
      if (bi < 0 || x > bv) bv = x, bi = v; /* strided: each thread's first max */
    }
    t = smp_argmax(bv, bi, shf, shi);
  } else if ((top_k > 0 && top_k < V) || (top_p > 0.0f && top_p < 1.0f)) {
    /* top-k, then the nucleus of what it kept, then the pick within (rowsample.h) */
    float inv_t = 1.0f / temperature, m = -INFINITY;
    long long n = 0;
    for (int64_t v = threadIdx.x; v < V; v += SMP_THREADS) {
      float x = smp_banned(q, v) ? -INFINITY : q.z[v];
      if (x > -INFINITY) m = fmaxf(m, __fmul_rn(x, inv_t)), n++;
    }
    m = smp_max(m, shf);
    n = (long long)smp_sum_u((unsigned long long)n, hu);
    if (n == 0) {
      t = 0;
    } else {
      int b = 0;
      while (b < 62 && ((int64_t)1 << b) < V) b++;
      double scale = ldexp(1.0, 62 - b);
      smp_cut c = smp_cut_top_k(q, top_k, n, hu, &s_prefix, &s_need);
      c = smp_cut_top_p(q, c, top_p, inv_t, m, scale, hu, &s_prefix, &s_need);
      t = smp_pick_cut(q, c, u[r], inv_t, m, scale, hu, &s_found);
    }
  } else if (pr) {
    /* the chunk the draw falls in by the chunks' masses (k_sample_mass), then within it the
     * per-thread pick below over that chunk alone */
    float inv_t = 1.0f / temperature, lse2 = smp_lse2(pr, nb);
    double total = 0;
    for (int b = 0; b < nb; b++) total += pr[b].mass;
    double target = u[r] < total ? u[r] : u[r] * total, below = 0, local = 0;
    int bs = -1, last = 0; /* last: the last chunk with mass */
    for (int b = 0; b < nb; b++) {
      if (pr[b].mass > 0) last = b;
      if (bs < 0 && target < below + pr[b].mass) bs = b, local = target - below;
      if (bs < 0) below += pr[b].mass;
    }
    if (bs < 0) bs = last, local = INFINITY; /* within rounding of the total: the last token with p > 0 */
    int64_t c0, c1;
    smp_chunk(V, nb, bs, &c0, &c1);
    t = smp_pick_span(q, c0, c1, local, false, inv_t, lse2, pre, shd, shf, shi, &found);
  } else {
    float inv_t = 1.0f / temperature, m2 = -INFINITY;
    for (int64_t v = threadIdx.x; v < V; v += SMP_THREADS)
      if (!smp_banned(q, v)) m2 = fmaxf(m2, q.z[v] * inv_t);
    m2 = smp_max(m2, shf);
    double s2 = 0;
    for (int64_t v = threadIdx.x; v < V; v += SMP_THREADS)
      if (!smp_banned(q, v)) s2 += exp((double)__fsub_rn(__fmul_rn(q.z[v], inv_t), m2));
    s2 = smp_sum(s2, shd);
    float lse2 = m2 + (float)log(s2);
    t = smp_pick_span(q, 0, V, u[r], true, inv_t, lse2, pre, shd, shf, shi, &found);
  }
  if (threadIdx.x == 0) {
    if (t < 0) t = 0;
    tok[r] = (int32_t)t;
    logp[r] = smp_banned(q, t) ? -INFINITY : q.z[t] / tau - lse; /* as the CPU's masked row */
  }
}
