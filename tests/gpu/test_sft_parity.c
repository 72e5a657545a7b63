/* test_sft_parity.c — the composed model trained and decoded on a second backend against the
 * CPU backend, from the same weights and the same synthetic batches.
 *
 *   A  optimizer path: CPU SFT gradients fed to a parameter set on the device, whose grad
 *      norm and AdamW must track the CPU's;
 *   B  SFT: STEPS whole train steps (encoder, adapter, splice, LLM, loss, backward, AdamW) of
 *      the tiny fixture model and of its CTC variant (encoder CTC loss on the host) on each
 *      backend; per step the loss, token accuracy, CTC loss, grad norm and updated weights;
 *   C  GRPO-shaped steps: G sequences sharing one audio input (audio_of), sampling
 *      temperature, per-token log-probs out and per-token coefficients computed from them;
 *   D  decoding: greedy and sampled (G = 2) generation with the KV cache.
 *
 * TSASR_PARITY_DEVICE picks the second backend: "cuda" (default; run by tests/gpu/run.sh on a
 * GPU machine; relative tolerance TOL, tokens reported) or "devsim" (the simulated device,
 * run by ctest: memory the host cannot touch outside ops, the CPU's kernels, so every number
 * must be bitwise equal and no memory-kind violation may occur) or "cpu", or "cpu-ulp" (the CPU
 * starting every step one ulp off, judged as a GPU is: a backend that differs from the CPU by
 * rounding alone must pass; in ctest). TSASR_PARITY_TOL overrides the CUDA tolerance (for
 * TSASR_CUDA_GEMM=bf16/tf32 runs; above 1e-3 the decoding comparison is reported, not
 * required). TSASR_PARITY_CPU_GEMM=bf16-all runs the CPU kernels
 * (the reference, and devsim / cpu as the second backend) with every GEMM in bf16
 * (gemm_bf16_all): tests/gpu/bf16_spread.sh compares such a run with an f32 one.
 * B and C compare each step from the same start: before every step the device takes the CPU's
 * weights and AdamW moments of that step. Left to run free, the two drift apart by far more
 * than any kernel's error, and the drift would say nothing about the kernels: AdamW's first
 * step moves every weight by about +-lr whatever its gradient's size, so a gradient that is
 * zero but for rounding (the encoder's k projection bias: softmax ignores what is added to
 * every key alike) or near zero flips sign between backends and moves by 2 lr. On the CPU
 * alone, starting one ulp off changed the grad norm by up to 7e-3 by step 5 (the H200: 2e-4).
 * The optimizer over steps is part A's (the CPU's gradients, AdamW on the device).
 * TSASR_PARITY_REPEAT=1 has the device run B and C a second time, which must give the same bits as
 * its first run (every loss, grad norm, log-prob, and the weights after each step): training
 * reproducible on the device ("ulp": the second run starts one ulp off, the check's self-test).
 * Exit 0 pass, 1 mismatch or failure, 2 no such device, 77 no CPU bf16 GEMM for bf16-all. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "infer/generate.h"
#include "model/tsmodel.h"
#include "tensor/backend.h"
#include "tensor/be_mem.h"
#include "tensor/cuda_ctl.h"
#include "tensor/devsim.h"
#include "tensor/gemm.h"
#include "tensor/params.h"

#define STEPS 5
#define TOL 1e-4
#define GEN_MAX 12

#define SEED_SELF 7u /* cpu-ulp's one-ulp patterns (TSASR_PARITY_ULP_SEED overrides, for trials) */

static double g_tol = TOL;
static int g_exact;            /* devsim/cpu: everything bitwise */
static uint64_t g_dev_perturb; /* "cpu-ulp": the second backend starts one ulp off (SEED_SELF) */
static int g_fail;
static int g_repeat; /* TSASR_PARITY_REPEAT: 1, the device runs B and C twice and must give the same bits;
                        "ulp" (2), its second run starts one ulp off (must fail: the check's self-test) */

/* ---- synthetic batch: 2 noise inputs of two lengths, random token sequences ---- */
typedef struct sbatch {
  float *wav;
  int64_t L, len[2];
  int32_t *ids[4], n_ids[4], rs[4], re[4], audio_of[4];
  const char *ctc_text[2];
} sbatch;

static uint64_t lcg(uint64_t *x) { return *x = *x * 6364136223846793005ull + 1442695040888963407ull; }

static void sb_make(sbatch *s, const tsm *m, int nseq) {
  uint64_t x = 12345;
  s->L = 6400;
  s->len[0] = 6400;
  s->len[1] = 4800;
  s->wav = calloc((size_t)(2 * s->L), sizeof(float));
  for (int64_t i = 0; i < 2 * s->L; i++) {
    lcg(&x);
    if (i % s->L < s->len[i / s->L]) s->wav[i] = (float)((double)(x >> 40) / 16777216.0 - 0.5) * 0.2f;
  }
  int64_t V = m->lcfg.V;
  for (int b = 0; b < nseq; b++) {
    int n = 11 + 3 * b, p = 3 + b % 2;
    s->n_ids[b] = n;
    s->ids[b] = malloc(sizeof(int32_t) * (size_t)n);
    for (int j = 0; j < n; j++) {
      int32_t t = (int32_t)((lcg(&x) >> 33) % (uint64_t)(V > 200 ? 200 : V));
      if (t == m->audio_id) t = (t + 1) % (int32_t)V;
      s->ids[b][j] = t;
    }
    s->ids[b][p] = m->audio_id;
    s->rs[b] = p + 3;
    s->re[b] = n;
    s->audio_of[b] = b % 2;
  }
  s->ctc_text[0] = "bin blue at f two now";
  s->ctc_text[1] = "lay red by g";
}

static void sb_free(sbatch *s, int nseq) {
  free(s->wav);
  for (int b = 0; b < nseq; b++) free(s->ids[b]);
}

static void sb_batch(const sbatch *s, int nseq, int shared, tsm_batch *b) {
  memset(b, 0, sizeof *b);
  b->B = nseq;
  b->wav = s->wav;
  b->L = s->L;
  b->wav_len = s->len;
  b->ids = (const int32_t *const *)s->ids;
  b->n_ids = s->n_ids;
  b->resp_start = s->rs;
  b->resp_end = s->re;
  if (shared) {
    b->U = 2;
    b->audio_of = s->audio_of;
  }
}

static int64_t sb_tokens(const sbatch *s, int nseq) {
  int64_t R = 0;
  for (int b = 0; b < nseq; b++) R += s->re[b] - s->rs[b];
  return R;
}

/* ---- comparisons ---- */
static double rel(double a, double b) {
  if (a == b) return 0.0;
  return fabs(a - b) / (fabs(a) > 1e-12 ? fabs(a) : 1e-12);
}

/* records a comparison at tolerance tol (exact runs: bitwise); returns the relative difference */
static double check_tol(const char *what, double c, double g, double tol) {
  double r = rel(c, g);
  if (isnan(g) || isnan(c) || (g_exact ? c != g : !(r <= tol))) {
    printf("  MISMATCH %s: cpu %.9g, device %.9g (rel %.2e)\n", what, c, g, r);
    g_fail = 1;
  }
  return r;
}

static double check(const char *what, double c, double g) { return check_tol(what, c, g, g_tol); }

/* ||b - a|| / ||a|| over n values (infinite when b holds a NaN) */
static double vec_diff(const float *a, const float *b, int64_t n) {
  double num = 0, den = 0;
  int nan = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)b[i] - a[i];
    nan |= isnan(b[i]);
    num += d * d;
    den += (double)a[i] * a[i];
  }
  return nan ? INFINITY : sqrt(num / (den > 0 ? den : 1));
}

/* ||w_b - w_a|| / ||w_a|| over the weights of two parameter sets with the same layout */
static double weight_diff(const pset *a, const pset *b, ts_err *e) {
  float *ha = pset_host_begin(a, e), *hb = pset_host_begin(b, e);
  double d = ha && hb ? vec_diff(ha, hb, a->total) : INFINITY;
  pset_host_end(a, ha, 0, e);
  pset_host_end(b, hb, 0, e);
  if (g_exact && d != 0) return INFINITY;
  return d;
}

/* ---- part A: the optimizer on the device with CPU gradients ---- */
static int part_a(backend *dev, const char *dir, ts_err *e) {
  tsm *m = NULL;
  if (tsm_load(dir, be_cpu(), 1, 1, &m, e)) return 1;
  pset gp;
  pset_init(&gp, dev);
  int rc = 0;
  for (int i = 0; i < m->ps.n && !rc; i++) {
    const pview *v = &m->ps.v[i];
    int j = v->packed ? pset_add_packed(&gp, v->name, v->ndim, v->ne, v->decay, e)
                      : pset_add(&gp, v->name, v->ndim, v->ne, v->decay, e);
    if (j < 0) rc = 1;
    else gp.v[i].frozen = v->frozen;
  }
  if (!rc) rc = pset_alloc(&gp, 1, 1, e);
  size_t bytes = sizeof(float) * (size_t)m->ps.total;
  if (!rc) rc = be_upload(dev, gp.w, m->ps.w, bytes, "weights", e);
  sbatch s;
  sb_make(&s, m, 2);
  tsm_batch b;
  sb_batch(&s, 2, 0, &b);
  int64_t R = sb_tokens(&s, 2);
  arena ar;
  arena_init(&ar, 1 << 22);
  printf("A  optimizer path (CPU gradients, AdamW on the device)\n%4s %14s %14s %12s\n", "step", "gnorm cpu",
         "gnorm device", "w diff");
  for (int t = 0; t < STEPS && !rc; t++) {
    arena_reset(&ar);
    pset_zero_grad(&m->ps);
    pset_zero_grad(&gp);
    tsm_loss lo;
    if ((rc = tsm_train_step(m, &b, (float)(1.0 / R), &lo, &ar, e))) break;
    if ((rc = be_upload(dev, gp.g, m->ps.g, bytes, "gradients", e))) break;
    double gc = pset_grad_norm(&m->ps), gg = pset_grad_norm(&gp);
    if ((rc = pset_adamw(&m->ps, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, t + 1, e))) break;
    if ((rc = pset_adamw(&gp, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, t + 1, e))) break;
    double wd = weight_diff(&m->ps, &gp, e);
    check("grad norm", gc, gg);
    if (!(wd <= g_tol)) printf("  MISMATCH weights after step %d: %.2e\n", t + 1, wd), g_fail = 1;
    printf("%4d %14.8f %14.8f %12.2e\n", t + 1, gc, gg, wd);
  }
  arena_free(&ar);
  sb_free(&s, 2);
  pset_free(&gp);
  tsm_free(m);
  return rc;
}

/* ---- parts B and C: whole train steps on each backend ---- */
typedef struct coef_ctx {
  const float *old; /* (R) log-probs of the first step: the "behaviour policy" */
  float adv;
} coef_ctx;

/* GRPO-like per-token weights: -adv x min(exp(lp - old), 1.2) (old = lp at step 1) */
static int coef(void *user, int64_t R, const float *lp, float *w, ts_err *e) {
  (void)e;
  coef_ctx *c = user;
  for (int64_t q = 0; q < R; q++) {
    double r = c->old ? exp((double)lp[q] - c->old[q]) : 1.0;
    w[q] = (float)(-(c->adv + 0.1 * (q % 3)) * (r < 1.2 ? r : 1.2));
  }
  return TS_OK;
}

typedef struct run_out {
  double loss[STEPS], ctc[STEPS], gnorm[STEPS], correct[STEPS];
  double wdiff;           /* a follower: the largest weight difference from the leader after a step */
  uint64_t whash[STEPS];  /* a follower: its weights' bytes hashed after each step (the repeat check) */
  int64_t R;              /* the log-probs a step (part C; 0 for B) */
  float *logp;  /* (STEPS, R) part C */
  float *state; /* the leader: (STEPS + 1, 3, total) weights and AdamW moments before each step */
  tsm *m;
} run_out;

/* moves every weight one ulp up or down (a pseudo-random pattern from seed): as far apart as
 * f32 rounding puts two backends */
static int perturb_ulp(pset *ps, uint64_t seed, ts_err *e) {
  float *w = pset_host_begin(ps, e);
  if (!w) return 1;
  uint64_t x = seed;
  for (int64_t i = 0; i < ps->total; i++)
    if (isfinite(w[i]) && w[i] != 0.0f) w[i] = nextafterf(w[i], (lcg(&x) >> 63) ? INFINITY : -INFINITY);
  return pset_host_end(ps, w, 1, e);
}

/* copies the weights and moments of ps to (to_host) or from the host state st (3, total) */
static int state_xfer(pset *ps, float *st, int to_host, ts_err *e) {
  size_t bytes = sizeof(float) * (size_t)ps->total;
  float *dev[3] = {ps->w, ps->m, ps->s};
  for (int k = 0; k < 3; k++) {
    float *h = st + k * ps->total;
    int rc = to_host ? ps->be->ops->to_host(ps->be, h, dev[k], bytes, e)
                     : ps->be->ops->to_device(ps->be, dev[k], h, bytes, e);
    if (rc) return rc;
  }
  return 0;
}

/* STEPS train steps on be. The leader (lead NULL) records its weights and moments before each
 * step and after the last; a follower starts every step from the leader's state (moved by one
 * ulp in the pattern g_dev_perturb + t when that is set: the "cpu-ulp" self-test) and compares
 * its weights after the step with the leader's. */
static int run_steps(backend *be, const char *dir, int grpo, const run_out *lead, run_out *o, ts_err *e) {
  if (tsm_load(dir, be, 1, 1, &o->m, e)) return 1;
  tsm *m = o->m;
  int64_t n3 = 3 * m->ps.total;
  if (!lead && !(o->state = malloc(sizeof(float) * (size_t)((STEPS + 1) * n3))))
    return err_set(e, TS_ENOMEM, "out of memory for the training state");
  float *hw = lead ? malloc(sizeof(float) * (size_t)m->ps.total) : NULL;
  if (lead && !hw) return err_set(e, TS_ENOMEM, "out of memory for a weight copy");
  int nseq = grpo ? 4 : 2;
  sbatch s;
  sb_make(&s, m, nseq);
  tsm_batch b;
  sb_batch(&s, nseq, grpo, &b);
  int64_t R = sb_tokens(&s, nseq);
  if (m->ctc) {
    b.ctc_scale = 0.3f;
    b.ctc_text = s.ctc_text;
  }
  coef_ctx cc = {NULL, 0.7f};
  o->logp = calloc((size_t)(STEPS * R), sizeof(float));
  o->R = grpo ? R : 0;
  if (grpo) {
    b.temperature = 0.7f;
    b.coef_fn = coef;
    b.coef_user = &cc;
  }
  arena ar;
  int rc = be_arena_init(&ar, be, 1 << 22, e);
  for (int t = 0; t < STEPS && !rc; t++) {
    if (!lead) rc = state_xfer(&m->ps, o->state + t * n3, 1, e);
    else if (!(rc = state_xfer(&m->ps, lead->state + t * n3, 0, e)) && g_dev_perturb)
      rc = perturb_ulp(&m->ps, g_dev_perturb + (uint64_t)t, e);
    if (rc) break;
    arena_reset(&ar);
    pset_zero_grad(&m->ps);
    tsm_loss lo;
    if (grpo) b.logp_out = o->logp + t * R;
    if ((rc = tsm_train_step(m, &b, (float)(1.0 / R), &lo, &ar, e))) break;
    if ((rc = be->ops->sync(be, e))) break;
    if (grpo && t == 0) cc.old = o->logp;
    o->loss[t] = lo.loss_sum / (double)(lo.tokens ? lo.tokens : 1);
    o->correct[t] = (double)lo.correct;
    o->ctc[t] = lo.ctc_n ? lo.ctc_sum / (double)lo.ctc_n : 0.0;
    o->gnorm[t] = pset_grad_norm(&m->ps);
    if ((rc = pset_adamw(&m->ps, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, t + 1, e))) break;
    if ((rc = be->ops->sync(be, e))) break;
    if (lead) { /* this step's weights against the leader's */
      if ((rc = be->ops->to_host(be, hw, m->ps.w, sizeof(float) * (size_t)m->ps.total, e))) break;
      double wd = vec_diff(lead->state + (t + 1) * n3, hw, m->ps.total);
      uint64_t h = 1469598103934665603ull; /* FNV-1a over the weights' bytes */
      const unsigned char *hb = (const unsigned char *)hw;
      for (size_t i = 0; i < sizeof(float) * (size_t)m->ps.total; i++) h = (h ^ hb[i]) * 1099511628211ull;
      o->whash[t] = h;
      if (!isnan(o->wdiff) && !(wd <= o->wdiff)) o->wdiff = wd; /* the largest; a NaN sticks */
    }
  }
  if (!rc && !lead) rc = state_xfer(&m->ps, o->state + STEPS * n3, 1, e);
  arena_free(&ar);
  sb_free(&s, nseq);
  free(hw);
  return rc;
}

/* the device's second run (TSASR_PARITY_REPEAT) against its first: every loss, accuracy, CTC
 * loss, grad norm, log-prob and the weights after each step the same bits */
static void repeat_check(const run_out *a, const run_out *b) {
  const char *what = NULL;
  int t = 0;
  for (; t < STEPS && !what; t++)
    what = memcmp(&a->loss[t], &b->loss[t], sizeof(double))        ? "loss"
           : memcmp(&a->correct[t], &b->correct[t], sizeof(double)) ? "token accuracy"
           : memcmp(&a->ctc[t], &b->ctc[t], sizeof(double))         ? "CTC loss"
           : memcmp(&a->gnorm[t], &b->gnorm[t], sizeof(double))     ? "grad norm"
           : a->whash[t] != b->whash[t]                             ? "weights"
           : a->R != b->R || (a->R && memcmp(a->logp + t * a->R, b->logp + t * a->R, sizeof(float) * (size_t)a->R))
               ? "log-probs"
               : NULL;
  if (!what)
    printf("     repeat: the device's second run equal bit for bit (losses, grad norms, log-probs, weights)\n");
  else
    printf("  MISMATCH repeat: the device's second run differs in bits, first in the %s at step %d (grad norm "
           "%.17g vs %.17g)\n", what, t, a->gnorm[t - 1], b->gnorm[t - 1]),
        g_fail = 1;
}

static int part_bc(backend *dev, const char *dir, const char *name, int grpo, ts_err *e) {
  run_out oc, od, o2;
  memset(&oc, 0, sizeof oc);
  memset(&od, 0, sizeof od);
  memset(&o2, 0, sizeof o2);
  int rc = run_steps(be_cpu(), dir, grpo, NULL, &oc, e);
  if (!rc) rc = run_steps(dev, dir, grpo, &oc, &od, e);
  if (!rc && g_repeat) {
    uint64_t keep = g_dev_perturb;
    if (g_repeat == 2) g_dev_perturb = SEED_SELF + 100; /* the self-test: the second run one ulp off */
    rc = run_steps(dev, dir, grpo, &oc, &o2, e);
    g_dev_perturb = keep;
  }
  if (!rc) {
    printf("%s  %s\n%4s %13s %13s %9s %9s %13s %13s %9s %7s\n", grpo ? "C" : "B", name, "step", "loss cpu",
           "loss device", "rel", "ctc rel", "gnorm cpu", "gnorm device", "rel", "acc");
    for (int t = 0; t < STEPS; t++) {
      double rl = check("loss", oc.loss[t], od.loss[t]), rc2 = check("ctc", oc.ctc[t], od.ctc[t]);
      double rg = check("grad norm", oc.gnorm[t], od.gnorm[t]);
      if (g_exact) check("token accuracy", oc.correct[t], od.correct[t]);
      printf("%4d %13.8f %13.8f %9.2e %9.2e %13.8f %13.8f %9.2e %3.0f/%-3.0f\n", t + 1, oc.loss[t], od.loss[t], rl,
             rc2, oc.gnorm[t], od.gnorm[t], rg, oc.correct[t], od.correct[t]);
    }
    if (grpo) {
      double worst = 0;
      int64_t R = 0;
      for (int b = 0; b < 4; b++) R += 11 + 3 * b - (3 + b % 2 + 3);
      for (int64_t q = 0; q < STEPS * R; q++) {
        double r = check("token log-prob", oc.logp[q], od.logp[q]);
        if (r > worst) worst = r;
      }
      printf("     per-token log-probs: %lld compared, max rel %.2e\n", (long long)(STEPS * R), worst);
    }
    if (!(g_exact ? od.wdiff == 0 : od.wdiff <= g_tol)) g_fail = 1;
    printf("     weights after each step: max ||w_dev - w_cpu|| / ||w_cpu|| = %.2e\n", od.wdiff);
    if (g_repeat) repeat_check(&od, &o2);
  }
  free(oc.logp), free(od.logp), free(o2.logp), free(oc.state);
  if (oc.m) tsm_free(oc.m);
  if (od.m) tsm_free(od.m);
  if (o2.m) tsm_free(o2.m);
  return rc;
}

/* ---- part D: generation ---- */
static int gen_run(backend *be, const char *dir, float temp, int G, int top_k, float top_p, gen_output *outs,
                   ts_err *e) {
  tsm *m = NULL;
  if (tsm_load(dir, be, 0, 0, &m, e)) return 1;
  sbatch s;
  sb_make(&s, m, 2);
  int32_t *ids = NULL, n = 0;
  int rc = tsm_prompt_ids(m, &ids, &n, e);
  const int32_t *pids[2] = {ids, ids};
  int32_t nids[2] = {n, n};
  gen_input in = {2, s.wav, s.L, s.len, pids, nids, NULL};
  gen_cfg c;
  memset(&c, 0, sizeof c);
  c.samp.temperature = temp;
  c.samp.top_p = top_p;
  c.samp.top_k = top_k;
  c.max_new = GEN_MAX;
  c.min_new = GEN_MAX; /* a random model would stop at once otherwise */
  c.G = G;
  c.seed = 7;
  arena ar;
  if (!rc) rc = be_arena_init(&ar, be, 1 << 22, e);
  if (!rc) rc = tsm_generate(m, &in, &c, outs, &ar, e);
  arena_free(&ar);
  free(ids);
  sb_free(&s, 2);
  tsm_free(m);
  return rc;
}

static int part_d(backend *dev, const char *dir, ts_err *e) {
  printf("D  generation (%d new tokens, 2 inputs)\n", GEN_MAX);
  static const char *const what[3] = {"greedy ", "sampled", "top-k 20, top-p 0.9"};
  for (int k = 0; k < 3; k++) {
    float temp = k ? 1.0f : 0.0f, top_p = k == 2 ? 0.9f : 1.0f;
    int G = k ? 2 : 1, top_k = k == 2 ? 20 : 0;
    gen_output oc[4], od[4];
    memset(oc, 0, sizeof oc);
    memset(od, 0, sizeof od);
    int rc = gen_run(be_cpu(), dir, temp, G, top_k, top_p, oc, e);
    if (!rc) rc = gen_run(dev, dir, temp, G, top_k, top_p, od, e);
    if (rc) return rc;
    int same = 0, total = 0;
    double worst = 0;
    for (int r = 0; r < 2 * G; r++) {
      for (int j = 0; j < oc[r].n && j < od[r].n; j++) {
        total++;
        if (oc[r].tok[j] != od[r].tok[j]) break; /* later tokens follow different prefixes */
        same++;
        double d = rel(oc[r].logp[j], od[r].logp[j]);
        if (d > worst) worst = d;
      }
      if (oc[r].n != od[r].n) total += oc[r].n > od[r].n ? oc[r].n - od[r].n : od[r].n - oc[r].n;
    }
    int ok = g_exact ? same == total && worst == 0 : same >= 2 * G && worst <= (g_tol > 1e-3 ? g_tol : 1e-3);
    /* on a GPU, summation order may flip a near-tie; the first token of every output must agree
     * (with reduced-precision GEMMs the comparison, at their tolerance, is only reported) */
    if (!ok && g_tol <= 1e-3) g_fail = 1;
    printf("   %s G=%d: %d of %d tokens agree before the first difference, log-prob max rel %.2e: %s\n",
           what[k], G, same, total, worst, ok ? "ok" : "MISMATCH");
    for (int r = 0; r < 2 * G; r++) gen_output_free(&oc[r]), gen_output_free(&od[r]);
  }
  return 0;
}

int main(void) {
  ts_err e = {0};
  char dir[512], dir_ctc[512];
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny", TS_FIXTURES);
  snprintf(dir_ctc, sizeof dir_ctc, "%s/tsmodel/tiny_ctc", TS_FIXTURES);
  const char *cg = getenv("TSASR_PARITY_CPU_GEMM");
  if (cg && *cg) {
    if (strcmp(cg, "bf16-all")) {
      fprintf(stderr, "test_sft_parity: TSASR_PARITY_CPU_GEMM=%s: only bf16-all is known\n", cg);
      return 1;
    }
    if (gemm_set_precision("bf16") != TS_OK) {
      printf("test_sft_parity: no bf16 GEMM on this CPU build (tsasr doctor says why): skipped\n");
      return 77;
    }
    gemm_bf16_all(1);
    printf("test_sft_parity: the CPU kernels run every GEMM in bf16\n");
  }
  const char *dn = getenv("TSASR_PARITY_DEVICE") ? getenv("TSASR_PARITY_DEVICE") : "cuda";
  int self_ulp = !strcmp(dn, "cpu-ulp");
  backend *dev = !strcmp(dn, "devsim") ? be_devsim() : !strcmp(dn, "cpu") || self_ulp ? be_cpu() : be_cuda(&e);
  if (!dev) {
    fprintf(stderr, "test_sft_parity: no %s backend: %s\n", dn, e.msg);
    return 2;
  }
  g_exact = dev->device != DEV_CUDA && !self_ulp;
  const char *us = getenv("TSASR_PARITY_ULP_SEED"), *rp = getenv("TSASR_PARITY_REPEAT");
  g_repeat = rp && !strcmp(rp, "ulp") ? 2 : rp && !strcmp(rp, "1") ? 1 : 0;
  if (rp && *rp && strcmp(rp, "0") && !g_repeat) {
    fprintf(stderr, "test_sft_parity: TSASR_PARITY_REPEAT=%s: 1, ulp or 0\n", rp);
    return 1;
  }
  if (g_repeat) printf("test_sft_parity: the device runs B and C twice: the second run must equal the first bit for bit%s\n",
                       g_repeat == 2 ? " (its self-test: the second starts one ulp off, and must fail)" : "");
  if (self_ulp) g_dev_perturb = us ? strtoull(us, NULL, 10) : SEED_SELF;
  if (g_exact) g_tol = 0.0;
  else if (getenv("TSASR_PARITY_TOL")) g_tol = atof(getenv("TSASR_PARITY_TOL"));
  if (!g_exact)
    printf("test_sft_parity: cpu vs %s (GEMM %s, relative tolerance %.0e; every step from the CPU's state; "
           "decoding: first tokens)\n",
           self_ulp ? "cpu one ulp off" : "cuda", self_ulp ? "cpu" : cuda_gemm_name(), g_tol);
  else
    printf("test_sft_parity: cpu vs %s (bitwise)\n", dev->ops->name);
  int rc = part_a(dev, dir, &e);
  if (!rc) rc = part_bc(dev, dir, "SFT, tiny model", 0, &e);
  if (!rc) rc = part_bc(dev, dir_ctc, "SFT, tiny model with the encoder CTC head", 0, &e);
  if (!rc) rc = part_bc(dev, dir, "GRPO-shaped: 4 sequences on 2 shared inputs, temperature 0.7, coefficients", 1, &e);
  if (!rc) rc = part_d(dev, dir, &e);
  if (rc) {
    fprintf(stderr, "test_sft_parity: failed: %s\n", e.msg);
    return 1;
  }
  const char *gs = getenv("TSASR_CUDA_GRAPHS");
  if (dev->device == DEV_CUDA && !(gs && !strcmp(gs, "0"))) { /* on (the default): they must have run */
    long n = cuda_graph_launches(), r = cuda_graph_replays();
    printf("cuda graphs: %ld decoding steps launched as graphs, %ld of them replays\n", n, r);
    if (n <= 0) printf("  MISMATCH: graphs are on but no step ran as a graph (see the log's warnings)\n"), g_fail = 1;
    /* a captured step's rows repeat in the next steps until a sequence stops: they replay */
    if (r <= 0) printf("  MISMATCH: graphs are on but no step was replayed\n"), g_fail = 1;
  }
  if (dev->device == DEV_SIM) {
    const char *last;
    long v = devsim_violations(&last);
    if (v) printf("devsim: %ld memory-kind violations, the last: %s\n", v, last), g_fail = 1;
  }
  long lt_n, lt_fb; /* with TSASR_CUDA_LT=1: how many GEMMs cuBLASLt ran (run.sh wants some) */
  cuda_lt_counts(&lt_n, &lt_fb);
  if (lt_n || lt_fb) printf("cuBLASLt: %ld GEMMs, %ld on cuBLAS instead\n", lt_n, lt_fb);
  cuda_cudnn_counts(&lt_n, &lt_fb); /* the convolutions cuDNN ran (on by default where built) */
  if (lt_n || lt_fb) printf("cuDNN: %ld convolutions, %ld by im2col instead\n", lt_n, lt_fb);
  cuda_sdpa_counts(&lt_n, &lt_fb); /* attention on cuDNN's fused SDPA (TSASR_CUDA_SDPA=1) */
  if (lt_n || lt_fb) printf("cuDNN SDPA: %ld attention calls, %ld shapes it refused\n", lt_n, lt_fb);
  printf("test_sft_parity: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail ? 1 : 0;
}
