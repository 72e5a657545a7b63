/* test_sft.c — the SFT trainer on a tiny model and a tiny synthetic manifest: the loss falls
 * while it memorises the data; a run killed with SIGKILL after its step-4 checkpoint and
 * resumed gives the same losses, step for step, as an uninterrupted run; bad settings and a
 * missing manifest give clear errors. The killed run is this test binary re-executed in a
 * child process ("child RUN_DIR"), so it is a clean process with its own threads. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "tdata.h"
#include "train/sft.h"

static char g_dir[512], g_man[600];

static void make_data(const char *dir) { assert_int_equal(td_make_tiny(dir, g_man, sizeof g_man), 0); }

static void cfg_for(sft_cfg *c, const char *run, int64_t steps) {
  sft_cfg_default(c);
  c->run_dir = run;
  c->manifest = g_man;
  c->micro_batch = 2;
  c->accum = 2;
  c->steps = steps;
  c->lr = (lr_sched){1e-4, 3e-3, 1e-4, 3, steps};
  c->ckpt_every = 2;
  c->keep = 3;
  c->threads = 2;
  c->seed = 11;
  c->sample.silence = 0.2;
}

static tsm *load_tiny(void) {
  char dir[512];
  ts_err e;
  tsm *m;
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny", TS_FIXTURES);
  if (tsm_load(dir, be_cpu(), 1, 1, &m, &e)) fail_msg("%s", e.msg);
  return m;
}

/* losses by step from metrics.jsonl (last value wins) */
static int read_losses(const char *run, double *loss, int max) {
  char p[700], *buf;
  size_t n;
  snprintf(p, sizeof p, "%s/metrics.jsonl", run);
  if (afile_read(p, &buf, &n, NULL)) return 0;
  int k = 0;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
    cJSON *j = cJSON_Parse(line);
    if (!j) continue;
    int s = (int)cJSON_GetObjectItem(j, "step")->valuedouble;
    if (s >= 1 && s <= max) {
      loss[s - 1] = cJSON_GetObjectItem(j, "loss")->valuedouble;
      if (s > k) k = s;
    }
    cJSON_Delete(j);
  }
  free(buf);
  return k;
}

static int kill_at_5(void *user, const sft_step_info *info) {
  (void)user;
  if (info->step == 5) raise(SIGKILL); /* after step 5, before its checkpoint would be written */
  return 0;
}

static void test_loss_falls(void **s) {
  (void)s;
  tsm *m = load_tiny();
  sft_cfg c;
  char run[700];
  snprintf(run, sizeof run, "%s/run_fall", g_dir);
  cfg_for(&c, run, 60);
  c.ckpt_every = 0;
  c.lr.peak = 5e-3;
  ts_err e;
  if (sft_run(m, &c, &e)) fail_msg("%s", e.msg);
  double loss[60];
  assert_int_equal(read_losses(run, loss, 60), 60);
  double first = (loss[0] + loss[1] + loss[2]) / 3, last = (loss[57] + loss[58] + loss[59]) / 3;
  if (!(last < 0.25 * first)) fail_msg("loss did not fall: %.3f -> %.3f", first, last);
  assert_true(m->silence == 0.2); /* the model records the input layout it was trained on */
  tsm_free(m);
}

static void test_resume_exact(void **s) {
  (void)s;
  char run_a[700], run_b[700], self[4096];
  snprintf(run_a, sizeof run_a, "%s/run_full", g_dir);
  snprintf(run_b, sizeof run_b, "%s/run_killed", g_dir);
  /* uninterrupted: 7 steps */
  tsm *m = load_tiny();
  sft_cfg c;
  cfg_for(&c, run_a, 7);
  ts_err e;
  if (sft_run(m, &c, &e)) fail_msg("%s", e.msg);
  tsm_free(m);
  /* killed after step 5 (checkpoints at 2 and 4), then resumed to 7 */
  ssize_t ln = readlink("/proc/self/exe", self, sizeof self - 1);
  assert_true(ln > 0);
  self[ln] = 0;
  pid_t pid = fork();
  if (pid == 0) {
    execl(self, self, "child", run_b, g_man, (char *)NULL);
    _exit(127);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  m = load_tiny();
  cfg_for(&c, run_b, 7);
  if (sft_run(m, &c, &e)) fail_msg("%s", e.msg);
  tsm_free(m);
  double la[7], lb[7];
  assert_int_equal(read_losses(run_a, la, 7), 7);
  assert_int_equal(read_losses(run_b, lb, 7), 7);
  for (int i = 0; i < 7; i++)
    if (la[i] != lb[i]) fail_msg("step %d: uninterrupted %.17g, resumed %.17g", i + 1, la[i], lb[i]);
  /* the resumed log has each step once */
  char p[800], *buf;
  size_t n;
  snprintf(p, sizeof p, "%s/metrics.jsonl", run_b);
  assert_int_equal(afile_read(p, &buf, &n, &e), 0);
  int lines = 0;
  for (size_t i = 0; i < n; i++) lines += buf[i] == '\n';
  assert_int_equal(lines, 7);
  free(buf);
}

static void test_errors(void **s) {
  (void)s;
  tsm *m = load_tiny();
  sft_cfg c;
  char run[700];
  snprintf(run, sizeof run, "%s/run_err", g_dir);
  cfg_for(&c, run, 2);
  ts_err e;
  c.manifest = "/nonexistent/train.jsonl";
  assert_int_not_equal(sft_run(m, &c, &e), 0);
  assert_non_null(strstr(e.msg, "/nonexistent/train.jsonl"));
  c.manifest = g_man;
  c.freeze[0] = "decoder.";
  assert_int_equal(sft_run(m, &c, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "decoder."));
  tsm_free(m);
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "child")) { /* the run that gets killed */
    snprintf(g_man, sizeof g_man, "%s", argv[3]);
    tsm *m = load_tiny();
    sft_cfg c;
    cfg_for(&c, argv[2], 7);
    c.on_step = kill_at_5;
    ts_err e;
    sft_run(m, &c, &e);
    return 3; /* not reached */
  }
  snprintf(g_dir, sizeof g_dir, "%s/test_sft.%d", TS_BUILD_DIR, (int)getpid());
  make_data(g_dir);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_loss_falls), cmocka_unit_test(test_resume_exact),
                                     cmocka_unit_test(test_errors)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (!rc && system(cmd)) rc = 1;
  return rc;
}
