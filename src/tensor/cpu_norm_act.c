/* cpu_norm_act.c — op_layernorm_act on the CPU: the row LayerNorm and the activation run as
 * cpu_layernorm then cpu_act over blocks of rows through a scratch block, so the norm's output
 * is never kept; the backward recomputes a block's norm output from x and the stats with the
 * forward's own formula, then runs cpu_act_bwd and cpu_layernorm_bwd on it. The values are the
 * two ops' (y and dx bit for bit; dw and db summed block by block when there are several). */
#include <string.h>

#include "tensor/cpu_ops.h"
#include "tensor/cpu_scratch.h"

#define LNA_BLOCK_VALUES ((int64_t)1 << 22) /* a block of the norm's output: 16 MB (a scratch slot) */

/* rows [r0, r0 + nr) of t viewed as (rows, C) (t's dtype kept); a 1-D t (stats) as (nr) */
static tensor lna_rows(const tensor *t, int64_t r0, int64_t nr, int64_t C) {
  tensor v = *t;
  v.data = (char *)t->data + (size_t)(r0 * (C ? C : 1)) * dtype_size(t->dtype);
  v.ndim = C ? 2 : 1, v.ne[0] = nr, v.ne[1] = C ? C : 1, v.ne[2] = v.ne[3] = 1;
  return v;
}

/* rows per block and the block's scratch slot `slot` (rows x C floats; the calling thread's,
 * kept between calls: the conv columns' slots, free outside conv1d), NULL when out of memory */
static float *lna_block(int64_t N, int64_t C, int slot, int64_t *R) {
  *R = LNA_BLOCK_VALUES / C > 0 ? LNA_BLOCK_VALUES / C : 1;
  if (*R > N) *R = N;
  return cpu_scratch(slot, (size_t)(*R * C));
}

int cpu_layernorm_act(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                      tensor *rstd, act_kind k, float eps) {
  int64_t C = cpu_last(x), N = C ? cpu_rows(x) : 0, R;
  if (N <= 0) return TS_OK;
  float *cn = lna_block(N, C, 0, &R); /* (R, C) the norm's output */
  if (!cn) return TS_ENOMEM;
  int rc = TS_OK;
  for (int64_t r0 = 0; r0 < N && !rc; r0 += R) {
    int64_t nr = N - r0 < R ? N - r0 : R;
    tensor X = lna_rows(x, r0, nr, C), Y = lna_rows(y, r0, nr, C), M = lna_rows(mean, r0, nr, 0),
           S = lna_rows(rstd, r0, nr, 0), CN = X;
    CN.data = cn, CN.dtype = DT_F32;
    rc = cpu_layernorm(be, &X, w, b, &CN, &M, &S, eps);
    if (!rc) rc = cpu_act(be, k, &CN, &Y);
  }
  return rc;
}

int cpu_layernorm_act_bwd(backend *be, const tensor *x, const tensor *w, const tensor *b, const tensor *mean,
                          const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db, act_kind k,
                          int dx_set) {
  int64_t C = cpu_last(x), N = C ? cpu_rows(x) : 0, R;
  if (N <= 0) return TS_OK;
  float *cn = lna_block(N, C, 0, &R), *dcn = lna_block(N, C, 1, &R); /* (R, C) each */
  if (!cn || !dcn) return TS_ENOMEM;
  const float *xp = cpu_f(x), *wp = cpu_f(w), *bp = cpu_f(b), *mp = cpu_f(mean), *rp = cpu_f(rstd);
  int rc = TS_OK;
  for (int64_t r0 = 0; r0 < N && !rc; r0 += R) {
    int64_t nr = N - r0 < R ? N - r0 : R;
    /* the block's norm output, as cpu_layernorm wrote it */
#pragma omp parallel for if (nr * C > 16384)
    for (int64_t i = 0; i < nr; i++) {
      const float *xr = xp + (r0 + i) * C;
      float m = mp[r0 + i], r = rp[r0 + i];
      for (int64_t c = 0; c < C; c++) {
        float n = (xr[c] - m) * r;
        cn[i * C + c] = n * (wp ? wp[c] : 1.0f) + (bp ? bp[c] : 0.0f);
      }
    }
    memset(dcn, 0, sizeof(float) * (size_t)(nr * C));
    tensor X = lna_rows(x, r0, nr, C), DY = lna_rows(dy, r0, nr, C), M = lna_rows(mean, r0, nr, 0),
           S = lna_rows(rstd, r0, nr, 0), CN = X, DCN = X, DX = dx ? lna_rows(dx, r0, nr, C) : X;
    CN.data = cn, DCN.data = dcn;
    rc = cpu_act_bwd(be, k, &CN, &DY, &DCN, 0);
    if (!rc) rc = cpu_layernorm_bwd(be, &X, w, &M, &S, &DCN, dx && !dx_set ? &DX : NULL, dx ? &DX : NULL, dw, db);
  }
  return rc;
}
