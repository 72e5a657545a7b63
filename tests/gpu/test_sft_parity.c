/* test_sft_parity.c — SFT training steps of the tiny fixture model with the CUDA backend
 * against the CPU backend, from the same weights and the same synthetic batch.
 *
 * Part A (runs today): the parameter-set path on the GPU. The CPU model runs STEPS SFT steps
 * (tsm_train_step + pset_adamw); a CUDA parameter set with the same layout gets the same
 * starting weights and, each step, the CPU's gradients, then runs pset_grad_norm and
 * pset_adamw on the device (fill/axpby/sumsq/adamw through be_ops). Printed per step: the
 * loss, both grad norms and the normalised weight difference ||w_cuda - w_cpu|| / ||w_cpu||
 * (tolerance 1e-4 for all).
 * Part B (TSASR_PARITY_FORCE=1): the whole train step on the CUDA backend. The model code is
 * not ready for device memory yet (see blockers() below), so it is skipped by default.
 * Exit 0 pass, 1 mismatch or failure, 2 no CUDA device, 3 part A passed and part B skipped.
 * Needs a GPU: built only with CUDA, never run by ctest. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "model/tsmodel.h"
#include "tensor/backend.h"
#include "tensor/params.h"

#define STEPS 5
#define TOL 1e-4

typedef struct run_out {
  double loss[STEPS], gnorm[STEPS];
} run_out;

/* Synthetic batch: 2 sequences with one <|audio|> each, noise audio of two lengths. */
typedef struct sbatch {
  float *wav;
  int64_t L, len[2];
  int32_t *ids[2], n_ids[2], rs[2], re[2];
} sbatch;

static void sb_make(sbatch *s, const tsm *m) {
  uint64_t x = 12345;
  s->L = 6400;
  s->len[0] = 6400;
  s->len[1] = 4800;
  s->wav = calloc((size_t)(2 * s->L), sizeof(float));
  for (int64_t i = 0; i < 2 * s->L; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    if (i % s->L < s->len[i / s->L]) s->wav[i] = (float)((double)(x >> 40) / 16777216.0 - 0.5) * 0.2f;
  }
  int64_t V = m->lcfg.V;
  for (int b = 0; b < 2; b++) {
    int n = b ? 14 : 11, p = b ? 4 : 3;
    s->n_ids[b] = n;
    s->ids[b] = malloc(sizeof(int32_t) * (size_t)n);
    for (int j = 0; j < n; j++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      int32_t t = (int32_t)((x >> 33) % (uint64_t)(V > 200 ? 200 : V));
      if (t == m->audio_id) t = (t + 1) % (int32_t)V;
      s->ids[b][j] = t;
    }
    s->ids[b][p] = m->audio_id;
    s->rs[b] = p + 3;
    s->re[b] = n;
  }
}

static void sb_free(sbatch *s) {
  free(s->wav);
  free(s->ids[0]);
  free(s->ids[1]);
}

static int run(backend *be, const char *dir, run_out *out, ts_err *e) {
  tsm *m = NULL;
  if (tsm_load(dir, be, 1, 1, &m, e)) return 1;
  sbatch s;
  sb_make(&s, m);
  tsm_batch b;
  memset(&b, 0, sizeof b);
  b.B = 2;
  b.wav = s.wav;
  b.L = s.L;
  b.wav_len = s.len;
  b.ids = (const int32_t *const *)s.ids;
  b.n_ids = s.n_ids;
  b.resp_start = s.rs;
  b.resp_end = s.re;
  int64_t R = (s.re[0] - s.rs[0]) + (s.re[1] - s.rs[1]);
  arena ar;
  arena_init(&ar, 1 << 22);
  int rc = 0;
  for (int t = 0; t < STEPS && !rc; t++) {
    arena_reset(&ar);
    pset_zero_grad(&m->ps);
    tsm_loss lo;
    memset(&lo, 0, sizeof lo);
    rc = tsm_train_step(m, &b, (float)(1.0 / R), &lo, &ar, e);
    if (!rc) rc = be->ops->sync(be, e);
    if (rc) break;
    out->loss[t] = lo.loss_sum / (double)(lo.tokens ? lo.tokens : 1);
    out->gnorm[t] = pset_grad_norm(&m->ps);
    rc = pset_adamw(&m->ps, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, t + 1, e);
    if (!rc) rc = be->ops->sync(be, e);
  }
  arena_free(&ar);
  tsm_free(m);
  sb_free(&s);
  return rc;
}

static double rel(double a, double b) { return fabs(a - b) / (fabs(a) > 1e-12 ? fabs(a) : 1e-12); }

static void blockers(void) {
  printf("test_sft_parity: part B (whole train step on CUDA) SKIPPED: the model code still touches\n"
         "  parameters and activations as host memory:\n"
         "  - enc_load writes weights with st_read_f32 straight into pset_wp() (src/model/encoder_params.c),\n"
         "    a host write into device memory;\n"
         "  - the encoder's ET1/ET2 views are tensor_f32() = DEV_CPU (src/model/encoder_int.h), which the\n"
         "    op wrappers reject on the CUDA backend;\n"
         "  - activations come from a host arena (arena_alloc in decoder.c, qwen2.c, adapter.c, encoder*.c,\n"
         "    tsmodel_train.c) and the batch's wav is a host array, both handed to ops as device tensors;\n"
         "  - tsm_init_prefix / pset_init_normal fill weights in host loops (tsm_assemble / tsm_new).\n"
         "  Set TSASR_PARITY_FORCE=1 to try it anyway.\n");
}

/* Part A: CPU SFT steps; a CUDA pset shadows the optimizer with the CPU's gradients. */
static int part_a(backend *gpu, const char *dir, ts_err *e) {
  tsm *m = NULL;
  if (tsm_load(dir, be_cpu(), 1, 1, &m, e)) return 1;
  pset gp;
  pset_init(&gp, gpu);
  int rc = 0;
  for (int i = 0; i < m->ps.n && !rc; i++) {
    const pview *v = &m->ps.v[i];
    if (pset_add(&gp, v->name, v->ndim, v->ne, v->decay, e) < 0) rc = 1;
    else gp.v[i].frozen = v->frozen;
  }
  if (!rc && gp.total != m->ps.total) rc = err_set(e, TS_EINTERNAL, "layouts differ");
  if (!rc) rc = pset_alloc(&gp, 1, 1, e);
  size_t bytes = sizeof(float) * (size_t)m->ps.total;
  if (!rc) rc = gpu->ops->to_device(gpu, gp.w, m->ps.w, bytes, e);
  sbatch s;
  sb_make(&s, m);
  tsm_batch b;
  memset(&b, 0, sizeof b);
  b.B = 2;
  b.wav = s.wav;
  b.L = s.L;
  b.wav_len = s.len;
  b.ids = (const int32_t *const *)s.ids;
  b.n_ids = s.n_ids;
  b.resp_start = s.rs;
  b.resp_end = s.re;
  int64_t R = (s.re[0] - s.rs[0]) + (s.re[1] - s.rs[1]);
  float *wg = malloc(bytes);
  arena ar;
  arena_init(&ar, 1 << 22);
  double worst = 0;
  if (!rc) printf("%4s %12s %14s %14s %10s %12s\n", "step", "loss", "gnorm cpu", "gnorm cuda", "rel", "w diff");
  for (int t = 0; t < STEPS && !rc && wg; t++) {
    arena_reset(&ar);
    pset_zero_grad(&m->ps);
    pset_zero_grad(&gp);
    tsm_loss lo;
    memset(&lo, 0, sizeof lo);
    if ((rc = tsm_train_step(m, &b, (float)(1.0 / R), &lo, &ar, e))) break;
    if ((rc = gpu->ops->to_device(gpu, gp.g, m->ps.g, bytes, e))) break;
    double gc = pset_grad_norm(&m->ps), gg = pset_grad_norm(&gp);
    if ((rc = pset_adamw(&m->ps, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, t + 1, e))) break;
    if ((rc = pset_adamw(&gp, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, t + 1, e))) break;
    if ((rc = gpu->ops->to_host(gpu, wg, gp.w, bytes, e))) break;
    double num = 0, den = 0;
    int nan = 0;
    for (int64_t i = 0; i < m->ps.total; i++) {
      double d = (double)wg[i] - m->ps.w[i];
      if (isnan(wg[i])) nan = 1;
      num += d * d;
      den += (double)m->ps.w[i] * m->ps.w[i];
    }
    double wd = nan ? INFINITY : sqrt(num / (den > 0 ? den : 1)), rg = rel(gc, gg);
    if (!(wd <= worst)) worst = wd;
    if (!(rg <= worst)) worst = rg;
    printf("%4d %12.8f %14.8f %14.8f %10.2e %12.2e\n", t + 1, lo.loss_sum / (double)(lo.tokens ? lo.tokens : 1), gc,
           gg, rg, wd);
  }
  arena_free(&ar);
  free(wg);
  sb_free(&s);
  pset_free(&gp);
  tsm_free(m);
  if (rc) return 1;
  int ok = worst <= TOL;
  printf("test_sft_parity: part A (optimizer path on CUDA with real SFT gradients): max difference %.2e "
         "(tolerance %.0e): %s\n", worst, TOL, ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

int main(void) {
  ts_err e = {0};
  char dir[512];
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny", TS_FIXTURES);
  /* TSASR_PARITY_SELFTEST=1 runs part A with the CPU backend on both sides (checks the test
   * itself on a machine without a GPU) */
  const char *st = getenv("TSASR_PARITY_SELFTEST");
  backend *gpu = st && atoi(st) ? be_cpu() : be_cuda(&e);
  if (!gpu) {
    fprintf(stderr, "test_sft_parity: no CUDA backend: %s\n", e.msg);
    return 2;
  }
  if (part_a(gpu, dir, &e)) {
    fprintf(stderr, "test_sft_parity: part A failed: %s\n", e.msg);
    return 1;
  }
  if (!getenv("TSASR_PARITY_FORCE")) {
    blockers();
    printf("test_sft_parity: part A PASS, part B SKIP\n");
    return 3;
  }
  run_out oc, og;
  memset(&oc, 0, sizeof oc);
  memset(&og, 0, sizeof og);
  if (run(be_cpu(), dir, &oc, &e)) {
    fprintf(stderr, "test_sft_parity: cpu run: %s\n", e.msg);
    return 1;
  }
  if (run(gpu, dir, &og, &e)) {
    fprintf(stderr, "test_sft_parity: cuda run: %s\n", e.msg);
    return 1;
  }
  double worst = 0;
  printf("%4s %14s %14s %10s %14s %14s %10s\n", "step", "loss cpu", "loss cuda", "rel", "gnorm cpu", "gnorm cuda",
         "rel");
  for (int t = 0; t < STEPS; t++) {
    double rl = rel(oc.loss[t], og.loss[t]), rg = rel(oc.gnorm[t], og.gnorm[t]);
    if (!(rl <= worst)) worst = rl;
    if (!(rg <= worst)) worst = rg;
    printf("%4d %14.8f %14.8f %10.2e %14.8f %14.8f %10.2e\n", t + 1, oc.loss[t], og.loss[t], rl, oc.gnorm[t],
           og.gnorm[t], rg);
  }
  int ok = worst <= TOL;
  printf("test_sft_parity: part B (whole train step on CUDA): max relative difference %.2e (tolerance %.0e): %s\n",
         worst, TOL, ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
