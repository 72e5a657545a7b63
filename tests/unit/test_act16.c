/* test_act16.c — bf16 activation storage (op_act_dtype): on the CPU and the simulated device,
 * in the f32 and the bf16 GEMM precision, a norm's, an activation's or SwiGLU's bf16 output is
 * bit for bit the f32 output rounded to nearest even, and matmul / matmul_bwd and conv1d /
 * conv1d_bwd on a bf16 x give bit for bit what they give on its values in f32; the ops refuse bf16 where they do not take
 * it, naming the operand; the policy follows the precision and its switch. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tensor/cpu_act16.h"
#include "tensor/devsim.h"
#include "tensor/gemm.h"
#include "tensor/ops.h"

static uint32_t g_rng = 12345u;
static float rnd(void) {
  g_rng = g_rng * 1664525u + 1013904223u;
  return (float)((g_rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* a device buffer of n elements of dtype dt, filled from host (or zeroed) */
typedef struct dbuf {
  backend *be;
  void *p;
  size_t bytes;
} dbuf;

static tensor dview(backend *be, dbuf *b, ts_dtype dt, int nd, int64_t d0, int64_t d1, const void *host) {
  tensor t = tensor_dev(be->device, NULL, nd, d0, d1, 0, 0);
  t.dtype = dt;
  b->be = be;
  b->bytes = tensor_nbytes(&t);
  b->p = be->ops->alloc(be, b->bytes);
  assert_non_null(b->p);
  t.data = b->p;
  ts_err e = {0};
  if (host) {
    assert_int_equal(be->ops->to_device(be, b->p, host, b->bytes, &e), TS_OK);
  } else {
    void *z = calloc(1, b->bytes);
    assert_int_equal(be->ops->to_device(be, b->p, z, b->bytes, &e), TS_OK);
    free(z);
  }
  return t;
}

static void *dget(dbuf *b) {
  void *h = malloc(b->bytes);
  ts_err e = {0};
  assert_int_equal(b->be->ops->to_host(b->be, h, b->p, b->bytes, &e), TS_OK);
  return h;
}

static void dfree(dbuf *b) { b->be->ops->release(b->be, b->p); }

/* the f32 output y32 (n) rounded must be the bf16 output y16 bit for bit */
static void same_rounded(const char *what, const float *y32, const uint16_t *y16, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (f32_to_bf16(y32[i]) != y16[i])
      fail_msg("%s: element %lld: f32 %.9g rounds to 0x%04x, bf16 output 0x%04x", what, (long long)i, y32[i],
               f32_to_bf16(y32[i]), y16[i]);
}

enum { R = 37, C = 96, N = 40 };

/* rmsnorm, layernorm, the activations and SwiGLU with an f32 and a bf16 y */
static void outputs_on(backend *be) {
  ts_err e = {0};
  float x[R * C], w[C], bias[C], gu[R * 2 * C];
  for (int i = 0; i < R * C; i++) x[i] = 3.0f * rnd();
  for (int i = 0; i < C; i++) w[i] = 1.0f + rnd(), bias[i] = rnd();
  for (int i = 0; i < R * 2 * C; i++) gu[i] = 2.0f * rnd();
  dbuf bx, bw, bb, bgu, b32, b16, bs1, bs2;
  tensor X = dview(be, &bx, DT_F32, 2, R, C, x), W = dview(be, &bw, DT_F32, 1, C, 0, w),
         Bi = dview(be, &bb, DT_F32, 1, C, 0, bias), GU = dview(be, &bgu, DT_F32, 2, R, 2 * C, gu);
  tensor Y32 = dview(be, &b32, DT_F32, 2, R, C, NULL), Y16 = dview(be, &b16, DT_BF16, 2, R, C, NULL);
  tensor S1 = dview(be, &bs1, DT_F32, 1, R, 0, NULL), S2 = dview(be, &bs2, DT_F32, 1, R, 0, NULL);
  for (int op = 0; op < 6; op++) {
    static const char *const name[] = {"rmsnorm", "layernorm", "gelu", "relu", "silu", "swiglu_packed"};
    for (int k = 0; k < 2; k++) {
      tensor *Y = k ? &Y16 : &Y32;
      int rc;
      switch (op) {
        case 0: rc = op_rmsnorm(be, &X, &W, Y, &S1, 1e-6f, &e); break;
        case 1: rc = op_layernorm(be, &X, &W, &Bi, Y, &S1, &S2, 1e-5f, &e); break;
        case 2: rc = op_act(be, ACT_GELU, &X, Y, &e); break;
        case 3: rc = op_act(be, ACT_RELU, &X, Y, &e); break;
        case 4: rc = op_act(be, ACT_SILU, &X, Y, &e); break;
        default: rc = op_swiglu_packed(be, &GU, Y, &e); break;
      }
      if (rc) fail_msg("%s (%s y) on %s: %s", name[op], k ? "bf16" : "f32", be->ops->name, e.msg);
    }
    float *y32 = dget(&b32);
    uint16_t *y16 = dget(&b16);
    same_rounded(name[op], y32, y16, R * C);
    free(y32);
    free(y16);
  }
  dbuf *all[] = {&bx, &bw, &bb, &bgu, &b32, &b16, &bs1, &bs2};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dfree(all[i]);
}

/* matmul (with bias, beta 0 and 1) and matmul_bwd on a bf16 x against the same values in f32;
 * nb > 1: x (nb, R, C) against a batched W (nb, N, C) (a GEMM per batch row, dW per row) */
static void gemms_batched(backend *be, int nb) {
  ts_err e = {0};
  enum { NB = 2 };
  uint16_t x16[NB * R * C];
  float x32[NB * R * C], w[NB * N * C], bias[N], c0[NB * R * N], dc[NB * R * N];
  for (int i = 0; i < NB * R * C; i++) x16[i] = f32_to_bf16(2.0f * rnd()), x32[i] = bf16_to_f32(x16[i]);
  for (int i = 0; i < NB * N * C; i++) w[i] = rnd();
  for (int i = 0; i < N; i++) bias[i] = rnd();
  for (int i = 0; i < NB * R * N; i++) c0[i] = rnd(), dc[i] = rnd();
  for (int beta = 0; beta <= 1; beta++) {
    dbuf bx[2], bw, bbias, bc[2], bdc, bda[2], bdw[2], bdb[2];
    tensor Wt = dview(be, &bw, DT_F32, 2, nb * N, C, w), Bs = dview(be, &bbias, DT_F32, 1, N, 0, bias),
           DC = dview(be, &bdc, DT_F32, 2, nb * R, N, dc);
    tensor X[2], Cc[2], DA[2], DW[2], DB[2];
    for (int k = 0; k < 2; k++) { /* k = 0: x in f32; k = 1: x in bf16 */
      X[k] = k ? dview(be, &bx[k], DT_BF16, 2, nb * R, C, x16) : dview(be, &bx[k], DT_F32, 2, nb * R, C, x32);
      Cc[k] = dview(be, &bc[k], DT_F32, 2, nb * R, N, c0);
      DA[k] = dview(be, &bda[k], DT_F32, 2, nb * R, C, NULL);
      DW[k] = dview(be, &bdw[k], DT_F32, 2, nb * N, C, NULL);
      DB[k] = dview(be, &bdb[k], DT_F32, 1, N, 0, NULL);
      if (nb > 1) { /* (nb, rows, cols) views of the same buffers */
        tensor *t3[] = {&X[k], &Cc[k], &DA[k], &DW[k]};
        for (int j = 0; j < 4; j++) *t3[j] = (tensor){t3[j]->data, t3[j]->dtype, t3[j]->device, 3, {nb, t3[j]->ne[0] / nb, t3[j]->ne[1], 0}};
      }
      tensor W3 = nb > 1 ? (tensor){Wt.data, DT_F32, Wt.device, 3, {nb, N, C, 0}} : Wt;
      tensor DC3 = nb > 1 ? (tensor){DC.data, DT_F32, DC.device, 3, {nb, R, N, 0}} : DC;
      if (op_matmul(be, &X[k], &W3, beta ? NULL : &Bs, &Cc[k], 0, 1, (float)beta, &e) ||
          op_matmul_bwd(be, &X[k], &W3, &DC3, &DA[k], &DW[k], &DB[k], 0, 1, &e))
        fail_msg("matmul (%s x) on %s: %s", k ? "bf16" : "f32", be->ops->name, e.msg);
    }
    dbuf *pairs[4][2] = {{&bc[0], &bc[1]}, {&bda[0], &bda[1]}, {&bdw[0], &bdw[1]}, {&bdb[0], &bdb[1]}};
    static const char *const what[] = {"y", "dx", "dW", "dbias"};
    for (int p = 0; p < 4; p++) {
      void *a = dget(pairs[p][0]), *b = dget(pairs[p][1]);
      if (memcmp(a, b, pairs[p][0]->bytes)) fail_msg("matmul %s on %s (beta %d): bf16 x differs", what[p], be->ops->name, beta);
      free(a);
      free(b);
    }
    dbuf *all[] = {&bw, &bbias, &bdc};
    for (size_t i = 0; i < 3; i++) dfree(all[i]);
    for (int k = 0; k < 2; k++) {
      dfree(&bx[k]);
      dfree(&bc[k]);
      dfree(&bda[k]);
      dfree(&bdw[k]);
      dfree(&bdb[k]);
    }
  }
}

/* conv1d (bias) and conv1d_bwd (dx, dW, dbias) on a bf16 x against its values in f32: strided,
 * padded and grouped, and K = 1 (a GEMM straight on x) */
static void conv_case(backend *be, int64_t Cin, int64_t T, int64_t Cout, int64_t K, int stride, int pad, int groups) {
  enum { B = 2 };
  ts_err e = {0};
  int64_t To = op_conv1d_out_len(T, K, stride, pad), nx = B * Cin * T, nw = Cout * (Cin / groups) * K, ny = B * Cout * To;
  uint16_t *x16 = malloc(sizeof *x16 * (size_t)nx);
  float *x32 = malloc(sizeof *x32 * (size_t)nx), *w = malloc(sizeof *w * (size_t)nw), bias[64], *dy = malloc(sizeof *dy * (size_t)ny);
  for (int64_t i = 0; i < nx; i++) x16[i] = f32_to_bf16(rnd()), x32[i] = bf16_to_f32(x16[i]);
  for (int64_t i = 0; i < nw; i++) w[i] = rnd();
  for (int64_t i = 0; i < Cout; i++) bias[i] = rnd();
  for (int64_t i = 0; i < ny; i++) dy[i] = rnd();
  dbuf bx[2], bw, bb, bdy, by[2], bdx[2], bdw[2], bdb[2];
  tensor W = dview(be, &bw, DT_F32, 1, nw, 0, w), Bs = dview(be, &bb, DT_F32, 1, Cout, 0, bias),
         DY = dview(be, &bdy, DT_F32, 1, ny, 0, dy);
  W.ndim = 3, W.ne[0] = Cout, W.ne[1] = Cin / groups, W.ne[2] = K;
  DY.ndim = 3, DY.ne[0] = B, DY.ne[1] = Cout, DY.ne[2] = To;
  for (int k = 0; k < 2; k++) {
    tensor X = k ? dview(be, &bx[k], DT_BF16, 1, nx, 0, x16) : dview(be, &bx[k], DT_F32, 1, nx, 0, x32),
           Y = dview(be, &by[k], DT_F32, 1, ny, 0, NULL), DX = dview(be, &bdx[k], DT_F32, 1, nx, 0, NULL),
           DW = dview(be, &bdw[k], DT_F32, 1, nw, 0, NULL), DB = dview(be, &bdb[k], DT_F32, 1, Cout, 0, NULL);
    X.ndim = DX.ndim = 3, X.ne[0] = DX.ne[0] = B, X.ne[1] = DX.ne[1] = Cin, X.ne[2] = DX.ne[2] = T;
    Y.ndim = 3, Y.ne[0] = B, Y.ne[1] = Cout, Y.ne[2] = To;
    DW.ndim = 3, DW.ne[0] = Cout, DW.ne[1] = Cin / groups, DW.ne[2] = K;
    if (op_conv1d(be, &X, &W, &Bs, &Y, stride, pad, groups, &e) ||
        op_conv1d_bwd(be, &X, &W, &DY, &DX, &DW, &DB, stride, pad, groups, &e))
      fail_msg("conv1d (%s x) on %s: %s", k ? "bf16" : "f32", be->ops->name, e.msg);
  }
  dbuf *pairs[4][2] = {{&by[0], &by[1]}, {&bdx[0], &bdx[1]}, {&bdw[0], &bdw[1]}, {&bdb[0], &bdb[1]}};
  static const char *const what[] = {"y", "dx", "dW", "dbias"};
  for (int p = 0; p < 4; p++) {
    void *u = dget(pairs[p][0]), *v = dget(pairs[p][1]);
    if (memcmp(u, v, pairs[p][0]->bytes))
      fail_msg("conv1d K=%lld groups=%d %s on %s: bf16 x differs", (long long)K, groups, what[p], be->ops->name);
    free(u);
    free(v);
  }
  dbuf *all[] = {&bx[0], &bx[1], &bw, &bb, &bdy, &by[0], &by[1], &bdx[0], &bdx[1], &bdw[0], &bdw[1], &bdb[0], &bdb[1]};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dfree(all[i]);
  free(x16), free(x32), free(w), free(dy);
}

static void convs_on(backend *be) {
  conv_case(be, 6, 41, 4, 3, 2, 1, 2);
  conv_case(be, 8, 30, 16, 1, 1, 0, 1);
  conv_case(be, 64, 300, 64, 3, 2, 0, 1); /* large enough for the bf16 GEMM's size threshold */
}

/* x W with W stored (C, N) (tb = 0): the backward's dW = x^T dC reads x transposed */
static void gemm_nn_on(backend *be) {
  ts_err e = {0};
  uint16_t x16[R * C];
  float x32[R * C], w[C * N], dc[R * N];
  for (int i = 0; i < R * C; i++) x16[i] = f32_to_bf16(rnd()), x32[i] = bf16_to_f32(x16[i]);
  for (int i = 0; i < C * N; i++) w[i] = rnd();
  for (int i = 0; i < R * N; i++) dc[i] = rnd();
  dbuf bx[2], bw, bdc, by[2], bdx[2], bdw[2];
  tensor W = dview(be, &bw, DT_F32, 2, C, N, w), DC = dview(be, &bdc, DT_F32, 2, R, N, dc);
  for (int k = 0; k < 2; k++) {
    tensor X = k ? dview(be, &bx[k], DT_BF16, 2, R, C, x16) : dview(be, &bx[k], DT_F32, 2, R, C, x32),
           Y = dview(be, &by[k], DT_F32, 2, R, N, NULL), DX = dview(be, &bdx[k], DT_F32, 2, R, C, NULL),
           DW = dview(be, &bdw[k], DT_F32, 2, C, N, NULL);
    if (op_matmul(be, &X, &W, NULL, &Y, 0, 0, 0.0f, &e) || op_matmul_bwd(be, &X, &W, &DC, &DX, &DW, NULL, 0, 0, &e))
      fail_msg("matmul tb=0 (%s x) on %s: %s", k ? "bf16" : "f32", be->ops->name, e.msg);
  }
  dbuf *pairs[3][2] = {{&by[0], &by[1]}, {&bdx[0], &bdx[1]}, {&bdw[0], &bdw[1]}};
  for (int p = 0; p < 3; p++) {
    void *u = dget(pairs[p][0]), *v = dget(pairs[p][1]);
    if (memcmp(u, v, pairs[p][0]->bytes)) fail_msg("matmul tb=0 output %d on %s: bf16 x differs", p, be->ops->name);
    free(u);
    free(v);
  }
  dbuf *all[] = {&bx[0], &bx[1], &bw, &bdc, &by[0], &by[1], &bdx[0], &bdx[1], &bdw[0], &bdw[1]};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dfree(all[i]);
}

/* gemm_mp16 straight: either operand bf16, stored transposed or not, in a block wider than
 * its rows (ld > cols), against gemm_mp on the widened values (dense) */
static void gemm_mp16_on(backend *be) {
  (void)be; /* backend-independent: once per precision */
  enum { GM = 70, GN = 66, GK = 96, PAD = 5 };
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int which = 0; which < 2; which++) { /* 0: A in bf16, 1: B */
        int ar = ta ? GK : GM, ac = ta ? GM : GK, br = tb ? GN : GK, bc = tb ? GK : GN;
        int ld16 = (which ? bc : ac) + PAD, rows16 = which ? br : ar, cols16 = which ? bc : ac;
        uint16_t *h = malloc(sizeof *h * (size_t)(rows16 * ld16));
        float *wide = malloc(sizeof *wide * (size_t)(rows16 * cols16));
        float *other = malloc(sizeof *other * (size_t)((which ? ar * ac : br * bc)));
        float c1[GM * GN], c2[GM * GN];
        for (int i = 0; i < rows16 * ld16; i++) h[i] = f32_to_bf16(rnd());
        for (int r = 0; r < rows16; r++)
          for (int c = 0; c < cols16; c++) wide[r * cols16 + c] = bf16_to_f32(h[r * ld16 + c]);
        for (int i = 0; i < (which ? ar * ac : br * bc); i++) other[i] = rnd();
        for (int i = 0; i < GM * GN; i++) c1[i] = c2[i] = rnd();
        if (which) {
          assert_int_equal(gemm_mp16(ta, tb, GM, GN, GK, 0.5f, other, 0, ac, h, 1, ld16, 1.0f, c1, GN), 0);
          gemm_mp(ta, tb, GM, GN, GK, 0.5f, other, ac, wide, cols16, 1.0f, c2, GN);
        } else {
          assert_int_equal(gemm_mp16(ta, tb, GM, GN, GK, 0.5f, h, 1, ld16, other, 0, bc, 1.0f, c1, GN), 0);
          gemm_mp(ta, tb, GM, GN, GK, 0.5f, wide, cols16, other, bc, 1.0f, c2, GN);
        }
        if (memcmp(c1, c2, sizeof c1))
          fail_msg("gemm_mp16 ta=%d tb=%d bf16 %s (ld %d) differs from gemm_mp on its values (%s)", ta, tb,
                   which ? "B" : "A", ld16, gemm_precision());
        free(h), free(wide), free(other);
      }
  float c[4] = {0};
  uint16_t z[4] = {0};
  assert_int_equal(gemm_mp16(0, 0, 2, 2, 2, 1.0f, z, 1, 2, z, 1, 2, 0.0f, c, 2), TS_EARG); /* one bf16 operand at most */
}

static void gemms_on(backend *be) {
  gemms_batched(be, 1);
  gemms_batched(be, 2);
  gemm_nn_on(be);
  if (be == be_cpu()) gemm_mp16_on(be);
}

/* both backends, in each precision this machine has: f32, bf16 for every GEMM however small,
 * and bf16 as it is used (the small GEMMs of these cases in f32 on the bf16-rounded x) */
static void each(void (*fn)(backend *)) {
  for (int prec = 0; prec < 3; prec++) {
    if (prec && gemm_set_precision("bf16") != TS_OK) continue; /* no bf16 GEMM here: f32 only */
    gemm_bf16_all(prec == 1);
    fn(be_cpu());
    fn(be_devsim());
    gemm_bf16_all(0);
    assert_int_equal(gemm_set_precision("f32"), TS_OK);
  }
  const char *last;
  assert_int_equal(devsim_violations(&last), 0);
}

static void test_outputs(void **s) {
  (void)s;
  each(outputs_on);
}

static void test_convs(void **s) {
  (void)s;
  each(convs_on);
}

static void test_gemms(void **s) {
  (void)s;
  each(gemms_on);
}

/* where bf16 is not taken: the weight, a transposed x, gradients, other ops */
static void test_refusals(void **s) {
  (void)s;
  backend *be = be_cpu();
  ts_err e = {0};
  uint16_t h[R * 2 * C];
  float f[R * 2 * C], st[R];
  memset(h, 0, sizeof h);
  memset(f, 0, sizeof f);
  tensor X16 = tensor_f32((float *)h, 2, R, C, 0, 0), X32 = tensor_f32(f, 2, R, C, 0, 0);
  X16.dtype = DT_BF16;
  tensor W16 = tensor_f32((float *)h, 2, N, C, 0, 0), W32 = tensor_f32(f, 2, N, C, 0, 0), Y = tensor_f32(f, 2, R, N, 0, 0);
  W16.dtype = DT_BF16;
  tensor S = tensor_f32(st, 1, R, 0, 0, 0), GU = tensor_f32(f, 2, R, 2 * C, 0, 0);
  assert_int_equal(op_matmul(be, &X32, &W16, NULL, &Y, 0, 1, 0.0f, &e), TS_EUNSUP);
  assert_non_null(strstr(e.msg, "matmul: b is BF16"));
  tensor XT16 = tensor_f32((float *)h, 2, C, R, 0, 0);
  XT16.dtype = DT_BF16;
  assert_int_equal(op_matmul(be, &XT16, &W32, NULL, &Y, 1, 1, 0.0f, &e), TS_EUNSUP);
  assert_non_null(strstr(e.msg, "a is BF16"));
  tensor Y16 = Y;
  Y16.dtype = DT_BF16;
  assert_int_equal(op_matmul(be, &X32, &W32, NULL, &Y16, 0, 1, 0.0f, &e), TS_EUNSUP);
  assert_int_equal(op_rmsnorm_bwd(be, &X32, NULL, &S, &X16, &X32, NULL, &e), TS_EUNSUP);
  assert_non_null(strstr(e.msg, "rmsnorm_bwd"));
  assert_int_equal(op_rmsnorm(be, &X16, NULL, &X32, &S, 1e-6f, &e), TS_EUNSUP); /* x itself */
  assert_int_equal(op_swiglu_packed_bwd(be, &GU, &X16, &GU, &e), TS_EUNSUP);
  assert_int_equal(op_act_bwd(be, ACT_GELU, &X32, &X16, &X32, &e), TS_EUNSUP);
  assert_int_equal(op_add(be, &X32, &X32, &X16, &e), TS_EUNSUP);
  tensor Z16 = tensor_f32((float *)h, 3, 1, C, R, 0), Z32 = tensor_f32(f, 3, 1, C, R, 0);
  Z16.dtype = DT_BF16;
  assert_int_equal(op_layernorm_ch(be, &Z32, NULL, NULL, &Z16, NULL, NULL, 1e-5f, &e), TS_EUNSUP);
  assert_non_null(strstr(e.msg, "F32 here"));
}

static void test_policy(void **s) {
  (void)s;
  assert_int_equal(gemm_set_precision("f32"), TS_OK);
  assert_int_equal(op_act_dtype(be_cpu()), DT_F32); /* f32 precision: f32 activations */
  assert_int_equal(op_act_dtype(NULL), DT_F32);
  if (gemm_set_precision("bf16") == TS_OK) {
    int was = cpu_act_bf16();
    cpu_set_act_bf16(1);
    assert_int_equal(op_act_dtype(be_cpu()), DT_BF16);
    assert_int_equal(op_act_dtype(be_devsim()), DT_BF16);
    cpu_set_act_bf16(0);
    assert_int_equal(op_act_dtype(be_cpu()), DT_F32);
    cpu_set_act_bf16(was);
    assert_int_equal(gemm_set_precision("f32"), TS_OK);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_outputs), cmocka_unit_test(test_gemms),
                                     cmocka_unit_test(test_convs), cmocka_unit_test(test_refusals),
                                     cmocka_unit_test(test_policy)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
