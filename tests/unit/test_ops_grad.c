/* test_ops_grad.c — every CPU op: forward against the naive double reference, backward
 * against central finite differences of that reference (double precision), on random
 * shapes including odd sizes, GQA ratios, masks and biases. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ref_ops.h"
#include "tensor/conv_cl.h"
#include "tensor/ops.h"
#include "tensor/par.h"
#include "testutil.h"

#define FWD_TOL 2e-5
#define GRAD_TOL 1e-4 /* f32 backward vs double finite differences; measured worst ~1e-5 */
#define FD_H 1e-5

static backend *be;
static ts_err err;

static int setup(void **state) {
  (void)state;
  be = be_cpu();
  return 0;
}

/* forward of our op vs reference */
static int fwd_ok(const char *what, tu_ref_fn f, void *ctx, int n_in, const int64_t *in_n,
                  const float *const *in, const float *out, int64_t n_out) {
  double *din[8], *ref = malloc(sizeof(double) * (size_t)(n_out ? n_out : 1));
  for (int i = 0; i < n_in; i++) din[i] = tu_to_double(in[i], in_n[i]);
  f(ctx, din, ref);
  int ok = tu_close(what, out, ref, n_out, FWD_TOL, 1e-6);
  for (int i = 0; i < n_in; i++) free(din[i]);
  free(ref);
  return ok;
}

/* ---- matmul ---- */
static void run_matmul(int64_t ba, int64_t bb, int64_t M, int64_t N, int64_t K, int ta, int tb, int bias,
                       uint64_t seed) {
  int64_t na = ba * M * K, nb = bb * K * N, nc = ba * M * N;
  float *a = tu_alloc_rand(na, -1, 1, seed), *b = tu_alloc_rand(nb, -1, 1, seed + 1);
  float *bs = tu_alloc_rand(N, -1, 1, seed + 2), *c = tu_zeros(nc), *dy = tu_alloc_rand(nc, -1, 1, seed + 3);
  float *da = tu_zeros(na), *db = tu_zeros(nb), *dbs = tu_zeros(N);
  tensor A = ba > 1 ? tensor_f32(a, 3, ba, ta ? K : M, ta ? M : K, 0) : tensor_f32(a, 2, ta ? K : M, ta ? M : K, 0, 0);
  tensor B = bb > 1 ? tensor_f32(b, 3, bb, tb ? N : K, tb ? K : N, 0) : tensor_f32(b, 2, tb ? N : K, tb ? K : N, 0, 0);
  tensor C = ba > 1 ? tensor_f32(c, 3, ba, M, N, 0) : tensor_f32(c, 2, M, N, 0, 0);
  tensor DY = C;
  DY.data = dy;
  tensor DA = A, DB = B, BS = tensor_f32(bs, 1, N, 0, 0, 0), DBS = tensor_f32(dbs, 1, N, 0, 0, 0);
  DA.data = da;
  DB.data = db;
  assert_int_equal(op_matmul(be, &A, &B, bias ? &BS : NULL, &C, ta, tb, 0.0f, &err), 0);
  ref_mm ctx = {ba, bb, M, N, K, ta, tb, bias};
  int64_t in_n[3] = {na, nb, N};
  const float *in[3] = {a, b, bs};
  char what[128];
  snprintf(what, sizeof what, "matmul ba=%lld bb=%lld M=%lld N=%lld K=%lld ta=%d tb=%d bias=%d", (long long)ba,
           (long long)bb, (long long)M, (long long)N, (long long)K, ta, tb, bias);
  assert_true(fwd_ok(what, ref_matmul, &ctx, bias ? 3 : 2, in_n, in, c, nc));
  assert_int_equal(op_matmul_bwd(be, &A, &B, &DY, &DA, &DB, bias ? &DBS : NULL, ta, tb, &err), 0);
  const float *g[3] = {da, db, bias ? dbs : NULL};
  assert_true(tu_gradcheck(what, ref_matmul, &ctx, bias ? 3 : 2, in_n, in, nc, dy, g, FD_H, GRAD_TOL));
  /* dA written (op_matmul_bwd_set) over a NaN start: the values added to zero above (a -0 may
   * come out where 0 + -0 gave +0); db, dbias still added (to starts of 1) */
  float *da2 = tu_zeros(na), *db2 = tu_zeros(nb), *dbs2 = tu_zeros(N);
  for (int64_t i = 0; i < na; i++) da2[i] = NAN;
  for (int64_t i = 0; i < nb; i++) db2[i] = 1.0f;
  for (int64_t i = 0; i < N; i++) dbs2[i] = 1.0f;
  tensor DA2 = DA, DB2 = DB, DBS2 = DBS;
  DA2.data = da2, DB2.data = db2, DBS2.data = dbs2;
  assert_int_equal(op_matmul_bwd_set(be, &A, &B, &DY, &DA2, &DB2, bias ? &DBS2 : NULL, ta, tb, &err), 0);
  for (int64_t i = 0; i < na; i++) assert_true(da2[i] == da[i]);
  for (int64_t i = 0; i < nb; i++) assert_true(fabsf(db2[i] - (db[i] + 1.0f)) <= 1e-5f * (1.0f + fabsf(db[i])));
  for (int64_t i = 0; bias && i < N; i++) assert_true(fabsf(dbs2[i] - (dbs[i] + 1.0f)) <= 1e-5f * (1.0f + fabsf(dbs[i])));
  free(da2), free(db2), free(dbs2);
  free(a), free(b), free(bs), free(c), free(dy), free(da), free(db), free(dbs);
}

/* a written dA (op_matmul_bwd_set) must not overlap a, b or dc; no gradient may overlap dc, nor
 * dbias da or db: refused, nothing written */
static void test_matmul_set_alias(void **state) {
  (void)state;
  float buf[64];
  for (int i = 0; i < 64; i++) buf[i] = 0.5f;
  tensor A = tensor_f32(buf, 2, 4, 4, 0, 0), B = tensor_f32(buf + 16, 2, 4, 4, 0, 0), DC = tensor_f32(buf + 32, 2, 4, 4, 0, 0);
  tensor DA = tensor_f32(buf + 40, 2, 4, 4, 0, 0); /* overlaps dc */
  assert_int_equal(op_matmul_bwd_set(be, &A, &B, &DC, &DA, NULL, NULL, 0, 1, &err), TS_EARG);
  assert_non_null(strstr(err.msg, "overlap"));
  for (int i = 0; i < 64; i++) assert_true(buf[i] == 0.5f);
  DA.data = buf + 48; /* apart from all three */
  assert_int_equal(op_matmul_bwd_set(be, &A, &B, &DC, &DA, NULL, NULL, 0, 1, &err), TS_OK);
  assert_true(buf[48] == 4 * 0.25f);
  /* added gradients too: none may overlap dc, nor dbias da or db (refused, nothing written) */
  float g[80];
  for (int i = 0; i < 80; i++) g[i] = 0.5f;
  tensor DC2 = tensor_f32(g, 2, 4, 4, 0, 0), DB2 = tensor_f32(g + 16, 2, 4, 4, 0, 0), DA2 = tensor_f32(g + 32, 2, 4, 4, 0, 0);
  tensor BS_DC = tensor_f32(g + 8, 1, 4, 0, 0, 0), BS_DB = tensor_f32(g + 20, 1, 4, 0, 0, 0), BS = tensor_f32(g + 64, 1, 4, 0, 0, 0);
  tensor DB_DC = tensor_f32(g + 4, 2, 4, 4, 0, 0);
  assert_int_equal(op_matmul_bwd(be, &A, &B, &DC2, NULL, &DB_DC, NULL, 0, 1, &err), TS_EARG); /* db on dc */
  assert_non_null(strstr(err.msg, "overlap dc"));
  assert_int_equal(op_matmul_bwd(be, &A, &B, &DC2, &DA2, NULL, &BS_DC, 0, 1, &err), TS_EARG); /* dbias on dc */
  assert_int_equal(op_matmul_bwd(be, &A, &B, &DC2, &DA2, &DB2, &BS_DB, 0, 1, &err), TS_EARG); /* dbias on db */
  assert_non_null(strstr(err.msg, "dbias must not overlap"));
  for (int i = 0; i < 80; i++) assert_true(g[i] == 0.5f);
  assert_int_equal(op_matmul_bwd(be, &A, &B, &DC2, &DA2, &DB2, &BS, 0, 1, &err), TS_OK); /* all apart */
  assert_true(g[64] == 0.5f + 4 * 0.5f); /* the 4 rows of dc */
}

/* a GEMM onto a residual (op_matmul_res): c = a b^T + bias + r, r left as it was, bit for bit
 * what a copy of r and matmul with beta 1 give; r = c is that in place; refused, nothing
 * written: r overlapping c without being c, c overlapping a, r of another shape or not f32 */
static void test_matmul_res(void **state) {
  (void)state;
  float buf[128], ref[16];
  for (int i = 0; i < 128; i++) buf[i] = 0.25f + 0.01f * (float)(i % 17);
  tensor A = tensor_f32(buf, 2, 4, 4, 0, 0), B = tensor_f32(buf + 16, 2, 4, 4, 0, 0), R = tensor_f32(buf + 32, 2, 4, 4, 0, 0),
         C = tensor_f32(buf + 48, 2, 4, 4, 0, 0), BS = tensor_f32(buf + 64, 1, 4, 0, 0, 0), REF = tensor_f32(ref, 2, 4, 4, 0, 0);
  for (int i = 48; i < 64; i++) buf[i] = NAN;
  assert_int_equal(op_matmul_res(be, &A, &B, &BS, &R, &C, 0, 1, &err), TS_OK);
  assert_int_equal(op_copy(be, &R, &REF, &err), TS_OK);
  assert_int_equal(op_matmul(be, &A, &B, &BS, &REF, 0, 1, 1.0f, &err), TS_OK);
  assert_memory_equal(buf + 48, ref, sizeof ref);
  for (int i = 32; i < 48; i++) assert_true(buf[i] == 0.25f + 0.01f * (float)(i % 17)); /* r unchanged */
  /* r = c: in place, as matmul with beta 1 */
  memcpy(ref, buf + 32, sizeof ref);
  assert_int_equal(op_matmul_res(be, &A, &B, NULL, &R, &R, 0, 1, &err), TS_OK);
  assert_int_equal(op_matmul(be, &A, &B, NULL, &REF, 0, 1, 1.0f, &err), TS_OK);
  assert_memory_equal(buf + 32, ref, sizeof ref);
  /* refusals */
  float keep[128];
  memcpy(keep, buf, sizeof keep);
  tensor RO = tensor_f32(buf + 40, 2, 4, 4, 0, 0); /* overlaps c without being c */
  assert_int_equal(op_matmul_res(be, &A, &B, NULL, &RO, &C, 0, 1, &err), TS_EARG);
  assert_non_null(strstr(err.msg, "overlap"));
  tensor CA = tensor_f32(buf + 8, 2, 4, 4, 0, 0); /* c overlaps a */
  assert_int_equal(op_matmul_res(be, &A, &B, NULL, &R, &CA, 0, 1, &err), TS_EARG);
  tensor CB = tensor_f32(buf + 62, 2, 4, 4, 0, 0); /* c overlaps the bias only */
  assert_int_equal(op_matmul_res(be, &A, &B, &BS, &R, &CB, 0, 1, &err), TS_EARG);
  assert_non_null(strstr(err.msg, "bias"));
  tensor R3 = tensor_f32(buf + 80, 2, 4, 3, 0, 0); /* another shape */
  assert_int_not_equal(op_matmul_res(be, &A, &B, NULL, &R3, &C, 0, 1, &err), TS_OK);
  tensor R16 = R; /* refused by the op layer's f32 check (ops_chk) */
  R16.dtype = DT_BF16;
  assert_int_not_equal(op_matmul_res(be, &A, &B, NULL, &R16, &C, 0, 1, &err), TS_OK);
  assert_memory_equal(buf, keep, sizeof keep);
}

/* the norms' backwards onto a residual's gradient and written (op_layernorm_bwd_to,
 * op_rmsnorm_bwd_to): bit for bit a copy of the residual (or a zero fill) and the adding
 * backward; dw, db still added; the residual unchanged; a dxin overlapping dx without being it,
 * or of another shape, refused with nothing written */
static void test_norm_bwd_to(void **state) {
  (void)state;
  const int64_t N = 7, C = 45;
  float *x = tu_alloc_rand(N * C, -2, 2, 77), *w = tu_alloc_rand(C, 0.5f, 1.5f, 78), *dy = tu_alloc_rand(N * C, -1, 1, 79),
        *res = tu_alloc_rand(N * C, -1, 1, 80);
  float *mean = calloc(N, 4), *rstd = calloc(N, 4), *y = calloc(N * C, 4);
  float *dx = calloc(N * C, 4), *ref = calloc(N * C, 4), *dw = tu_alloc_rand(C, -1, 1, 81),
        *db = tu_alloc_rand(C, -1, 1, 82), *dw2 = calloc(C, 4),
        *db2 = calloc(C, 4), *keep = calloc(N * C, 4);
  tensor X = tensor_f32(x, 2, N, C, 0, 0), W = tensor_f32(w, 1, C, 0, 0, 0), M = tensor_f32(mean, 1, N, 0, 0, 0),
         R = tensor_f32(rstd, 1, N, 0, 0, 0), Y = tensor_f32(y, 2, N, C, 0, 0), DY = tensor_f32(dy, 2, N, C, 0, 0),
         RES = tensor_f32(res, 2, N, C, 0, 0), DX = tensor_f32(dx, 2, N, C, 0, 0), REF = tensor_f32(ref, 2, N, C, 0, 0),
         DW = tensor_f32(dw, 1, C, 0, 0, 0), DB = tensor_f32(db, 1, C, 0, 0, 0), DW2 = tensor_f32(dw2, 1, C, 0, 0, 0),
         DB2 = tensor_f32(db2, 1, C, 0, 0, 0);
  memcpy(keep, res, sizeof(float) * (size_t)(N * C));
  for (int rms = 0; rms < 2; rms++) {
    if (rms) assert_int_equal(op_rmsnorm(be, &X, &W, &Y, &R, 1e-6f, &err), TS_OK);
    else assert_int_equal(op_layernorm(be, &X, &W, NULL, &Y, &M, &R, 1e-5f, &err), TS_OK);
    for (int mode = 0; mode < 2; mode++) { /* 0: onto the residual, 1: written */
      memcpy(dw2, dw, sizeof(float) * (size_t)C), memcpy(db2, db, sizeof(float) * (size_t)C);
      for (int64_t i = 0; i < N * C; i++) dx[i] = NAN, ref[i] = mode ? 0.0f : res[i];
      const tensor *in = mode ? NULL : &RES;
      if (rms) {
        assert_int_equal(op_rmsnorm_bwd_to(be, &X, &W, &R, &DY, in, &DX, &DW, &err), TS_OK);
        assert_int_equal(op_rmsnorm_bwd(be, &X, &W, &R, &DY, &REF, &DW2, &err), TS_OK);
      } else {
        assert_int_equal(op_layernorm_bwd_to(be, &X, &W, &M, &R, &DY, in, &DX, &DW, &DB, &err), TS_OK);
        assert_int_equal(op_layernorm_bwd(be, &X, &W, &M, &R, &DY, &REF, &DW2, &DB2, &err), TS_OK);
      }
      assert_memory_equal(dx, ref, sizeof(float) * (size_t)(N * C));
      assert_memory_equal(res, keep, sizeof(float) * (size_t)(N * C));
      /* dw, db added from the same start by both: the same bits */
      assert_memory_equal(dw, dw2, sizeof(float) * (size_t)C);
      assert_memory_equal(db, db2, sizeof(float) * (size_t)C);
    }
  }
  /* refusals */
  for (int64_t i = 0; i < N * C; i++) dx[i] = 0.5f;
  tensor PART = tensor_f32(dx + C, 2, N, C - 1, 0, 0); /* inside dx, another shape */
  assert_int_not_equal(op_layernorm_bwd_to(be, &X, &W, &M, &R, &DY, &PART, &DX, NULL, NULL, &err), TS_OK);
  tensor OVER = tensor_f32(dx + 1, 2, N - 1, C, 0, 0);
  tensor DXS = tensor_f32(dx, 2, N - 1, C, 0, 0);
  tensor XS = tensor_f32(x, 2, N - 1, C, 0, 0), MS = tensor_f32(mean, 1, N - 1, 0, 0, 0),
         RS = tensor_f32(rstd, 1, N - 1, 0, 0, 0), DYS = tensor_f32(dy, 2, N - 1, C, 0, 0);
  assert_int_equal(op_layernorm_bwd_to(be, &XS, &W, &MS, &RS, &DYS, &OVER, &DXS, NULL, NULL, &err), TS_EARG);
  assert_non_null(strstr(err.msg, "overlaps"));
  assert_int_equal(op_rmsnorm_bwd_to(be, &XS, &W, &RS, &DYS, &OVER, &DXS, NULL, &err), TS_EARG);
  assert_int_equal(op_layernorm_bwd_to(be, &X, &W, &M, &R, &DY, &RES, NULL, &DW, NULL, &err), TS_EARG); /* no dx */
  assert_non_null(strstr(err.msg, "without dx"));
  for (int64_t i = 0; i < N * C; i++) assert_true(dx[i] == 0.5f);
  free(x), free(w), free(dy), free(res), free(mean), free(rstd), free(y), free(dx), free(ref), free(dw), free(db);
  free(dw2), free(db2), free(keep);
}

static void test_matmul(void **state) {
  (void)state;
  uint64_t s = 100;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      run_matmul(1, 1, 5, 7, 3, ta, tb, 1, s++);
      run_matmul(3, 1, 4, 6, 5, ta, tb, 0, s++); /* batched A, broadcast B */
      run_matmul(2, 2, 3, 5, 9, ta, tb, 1, s++); /* batched both */
      run_matmul(1, 1, 1, 1, 1, ta, tb, 1, s++);
    }
}

/* the shape checker names the problem */
static void test_matmul_shape_error(void **state) {
  (void)state;
  float a[6], b[8], c[8];
  tensor A = tensor_f32(a, 2, 2, 3, 0, 0), B = tensor_f32(b, 2, 4, 2, 0, 0), C = tensor_f32(c, 2, 2, 2, 0, 0);
  assert_int_equal(op_matmul(be, &A, &B, NULL, &C, 0, 0, 0.0f, &err), TS_ESHAPE);
  assert_non_null(strstr(err.msg, "matmul"));
  assert_non_null(strstr(err.msg, "[2, 3]"));
}

/* a matrix with no rows (an adapter's output on audio shorter than its frame stacking) is a
 * GEMM of nothing: it writes nothing and adds nothing; it divided by zero */
static void test_matmul_no_rows(void **state) {
  (void)state;
  float a[1], w[6] = {1, 2, 3, 4, 5, 6}, bias[2] = {1, 1}, c[1], dw[6] = {0}, db[2] = {0}, dc[1];
  tensor A = tensor_f32(a, 2, 0, 3, 0, 0), W = tensor_f32(w, 2, 2, 3, 0, 0), Bs = tensor_f32(bias, 1, 2, 0, 0, 0),
         C = tensor_f32(c, 2, 0, 2, 0, 0), DC = tensor_f32(dc, 2, 0, 2, 0, 0), DW = tensor_f32(dw, 2, 2, 3, 0, 0),
         DB = tensor_f32(db, 1, 2, 0, 0, 0), A3 = tensor_f32(a, 3, 2, 0, 3, 0), C3 = tensor_f32(c, 3, 2, 0, 2, 0);
  assert_int_equal(op_matmul(be, &A, &W, &Bs, &C, 0, 1, 0.0f, &err), TS_OK);
  assert_int_equal(op_matmul(be, &A3, &W, NULL, &C3, 0, 1, 0.0f, &err), TS_OK);
  assert_int_equal(op_matmul_bwd(be, &A, &W, &DC, NULL, &DW, &DB, 0, 1, &err), TS_OK);
  for (int i = 0; i < 6; i++) assert_true(dw[i] == 0.0f);
  assert_true(db[0] == 0.0f && db[1] == 0.0f);
  /* a written dA over no rows: nothing to write, nothing read */
  float dx0[1] = {NAN};
  tensor DX0 = tensor_f32(dx0, 2, 0, 3, 0, 0);
  assert_int_equal(op_matmul_bwd_set(be, &A, &W, &DC, &DX0, &DW, &DB, 0, 1, &err), TS_OK);
  for (int i = 0; i < 6; i++) assert_true(dw[i] == 0.0f);
}

/* ---- norms ---- */
static void run_norm(int rms, int64_t N, int64_t C, int affine, int has_bias, uint64_t seed) {
  int64_t n = N * C;
  float *x = tu_alloc_rand(n, -2, 2, seed), *w = tu_alloc_rand(C, 0.5f, 1.5f, seed + 1);
  float *b = tu_alloc_rand(C, -1, 1, seed + 2), *y = tu_zeros(n), *dy = tu_alloc_rand(n, -1, 1, seed + 3);
  float *m = tu_zeros(N), *r = tu_zeros(N), *dx = tu_zeros(n), *dw = tu_zeros(C), *db = tu_zeros(C);
  tensor X = tensor_f32(x, 2, N, C, 0, 0), Y = X, DY = X, DX = X;
  Y.data = y, DY.data = dy, DX.data = dx;
  tensor W = tensor_f32(w, 1, C, 0, 0, 0), Bb = tensor_f32(b, 1, C, 0, 0, 0), M = tensor_f32(m, 1, N, 0, 0, 0),
         R = tensor_f32(r, 1, N, 0, 0, 0), DW = tensor_f32(dw, 1, C, 0, 0, 0), DB = tensor_f32(db, 1, C, 0, 0, 0);
  ref_norm ctx = {N, C, 1e-5, affine, has_bias, 0};
  int64_t in_n[3] = {n, C, C};
  const float *in[3] = {x, w, b};
  char what[96];
  snprintf(what, sizeof what, "%s N=%lld C=%lld affine=%d bias=%d", rms ? "rmsnorm" : "layernorm", (long long)N,
           (long long)C, affine, has_bias);
  if (rms) {
    assert_int_equal(op_rmsnorm(be, &X, affine ? &W : NULL, &Y, &R, 1e-5f, &err), 0);
    assert_true(fwd_ok(what, ref_rmsnorm, &ctx, 2, in_n, in, y, n));
    assert_int_equal(op_rmsnorm_bwd(be, &X, affine ? &W : NULL, &R, &DY, &DX, affine ? &DW : NULL, &err), 0);
    const float *g[2] = {dx, affine ? dw : NULL};
    assert_true(tu_gradcheck(what, ref_rmsnorm, &ctx, 2, in_n, in, n, dy, g, FD_H, GRAD_TOL));
  } else {
    assert_int_equal(op_layernorm(be, &X, affine ? &W : NULL, has_bias ? &Bb : NULL, &Y, &M, &R, 1e-5f, &err), 0);
    assert_true(fwd_ok(what, ref_layernorm, &ctx, 3, in_n, in, y, n));
    assert_int_equal(op_layernorm_bwd(be, &X, affine ? &W : NULL, &M, &R, &DY, &DX, affine ? &DW : NULL,
                                      has_bias ? &DB : NULL, &err),
                     0);
    const float *g[3] = {dx, affine ? dw : NULL, has_bias ? db : NULL};
    assert_true(tu_gradcheck(what, ref_layernorm, &ctx, 3, in_n, in, n, dy, g, FD_H, GRAD_TOL));
  }
  free(x), free(w), free(b), free(y), free(dy), free(m), free(r), free(dx), free(dw), free(db);
}

/* op_layernorm_act: act(LayerNorm(x)) against the double reference, its gradients against
 * central differences, and both bit for bit against op_layernorm then op_act (and op_act_bwd
 * then op_layernorm_bwd) */
static void run_norm_act(int64_t N, int64_t C, int affine, int has_bias, act_kind k, uint64_t seed) {
  int64_t n = N * C;
  float *x = tu_alloc_rand(n, -2, 2, seed), *w = tu_alloc_rand(C, 0.5f, 1.5f, seed + 1);
  float *b = tu_alloc_rand(C, -1, 1, seed + 2), *y = tu_zeros(n), *dy = tu_alloc_rand(n, -1, 1, seed + 3);
  float *m = tu_zeros(N), *r = tu_zeros(N), *dx = tu_zeros(n), *dw = tu_zeros(C), *db = tu_zeros(C);
  float *cn = tu_zeros(n), *y2 = tu_zeros(n), *m2 = tu_zeros(N), *r2 = tu_zeros(N), *dcn = tu_zeros(n),
        *dx2 = tu_zeros(n), *dw2 = tu_zeros(C), *db2 = tu_zeros(C);
  for (int64_t i = 0; i < n; i++) y[i] = NAN;
  tensor X = tensor_f32(x, 2, N, C, 0, 0), Y = X, DY = X, DX = X, CN = X, Y2 = X, DCN = X, DX2 = X;
  Y.data = y, DY.data = dy, DX.data = dx, CN.data = cn, Y2.data = y2, DCN.data = dcn, DX2.data = dx2;
  tensor W = tensor_f32(w, 1, C, 0, 0, 0), Bb = tensor_f32(b, 1, C, 0, 0, 0), M = tensor_f32(m, 1, N, 0, 0, 0),
         R = tensor_f32(r, 1, N, 0, 0, 0), DW = tensor_f32(dw, 1, C, 0, 0, 0), DB = tensor_f32(db, 1, C, 0, 0, 0);
  tensor M2 = M, R2 = R, DW2 = DW, DB2 = DB;
  M2.data = m2, R2.data = r2, DW2.data = dw2, DB2.data = db2;
  const tensor *Wp = affine ? &W : NULL, *Bp = has_bias ? &Bb : NULL;
  ref_norm ctx = {N, C, 1e-5, affine, has_bias, (int)k + 1};
  int64_t in_n[3] = {n, C, C};
  const float *in[3] = {x, w, b};
  char what[96];
  snprintf(what, sizeof what, "layernorm_act %d N=%lld C=%lld affine=%d bias=%d", (int)k, (long long)N, (long long)C,
           affine, has_bias);
  assert_int_equal(op_layernorm_act(be, &X, Wp, Bp, &Y, &M, &R, k, 1e-5f, &err), 0);
  assert_true(fwd_ok(what, ref_layernorm, &ctx, 3, in_n, in, y, n));
  assert_int_equal(op_layernorm_act_bwd(be, &X, Wp, Bp, &M, &R, &DY, &DX, affine ? &DW : NULL, has_bias ? &DB : NULL, k,
                                        &err),
                   0);
  const float *g[3] = {dx, affine ? dw : NULL, has_bias ? db : NULL};
  assert_true(tu_gradcheck(what, ref_layernorm, &ctx, 3, in_n, in, n, dy, g, FD_H, GRAD_TOL));
  /* the two ops apart */
  assert_int_equal(op_layernorm(be, &X, Wp, Bp, &CN, &M2, &R2, 1e-5f, &err), 0);
  assert_int_equal(op_act(be, k, &CN, &Y2, &err), 0);
  assert_int_equal(op_act_bwd(be, k, &CN, &DY, &DCN, &err), 0);
  assert_int_equal(op_layernorm_bwd(be, &X, Wp, &M2, &R2, &DCN, &DX2, affine ? &DW2 : NULL, has_bias ? &DB2 : NULL, &err),
                   0);
  assert_memory_equal(y, y2, sizeof(float) * (size_t)n);
  assert_memory_equal(m, m2, sizeof(float) * (size_t)N);
  assert_memory_equal(r, r2, sizeof(float) * (size_t)N);
  assert_memory_equal(dx, dx2, sizeof(float) * (size_t)n);
  assert_memory_equal(dw, dw2, sizeof(float) * (size_t)C);
  assert_memory_equal(db, db2, sizeof(float) * (size_t)C);
  /* dx written over NaN: the bits of the add onto zeros above */
  for (int64_t i = 0; i < n; i++) dx2[i] = NAN;
  assert_int_equal(op_layernorm_act_bwd_set(be, &X, Wp, Bp, &M, &R, &DY, &DX2, NULL, NULL, k, &err), 0);
  assert_memory_equal(dx, dx2, sizeof(float) * (size_t)n);
  /* what it refuses: no stats, dx on dy, an unknown activation, a written dx on x */
  assert_int_equal(op_layernorm_act_bwd_set(be, &X, Wp, Bp, &M, &R, &DY, &X, NULL, NULL, k, &err), TS_EARG);
  assert_int_equal(op_layernorm_act(be, &X, Wp, Bp, &Y, NULL, &R, k, 1e-5f, &err), TS_EARG);
  assert_int_equal(op_layernorm_act_bwd(be, &X, Wp, Bp, &M, &R, &DY, &DY, NULL, NULL, k, &err), TS_EARG);
  assert_int_equal(op_layernorm_act(be, &X, Wp, Bp, &Y, &M, &R, (act_kind)7, 1e-5f, &err), TS_EARG);
  assert_int_equal(op_layernorm_act(be, &X, Wp, Bp, &X, &M, &R, k, 1e-5f, &err), TS_EARG); /* y on x */
  free(x), free(w), free(b), free(y), free(dy), free(m), free(r), free(dx), free(dw), free(db);
  free(cn), free(y2), free(m2), free(r2), free(dcn), free(dx2), free(dw2), free(db2);
}

static void test_norm_act(void **state) {
  (void)state;
  run_norm_act(5, 7, 1, 1, ACT_GELU, 260);
  run_norm_act(3, 16, 0, 0, ACT_GELU, 261); /* data2vec's positional stack: no affine */
  run_norm_act(4, 33, 1, 0, ACT_RELU, 262);
  run_norm_act(2, 9, 1, 1, ACT_SILU, 263);
}

static void test_norms(void **state) {
  (void)state;
  run_norm(0, 5, 7, 1, 1, 200);
  run_norm(0, 3, 16, 0, 0, 201);
  run_norm(0, 1, 1, 1, 1, 202);
  run_norm(0, 4, 33, 1, 0, 203);
  run_norm(1, 5, 7, 1, 0, 204);
  run_norm(1, 3, 16, 0, 0, 205);
  run_norm(1, 2, 65, 1, 0, 206);
}

/* LayerNorm over the channel axis of (B,C,T); T past one CPU tile (64 steps) in one case */
static void run_layernorm_ch(int64_t B, int64_t C, int64_t T, int affine, int has_bias, uint64_t seed) {
  int64_t n = B * C * T;
  float *x = tu_alloc_rand(n, -2, 2, seed), *w = tu_alloc_rand(C, 0.5f, 1.5f, seed + 1);
  float *b = tu_alloc_rand(C, -1, 1, seed + 2), *y = tu_zeros(n), *dy = tu_alloc_rand(n, -1, 1, seed + 3);
  float *m = tu_zeros(B * T), *r = tu_zeros(B * T), *dx = tu_zeros(n), *dw = tu_zeros(C), *db = tu_zeros(C);
  tensor X = tensor_f32(x, 3, B, C, T, 0), Y = X, DY = X, DX = X;
  Y.data = y, DY.data = dy, DX.data = dx;
  tensor W = tensor_f32(w, 1, C, 0, 0, 0), Bb = tensor_f32(b, 1, C, 0, 0, 0), M = tensor_f32(m, 1, B * T, 0, 0, 0),
         R = tensor_f32(r, 1, B * T, 0, 0, 0), DW = tensor_f32(dw, 1, C, 0, 0, 0), DB = tensor_f32(db, 1, C, 0, 0, 0);
  ref_lnc ctx = {B, C, T, 1e-5, affine, has_bias};
  int64_t in_n[3] = {n, C, C};
  const float *in[3] = {x, w, b};
  char what[96];
  snprintf(what, sizeof what, "layernorm_ch B=%lld C=%lld T=%lld affine=%d bias=%d", (long long)B, (long long)C,
           (long long)T, affine, has_bias);
  assert_int_equal(op_layernorm_ch(be, &X, affine ? &W : NULL, has_bias ? &Bb : NULL, &Y, &M, &R, 1e-5f, &err), 0);
  assert_true(fwd_ok(what, ref_layernorm_ch, &ctx, 3, in_n, in, y, n));
  assert_int_equal(op_layernorm_ch_bwd(be, &X, affine ? &W : NULL, &M, &R, &DY, &DX, affine ? &DW : NULL,
                                       has_bias ? &DB : NULL, &err),
                   0);
  const float *g[3] = {dx, affine ? dw : NULL, has_bias ? db : NULL};
  assert_true(tu_gradcheck(what, ref_layernorm_ch, &ctx, 3, in_n, in, n, dy, g, FD_H, GRAD_TOL));
  /* the same as layernorm over the (B,T,C) transpose, bit for bit: the same sums in the same
   * order (its statistics and output) */
  float *xt = tu_zeros(n), *yt = tu_zeros(n), *mt = tu_zeros(B * T), *rt = tu_zeros(B * T);
  for (int64_t bb = 0; bb < B; bb++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t t = 0; t < T; t++) xt[(bb * T + t) * C + c] = x[(bb * C + c) * T + t];
  tensor XT = tensor_f32(xt, 2, B * T, C, 0, 0), YT = XT, MT = tensor_f32(mt, 1, B * T, 0, 0, 0),
         RT = tensor_f32(rt, 1, B * T, 0, 0, 0);
  YT.data = yt;
  assert_int_equal(op_layernorm(be, &XT, affine ? &W : NULL, has_bias ? &Bb : NULL, &YT, &MT, &RT, 1e-5f, &err), 0);
  assert_memory_equal(m, mt, sizeof(float) * (size_t)(B * T));
  assert_memory_equal(r, rt, sizeof(float) * (size_t)(B * T));
  for (int64_t bb = 0; bb < B; bb++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t t = 0; t < T; t++) assert_true(fabsf(y[(bb * C + c) * T + t] - yt[(bb * T + t) * C + c]) <= 1e-6f);
  /* refused: stats of the wrong size, a 2-D x */
  tensor Mbad = tensor_f32(m, 1, B * T - 1, 0, 0, 0), X2 = tensor_f32(x, 2, B * C, T, 0, 0);
  assert_int_not_equal(op_layernorm_ch(be, &X, NULL, NULL, &Y, &Mbad, &R, 1e-5f, &err), 0);
  assert_int_not_equal(op_layernorm_ch(be, &X2, NULL, NULL, &X2, NULL, NULL, 1e-5f, &err), 0);
  /* no output, no output gradient: refused, not dereferenced */
  assert_int_not_equal(op_layernorm_ch(be, &X, NULL, NULL, NULL, &M, &R, 1e-5f, &err), 0);
  assert_int_not_equal(op_layernorm_ch_bwd(be, &X, NULL, &M, &R, NULL, &DX, NULL, NULL, &err), 0);
  assert_int_not_equal(op_layernorm(be, &XT, NULL, NULL, NULL, &MT, &RT, 1e-5f, &err), 0);
  assert_int_not_equal(op_layernorm_bwd(be, &XT, NULL, &MT, &RT, NULL, &XT, NULL, NULL, &err), 0);
  free(xt), free(yt), free(mt), free(rt);
  free(x), free(w), free(b), free(y), free(dy), free(m), free(r), free(dx), free(dw), free(db);
}

static void test_layernorm_ch(void **state) {
  (void)state;
  run_layernorm_ch(2, 6, 5, 1, 1, 310);
  run_layernorm_ch(1, 3, 70, 1, 0, 311); /* two CPU tiles */
  run_layernorm_ch(3, 1, 4, 0, 0, 312);  /* one channel: y = 0 */
}

static void run_groupnorm(int64_t B, int64_t C, int64_t T, int groups, uint64_t seed) {
  int64_t n = B * C * T;
  float *x = tu_alloc_rand(n, -2, 2, seed), *w = tu_alloc_rand(C, 0.5f, 1.5f, seed + 1);
  float *b = tu_alloc_rand(C, -1, 1, seed + 2), *y = tu_zeros(n), *dy = tu_alloc_rand(n, -1, 1, seed + 3);
  float *m = tu_zeros(B * groups), *r = tu_zeros(B * groups), *dx = tu_zeros(n), *dw = tu_zeros(C), *db = tu_zeros(C);
  tensor X = tensor_f32(x, 3, B, C, T, 0), Y = X, DY = X, DX = X;
  Y.data = y, DY.data = dy, DX.data = dx;
  tensor W = tensor_f32(w, 1, C, 0, 0, 0), Bb = tensor_f32(b, 1, C, 0, 0, 0), M = tensor_f32(m, 1, B * groups, 0, 0, 0),
         R = tensor_f32(r, 1, B * groups, 0, 0, 0), DW = tensor_f32(dw, 1, C, 0, 0, 0),
         DB = tensor_f32(db, 1, C, 0, 0, 0);
  ref_gn ctx = {B, C, T, groups, 1e-5};
  int64_t in_n[3] = {n, C, C};
  const float *in[3] = {x, w, b};
  char what[96];
  snprintf(what, sizeof what, "groupnorm B=%lld C=%lld T=%lld G=%d", (long long)B, (long long)C, (long long)T, groups);
  assert_int_equal(op_groupnorm(be, &X, &W, &Bb, &Y, &M, &R, groups, 1e-5f, &err), 0);
  assert_true(fwd_ok(what, ref_groupnorm, &ctx, 3, in_n, in, y, n));
  assert_int_equal(op_groupnorm_bwd(be, &X, &W, &M, &R, &DY, &DX, &DW, &DB, groups, &err), 0);
  const float *g[3] = {dx, dw, db};
  assert_true(tu_gradcheck(what, ref_groupnorm, &ctx, 3, in_n, in, n, dy, g, FD_H, GRAD_TOL));
  free(x), free(w), free(b), free(y), free(dy), free(m), free(r), free(dx), free(dw), free(db);
}

static void test_groupnorm(void **state) {
  (void)state;
  run_groupnorm(2, 6, 5, 6, 300); /* one channel per group, as wav2vec2's first conv layer */
  run_groupnorm(2, 6, 5, 3, 301);
  run_groupnorm(1, 4, 7, 1, 302);
}

/* ---- elementwise ---- */
static void test_elementwise(void **state) {
  (void)state;
  int64_t n = 37;
  for (int kind = 0; kind < 3; kind++) {
    float *x = tu_alloc_rand(n, -3, 3, 400 + kind), *y = tu_zeros(n), *dy = tu_alloc_rand(n, -1, 1, 410 + kind);
    float *dx = tu_zeros(n);
    if (kind == 1) /* keep ReLU inputs away from the kink so differences are defined */
      for (int64_t i = 0; i < n; i++)
        if (fabsf(x[i]) < 0.05f) x[i] = 0.5f;
    tensor X = tensor_f32(x, 1, n, 0, 0, 0), Y = X, DY = X, DX = X;
    Y.data = y, DY.data = dy, DX.data = dx;
    ref_n ctx = {n, 0, 0, kind};
    int64_t in_n[1] = {n};
    const float *in[1] = {x};
    const char *names[3] = {"gelu", "relu", "silu"};
    assert_int_equal(op_act(be, (act_kind)kind, &X, &Y, &err), 0);
    assert_true(fwd_ok(names[kind], ref_act, &ctx, 1, in_n, in, y, n));
    assert_int_equal(op_act_bwd(be, (act_kind)kind, &X, &DY, &DX, &err), 0);
    const float *g[1] = {dx};
    assert_true(tu_gradcheck(names[kind], ref_act, &ctx, 1, in_n, in, n, dy, g, FD_H, GRAD_TOL));
    /* dx written (op_act_bwd_set) over NaN: the values added to zero above */
    float *dx2 = tu_zeros(n);
    for (int64_t i = 0; i < n; i++) dx2[i] = NAN;
    tensor DX2 = DX;
    DX2.data = dx2;
    assert_int_equal(op_act_bwd_set(be, (act_kind)kind, &X, &DY, &DX2, &err), 0);
    for (int64_t i = 0; i < n; i++) assert_true(dx2[i] == dx[i]);
    free(dx2);
    free(x), free(y), free(dy), free(dx);
  }
  /* swiglu, mul, add */
  float *a = tu_alloc_rand(n, -3, 3, 420), *b = tu_alloc_rand(n, -3, 3, 421), *y = tu_zeros(n);
  float *dy = tu_alloc_rand(n, -1, 1, 422), *da = tu_zeros(n), *db = tu_zeros(n);
  tensor A = tensor_f32(a, 1, n, 0, 0, 0), B = A, Y = A, DY = A, DA = A, DB = A;
  B.data = b, Y.data = y, DY.data = dy, DA.data = da, DB.data = db;
  ref_n ctx = {n, 0, 0, 0};
  int64_t in_n[2] = {n, n};
  const float *in[2] = {a, b};
  const float *g[2] = {da, db};
  assert_int_equal(op_swiglu(be, &A, &B, &Y, &err), 0);
  assert_true(fwd_ok("swiglu", ref_swiglu, &ctx, 2, in_n, in, y, n));
  assert_int_equal(op_swiglu_bwd(be, &A, &B, &DY, &DA, &DB, &err), 0);
  assert_true(tu_gradcheck("swiglu", ref_swiglu, &ctx, 2, in_n, in, n, dy, g, FD_H, GRAD_TOL));
  memset(da, 0, sizeof(float) * n), memset(db, 0, sizeof(float) * n);
  assert_int_equal(op_mul(be, &A, &B, &Y, &err), 0);
  assert_true(fwd_ok("mul", ref_mul, &ctx, 2, in_n, in, y, n));
  assert_int_equal(op_mul_bwd(be, &A, &B, &DY, &DA, &DB, &err), 0);
  assert_true(tu_gradcheck("mul", ref_mul, &ctx, 2, in_n, in, n, dy, g, FD_H, GRAD_TOL));
  memset(da, 0, sizeof(float) * n), memset(db, 0, sizeof(float) * n);
  assert_int_equal(op_add(be, &A, &B, &Y, &err), 0);
  assert_true(fwd_ok("add", ref_add, &ctx, 2, in_n, in, y, n));
  assert_int_equal(op_add_bwd(be, &DY, &DA, &DB, &err), 0);
  assert_true(tu_gradcheck("add", ref_add, &ctx, 2, in_n, in, n, dy, g, FD_H, GRAD_TOL));
  /* scale: c = 2.5 a, da = 2.5 dc */
  memset(da, 0, sizeof(float) * n);
  assert_int_equal(op_scale(be, &A, 2.5f, &Y, &err), 0);
  assert_int_equal(op_scale_bwd(be, &DY, 2.5f, &DA, &err), 0);
  for (int64_t i = 0; i < n; i++) {
    assert_float_equal(y[i], 2.5f * a[i], 1e-6);
    assert_float_equal(da[i], 2.5f * dy[i], 1e-6);
  }
  free(a), free(b), free(y), free(dy), free(da), free(db);
}

static void test_softmax(void **state) {
  (void)state;
  int64_t R = 4, C = 9, n = R * C;
  float *x = tu_alloc_rand(n, -4, 4, 500), *y = tu_zeros(n), *dy = tu_alloc_rand(n, -1, 1, 501), *dx = tu_zeros(n);
  tensor X = tensor_f32(x, 2, R, C, 0, 0), Y = X, DY = X, DX = X;
  Y.data = y, DY.data = dy, DX.data = dx;
  ref_n ctx = {n, R, C, 0};
  int64_t in_n[1] = {n};
  const float *in[1] = {x};
  assert_int_equal(op_softmax(be, &X, &Y, &err), 0);
  assert_true(fwd_ok("softmax", ref_softmax, &ctx, 1, in_n, in, y, n));
  assert_int_equal(op_softmax_bwd(be, &Y, &DY, &DX, &err), 0);
  const float *g[1] = {dx};
  assert_true(tu_gradcheck("softmax", ref_softmax, &ctx, 1, in_n, in, n, dy, g, FD_H, GRAD_TOL));
  free(x), free(y), free(dy), free(dx);
}

/* ---- attention ---- */
static void run_attn(int64_t B, int64_t Tq, int64_t Tk, int64_t Hq, int64_t Hkv, int64_t D, int causal,
                     const int32_t *kv_len, const int32_t *q_pos0, int bias, uint64_t seed) {
  int64_t nq = B * Tq * Hq * D, nk = B * Tk * Hkv * D, nb = Hq * Tq * Tk;
  float *q = tu_alloc_rand(nq, -1, 1, seed), *k = tu_alloc_rand(nk, -1, 1, seed + 1);
  float *v = tu_alloc_rand(nk, -1, 1, seed + 2), *bs = tu_alloc_rand(nb, -1, 1, seed + 3);
  float *o = tu_zeros(nq), *lse = tu_zeros(B * Hq * Tq), *dy = tu_alloc_rand(nq, -1, 1, seed + 4);
  float *dq = tu_zeros(nq), *dk = tu_zeros(nk), *dv = tu_zeros(nk), *dbs = tu_zeros(nb);
  tensor Q = tensor_f32(q, 4, B, Tq, Hq, D), K = tensor_f32(k, 4, B, Tk, Hkv, D), V = K, O = Q, DY = Q, DQ = Q,
         DK = K, DV = K;
  V.data = v, O.data = o, DY.data = dy, DQ.data = dq, DK.data = dk, DV.data = dv;
  tensor L = tensor_f32(lse, 3, B, Hq, Tq, 0), BS = tensor_f32(bs, 3, Hq, Tq, Tk, 0), DBS = BS;
  DBS.data = dbs;
  float scale = 1.0f / sqrtf((float)D);
  attn_cfg cfg = {causal, scale, kv_len, q_pos0, bias ? &BS : NULL, NULL, 0};
  ref_attn ctx = {B, Tq, Tk, Hq, Hkv, D, causal, scale, kv_len, q_pos0, bias};
  int64_t in_n[4] = {nq, nk, nk, nb};
  const float *in[4] = {q, k, v, bs};
  char what[160];
  snprintf(what, sizeof what, "attention B=%lld Tq=%lld Tk=%lld Hq=%lld Hkv=%lld D=%lld causal=%d mask=%d pos0=%d bias=%d",
           (long long)B, (long long)Tq, (long long)Tk, (long long)Hq, (long long)Hkv, (long long)D, causal,
           kv_len != NULL, q_pos0 != NULL, bias);
  assert_int_equal(op_attention(be, &Q, &K, &V, &O, &L, &cfg, &err), 0);
  assert_true(fwd_ok(what, ref_attention, &ctx, bias ? 4 : 3, in_n, in, o, nq));
  int rc = op_attention_bwd(be, &Q, &K, &V, &O, &L, &DY, &DQ, &DK, &DV, bias ? &DBS : NULL, &cfg, &err);
  if (rc) fprintf(stderr, "%s\n", err.msg);
  assert_int_equal(rc, 0);
  const float *g[4] = {dq, dk, dv, bias ? dbs : NULL};
  assert_true(tu_gradcheck(what, ref_attention, &ctx, bias ? 4 : 3, in_n, in, nq, dy, g, FD_H, GRAD_TOL));
  /* grad_set: dq, dk, dv written over NaN starts (their old contents unread), the same bits as
   * added from zero above; dbias still added (to a start of 1) */
  float *dq2 = tu_zeros(nq), *dk2 = tu_zeros(nk), *dv2 = tu_zeros(nk), *dbs2 = tu_zeros(nb);
  for (int64_t i = 0; i < nq; i++) dq2[i] = NAN;
  for (int64_t i = 0; i < nk; i++) dk2[i] = NAN, dv2[i] = NAN;
  for (int64_t i = 0; i < nb; i++) dbs2[i] = 1.0f;
  tensor DQ2 = DQ, DK2 = DK, DV2 = DV, DBS2 = DBS;
  DQ2.data = dq2, DK2.data = dk2, DV2.data = dv2, DBS2.data = dbs2;
  attn_cfg set = cfg;
  set.grad_set = 1;
  assert_int_equal(op_attention_bwd(be, &Q, &K, &V, &O, &L, &DY, &DQ2, &DK2, &DV2, bias ? &DBS2 : NULL, &set, &err), 0);
  assert_memory_equal(dq2, dq, sizeof(float) * (size_t)nq);
  assert_memory_equal(dk2, dk, sizeof(float) * (size_t)nk);
  assert_memory_equal(dv2, dv, sizeof(float) * (size_t)nk);
  for (int64_t i = 0; bias && i < nb; i++) assert_true(fabsf(dbs2[i] - (dbs[i] + 1.0f)) <= 1e-5f * (1.0f + fabsf(dbs[i])));
  /* a written gradient on an input is refused (dq on q, dv on k) */
  assert_int_equal(op_attention_bwd(be, &Q, &K, &V, &O, &L, &DY, &Q, &DK2, &DV2, NULL, &set, &err), TS_EARG);
  assert_int_equal(op_attention_bwd(be, &Q, &K, &V, &O, &L, &DY, &DQ2, &DK2, &K, NULL, &set, &err), TS_EARG);
  free(dq2), free(dk2), free(dv2), free(dbs2);
  free(q), free(k), free(v), free(bs), free(o), free(lse), free(dy), free(dq), free(dk), free(dv), free(dbs);
}

static void test_attention(void **state) {
  (void)state;
  int32_t kvl[3] = {5, 3, 1}, kvl2[2] = {7, 4}, pos0[2] = {2, 0};
  run_attn(2, 5, 5, 4, 4, 8, 0, NULL, NULL, 0, 600);     /* MHA, bidirectional */
  run_attn(2, 5, 5, 4, 2, 8, 1, NULL, NULL, 0, 610);     /* GQA 2:1, causal */
  run_attn(1, 6, 6, 7, 1, 4, 1, NULL, NULL, 0, 620);     /* GQA 7:1 (Qwen2.5-0.5B ratio) */
  run_attn(3, 5, 5, 6, 2, 3, 0, kvl, NULL, 0, 630);      /* GQA 3:1, odd D, key padding */
  run_attn(2, 4, 4, 3, 3, 5, 0, NULL, NULL, 1, 640);     /* additive per-head bias (ALiBi-like) */
  run_attn(2, 3, 7, 4, 2, 6, 1, kvl2, pos0, 0, 650);     /* cached keys: queries start at pos0 */
  int32_t kvl3[2] = {6, 4};
  run_attn(2, 4, 6, 2, 1, 4, 1, kvl3, pos0, 1, 660);     /* everything at once */
  int32_t zero[1] = {0};
  run_attn(1, 2, 3, 2, 2, 4, 0, zero, NULL, 0, 670);     /* no visible key: zero output, zero grads */
  /* causal rows in blocks of 64 over the keys each block sees (two blocks), after cached keys
   * (q_pos0), with padding; and a padded bidirectional row (keys past kv_len skipped) */
  int32_t kvl4[1] = {105}, pos4[1] = {10}, kvl5[2] = {70, 23};
  run_attn(1, 100, 110, 2, 1, 4, 1, kvl4, pos4, 0, 680);
  run_attn(2, 5, 70, 2, 2, 4, 0, kvl5, NULL, 0, 690);
  /* one query row (decoding steps: the query heads of a KV head go together) against a cache
   * of Tk positions: per-row lengths and positions, a row with no visible key, bias, K tails of
   * the few-row kernel (D 20), the 7:1 ratio, and a bidirectional padded row */
  int32_t kvl6[3] = {40, 9, 0}, pos6[3] = {39, 8, 0}, kvl7[2] = {33, 17}, pos7[2] = {32, 16}, kvl8[2] = {12, 5};
  run_attn(3, 1, 40, 4, 2, 20, 1, kvl6, pos6, 1, 700);
  run_attn(2, 1, 33, 14, 2, 16, 1, kvl7, pos7, 0, 710);
  run_attn(2, 1, 12, 6, 3, 8, 0, kvl8, NULL, 0, 720);
  int32_t kvl9[1] = {9}, pos9[1] = {8};
  run_attn(1, 1, 9, 2, 2, 16, 1, kvl9, pos9, 1, 730); /* one query head per KV head */
  /* more threads than batch rows x KV heads: a decoding step goes per query head instead */
  int nt = par_max_threads();
  be_cpu_set_threads(8);
  run_attn(1, 1, 40, 4, 2, 20, 1, kvl6, pos6, 1, 740);
  be_cpu_set_threads(nt);
}

/* ---- rope ---- */
static void run_rope(int64_t B, int64_t T, int64_t H, int64_t D, double theta, uint64_t seed) {
  int64_t n = B * T * H * D;
  int32_t *pos = malloc(sizeof(int32_t) * (size_t)(B * T));
  for (int64_t i = 0; i < B * T; i++) pos[i] = (int32_t)((i * 7 + seed) % 300);
  float *x = tu_alloc_rand(n, -1, 1, seed), *y = tu_zeros(n), *dy = tu_alloc_rand(n, -1, 1, seed + 1);
  float *dx = tu_zeros(n), *scr = tu_zeros(n);
  tensor X = tensor_f32(x, 4, B, T, H, D), Y = X, DY = X, DX = X, S = X;
  Y.data = y, DY.data = dy, DX.data = dx, S.data = scr;
  ref_rope_c ctx = {B, T, H, D, pos, theta};
  int64_t in_n[1] = {n};
  const float *in[1] = {x};
  assert_int_equal(op_rope(be, &X, &Y, pos, (float)theta, &err), 0);
  assert_true(fwd_ok("rope", ref_rope, &ctx, 1, in_n, in, y, n));
  assert_int_equal(op_rope_bwd(be, &DY, &DX, pos, (float)theta, &S, &err), 0);
  const float *g[1] = {dx};
  assert_true(tu_gradcheck("rope", ref_rope, &ctx, 1, in_n, in, n, dy, g, FD_H, GRAD_TOL));
  free(pos), free(x), free(y), free(dy), free(dx), free(scr);
}

static void test_rope(void **state) {
  (void)state;
  run_rope(2, 5, 3, 8, 10000.0, 700);
  run_rope(1, 4, 2, 6, 1000000.0, 701);
}

/* ---- split_heads / merge_heads (packed q/k/v, RoPE on q and k) and packed swiglu ---- */
static void run_heads(int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int rope, uint64_t seed) {
  int64_t BT = B * T, H = Hq + 2 * Hkv, n = BT * H * D, nq = BT * Hq * D, nk = BT * Hkv * D;
  int32_t *pos = malloc(sizeof(int32_t) * (size_t)BT);
  for (int64_t i = 0; i < BT; i++) pos[i] = (int32_t)((i * 11 + seed) % 500);
  float *x = tu_alloc_rand(n, -1, 1, seed), *out = tu_zeros(n), *dy = tu_alloc_rand(n, -1, 1, seed + 1);
  float *dx = tu_alloc_rand(n, -1, 1, seed + 2); /* merge overwrites: stale values must vanish */
  tensor X = tensor_f32(x, 4, B, T, H, D), Q = tensor_f32(out, 4, B, T, Hq, D);
  tensor K = tensor_f32(out + nq, 4, B, T, Hkv, D), V = tensor_f32(out + nq + nk, 4, B, T, Hkv, D);
  tensor DQ = tensor_f32(dy, 4, B, T, Hq, D), DK = tensor_f32(dy + nq, 4, B, T, Hkv, D);
  tensor DV = tensor_f32(dy + nq + nk, 4, B, T, Hkv, D), DX = tensor_f32(dx, 4, B, T, H, D);
  ref_heads_c ctx = {B, T, Hq, Hkv, D, rope ? pos : NULL, 1000000.0};
  char what[96];
  snprintf(what, sizeof what, "split_heads B=%lld T=%lld Hq=%lld Hkv=%lld D=%lld rope=%d", (long long)B,
           (long long)T, (long long)Hq, (long long)Hkv, (long long)D, rope);
  int64_t in_n[1] = {n};
  const float *in[1] = {x};
  assert_int_equal(op_split_heads(be, &X, &Q, &K, &V, rope ? pos : NULL, 1000000.0f, &err), 0);
  assert_true(fwd_ok(what, ref_split_heads, &ctx, 1, in_n, in, out, n));
  assert_int_equal(op_merge_heads(be, &DQ, &DK, &DV, &DX, rope ? pos : NULL, 1000000.0f, &err), 0);
  const float *g[1] = {dx};
  assert_true(tu_gradcheck(what, ref_split_heads, &ctx, 1, in_n, in, n, dy, g, FD_H, GRAD_TOL));
  /* shapes that do not add up are refused */
  tensor Kbad = tensor_f32(out + nq, 4, B, T, Hkv + 1, D);
  assert_int_equal(op_split_heads(be, &X, &Q, &Kbad, &Kbad, pos, 1e6f, &err), TS_ESHAPE);
  free(pos), free(x), free(out), free(dy), free(dx);
}

static void test_split_heads(void **state) {
  (void)state;
  run_heads(2, 3, 7, 1, 6, 1, 710); /* the Qwen2.5-0.5B head ratio */
  run_heads(1, 4, 2, 2, 8, 1, 720);
  run_heads(2, 2, 3, 1, 4, 0, 730); /* no rotation: a plain split */
}

static void test_swiglu_packed(void **state) {
  (void)state;
  int64_t rows = 3, H = 5, n = rows * H;
  float *gu = tu_alloc_rand(2 * n, -3, 3, 740), *y = tu_zeros(n), *dy = tu_alloc_rand(n, -1, 1, 741);
  float *dgu = tu_zeros(2 * n);
  tensor GU = tensor_f32(gu, 2, rows, 2 * H, 0, 0), Y = tensor_f32(y, 2, rows, H, 0, 0);
  tensor DY = tensor_f32(dy, 2, rows, H, 0, 0), DGU = tensor_f32(dgu, 2, rows, 2 * H, 0, 0);
  ref_n ctx = {n, rows, H, 0};
  int64_t in_n[1] = {2 * n};
  const float *in[1] = {gu};
  assert_int_equal(op_swiglu_packed(be, &GU, &Y, &err), 0);
  assert_true(fwd_ok("swiglu_packed", ref_swiglu_packed, &ctx, 1, in_n, in, y, n));
  assert_int_equal(op_swiglu_packed_bwd(be, &GU, &DY, &DGU, &err), 0);
  const float *g[1] = {dgu};
  assert_true(tu_gradcheck("swiglu_packed", ref_swiglu_packed, &ctx, 1, in_n, in, n, dy, g, FD_H, GRAD_TOL));
  { /* the gradients written (op_swiglu_packed_bwd_set) over NaN: the values added to zero */
    float *dgu2 = tu_zeros(2 * n);
    for (int64_t i = 0; i < 2 * n; i++) dgu2[i] = NAN;
    tensor DGU2 = DGU;
    DGU2.data = dgu2;
    assert_int_equal(op_swiglu_packed_bwd_set(be, &GU, &DY, &DGU2, &err), 0);
    for (int64_t i = 0; i < 2 * n; i++) assert_true(dgu2[i] == dgu[i]);
    free(dgu2);
  }
  tensor Ybad = tensor_f32(y, 2, rows, H - 1, 0, 0);
  assert_int_equal(op_swiglu_packed(be, &GU, &Ybad, &err), TS_ESHAPE);
  free(gu), free(y), free(dy), free(dgu);
}

/* ---- conv1d and weight norm ---- */
static void run_conv(int64_t B, int64_t Cin, int64_t T, int64_t Cout, int64_t K, int stride, int pad, int groups,
                     int bias, uint64_t seed) {
  int64_t Tout = op_conv1d_out_len(T, K, stride, pad);
  int64_t nx = B * Cin * T, nw = Cout * (Cin / groups) * K, ny = B * Cout * Tout;
  float *x = tu_alloc_rand(nx, -1, 1, seed), *w = tu_alloc_rand(nw, -1, 1, seed + 1);
  float *bs = tu_alloc_rand(Cout, -1, 1, seed + 2), *y = tu_zeros(ny), *dy = tu_alloc_rand(ny, -1, 1, seed + 3);
  float *dx = tu_zeros(nx), *dw = tu_zeros(nw), *dbs = tu_zeros(Cout);
  tensor X = tensor_f32(x, 3, B, Cin, T, 0), W = tensor_f32(w, 3, Cout, Cin / groups, K, 0),
         Y = tensor_f32(y, 3, B, Cout, Tout, 0), BS = tensor_f32(bs, 1, Cout, 0, 0, 0), DY = Y, DX = X, DW = W, DBS = BS;
  DY.data = dy, DX.data = dx, DW.data = dw, DBS.data = dbs;
  ref_conv ctx = {B, Cin, T, Cout, K, Tout, stride, pad, groups, bias, 0};
  int64_t in_n[3] = {nx, nw, Cout};
  const float *in[3] = {x, w, bs};
  char what[128];
  snprintf(what, sizeof what, "conv1d Cin=%lld T=%lld Cout=%lld K=%lld stride=%d pad=%d groups=%d", (long long)Cin,
           (long long)T, (long long)Cout, (long long)K, stride, pad, groups);
  assert_int_equal(op_conv1d(be, &X, &W, bias ? &BS : NULL, &Y, stride, pad, groups, &err), 0);
  assert_true(fwd_ok(what, ref_conv1d, &ctx, bias ? 3 : 2, in_n, in, y, ny));
  assert_int_equal(op_conv1d_bwd(be, &X, &W, &DY, &DX, &DW, bias ? &DBS : NULL, stride, pad, groups, &err), 0);
  const float *g[3] = {dx, dw, bias ? dbs : NULL};
  assert_true(tu_gradcheck(what, ref_conv1d, &ctx, bias ? 3 : 2, in_n, in, ny, dy, g, FD_H, GRAD_TOL));
  free(x), free(w), free(bs), free(y), free(dy), free(dx), free(dw), free(dbs);
}

static void test_conv1d(void **state) {
  (void)state;
  run_conv(2, 1, 23, 4, 10, 5, 0, 1, 0, 800); /* wav2vec2 first layer shape: k=10, stride 5 */
  run_conv(2, 4, 11, 6, 3, 2, 0, 1, 1, 810);  /* k=3, stride 2 */
  run_conv(1, 8, 9, 8, 5, 1, 2, 4, 1, 820);   /* grouped positional conv, same padding */
  run_conv(2, 6, 7, 4, 4, 1, 2, 2, 1, 830);   /* even kernel: one frame more (removed by the model) */
  run_conv(1, 3, 5, 5, 1, 1, 0, 1, 1, 840);   /* 1x1 */
}

/* the channels-last form: the same reference on x (B, T, Cin), y (B, Tout, Cout); and its
 * forward and gradients against conv1d's on the transposed tensors (the same weights) */
static void run_conv_cl(int64_t B, int64_t Cin, int64_t T, int64_t Cout, int64_t K, int stride, int pad, int groups,
                        int bias, uint64_t seed) {
  int64_t Tout = op_conv1d_out_len(T, K, stride, pad);
  int64_t nx = B * Cin * T, nw = Cout * (Cin / groups) * K, ny = B * Cout * Tout;
  float *x = tu_alloc_rand(nx, -1, 1, seed), *w = tu_alloc_rand(nw, -1, 1, seed + 1);
  float *bs = tu_alloc_rand(Cout, -1, 1, seed + 2), *y = tu_zeros(ny), *dy = tu_alloc_rand(ny, -1, 1, seed + 3);
  for (int64_t i = 0; i < ny; i++) y[i] = NAN; /* y is overwritten: a row the op leaves shows */
  float *dx = tu_alloc_rand(nx, -1, 1, seed + 4), *dw = tu_alloc_rand(nw, -1, 1, seed + 5),
        *dbs = tu_alloc_rand(Cout, -1, 1, seed + 6);
  float *dx0 = malloc(sizeof(float) * nx), *dw0 = malloc(sizeof(float) * nw), *db0 = malloc(sizeof(float) * Cout);
  memcpy(dx0, dx, sizeof(float) * nx), memcpy(dw0, dw, sizeof(float) * nw), memcpy(db0, dbs, sizeof(float) * Cout);
  tensor X = tensor_f32(x, 3, B, T, Cin, 0), W = tensor_f32(w, 3, Cout, Cin / groups, K, 0),
         Y = tensor_f32(y, 3, B, Tout, Cout, 0), BS = tensor_f32(bs, 1, Cout, 0, 0, 0), DY = Y, DX = X, DW = W, DBS = BS;
  DY.data = dy, DX.data = dx, DW.data = dw, DBS.data = dbs;
  ref_conv ctx = {B, Cin, T, Cout, K, Tout, stride, pad, groups, bias, 1};
  int64_t in_n[3] = {nx, nw, Cout};
  const float *in[3] = {x, w, bs};
  char what[128];
  snprintf(what, sizeof what, "conv1d_cl Cin=%lld T=%lld Cout=%lld K=%lld stride=%d pad=%d groups=%d", (long long)Cin,
           (long long)T, (long long)Cout, (long long)K, stride, pad, groups);
  assert_int_equal(op_conv1d_cl(be, &X, &W, bias ? &BS : NULL, &Y, stride, pad, groups, &err), 0);
  assert_true(fwd_ok(what, ref_conv1d, &ctx, bias ? 3 : 2, in_n, in, y, ny));
  assert_int_equal(op_conv1d_cl_bwd(be, &X, &W, &DY, &DX, &DW, bias ? &DBS : NULL, stride, pad, groups, &err), 0);
  /* dx written over NaN (op_conv1d_cl_bwd_set): the bits of the add onto zeros; dw, dbias still add */
  {
    float *dxz = tu_zeros(nx), *dxs = malloc(sizeof(float) * nx), *dws = malloc(sizeof(float) * nw),
          *dbss = malloc(sizeof(float) * Cout);
    for (int64_t i = 0; i < nx; i++) dxs[i] = NAN;
    memcpy(dws, dw0, sizeof(float) * nw), memcpy(dbss, db0, sizeof(float) * Cout);
    tensor DXZ = X, DXS = X, DWS = W, DBSS = BS;
    DXZ.data = dxz, DXS.data = dxs, DWS.data = dws, DBSS.data = dbss;
    assert_int_equal(op_conv1d_cl_bwd(be, &X, &W, &DY, &DXZ, NULL, NULL, stride, pad, groups, &err), 0);
    assert_int_equal(op_conv1d_cl_bwd_set(be, &X, &W, &DY, &DXS, &DWS, bias ? &DBSS : NULL, stride, pad, groups, &err),
                     0);
    if (memcmp(dxz, dxs, sizeof(float) * nx)) print_message("%s: the written dx differs\n", what);
    assert_memory_equal(dxz, dxs, sizeof(float) * nx);
    assert_memory_equal(dw, dws, sizeof(float) * nw);
    if (bias) assert_memory_equal(dbs, dbss, sizeof(float) * Cout);
    /* a written dx on an operand is refused */
    assert_int_equal(op_conv1d_cl_bwd_set(be, &X, &W, &DY, &X, NULL, NULL, stride, pad, groups, &err), TS_EARG);
    free(dxz), free(dxs), free(dws), free(dbss);
  }
  /* the gradients add to what dx, dw, dbias held: take it off for the check */
  for (int64_t i = 0; i < nx; i++) dx[i] -= dx0[i];
  for (int64_t i = 0; i < nw; i++) dw[i] -= dw0[i];
  for (int64_t i = 0; i < Cout; i++) dbs[i] -= db0[i];
  const float *g[3] = {dx, dw, bias ? dbs : NULL};
  assert_true(tu_gradcheck(what, ref_conv1d, &ctx, bias ? 3 : 2, in_n, in, ny, dy, g, FD_H, GRAD_TOL));
  /* the channel-first op on the transposes: the same values up to summation order */
  float *xt = malloc(sizeof(float) * nx), *yt = tu_zeros(ny), *dyt = malloc(sizeof(float) * ny), *dxt = tu_zeros(nx),
        *dwt = tu_zeros(nw), *dbt = tu_zeros(Cout);
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++)
      for (int64_t c = 0; c < Cin; c++) xt[(b * Cin + c) * T + t] = x[(b * T + t) * Cin + c];
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < Tout; t++)
      for (int64_t o = 0; o < Cout; o++) dyt[(b * Cout + o) * Tout + t] = dy[(b * Tout + t) * Cout + o];
  tensor XT = tensor_f32(xt, 3, B, Cin, T, 0), YT = tensor_f32(yt, 3, B, Cout, Tout, 0), DYT = YT, DXT = XT, DWT = W,
         DBT = BS;
  DYT.data = dyt, DXT.data = dxt, DWT.data = dwt, DBT.data = dbt;
  assert_int_equal(op_conv1d(be, &XT, &W, bias ? &BS : NULL, &YT, stride, pad, groups, &err), 0);
  assert_int_equal(op_conv1d_bwd(be, &XT, &W, &DYT, &DXT, &DWT, bias ? &DBT : NULL, stride, pad, groups, &err), 0);
  double worst = 0;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < Tout; t++)
      for (int64_t o = 0; o < Cout; o++) {
        double d = fabs((double)y[(b * Tout + t) * Cout + o] - yt[(b * Cout + o) * Tout + t]);
        worst = d > worst ? d : worst;
      }
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++)
      for (int64_t c = 0; c < Cin; c++) {
        double d = fabs((double)dx[(b * T + t) * Cin + c] - dxt[(b * Cin + c) * T + t]);
        worst = d > worst ? d : worst;
      }
  for (int64_t i = 0; i < nw; i++) worst = fmax(worst, fabs((double)dw[i] - dwt[i]));
  for (int64_t i = 0; bias && i < Cout; i++) worst = fmax(worst, fabs((double)dbs[i] - dbt[i]));
  if (worst > 1e-4) print_message("%s: %g from conv1d on the transposes\n", what, worst);
  assert_true(worst <= 1e-4);
  /* a wrong layout is refused: y channel-first */
  assert_int_equal(op_conv1d_cl(be, &X, &W, NULL, &YT, stride, pad, groups, &err), Tout == Cout ? 0 : TS_ESHAPE);
  free(x), free(w), free(bs), free(y), free(dy), free(dx), free(dw), free(dbs), free(dx0), free(dw0), free(db0);
  free(xt), free(yt), free(dyt), free(dxt), free(dwt), free(dbt);
}

static void test_conv1d_cl(void **state) {
  (void)state;
  run_conv_cl(2, 1, 23, 4, 10, 5, 0, 1, 0, 1800);   /* wav2vec2's first layer: one channel, the rows form */
  run_conv_cl(2, 40, 29, 6, 3, 2, 0, 1, 1, 1810);   /* a feature layer: the taps form */
  run_conv_cl(1, 36, 17, 5, 4, 1, 2, 1, 1, 1815);   /* taps with padding: edge taps cover part of the steps */
  run_conv_cl(2, 33, 9, 4, 5, 3, 4, 1, 0, 1816);    /* taps, stride 3, padding past a kernel's reach */
  run_conv_cl(1, 8, 9, 8, 5, 1, 2, 4, 1, 1820);     /* grouped positional conv, same padding: rows */
  run_conv_cl(2, 6, 7, 4, 4, 1, 2, 2, 1, 1830);     /* even kernel */
  run_conv_cl(1, 3, 5, 5, 1, 1, 0, 1, 1, 1840);     /* 1x1 */
  run_conv_cl(2, 32, 12, 6, 5, 1, 2, 1, 0, 1860);   /* taps, no bias: the middle tap covers y and goes first */
  run_conv_cl(2, 48, 20, 8, 3, 2, 0, 1, 0, 1870);   /* taps, no bias, no padding: tap 0 covers y */
  run_conv_cl(2, 4, 9, 3, 3, 1, 1, 1, 1, 1880);     /* rows, one group, padding: windows past both ends */
  /* for the written dx (conv_cl_dx_first): */
  run_conv_cl(2, 32, 15, 4, 2, 2, 0, 1, 0, 1890);   /* taps, kernel 2 = stride, odd T: the last row no tap's */
  run_conv_cl(2, 32, 10, 4, 2, 3, 0, 1, 0, 1891);   /* taps, kernel < stride: a row class no tap reaches */
  run_conv_cl(1, 32, 5, 3, 9, 1, 4, 1, 0, 1892);    /* taps, kernel past the steps */
  run_conv_cl(2, 40, 21, 6, 3, 2, 1, 1, 1, 1893);   /* taps, stride 2, padding 1 */
  run_conv_cl(2, 32, 16, 5, 7, 2, 5, 1, 0, 1894);   /* taps, stride 2, padding 5 */
  run_conv_cl(1, 32, 5, 3, 10, 1, 4, 1, 0, 1895);   /* tap 0 reaches no row: the first tap is 1 */
  run_conv_cl(2, 32, 4, 3, 7, 2, 3, 1, 0, 1896);    /* stride 2: class 0's first tap is 2 */
}

/* conv_cl.h's written-dx rule on every small shape, rows only (no GEMMs): the zero run touches
 * unset rows of its class inside x, after the first tap's, each class's first tap writes unset
 * rows, every later tap adds onto set rows, and every row ends set (so no row before a first
 * tap's is left unset) */
static void test_conv_cl_rows(void **state) {
  (void)state;
  enum { UNSET, SET };
  int row[32];
  long shapes = 0;
  for (int64_t T = 0; T < 31; T++)
    for (int64_t K = 1; K < 17; K++)
      for (int stride = 1; stride < 9; stride++)
        for (int pad = 0; pad < 21; pad++) {
          int64_t Tout = op_conv1d_out_len(T, K, stride, pad);
          if (Tout <= 0) continue;
          shapes++;
          for (int64_t u = 0; u < T; u++) row[u] = UNSET;
          for (int64_t q = 0; q < stride; q++) {
            int64_t a, n, ra, rb;
            conv_cl_dx_zero_run(T, Tout, K, stride, pad, q, &a, &n);
            int64_t first = conv_cl_dx_first(T, Tout, K, stride, pad, q, &ra, &rb);
            if (first >= 0) assert_true(n == 0 || a > rb); /* the tail only */
            for (int64_t i = 0; i < n; i++) {
              int64_t u = a + i * stride;
              assert_true(u >= 0 && u < T && ((u + pad) % stride + stride) % stride == q && row[u] == UNSET);
              row[u] = SET;
            }
          }
          for (int64_t k = 0; k < K; k++) {
            int64_t lo, hi, ra, rb;
            conv_cl_range(T, Tout, k, stride, pad, &lo, &hi);
            int first = conv_cl_dx_first(T, Tout, K, stride, pad, k % stride, &ra, &rb) == k;
            for (int64_t t = lo; t < hi; t++) {
              int64_t u = t * stride + k - pad;
              assert_true(u >= 0 && u < T);
              assert_int_equal(row[u], first ? UNSET : SET); /* written once, before any add */
              row[u] = SET;
            }
          }
          for (int64_t u = 0; u < T; u++) assert_int_equal(row[u], SET);
        }
  assert_int_equal(shapes, 79776); /* every shape with an output step */
}

static void run_wn(int64_t O, int64_t I, int64_t K, int dim, uint64_t seed) {
  int64_t n = O * I * K, m = dim == 0 ? O : dim == 1 ? I : K;
  float *v = tu_alloc_rand(n, -1, 1, seed), *g = tu_alloc_rand(m, 0.5f, 2, seed + 1), *w = tu_zeros(n),
        *nrm = tu_zeros(m), *dy = tu_alloc_rand(n, -1, 1, seed + 2), *dv = tu_zeros(n), *dg = tu_zeros(m);
  tensor V = tensor_f32(v, 3, O, I, K, 0), W = V, DY = V, DV = V;
  W.data = w, DY.data = dy, DV.data = dv;
  tensor G = tensor_f32(g, 1, m, 0, 0, 0), N = G, DG = G;
  N.data = nrm, DG.data = dg;
  ref_wn ctx = {{O, I, K}, dim};
  int64_t in_n[2] = {n, m};
  const float *in[2] = {v, g};
  assert_int_equal(op_weightnorm(be, &V, &G, &W, &N, dim, &err), 0);
  assert_true(fwd_ok("weightnorm", ref_weightnorm, &ctx, 2, in_n, in, w, n));
  assert_int_equal(op_weightnorm_bwd(be, &V, &G, &N, &DY, &DV, &DG, dim, &err), 0);
  const float *gr[2] = {dv, dg};
  assert_true(tu_gradcheck("weightnorm", ref_weightnorm, &ctx, 2, in_n, in, n, dy, gr, FD_H, GRAD_TOL));
  free(v), free(g), free(w), free(nrm), free(dy), free(dv), free(dg);
}

static void test_weightnorm(void **state) {
  (void)state;
  run_wn(4, 3, 5, 2, 900); /* wav2vec2 pos_conv: weight_norm(dim=2) */
  run_wn(4, 3, 5, 0, 901);
  run_wn(2, 6, 3, 1, 902);
}

/* ---- embedding, frame concatenation, cross-entropy ---- */
static void test_embed_framecat(void **state) {
  (void)state;
  int64_t V = 6, C = 5, N = 9;
  int32_t ids[9] = {0, 3, 3, 5, 1, 3, 0, 2, 5}; /* repeats exercise the scatter-add */
  float *t = tu_alloc_rand(V * C, -1, 1, 1000), *o = tu_zeros(N * C), *dy = tu_alloc_rand(N * C, -1, 1, 1001),
        *dt = tu_zeros(V * C);
  tensor Tb = tensor_f32(t, 2, V, C, 0, 0), O = tensor_f32(o, 2, N, C, 0, 0), DY = O, DT = Tb;
  DY.data = dy, DT.data = dt;
  ref_emb ctx = {V, C, N, ids};
  int64_t in_n[1] = {V * C};
  const float *in[1] = {t};
  assert_int_equal(op_embed(be, &Tb, ids, &O, &err), 0);
  assert_true(fwd_ok("embed", ref_embed, &ctx, 1, in_n, in, o, N * C));
  assert_int_equal(op_embed_bwd(be, ids, &DY, &DT, &err), 0);
  const float *g[1] = {dt};
  assert_true(tu_gradcheck("embed", ref_embed, &ctx, 1, in_n, in, N * C, dy, g, FD_H, GRAD_TOL));
  int32_t bad[1] = {6};
  tensor O1 = tensor_f32(o, 2, 1, C, 0, 0);
  assert_int_equal(op_embed(be, &Tb, bad, &O1, &err), TS_EARG);
  assert_non_null(strstr(err.msg, "outside the table"));
  free(t), free(o), free(dy), free(dt);

  for (int k = 2; k <= 5; k += 3) {
    int64_t B = 2, T = 11, Cc = 3, To = T / k;
    float *x = tu_alloc_rand(B * T * Cc, -1, 1, 1010 + k), *y = tu_zeros(B * To * k * Cc);
    float *gy = tu_alloc_rand(B * To * k * Cc, -1, 1, 1020 + k), *dx = tu_zeros(B * T * Cc);
    tensor X = tensor_f32(x, 3, B, T, Cc, 0), Y = tensor_f32(y, 3, B, To, k * Cc, 0), GY = Y, DX = X;
    GY.data = gy, DX.data = dx;
    ref_fc fc = {B, T, Cc, k};
    int64_t fn[1] = {B * T * Cc};
    const float *fin[1] = {x};
    assert_int_equal(op_framecat(be, &X, &Y, k, &err), 0);
    assert_true(fwd_ok("framecat", ref_framecat, &fc, 1, fn, fin, y, B * To * k * Cc));
    assert_int_equal(op_framecat_bwd(be, &GY, &DX, k, &err), 0);
    const float *fg[1] = {dx};
    assert_true(tu_gradcheck("framecat", ref_framecat, &fc, 1, fn, fin, B * To * k * Cc, gy, fg, FD_H, GRAD_TOL));
    free(x), free(y), free(gy), free(dx);
  }
}

static void test_xent(void **state) {
  (void)state;
  int64_t N = 7, V = 11;
  int32_t tg[7] = {3, 0, 10, -1, 5, 5, 2};
  float w[7] = {1.0f, 0.5f, 2.0f, 1.0f, 0.0f, 1.0f, 0.25f};
  float *x = tu_alloc_rand(N * V, -3, 3, 1100), *x0 = malloc(sizeof(float) * N * V), loss[7];
  memcpy(x0, x, sizeof(float) * N * V);
  tensor X = tensor_f32(x, 2, N, V, 0, 0);
  ref_xent_c ctx = {N, V, tg, w};
  /* dL/dlogits for L = sum_i dy_i loss_i with dy = grad_scale for every row */
  float dy[7];
  for (int i = 0; i < 7; i++) dy[i] = 0.7f;
  assert_int_equal(op_xent(be, &X, tg, w, loss, 0.7f, &err), 0);
  int64_t in_n[1] = {N * V};
  const float *in[1] = {x0};
  assert_true(fwd_ok("xent loss", ref_xent, &ctx, 1, in_n, in, loss, N));
  const float *g[1] = {x}; /* logits were overwritten by dlogits */
  assert_true(tu_gradcheck("xent", ref_xent, &ctx, 1, in_n, in, N, dy, g, FD_H, GRAD_TOL));
  /* ignored rows carry no gradient */
  for (int64_t j = 0; j < V; j++) assert_true(x[3 * V + j] == 0.0f && x[4 * V + j] == 0.0f);
  int32_t badt[7] = {11, 0, 0, 0, 0, 0, 0};
  memcpy(x, x0, sizeof(float) * N * V);
  assert_int_equal(op_xent(be, &X, badt, NULL, loss, 0.0f, &err), TS_EARG);
  free(x), free(x0);
}

/* AdamW against torch.optim.AdamW's update written out in double */
static void test_adamw(void **state) {
  (void)state;
  int64_t n = 50;
  float *p = tu_alloc_rand(n, -1, 1, 1200), *m = tu_zeros(n), *v = tu_zeros(n), *g = tu_zeros(n);
  double *pd = tu_to_double(p, n), *md = calloc(n, sizeof(double)), *vd = calloc(n, sizeof(double));
  double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  for (int t = 1; t <= 5; t++) {
    tu_rand(g, n, -1, 1, 1300 + t);
    assert_int_equal(op_adamw(be, p, g, m, v, n, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, t, &err), 0);
    for (int64_t i = 0; i < n; i++) {
      pd[i] *= 1 - lr * wd;
      md[i] = b1 * md[i] + (1 - b1) * g[i];
      vd[i] = b2 * vd[i] + (1 - b2) * (double)g[i] * g[i];
      double mh = md[i] / (1 - pow(b1, t)), vh = vd[i] / (1 - pow(b2, t));
      pd[i] -= lr * mh / (sqrt(vh) + eps);
    }
  }
  assert_true(tu_close("adamw", p, pd, n, 1e-5, 1e-3));
  double s = op_sumsq(be, p, n), sd = 0;
  for (int64_t i = 0; i < n; i++) sd += (double)p[i] * p[i];
  assert_true(fabs(s - sd) < 1e-9 * sd);
  free(p), free(m), free(v), free(g), free(pd), free(md), free(vd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matmul_set_alias), cmocka_unit_test(test_matmul_res), cmocka_unit_test(test_norm_bwd_to),
      cmocka_unit_test(test_matmul),     cmocka_unit_test(test_matmul_shape_error), cmocka_unit_test(test_matmul_no_rows),
      cmocka_unit_test(test_norms),      cmocka_unit_test(test_layernorm_ch), cmocka_unit_test(test_groupnorm),
      cmocka_unit_test(test_elementwise), cmocka_unit_test(test_softmax),
      cmocka_unit_test(test_attention),  cmocka_unit_test(test_rope),
      cmocka_unit_test(test_split_heads), cmocka_unit_test(test_swiglu_packed),
      cmocka_unit_test(test_conv1d),     cmocka_unit_test(test_conv1d_cl), cmocka_unit_test(test_conv_cl_rows), cmocka_unit_test(test_norm_act),     cmocka_unit_test(test_weightnorm),
      cmocka_unit_test(test_embed_framecat), cmocka_unit_test(test_xent),
      cmocka_unit_test(test_adamw),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
