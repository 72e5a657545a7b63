/* test_grpo.c — the GRPO trainer end to end on the tiny model and tiny synthetic data:
 * rewards follow the paper's definition (1 - WER + format reward); on the groups sampled from
 * a briefly SFT-trained tiny model, successive policy updates lower the objective; every
 * logged step carries the statistics DESIGN §8 names; the same seed gives the same run. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/afile.h"
#include "tdata.h"
#include "data/cot.h"
#include "train/grpo.h"
#include "train/sft.h"

static char g_dir[512], g_man[600];

static void test_reward(void **s) {
  (void)s;
  int ok;
  /* well-formed, exact: 1 - 0 + 1 */
  assert_float_equal(grpo_reward("<think></think><answer>bin blue at f</answer>", "BIN BLUE AT F", 1.0f, &ok), 2.0, 1e-9);
  assert_int_equal(ok, 1);
  /* well-formed, one substitution in 4 words: 1 - 0.25 + 1 */
  assert_float_equal(grpo_reward("<think>x</think><answer>BIN RED AT F</answer>", "BIN BLUE AT F", 1.0f, &ok), 1.75, 1e-9);
  /* format error: empty hypothesis, WER 1, no format reward */
  assert_float_equal(grpo_reward("BIN BLUE AT F", "BIN BLUE AT F", 1.0f, &ok), 0.0, 1e-9);
  assert_int_equal(ok, 0);
  /* an empty reference: a format error still earns nothing (its empty hypothesis used to match
   * with WER 0 and earn 1); a well-formed empty answer earns both terms */
  assert_float_equal(grpo_reward("garbage", "", 1.0f, &ok), 0.0, 1e-9);
  assert_int_equal(ok, 0);
  assert_float_equal(grpo_reward("<think></think><answer></answer>", "", 0.5f, &ok), 1.5, 1e-9);
  assert_int_equal(ok, 1);
  /* insertions can push 1 - WER below zero, as the formula says */
  assert_float_equal(grpo_reward("<think></think><answer>A B C D E F G H</answer>", "BIN BLUE", 1.0f, &ok),
                     1.0 - 8.0 / 2.0 + 1.0, 1e-9);
}

/* the reasoning term: the share of right CoT steps of a well-formed output */
static void test_cot_score(void **s) {
  (void)s;
  int perfect = 0, n_wrong_target = 0;
  for (uint64_t k = 0; k < 40; k++) {
    cot_facts f;
    cot_facts_random(&f, 11, k);
    for (int cont = 0; cont < 2; cont++) {
      cot_opts o = {cont};
      char *r = NULL;
      ts_err e;
      if (cot_build(&f, &o, "BIN BLUE AT F", &r, &e)) fail_msg("%s", e.msg);
      /* the builder's own reasoning is right at every step */
      assert_float_equal(grpo_cot_score(r, &f, cont), 1.0, 1e-12);
      perfect++;
      /* the same text checked against facts with another target loses at least one step */
      if (f.n_speakers > 1) {
        cot_facts g = f;
        g.target = (f.target + 1) % f.n_speakers;
        double sc = grpo_cot_score(r, &g, cont);
        assert_true(sc < 1.0 && sc > 0.0);
        n_wrong_target++;
      }
      free(r);
    }
  }
  assert_true(perfect == 80 && n_wrong_target > 10);
  cot_facts f;
  cot_facts_random(&f, 11, 0);
  /* no reasoning, or no valid format: 0 */
  assert_float_equal(grpo_cot_score("<think></think><answer>BIN</answer>", &f, 0), 0.0, 0);
  assert_float_equal(grpo_cot_score("BIN BLUE", &f, 0), 0.0, 0);
}

static char g_sft[700]; /* a briefly SFT-trained tiny model: it emits well-formed outputs
                          * often enough for rewards to differ within a group */

static tsm *load_tiny(int train) {
  ts_err e;
  tsm *m;
  if (tsm_load(g_sft, be_cpu(), train, train, &m, &e)) fail_msg("%s", e.msg);
  return m;
}

static int make_sft_model(void) {
  char dir[512], run[700];
  ts_err e;
  tsm *m;
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny", TS_FIXTURES);
  if (tsm_load(dir, be_cpu(), 1, 1, &m, &e)) return 1;
  sft_cfg c;
  sft_cfg_default(&c);
  snprintf(run, sizeof run, "%s/sft", g_dir);
  c.run_dir = run;
  c.manifest = g_man;
  c.micro_batch = 2;
  c.accum = 2;
  c.steps = 100;
  c.lr = (lr_sched){1e-4, 5e-3, 5e-4, 3, 100};
  c.ckpt_every = 0;
  c.seed = 3;
  c.sample.silence = 0.2;
  int rc = sft_run(m, &c, &e);
  snprintf(g_sft, sizeof g_sft, "%s/sft/checkpoint-100", g_dir);
  tsm_free(m);
  return rc;
}

static void cfg_for(grpo_run_cfg *c, const char *run, int64_t steps) {
  grpo_run_cfg_default(c);
  c->run_dir = run;
  c->manifest = g_man;
  c->prompts = 2;
  c->G = 4;
  c->micro_batch = 4;
  c->steps = steps;
  c->lr = 3e-4f;
  c->max_new = 40;
  c->seed = 5;
  c->ckpt_every = 0;
  c->sample.silence = 0.2;
}

static int read_rewards(const char *run, double *r, int max, int *complete) {
  char p[700], *buf;
  size_t n;
  snprintf(p, sizeof p, "%s/metrics.jsonl", run);
  if (afile_read(p, &buf, &n, NULL)) return 0;
  int k = 0;
  *complete = 1;
  const char *keys[] = {"reward_std", "format_rate", "zero_std_share", "kl", "clip_frac", "completion_len",
                        "tokens_per_s", "grad_norm"};
  for (char *line = strtok(buf, "\n"); line && k < max; line = strtok(NULL, "\n")) {
    cJSON *j = cJSON_Parse(line);
    if (!j) continue;
    r[k++] = cJSON_GetObjectItem(j, "reward_mean")->valuedouble;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
      if (!cJSON_IsNumber(cJSON_GetObjectItem(j, keys[i]))) *complete = 0;
    cJSON_Delete(j);
  }
  free(buf);
  return k;
}

/* mu = 3 policy updates on one generation batch: each update lowers the surrogate objective
 * measured on that same batch (the policy gradient points the right way through the whole
 * path: sampling log-probs, rewards, advantages, clipped ratio, KL, logit gradients, AdamW) */
static int g_updates_ok, g_updates_seen;

static int check_updates(void *user, const grpo_step_info *info) {
  (void)user;
  if (info->zero_std_share >= 1.0) return 0; /* no signal in this batch */
  g_updates_seen++;
  /* the update ran each prompt's rows once: fewer rows than its 4 completions laid out apart */
  if (!(info->llm_rows > 0 && info->llm_rows < info->llm_rows_apart))
    fail_msg("step %lld: LLM rows %lld, apart %lld", (long long)info->step, (long long)info->llm_rows,
             (long long)info->llm_rows_apart);
  if (info->update_loss[1] < info->update_loss[0] && info->update_loss[2] < info->update_loss[1]) g_updates_ok++;
  return 0;
}

static void test_updates_descend(void **s) {
  (void)s;
  tsm *pol = load_tiny(1), *ref = load_tiny(0);
  grpo_run_cfg c;
  char run[700];
  snprintf(run, sizeof run, "%s/grpo_mu", g_dir);
  cfg_for(&c, run, 6);
  c.mu = 3;
  c.lr = 1e-4f;
  c.on_step = check_updates;
  ts_err e;
  g_updates_ok = g_updates_seen = 0;
  if (grpo_run(pol, ref, &c, &e)) fail_msg("%s", e.msg);
  assert_true(g_updates_seen >= 3);
  if (g_updates_ok != g_updates_seen) fail_msg("%d of %d batches descended", g_updates_ok, g_updates_seen);
  int complete;
  double r[6];
  assert_int_equal(read_rewards(run, r, 6, &complete), 6);
  assert_true(complete);
  tsm_free(pol);
  tsm_free(ref);
}

static void test_deterministic(void **s) {
  (void)s;
  double r[2][4];
  for (int k = 0; k < 2; k++) {
    tsm *pol = load_tiny(1), *ref = load_tiny(0);
    grpo_run_cfg c;
    char run[700];
    snprintf(run, sizeof run, "%s/grpo_det%d", g_dir, k);
    cfg_for(&c, run, 4);
    ts_err e;
    if (grpo_run(pol, ref, &c, &e)) fail_msg("%s", e.msg);
    int complete;
    assert_int_equal(read_rewards(run, r[k], 4, &complete), 4);
    tsm_free(pol);
    tsm_free(ref);
  }
  for (int i = 0; i < 4; i++) assert_true(r[0][i] == r[1][i]);
}

static void test_bad_settings(void **s) {
  (void)s;
  tsm *pol = load_tiny(1);
  grpo_run_cfg c;
  char run[700];
  snprintf(run, sizeof run, "%s/grpo_bad", g_dir);
  cfg_for(&c, run, 2);
  ts_err e;
  c.G = 1;
  assert_int_equal(grpo_run(pol, NULL, &c, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "G 1,"));
  assert_non_null(strstr(e.msg, "G must be >= 2"));
  c.G = 4;
  assert_int_equal(grpo_run(pol, NULL, &c, &e), TS_EARG); /* beta > 0 without a reference */
  assert_non_null(strstr(e.msg, "reference"));
  tsm_free(pol);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "%s/test_grpo.%d", TS_BUILD_DIR, (int)getpid());
  if (td_make_tiny_same(g_dir, g_man, sizeof g_man) || make_sft_model()) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_reward), cmocka_unit_test(test_cot_score), cmocka_unit_test(test_updates_descend),
                                     cmocka_unit_test(test_deterministic), cmocka_unit_test(test_bad_settings)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (!rc && system(cmd)) rc = 1;
  return rc;
}
