/* ops_layout.c — shape checks in front of the backend's layout ops (see ops_layout.h). */
#include "tensor/ops_layout.h"
#include "tensor/ops_prof.h"

#include <stdio.h>

static int tr_check(backend *be, const char *op, const char *xn, const tensor *x, const char *yn,
                    const tensor *y, ts_err *e) {
  if (!be->ops->transpose)
    return err_set(e, TS_EUNSUP, "%s: the %s backend has no transpose op", op, be->ops->name);
  const tensor *t[2] = {x, y};
  const char *nm[2] = {xn, yn};
  for (int i = 0; i < 2; i++) {
    if (!t[i]) return err_set(e, TS_EARG, "%s: %s is missing", op, nm[i]);
    if (t[i]->ndim < 2 || t[i]->ndim > 3)
      return err_set(e, TS_ESHAPE, "%s: %s has %d dims, expected 2 or 3", op, nm[i], t[i]->ndim);
    if (t[i]->dtype != DT_F32)
      return err_set(e, TS_EUNSUP, "%s: %s is %s; the %s backend computes in F32", op, nm[i],
                     dtype_name(t[i]->dtype), be->ops->name);
    if (t[i]->device != be->device) return err_set(e, TS_EARG, "%s: %s is on another device", op, nm[i]);
    if (!t[i]->data && tensor_numel(t[i]) > 0) return err_set(e, TS_EARG, "%s: %s has no data", op, nm[i]);
  }
  int nd = x->ndim;
  char sx[64], sy[64];
  if (y->ndim != nd || (nd == 3 && y->ne[0] != x->ne[0]) || y->ne[nd - 2] != x->ne[nd - 1] ||
      y->ne[nd - 1] != x->ne[nd - 2])
    return err_set(e, TS_ESHAPE, "%s: %s %s is not the transpose of %s %s", op, yn,
                   tensor_shape_str(y, sy, sizeof sy), xn, tensor_shape_str(x, sx, sizeof sx));
  return TS_OK;
}

int op_transpose(backend *be, const tensor *x, tensor *y, ts_err *e) {
  int rc = tr_check(be, "transpose", "x", x, "y", y, e);
  if (rc) return rc;
  OPS_PROF_SHAPE(x, NULL);
  OPS_PROF_RUN(be, "transpose", rc, be->ops->transpose(be, x, y, 0.0f));
  return rc ? err_set(e, (ts_code)rc, "transpose: backend failure") : TS_OK;
}

int op_transpose_bwd(backend *be, const tensor *dy, tensor *dx, ts_err *e) {
  int rc = tr_check(be, "transpose_bwd", "dy", dy, "dx", dx, e);
  if (rc) return rc;
  OPS_PROF_SHAPE(dy, NULL);
  OPS_PROF_RUN(be, "transpose_bwd", rc, be->ops->transpose(be, dy, dx, 1.0f));
  return rc ? err_set(e, (ts_code)rc, "transpose_bwd: backend failure") : TS_OK;
}
