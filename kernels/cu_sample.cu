// cu_sample.cu — the sample op on the device (backend.h sample_req): one block per row of
// logits computes the full-row log-sum-exp (the reported log-prob), masks the banned ids, and
// takes the greedy argmax or the inverse-CDF pick with the row's uniform, so that only the
// ids and log-probs cross to the host. The pick splits the row into one contiguous chunk per
// thread, scans the chunk sums, and the thread whose chunk holds the draw walks it in order;
// the sums are in double as on the CPU, but their order differs, so a draw that falls within
// rounding of a boundary may pick the neighbouring token.
#include <math.h>

#include "cu_common.h"

#define SMP_THREADS 256

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

__global__ void k_sample(const float *z, int64_t V, int64_t n_real, int32_t ban, const int32_t *ban_row,
                         const double *u, float temperature, int32_t *tok, float *logp) {
  __shared__ float shf[SMP_THREADS];
  __shared__ double shd[SMP_THREADS];
  __shared__ int64_t shi[SMP_THREADS];
  __shared__ double pre[SMP_THREADS + 1];
  __shared__ int64_t found;
  int64_t r = blockIdx.x;
  smp_row q = {z + r * V, V, n_real, ban, ban_row ? ban_row[r] : -1};
  float tau = temperature > 0.0f ? temperature : 1.0f;
  /* the full row's log-sum-exp at tau, for the log-prob */
  float mx = -INFINITY;
  for (int64_t v = threadIdx.x; v < V; v += SMP_THREADS) mx = fmaxf(mx, q.z[v] / tau);
  mx = smp_max(mx, shf);
  double se = 0;
  for (int64_t v = threadIdx.x; v < V; v += SMP_THREADS) se += exp((double)(q.z[v] / tau - mx));
  se = smp_sum(se, shd);
  float lse = mx + (float)log(se);
  int64_t t;
  if (temperature <= 0.0f) {
    float bv = -INFINITY;
    int64_t bi = -1;
    for (int64_t v = threadIdx.x; v < V; v += SMP_THREADS) {
      float x = smp_banned(q, v) ? -INFINITY : q.z[v];
      if (bi < 0 || x > bv) bv = x, bi = v; /* strided: each thread's first max */
    }
    t = smp_argmax(bv, bi, shf, shi);
  } else {
    float inv_t = 1.0f / temperature, m2 = -INFINITY;
    for (int64_t v = threadIdx.x; v < V; v += SMP_THREADS)
      if (!smp_banned(q, v)) m2 = fmaxf(m2, q.z[v] * inv_t);
    m2 = smp_max(m2, shf);
    double s2 = 0;
    for (int64_t v = threadIdx.x; v < V; v += SMP_THREADS)
      if (!smp_banned(q, v)) s2 += exp((double)(q.z[v] * inv_t - m2));
    s2 = smp_sum(s2, shd);
    float lse2 = m2 + (float)log(s2);
    /* chunk sums in index order, then an exclusive scan (thread 0: 256 entries) */
    int64_t chunk = (V + SMP_THREADS - 1) / SMP_THREADS, j0 = threadIdx.x * chunk, j1 = j0 + chunk < V ? j0 + chunk : V;
    double cs = 0;
    int64_t lastp = -1;
    for (int64_t j = j0; j < j1; j++) {
      double p = smp_banned(q, j) ? 0.0 : exp((double)(q.z[j] * inv_t - lse2));
      cs += p;
      if (p > 0) lastp = j;
    }
    shd[threadIdx.x] = cs;
    if (threadIdx.x == 0) found = -1;
    __syncthreads();
    if (threadIdx.x == 0) {
      pre[0] = 0;
      for (int i = 0; i < SMP_THREADS; i++) pre[i + 1] = pre[i] + shd[i];
    }
    __syncthreads();
    double total = pre[SMP_THREADS], target = u[r] < total ? u[r] : u[r] * total; /* past the rounded total: rescaled */
    if (j0 < j1 && target >= pre[threadIdx.x] && target < pre[threadIdx.x + 1]) {
      double run = pre[threadIdx.x];
      for (int64_t j = j0; j < j1; j++) {
        double p = smp_banned(q, j) ? 0.0 : exp((double)(q.z[j] * inv_t - lse2));
        run += p;
        if (p > 0 && target < run) {
          found = j;
          break;
        }
      }
    }
    __syncthreads();
    t = found;
    if (t < 0) { /* nothing found within rounding: the last token with p > 0 */
      int64_t li = smp_argmax((float)lastp, lastp, shf, shi);
      t = li < 0 ? 0 : li;
    }
  }
  if (threadIdx.x == 0) {
    if (t < 0) t = 0;
    tok[r] = (int32_t)t;
    logp[r] = q.z[t] / tau - lse;
  }
}

int cu_sample(backend *be, const tensor *z, const sample_req *q, int32_t *tok, float *logp) {
  int64_t R = z->ne[0], V = z->ne[1];
  if (R <= 0) return TS_OK;
  size_t bu = q->u ? sizeof(double) * (size_t)R : 0, bb = q->ban_row ? sizeof(int32_t) * (size_t)R : 0,
         bt = sizeof(int32_t) * (size_t)R, bl = sizeof(float) * (size_t)R;
  char *cur;
  TS_TRY(cu_scratch(be, cu_rnd(bu) + cu_rnd(bb) + cu_rnd(bt) + cu_rnd(bl) + 1024, (void **)&cur));
  void *du = cu_carve(&cur, bu), *db = cu_carve(&cur, bb), *dt = cu_carve(&cur, bt), *dl = cu_carve(&cur, bl);
  if (bu) CU_TRY(cudaMemcpy(du, q->u, bu, cudaMemcpyHostToDevice));
  if (bb) CU_TRY(cudaMemcpy(db, q->ban_row, bb, cudaMemcpyHostToDevice));
  k_sample<<<(unsigned)R, SMP_THREADS>>>(cu_f(z), V, q->n_real, q->ban, bb ? (const int32_t *)db : NULL,
                                         (const double *)du, q->temperature, (int32_t *)dt, (float *)dl);
  CU_LAUNCHED("k_sample");
  CU_TRY(cudaMemcpy(tok, dt, bt, cudaMemcpyDeviceToHost));
  CU_TRY(cudaMemcpy(logp, dl, bl, cudaMemcpyDeviceToHost));
  return TS_OK;
}
