/* optim.c — bench_device's optimizer-step row (optim.h): the trainer's gradient norm now and as
 * before, then the clip's scaling and AdamW, each timed between the backend's syncs. */
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

#include "base/err.h"
#include "tensor/cuda_ctl.h"

static double bdopt_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* the sum of squares of the gradients as session 17's trainer took it, one per run of
 * trainable tensors with equal weight decay (*runs: how many), in double */
static double bdopt_norm_by_decay(pset *ps, int *runs) {
  double s = 0;
  *runs = 0;
  for (int i = 0; i < ps->n;) {
    if (ps->v[i].frozen) {
      i++;
      continue;
    }
    int j = i + 1;
    while (j < ps->n && !ps->v[j].frozen && ps->v[j].decay == ps->v[i].decay) j++;
    int64_t off = ps->v[i].off, end = ps->v[j - 1].off + ps->v[j - 1].n;
    s += ps->be->ops->sumsq(ps->be, ps->g + off, end - off);
    ++*runs;
    i = j;
  }
  return s;
}

/* milliseconds of the median of 5 runs of what (0: the gradient norm now; 1: as before; 2: the
 * clip's scaling and AdamW; 3: the same with AdamW one launch per run, as before session 20:
 * cuda_set_adamw_runs off for it), each between syncs; *v the norm's last value, *runs before's sums */
static double bdopt_part(pset *ps, int what, int64_t step, double *v, int *runs) {
  ts_err e = {0};
  double t[5];
  for (int r = 0; r < 5; r++) {
    ps->be->ops->sync(ps->be, &e);
    double t0 = bdopt_now_ms();
    if (what == 0) *v = pset_grad_norm(ps);
    if (what == 1) *v = sqrt(bdopt_norm_by_decay(ps, runs));
    if (what >= 2) {
      pset_scale_grad(ps, 1.0f);
      pset_adamw(ps, 1e-5f, 0.9f, 0.999f, 1e-8f, 0.01f, step + r, &e);
    }
    ps->be->ops->sync(ps->be, &e);
    t[r] = bdopt_now_ms() - t0;
  }
  for (int a = 0; a < 5; a++) /* sort: 5 values */
    for (int b = a + 1; b < 5; b++)
      if (t[b] < t[a]) {
        double x = t[a];
        t[a] = t[b], t[b] = x;
      }
  return t[2];
}

void bdopt_print(pset *ps, int64_t step) {
  double n0 = 0, n1 = 0, nu = 0;
  int runs = 0;
  double a = bdopt_part(ps, 0, step, &n0, &runs), b = bdopt_part(ps, 1, step, &n1, &runs);
  double u = bdopt_part(ps, 2, step, &nu, &runs);
  /* AdamW one launch per run: only where the switch exists (a CUDA build) */
  double u1 = -1;
  if (ps->be->device != DEV_CPU && !cuda_set_adamw_runs(0)) {
    u1 = bdopt_part(ps, 3, step + 5, &nu, &runs);
    cuda_set_adamw_runs(1);
  }
  printf("optim_step grad norm %.3f ms (one sum per run of trainable tensors), %.3f ms as before (%d sums, one per "
         "run of equal decay; norms %.9g / %.9g), clip scaling + AdamW %.3f ms",
         a, b, runs, n0, n1, u);
  if (u1 >= 0) printf(" (%d runs in one launch), %.3f ms one launch per run", runs, u1);
  printf(" (medians of 5)\n");
}
