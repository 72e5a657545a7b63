/* sft.h — supervised fine-tuning of the composed model (paper §2.1.2 / §3.2), used for both
 * the BASE stage (response "<think></think><answer>TEXT</answer>") and the CoT stage
 * (the manifest entry's "cot" field — a full "<think>...</think><answer>...</answer>" or, with
 * random reasoning, an empty think — or, without one, the full CoT built on the fly from the
 * sample's timeline and the entry's similarities).
 * AdamW; linear warm-up then cosine LR; global batch = micro-batch x accumulation with the
 * loss averaged over all response tokens of the global batch; grad-norm clipping; frozen
 * parts; checkpoints every N steps and on Ctrl-C; exact resume (weights, moments, step, data
 * position). Data comes from a manifest through the background loader. */
#ifndef TS_SFT_H
#define TS_SFT_H

#include "data/loader.h"
#include "model/tsmodel.h"
#include "train/lr.h"

typedef enum sft_target { SFT_TARGET_BASE = 0, SFT_TARGET_COT } sft_target;

typedef struct sft_step_info {
  int64_t step, steps;
  double loss;        /* mean NLL per response token of this step */
  double acc;         /* share of response tokens predicted by argmax */
  double ctc;         /* mean CTC loss per label (0 without a CTC head) */
  double lr, grad_norm;
  int64_t tokens, samples, skipped;
  double secs, samples_per_s, tokens_per_s;
} sft_step_info;

typedef struct sft_cfg {
  const char *run_dir;
  const char *manifest;     /* training manifest JSONL */
  sft_target target;
  int micro_batch;          /* samples per forward */
  int accum;                /* micro-batches per optimizer step (paper: global batch 112) */
  int64_t steps;            /* optimizer steps */
  lr_sched lr;              /* total is set to steps */
  float clip;               /* max global grad norm (0 = off) */
  float wd, beta1, beta2, eps;
  int max_text;             /* longest prompt + response in tokens (paper: 512); longer are skipped */
  uint64_t seed;
  int ckpt_every, keep, log_every;
  int threads;              /* loader threads */
  int bucket;               /* length bucketing pool (batches); 0 = off */
  sample_opts sample;
  const char *freeze[8];    /* name prefixes to freeze, e.g. "encoder." */
  int resume;               /* 1: continue from RUN/latest when present */
  int save_bf16;            /* checkpoints' model.safetensors in bf16 */
  int cot_continuous;       /* CoT built on the fly: write scores instead of levels (Table 2) */
  float ctc_weight;         /* encoder CTC auxiliary loss weight (models with a CTC head):
                               < 0 = the model's configured weight, 0 = off */
  /* called after every step; a non-zero return stops training (after a checkpoint) */
  int (*on_step)(void *user, const sft_step_info *info);
  void *user;
} sft_cfg;

void sft_cfg_default(sft_cfg *c);
/* Trains m in place; returns TS_OK also when stopped by Ctrl-C or on_step (saved). */
int sft_run(tsm *m, const sft_cfg *c, ts_err *e);

#endif
