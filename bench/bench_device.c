/* bench_device.c — whole-model throughput on one backend (cpu, cuda or devsim): SFT train
 * steps (forward + backward + AdamW) on a batch of B inputs of S seconds with R response
 * tokens, reported as LLM tokens/s, audio seconds/s, model TFLOP/s and MFU against a stated
 * peak; then GRPO-style rollouts (G samples of exactly NEW tokens sharing one encoder pass and
 * prefill) as generated tokens/s; with --grpo-steps, GRPO's update on G completions of R2 (default
 * 150) down to R2 / 2 tokens of one input, laid out apart and with the prompt's rows once (the time ratio). Random
 * weights.
 *
 *   bench_device [--device D] [--geometry paper|small] [--batch B] [--seconds S] [--resp R]
 *                [--steps N] [--G G] [--new NEW] [--peak TFLOPS] [--gemm f32,tf32,bf16]
 *                [--sft-variants V,V,...] [--rollout-variants V,V,...] [--grpo-steps N] [--grpo-resp R2]
 *                [--profile-range 1] [--accum A] [--bw TBPS]
 * (--steps 0: rollouts only). A timed SFT step is the gradients' zero fill, the forward and
 * backward, and AdamW (since session 21 the zero fill is inside the timing, as in a trainer's
 * step: ~1 ms on an H100 at the paper geometry; earlier sessions' numbers lack it). --accum A
 * (default 1) makes it a trainer's step at a global batch of A x B: A micro-batches' forwards
 * and backwards, then the gradient norm, the clip's scaling and AdamW once, as src/train/sft.c
 * does (which takes the norm at A = 1 too; the bench does not there, as before); the paper's
 * global batch of 112 is --batch 4 --accum 28. Tokens/s and MFU then count all A micro-batches.
 * With variants (--device cuda), the SFT steps / rollouts run once per variant in the same
 * process, each after a line "== variant V": V names the CUDA switches on top of the backend's
 * defaults (bench_device/switches.h), '+'-joined (one model build for an A/B of the switches).
 * The defaults include the encoder's channels-last layout: a variant sets TSASR_ENC_CL itself (1,
 * or 0 for "ct"), whatever the caller's environment said.
 *
 * paper: data2vec-audio large + k=5 MLP adapter + Qwen2.5-0.5B (vocabulary 151,936). small:
 * the shipped small model's shapes with the waveform front end, for a CPU smoke run. Both use
 * models/small's tokenizer (the prompt only; shapes come from the config).
 * FLOPs are counted analytically (matmuls, convolutions and attention scores; training = 3x
 * forward; the LM head only on response rows). --peak is the device's dense peak in TFLOP/s
 * used for MFU (default 989 = H100 SXM bf16 dense; the engine computes in f32 today, so MFU
 * against the f32 peak of ~67 TFLOP/s is also printed). --gemm repeats the measurements for each
 * listed GEMM precision (docs/precision.md: tensor-core math on cuda, oneDNN on the CPU; f32
 * storage). With TSASR_PROFILE=1 the op profile (tensor/ops_prof.h) is printed per phase: the SFT
 * steps, then the rollout. --profile-range 1 (cuda) brackets the last SFT step and the last rollout
 * with cuda_profile_range, for a kernel profiler started with its collection off (tests/gpu/kprof.sh).
 * --device devsim counts the last SFT step's traffic (tensor/devsim_traffic.h) and prints the step's
 * lower bound on a device of --bw TB/s (default 3.35, an H100 SXM's HBM3) and --peak TFLOP/s, and the
 * MFU that bound allows: what the op sequence itself leaves reachable, before any kernel's cost. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/philox.h"
#include "infer/generate.h"
#include "model/tsmodel.h"
#include "bench_device/optim.h"
#include "bench_device/switches.h"
#include "bench_device/traffic.h"
#include "paper_geometry.h"
#include "tensor/be_mem.h"
#include "tensor/cuda_ctl.h"
#include "tensor/devsim.h"
#include "tensor/devsim_traffic.h"
#include "tensor/ops_prof.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static const char *small_json =
    "{\"encoder\": {\"model_type\": \"data2vec-audio\", \"hidden_size\": 192, \"num_hidden_layers\": 4,"
    " \"num_attention_heads\": 4, \"intermediate_size\": 768, \"hidden_act\": \"gelu\","
    " \"conv_dim\": [128, 128, 128, 128, 128, 128, 128], \"conv_kernel\": [10, 3, 3, 3, 3, 2, 2],"
    " \"conv_stride\": [5, 2, 2, 2, 2, 2, 2], \"conv_bias\": true, \"feat_extract_activation\": \"gelu\","
    " \"num_conv_pos_embeddings\": 3, \"conv_pos_kernel_size\": 19, \"num_conv_pos_embedding_groups\": 16,"
    " \"layer_norm_eps\": 1e-5, \"do_normalize\": true},"
    " \"adapter\": {\"kind\": \"mlp\", \"downsample\": 2, \"input_size\": 192, \"hidden_size\": 256,"
    " \"output_size\": 256},"
    " \"llm\": {\"model_type\": \"qwen2\", \"vocab_size\": 608, \"hidden_size\": 256, \"num_hidden_layers\": 4,"
    " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"intermediate_size\": 768, \"rms_norm_eps\": 1e-6,"
    " \"rope_theta\": 1000000.0, \"tie_word_embeddings\": true}}";

/* forward FLOPs of one input: conv stack, encoder blocks, adapter, LLM over Tl tokens, head
 * over Rh rows */
static double fwd_flops(const tsm *m, int64_t L, int64_t Tl, int64_t Rh) {
  const enc_cfg *c = &m->ecfg;
  double f = 0;
  int64_t T = L, Cin = 1;
  for (int i = 0; i < c->n_conv; i++) {
    T = (T - c->conv_kernel[i]) / c->conv_stride[i] + 1;
    f += 2.0 * (double)c->conv_dim[i] * Cin * c->conv_kernel[i] * T;
    Cin = c->conv_dim[i];
  }
  int64_t Te = T, C = c->C;
  f += 2.0 * Te * Cin * C;                                                   /* feature projection */
  f += c->pos_layers * 2.0 * Te * C * (C / (c->pos_groups ? c->pos_groups : 1)) * c->pos_kernel;
  f += (double)(c->L + c->L_prenet) * (2.0 * Te * (4.0 * C * C + 2.0 * C * c->F) + 4.0 * Te * Te * C);
  const adapter_cfg *a = &m->acfg;
  int64_t Ta = Te / a->k;
  f += 2.0 * Ta * (double)a->k * a->Cin * (a->kind == ADAPTER_MLP ? a->H : a->Cout);
  if (a->kind == ADAPTER_MLP) f += 2.0 * Ta * a->H * a->Cout;
  const qwen2_cfg *q = &m->lcfg;
  double qkvo = 2.0 * q->C * q->Hq * q->D + 2.0 * q->C * q->Hkv * q->D;
  f += q->L * (2.0 * Tl * (qkvo + 3.0 * q->C * q->F) + 2.0 * Tl * Tl * q->Hq * q->D); /* causal: half of 4T^2 */
  f += 2.0 * Rh * q->C * q->V;
  return f;
}

/* what the SFT and rollout measurements share */
typedef struct bench_ctx {
  tsm *m;
  backend *be;
  const tsm_batch *bt;
  arena *ar;
  float *wav;
  int64_t L;
  int64_t *len;
  int B, R, steps, G, NEW;
  double secs, peak;
  int prange; /* --profile-range 1: the last SFT step and the last rollout inside cuda_profile_range */
  int accum;  /* --accum: micro-batches per optimizer step */
  double bw;  /* --bw: the device's memory bandwidth in TB/s, for devsim's traffic bound */
} bench_ctx;

/* the profiler's range on (1) or off (0): a message and 1 when the backend has none */
static int bench_range(int on) {
  int rc = cuda_profile_range(on);
  if (rc)
    fprintf(stderr, "bench_device: --profile-range: %s\n",
            rc == TS_EUNSUP ? "needs --device cuda" : "the CUDA runtime refused (the warning above says why)");
  return rc != 0;
}

/* one optimizer step at a global batch of A micro-batches (the batch A times): their forwards
 * and backwards, then (A > 1) the trainer's gradient norm and clip at 1, and AdamW */
static int bench_sft_step(bench_ctx *c, int64_t step, tsm_loss *lo, ts_err *e) {
  tsm *m = c->m;
  int A = c->accum;
  pset_zero_grad(&m->ps);
  for (int a = 0; a < A; a++) {
    arena_reset(c->ar);
    if (tsm_train_step(m, c->bt, 1.0f / (float)(c->B * c->R * A), lo, c->ar, e)) return 1;
  }
  if (A > 1) {
    double gn = pset_grad_norm(&m->ps);
    if (!isfinite(gn)) return err_set(e, TS_EINTERNAL, "gradient norm %g", gn), 1;
    if (gn > 1.0) pset_scale_grad(&m->ps, (float)(1.0 / gn));
  }
  return pset_adamw(&m->ps, 1e-5f, 0.9f, 0.999f, 1e-8f, 0.0f, step, e) || c->be->ops->sync(c->be, e);
}

/* SFT steps: step 0 warms up (allocations, cuBLAS heuristics), the best of the rest counts */
static int bench_sft(bench_ctx *c, const char *mode) {
  ts_err e = {0};
  tsm *m = c->m;
  double best = 1e30, tl = 0;
  int64_t Tl = 0;
  for (int s = 0; s <= c->steps; s++) {
    tsm_loss lo;
    c->be->ops->sync(c->be, &e);
    int pr = c->prange && s == c->steps;
    if (pr && bench_range(1)) return 1;
    int count = c->be->device == DEV_SIM && s == c->steps; /* devsim: the last step's traffic */
    if (count) devsim_traffic_on(1);
    double t0 = now_s();
    if (bench_sft_step(c, s + 1, &lo, &e)) {
      fprintf(stderr, "bench_device: train step: %s\n", e.msg);
      return 1;
    }
    double dt = now_s() - t0;
    if (count) devsim_traffic_on(0);
    if (pr && bench_range(0)) return 1;
    if (!s && ops_prof_on()) ops_prof_reset(); /* the warm-up's one-time costs stay out of the table */
    tl = lo.loss_sum / (double)(lo.tokens ? lo.tokens : 1);
    if (s && dt < best) best = dt;
    if (!Tl) Tl = 59 + (int64_t)(enc_frames(&m->ecfg, c->L) / m->acfg.k) + c->R;
  }
  const int64_t n = (int64_t)c->B * c->accum; /* inputs a step takes */
  double fl = 3.0 * (double)n * fwd_flops(m, c->L, Tl, c->R), tf = fl / best / 1e12;
  char acc[96] = "";
  if (c->accum > 1)
    snprintf(acc, sizeof acc, ", accumulated over %d micro-batches (global batch %lld, one AdamW)", c->accum,
             (long long)n);
  printf("sft_step batch %d x %.0f s%s, %lld LLM tokens each: %.3f s (best of %d), loss %.3f, arena peak %.0f MiB\n",
         c->B, c->secs, acc, (long long)Tl, best, c->steps, tl, c->ar->peak / 1048576.0);
  printf("sft_tokens_per_s %.0f  audio_s_per_s %.1f  model %.1f TFLOP/s  MFU %.1f%% of %.0f TFLOP/s  (%.1f%% of "
         "67 f32)\n",
         n * Tl / best, n * c->secs / best, tf, 100.0 * tf / c->peak, c->peak, 100.0 * tf / 67.0);
  if (c->be->device == DEV_SIM) bdtr_print(c->B, c->accum, c->m->ps.total, fl, c->bw, c->peak);
  if (!ops_prof_on()) bdopt_print(&m->ps, c->steps + 1);
  if (ops_prof_on()) { /* TSASR_PROFILE: one table per phase */
    printf("\n== phase: SFT, %d step(s) after the warm-up, GEMM %s", c->steps, mode);
    fflush(stdout);
    ops_prof_report(stdout), ops_prof_reset();
  }
  return 0;
}

/* rollouts: one input, G samples of exactly NEW tokens */
static int bench_rollout(bench_ctx *c, const char *mode) {
  ts_err e = {0};
  tsm *m = c->m;
  int32_t *pid = NULL, np = 0;
  if (tsm_prompt_ids(m, &pid, &np, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
  const int32_t *pp[1] = {pid};
  gen_input in = {1, c->wav, c->L, c->len, pp, &np, NULL};
  gen_cfg gc;
  memset(&gc, 0, sizeof gc);
  gc.samp.temperature = 1.0f;
  gc.samp.top_p = 1.0f;
  gc.max_new = c->NEW, gc.min_new = c->NEW, gc.G = c->G, gc.seed = 3;
  gc.guard.min_span = 1 << 30; /* random weights repeat themselves: keep every sample to NEW tokens */
  gen_output *outs = calloc((size_t)c->G, sizeof *outs);
  /* a short rollout first, untimed: the first one in a process (or after a switch) pays for
   * plans, caches and buffers growing, which made the first variant of a row look ~20 % slower
   * on the H200; then the best of two */
  double best = 1e30, dts[2] = {0, 0};
  int64_t n = 0;
  for (int rep = -1; rep < 2; rep++) {
    gc.max_new = gc.min_new = rep < 0 ? (c->NEW < 32 ? c->NEW : 32) : c->NEW;
    arena_reset(c->ar);
    if (ops_prof_on()) ops_prof_reset(); /* the rollout's table holds the last rollout alone */
    int pr = c->prange && rep == 1;
    if (pr && bench_range(1)) return 1;
    double t0 = now_s();
    if (tsm_generate(m, &in, &gc, outs, c->ar, &e)) return fprintf(stderr, "bench_device: generate: %s\n", e.msg), 1;
    double dt = now_s() - t0;
    if (pr && bench_range(0)) return 1;
    int64_t nr = 0;
    for (int g = 0; g < c->G; g++) nr += outs[g].n, gen_output_free(&outs[g]);
    if (rep < 0) continue;
    dts[rep] = dt;
    if (dt < best) best = dt, n = nr;
  }
  printf("rollout G=%d x %d new tokens (one %.0f s input, shared encoder pass and prefill): %.2f s, %.0f tokens/s "
         "(best of 2 after a warm-up: %.2f, %.2f s)\n",
         c->G, c->NEW, c->secs, best, n / best, dts[0], dts[1]);
  free(outs), free(pid);
  if (ops_prof_on()) {
    printf("\n== phase: rollout G=%d x %d new tokens, GEMM %s", c->G, c->NEW, mode);
    ops_prof_report(stdout), ops_prof_reset();
  }
  return 0;
}

/* GRPO's update: G completions of R2 down to R2 / 2 tokens of one input in one micro-batch, laid out apart
 * (every sequence with its prompt) and with the prompt's rows once (pack), steps
 * alternating between the two; the best of `grpo` steps each after a warm-up of each */
static int bench_grpo(bench_ctx *c, int grpo, int gr) {
  ts_err e = {0};
  tsm *m = c->m;
  int G = c->G;
  int32_t **ids = malloc(sizeof(int32_t *) * (size_t)G), *n = malloc(sizeof(int32_t) * (size_t)G * 4);
  int32_t *rs = n + G, *re = n + 2 * G, *of = n + 3 * G;
  int32_t vmax = (int32_t)(m->lcfg.V < 150000 ? m->lcfg.V - 8 : 150000);
  philox_rng r;
  philox_init(&r, 11, 0);
  int64_t rows = 0; /* the completions' rows: gr down to about gr / 2, as sampled lengths vary */
  for (int g = 0; g < G; g++) { /* the batch's first prompt, then random ids */
    rs[g] = c->bt->resp_start[0], n[g] = re[g] = rs[g] + gr - g * gr / (2 * G), of[g] = 0;
    rows += n[g] - rs[g];
    ids[g] = malloc(sizeof(int32_t) * (size_t)n[g]);
    memcpy(ids[g], c->bt->ids[0], sizeof(int32_t) * (size_t)rs[g]);
    for (int j = rs[g]; j < n[g]; j++) {
      ids[g][j] = (int32_t)philox_below(&r, (uint64_t)vmax);
      ids[g][j] += ids[g][j] == m->audio_id;
    }
  }
  tsm_batch b;
  memset(&b, 0, sizeof b);
  b.B = G, b.wav = c->wav, b.L = c->L, b.wav_len = c->len, b.U = 1, b.audio_of = of;
  b.ids = (const int32_t *const *)ids, b.n_ids = n, b.resp_start = rs, b.resp_end = re;
  double best[2] = {1e30, 1e30}, loss[2] = {0, 0};
  for (int s = 0; s <= grpo; s++)
    for (int sh = 0; sh < 2; sh++) {
      b.pack = sh;
      arena_reset(c->ar);
      pset_zero_grad(&m->ps);
      tsm_loss lo;
      c->be->ops->sync(c->be, &e);
      double t0 = now_s();
      if (tsm_train_step(m, &b, 1.0f / (float)rows, &lo, c->ar, &e) || c->be->ops->sync(c->be, &e)) {
        fprintf(stderr, "bench_device: grpo update: %s\n", e.msg);
        return 1;
      }
      double dt = now_s() - t0;
      if (s && dt < best[sh]) best[sh] = dt;
      if (!s) loss[sh] = lo.loss_sum;
    }
  int64_t Tp = c->bt->resp_start[0] - 1 + enc_frames(&m->ecfg, c->L) / m->acfg.k;
  printf("grpo_update G=%d x %d-%d response tokens (one %.0f s input, prompt %lld rows): apart %.3f s, prompt once "
         "%.3f s (ratio %.2f; LLM rows %lld -> %lld; best of %d)\n",
         G, n[G - 1] - rs[G - 1], gr, c->secs, (long long)Tp, best[0], best[1], best[1] / best[0],
         (long long)(G * (Tp + gr)), (long long)(Tp + rows), grpo);
  /* the two layouts compute the same (the first step of each, on the same weights) */
  double rel = fabs(loss[1] - loss[0]) / fmax(fabs(loss[0]), 1e-30);
  printf("grpo_update loss apart %.6g, prompt once %.6g: relative difference %.1e%s\n", loss[0], loss[1], rel,
         rel > 1e-3 ? " (MISMATCH)" : "");
  for (int g = 0; g < G; g++) free(ids[g]);
  free(ids), free(n);
  return 0;
}

/* run once as configured (vars NULL), or once per comma-separated variant, each announced by a
 * line "== variant NAME" (the switches as the variant names them, in one process: one model
 * build for an A/B of the switches) */
static int bench_variants(bench_ctx *c, const char *vars, const char *mode, int (*run)(bench_ctx *, const char *)) {
  if (!vars) return run(c, mode);
  char list[512];
  if (snprintf(list, sizeof list, "%s", vars) >= (int)sizeof list) {
    fprintf(stderr, "bench_device: the variant list is longer than %zu characters\n", sizeof list - 1);
    return 2;
  }
  int rc = 0;
  for (char *save = NULL, *v = strtok_r(list, ",", &save); v && !rc; v = strtok_r(NULL, ",", &save)) {
    if (bdsw_apply(v)) {
      fprintf(stderr, "bench_device: variant %s: unknown, or the backend has no such switches (--device cuda)\n", v);
      return 2;
    }
    printf("== variant %s\n", v);
    fflush(stdout);
    bdsw_counts before;
    bdsw_snapshot(&before);
    rc = run(c, mode);
    bdsw_report(v, &before);
  }
  bdsw_apply("default");
  return rc;
}

int main(int argc, char **argv) {
  const char *dev = "cpu", *geo = "paper", *gemms = "f32", *sft_vars = NULL, *roll_vars = NULL;
  int B = 4, R = 40, steps = 3, G = 8, NEW = 512, grpo = 0, gr = 150, prange = 0, accum = 1;
  double secs = 20, peak = 989.0, bw = 3.35;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--device")) dev = v;
    else if (!strcmp(k, "--geometry")) geo = v;
    else if (!strcmp(k, "--batch")) B = atoi(v);
    else if (!strcmp(k, "--seconds")) secs = atof(v);
    else if (!strcmp(k, "--resp")) R = atoi(v);
    else if (!strcmp(k, "--steps")) steps = atoi(v);
    else if (!strcmp(k, "--G")) G = atoi(v);
    else if (!strcmp(k, "--new")) NEW = atoi(v);
    else if (!strcmp(k, "--grpo-steps")) grpo = atoi(v);
    else if (!strcmp(k, "--grpo-resp")) gr = atoi(v);
    else if (!strcmp(k, "--profile-range")) prange = atoi(v);
    else if (!strcmp(k, "--accum")) accum = atoi(v);
    else if (!strcmp(k, "--peak")) peak = atof(v);
    else if (!strcmp(k, "--bw")) bw = atof(v);
    else if (!strcmp(k, "--gemm")) gemms = v;
    else if (!strcmp(k, "--sft-variants")) sft_vars = v;
    else if (!strcmp(k, "--rollout-variants")) roll_vars = v;
    else {
      fprintf(stderr, "bench_device: unknown option %s\n", k);
      return 2;
    }
  }
  if (accum < 1 || B < 1) {
    fprintf(stderr, "bench_device: --accum %d, --batch %d: each must be at least 1\n", accum, B);
    return 2;
  }
  if (prange && strcmp(dev, "cuda")) {
    fprintf(stderr, "bench_device: --profile-range brackets CUDA kernels for a profiler: --device cuda\n");
    return 2;
  }
  if ((sft_vars || roll_vars) && strcmp(dev, "cuda")) {
    fprintf(stderr, "bench_device: --sft-variants / --rollout-variants name the CUDA backend's switches: --device cuda\n");
    return 2;
  }
  ts_err e = {0};
  backend *be = !strcmp(dev, "cuda") ? be_cuda(&e) : !strcmp(dev, "devsim") ? be_devsim() : be_cpu();
  /* devsim here counts traffic: its memory protection around each op (tests' business) would
   * take most of the time at the paper geometry */
  if (be && be->device == DEV_SIM) devsim_set_protect(0);
  if (!be) {
    fprintf(stderr, "bench_device: %s\n", e.msg);
    return 2;
  }
  int paper = strcmp(geo, "small") != 0;
  /* the shipped small model's tokenizer serves both geometries: it has the chat and audio
   * tokens, and the vocabulary size (hence the embedding and head FLOPs) comes from the config */
  const char *tokp = TSASR_SOURCE_DIR "/models/small";
  cJSON *cfg = cJSON_Parse(paper ? paper_geometry_json : small_json);
  tsm *m;
  double t0 = now_s();
  if (tsm_new(cfg, tokp, 1, 0.02f, be, 1, 1, &m, &e)) {
    fprintf(stderr, "bench_device: %s\n", e.msg);
    return 1;
  }
  cJSON_Delete(cfg);
  printf("bench_device: %s geometry on %s: %.1fM parameters (built in %.1f s)\n", paper ? "paper" : "small",
         be->ops->name, m->ps.total / 1e6, now_s() - t0);
  /* batch: B inputs of secs seconds, prompt of 60 ids with <|audio|>, R response ids */
  int64_t L = (int64_t)(secs * 16000);
  float *wav = malloc(sizeof(float) * (size_t)(B * L));
  int64_t *len = malloc(sizeof(int64_t) * (size_t)B);
  int32_t **ids = malloc(sizeof(int32_t *) * (size_t)B), *nid = malloc(sizeof(int32_t) * (size_t)B);
  int32_t *rs = malloc(sizeof(int32_t) * (size_t)B), *re = malloc(sizeof(int32_t) * (size_t)B);
  philox_rng r;
  philox_init(&r, 7, 0);
  int32_t vmax = (int32_t)(m->lcfg.V < 150000 ? m->lcfg.V - 8 : 150000);
  for (int64_t i = 0; i < B * L; i++) wav[i] = 0.1f * philox_normal(&r);
  for (int b = 0; b < B; b++) {
    len[b] = L;
    nid[b] = 60 + R, rs[b] = 60, re[b] = 60 + R;
    ids[b] = malloc(sizeof(int32_t) * (size_t)nid[b]);
    for (int j = 0; j < nid[b]; j++) {
      ids[b][j] = (int32_t)philox_below(&r, (uint64_t)vmax);
      if (ids[b][j] == m->audio_id) ids[b][j]++;
    }
    ids[b][30] = m->audio_id;
  }
  tsm_batch bt;
  memset(&bt, 0, sizeof bt);
  bt.B = B, bt.wav = wav, bt.L = L, bt.wav_len = len, bt.ids = (const int32_t *const *)ids, bt.n_ids = nid;
  bt.resp_start = rs, bt.resp_end = re;
  arena ar;
  if (be_arena_init(&ar, be, (size_t)256 << 20, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
  bench_ctx bc = {m, be, &bt, &ar, wav, L, len, B, R, steps, G, NEW, secs, peak, prange, accum, bw};
  char modes[64];
  snprintf(modes, sizeof modes, "%s", gemms);
  for (char *save = NULL, *mode = strtok_r(modes, ",", &save); mode; mode = strtok_r(NULL, ",", &save)) {
    if (be_set_gemm(be, mode, &e)) {
      printf("-- GEMM %s: %s, skipped\n", mode, e.msg);
      continue;
    }
    printf("-- GEMM %s\n", mode);
    if (steps > 0 && bench_variants(&bc, sft_vars, mode, bench_sft)) return 1;
    if (G > 0 && NEW > 0 && bench_variants(&bc, roll_vars, mode, bench_rollout)) return 1;
    if (G > 0 && grpo > 0 && bench_grpo(&bc, grpo, gr)) return 1;
  }
  for (int b = 0; b < B; b++) free(ids[b]);
  free(ids), free(nid), free(rs), free(re), free(wav), free(len);
  arena_free(&ar);
  tsm_free(m);
  return 0;
}
