/* cli_train.c — `tsasr train sft|grpo`: the training stages from the command line (the Lua
 * recipes drive the same trainers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/progress.h"
#include "cli/cli.h"
#include "cli/cli_args.h"
#include "train/grpo.h"
#include "train/sft.h"

/* The run's last progress line; none for a run that failed before its first step (the error
 * follows, and a bar drawn at the total would read as finished). */
static void train_progress_end(progress *p, int rc, int64_t steps) {
  if (rc && p->done < 0) return;
  progress_end(p, rc ? "failed" : p->done >= 0 && p->done < steps ? "stopped early (checkpoint saved)" : "done");
}

static int sft_progress(void *user, const sft_step_info *s) {
  char m[200];
  snprintf(m, sizeof m, "loss %.4f acc %.3f%s lr %.2e gn %.2f %.0f tok/s", s->loss, s->acc, "", s->lr, s->grad_norm,
           s->tokens_per_s);
  if (s->ctc > 0) {
    char c[48];
    snprintf(c, sizeof c, " ctc %.3f", s->ctc);
    strncat(m, c, sizeof m - strlen(m) - 1);
  }
  progress_update(user, s->step, m);
  return 0;
}

static int grpo_progress(void *user, const grpo_step_info *s) {
  char m[200];
  char cs[32] = "";
  if (s->cot_steps >= 0) snprintf(cs, sizeof cs, " cot %.2f", s->cot_steps);
  snprintf(m, sizeof m, "reward %.3f±%.3f fmt %.2f%s kl %.4f clip %.3f len %.1f", s->reward_mean, s->reward_std,
           s->format_rate, cs, s->kl, s->clip_frac, s->completion_len);
  progress_update(user, s->step, m);
  return 0;
}

static int train_sft(int argc, char **argv) {
  sft_cfg c;
  sft_cfg_default(&c);
  const char *run = NULL, *target = "base", *freeze[8] = {0}, *device = "cpu", *gemm = NULL;
  int64_t steps = c.steps, mb = c.micro_batch, acc = c.accum, warm = c.lr.warmup, ckpt = c.ckpt_every, seed = 1,
          threads = c.threads, max_text = c.max_text, bucket = 0;
  double peak = c.lr.peak, start = c.lr.start, lmin = c.lr.min, clip = c.clip, wd = c.wd, ctc = -1, silence = -1;
  int bf16 = 0, fresh = 0, cont = 0;
  ca_opt o[] = {{"--run", CA_STR, &run, 0, "run directory (required)"},
                {"--target", CA_STR, &target, 0, "base | cot"},
                {"--steps", CA_I64, &steps, 0, "optimizer steps"},
                {"--micro-batch", CA_INT, &mb, 0, "samples per forward"},
                {"--accum", CA_INT, &acc, 0, "micro-batches per step (global batch = micro-batch x accum)"},
                {"--lr", CA_DBL, &peak, 0, "peak learning rate (paper 7e-5)"},
                {"--lr-start", CA_DBL, &start, 0, "warm-up start (paper 1e-7)"},
                {"--lr-min", CA_DBL, &lmin, 0, "cosine floor (paper 1e-6)"},
                {"--warmup", CA_I64, &warm, 0, "warm-up steps (paper 3000)"},
                {"--clip", CA_DBL, &clip, 0, "max grad norm"},
                {"--wd", CA_DBL, &wd, 0, "AdamW weight decay"},
                {"--ctc", CA_DBL, &ctc, 0, "encoder CTC loss weight (-1: the model's)"},
                {"--max-text", CA_INT, &max_text, 0, "max prompt+response tokens (paper 512)"},
                {"--silence", CA_DBL, &silence, 0, "seconds between enrollment and mixture (default: the model's)"},
                {"--bucket", CA_INT, &bucket, 0, "length bucketing pool in batches (0 off)"},
                {"--freeze", CA_MULTI, freeze, 8, "freeze tensors with this name prefix (repeatable)"},
                {"--ckpt-every", CA_INT, &ckpt, 0, "checkpoint interval"},
                {"--seed", CA_I64, &seed, 0, "data order seed"},
                {"--threads", CA_INT, &threads, 0, "loader threads"},
                {"--continuous", CA_FLAG, &cont, 0, "CoT with continuous scores (Table 2 ablation)"},
                {"--device", CA_STR, &device, 0, CA_DEVICE_HELP},
                {"--gemm", CA_STR, &gemm, 0, CA_GEMM_HELP},
                {"--bf16", CA_FLAG, &bf16, 0, "save checkpoints in bf16"},
                {"--fresh", CA_FLAG, &fresh, 0, "do not resume from the run directory"}};
  int no = (int)(sizeof o / sizeof o[0]);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help")) {
      ca_usage("tsasr train sft MODEL_DIR MANIFEST --run RUN_DIR [options]", o, no);
      return 0;
    }
  const char *pos[2];
  int np;
  if (ca_parse("train sft", argc, argv, o, no, pos, 2, &np)) return 2;
  if (np != 2 || !run) {
    fprintf(stderr, "usage: tsasr train sft MODEL_DIR MANIFEST --run RUN_DIR [options] (see --help)\n");
    return 2;
  }
  if (strcmp(target, "base") && strcmp(target, "cot")) {
    fprintf(stderr, "tsasr train sft: --target must be base or cot, not \"%s\"\n", target);
    return 2;
  }
  c.run_dir = run;
  c.manifest = pos[1];
  c.target = strcmp(target, "cot") ? SFT_TARGET_BASE : SFT_TARGET_COT;
  c.steps = steps, c.micro_batch = (int)mb, c.accum = (int)acc, c.ckpt_every = (int)ckpt, c.seed = (uint64_t)seed;
  c.threads = (int)threads, c.max_text = (int)max_text, c.bucket = (int)bucket;
  c.lr = (lr_sched){start, peak, lmin, warm, steps};
  c.clip = (float)clip, c.wd = (float)wd, c.ctc_weight = (float)ctc, c.save_bf16 = bf16, c.resume = !fresh;
  c.cot_continuous = cont;
  c.sample.silence = silence;
  for (int i = 0; i < 8; i++) c.freeze[i] = freeze[i];
  ts_err e;
  tsm *m;
  backend *be = ca_device("train sft", device, gemm);
  if (!be) return 2;
  if (tsm_load(pos[0], be, 1, 1, &m, &e)) {
    fprintf(stderr, "tsasr train sft: %s\n", e.msg);
    return 1;
  }
  progress p;
  progress_start(&p, "sft", steps);
  c.on_step = sft_progress;
  c.user = &p;
  int rc = sft_run(m, &c, &e);
  train_progress_end(&p, rc, steps);
  if (rc) fprintf(stderr, "tsasr train sft: %s\n", e.msg);
  tsm_free(m);
  return rc ? 1 : 0;
}

static int train_grpo(int argc, char **argv) {
  grpo_run_cfg c;
  grpo_run_cfg_default(&c);
  const char *run = NULL, *ref_dir = NULL, *agg = "grpo", *freeze[8] = {0}, *device = "cpu", *gemm = NULL;
  int64_t steps = c.steps, prompts = c.prompts, G = c.G, mu = c.mu, mb = c.micro_batch, max_new = c.max_new,
          ckpt = c.ckpt_every, seed = 1, threads = c.threads;
  double lr = c.lr, temp = c.temperature, beta = c.loss.beta, eps = c.loss.eps_low, fmt = c.format_reward, cotw = c.cot_reward,
         clip = c.clip, silence = -1;
  int fresh = 0, bf16 = 0, cont = 0;
  ca_opt o[] = {{"--run", CA_STR, &run, 0, "run directory (required)"},
                {"--ref", CA_STR, &ref_dir, 0, "frozen reference model (default: MODEL_DIR)"},
                {"--steps", CA_I64, &steps, 0, "steps (paper 2000)"},
                {"--prompts", CA_INT, &prompts, 0, "prompts per step"},
                {"--G", CA_INT, &G, 0, "samples per prompt (paper 8)"},
                {"--mu", CA_INT, &mu, 0, "policy updates per generation batch"},
                {"--micro-batch", CA_INT, &mb, 0, "completions per forward (default 4; those of one prompt run the prompt's rows once, so up to G more are cheaper each)"},
                {"--max-new", CA_INT, &max_new, 0, "max new tokens (paper 512)"},
                {"--lr", CA_DBL, &lr, 0, "learning rate (paper 1e-6)"},
                {"--temperature", CA_DBL, &temp, 0, "sampling temperature (paper 1)"},
                {"--beta", CA_DBL, &beta, 0, "KL weight (0.04; 0 = no reference)"},
                {"--epsilon", CA_DBL, &eps, 0, "clip range"},
                {"--format-reward", CA_DBL, &fmt, 0, "reward for a well-formed output (paper 1)"},
                {"--cot-reward", CA_DBL, &cotw, 0, "weight of the share of right CoT steps in the reward (paper 0)"},
                {"--continuous", CA_FLAG, &cont, 0, "CoT similarities are scores, not levels (Table 2 ablation)"},
                {"--loss-type", CA_STR, &agg, 0, "grpo | dapo | dr_grpo"},
                {"--clip", CA_DBL, &clip, 0, "max grad norm"},
                {"--silence", CA_DBL, &silence, 0, "seconds between enrollment and mixture (default: the model's)"},
                {"--freeze", CA_MULTI, freeze, 8, "freeze tensors with this prefix (repeatable)"},
                {"--ckpt-every", CA_INT, &ckpt, 0, "checkpoint interval"},
                {"--seed", CA_I64, &seed, 0, "seed"},
                {"--threads", CA_INT, &threads, 0, "loader threads"},
                {"--device", CA_STR, &device, 0, CA_DEVICE_HELP},
                {"--gemm", CA_STR, &gemm, 0, CA_GEMM_HELP},
                {"--bf16", CA_FLAG, &bf16, 0, "save checkpoints in bf16"},
                {"--fresh", CA_FLAG, &fresh, 0, "do not resume"}};
  int no = (int)(sizeof o / sizeof o[0]);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help")) {
      ca_usage("tsasr train grpo MODEL_DIR RL_MANIFEST --run RUN_DIR [options]", o, no);
      return 0;
    }
  const char *pos[2];
  int np;
  if (ca_parse("train grpo", argc, argv, o, no, pos, 2, &np)) return 2;
  if (np != 2 || !run) {
    fprintf(stderr, "usage: tsasr train grpo MODEL_DIR RL_MANIFEST --run RUN_DIR [options] (see --help)\n");
    return 2;
  }
  if (grpo_agg_parse(agg, &c.loss.agg)) {
    fprintf(stderr, "tsasr train grpo: --loss-type must be grpo, dapo or dr_grpo, not \"%s\"\n", agg);
    return 2;
  }
  c.run_dir = run;
  c.manifest = pos[1];
  c.steps = steps, c.prompts = (int)prompts, c.G = (int)G, c.mu = (int)mu, c.micro_batch = (int)mb;
  c.max_new = (int)max_new, c.ckpt_every = (int)ckpt, c.seed = (uint64_t)seed, c.threads = (int)threads;
  c.lr = (float)lr, c.temperature = (float)temp, c.loss.beta = (float)beta, c.loss.eps_low = c.loss.eps_high = (float)eps;
  c.loss.max_len = (int64_t)c.max_new + 1;
  c.cot_reward = (float)cotw, c.cot_continuous = cont;
  c.format_reward = (float)fmt, c.clip = (float)clip, c.resume = !fresh, c.save_bf16 = bf16;
  c.sample.silence = silence;
  for (int i = 0; i < 8; i++) c.freeze[i] = freeze[i];
  ts_err e;
  tsm *m = NULL, *ref = NULL;
  backend *be = ca_device("train grpo", device, gemm);
  if (!be) return 2;
  if (tsm_load(pos[0], be, 1, 1, &m, &e) ||
      (c.loss.beta != 0.0f && tsm_load(ref_dir ? ref_dir : pos[0], be, 0, 0, &ref, &e))) {
    fprintf(stderr, "tsasr train grpo: %s\n", e.msg);
    tsm_free(m);
    return 1;
  }
  progress p;
  progress_start(&p, "grpo", steps);
  c.on_step = grpo_progress;
  c.user = &p;
  int rc = grpo_run(m, ref, &c, &e);
  train_progress_end(&p, rc, steps);
  if (rc) fprintf(stderr, "tsasr train grpo: %s\n", e.msg);
  tsm_free(m);
  tsm_free(ref);
  return rc ? 1 : 0;
}

int cli_train(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    printf("usage: tsasr train sft|grpo ... (tsasr train sft --help)\n");
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "sft")) return train_sft(argc - 1, argv + 1);
  if (!strcmp(argv[1], "grpo")) return train_grpo(argc - 1, argv + 1);
  fprintf(stderr, "tsasr train: unknown stage \"%s\" (sft or grpo)\n", argv[1]);
  return 2;
}
