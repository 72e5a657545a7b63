/* test_step_graph.c — the decoding-step hint (op_step_graph): its phases are checked, the CPU
 * ignores it, and the simulated device reports what a step recorded as a CUDA graph must not
 * do between BEGIN and END (a result read back, a sync, the sample op, a step begun inside
 * another, an END without BEGIN) while allowing launches; ABORT and DONE end a step. The replay
 * hint (op_step_replay) checks its rows, never replays on either, and is refused inside a step
 * on the simulated device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tensor/devsim.h"
#include "tensor/ops.h"

static long violations(void) {
  const char *last;
  return devsim_violations(&last);
}

static void test_phases(void **s) {
  (void)s;
  ts_err e = {0};
  assert_int_equal(op_step_graph(be_cpu(), TS_STEP_BEGIN, &e), TS_OK);
  assert_int_equal(op_step_graph(be_cpu(), TS_STEP_END, &e), TS_OK);
  assert_int_not_equal(op_step_graph(be_cpu(), 7, &e), TS_OK);
  assert_int_not_equal(op_step_graph(be_cpu(), -1, &e), TS_OK);
}

static void test_devsim_rules(void **s) {
  (void)s;
  backend *ds = be_devsim();
  ts_err e = {0};
  float *x = ds->ops->alloc(ds, sizeof(float) * 16), host[16];
  assert_non_null(x);
  tensor X = tensor_f32(x, 1, 16, 0, 0, 0);
  X.device = ds->device;
  long v0 = violations();
  /* launches inside a step are what it is for */
  assert_int_equal(op_step_graph(ds, TS_STEP_BEGIN, &e), TS_OK);
  assert_int_equal(op_fill(ds, &X, 1.0f, &e), TS_OK);
  assert_int_equal(op_step_graph(ds, TS_STEP_END, &e), TS_OK);
  assert_int_equal(violations(), v0);
  /* outside a step, reading back and syncing are fine */
  assert_int_equal(ds->ops->to_host(ds, host, x, sizeof host, &e), TS_OK);
  assert_int_equal(ds->ops->sync(ds, &e), TS_OK);
  assert_int_equal(violations(), v0);
  /* inside: each is reported and refused */
  assert_int_equal(op_step_graph(ds, TS_STEP_BEGIN, &e), TS_OK);
  assert_int_not_equal(ds->ops->to_host(ds, host, x, sizeof host, &e), TS_OK);
  assert_int_equal(violations(), v0 + 1);
  assert_int_not_equal(ds->ops->sync(ds, &e), TS_OK);
  assert_int_equal(violations(), v0 + 2);
  float *z = ds->ops->alloc(ds, sizeof(float) * 8);
  assert_non_null(z);
  tensor Z = tensor_f32(z, 2, 1, 8, 0, 0);
  Z.device = ds->device;
  assert_int_equal(op_fill(ds, &Z, 0.5f, &e), TS_OK); /* launched inside the step: allowed */
  int32_t tok = -1;
  float lp = 0;
  sample_req q = {0.0f, 8, -1, NULL, NULL, 0, 1.0f};
  assert_int_not_equal(op_sample(ds, &Z, &q, &tok, &lp, &e), TS_OK);
  assert_int_equal(violations(), v0 + 3);
  /* a step begun inside another; ABORT ends the step */
  assert_int_not_equal(op_step_graph(ds, TS_STEP_BEGIN, &e), TS_OK);
  assert_int_equal(violations(), v0 + 4);
  assert_int_equal(op_step_graph(ds, TS_STEP_ABORT, &e), TS_OK);
  assert_int_equal(ds->ops->sync(ds, &e), TS_OK);
  /* an END without BEGIN */
  assert_int_not_equal(op_step_graph(ds, TS_STEP_END, &e), TS_OK);
  assert_int_equal(violations(), v0 + 5);
  /* DONE ends a step too */
  assert_int_equal(op_step_graph(ds, TS_STEP_BEGIN, &e), TS_OK);
  assert_int_equal(op_step_graph(ds, TS_STEP_DONE, &e), TS_OK);
  assert_int_equal(op_sample(ds, &Z, &q, &tok, &lp, &e), TS_OK);
  assert_int_equal(violations(), v0 + 5);
  ds->ops->release(ds, z);
  ds->ops->release(ds, x);
}

/* op_step_replay: its rows are checked; the CPU and the simulated device never replay (every
 * step runs its ops), and the simulated device reports a replay asked for inside a step */
static void test_replay(void **s) {
  (void)s;
  ts_err e = {0};
  int32_t ids[3] = {5, 6, 7}, nn[3] = {1, 0, 1}, two[3] = {1, 2, 1};
  int mode = -1;
  assert_int_equal(op_step_replay(be_cpu(), ids, nn, 3, &mode, &e), TS_OK);
  assert_int_equal(mode, 0);
  mode = -1;
  assert_int_not_equal(op_step_replay(be_cpu(), ids, two, 3, &mode, &e), TS_OK);
  assert_int_equal(mode, 0);
  assert_non_null(strstr(e.msg, "n_new[1] = 2"));
  assert_int_not_equal(op_step_replay(be_cpu(), NULL, nn, 3, &mode, &e), TS_OK);
  assert_int_not_equal(op_step_replay(be_cpu(), ids, nn, 0, &mode, &e), TS_OK);
  backend *ds = be_devsim();
  long v0 = violations();
  mode = -1;
  assert_int_equal(op_step_replay(ds, ids, nn, 3, &mode, &e), TS_OK);
  assert_int_equal(mode, 0);
  assert_int_equal(violations(), v0);
  assert_int_equal(op_step_graph(ds, TS_STEP_BEGIN, &e), TS_OK);
  assert_int_not_equal(op_step_replay(ds, ids, nn, 3, &mode, &e), TS_OK);
  assert_int_equal(violations(), v0 + 1);
  assert_int_equal(op_step_graph(ds, TS_STEP_END, &e), TS_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_phases), cmocka_unit_test(test_devsim_rules),
                                     cmocka_unit_test(test_replay)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
