/* test_adapter.c — the projector (k-frame concatenation, Linear-ReLU-Linear or Linear)
 * forward against a double reference and every gradient against finite differences. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/adapter.h"
#include "testutil.h"

typedef struct ad_ref {
  adapter_cfg c;
  int64_t B, Tin;
} ad_ref;

/* in: x (B,Tin,Cin), w1, b1, [w2, b2] -> y (B, Tin/k, Cout) */
static void ad_ref_fn(void *ctx, double *const *in, double *out) {
  const ad_ref *r = ctx;
  const adapter_cfg *c = &r->c;
  int64_t To = r->Tin / c->k, KC = c->k * c->Cin, H1 = c->kind == ADAPTER_MLP ? c->H : c->Cout;
  double *h = malloc(sizeof(double) * (size_t)H1);
  for (int64_t b = 0; b < r->B; b++)
    for (int64_t t = 0; t < To; t++) {
      const double *cat = in[0] + (b * r->Tin + t * c->k) * c->Cin; /* k frames are contiguous */
      for (int64_t o = 0; o < H1; o++) {
        double s = in[2][o];
        for (int64_t i = 0; i < KC; i++) s += in[1][o * KC + i] * cat[i];
        h[o] = s;
      }
      double *y = out + (b * To + t) * c->Cout;
      if (c->kind == ADAPTER_LINEAR) {
        memcpy(y, h, sizeof(double) * (size_t)c->Cout);
        continue;
      }
      for (int64_t o = 0; o < c->Cout; o++) {
        double s = in[4][o];
        for (int64_t i = 0; i < c->H; i++) s += in[3][o * c->H + i] * (h[i] > 0 ? h[i] : 0);
        y[o] = s;
      }
    }
  free(h);
}

static void run(adapter_kind kind, int k, int64_t Tin) {
  adapter_cfg c = {kind, k, 3, 5, 4};
  int64_t B = 2, To = Tin / k;
  pset ps;
  ts_err e;
  pset_init(&ps, be_cpu());
  assert_int_equal(adapter_declare(&ps, "adapter.", &c, &e), 0);
  assert_int_equal(pset_alloc(&ps, 1, 0, &e), 0);
  for (int i = 0; i < ps.n; i++) tu_rand(pset_wp(&ps, i), ps.v[i].n, -1, 1, 50 + (uint64_t)i);
  adapter a;
  assert_int_equal(adapter_bind(&a, &ps, "adapter.", &c, &e), 0);
  int64_t nx = B * Tin * c.Cin, ny = B * To * c.Cout;
  float *x = tu_alloc_rand(nx, -1, 1, 7), *y = tu_zeros(ny), *dy = tu_alloc_rand(ny, -1, 1, 8), *dx = tu_zeros(nx);
  arena ar;
  arena_init(&ar, 1 << 16);
  adapter_acts acts;
  assert_int_equal(adapter_out_len(&c, Tin), To);
  assert_int_equal(adapter_forward(&a, B, Tin, x, y, &acts, &ar, &e), 0);
  assert_int_equal(adapter_backward(&a, &acts, dy, dx, &ar, &e), 0);
  ad_ref r = {c, B, Tin};
  int nin = kind == ADAPTER_MLP ? 5 : 3;
  int64_t in_n[5] = {nx, ps.v[0].n, ps.v[1].n, nin > 3 ? ps.v[2].n : 0, nin > 3 ? ps.v[3].n : 0};
  const float *in[5] = {x, pset_wp(&ps, 0), pset_wp(&ps, 1), nin > 3 ? pset_wp(&ps, 2) : NULL,
                        nin > 3 ? pset_wp(&ps, 3) : NULL};
  const float *g[5] = {dx, pset_gp(&ps, 0), pset_gp(&ps, 1), nin > 3 ? pset_gp(&ps, 2) : NULL,
                       nin > 3 ? pset_gp(&ps, 3) : NULL};
  double *din[5], *ref = malloc(sizeof(double) * (size_t)ny);
  for (int i = 0; i < nin; i++) din[i] = tu_to_double(in[i], in_n[i]);
  ad_ref_fn(&r, din, ref);
  assert_true(tu_close("adapter forward", y, ref, ny, 1e-5, 1e-6));
  assert_true(tu_gradcheck("adapter", ad_ref_fn, &r, nin, in_n, in, ny, dy, g, 1e-5, 1e-4));
  for (int i = 0; i < nin; i++) free(din[i]);
  free(ref), free(x), free(y), free(dy), free(dx);
  arena_free(&ar);
  pset_free(&ps);
}

static void test_mlp(void **s) {
  (void)s;
  run(ADAPTER_MLP, 5, 12); /* 12 frames -> 2 outputs, 2 frames dropped */
  run(ADAPTER_MLP, 2, 6);
}

static void test_linear(void **s) {
  (void)s;
  run(ADAPTER_LINEAR, 5, 10);
}

static void test_config(void **s) {
  (void)s;
  ts_err e;
  adapter_cfg c;
  cJSON *j = cJSON_Parse("{\"kind\": \"conv\", \"input_size\": 4, \"output_size\": 8}");
  assert_int_equal(adapter_cfg_from_json(j, "m/config.json", &c, &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "conv"));
  cJSON_Delete(j);
  j = cJSON_Parse("{\"input_size\": 4, \"output_size\": 8}");
  assert_int_equal(adapter_cfg_from_json(j, "m/config.json", &c, &e), 0);
  assert_int_equal(c.k, 5);
  assert_int_equal(c.kind, ADAPTER_MLP);
  cJSON_Delete(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_mlp), cmocka_unit_test(test_linear),
                                     cmocka_unit_test(test_config)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
