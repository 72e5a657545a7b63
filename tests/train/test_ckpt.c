/* test_ckpt.c — checkpoints and run directories: moments and state round-trip, `latest`
 * names the newest complete checkpoint, old ones are pruned, a half-written checkpoint
 * (crash before publishing) is ignored, metrics lines past the resume step are dropped; a
 * damaged run directory stops a resume with a message naming the file instead of starting over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/afile.h"
#include "testutil.h"
#include "train/ckpt.h"
#include "train/run.h"
#include "train/trainer.h"
#include "tensor/params_io.h"

static int save_marker(void *user, const char *dir, ts_err *e) {
  char p[4400];
  snprintf(p, sizeof p, "%s/model.txt", dir);
  return afile_write(p, (const char *)user, strlen((const char *)user), e);
}

static void test_checkpoints(void **s) {
  (void)s;
  char run[256];
  snprintf(run, sizeof run, "%s/test_ckpt_run.%d", TS_BUILD_DIR, (int)getpid());
  ts_err e;
  pset ps;
  pset_init(&ps, be_cpu());
  int64_t a[2] = {3, 4}, b[1] = {5};
  assert_true(pset_add(&ps, "x.weight", 2, a, 1, &e) >= 0);
  assert_true(pset_add(&ps, "x.bias", 1, b, 0, &e) >= 0);
  assert_int_equal(pset_alloc(&ps, 1, 1, &e), 0);
  for (int step = 1; step <= 3; step++) {
    tu_rand(ps.m, ps.total, -1, 1, (uint64_t)step);
    tu_rand(ps.s, ps.total, 0, 1, (uint64_t)step + 100);
    cJSON *st = cJSON_CreateObject();
    cJSON_AddNumberToObject(st, "step", step);
    assert_int_equal(ckpt_save(run, step * 10, &ps, st, save_marker, "weights", 2, &e), 0);
    cJSON_Delete(st);
  }
  char dir[4400], p[4500];
  assert_int_equal(ckpt_latest(run, dir, sizeof dir, &e), 0);
  assert_non_null(strstr(dir, "checkpoint-30"));
  struct stat sb;
  snprintf(p, sizeof p, "%s/checkpoint-10", run);
  assert_int_not_equal(stat(p, &sb), 0); /* pruned: keep 2 */
  snprintf(p, sizeof p, "%s/checkpoint-20", run);
  assert_int_equal(stat(p, &sb), 0);
  /* moments and state come back */
  float *m0 = malloc(sizeof(float) * ps.total), *v0 = malloc(sizeof(float) * ps.total);
  memcpy(m0, ps.m, sizeof(float) * ps.total);
  memcpy(v0, ps.s, sizeof(float) * ps.total);
  memset(ps.m, 0, sizeof(float) * ps.total);
  memset(ps.s, 0, sizeof(float) * ps.total);
  cJSON *st;
  assert_int_equal(ckpt_load_state(dir, &ps, &st, &e), 0);
  for (int i = 0; i < ps.n; i++) {
    assert_memory_equal(ps.m + ps.v[i].off, m0 + ps.v[i].off, sizeof(float) * ps.v[i].n);
    assert_memory_equal(ps.s + ps.v[i].off, v0 + ps.v[i].off, sizeof(float) * ps.v[i].n);
  }
  assert_int_equal((int)cJSON_GetObjectItem(st, "step")->valuedouble, 3);
  cJSON_Delete(st);
  /* a crash while writing checkpoint-40: the directory exists but latest was not updated */
  snprintf(p, sizeof p, "%s/checkpoint-40", run);
  assert_int_equal(afile_mkdirs(p, &e), 0);
  assert_int_equal(ckpt_latest(run, dir, sizeof dir, &e), 0);
  assert_non_null(strstr(dir, "checkpoint-30"));
  /* no checkpoint at all */
  assert_int_not_equal(ckpt_latest("/nonexistent/run", dir, sizeof dir, &e), 0);
  assert_non_null(strstr(e.msg, "no checkpoint"));
  free(m0), free(v0);
  pset_free(&ps);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", run);
  assert_int_equal(system(cmd), 0);
}

static void test_metrics_truncate(void **s) {
  (void)s;
  char run[256];
  snprintf(run, sizeof run, "%s/test_run_metrics.%d", TS_BUILD_DIR, (int)getpid());
  ts_err e;
  run_dir r;
  cJSON *cfg = cJSON_CreateObject();
  cJSON_AddNumberToObject(cfg, "lr", 1e-4);
  assert_int_equal(run_open(&r, run, cfg, -1, &e), 0);
  for (int i = 1; i <= 5; i++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", i);
    assert_int_equal(run_log(&r, o, &e), 0);
    cJSON_Delete(o);
  }
  fputs("{\"step\": 6, \"loss\": 1.", r.metrics); /* torn last line, as after a kill */
  run_close(&r);
  assert_int_equal(run_open(&r, run, NULL, 3, &e), 0); /* resume from step 3 */
  run_close(&r);
  char p[400], *buf;
  size_t n;
  snprintf(p, sizeof p, "%s/metrics.jsonl", run);
  assert_int_equal(afile_read(p, &buf, &n, &e), 0);
  int lines = 0;
  for (size_t i = 0; i < n; i++) lines += buf[i] == '\n';
  assert_int_equal(lines, 3);
  assert_null(strstr(buf, "\"step\":4"));
  free(buf);
  cJSON_Delete(cfg);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", run);
  assert_int_equal(system(cmd), 0);
}

static int save_pset(void *user, const char *dir, ts_err *e) {
  char p[4400];
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  return pset_save_file((const pset *)user, p, 0, NULL, 0, e);
}

static void put(const char *run, const char *name, const char *text) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", run, name);
  assert_int_equal(afile_write(p, text, strlen(text), NULL), 0);
}

/* resumes `run` into ps; returns the status, the step and the message */
static int resume(const char *run, pset *ps, const char *who, int64_t *step, ts_err *e) {
  int64_t pos;
  memset(e, 0, sizeof *e);
  return trainer_resume(ps, run, who, step, &pos, e);
}

static void test_resume_damaged(void **s) {
  (void)s;
  char run[256], p[600];
  snprintf(run, sizeof run, "%s/test_ckpt_damaged.%d", TS_BUILD_DIR, (int)getpid());
  ts_err e;
  pset ps;
  pset_init(&ps, be_cpu());
  int64_t a[2] = {3, 4};
  assert_true(pset_add(&ps, "x.weight", 2, a, 1, &e) >= 0);
  assert_int_equal(pset_alloc(&ps, 1, 1, &e), 0);
  for (int i = 0; i < 12; i++) ps.w[i] = 1.0f; /* what the checkpoints below hold */
  int64_t step = -1;
  assert_int_equal(resume(run, &ps, "sft", &step, &e), 0); /* no run directory yet: a new run */
  assert_int_equal(step, 0);
  for (int k = 1; k <= 2; k++)
    assert_int_equal(trainer_checkpoint(run, k * 10, k, 1, "sft", &ps, save_pset, &ps, 2, &e), 0);
  assert_int_equal(resume(run, &ps, "sft", &step, &e), 0);
  assert_int_equal(step, 20);
  /* a damaged `latest` must not read as a new run (which would prune the good checkpoints) */
  const char *bad[] = {"", "garbage\n", "..\n", "checkpoint-99\n"};
  for (int i = 0; i < 4; i++) {
    put(run, "latest", bad[i]);
    assert_int_not_equal(resume(run, &ps, "sft", &step, &e), 0);
    assert_non_null(strstr(e.msg, "/latest"));
  }
  /* no `latest` at all: the newest complete checkpoint (trainer_state.json written last) */
  snprintf(p, sizeof p, "%s/latest", run);
  unlink(p);
  snprintf(p, sizeof p, "%s/checkpoint-20/trainer_state.json", run);
  unlink(p);
  assert_int_equal(resume(run, &ps, "sft", &step, &e), 0);
  assert_int_equal(step, 10);
  /* bad step, another stage's checkpoint */
  put(run, "latest", "checkpoint-10\n");
  put(run, "checkpoint-10/trainer_state.json", "{\"step\": 1e300, \"data_pos\": 0}");
  assert_int_not_equal(resume(run, &ps, "sft", &step, &e), 0);
  assert_non_null(strstr(e.msg, "checkpoint-10/trainer_state.json"));
  put(run, "checkpoint-10/trainer_state.json", "{\"step\": 10, \"data_pos\": 1, \"stage\": \"sft\"}");
  for (int i = 0; i < 12; i++) ps.w[i] = 7.0f;
  assert_int_not_equal(resume(run, &ps, "grpo", &step, &e), 0);
  assert_non_null(strstr(e.msg, "stage sft"));
  for (int i = 0; i < 12; i++) assert_true(ps.w[i] == 7.0f); /* refused before loading anything */
  assert_int_equal(resume(run, &ps, "sft", &step, &e), 0);
  assert_int_equal(step, 10);
  assert_true(ps.w[0] == 1.0f); /* (the accepted resume does load) */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", run);
  assert_int_equal(system(cmd), 0);
  /* a run path that is a file */
  put(TS_BUILD_DIR, strrchr(run, '/') + 1, "x");
  assert_int_not_equal(resume(run, &ps, "sft", &step, &e), 0);
  assert_non_null(strstr(e.msg, "not a directory"));
  unlink(run);
  pset_free(&ps);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_checkpoints), cmocka_unit_test(test_metrics_truncate),
                                     cmocka_unit_test(test_resume_damaged)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
