/* grpo_loss.c — GRPO advantages, clipped objective, k3 KL and aggregations (see grpo_loss.h). */
#include "train/grpo_loss.h"

#include <math.h>
#include <string.h>

#include "tensor/vmath.h"

const char *grpo_agg_name(grpo_agg a) {
  switch (a) {
    case GRPO_AGG_GRPO: return "grpo";
    case GRPO_AGG_DAPO: return "dapo";
    case GRPO_AGG_DR_GRPO: return "dr_grpo";
  }
  return "?";
}

int grpo_agg_parse(const char *s, grpo_agg *out) {
  for (int a = 0; a < 3; a++)
    if (!strcmp(s, grpo_agg_name((grpo_agg)a))) {
      *out = (grpo_agg)a;
      return TS_OK;
    }
  return TS_EARG;
}

int grpo_advantages(const float *rewards, int64_t n_groups, int G, float eps, float *adv, int64_t *n_zero_std,
                    ts_err *e) {
  if (G < 2) return err_set(e, TS_EARG, "grpo: a group needs at least 2 samples (G = %d)", G);
  int64_t zero = 0;
  for (int64_t g = 0; g < n_groups; g++) {
    const float *r = rewards + g * G;
    double m = 0, v = 0;
    for (int i = 0; i < G; i++) m += r[i];
    m /= G;
    int same = 1;
    for (int i = 0; i < G; i++) {
      v += (r[i] - m) * (r[i] - m);
      if (r[i] != r[0]) same = 0;
    }
    double sd = sqrt(v / (G - 1));
    zero += same;
    for (int i = 0; i < G; i++) adv[g * G + i] = (float)((r[i] - m) / (sd + eps));
  }
  if (n_zero_std) *n_zero_std = zero;
  return TS_OK;
}

int grpo_token_loss(const grpo_cfg *c, int64_t n, const int64_t *off, const int32_t *len, const float *logp,
                    const float *logp_old, const float *logp_ref, const float *adv, float *coef, grpo_stats *st,
                    ts_err *e) {
  if (c->beta != 0.0f && !logp_ref) return err_set(e, TS_EARG, "grpo: beta > 0 needs reference log-probs");
  if (c->agg == GRPO_AGG_DR_GRPO && c->max_len <= 0) return err_set(e, TS_EARG, "grpo: dr_grpo needs max_len");
  memset(st, 0, sizeof *st);
  int64_t tokens = 0;
  for (int64_t i = 0; i < n; i++) tokens += len[i];
  int64_t all_n = c->norm_n > 0 ? c->norm_n : n, all_tok = c->norm_tokens > 0 ? c->norm_tokens : tokens;
  double loss = 0, kl_sum = 0, ratio_sum = 0;
  int64_t clipped = 0;
  for (int64_t i = 0; i < n; i++) {
    double norm; /* the aggregation's weight of one token of completion i */
    switch (c->agg) {
      case GRPO_AGG_GRPO: norm = len[i] ? 1.0 / ((double)all_n * len[i]) : 0.0; break;
      case GRPO_AGG_DAPO: norm = all_tok ? 1.0 / (double)all_tok : 0.0; break;
      default: norm = 1.0 / ((double)all_n * (double)c->max_len); break;
    }
    double A = adv[i];
    for (int64_t t = off[i]; t < off[i] + len[i]; t++) {
      double lr = (double)logp[t] - logp_old[t];
      double r = exp(lr);
      double lo = 1.0 - c->eps_low, hi = 1.0 + c->eps_high;
      double rc = r < lo ? lo : (r > hi ? hi : r);
      double un = r * A, cl = rc * A;
      double obj, dobj; /* objective term (maximised) and its derivative w.r.t. logp */
      if (un <= cl) {
        obj = un;
        dobj = A * r;
      } else {
        obj = cl;
        dobj = 0.0; /* the clipped branch is constant in logp */
        clipped++;
      }
      double tok = -obj, dtok = -dobj;
      if (c->beta != 0.0f) {
        double d = (double)logp_ref[t] - logp[t]; /* log(pi_ref / pi) */
        if (c->log_ratio_clip > 0) d = d > c->log_ratio_clip ? c->log_ratio_clip : (d < -c->log_ratio_clip ? -c->log_ratio_clip : d);
        double kl = exp(d) - d - 1.0;
        tok += c->beta * kl;
        dtok += c->beta * (1.0 - exp(d)); /* dkl/dlogp = -e^d + 1 */
        kl_sum += kl;
      }
      ratio_sum += r;
      loss += norm * tok;
      coef[t] = (float)(norm * dtok);
    }
  }
  st->loss = loss;
  st->tokens = tokens;
  st->kl = tokens ? kl_sum / tokens : 0.0;
  st->clip_frac = tokens ? (double)clipped / tokens : 0.0;
  st->ratio_mean = tokens ? ratio_sum / tokens : 0.0;
  return TS_OK;
}

static void grpo_row_softmax(const float *z, int64_t V, float tau, float *lse_out, float *mx_out) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < V; j++) mx = z[j] / tau > mx ? z[j] / tau : mx;
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < V; j++) s += vm_expf(z[j] / tau - mx);
  *lse_out = mx + logf(s);
  *mx_out = mx;
}

void grpo_token_logp(const float *z, int64_t R, int64_t V, const int32_t *tok, float tau, float *logp) {
#pragma omp parallel for if (R * V > 65536)
  for (int64_t r = 0; r < R; r++) {
    float lse, mx;
    grpo_row_softmax(z + r * V, V, tau, &lse, &mx);
    logp[r] = z[r * V + tok[r]] / tau - lse;
  }
}

void grpo_logit_grad(float *z, int64_t R, int64_t V, const int32_t *tok, const float *coef, float tau, float *logp_out) {
#pragma omp parallel for if (R * V > 65536)
  for (int64_t r = 0; r < R; r++) {
    float *row = z + r * V;
    float lse, mx;
    grpo_row_softmax(row, V, tau, &lse, &mx);
    if (logp_out) logp_out[r] = row[tok[r]] / tau - lse;
    float a = coef[r] / tau;
#pragma omp simd
    for (int64_t j = 0; j < V; j++) row[j] = -a * vm_expf(row[j] / tau - lse);
    row[tok[r]] += a;
  }
}
