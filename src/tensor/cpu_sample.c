/* cpu_sample.c — the CPU backend's sample op (backend.h): per row, the full-row log-sum-exp for
 * the reported log-prob, the banned ids masked, then greedy or the inverse-CDF pick shared with
 * the host sampler (rowsample.h), over the whole row or its top-k / top-p prefix. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/cpu_ops.h"
#include "tensor/rowsample.h"

int cpu_sample(backend *be, const tensor *z, const sample_req *q, int32_t *tok, float *logp) {
  (void)be;
  int64_t R = z->ne[0], V = z->ne[1];
  float *row = malloc(sizeof(float) * (size_t)(V ? V : 1)); /* (V) the masked copy of a row */
  if (!row) return TS_ENOMEM;
  float tau = q->temperature > 0.0f ? q->temperature : 1.0f;
  for (int64_t r = 0; r < R; r++) {
    const float *zr = cpu_f(z) + r * V;
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
  free(row);
  return TS_OK;
}
