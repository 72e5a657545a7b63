/* test_params.c — the parameter set's layout: aligned and packed views, stacked row views
 * over packed groups (what one q/k/v GEMM relies on), the passes over the buffer (grad norm,
 * AdamW) across packed groups of mixed decay, the grad norm's one sum per run of trainable
 * tensors, the CPU's sum of squares in one order on any number of threads, and initial values
 * keyed by name. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "tensor/params.h"

static ts_err err;

static void add(pset *ps, const char *name, int nd, int64_t a, int64_t b, int decay, int packed) {
  int64_t ne[2] = {a, b};
  int i = packed ? pset_add_packed(ps, name, nd, ne, decay, &err) : pset_add(ps, name, nd, ne, decay, &err);
  assert_true(i >= 0);
}

/* q (3,5), k (1,5), v (1,5) packed; their biases packed; an odd-sized norm between */
static void declare(pset *ps) {
  pset_init(ps, be_cpu());
  add(ps, "norm", 1, 7, 0, 0, 0);
  add(ps, "q.weight", 2, 3, 5, 1, 0);
  add(ps, "k.weight", 2, 1, 5, 1, 1);
  add(ps, "v.weight", 2, 1, 5, 1, 1);
  add(ps, "q.bias", 1, 3, 0, 0, 0);
  add(ps, "k.bias", 1, 1, 0, 0, 1);
  add(ps, "v.bias", 1, 1, 0, 0, 1);
  add(ps, "o.weight", 2, 5, 3, 1, 0);
}

static void test_layout(void **state) {
  (void)state;
  pset ps;
  declare(&ps);
  /* unpacked views start on 16-float boundaries; packed ones right after their predecessor */
  assert_int_equal(ps.v[0].off, 0);
  assert_int_equal(ps.v[1].off, 16);
  assert_int_equal(ps.v[2].off, 16 + 15);
  assert_int_equal(ps.v[3].off, 16 + 20);
  assert_int_equal(ps.v[4].off, 48);
  assert_int_equal(ps.v[5].off, 51);
  assert_int_equal(ps.v[6].off, 52);
  assert_int_equal(ps.v[7].off, 64);
  assert_int_equal(ps.total, 80);
  assert_int_equal(ps.v[2].packed, 1);
  assert_int_equal(ps.v[4].packed, 0);
  assert_int_equal(pset_alloc(&ps, 1, 1, &err), 0);

  tensor w;
  assert_int_equal(pset_rows(&ps, ps.w, 1, 3, &w, &err), 0);
  assert_int_equal(w.ndim, 2);
  assert_int_equal(w.ne[0], 5);
  assert_int_equal(w.ne[1], 5);
  assert_ptr_equal(w.data, ps.w + 16);
  tensor b;
  assert_int_equal(pset_rows(&ps, ps.g, 4, 3, &b, &err), 0);
  assert_int_equal(b.ndim, 1);
  assert_int_equal(b.ne[0], 5);
  assert_ptr_equal(b.data, ps.g + 48);
  /* a stacked view's rows are the views' rows in order */
  float *kw = pset_wp(&ps, 2);
  kw[3] = 42.0f;
  assert_true(((float *)w.data)[3 * 5 + 3] == 42.0f);

  /* refused: views not stored back to back, or that do not stack */
  assert_int_equal(pset_rows(&ps, ps.w, 3, 2, &w, &err), TS_ESHAPE); /* v.weight (1,5), q.bias (3) */
  assert_non_null(strstr(err.msg, "do not stack"));
  assert_int_equal(pset_rows(&ps, ps.w, 0, 2, &w, &err), TS_ESHAPE); /* norm (7), q.weight (3,5) */
  assert_int_equal(pset_rows(&ps, ps.w, 6, 3, &w, &err), TS_EARG);   /* past the end */
  pset_free(&ps);

  /* two unpacked matrices with the same columns are not adjacent when padding separates them */
  pset_init(&ps, be_cpu());
  add(&ps, "a", 2, 1, 5, 1, 0);
  add(&ps, "b", 2, 1, 5, 1, 0);
  assert_int_equal(pset_rows(&ps, NULL, 0, 2, &w, &err), TS_EARG);
  assert_non_null(strstr(err.msg, "not stored right after"));
  pset_free(&ps);
}

/* grad norm and AdamW run over maximal runs of equal decay: packed groups must be covered
 * exactly once, with the right decay, and the alignment gaps left alone */
static void test_passes(void **state) {
  (void)state;
  pset ps;
  declare(&ps);
  assert_int_equal(pset_alloc(&ps, 1, 1, &err), 0);
  double want = 0;
  for (int i = 0; i < ps.n; i++) {
    float *g = pset_gp(&ps, i), *w = pset_wp(&ps, i);
    for (int64_t j = 0; j < ps.v[i].n; j++) {
      g[j] = 0.01f * (float)(i + 1) * (float)(j + 1);
      w[j] = 1.0f;
      want += (double)g[j] * g[j];
    }
  }
  assert_true(fabs(pset_grad_norm(&ps) - sqrt(want)) < 1e-6 * sqrt(want));
  ps.w[15] = 7.0f; /* in the gap after "norm": no view owns it */
  assert_int_equal(pset_adamw(&ps, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f, 1, &err), 0);
  assert_true(ps.w[15] == 7.0f);
  /* first AdamW step: w -= lr (sign(g) + wd w) with decay, lr sign(g) without */
  for (int i = 0; i < ps.n; i++) {
    float *w = pset_wp(&ps, i);
    double expect = ps.v[i].decay ? 1.0 - 0.1 * 0.5 - 0.1 : 1.0 - 0.1;
    for (int64_t j = 0; j < ps.v[i].n; j++) assert_true(fabs(w[j] - expect) < 1e-5);
  }
  pset_free(&ps);
}

/* the CPU backend with its sum of squares counted: each call is a wait on a device backend */
static int g_sumsq_calls;
static double count_sumsq(backend *be, const float *x, int64_t n) {
  (void)be;
  g_sumsq_calls++;
  return be_cpu()->ops->sumsq(be_cpu(), x, n);
}

/* the grad norm sums each run of trainable tensors once, across decay changes (one sum with
 * nothing frozen, not one per decay run), and leaves frozen tensors out */
static void test_norm_runs(void **state) {
  (void)state;
  be_ops ops = *be_cpu()->ops;
  ops.sumsq = count_sumsq;
  backend cb = *be_cpu();
  cb.ops = &ops;
  pset ps;
  declare(&ps);
  ps.be = &cb;
  assert_int_equal(pset_alloc(&ps, 1, 0, &err), 0);
  double all = 0, unfrozen = 0;
  for (int i = 0; i < ps.n; i++) {
    float *g = pset_gp(&ps, i);
    for (int64_t j = 0; j < ps.v[i].n; j++) {
      g[j] = 0.5f + 0.25f * (float)i - 0.125f * (float)j;
      all += (double)g[j] * g[j];
      if (strcmp(ps.v[i].name, "q.bias")) unfrozen += (double)g[j] * g[j];
    }
  }
  g_sumsq_calls = 0;
  assert_true(fabs(pset_grad_norm(&ps) - sqrt(all)) < 1e-12 * sqrt(all));
  assert_int_equal(g_sumsq_calls, 1); /* five runs of equal decay */
  assert_int_equal(pset_freeze(&ps, "q.bias", 1), 1);
  g_sumsq_calls = 0;
  assert_true(fabs(pset_grad_norm(&ps) - sqrt(unfrozen)) < 1e-12 * sqrt(unfrozen));
  assert_int_equal(g_sumsq_calls, 2); /* before and after the frozen bias */
  ps.be = be_cpu();
  pset_free(&ps);
}

/* a tensor's initial values depend on its name and the seed, not on where it was declared */
static void test_init_by_name(void **state) {
  (void)state;
  pset a, b;
  pset_init(&a, be_cpu());
  pset_init(&b, be_cpu());
  add(&a, "x.weight", 2, 4, 8, 1, 0);
  add(&a, "y.weight", 2, 3, 8, 1, 0);
  add(&b, "y.weight", 2, 3, 8, 1, 0);
  add(&b, "z.weight", 2, 5, 8, 1, 0);
  add(&b, "x.weight", 2, 4, 8, 1, 1);
  assert_int_equal(pset_alloc(&a, 0, 0, &err), 0);
  assert_int_equal(pset_alloc(&b, 0, 0, &err), 0);
  assert_int_equal(pset_init_normal(&a, 0.02f, 7, &err), 0);
  assert_int_equal(pset_init_normal(&b, 0.02f, 7, &err), 0);
  const char *names[2] = {"x.weight", "y.weight"};
  for (int k = 0; k < 2; k++) {
    int ia = pset_find(&a, names[k]), ib = pset_find(&b, names[k]);
    assert_memory_equal(pset_wp(&a, ia), pset_wp(&b, ib), sizeof(float) * (size_t)a.v[ia].n);
  }
  /* and different names get different values */
  assert_memory_not_equal(pset_wp(&a, 0), pset_wp(&a, 1), sizeof(float) * 8);
  pset_free(&a);
  pset_free(&b);
}

/* the CPU's sum of squares (the grad norm's): chunks of 65,536 values summed in order, then the
 * chunks in order, the same bits on 1 and 3 threads (an OpenMP reduction adds the threads'
 * partials in the order they finish); values spread over 2^-20 .. 2^20 so the order shows */
static void test_sumsq_threads(void **state) {
  (void)state;
  const int64_t n = 5 * 65536 + 123, chunk = 65536;
  float *x = malloc(sizeof(float) * (size_t)n);
  assert_non_null(x);
  uint64_t r = 99;
  for (int64_t i = 0; i < n; i++) {
    r = r * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)ldexp((double)(r >> 40) / 16777216.0 - 0.5, (int)((r >> 20) % 41) - 20);
  }
  double want = 0;
  for (int64_t o = 0; o < n; o += chunk) {
    double t = 0;
    for (int64_t i = o; i < n && i < o + chunk; i++) t += (double)x[i] * x[i];
    want += t;
  }
  double got[2];
#ifdef _OPENMP
  int keep = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  got[0] = be_cpu()->ops->sumsq(be_cpu(), x, n);
#ifdef _OPENMP
  omp_set_num_threads(3);
#endif
  got[1] = be_cpu()->ops->sumsq(be_cpu(), x, n);
#ifdef _OPENMP
  omp_set_num_threads(keep);
#endif
  assert_memory_equal(&got[0], &want, sizeof want);
  assert_memory_equal(&got[1], &want, sizeof want);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout),
      cmocka_unit_test(test_passes),
      cmocka_unit_test(test_norm_runs),
      cmocka_unit_test(test_sumsq_threads),
      cmocka_unit_test(test_init_by_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
