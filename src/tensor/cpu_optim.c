/* cpu_optim.c — AdamW (decoupled weight decay, as torch.optim.AdamW), over one buffer or over
 * runs of the flat parameter buffers, and the sum of squares used for the global gradient norm. */
#include <math.h>
#include <stdlib.h>

#include "tensor/cpu_ops.h"

int cpu_adamw(backend *be, float *p, const float *g, float *m, float *v, int64_t n, float lr,
              float beta1, float beta2, float eps, float wd, int64_t t) {
  float bc1 = 1.0f - (float)pow(beta1, (double)t);
  float bc2 = 1.0f - (float)pow(beta2, (double)t);
  float step = lr / bc1;
  float bc2s = sqrtf(bc2);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i];
    p[i] *= 1.0f - lr * wd;
    m[i] = beta1 * m[i] + (1.0f - beta1) * gi;
    v[i] = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    p[i] -= step * m[i] / (sqrtf(v[i]) / bc2s + eps);
  }
  return TS_OK;
}

int cpu_adamw_runs(backend *be, float *p, const float *g, float *m, float *v, const adamw_run *runs, int nr,
                   float lr, float beta1, float beta2, float eps, float wd, int64_t t) {
  for (int r = 0; r < nr; r++) {
    const int64_t o = runs[r].off;
    cpu_adamw(be, p + o, g + o, m + o, v + o, runs[r].n, lr, beta1, beta2, eps, runs[r].decay ? wd : 0.0f, t);
  }
  return TS_OK;
}

/* The sum of squares in one order whatever the threads: chunks of CPU_SQ_CHUNK values, each
 * summed in order (double), then the chunks' sums added in chunk order. The same bits on any
 * number of threads and run to run (an OpenMP reduction adds the threads' partials in the order
 * they finish, which changed the grad norm's last bits, and so the clip, from run to run). */
#define CPU_SQ_CHUNK 65536
static double cpu_sumsq_chunk(const float *x, int64_t n) {
  double t = 0;
  for (int64_t i = 0; i < n; i++) t += (double)x[i] * x[i];
  return t;
}

double cpu_sumsq(backend *be, const float *x, int64_t n) {
  int64_t nc = (n + CPU_SQ_CHUNK - 1) / CPU_SQ_CHUNK;
  double s = 0;
  double *cs = nc > 1 ? malloc(sizeof(double) * (size_t)nc) : NULL; /* (nc) the chunks' sums */
  if (!cs) { /* one chunk, or no memory for their sums: the same order on this thread */
    for (int64_t c = 0; c < nc; c++) {
      int64_t o = c * CPU_SQ_CHUNK;
      s += cpu_sumsq_chunk(x + o, n - o < CPU_SQ_CHUNK ? n - o : CPU_SQ_CHUNK);
    }
    return s;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nc; c++) {
    int64_t o = c * CPU_SQ_CHUNK;
    cs[c] = cpu_sumsq_chunk(x + o, n - o < CPU_SQ_CHUNK ? n - o : CPU_SQ_CHUNK);
  }
  for (int64_t c = 0; c < nc; c++) s += cs[c];
  free(cs);
  return s;
}
