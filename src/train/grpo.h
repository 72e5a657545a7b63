/* grpo.h — GRPO fine-tuning of the composed model (paper §2.3.2): for each prompt of the RL
 * selection, G samples at temperature 1 from one encoder pass and one prefill; reward =
 * (1 - WER) + format reward (+ an optional reasoning term, grpo_cot_score); group-normalised advantages; the clipped-ratio objective with the
 * k3 KL to the frozen starting model; grpo | dapo | dr_grpo aggregation; mu policy updates per
 * generation batch; constant LR (paper 1e-6); checkpoints and exact resume like SFT. */
#ifndef TS_GRPO_H
#define TS_GRPO_H

#include "data/sample.h"
#include "infer/generate.h"
#include "model/tsmodel.h"
#include "train/grpo_loss.h"

typedef struct grpo_step_info {
  int64_t step, steps;
  double reward_mean, reward_std;  /* over all samples of the step */
  double format_rate;              /* share of well-formed outputs */
  double cot_steps;                /* mean share of correct CoT steps against the samples' facts
                                    * (grpo_cot_score; -1 when no sample has facts) */
  double zero_std_share;           /* share of groups whose rewards are all equal */
  double kl, clip_frac, loss;
  double update_loss[8];           /* the objective at each of the first mu updates (<= 8) */
  double completion_len;           /* mean generated tokens */
  double lr, grad_norm;
  double secs, tokens_per_s;       /* generated tokens per second */
  int64_t llm_rows;                /* the LLM's input rows in one update pass (padding included) */
  int64_t llm_rows_apart;          /* the same with every completion laid out with its prompt (the
                                    * shared layout saves the difference) */
} grpo_step_info;

typedef struct grpo_run_cfg {
  const char *run_dir;
  const char *manifest;            /* the RL selection (manifest JSONL) */
  int prompts;                     /* prompts per step (generation batch) */
  int G;                           /* samples per prompt (paper: 8) */
  int mu;                          /* policy updates per generation batch (paper: 1) */
  int micro_batch;                 /* completions per forward in the update */
  int64_t steps;                   /* paper: 2000 */
  float lr;                        /* paper: 1e-6 */
  float temperature;               /* paper: 1 */
  int max_new;                     /* paper: 512 */
  float format_reward;             /* added for a well-formed output (paper: format reward) */
  float cot_reward;                /* weight w of a reasoning term, w x grpo_cot_score (0: the
                                    * paper's reward; ours, against the drift of an answer-only
                                    * reward) */
  int cot_continuous;              /* the facts' similarities are compared as scores, not levels */
  grpo_cfg loss;                   /* eps, beta (paper 0.04), aggregation */
  float clip, wd, beta1, beta2, eps;
  uint64_t seed;
  int ckpt_every, keep, log_every, threads;
  sample_opts sample;
  const char *freeze[8];
  int resume, save_bf16;
  int (*on_step)(void *user, const grpo_step_info *info);
  void *user;
} grpo_run_cfg;

void grpo_run_cfg_default(grpo_run_cfg *c);
/* Trains policy in place; ref is the frozen starting model (may be NULL when beta == 0). */
int grpo_run(tsm *policy, tsm *ref, const grpo_run_cfg *c, ts_err *e);

/* Reward of one output against the reference transcript: (1 - WER) + format_reward when the
 * output is well-formed; 0 for a format error (WER 1, no format reward, whatever the reference,
 * an empty one included). */
double grpo_reward(const char *raw_output, const char *ref_text, float format_reward, int *format_ok);
/* Share of the CoT steps (cot_check_run) of a well-formed output that are right about the facts
 * of its sample, in [0, 1]; 0 for a format error or an empty think; -1 on out of memory. */
struct cot_facts;
double grpo_cot_score(const char *raw_output, const struct cot_facts *facts, int continuous);

#endif
