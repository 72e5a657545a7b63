/* test_grpo_loss.c — GRPO arithmetic on a toy policy: advantages, clipping and the three
 * loss aggregations against values worked out by hand (derivations in the comments), the
 * learning-rate schedule, and the gradient of the whole objective (clipped ratio + k3 KL)
 * with respect to the policy's logits against finite differences of a double reference. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "testutil.h"
#include "train/grpo_loss.h"
#include "train/lr.h"

static void test_advantages(void **s) {
  (void)s;
  /* group 1: rewards 1, 0, .5, .5: mean .5, unbiased variance (.25+.25)/3 = 1/6, std .40824829;
   * A = +-.5 / (.40824829 + 1e-4) = +-1.2244450, 0, 0. group 2: all equal -> A = 0, counted. */
  float r[8] = {1, 0, 0.5f, 0.5f, 0.3f, 0.3f, 0.3f, 0.3f}, a[8];
  int64_t zero;
  ts_err e;
  assert_int_equal(grpo_advantages(r, 2, 4, 1e-4f, a, &zero, &e), 0);
  assert_float_equal(a[0], 1.2244450f, 1e-6);
  assert_float_equal(a[1], -1.2244450f, 1e-6);
  assert_float_equal(a[2], 0.0f, 1e-7);
  for (int i = 4; i < 8; i++) assert_float_equal(a[i], 0.0f, 1e-7);
  assert_int_equal(zero, 1);
  assert_int_equal(grpo_advantages(r, 1, 1, 1e-4f, a, NULL, &e), TS_EARG);
}

/* one token per completion, ratio r = exp(logp - logp_old), eps 0.2, beta 0, dapo over 4 tokens */
static void test_clipping(void **s) {
  (void)s;
  grpo_cfg c = {0.2f, 0.2f, 0.0f, GRPO_AGG_DAPO, 0, 0, 0, 0};
  float lo[4] = {0, 0, 0, 0}, lp[4] = {logf(1.5f), logf(1.5f), logf(0.5f), logf(0.5f)};
  float adv[4] = {1, -1, 1, -1}, coef[4];
  int64_t off[4] = {0, 1, 2, 3};
  int32_t len[4] = {1, 1, 1, 1};
  grpo_stats st;
  ts_err e;
  assert_int_equal(grpo_token_loss(&c, 4, off, len, lp, lo, NULL, adv, coef, &st, &e), 0);
  /* r=1.5, A=+1: min(1.5, 1.2) = 1.2 clipped -> loss -1.2, grad 0
   * r=1.5, A=-1: min(-1.5, -1.2) = -1.5 unclipped -> loss 1.5, dloss/dlogp = -A r = 1.5
   * r=0.5, A=+1: min(0.5, 0.8) = 0.5 unclipped -> loss -0.5, grad -0.5
   * r=0.5, A=-1: min(-0.5, -0.8) = -0.8 clipped -> loss 0.8, grad 0
   * dapo: mean over the 4 tokens: loss (-1.2 + 1.5 - 0.5 + 0.8)/4 = 0.15, coef = grad/4 */
  assert_float_equal(st.loss, 0.15, 1e-6);
  assert_float_equal(coef[0], 0.0f, 1e-7);
  assert_float_equal(coef[1], 1.5f / 4, 1e-6);
  assert_float_equal(coef[2], -0.5f / 4, 1e-6);
  assert_float_equal(coef[3], 0.0f, 1e-7);
  assert_float_equal(st.clip_frac, 0.5, 1e-9);
}

/* aggregations: completion 0 has tokens with losses l0, l1; completion 1 has l2.
 * With ratio 1 (logp == logp_old) and beta 0 each token's loss is -A_i:
 * A = (1, -2) -> l = (-1, -1, 2).
 * grpo:    ((l0 + l1)/2 + l2)/2 = (-1 + 2)/2 = 0.5; coef of completion 0 tokens = -1/(2*2), of l2 = 2/2
 * dapo:    (l0 + l1 + l2)/3 = 0;                    coef = -A/3
 * dr_grpo: (l0 + l1 + l2)/(2 * 4) = 0 (max_len 4);  coef = -A/8 */
static void test_aggregations(void **s) {
  (void)s;
  float lp[3] = {-1.0f, -2.0f, -0.5f}, adv[2] = {1, -2}, coef[3];
  int64_t off[2] = {0, 2};
  int32_t len[2] = {2, 1};
  grpo_stats st;
  ts_err e;
  grpo_cfg c = {0.2f, 0.2f, 0.0f, GRPO_AGG_GRPO, 4, 0, 0, 0};
  assert_int_equal(grpo_token_loss(&c, 2, off, len, lp, lp, NULL, adv, coef, &st, &e), 0);
  assert_float_equal(st.loss, 0.5, 1e-7);
  assert_float_equal(coef[0], -0.25f, 1e-7);
  assert_float_equal(coef[1], -0.25f, 1e-7);
  assert_float_equal(coef[2], 1.0f, 1e-7);
  c.agg = GRPO_AGG_DAPO;
  assert_int_equal(grpo_token_loss(&c, 2, off, len, lp, lp, NULL, adv, coef, &st, &e), 0);
  assert_float_equal(st.loss, 0.0, 1e-7);
  assert_float_equal(coef[0], -1.0f / 3, 1e-7);
  assert_float_equal(coef[2], 2.0f / 3, 1e-7);
  c.agg = GRPO_AGG_DR_GRPO;
  assert_int_equal(grpo_token_loss(&c, 2, off, len, lp, lp, NULL, adv, coef, &st, &e), 0);
  assert_float_equal(coef[0], -1.0f / 8, 1e-7);
  assert_float_equal(coef[2], 2.0f / 8, 1e-7);
  /* k3 KL: logp_ref - logp = d; kl = e^d - d - 1. d = ln 2: kl = 2 - 0.693147 - 1 = 0.306853 */
  float ref[3] = {lp[0] + logf(2.0f), lp[1] + logf(2.0f), lp[2] + logf(2.0f)}, zero[2] = {0, 0};
  grpo_cfg k = {0.2f, 0.2f, 0.5f, GRPO_AGG_DAPO, 0, 0, 0, 0};
  assert_int_equal(grpo_token_loss(&k, 2, off, len, lp, lp, ref, zero, coef, &st, &e), 0);
  assert_float_equal(st.kl, 0.306853, 1e-5);
  assert_float_equal(st.loss, 0.5 * 0.306853, 1e-5);
  assert_float_equal(coef[0], 0.5f * (1.0f - 2.0f) / 3, 1e-6); /* beta (1 - e^d) / tokens */
  /* split into micro-batches with the global normalisation: same coefficients */
  grpo_cfg g2 = {0.2f, 0.2f, 0.0f, GRPO_AGG_GRPO, 4, 0, 2, 3};
  float c1[3];
  int64_t off1[1] = {0};
  assert_int_equal(grpo_token_loss(&g2, 1, off1, len + 1, lp + 2, lp + 2, NULL, adv + 1, c1, &st, &e), 0);
  assert_float_equal(c1[0], 1.0f, 1e-7); /* as in the whole-batch call above: 2/2 */
  grpo_agg a;
  assert_int_equal(grpo_agg_parse("dr_grpo", &a), 0);
  assert_int_equal(a, GRPO_AGG_DR_GRPO);
  assert_int_not_equal(grpo_agg_parse("ppo", &a), 0);
}

/* ---- toy policy: logits z (R, V) are the parameters ---- */
typedef struct toy {
  int64_t R, V, n;
  const int32_t *tok, *len;
  const int64_t *off;
  const float *logp_old, *logp_ref, *adv;
  grpo_cfg c;
  double tau;
} toy;

/* independent double reference of the objective as a function of the logits */
static void toy_ref(void *ctx, double *const *in, double *out) {
  const toy *t = ctx;
  const double *z = in[0];
  int64_t tokens = 0;
  for (int64_t i = 0; i < t->n; i++) tokens += t->len[i];
  double L = 0;
  for (int64_t i = 0; i < t->n; i++)
    for (int64_t k = t->off[i]; k < t->off[i] + t->len[i]; k++) {
      double mx = -INFINITY, s = 0;
      for (int64_t j = 0; j < t->V; j++) mx = fmax(mx, z[k * t->V + j] / t->tau);
      for (int64_t j = 0; j < t->V; j++) s += exp(z[k * t->V + j] / t->tau - mx);
      double logp = z[k * t->V + t->tok[k]] / t->tau - mx - log(s);
      double r = exp(logp - t->logp_old[k]);
      double rc = fmin(fmax(r, 1 - t->c.eps_low), 1 + t->c.eps_high);
      double term = -fmin(r * t->adv[i], rc * t->adv[i]);
      double d = t->logp_ref[k] - logp;
      term += t->c.beta * (exp(d) - d - 1);
      double w = t->c.agg == GRPO_AGG_GRPO ? 1.0 / (t->n * t->len[i])
                 : t->c.agg == GRPO_AGG_DAPO ? 1.0 / tokens
                                             : 1.0 / ((double)t->n * t->c.max_len);
      L += w * term;
    }
  out[0] = L;
}

static void test_toy_policy_gradient(void **s) {
  (void)s;
  int64_t V = 7, n = 3;
  int32_t len[3] = {3, 1, 2};
  int64_t off[3] = {0, 3, 4}, R = 6;
  int32_t tok[6] = {1, 4, 6, 0, 2, 2};
  float adv[3] = {0.8f, -1.3f, 0.4f};
  float *z = tu_alloc_rand(R * V, -2, 2, 11), logp[6], lold[6], lref[6], coef[6];
  for (int agg = 0; agg < 3; agg++)
    for (int beta_on = 0; beta_on < 2; beta_on++) {
      float tau = agg == 1 ? 0.7f : 1.0f; /* also a temperature other than 1 */
      grpo_token_logp(z, R, V, tok, tau, logp);
      /* old policy a little off (ratios 0.9..1.1 stay inside the clip range, where the
       * objective is smooth), reference further off so the KL matters */
      for (int64_t k = 0; k < R; k++) {
        lold[k] = logp[k] + 0.08f * (float)((k % 3) - 1);
        lref[k] = logp[k] + 0.5f * (float)((k % 2) ? 1 : -1);
      }
      grpo_cfg c = {0.2f, 0.2f, beta_on ? 0.04f : 0.0f, (grpo_agg)agg, 5, 0, 0, 0};
      grpo_stats st;
      ts_err e;
      assert_int_equal(grpo_token_loss(&c, n, off, len, logp, lold, lref, adv, coef, &st, &e), 0);
      float *g = malloc(sizeof(float) * (size_t)(R * V));
      memcpy(g, z, sizeof(float) * (size_t)(R * V));
      float lp2[6];
      grpo_logit_grad(g, R, V, tok, coef, tau, lp2);
      for (int64_t k = 0; k < R; k++) assert_float_equal(lp2[k], logp[k], 1e-6);
      toy t = {R, V, n, tok, len, off, lold, lref, adv, c, tau};
      double lref_val;
      double *zd = tu_to_double(z, R * V);
      double *in[1] = {zd};
      toy_ref(&t, in, &lref_val);
      assert_true(fabs(lref_val - st.loss) < 1e-5 * (fabs(lref_val) + 1e-3));
      free(zd);
      float one = 1.0f;
      int64_t in_n[1] = {R * V};
      const float *ins[1] = {z};
      const float *gs[1] = {g};
      char what[64];
      snprintf(what, sizeof what, "grpo %s beta=%d", grpo_agg_name((grpo_agg)agg), beta_on);
      assert_true(tu_gradcheck(what, toy_ref, &t, 1, in_n, ins, 1, &one, gs, 1e-6, 1e-4));
      free(g);
    }
  free(z);
}

static void test_lr_schedule(void **s) {
  (void)s;
  lr_sched l = {1e-7, 7e-5, 1e-6, 3000, 10000};
  assert_float_equal(lr_at(&l, 0), 1e-7, 1e-15);
  assert_float_equal(lr_at(&l, 1500), 1e-7 + (7e-5 - 1e-7) * 0.5, 1e-12);
  assert_float_equal(lr_at(&l, 3000), 7e-5, 1e-12);
  assert_float_equal(lr_at(&l, 6500), 1e-6 + 0.5 * (7e-5 - 1e-6), 1e-12); /* half-way: cos(pi/2) = 0 */
  assert_float_equal(lr_at(&l, 10000), 1e-6, 1e-12);
  assert_float_equal(lr_at(&l, 20000), 1e-6, 1e-12);
  for (int64_t t = 3001; t < 10000; t += 97) assert_true(lr_at(&l, t) <= lr_at(&l, t - 1) + 1e-18);
  lr_sched constant = {1e-6, 1e-6, 1e-6, 0, 2000};
  assert_float_equal(lr_at(&constant, 0), 1e-6, 1e-15);
  assert_float_equal(lr_at(&constant, 1999), 1e-6, 1e-15);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_advantages),  cmocka_unit_test(test_clipping),
      cmocka_unit_test(test_aggregations), cmocka_unit_test(test_toy_policy_gradient),
      cmocka_unit_test(test_lr_schedule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
