/* ops_pool.c — shape and argument checks in front of the backend's pooling op (ops_pool.h). */
#include "tensor/ops_pool.h"
#include "tensor/ops_prof.h"

#include <stdio.h>

static int pool_t(backend *be, const char *op, const char *nm, const tensor *t, int nd, ts_err *e) {
  if (!t) return err_set(e, TS_EARG, "%s: %s is missing", op, nm);
  if (t->ndim != nd) return err_set(e, TS_ESHAPE, "%s: %s has %d dims, expected %d", op, nm, t->ndim, nd);
  if (t->dtype != DT_F32)
    return err_set(e, TS_EUNSUP, "%s: %s is %s; the %s backend computes in F32", op, nm, dtype_name(t->dtype),
                   be->ops->name);
  if (t->device != be->device) return err_set(e, TS_EARG, "%s: %s is on another device", op, nm);
  if (!t->data && tensor_numel(t) > 0) return err_set(e, TS_EARG, "%s: %s has no data", op, nm);
  return TS_OK;
}

static int pool_check(backend *be, const char *op, const tensor *x, const int32_t *lens, const tensor *y,
                      ts_err *e) {
  if (!be->ops->stats_pool) return err_set(e, TS_EUNSUP, "%s: the %s backend has no stats_pool op", op, be->ops->name);
  int rc;
  if ((rc = pool_t(be, op, "x", x, 3, e)) || (rc = pool_t(be, op, "y", y, 2, e))) return rc;
  char sx[64], sy[64];
  if (x->ne[0] < 1 || x->ne[1] < 1 || x->ne[2] < 1)
    return err_set(e, TS_ESHAPE, "%s: x %s is empty", op, tensor_shape_str(x, sx, sizeof sx));
  if (y->ne[0] != x->ne[0] || y->ne[1] != 2 * x->ne[1])
    return err_set(e, TS_ESHAPE, "%s: y %s should be [%lld, %lld] for x %s", op, tensor_shape_str(y, sy, sizeof sy),
                   (long long)x->ne[0], (long long)(2 * x->ne[1]), tensor_shape_str(x, sx, sizeof sx));
  if (lens)
    for (int64_t b = 0; b < x->ne[0]; b++)
      if (lens[b] < 1 || lens[b] > x->ne[2])
        return err_set(e, TS_EARG, "%s: lens[%lld] = %d is outside 1..%lld", op, (long long)b, (int)lens[b],
                       (long long)x->ne[2]);
  return TS_OK;
}

int op_stats_pool(backend *be, const tensor *x, const int32_t *lens, tensor *y, float eps, ts_err *e) {
  int rc = pool_check(be, "stats_pool", x, lens, y, e);
  if (rc) return rc;
  if (!(eps >= 0)) return err_set(e, TS_EARG, "stats_pool: eps %g must be >= 0", (double)eps);
  OPS_PROF_RUN(be, "stats_pool", rc, be->ops->stats_pool(be, x, lens, y, NULL, NULL, eps));
  return rc ? err_set(e, (ts_code)rc, "stats_pool: backend failure") : TS_OK;
}

int op_stats_pool_bwd(backend *be, const tensor *x, const int32_t *lens, const tensor *y, const tensor *dy,
                      tensor *dx, ts_err *e) {
  int rc = pool_check(be, "stats_pool_bwd", x, lens, y, e);
  if (rc) return rc;
  if ((rc = pool_t(be, "stats_pool_bwd", "dy", dy, 2, e))) return rc;
  if (!tensor_same_shape(dy, y)) return err_set(e, TS_ESHAPE, "stats_pool_bwd: dy and y differ in shape");
  if (!dx) return TS_OK;
  if ((rc = pool_t(be, "stats_pool_bwd", "dx", dx, 3, e))) return rc;
  if (!tensor_same_shape(dx, x)) return err_set(e, TS_ESHAPE, "stats_pool_bwd: dx and x differ in shape");
  OPS_PROF_RUN(be, "stats_pool_bwd", rc, be->ops->stats_pool(be, x, lens, (tensor *)y, dy, dx, 0.0f));
  return rc ? err_set(e, (ts_code)rc, "stats_pool_bwd: backend failure") : TS_OK;
}
