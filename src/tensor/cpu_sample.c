/* cpu_sample.c — the CPU backend's sample op (backend.h): per row, the full-row log-sum-exp for
 * the reported log-prob, the banned ids masked, then greedy or the inverse-CDF pick shared with
 * the host sampler (rowsample.h), over the whole row or its top-k / top-p prefix. Rows go to
 * the threads whole (a row's sums keep their order, so the result does not depend on the
 * thread count): a GRPO rollout's G rows of a large vocabulary are passes of double-precision
 * exponentials, ~1.5 ms a row of 151,936 ids. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/cpu_ops.h"
#include "tensor/cpu_scratch.h"
#include "tensor/par.h"
#include "tensor/rowsample.h"

/* row r of z (V logits) into tok[r], logp[r]; row (V) is the caller's scratch for the masked copy */
static void cpu_sample_row(const float *zr, int64_t V, int64_t r, const sample_req *q, float *row, int32_t *tok,
                           float *logp) {
  float tau = q->temperature > 0.0f ? q->temperature : 1.0f;
  float lse = rs_lse_tau(zr, V, tau);
  memcpy(row, zr, sizeof(float) * (size_t)V);
  for (int64_t v = q->n_real; v < V; v++) row[v] = -INFINITY;
  if (q->ban >= 0 && q->ban < V) row[q->ban] = -INFINITY;
  if (q->ban_row && q->ban_row[r] >= 0 && q->ban_row[r] < V) row[q->ban_row[r]] = -INFINITY;
  int64_t t = 0;
  if (q->temperature <= 0.0f) {
    for (int64_t v = 1; v < V; v++)
      if (row[v] > row[t]) t = v;
  } else {
    float inv_t = 1.0f / q->temperature, m2;
    float lse2 = rs_truncated(q->top_k, q->top_p, V) ? 0.0f : rs_lse(row, V, inv_t, &m2); /* (the cut needs none) */
    t = rs_draw(row, V, inv_t, lse2, q->top_k, q->top_p, q->u[r]);
  }
  tok[r] = (int32_t)t;
  logp[r] = row[t] / tau - lse;
}

/* rows below this many logits in all stay on one thread (waking the others costs more); 32 rows
 * of the small model's 608 ids, 2 threads: 0.25 -> 0.12 ms */
#define CPU_SAMPLE_PAR (1LL << 12)

int cpu_sample(backend *be, const tensor *z, const sample_req *q, int32_t *tok, float *logp) {
  (void)be;
  int64_t R = z->ne[0], V = z->ne[1];
  const float *zp = cpu_f(z);
  int failed = 0;
#pragma omp parallel if (R > 1 && R * V >= CPU_SAMPLE_PAR && !par_in_parallel())
  {
    float *row = cpu_scratch(SCRATCH_ROW, (size_t)V); /* (V) the masked copy of a row */
    if (!row) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp barrier
    int any_failed;
#pragma omp atomic read
    any_failed = failed;
    if (!any_failed) { /* every row or none (no thread starts while another lacks memory) */
#pragma omp for schedule(dynamic)
      for (int64_t r = 0; r < R; r++) cpu_sample_row(zp + r * V, V, r, q, row, tok, logp);
    }
  }
  return failed ? TS_ENOMEM : TS_OK;
}
