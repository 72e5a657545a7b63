/* test_spk_grad.c — the speaker encoder and the AAM loss against independent double
 * references: forward values and every parameter gradient by central finite differences. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "speaker/spk_aam.h"
#include "speaker/spk_model.h"
#include "testutil.h"

static backend *be;
static ts_err err;

static int setup(void **state) {
  (void)state;
  be = be_cpu();
  return 0;
}

/* ---- the encoder in double: inputs x (B,T,M), then per layer conv w, conv b, norm w, norm b,
 * then embed w, embed b; output emb (B,E) ---- */
typedef struct ref_net {
  const spk_cfg *c;
  int64_t B, T;
  const int32_t *lens;
} ref_net;

static void ref_encoder(void *ctx, double *const *in, double *out) {
  const ref_net *r = ctx;
  const spk_cfg *c = r->c;
  int64_t B = r->B, T = r->T, M = c->n_mels;
  int64_t cmax = M;
  for (int l = 0; l < c->n_layers; l++) cmax = c->channels[l] > cmax ? c->channels[l] : cmax;
  double *cur = malloc(sizeof(double) * (size_t)(B * cmax * T)), *nx = malloc(sizeof(double) * (size_t)(B * cmax * T));
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++)
      for (int64_t m = 0; m < M; m++) cur[(b * M + m) * T + t] = in[0][(b * T + t) * M + m];
  int64_t cin = M;
  for (int l = 0; l < c->n_layers; l++) {
    const double *w = in[1 + 4 * l], *bias = in[2 + 4 * l], *nw = in[3 + 4 * l], *nb = in[4 + 4 * l];
    int64_t co = c->channels[l], K = c->kernels[l], pad = K / 2;
    for (int64_t b = 0; b < B; b++)
      for (int64_t t = 0; t < T; t++) {
        double h[64];
        for (int64_t o = 0; o < co; o++) {
          double s = bias[o];
          for (int64_t i = 0; i < cin; i++)
            for (int64_t k = 0; k < K; k++) {
              int64_t ts = t + k - pad;
              if (ts >= 0 && ts < T) s += w[(o * cin + i) * K + k] * cur[(b * cin + i) * T + ts];
            }
          h[o] = s > 0 ? s : 0;
        }
        double mu = 0, var = 0;
        for (int64_t o = 0; o < co; o++) mu += h[o];
        mu /= co;
        for (int64_t o = 0; o < co; o++) var += (h[o] - mu) * (h[o] - mu);
        var /= co;
        double rs = 1.0 / sqrt(var + c->ln_eps);
        for (int64_t o = 0; o < co; o++) nx[(b * co + o) * T + t] = (h[o] - mu) * rs * nw[o] + nb[o];
      }
    double *sw = cur;
    cur = nx, nx = sw;
    cin = co;
  }
  const double *ew = in[1 + 4 * c->n_layers], *eb = in[2 + 4 * c->n_layers];
  for (int64_t b = 0; b < B; b++) {
    int64_t L = r->lens ? r->lens[b] : T;
    double pool[128];
    for (int64_t ch = 0; ch < cin; ch++) {
      double mu = 0, var = 0;
      for (int64_t t = 0; t < L; t++) mu += cur[(b * cin + ch) * T + t];
      mu /= L;
      for (int64_t t = 0; t < L; t++) var += (cur[(b * cin + ch) * T + t] - mu) * (cur[(b * cin + ch) * T + t] - mu);
      pool[ch] = mu;
      pool[cin + ch] = sqrt(var / L + c->pool_eps);
    }
    for (int64_t j = 0; j < c->emb_dim; j++) {
      double s = eb[j];
      for (int64_t k = 0; k < 2 * cin; k++) s += ew[j * 2 * cin + k] * pool[k];
      out[b * c->emb_dim + j] = s;
    }
  }
  free(cur);
  free(nx);
}

static void run_encoder(const spk_cfg *c, int64_t B, int64_t T, const int32_t *lens, uint64_t seed) {
  spk_model m;
  assert_int_equal(spk_model_init(&m, c, be, 1, 0, &err), 0);
  tu_rand(m.ps.w, m.ps.total, -0.8f, 0.8f, seed);
  for (int l = 0; l < c->n_layers; l++) tu_rand(pset_wp(&m.ps, m.i_nw[l]), c->channels[l], 0.5f, 1.5f, seed + 1 + l);
  pset_zero_grad(&m.ps);
  int64_t nx = B * T * c->n_mels, ne = B * c->emb_dim;
  float *x = tu_alloc_rand(nx, -2, 2, seed + 20), *emb = tu_zeros(ne), *dy = tu_alloc_rand(ne, -1, 1, seed + 21);
  arena ar;
  arena_init(&ar, 1 << 16);
  spk_acts acts;
  assert_int_equal(spk_forward(&m, B, T, x, lens, emb, &acts, &ar, &err), 0);
  int n_in = 1 + 4 * c->n_layers + 2;
  int64_t in_n[16];
  const float *in[16], *g[16];
  in_n[0] = nx, in[0] = x, g[0] = NULL;
  for (int i = 1; i < n_in; i++) {
    int v = i - 1; /* the pset's declaration order is the reference's input order */
    in_n[i] = m.ps.v[v].n, in[i] = pset_wp(&m.ps, v), g[i] = pset_gp(&m.ps, v);
  }
  ref_net ctx = {c, B, T, lens};
  double *ref = malloc(sizeof(double) * (size_t)ne), *din[16] = {0};
  for (int i = 0; i < n_in; i++) din[i] = tu_to_double(in[i], in_n[i]);
  ref_encoder(&ctx, din, ref);
  char what[96];
  snprintf(what, sizeof what, "encoder L=%d B=%lld T=%lld lens=%d", c->n_layers, (long long)B, (long long)T,
           lens != NULL);
  assert_true(tu_close(what, emb, ref, ne, 1e-4, 1e-3));
  assert_int_equal(spk_backward(&m, &acts, dy, &ar, &err), 0);
  assert_true(tu_gradcheck(what, ref_encoder, &ctx, n_in, in_n, in, ne, dy, g, 1e-3, 5e-3));
  for (int i = 0; i < n_in; i++) free(din[i]);
  free(ref), free(x), free(emb), free(dy);
  arena_free(&ar);
  spk_model_free(&m);
}

static void test_encoder_grad(void **state) {
  (void)state;
  spk_cfg c;
  spk_cfg_default(&c);
  c.n_mels = 5, c.n_layers = 2, c.channels[0] = 8, c.channels[1] = 6, c.kernels[0] = 3, c.kernels[1] = 1;
  c.emb_dim = 4;
  const int32_t lens[2] = {7, 4};
  run_encoder(&c, 2, 7, lens, 100);
  run_encoder(&c, 1, 5, NULL, 200);
  c.n_layers = 3, c.channels[2] = 5, c.kernels[0] = 5, c.kernels[1] = 3, c.kernels[2] = 1, c.emb_dim = 3;
  run_encoder(&c, 2, 6, (const int32_t[2]){3, 6}, 300);
}

/* ---- AAM in double: inputs emb (B,E), w (N,E); output the mean loss ---- */
typedef struct ref_aam {
  int64_t B, E, N;
  const int32_t *y;
  double m, s;
} ref_aam;

static void ref_aam_loss(void *ctx, double *const *in, double *out) {
  const ref_aam *r = ctx;
  double loss = 0;
  for (int64_t b = 0; b < r->B; b++) {
    const double *x = in[0] + b * r->E;
    double nx = 0;
    for (int64_t k = 0; k < r->E; k++) nx += x[k] * x[k];
    nx = sqrt(nx);
    double lg[64], mx = -1e300;
    for (int64_t n = 0; n < r->N; n++) {
      const double *w = in[1] + n * r->E;
      double nw = 0, d = 0;
      for (int64_t k = 0; k < r->E; k++) nw += w[k] * w[k], d += w[k] * x[k];
      double c = d / (nx * sqrt(nw));
      if (n == r->y[b]) { /* cos(theta + m) while theta + m <= pi, else c - m sin m */
        double th = acos(c);
        c = th + r->m <= M_PI ? cos(th + r->m) : c - r->m * sin(r->m);
      }
      lg[n] = r->s * c;
      mx = lg[n] > mx ? lg[n] : mx;
    }
    double z = 0;
    for (int64_t n = 0; n < r->N; n++) z += exp(lg[n] - mx);
    loss += mx + log(z) - lg[r->y[b]];
  }
  out[0] = loss / r->B;
}

static void run_aam(int64_t B, int64_t E, int64_t N, double m, double s, uint64_t seed) {
  int64_t ne = B * E, nw = N * E;
  float *emb = tu_alloc_rand(ne, -1, 1, seed), *w = tu_alloc_rand(nw, -1, 1, seed + 1);
  float *de = tu_zeros(ne), *dw = tu_zeros(nw);
  int32_t y[16];
  philox_rng r;
  philox_init(&r, seed, 7);
  for (int64_t b = 0; b < B; b++) y[b] = (int32_t)philox_below(&r, (uint64_t)N);
  arena ar;
  arena_init(&ar, 1 << 16);
  spk_aam_out o;
  assert_int_equal(spk_aam_loss(be, emb, w, y, B, E, N, (float)m, (float)s, de, dw, &o, &ar, &err), 0);
  ref_aam ctx = {B, E, N, y, m, s};
  double *din[2] = {tu_to_double(emb, ne), tu_to_double(w, nw)}, ref;
  ref_aam_loss(&ctx, din, &ref);
  char what[96];
  snprintf(what, sizeof what, "aam B=%lld E=%lld N=%lld m=%g s=%g", (long long)B, (long long)E, (long long)N, m, s);
  if (fabs(o.loss - ref) > 1e-4 * fmax(1.0, fabs(ref))) fail_msg("%s: loss %.8g, reference %.8g", what, o.loss, ref);
  const float dy = 1.0f;
  int64_t in_n[2] = {ne, nw};
  const float *in[2] = {emb, w}, *g[2] = {de, dw};
  assert_true(tu_gradcheck(what, ref_aam_loss, &ctx, 2, in_n, in, 1, &dy, g, 1e-4, 5e-3));
  /* without gradient buffers only the loss is computed, and it is the same */
  spk_aam_out o2;
  assert_int_equal(spk_aam_loss(be, emb, w, y, B, E, N, (float)m, (float)s, NULL, NULL, &o2, &ar, &err), 0);
  assert_true(o2.loss == o.loss);
  free(din[0]), free(din[1]), free(emb), free(w), free(de), free(dw);
  arena_free(&ar);
}

static void test_aam_grad(void **state) {
  (void)state;
  run_aam(4, 5, 3, 0.2, 30, 400);
  run_aam(6, 3, 5, 0.2, 10, 401);
  run_aam(8, 2, 4, 1.2, 5, 402); /* a large margin: some targets take the c - m sin m branch */
  run_aam(3, 4, 6, 0.0, 1, 403); /* plain normalised softmax */
}

static void test_aam_bad_args(void **state) {
  (void)state;
  float emb[4] = {1, 0, 0, 1}, w[4] = {1, 0, 0, 1};
  int32_t y[2] = {0, 2};
  arena ar;
  arena_init(&ar, 1 << 12);
  assert_int_equal(spk_aam_loss(be, emb, w, y, 2, 2, 2, 0.2f, 30, NULL, NULL, NULL, &ar, &err), TS_EARG);
  assert_non_null(strstr(err.msg, "label 2 of row 1"));
  y[1] = 1;
  assert_int_equal(spk_aam_loss(be, emb, w, y, 2, 2, 2, -0.1f, 30, NULL, NULL, NULL, &ar, &err), TS_EARG);
  assert_non_null(strstr(err.msg, "margin"));
  arena_free(&ar);
}

static void test_encoder_bad_args(void **state) {
  (void)state;
  spk_cfg c;
  spk_cfg_default(&c);
  c.kernels[1] = 4;
  spk_model m;
  assert_int_equal(spk_model_init(&m, &c, be, 0, 0, &err), TS_EARG);
  assert_non_null(strstr(err.msg, "layer 1 kernel 4"));
  spk_cfg_default(&c);
  c.n_mels = 3, c.n_layers = 1, c.channels[0] = 4, c.kernels[0] = 3, c.emb_dim = 2;
  assert_int_equal(spk_model_init(&m, &c, be, 0, 0, &err), 0);
  float x[12] = {0}, emb[2];
  arena ar;
  arena_init(&ar, 1 << 12);
  /* a length past T is refused by the pooling op, naming it */
  const int32_t lens[1] = {5};
  assert_int_equal(spk_forward(&m, 1, 4, x, lens, emb, NULL, &ar, &err), TS_EARG);
  assert_non_null(strstr(err.msg, "lens[0] = 5"));
  /* no gradients: backward refuses */
  spk_acts a;
  assert_int_equal(spk_forward(&m, 1, 4, x, NULL, emb, &a, &ar, &err), 0);
  assert_int_equal(spk_backward(&m, &a, emb, &ar, &err), TS_EARG);
  arena_free(&ar);
  spk_model_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encoder_grad),
      cmocka_unit_test(test_aam_grad),
      cmocka_unit_test(test_aam_bad_args),
      cmocka_unit_test(test_encoder_bad_args),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
