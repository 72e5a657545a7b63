/* grpo_loss.h — the GRPO objective of the paper (§2.3.2) on per-token log-probabilities:
 * group-normalised advantages, the clipped ratio objective, the k3 KL to a frozen reference
 * and three loss aggregations. Everything here is host-side arithmetic on small arrays; the
 * trainer turns the per-token coefficients dL/dlogp into logit gradients (grpo_logit_grad). */
#ifndef TS_GRPO_LOSS_H
#define TS_GRPO_LOSS_H

#include <stdint.h>

#include "base/err.h"

typedef enum grpo_agg {
  GRPO_AGG_GRPO = 0, /* mean over each completion's tokens, then mean over completions */
  GRPO_AGG_DAPO,     /* sum over all tokens / number of tokens (global token mean) */
  GRPO_AGG_DR_GRPO   /* sum over all tokens / (completions * max_len) */
} grpo_agg;

const char *grpo_agg_name(grpo_agg a);
int grpo_agg_parse(const char *s, grpo_agg *out);

/* A_i = (r_i - mean_g) / (std_g + eps) per group of G consecutive completions; std is the
 * unbiased (N-1) standard deviation as torch.std (TRL). Counts groups whose rewards are all
 * equal in *n_zero_std (may be NULL). G >= 2. */
int grpo_advantages(const float *rewards, int64_t n_groups, int G, float eps, float *adv, int64_t *n_zero_std,
                    ts_err *e);

typedef struct grpo_cfg {
  float eps_low, eps_high; /* clip range [1 - eps_low, 1 + eps_high] (paper: 0.2, 0.2) */
  float beta;              /* KL weight (paper: 0.04; 0 disables the reference) */
  grpo_agg agg;
  int64_t max_len;         /* for dr_grpo: the max completion length */
  float log_ratio_clip;    /* |logp_ref - logp| is clipped here before exp (0 = off) */
  /* Normalise as if the call covered norm_n completions with norm_tokens tokens in all (a
   * micro-batch of a larger generation batch); 0 = the completions given. */
  int64_t norm_n, norm_tokens;
} grpo_cfg;

typedef struct grpo_stats {
  double loss;       /* the aggregated objective (to minimise) */
  double kl;         /* mean k3 KL per token */
  double clip_frac;  /* share of tokens whose ratio was clipped (gradient zero) */
  double ratio_mean;
  int64_t tokens;
} grpo_stats;

/* Completion i owns tokens [off[i], off[i] + len[i]) of the flat arrays. logp: current
 * policy; logp_old: the policy that sampled (ratio); logp_ref: frozen reference (NULL when
 * beta == 0); adv (n). Writes coef[t] = dLoss/dlogp[t] and the statistics. */
int grpo_token_loss(const grpo_cfg *c, int64_t n, const int64_t *off, const int32_t *len, const float *logp,
                    const float *logp_old, const float *logp_ref, const float *adv, float *coef, grpo_stats *st,
                    ts_err *e);

/* Logit gradient of sum_t coef[t] * logp[t] where logp[t] = log_softmax(z_t / tau)[tok_t]:
 * dz = coef * (onehot(tok) - softmax(z/tau)) / tau, written over z (R rows of V). Also
 * returns logp[t] (R) before overwriting when logp_out != NULL. CPU memory. */
void grpo_logit_grad(float *z, int64_t R, int64_t V, const int32_t *tok, const float *coef, float tau, float *logp_out);

/* logp[t] = log_softmax(z_t / tau)[tok_t] for R rows (z unchanged). */
void grpo_token_logp(const float *z, int64_t R, int64_t V, const int32_t *tok, float tau, float *logp);

#endif
