/* ops_layout.h — layout ops: moving data between (B, C, T) (convolutions, group norm) and
 * (B, T, C) (layer norm, linear layers) layouts. Checked wrappers over the backend table. */
#ifndef TS_OPS_LAYOUT_H
#define TS_OPS_LAYOUT_H

#include "tensor/backend.h"

/* x (R, C) or (B, R, C) -> y (C, R) or (B, C, R): y = transpose of the last two dims. */
int op_transpose(backend *be, const tensor *x, tensor *y, ts_err *e);
/* backward of y = transpose(x): dx (B, R, C) += transpose(dy (B, C, R)). */
int op_transpose_bwd(backend *be, const tensor *dy, tensor *dx, ts_err *e);

#endif
