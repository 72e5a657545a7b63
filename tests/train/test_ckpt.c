/* test_ckpt.c — checkpoints and run directories: moments and state round-trip, `latest`
 * names the newest complete checkpoint, old ones are pruned, a half-written checkpoint
 * (crash before publishing) is ignored, metrics lines past the resume step are dropped. */
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

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_checkpoints), cmocka_unit_test(test_metrics_truncate)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
