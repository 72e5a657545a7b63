/* test_ops_prof.c — the op profile: off by default (nothing recorded), when on every op wrapper
 * adds one call under its name (including the layout and pool ops and rope_bwd's inner
 * rope), times add up, a device backend (devsim) is timed too (between two syncs, or with
 * none in host mode), the report lists the ops slowest first, and the host's time between ops is
 * charged to the op after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "tensor/ops.h"
#include "tensor/ops_layout.h"
#include "tensor/devsim.h"
#include "tensor/ops_prof.h"

static int g_syncs;
static int count_sync(backend *be, ts_err *e) {
  (void)be;
  (void)e;
  g_syncs++;
  return TS_OK;
}

static void test_profile(void **s) {
  (void)s;
  backend *be = be_cpu();
  ts_err e;
  float a[64], b[64], c[64];
  for (int i = 0; i < 64; i++) a[i] = (float)i, b[i] = 1.0f, c[i] = 0.0f;
  tensor A = tensor_f32(a, 2, 8, 8, 0, 0), B = tensor_f32(b, 2, 8, 8, 0, 0), C = tensor_f32(c, 2, 8, 8, 0, 0);
  int64_t calls;
  double sec;
  /* off: nothing is recorded */
  ops_prof_enable(0);
  assert_int_equal(op_add(be, &A, &B, &C, &e), 0);
  ops_prof_get("add", &calls, &sec);
  assert_int_equal(calls, 0);
  /* on: one row per op name, one call per wrapper call */
  ops_prof_enable(1);
  ops_prof_reset();
  for (int i = 0; i < 3; i++) assert_int_equal(op_add(be, &A, &B, &C, &e), 0);
  assert_int_equal(op_matmul(be, &A, &B, NULL, &C, 0, 1, 0.0f, &e), 0);
  assert_int_equal(op_transpose(be, &A, &C, &e), 0);
  ops_prof_get("add", &calls, &sec);
  assert_int_equal(calls, 3);
  assert_true(sec >= 0.0);
  ops_prof_get("matmul", &calls, &sec);
  assert_int_equal(calls, 1);
  assert_true(sec > 0.0);
  ops_prof_get("transpose", &calls, &sec);
  assert_int_equal(calls, 1);
  /* an op refused by its checks never reaches the backend: not counted */
  tensor Bad = tensor_f32(b, 2, 4, 8, 0, 0);
  assert_int_not_equal(op_add(be, &A, &Bad, &C, &e), 0); /* shape check: refused before the backend */
  ops_prof_get("add", &calls, &sec);
  assert_int_equal(calls, 3);
  /* the simulated device: timed through its sync */
  backend *ds = be_devsim();
  float *dx = ds->ops->alloc(ds, sizeof(float) * 64);
  assert_non_null(dx);
  tensor DX = tensor_f32(dx, 1, 64, 0, 0, 0);
  DX.device = ds->device;
  assert_int_equal(op_fill(ds, &DX, 2.0f, &e), 0);
  ops_prof_get("fill", &calls, &sec);
  assert_int_equal(calls, 1);
  /* the syncs around a device op, and none in host mode (a copy of devsim counting them) */
  be_ops counting = *ds->ops;
  counting.sync = count_sync;
  backend cs = *ds;
  cs.ops = &counting;
  g_syncs = 0;
  assert_int_equal(op_fill(&cs, &DX, 3.0f, &e), 0);
  assert_int_equal(g_syncs, 2);
  ops_prof_host(1);
  assert_int_equal(op_fill(&cs, &DX, 4.0f, &e), 0);
  assert_int_equal(g_syncs, 2);
  ops_prof_get("fill", &calls, &sec);
  assert_int_equal(calls, 3); /* still timed */
  ops_prof_host(0);
  ds->ops->release(ds, dx);
  /* the report: header, then the slowest op first */
  char buf[4096] = "";
  FILE *f = fmemopen(buf, sizeof buf, "w");
  assert_non_null(f);
  ops_prof_report(f);
  fclose(f);
  assert_non_null(strstr(buf, "op profile"));
  char *m = strstr(buf, "matmul"), *ad = strstr(buf, "\nadd ");
  assert_non_null(m);
  assert_non_null(ad);
  ops_prof_get("add", &calls, &sec);
  double sa = sec;
  ops_prof_get("matmul", &calls, &sec);
  assert_true((sec >= sa) == (m < ad)); /* listed by total time */
  ops_prof_reset();
  ops_prof_get("matmul", &calls, &sec);
  assert_int_equal(calls, 0);
  ops_prof_enable(0);
}

/* TSASR_PROFILE=shapes: the heavy ops add each call to a row per (op, operand shapes) as
 * well, other ops and an op refused by its checks add none, and the report lists those rows
 * after the op table; off, nothing is kept */
static void test_profile_shapes(void **s) {
  (void)s;
  backend *be = be_cpu();
  ts_err e;
  float a[64], b[64], c[64];
  for (int i = 0; i < 64; i++) a[i] = (float)i, b[i] = 1.0f, c[i] = 0.0f;
  tensor A = tensor_f32(a, 2, 8, 8, 0, 0), B = tensor_f32(b, 2, 4, 8, 0, 0), C = tensor_f32(c, 2, 8, 4, 0, 0);
  tensor A2 = tensor_f32(a, 2, 2, 8, 0, 0), C2 = tensor_f32(c, 2, 2, 4, 0, 0);
  int64_t calls;
  double sec;
  ops_prof_enable(1);
  ops_prof_reset();
  assert_int_equal(op_matmul(be, &A, &B, NULL, &C, 0, 1, 0.0f, &e), 0); /* shapes off */
  ops_prof_get_shape("matmul [8, 8] [4, 8]", &calls, &sec);
  assert_int_equal(calls, 0);
  ops_prof_shapes_enable(1);
  for (int i = 0; i < 2; i++) assert_int_equal(op_matmul(be, &A, &B, NULL, &C, 0, 1, 0.0f, &e), 0);
  assert_int_equal(op_matmul(be, &A2, &B, NULL, &C2, 0, 1, 0.0f, &e), 0);
  assert_int_equal(op_add(be, &A, &A, &A, &e), 0); /* not a shape-profiled op */
  assert_int_not_equal(op_matmul(be, &A, &A, NULL, &C, 0, 1, 0.0f, &e), 0); /* refused: not counted */
  ops_prof_get_shape("matmul [8, 8] [4, 8]", &calls, &sec);
  assert_int_equal(calls, 2);
  assert_true(sec > 0.0);
  ops_prof_get_shape("matmul [2, 8] [4, 8]", &calls, &sec);
  assert_int_equal(calls, 1);
  ops_prof_get("matmul", &calls, &sec);
  assert_int_equal(calls, 4); /* the op row counts every call, shapes on or off */
  ops_prof_get_shape("add [8, 8] [8, 8]", &calls, &sec);
  assert_int_equal(calls, 0);
  /* the next op after a refused one is not recorded under the refused op's shapes */
  assert_int_equal(op_add(be, &A, &A, &A, &e), 0);
  ops_prof_get_shape("add [8, 8] [8, 8]", &calls, &sec);
  assert_int_equal(calls, 0);
  char buf[8192] = "";
  FILE *f = fmemopen(buf, sizeof buf, "w");
  assert_non_null(f);
  ops_prof_report(f);
  fclose(f);
  char *tab = strstr(buf, "by operand shapes"), *row = strstr(buf, "matmul [8, 8] [4, 8]");
  assert_non_null(tab);
  assert_non_null(row);
  assert_true(row > tab);
  ops_prof_shapes_enable(0);
  ops_prof_reset();
  ops_prof_enable(0);
}

/* a device whose sync reports an error at its n-th call: the profiler's syncs must not swallow
 * it (a CUDA sync also clears the error it reports) */
static int g_syncs, g_fail_at;
static int failing_sync(backend *be, ts_err *e) {
  (void)be, (void)e;
  return ++g_syncs == g_fail_at ? TS_EDEVICE : TS_OK;
}

static void test_profile_keeps_device_errors(void **s) {
  (void)s;
  backend *ds = be_devsim();
  be_ops ops = *ds->ops;
  ops.sync = failing_sync;
  backend fb = {&ops, ds->device, ds->ctx};
  float *dx = ds->ops->alloc(ds, sizeof(float) * 16);
  assert_non_null(dx);
  tensor DX = tensor_f32(dx, 1, 16, 0, 0, 0);
  DX.device = ds->device;
  ts_err e;
  ops_prof_enable(1);
  for (g_fail_at = 1; g_fail_at <= 3; g_fail_at++) { /* before the op, after it, neither */
    g_syncs = 0;
    int rc = op_fill(&fb, &DX, 1.0f, &e);
    assert_int_equal(g_syncs, 2);
    assert_int_equal(rc, g_fail_at <= 2 ? TS_EDEVICE : TS_OK);
  }
  ops_prof_enable(0);
  ops_prof_reset();
  ds->ops->release(ds, dx);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* the host's time between ops: charged to the op that follows it (none to the first op after a
 * reset), summed per op, reported with the ops that had the most, and forgotten by a reset */
static void test_profile_gaps(void **s) {
  (void)s;
  backend *be = be_cpu();
  ts_err e;
  float a[64], b[64], c[64];
  for (int i = 0; i < 64; i++) a[i] = (float)i, b[i] = 1.0f, c[i] = 0.0f;
  tensor A = tensor_f32(a, 2, 8, 8, 0, 0), B = tensor_f32(b, 2, 8, 8, 0, 0), C = tensor_f32(c, 2, 8, 8, 0, 0);
  double gap;
  ops_prof_enable(1);
  ops_prof_reset();
  double t = now_s();
  while (now_s() - t < 0.01) {} /* before the first op: not a gap */
  assert_int_equal(op_add(be, &A, &B, &C, &e), 0);
  t = now_s();
  while (now_s() - t < 0.03) {} /* the model code between two ops */
  assert_int_equal(op_transpose(be, &A, &C, &e), 0);
  assert_int_equal(op_add(be, &A, &B, &C, &e), 0); /* right after: a small gap */
  ops_prof_get_gap("transpose", &gap);
  assert_true(gap >= 0.03 && gap < 1.0);
  ops_prof_get_gap("add", &gap);
  assert_true(gap >= 0.0 && gap < 0.01);
  char buf[4096] = "";
  FILE *f = fmemopen(buf, sizeof buf, "w");
  assert_non_null(f);
  ops_prof_report(f);
  fclose(f);
  char *h = strstr(buf, "host time between ops: ");
  assert_non_null(h);
  assert_true(strtod(h + strlen("host time between ops: "), NULL) >= 30.0); /* ms */
  char *most = strstr(h, "the most before: transpose ");
  assert_non_null(most); /* the largest gap first */
  ops_prof_reset();
  assert_int_equal(op_add(be, &A, &B, &C, &e), 0);
  ops_prof_get_gap("add", &gap);
  assert_true(gap == 0.0); /* the first op after a reset */
  ops_prof_enable(0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_profile), cmocka_unit_test(test_profile_keeps_device_errors),
                                     cmocka_unit_test(test_profile_shapes), cmocka_unit_test(test_profile_gaps)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
