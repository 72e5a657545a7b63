/* ops.c — shape and dtype checks in front of the backend op table. */
#include "tensor/ops.h"

#include <stdio.h>
#include <string.h>

#include "tensor/ops_prof.h"

/* Checks that t is usable by backend be: present, with data, f32 (or bf16 where bf16 is set:
 * an activation stored in bf16, see op_act_dtype), on be's device. */
static int ops_chk_dt(backend *be, const char *op, const char *arg, const tensor *t, int nd_min,
                      int nd_max, int bf16, ts_err *e) {
  if (!t) return err_set(e, TS_EARG, "%s: %s is missing", op, arg);
  if (!t->data && tensor_numel(t) > 0) return err_set(e, TS_EARG, "%s: %s has no data", op, arg);
  if (t->ndim < nd_min || t->ndim > nd_max)
    return err_set(e, TS_ESHAPE, "%s: %s has %d dims, expected %d..%d", op, arg, t->ndim, nd_min, nd_max);
  if (t->dtype != DT_F32 && !(bf16 && t->dtype == DT_BF16))
    return err_set(e, TS_EUNSUP, "%s: %s is %s; the %s backend takes F32%s here", op, arg,
                   dtype_name(t->dtype), be->ops->name, bf16 ? " or BF16" : "");
  if (t->device != be->device) return err_set(e, TS_EARG, "%s: %s is on another device", op, arg);
  for (int i = 0; i < t->ndim; i++)
    if (t->ne[i] < 0) return err_set(e, TS_ESHAPE, "%s: %s has a negative dim", op, arg);
  return TS_OK;
}

static int ops_chk(backend *be, const char *op, const char *arg, const tensor *t, int nd_min,
                   int nd_max, ts_err *e) {
  return ops_chk_dt(be, op, arg, t, nd_min, nd_max, 0, e);
}

/* an activation that may be stored in bf16 (op_act_dtype) */
static int ops_chk_act(backend *be, const char *op, const char *arg, const tensor *t, int nd_min,
                       int nd_max, ts_err *e) {
  return ops_chk_dt(be, op, arg, t, nd_min, nd_max, 1, e);
}

ts_dtype op_act_dtype(backend *be) {
  return be && be->ops->act_dtype && be->ops->act_dtype(be) == DT_BF16 ? DT_BF16 : DT_F32;
}

static int ops_same(const char *op, const char *an, const tensor *a, const char *bn, const tensor *b,
                    ts_err *e) {
  if (tensor_numel(a) != tensor_numel(b) || (a->ndim == b->ndim && !tensor_same_shape(a, b))) {
    char sa[64], sb[64];
    return err_set(e, TS_ESHAPE, "%s: %s %s and %s %s differ", op, an, tensor_shape_str(a, sa, sizeof sa),
                   bn, tensor_shape_str(b, sb, sizeof sb));
  }
  return TS_OK;
}

static int ops_numel(const char *op, const char *an, const tensor *a, int64_t n, ts_err *e) {
  if (tensor_numel(a) != n) {
    char sa[64];
    return err_set(e, TS_ESHAPE, "%s: %s %s should have %lld elements", op, an,
                   tensor_shape_str(a, sa, sizeof sa), (long long)n);
  }
  return TS_OK;
}

static int ops_ret(int rc, const char *op, ts_err *e) {
  if (rc == TS_OK) return TS_OK;
  return err_set(e, (ts_code)rc, "%s: %s", op, rc == TS_ENOMEM ? "out of scratch memory" : "backend failure");
}

/* runs one backend op: timed into the op profile when it is on (ops_prof.h), then ops_ret */
#define OPS_RET(be, op, call, e)    \
  do {                              \
    int rc_;                        \
    OPS_PROF_RUN(be, op, rc_, call); \
    return ops_ret(rc_, op, e);     \
  } while (0)

#define CHK(x)                 \
  do {                         \
    int rc_ = (x);             \
    if (rc_) return rc_;       \
  } while (0)
#define CHK_OPT(be, op, arg, t, lo, hi, e) \
  do {                                     \
    if (t) CHK(ops_chk(be, op, arg, t, lo, hi, e)); \
  } while (0)

int op_fill(backend *be, tensor *x, float v, ts_err *e) {
  CHK(ops_chk(be, "fill", "x", x, 0, 4, e));
  OPS_RET(be, "fill", be->ops->fill(be, x, v), e);
}

int op_copy(backend *be, const tensor *src, tensor *dst, ts_err *e) {
  CHK(ops_chk(be, "copy", "src", src, 0, 4, e));
  CHK(ops_chk(be, "copy", "dst", dst, 0, 4, e));
  CHK(ops_numel("copy", "dst", dst, tensor_numel(src), e));
  OPS_RET(be, "copy", be->ops->copy(be, src, dst), e);
}

int op_axpby(backend *be, const tensor *x, float a, tensor *y, float b, ts_err *e) {
  CHK(ops_chk(be, "axpby", "x", x, 0, 4, e));
  CHK(ops_chk(be, "axpby", "y", y, 0, 4, e));
  CHK(ops_same("axpby", "x", x, "y", y, e));
  OPS_RET(be, "axpby", be->ops->axpby(be, x, a, y, b), e);
}

int op_add(backend *be, const tensor *a, const tensor *b, tensor *c, ts_err *e) {
  CHK(ops_chk(be, "add", "a", a, 0, 4, e));
  CHK(ops_chk(be, "add", "b", b, 0, 4, e));
  CHK(ops_chk(be, "add", "c", c, 0, 4, e));
  CHK(ops_same("add", "a", a, "b", b, e));
  CHK(ops_same("add", "a", a, "c", c, e));
  OPS_RET(be, "add", be->ops->add(be, a, b, c), e);
}

int op_add_bwd(backend *be, const tensor *dc, tensor *da, tensor *db, ts_err *e) {
  if (da) CHK(op_axpby(be, dc, 1.0f, da, 1.0f, e));
  if (db) CHK(op_axpby(be, dc, 1.0f, db, 1.0f, e));
  return TS_OK;
}

int op_scale(backend *be, const tensor *a, float s, tensor *c, ts_err *e) {
  CHK(ops_chk(be, "scale", "a", a, 0, 4, e));
  CHK(ops_chk(be, "scale", "c", c, 0, 4, e));
  CHK(ops_same("scale", "a", a, "c", c, e));
  if (a->data != c->data) CHK(op_copy(be, a, c, e));
  OPS_RET(be, "scale", be->ops->axpby(be, c, 0.0f, c, s), e);
}

int op_scale_bwd(backend *be, const tensor *dc, float s, tensor *da, ts_err *e) {
  return op_axpby(be, dc, s, da, 1.0f, e);
}

int op_mul(backend *be, const tensor *a, const tensor *b, tensor *c, ts_err *e) {
  CHK(ops_chk(be, "mul", "a", a, 0, 4, e));
  CHK(ops_chk(be, "mul", "b", b, 0, 4, e));
  CHK(ops_chk(be, "mul", "c", c, 0, 4, e));
  CHK(ops_same("mul", "a", a, "b", b, e));
  CHK(ops_same("mul", "a", a, "c", c, e));
  OPS_RET(be, "mul", be->ops->mul(be, a, b, c), e);
}

int op_mul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da,
               tensor *db, ts_err *e) {
  CHK(ops_chk(be, "mul_bwd", "a", a, 0, 4, e));
  CHK(ops_chk(be, "mul_bwd", "b", b, 0, 4, e));
  CHK(ops_chk(be, "mul_bwd", "dc", dc, 0, 4, e));
  CHK(ops_same("mul_bwd", "a", a, "dc", dc, e));
  CHK(ops_same("mul_bwd", "b", b, "dc", dc, e));
  CHK_OPT(be, "mul_bwd", "da", da, 0, 4, e);
  CHK_OPT(be, "mul_bwd", "db", db, 0, 4, e);
  if (da) CHK(ops_same("mul_bwd", "a", a, "da", da, e));
  if (db) CHK(ops_same("mul_bwd", "b", b, "db", db, e));
  OPS_RET(be, "mul_bwd", be->ops->mul_bwd(be, a, b, dc, da, db), e);
}

/* Checks the geometry of C = op(A) op(B) + bias. */
static int mm_check(backend *be, const char *op, const tensor *a, const tensor *b, const tensor *c,
                    int ta, int tb, ts_err *e) {
  CHK(ops_chk_dt(be, op, "a", a, 2, 4, !ta, e)); /* x of x op(W): may be a bf16 activation */
  CHK(ops_chk(be, op, "b", b, 2, 4, e));
  CHK(ops_chk(be, op, "c", c, 2, 4, e));
  int64_t ar = a->ne[a->ndim - 2], ac = a->ne[a->ndim - 1];
  int64_t br = b->ne[b->ndim - 2], bc = b->ne[b->ndim - 1];
  int64_t M = ta ? ac : ar, K = ta ? ar : ac, Kb = tb ? bc : br, N = tb ? br : bc;
  int64_t abatch = tensor_numel(a) / (ar * ac > 0 ? ar * ac : 1);
  int64_t bbatch = tensor_numel(b) / (br * bc > 0 ? br * bc : 1);
  int64_t cr = c->ne[c->ndim - 2], cc = c->ne[c->ndim - 1];
  int64_t cbatch = tensor_numel(c) / (cr * cc > 0 ? cr * cc : 1);
  char sa[64], sb[64], sc[64];
  if (K != Kb || cr != M || cc != N || abatch != cbatch || (bbatch != 1 && bbatch != cbatch))
    return err_set(e, TS_ESHAPE, "%s: a %s%s x b %s%s -> c %s do not fit", op,
                   tensor_shape_str(a, sa, sizeof sa), ta ? "^T" : "", tensor_shape_str(b, sb, sizeof sb),
                   tb ? "^T" : "", tensor_shape_str(c, sc, sizeof sc));
  return TS_OK;
}

int op_matmul(backend *be, const tensor *a, const tensor *b, const tensor *bias, tensor *c, int ta,
              int tb, float beta, ts_err *e) {
  CHK(mm_check(be, "matmul", a, b, c, ta, tb, e));
  if (bias) {
    CHK(ops_chk(be, "matmul", "bias", bias, 1, 1, e));
    CHK(ops_numel("matmul", "bias", bias, c->ne[c->ndim - 1], e));
  }
  OPS_PROF_SHAPE(a, b);
  OPS_RET(be, "matmul", be->ops->matmul(be, a, b, bias, c, ta, tb, beta), e);
}

/* whether the memory of x and y overlaps (either NULL: no) */
static int tensors_overlap(const tensor *x, const tensor *y) {
  if (!x || !y || !x->data || !y->data) return 0;
  const char *a = x->data, *b = y->data;
  return a < b + tensor_nbytes(y) && b < a + tensor_nbytes(x);
}

int op_matmul_res(backend *be, const tensor *a, const tensor *b, const tensor *bias, const tensor *r, tensor *c,
                  int ta, int tb, ts_err *e) {
  CHK(mm_check(be, "matmul_res", a, b, c, ta, tb, e));
  if (bias) {
    CHK(ops_chk(be, "matmul_res", "bias", bias, 1, 1, e));
    CHK(ops_numel("matmul_res", "bias", bias, c->ne[c->ndim - 1], e));
  }
  CHK(ops_chk(be, "matmul_res", "r", r, 2, 4, e)); /* f32 only, as c */
  CHK(ops_same("matmul_res", "c", c, "r", r, e));
  if (r->data != c->data && tensors_overlap(r, c))
    return err_set(e, TS_EARG, "matmul_res: the residual r overlaps c without being c");
  if (tensors_overlap(c, a) || tensors_overlap(c, b) || tensors_overlap(c, bias))
    return err_set(e, TS_EARG, "matmul_res: c overlaps an operand (a, b or the bias)");
  OPS_PROF_SHAPE(a, b);
  OPS_RET(be, "matmul_res", be->ops->matmul_res(be, a, b, bias, r, c, ta, tb), e);
}

int op_matmul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da,
                  tensor *db, tensor *dbias, int ta, int tb, ts_err *e) {
  return op_matmul_bwd_da(be, a, b, dc, da, db, dbias, ta, tb, 0, e);
}

int op_matmul_bwd_set(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da, tensor *db,
                      tensor *dbias, int ta, int tb, ts_err *e) {
  return op_matmul_bwd_da(be, a, b, dc, da, db, dbias, ta, tb, 1, e);
}

int op_matmul_bwd_da(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da, tensor *db,
                     tensor *dbias, int ta, int tb, int da_set, ts_err *e) {
  CHK(mm_check(be, "matmul_bwd", a, b, dc, ta, tb, e));
  CHK_OPT(be, "matmul_bwd", "da", da, 2, 4, e);
  CHK_OPT(be, "matmul_bwd", "db", db, 2, 4, e);
  CHK_OPT(be, "matmul_bwd", "dbias", dbias, 1, 1, e);
  if (da) CHK(ops_same("matmul_bwd", "a", a, "da", da, e));
  if (db) CHK(ops_same("matmul_bwd", "b", b, "db", db, e));
  if (dbias) CHK(ops_numel("matmul_bwd", "dbias", dbias, dc->ne[dc->ndim - 1], e));
  OPS_PROF_SHAPE(a, b);
  if (da && da_set && (tensors_overlap(da, dc) || tensors_overlap(da, b) || tensors_overlap(da, a)))
    return err_set(e, TS_EARG, "matmul_bwd: a written da must not overlap a, b or dc");
  /* the gradients read dc while they are formed, in an order backends choose (CUDA sums the bias's
   * after the products): none may be dc, nor the bias's gradient one of the others */
  if ((da && tensors_overlap(da, dc)) || (db && tensors_overlap(db, dc)) || (dbias && tensors_overlap(dbias, dc)))
    return err_set(e, TS_EARG, "matmul_bwd: da, db and dbias must not overlap dc");
  if (dbias && ((da && tensors_overlap(dbias, da)) || (db && tensors_overlap(dbias, db))))
    return err_set(e, TS_EARG, "matmul_bwd: dbias must not overlap da or db");
  OPS_RET(be, "matmul_bwd", be->ops->matmul_bwd(be, a, b, dc, da, db, dbias, ta, tb, da_set), e);
}

/* A norm's operands once x is checked: w, b (C); y like x (exactly 3-D when ydims is 3, else 1 to ydims dims;
 * bf16 allowed when ybf16); stats s1, s2 (rows values each, at most sdims dimensions, named n1 and n2). Any
 * may be NULL. */
static int norm_operands(backend *be, const char *op, const tensor *x, int64_t C, int64_t rows, int ydims,
                         int ybf16, const tensor *w, const tensor *b, const tensor *y, const tensor *s1, const char *n1,
                         const tensor *s2, const char *n2, int sdims, ts_err *e) {
  if (w) {
    CHK(ops_chk(be, op, "weight", w, 1, 1, e));
    CHK(ops_numel(op, "weight", w, C, e));
  }
  if (b) {
    CHK(ops_chk(be, op, "bias", b, 1, 1, e));
    CHK(ops_numel(op, "bias", b, C, e));
  }
  if (y) {
    CHK(ops_chk_dt(be, op, "y", y, ydims == 3 ? 3 : 1, ydims, ybf16, e));
    CHK(ops_same(op, "x", x, "y", y, e));
  }
  if (s1) {
    CHK(ops_chk(be, op, n1, s1, 1, sdims, e));
    CHK(ops_numel(op, n1, s1, rows, e));
  }
  if (s2) {
    CHK(ops_chk(be, op, n2, s2, 1, sdims, e));
    CHK(ops_numel(op, n2, s2, rows, e));
  }
  return TS_OK;
}

/* Norm over the last dim: w, b (C); stats (rows). */
/* ybf16: y may be a bf16 activation (a forward's output; the backward passes dy or dx as y) */
static int norm_check(backend *be, const char *op, const tensor *x, const tensor *w, const tensor *b,
                      const tensor *y, int ybf16, const tensor *s1, const tensor *s2, ts_err *e) {
  CHK(ops_chk(be, op, "x", x, 1, 4, e));
  int64_t C = x->ne[x->ndim - 1], rows = C ? tensor_numel(x) / C : 0;
  return norm_operands(be, op, x, C, rows, 4, ybf16, w, b, y, s1, "stats", s2, "stats", 4, e);
}

int op_layernorm(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                 tensor *mean, tensor *rstd, float eps, ts_err *e) {
  if (!y) return err_set(e, TS_EARG, "layernorm: no output");
  CHK(norm_check(be, "layernorm", x, w, b, y, 1, mean, rstd, e));
  OPS_PROF_SHAPE(x, NULL);
  OPS_RET(be, "layernorm", be->ops->layernorm(be, x, w, b, y, mean, rstd, eps), e);
}

/* the norms' backwards' dxin (be_ops): dx itself, NULL (written), or a tensor of dx's shape that
 * overlaps dx only by being it */
static int dxin_check(backend *be, const char *op, const tensor *x, const tensor *dxin, const tensor *dx, ts_err *e) {
  if (!dxin || dxin == dx || (dx && dxin->data == dx->data && tensor_nbytes(dxin) == tensor_nbytes(dx))) return TS_OK;
  if (!dx) return err_set(e, TS_EARG, "%s: dxin given without dx", op);
  CHK(norm_check(be, op, x, NULL, NULL, dxin, 0, NULL, NULL, e)); /* x's shape, f32 */
  if (tensors_overlap(dxin, dx)) return err_set(e, TS_EARG, "%s: dxin overlaps dx without being dx", op);
  return TS_OK;
}

int op_layernorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                     const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db,
                     ts_err *e) {
  return op_layernorm_bwd_to(be, x, w, mean, rstd, dy, dx, dx, dw, db, e);
}

int op_layernorm_bwd_to(backend *be, const tensor *x, const tensor *w, const tensor *mean, const tensor *rstd,
                        const tensor *dy, const tensor *dxin, tensor *dx, tensor *dw, tensor *db, ts_err *e) {
  if (!mean || !rstd) return err_set(e, TS_EARG, "layernorm_bwd: mean and rstd from the forward are needed");
  if (!dy) return err_set(e, TS_EARG, "layernorm_bwd: no output gradient");
  CHK(norm_check(be, "layernorm_bwd", x, w, NULL, dy, 0, mean, rstd, e));
  if (dx) CHK(norm_check(be, "layernorm_bwd", x, NULL, NULL, dx, 0, NULL, NULL, e));
  if (dw) CHK(norm_check(be, "layernorm_bwd", x, dw, NULL, NULL, 0, NULL, NULL, e));
  if (db) CHK(norm_check(be, "layernorm_bwd", x, db, NULL, NULL, 0, NULL, NULL, e));
  CHK(dxin_check(be, "layernorm_bwd", x, dxin, dx, e));
  OPS_PROF_SHAPE(x, NULL);
  OPS_RET(be, "layernorm_bwd", be->ops->layernorm_bwd(be, x, w, mean, rstd, dy, dxin, dx, dw, db), e);
}

int op_layernorm_act(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                     tensor *rstd, act_kind k, float eps, ts_err *e) {
  if (!y || !mean || !rstd)
    return err_set(e, TS_EARG, "layernorm_act: needs y, mean and rstd (its backward recomputes the norm from them)");
  if ((unsigned)k > ACT_SILU) return err_set(e, TS_EARG, "layernorm_act: unknown activation %d", (int)k);
  CHK(norm_check(be, "layernorm_act", x, w, b, y, 1, mean, rstd, e));
  if (tensors_overlap(y, x)) /* the backward recomputes the norm from x */
    return err_set(e, TS_EARG, "layernorm_act: y must not overlap x (its backward reads x)");
  OPS_PROF_SHAPE(x, NULL);
  OPS_RET(be, "layernorm_act", be->ops->layernorm_act(be, x, w, b, y, mean, rstd, k, eps), e);
}

static int lna_bwd(backend *be, const tensor *x, const tensor *w, const tensor *b, const tensor *mean,
                   const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db, act_kind k, int dx_set,
                   ts_err *e) {
  if (!mean || !rstd) return err_set(e, TS_EARG, "layernorm_act_bwd: mean and rstd from the forward are needed");
  if (!dy) return err_set(e, TS_EARG, "layernorm_act_bwd: no output gradient");
  if ((unsigned)k > ACT_SILU) return err_set(e, TS_EARG, "layernorm_act_bwd: unknown activation %d", (int)k);
  CHK(norm_check(be, "layernorm_act_bwd", x, w, b, dy, 0, mean, rstd, e));
  if (dx) CHK(norm_check(be, "layernorm_act_bwd", x, NULL, NULL, dx, 0, NULL, NULL, e));
  if (dx && tensors_overlap(dx, dy)) return err_set(e, TS_EARG, "layernorm_act_bwd: dx must not overlap dy");
  if (dx && dx_set &&
      (tensors_overlap(dx, x) || tensors_overlap(dx, w) || tensors_overlap(dx, b) || tensors_overlap(dx, mean) ||
       tensors_overlap(dx, rstd) || tensors_overlap(dx, dw) || tensors_overlap(dx, db)))
    return err_set(e, TS_EARG, "layernorm_act_bwd: a written dx must not overlap x, w, b, the statistics, dw or db");
  if (dw) CHK(norm_check(be, "layernorm_act_bwd", x, dw, NULL, NULL, 0, NULL, NULL, e));
  if (db) CHK(norm_check(be, "layernorm_act_bwd", x, db, NULL, NULL, 0, NULL, NULL, e));
  OPS_PROF_SHAPE(x, NULL);
  OPS_RET(be, "layernorm_act_bwd", be->ops->layernorm_act_bwd(be, x, w, b, mean, rstd, dy, dx, dw, db, k, dx_set), e);
}

int op_layernorm_act_bwd(backend *be, const tensor *x, const tensor *w, const tensor *b, const tensor *mean,
                         const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db, act_kind k,
                         ts_err *e) {
  return lna_bwd(be, x, w, b, mean, rstd, dy, dx, dw, db, k, 0, e);
}

int op_layernorm_act_bwd_set(backend *be, const tensor *x, const tensor *w, const tensor *b, const tensor *mean,
                             const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db, act_kind k,
                             ts_err *e) {
  return lna_bwd(be, x, w, b, mean, rstd, dy, dx, dw, db, k, 1, e);
}

/* LayerNorm over the channel axis: x (B,C,T), w, b (C), y like x, stats (B*T) */
static int lnc_check(backend *be, const char *op, const tensor *x, const tensor *w, const tensor *b,
                     const tensor *y, const tensor *mean, const tensor *rstd, ts_err *e) {
  CHK(ops_chk(be, op, "x", x, 3, 3, e));
  return norm_operands(be, op, x, x->ne[1], x->ne[0] * x->ne[2], 3, 0, w, b, y, mean, "mean", rstd, "rstd", 2, e);
}

int op_layernorm_ch(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                    tensor *mean, tensor *rstd, float eps, ts_err *e) {
  if (!y) return err_set(e, TS_EARG, "layernorm_ch: no output");
  CHK(lnc_check(be, "layernorm_ch", x, w, b, y, mean, rstd, e));
  OPS_PROF_SHAPE(x, NULL);
  OPS_RET(be, "layernorm_ch", be->ops->layernorm_ch(be, x, w, b, y, mean, rstd, eps), e);
}

int op_layernorm_ch_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                        const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db,
                        ts_err *e) {
  if (!mean || !rstd) return err_set(e, TS_EARG, "layernorm_ch_bwd: mean and rstd from the forward are needed");
  if (!dy) return err_set(e, TS_EARG, "layernorm_ch_bwd: no output gradient");
  CHK(lnc_check(be, "layernorm_ch_bwd", x, w, NULL, dy, mean, rstd, e));
  if (dx) CHK(lnc_check(be, "layernorm_ch_bwd", x, NULL, NULL, dx, NULL, NULL, e));
  if (dw) CHK(lnc_check(be, "layernorm_ch_bwd", x, dw, NULL, NULL, NULL, NULL, e));
  if (db) CHK(lnc_check(be, "layernorm_ch_bwd", x, db, NULL, NULL, NULL, NULL, e));
  OPS_PROF_SHAPE(x, NULL);
  OPS_RET(be, "layernorm_ch_bwd", be->ops->layernorm_ch_bwd(be, x, w, mean, rstd, dy, dx, dw, db), e);
}

int op_rmsnorm(backend *be, const tensor *x, const tensor *w, tensor *y, tensor *rstd, float eps,
               ts_err *e) {
  if (!y) return err_set(e, TS_EARG, "rmsnorm: no output");
  CHK(norm_check(be, "rmsnorm", x, w, NULL, y, 1, rstd, NULL, e));
  OPS_RET(be, "rmsnorm", be->ops->rmsnorm(be, x, w, y, rstd, eps), e);
}

int op_rmsnorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *rstd,
                   const tensor *dy, tensor *dx, tensor *dw, ts_err *e) {
  return op_rmsnorm_bwd_to(be, x, w, rstd, dy, dx, dx, dw, e);
}

int op_rmsnorm_bwd_to(backend *be, const tensor *x, const tensor *w, const tensor *rstd, const tensor *dy,
                      const tensor *dxin, tensor *dx, tensor *dw, ts_err *e) {
  if (!rstd) return err_set(e, TS_EARG, "rmsnorm_bwd: rstd from the forward is needed");
  if (!dy) return err_set(e, TS_EARG, "rmsnorm_bwd: no output gradient");
  CHK(norm_check(be, "rmsnorm_bwd", x, w, NULL, dy, 0, rstd, NULL, e));
  if (dx) CHK(norm_check(be, "rmsnorm_bwd", x, NULL, NULL, dx, 0, NULL, NULL, e));
  if (dw) CHK(norm_check(be, "rmsnorm_bwd", x, dw, NULL, NULL, 0, NULL, NULL, e));
  CHK(dxin_check(be, "rmsnorm_bwd", x, dxin, dx, e));
  OPS_RET(be, "rmsnorm_bwd", be->ops->rmsnorm_bwd(be, x, w, rstd, dy, dxin, dx, dw), e);
}

static int gn_check(backend *be, const char *op, const tensor *x, const tensor *w, const tensor *b,
                    const tensor *y, const tensor *mean, const tensor *rstd, int groups, ts_err *e) {
  CHK(ops_chk(be, op, "x", x, 3, 3, e));
  int64_t C = x->ne[1];
  if (groups <= 0 || C % groups)
    return err_set(e, TS_ESHAPE, "%s: %lld channels do not split into %d groups", op, (long long)C, groups);
  if (w) {
    CHK(ops_chk(be, op, "weight", w, 1, 1, e));
    CHK(ops_numel(op, "weight", w, C, e));
  }
  if (b) {
    CHK(ops_chk(be, op, "bias", b, 1, 1, e));
    CHK(ops_numel(op, "bias", b, C, e));
  }
  if (y) {
    CHK(ops_chk(be, op, "y", y, 3, 3, e));
    CHK(ops_same(op, "x", x, "y", y, e));
  }
  if (!mean || !rstd) return err_set(e, TS_EARG, "%s: mean and rstd buffers are needed", op);
  CHK(ops_chk(be, op, "mean", mean, 1, 2, e));
  CHK(ops_chk(be, op, "rstd", rstd, 1, 2, e));
  CHK(ops_numel(op, "mean", mean, x->ne[0] * groups, e));
  CHK(ops_numel(op, "rstd", rstd, x->ne[0] * groups, e));
  return TS_OK;
}

int op_groupnorm(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                 tensor *mean, tensor *rstd, int groups, float eps, ts_err *e) {
  CHK(gn_check(be, "groupnorm", x, w, b, y, mean, rstd, groups, e));
  OPS_RET(be, "groupnorm", be->ops->groupnorm(be, x, w, b, y, mean, rstd, groups, eps), e);
}

int op_groupnorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                     const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db,
                     int groups, ts_err *e) {
  CHK(gn_check(be, "groupnorm_bwd", x, w, NULL, dy, mean, rstd, groups, e));
  if (dx) CHK(gn_check(be, "groupnorm_bwd", x, NULL, NULL, dx, mean, rstd, groups, e));
  if (dw) CHK(gn_check(be, "groupnorm_bwd", x, dw, NULL, NULL, mean, rstd, groups, e));
  if (db) CHK(gn_check(be, "groupnorm_bwd", x, db, NULL, NULL, mean, rstd, groups, e));
  OPS_RET(be, "groupnorm_bwd", be->ops->groupnorm_bwd(be, x, w, mean, rstd, dy, dx, dw, db, groups), e);
}

int op_act(backend *be, act_kind k, const tensor *x, tensor *y, ts_err *e) {
  CHK(ops_chk(be, "act", "x", x, 0, 4, e));
  CHK(ops_chk_act(be, "act", "y", y, 0, 4, e));
  CHK(ops_same("act", "x", x, "y", y, e));
  OPS_PROF_SHAPE(x, NULL);
  OPS_RET(be, "act", be->ops->act(be, k, x, y), e);
}

int op_act_bwd(backend *be, act_kind k, const tensor *x, const tensor *dy, tensor *dx, ts_err *e) {
  return op_act_bwd_da(be, k, x, dy, dx, 0, e);
}

int op_act_bwd_set(backend *be, act_kind k, const tensor *x, const tensor *dy, tensor *dx, ts_err *e) {
  return op_act_bwd_da(be, k, x, dy, dx, 1, e);
}

int op_act_bwd_da(backend *be, act_kind k, const tensor *x, const tensor *dy, tensor *dx, int set, ts_err *e) {
  CHK(ops_chk(be, "act_bwd", "x", x, 0, 4, e));
  CHK(ops_chk(be, "act_bwd", "dy", dy, 0, 4, e));
  CHK(ops_chk(be, "act_bwd", "dx", dx, 0, 4, e));
  CHK(ops_same("act_bwd", "x", x, "dy", dy, e));
  CHK(ops_same("act_bwd", "x", x, "dx", dx, e));
  OPS_PROF_SHAPE(x, NULL);
  OPS_RET(be, "act_bwd", be->ops->act_bwd(be, k, x, dy, dx, set), e);
}

int op_swiglu(backend *be, const tensor *gate, const tensor *up, tensor *y, ts_err *e) {
  CHK(ops_chk(be, "swiglu", "gate", gate, 1, 4, e));
  CHK(ops_chk(be, "swiglu", "up", up, 1, 4, e));
  CHK(ops_chk(be, "swiglu", "y", y, 1, 4, e));
  CHK(ops_same("swiglu", "gate", gate, "up", up, e));
  CHK(ops_same("swiglu", "gate", gate, "y", y, e));
  OPS_RET(be, "swiglu", be->ops->swiglu(be, gate, up, y), e);
}

int op_swiglu_bwd(backend *be, const tensor *gate, const tensor *up, const tensor *dy,
                  tensor *dgate, tensor *dup, ts_err *e) {
  CHK(ops_chk(be, "swiglu_bwd", "gate", gate, 1, 4, e));
  CHK(ops_chk(be, "swiglu_bwd", "up", up, 1, 4, e));
  CHK(ops_chk(be, "swiglu_bwd", "dy", dy, 1, 4, e));
  CHK(ops_same("swiglu_bwd", "gate", gate, "up", up, e));
  CHK(ops_same("swiglu_bwd", "gate", gate, "dy", dy, e));
  CHK_OPT(be, "swiglu_bwd", "dgate", dgate, 1, 4, e);
  CHK_OPT(be, "swiglu_bwd", "dup", dup, 1, 4, e);
  if (dgate) CHK(ops_same("swiglu_bwd", "gate", gate, "dgate", dgate, e));
  if (dup) CHK(ops_same("swiglu_bwd", "up", up, "dup", dup, e));
  OPS_RET(be, "swiglu_bwd", be->ops->swiglu_bwd(be, gate, up, dy, dgate, dup, 0), e);
}

int op_softmax(backend *be, const tensor *x, tensor *y, ts_err *e) {
  CHK(ops_chk(be, "softmax", "x", x, 1, 4, e));
  CHK(ops_chk(be, "softmax", "y", y, 1, 4, e));
  CHK(ops_same("softmax", "x", x, "y", y, e));
  OPS_RET(be, "softmax", be->ops->softmax(be, x, y), e);
}

int op_softmax_bwd(backend *be, const tensor *y, const tensor *dy, tensor *dx, ts_err *e) {
  CHK(ops_chk(be, "softmax_bwd", "y", y, 1, 4, e));
  CHK(ops_chk(be, "softmax_bwd", "dy", dy, 1, 4, e));
  CHK(ops_chk(be, "softmax_bwd", "dx", dx, 1, 4, e));
  CHK(ops_same("softmax_bwd", "y", y, "dy", dy, e));
  CHK(ops_same("softmax_bwd", "y", y, "dx", dx, e));
  OPS_RET(be, "softmax_bwd", be->ops->softmax_bwd(be, y, dy, dx), e);
}

static int attn_check(backend *be, const char *op, const tensor *q, const tensor *k, const tensor *v,
                      const tensor *out, const tensor *lse, const attn_cfg *cfg, ts_err *e) {
  CHK(ops_chk(be, op, "q", q, 4, 4, e));
  CHK(ops_chk(be, op, "k", k, 4, 4, e));
  CHK(ops_chk(be, op, "v", v, 4, 4, e));
  CHK(ops_chk(be, op, "out", out, 4, 4, e));
  if (!cfg) return err_set(e, TS_EARG, "%s: settings missing", op);
  char sq[64], sk[64];
  int64_t B = q->ne[0], Tq = q->ne[1], Hq = q->ne[2], D = q->ne[3], Tk = k->ne[1], Hkv = k->ne[2];
  if (k->ne[0] != B || k->ne[3] != D || Hkv <= 0 || Hq % Hkv)
    return err_set(e, TS_ESHAPE, "%s: q %s and k %s do not fit (B, T, H, D with Hq a multiple of Hkv)", op,
                   tensor_shape_str(q, sq, sizeof sq), tensor_shape_str(k, sk, sizeof sk));
  CHK(ops_same(op, "k", k, "v", v, e));
  CHK(ops_same(op, "q", q, "out", out, e));
  if (lse) {
    CHK(ops_chk(be, op, "lse", lse, 1, 4, e));
    CHK(ops_numel(op, "lse", lse, B * Hq * Tq, e));
  }
  if (cfg->keep && (!cfg->keep->buf || !cfg->keep->bytes))
    return err_set(e, TS_EARG, "%s: keep given without its buffer (op_attn_keep_bytes says how many bytes)", op);
  if (cfg->bias) {
    CHK(ops_chk(be, op, "bias", cfg->bias, 3, 3, e));
    if (cfg->bias->ne[0] != Hq || cfg->bias->ne[1] != Tq || cfg->bias->ne[2] != Tk)
      return err_set(e, TS_ESHAPE, "%s: bias must be (Hq=%lld, Tq=%lld, Tk=%lld)", op, (long long)Hq,
                     (long long)Tq, (long long)Tk);
  }
  if (cfg->kv_len)
    for (int64_t b = 0; b < B; b++)
      if (cfg->kv_len[b] < 0 || cfg->kv_len[b] > Tk)
        return err_set(e, TS_EARG, "%s: kv_len[%lld] = %d outside 0..%lld", op, (long long)b, cfg->kv_len[b],
                       (long long)Tk);
  return TS_OK;
}

int op_attention(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out,
                 tensor *lse, const attn_cfg *cfg, ts_err *e) {
  CHK(attn_check(be, "attention", q, k, v, out, lse, cfg, e));
  if (cfg->keep) cfg->keep->made = 0; /* until this forward writes it */
  OPS_PROF_SHAPE(q, k);
  int rc;
  OPS_PROF_RUN(be, "attention", rc, be->ops->attention(be, q, k, v, out, lse, cfg));
  if (cfg->keep) cfg->keep->qkv = 0; /* a split's q, k, v serve this forward only */
  return ops_ret(rc, "attention", e);
}

size_t op_attn_keep_bytes(backend *be, const tensor *q, const tensor *k, const attn_cfg *cfg) {
  return be->ops->attn_keep_bytes(be, q, k, cfg);
}

int op_attention_bwd(backend *be, const tensor *q, const tensor *k, const tensor *v,
                     const tensor *out, const tensor *lse, const tensor *dout, tensor *dq,
                     tensor *dk, tensor *dv, tensor *dbias, const attn_cfg *cfg, ts_err *e) {
  CHK(attn_check(be, "attention_bwd", q, k, v, out, lse, cfg, e));
  if (!lse) return err_set(e, TS_EARG, "attention_bwd: lse from the forward is needed");
  CHK(ops_chk(be, "attention_bwd", "dout", dout, 4, 4, e));
  CHK(ops_same("attention_bwd", "out", out, "dout", dout, e));
  if (dq) CHK(ops_same("attention_bwd", "q", q, "dq", dq, e));
  if (dk) CHK(ops_same("attention_bwd", "k", k, "dk", dk, e));
  if (dv) CHK(ops_same("attention_bwd", "v", v, "dv", dv, e));
  if (dbias) {
    if (!cfg->bias) return err_set(e, TS_EARG, "attention_bwd: dbias given without a bias");
    CHK(ops_same("attention_bwd", "bias", cfg->bias, "dbias", dbias, e));
  }
  if (cfg->grad_set) { /* written gradients (their old contents unread) overlap no input */
    const tensor *in[6] = {q, k, v, out, lse, dout}, *gr[3] = {dq, dk, dv};
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 6; j++)
        if (tensors_overlap(gr[i], in[j]))
          return err_set(e, TS_EARG, "attention_bwd: a written d%c overlaps q, k, v, out, lse or dout", "qkv"[i]);
  }
  OPS_PROF_SHAPE(q, k);
  OPS_RET(be, "attention_bwd", be->ops->attention_bwd(be, q, k, v, out, lse, dout, dq, dk, dv, dbias, cfg), e);
}

/* gate and up side by side in each row: gu (..., 2H), y (..., H) */
/* ybf16: y may be a bf16 activation (the forward's output; the backward passes dy) */
static int swiglu_packed_check(backend *be, const char *op, const tensor *gu, const tensor *y, int ybf16, ts_err *e) {
  CHK(ops_chk(be, op, "gate_up", gu, 1, 4, e));
  CHK(ops_chk_dt(be, op, "y", y, 1, 4, ybf16, e));
  int64_t H = y->ne[y->ndim - 1];
  if (gu->ne[gu->ndim - 1] != 2 * H || tensor_numel(gu) != 2 * tensor_numel(y)) {
    char sa[64], sb[64];
    return err_set(e, TS_ESHAPE, "%s: gate_up %s must hold rows of 2 x y's %s", op,
                   tensor_shape_str(gu, sa, sizeof sa), tensor_shape_str(y, sb, sizeof sb));
  }
  return TS_OK;
}

int op_swiglu_packed(backend *be, const tensor *gu, tensor *y, ts_err *e) {
  CHK(swiglu_packed_check(be, "swiglu_packed", gu, y, 1, e));
  OPS_RET(be, "swiglu_packed", be->ops->swiglu(be, gu, NULL, y), e);
}

int op_swiglu_packed_bwd(backend *be, const tensor *gu, const tensor *dy, tensor *dgu, ts_err *e) {
  return op_swiglu_packed_bwd_da(be, gu, dy, dgu, 0, e);
}

int op_swiglu_packed_bwd_set(backend *be, const tensor *gu, const tensor *dy, tensor *dgu, ts_err *e) {
  return op_swiglu_packed_bwd_da(be, gu, dy, dgu, 1, e);
}

int op_swiglu_packed_bwd_da(backend *be, const tensor *gu, const tensor *dy, tensor *dgu, int set, ts_err *e) {
  CHK(swiglu_packed_check(be, "swiglu_packed_bwd", gu, dy, 0, e));
  CHK(ops_chk(be, "swiglu_packed_bwd", "dgate_up", dgu, 1, 4, e));
  CHK(ops_same("swiglu_packed_bwd", "gate_up", gu, "dgate_up", dgu, e));
  OPS_RET(be, "swiglu_packed_bwd", be->ops->swiglu_bwd(be, gu, NULL, dy, dgu, NULL, set), e);
}

int op_step_graph(backend *be, int phase, ts_err *e) {
  if (phase < TS_STEP_END || phase > TS_STEP_DONE) return err_set(e, TS_EARG, "step_graph: phase %d", phase);
  int rc = be->ops->step_graph ? be->ops->step_graph(be, phase) : TS_OK;
  static const char *const name[] = {"end", "begin", "abort", "done"};
  if (rc)
    return err_set(e, (ts_code)rc, "step_graph (%s): %s", name[phase],
                   be->device == DEV_CUDA ? "the CUDA graph of a decoding step failed (the log says why)"
                                          : "backend failure");
  return TS_OK;
}

int op_step_replay(backend *be, const int32_t *ids, const int32_t *n_new, int64_t B, int *mode, ts_err *e) {
  *mode = 0;
  if (B <= 0 || !ids || !n_new) return err_set(e, TS_EARG, "step_replay: %lld rows without ids or n_new", (long long)B);
  for (int64_t b = 0; b < B; b++)
    if (n_new[b] != 0 && n_new[b] != 1)
      return err_set(e, TS_EARG, "step_replay: n_new[%lld] = %d (a decoding step takes 0 or 1 token a row)",
                     (long long)b, n_new[b]);
  if (!be->ops->step_replay) return TS_OK;
  int rc = be->ops->step_replay(be, ids, n_new, B, mode);
  if (rc) {
    *mode = 0;
    return err_set(e, (ts_code)rc, "step_replay: %s",
                   be->device == DEV_CUDA ? "replaying a decoding step's CUDA graph failed (the log says why)"
                                          : "backend failure");
  }
  return TS_OK;
}

int op_weights_bf16(backend *be, const float *w, int64_t n, int on, ts_err *e) {
  if (on < 0 || on > 2) return err_set(e, TS_EARG, "weights_bf16: on must be 0, 1 or 2, not %d", on);
  if (on && (!w || n < 0)) return err_set(e, TS_EARG, "weights_bf16: no weights");
  OPS_RET(be, "weights_bf16", be->ops->weights_bf16(be, w, n, on), e);
}

/* x (B,T,Hq+2Hkv,D) against q (B,T,Hq,D), k and v (B,T,Hkv,D) */
static int heads_check(backend *be, const char *op, const tensor *x, const tensor *q, const tensor *k,
                       const tensor *v, ts_err *e) {
  CHK(ops_chk(be, op, "qkv", x, 4, 4, e));
  CHK(ops_chk(be, op, "q", q, 4, 4, e));
  CHK(ops_chk(be, op, "k", k, 4, 4, e));
  CHK(ops_chk(be, op, "v", v, 4, 4, e));
  CHK(ops_same(op, "k", k, "v", v, e));
  for (int d = 0; d < 4; d++)
    if ((d != 2 && (q->ne[d] != x->ne[d] || k->ne[d] != x->ne[d])) ||
        (d == 2 && x->ne[2] != q->ne[2] + 2 * k->ne[2])) {
      char sx[64], sq[64], sk[64];
      return err_set(e, TS_ESHAPE, "%s: qkv %s must hold the heads of q %s, k and v %s", op,
                     tensor_shape_str(x, sx, sizeof sx), tensor_shape_str(q, sq, sizeof sq),
                     tensor_shape_str(k, sk, sizeof sk));
    }
  if (x->ne[3] % 2 || x->ne[3] > 1024)
    return err_set(e, TS_ESHAPE, "%s: head dim %lld must be even and at most 1024", op, (long long)x->ne[3]);
  return TS_OK;
}

int op_split_heads(backend *be, const tensor *qkv, tensor *q, tensor *k, tensor *v, const int32_t *pos, float theta,
                   ts_err *e) {
  return op_split_heads_keep(be, qkv, q, k, v, pos, theta, NULL, e);
}

int op_split_heads_keep(backend *be, const tensor *qkv, tensor *q, tensor *k, tensor *v, const int32_t *pos,
                        float theta, attn_keep *keep, ts_err *e) {
  CHK(heads_check(be, "split_heads", qkv, q, k, v, e));
  if (keep && (!keep->buf || !keep->bytes))
    return err_set(e, TS_EARG, "split_heads: keep given without its buffer (op_attn_keep_bytes says how many bytes)");
  if (keep) keep->qkv = 0; /* until this call writes them */
  OPS_RET(be, "split_heads", be->ops->split_heads(be, (tensor *)qkv, q, k, v, pos, NULL, theta, 0, keep), e);
}

int op_split_heads_kv(backend *be, const tensor *qkv, tensor *q, tensor *kc, tensor *vc, const int32_t *kvrow,
                      const int32_t *pos, float theta, ts_err *e) {
  const char *op = "split_heads_kv";
  CHK(ops_chk(be, op, "qkv", qkv, 4, 4, e));
  CHK(ops_chk(be, op, "q", q, 4, 4, e));
  CHK(ops_chk(be, op, "k cache", kc, 2, 4, e));
  CHK(ops_chk(be, op, "v cache", vc, 2, 4, e));
  CHK(ops_same(op, "k cache", kc, "v cache", vc, e));
  int64_t BT = qkv->ne[0] * qkv->ne[1], D = qkv->ne[3], Hkv = (qkv->ne[2] - q->ne[2]) / 2;
  int64_t R = Hkv > 0 && D > 0 ? tensor_numel(kc) / (Hkv * D) : 0;
  if (!kvrow) return err_set(e, TS_EARG, "%s: no cache rows given", op);
  if (Hkv < 1 || qkv->ne[2] != q->ne[2] + 2 * Hkv || q->ne[0] != qkv->ne[0] || q->ne[1] != qkv->ne[1] ||
      q->ne[3] != D || D % 2 || D > 1024 || R * Hkv * D != tensor_numel(kc) ||
      (kc->ndim == 2 ? kc->ne[1] != Hkv * D : kc->ne[kc->ndim - 1] != D || kc->ne[kc->ndim - 2] != Hkv)) {
    char sx[64], sq[64], sk[64];
    return err_set(e, TS_ESHAPE, "%s: qkv %s must hold the heads of q %s and of a cache %s with rows of whole heads",
                   op, tensor_shape_str(qkv, sx, sizeof sx), tensor_shape_str(q, sq, sizeof sq),
                   tensor_shape_str(kc, sk, sizeof sk));
  }
  for (int64_t r = 0; r < BT; r++) {
    if (kvrow[r] < 0 || kvrow[r] >= R)
      return err_set(e, TS_EARG, "%s: cache row %d of row %lld is outside the %lld rows", op, kvrow[r], (long long)r,
                     (long long)R);
    if (r && kvrow[r] <= kvrow[r - 1]) /* distinct rows: no two threads write one */
      return err_set(e, TS_EARG, "%s: cache rows must increase (row %lld: %d after %d)", op, (long long)r, kvrow[r],
                     kvrow[r - 1]);
  }
  /* (1, R, Hkv, D) views: the backends read k and v's head count from ne[2] */
  tensor Kx = tensor_f32(NULL, 4, 1, R, Hkv, D), Vx = Kx;
  Kx.data = kc->data, Vx.data = vc->data;
  Kx.device = kc->device, Vx.device = vc->device;
  OPS_RET(be, op, be->ops->split_heads(be, (tensor *)qkv, q, &Kx, &Vx, pos, kvrow, theta, 0, NULL), e);
}

int op_merge_heads(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *qkv, const int32_t *pos,
                   float theta, ts_err *e) {
  CHK(heads_check(be, "merge_heads", qkv, q, k, v, e));
  OPS_RET(be, "merge_heads", be->ops->split_heads(be, qkv, (tensor *)q, (tensor *)k, (tensor *)v, pos, NULL, theta, 1, NULL),
          e);
}

static int rope_call(backend *be, const tensor *x, tensor *y, const int32_t *pos, float theta, int inverse,
                     const char *op, ts_err *e) {
  OPS_RET(be, op, be->ops->rope(be, x, y, pos, theta, inverse), e);
}

static int rope_check(backend *be, const char *op, const tensor *x, const tensor *y, const int32_t *pos,
                      ts_err *e) {
  CHK(ops_chk(be, op, "x", x, 4, 4, e));
  CHK(ops_chk(be, op, "y", y, 4, 4, e));
  CHK(ops_same(op, "x", x, "y", y, e));
  if (!pos) return err_set(e, TS_EARG, "%s: positions missing", op);
  if (x->ne[3] % 2 || x->ne[3] > 1024)
    return err_set(e, TS_ESHAPE, "%s: head dim %lld must be even and at most 1024", op, (long long)x->ne[3]);
  return TS_OK;
}

int op_rope(backend *be, const tensor *x, tensor *y, const int32_t *pos, float theta, ts_err *e) {
  CHK(rope_check(be, "rope", x, y, pos, e));
  return rope_call(be, x, y, pos, theta, 0, "rope", e);
}

int op_rope_bwd(backend *be, const tensor *dy, tensor *dx, const int32_t *pos, float theta,
                tensor *scratch, ts_err *e) {
  CHK(rope_check(be, "rope_bwd", dy, dx, pos, e));
  CHK(rope_check(be, "rope_bwd", dy, scratch, pos, e));
  CHK(rope_call(be, dy, scratch, pos, theta, 1, "rope_bwd", e));
  return op_axpby(be, scratch, 1.0f, dx, 1.0f, e);
}

int64_t op_conv1d_out_len(int64_t T, int64_t K, int stride, int pad) {
  int64_t span = T + 2 * (int64_t)pad - K;
  return span < 0 ? 0 : span / stride + 1;
}

/* cl 0: x (B, Cin, T), y (B, Cout, Tout); cl 1 (channels-last): x (B, T, Cin), y (B, Tout, Cout) */
static int conv_check(backend *be, const char *op, const tensor *x, const tensor *w, const tensor *y,
                      int stride, int pad, int groups, int cl, ts_err *e) {
  CHK(ops_chk_act(be, op, "x", x, 3, 3, e)); /* a bf16 activation allowed (a conv stack's inner layers) */
  CHK(ops_chk(be, op, "weight", w, 3, 3, e));
  CHK(ops_chk(be, op, "y", y, 3, 3, e));
  if (stride < 1 || pad < 0 || groups < 1) return err_set(e, TS_EARG, "%s: bad stride/padding/groups", op);
  int ct = cl ? 1 : 2, cc = cl ? 2 : 1; /* the time and channel axes */
  int64_t Cin = x->ne[cc], Cout = w->ne[0];
  char sx[64], sw[64], sy[64];
  if (Cin % groups || Cout % groups || w->ne[1] != Cin / groups || y->ne[0] != x->ne[0] || y->ne[cc] != Cout ||
      y->ne[ct] != op_conv1d_out_len(x->ne[ct], w->ne[2], stride, pad))
    return err_set(e, TS_ESHAPE, "%s: x %s, weight %s, y %s do not fit (stride %d, pad %d, groups %d)", op,
                   tensor_shape_str(x, sx, sizeof sx), tensor_shape_str(w, sw, sizeof sw),
                   tensor_shape_str(y, sy, sizeof sy), stride, pad, groups);
  return TS_OK;
}

/* conv1d and conv1d_cl (cl: channels-last), forward and backward: the same checks and the same
 * table signature, only the layout and the entry differ */
static int conv_fwd(backend *be, int cl, const tensor *x, const tensor *w, const tensor *bias, tensor *y, int stride,
                    int pad, int groups, ts_err *e) {
  const char *op = cl ? "conv1d_cl" : "conv1d";
  CHK(conv_check(be, op, x, w, y, stride, pad, groups, cl, e));
  if (bias) {
    CHK(ops_chk(be, op, "bias", bias, 1, 1, e));
    CHK(ops_numel(op, "bias", bias, w->ne[0], e));
  }
  OPS_PROF_SHAPE(x, w);
  OPS_RET(be, op, (cl ? be->ops->conv1d_cl : be->ops->conv1d)(be, x, w, bias, y, stride, pad, groups), e);
}

static int conv_bwd(backend *be, int cl, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                    tensor *dbias, int stride, int pad, int groups, int dx_set, ts_err *e) {
  const char *op = cl ? "conv1d_cl_bwd" : "conv1d_bwd";
  CHK(conv_check(be, op, x, w, dy, stride, pad, groups, cl, e));
  if (dx) CHK(ops_same(op, "x", x, "dx", dx, e));
  if (dw) CHK(ops_same(op, "weight", w, "dweight", dw, e));
  if (dbias) CHK(ops_numel(op, "dbias", dbias, w->ne[0], e));
  if (dx && dx_set &&
      (tensors_overlap(dx, x) || tensors_overlap(dx, w) || tensors_overlap(dx, dy) || tensors_overlap(dx, dw) ||
       tensors_overlap(dx, dbias)))
    return err_set(e, TS_EARG, "%s: a written dx must not overlap x, the weight, dy or their gradients", op);
  OPS_PROF_SHAPE(x, w);
  if (cl) OPS_RET(be, op, be->ops->conv1d_cl_bwd(be, x, w, dy, dx, dw, dbias, stride, pad, groups, dx_set), e);
  OPS_RET(be, op, be->ops->conv1d_bwd(be, x, w, dy, dx, dw, dbias, stride, pad, groups), e);
}

int op_conv1d(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y,
              int stride, int pad, int groups, ts_err *e) {
  return conv_fwd(be, 0, x, w, bias, y, stride, pad, groups, e);
}

int op_conv1d_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx,
                  tensor *dw, tensor *dbias, int stride, int pad, int groups, ts_err *e) {
  return conv_bwd(be, 0, x, w, dy, dx, dw, dbias, stride, pad, groups, 0, e);
}

int op_conv1d_cl(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y, int stride, int pad,
                 int groups, ts_err *e) {
  return conv_fwd(be, 1, x, w, bias, y, stride, pad, groups, e);
}

int op_conv1d_cl_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                     tensor *dbias, int stride, int pad, int groups, ts_err *e) {
  return conv_bwd(be, 1, x, w, dy, dx, dw, dbias, stride, pad, groups, 0, e);
}

int op_conv1d_cl_bwd_set(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                         tensor *dbias, int stride, int pad, int groups, ts_err *e) {
  return conv_bwd(be, 1, x, w, dy, dx, dw, dbias, stride, pad, groups, 1, e);
}

static int wn_check(backend *be, const char *op, const tensor *v, const tensor *g, const tensor *norm,
                    int dim, ts_err *e) {
  CHK(ops_chk(be, op, "v", v, 1, 4, e));
  CHK(ops_chk(be, op, "g", g, 1, 4, e));
  CHK(ops_chk(be, op, "norm", norm, 1, 4, e));
  if (dim < 0 || dim >= v->ndim) return err_set(e, TS_EARG, "%s: dim %d outside the weight's dims", op, dim);
  CHK(ops_numel(op, "g", g, v->ne[dim], e));
  CHK(ops_numel(op, "norm", norm, v->ne[dim], e));
  return TS_OK;
}

int op_weightnorm(backend *be, const tensor *v, const tensor *g, tensor *w, tensor *norm, int dim,
                  ts_err *e) {
  CHK(wn_check(be, "weightnorm", v, g, norm, dim, e));
  CHK(ops_chk(be, "weightnorm", "w", w, 1, 4, e));
  CHK(ops_same("weightnorm", "v", v, "w", w, e));
  OPS_RET(be, "weightnorm", be->ops->weightnorm(be, v, g, w, norm, dim), e);
}

int op_weightnorm_bwd(backend *be, const tensor *v, const tensor *g, const tensor *norm,
                      const tensor *dw, tensor *dv, tensor *dg, int dim, ts_err *e) {
  CHK(wn_check(be, "weightnorm_bwd", v, g, norm, dim, e));
  CHK(ops_chk(be, "weightnorm_bwd", "dw", dw, 1, 4, e));
  CHK(ops_same("weightnorm_bwd", "v", v, "dw", dw, e));
  if (dv) CHK(ops_same("weightnorm_bwd", "v", v, "dv", dv, e));
  if (dg) CHK(ops_same("weightnorm_bwd", "g", g, "dg", dg, e));
  OPS_RET(be, "weightnorm_bwd", be->ops->weightnorm_bwd(be, v, g, norm, dw, dv, dg, dim), e);
}

static int ids_check(const char *op, const int32_t *ids, int64_t n, int64_t V, ts_err *e) {
  if (!ids && n) return err_set(e, TS_EARG, "%s: ids missing", op);
  for (int64_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= V)
      return err_set(e, TS_EARG, "%s: id %d at position %lld outside the table of %lld rows", op, ids[i],
                     (long long)i, (long long)V);
  return TS_OK;
}

int op_embed(backend *be, const tensor *table, const int32_t *ids, tensor *out, ts_err *e) {
  CHK(ops_chk(be, "embed", "table", table, 2, 2, e));
  CHK(ops_chk(be, "embed", "out", out, 1, 4, e));
  int64_t C = table->ne[1];
  if (out->ne[out->ndim - 1] != C) return err_set(e, TS_ESHAPE, "embed: out rows must have %lld values", (long long)C);
  CHK(ids_check("embed", ids, tensor_numel(out) / (C ? C : 1), table->ne[0], e));
  OPS_RET(be, "embed", be->ops->embed(be, table, ids, out), e);
}

int op_embed_bwd(backend *be, const int32_t *ids, const tensor *dout, tensor *dtable, ts_err *e) {
  CHK(ops_chk(be, "embed_bwd", "dtable", dtable, 2, 2, e));
  CHK(ops_chk(be, "embed_bwd", "dout", dout, 1, 4, e));
  int64_t C = dtable->ne[1];
  if (dout->ne[dout->ndim - 1] != C)
    return err_set(e, TS_ESHAPE, "embed_bwd: dout rows must have %lld values", (long long)C);
  CHK(ids_check("embed_bwd", ids, tensor_numel(dout) / (C ? C : 1), dtable->ne[0], e));
  OPS_RET(be, "embed_bwd", be->ops->embed_bwd(be, ids, dout, dtable), e);
}

int op_sample(backend *be, const tensor *z, const sample_req *q, int32_t *tok, float *logp, ts_err *e) {
  CHK(ops_chk(be, "sample", "z", z, 2, 2, e));
  int64_t R = z->ne[0], V = z->ne[1];
  if (!q || !tok || !logp) return err_set(e, TS_EARG, "sample: settings, tok and logp are needed");
  if (q->n_real < 1 || q->n_real > V)
    return err_set(e, TS_EARG, "sample: n_real %lld outside 1..%lld", (long long)q->n_real, (long long)V);
  if (q->temperature > 0.0f && !q->u && R) return err_set(e, TS_EARG, "sample: sampling needs uniforms");
  if (!(q->temperature >= 0.0f)) return err_set(e, TS_EARG, "sample: temperature %g", (double)q->temperature);
  OPS_RET(be, "sample", be->ops->sample(be, z, q, tok, logp), e);
}

int op_set_rows(backend *be, const tensor *src, const int32_t *ids, tensor *dst, ts_err *e) {
  CHK(ops_chk(be, "set_rows", "src", src, 1, 4, e));
  CHK(ops_chk(be, "set_rows", "dst", dst, 1, 4, e));
  int64_t C = dst->ne[dst->ndim - 1];
  if (src->ne[src->ndim - 1] != C)
    return err_set(e, TS_ESHAPE, "set_rows: src rows must have %lld values", (long long)C);
  CHK(ids_check("set_rows", ids, tensor_numel(src) / (C ? C : 1), tensor_numel(dst) / (C ? C : 1), e));
  OPS_RET(be, "set_rows", be->ops->set_rows(be, src, ids, dst), e);
}

static int fc_check(backend *be, const char *op, const tensor *x, const tensor *y, int k, ts_err *e) {
  CHK(ops_chk(be, op, "x", x, 3, 3, e));
  CHK(ops_chk(be, op, "y", y, 3, 3, e));
  char sx[64], sy[64];
  if (k < 1 || y->ne[0] != x->ne[0] || y->ne[1] != x->ne[1] / k || y->ne[2] != x->ne[2] * k)
    return err_set(e, TS_ESHAPE, "%s: x %s -> y %s is not a %d-frame concatenation", op,
                   tensor_shape_str(x, sx, sizeof sx), tensor_shape_str(y, sy, sizeof sy), k);
  return TS_OK;
}

int op_framecat(backend *be, const tensor *x, tensor *y, int k, ts_err *e) {
  CHK(fc_check(be, "framecat", x, y, k, e));
  OPS_RET(be, "framecat", be->ops->framecat(be, x, y, k), e);
}

int op_framecat_bwd(backend *be, const tensor *dy, tensor *dx, int k, ts_err *e) {
  CHK(fc_check(be, "framecat_bwd", dx, dy, k, e));
  OPS_RET(be, "framecat_bwd", be->ops->framecat_bwd(be, dy, dx, k), e);
}

int op_xent(backend *be, tensor *logits, const int32_t *targets, const float *weights,
            float *losses, float grad_scale, ts_err *e) {
  CHK(ops_chk(be, "xent", "logits", logits, 1, 4, e));
  int64_t V = logits->ne[logits->ndim - 1], N = V ? tensor_numel(logits) / V : 0;
  if (!targets && N) return err_set(e, TS_EARG, "xent: targets missing");
  for (int64_t i = 0; i < N; i++)
    if (targets[i] >= V)
      return err_set(e, TS_EARG, "xent: target %d at row %lld outside the vocabulary of %lld", targets[i],
                     (long long)i, (long long)V);
  OPS_RET(be, "xent", be->ops->xent(be, logits, targets, weights, losses, grad_scale), e);
}

int op_adamw(backend *be, float *p, const float *g, float *m, float *v, int64_t n, float lr,
             float beta1, float beta2, float eps, float wd, int64_t t, ts_err *e) {
  if (t < 1) return err_set(e, TS_EARG, "adamw: step must start at 1");
  if (n && (!p || !g || !m || !v)) return err_set(e, TS_EARG, "adamw: a buffer is missing");
  OPS_RET(be, "adamw", be->ops->adamw(be, p, g, m, v, n, lr, beta1, beta2, eps, wd, t), e);
}

int op_adamw_runs(backend *be, float *p, const float *g, float *m, float *v, const adamw_run *runs, int nr, float lr,
                  float beta1, float beta2, float eps, float wd, int64_t t, ts_err *e) {
  if (t < 1) return err_set(e, TS_EARG, "adamw: step must start at 1");
  if (nr < 0 || (nr && !runs)) return err_set(e, TS_EARG, "adamw: no run table");
  if (nr && (!p || !g || !m || !v)) return err_set(e, TS_EARG, "adamw: a buffer is missing");
  for (int r = 0; r < nr; r++) {
    if (runs[r].off < 0 || runs[r].n < 0 || runs[r].n > INT64_MAX - runs[r].off)
      return err_set(e, TS_EARG, "adamw: run %d has offset %lld and length %lld", r, (long long)runs[r].off,
                     (long long)runs[r].n);
    if (r && runs[r].off < runs[r - 1].off + runs[r - 1].n)
      return err_set(e, TS_EARG, "adamw: run %d (offset %lld) overlaps or precedes run %d", r, (long long)runs[r].off,
                     r - 1);
  }
  OPS_RET(be, "adamw_runs", be->ops->adamw_runs(be, p, g, m, v, runs, nr, lr, beta1, beta2, eps, wd, t), e);
}

double op_sumsq(backend *be, const float *x, int64_t n) { return be->ops->sumsq(be, x, n); }
