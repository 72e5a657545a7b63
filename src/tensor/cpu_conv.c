/* cpu_conv.c — grouped, strided, padded 1-D convolution (im2col + GEMM) and weight norm; x may
 * be a bf16 activation (op_act_dtype: im2col widens it, a K = 1 GEMM takes it through gemm_mp16). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/cpu_act16.h"
#include "tensor/cpu_ops.h"
#include "tensor/cpu_scratch.h"
#include "tensor/gemm.h"

/* col (Cg*K, Tout): col[c*K + k][t] = x[c][t*stride + k - pad] for one group of channels; x f32,
 * or bf16 bits when x16 (widened exactly) */
static void conv_im2col(const void *x, int x16, int64_t Cg, int64_t T, int64_t K, int64_t Tout, int stride,
                        int pad, float *col) {
#pragma omp parallel for if (Cg * K * Tout > 65536)
  for (int64_t ck = 0; ck < Cg * K; ck++) {
    int64_t c = ck / K, kk = ck % K;
    const float *xc = x16 ? NULL : (const float *)x + c * T;
    const uint16_t *hc = x16 ? (const uint16_t *)x + c * T : NULL;
    float *cr = col + ck * Tout;
    for (int64_t t = 0; t < Tout; t++) {
      int64_t s = t * stride + kk - pad;
      cr[t] = (s >= 0 && s < T) ? (hc ? cpu_bf16_f32(hc[s]) : xc[s]) : 0.0f;
    }
  }
}

/* x's element off (x f32 or bf16) */
static const void *conv_x_at(const tensor *x, int64_t off) {
  return (const char *)x->data + (size_t)off * (x->dtype == DT_BF16 ? 2 : 4);
}

/* dx[c][t*stride + k - pad] += dcol[c*K + k][t]; parallel over channels (no write races). */
static void conv_col2im(const float *dcol, int64_t Cg, int64_t T, int64_t K, int64_t Tout, int stride,
                        int pad, float *dx) {
#pragma omp parallel for if (Cg * K * Tout > 65536)
  for (int64_t c = 0; c < Cg; c++) {
    float *xc = dx + c * T;
    for (int64_t kk = 0; kk < K; kk++) {
      const float *cr = dcol + (c * K + kk) * Tout;
      for (int64_t t = 0; t < Tout; t++) {
        int64_t s = t * stride + kk - pad;
        if (s >= 0 && s < T) xc[s] += cr[t];
      }
    }
  }
}

int cpu_conv1d(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y,
               int stride, int pad, int groups) {
  int64_t B = x->ne[0], Cin = x->ne[1], T = x->ne[2];
  int64_t Cout = w->ne[0], K = w->ne[2], Tout = y->ne[2];
  int64_t Cg = Cin / groups, Og = Cout / groups;
  const float *wp = cpu_f(w), *bp = cpu_f(bias);
  float *yp = cpu_f(y);
  int x16 = x->dtype == DT_BF16;
  float *col = cpu_scratch(0, (size_t)(Cg * K * Tout));
  if (!col || (x16 && gemm_mp16_reserve(Cg * T))) return TS_ENOMEM; /* before y is touched */
  for (int64_t b = 0; b < B; b++)
    for (int64_t g = 0; g < groups; g++) {
      const void *xg = conv_x_at(x, (b * Cin + g * Cg) * T);
      float *yg = yp + (b * Cout + g * Og) * Tout;
      if (K == 1 && stride == 1 && pad == 0) {
        int rc = gemm_mp16(0, 0, (int)Og, (int)Tout, (int)Cg, 1.0f, wp + g * Og * Cg, 0, (int)Cg, xg, x16, (int)T,
                           0.0f, yg, (int)Tout);
        if (rc) return rc;
      } else {
        conv_im2col(xg, x16, Cg, T, K, Tout, stride, pad, col);
        gemm_mp(0, 0, (int)Og, (int)Tout, (int)(Cg * K), 1.0f, wp + g * Og * Cg * K, (int)(Cg * K),
                 col, (int)Tout, 0.0f, yg, (int)Tout);
      }
      if (bp)
        for (int64_t o = 0; o < Og; o++) {
          float bv = bp[g * Og + o];
          float *yr = yg + o * Tout;
          for (int64_t t = 0; t < Tout; t++) yr[t] += bv;
        }
    }
  return TS_OK;
}

int cpu_conv1d_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx,
                   tensor *dw, tensor *dbias, int stride, int pad, int groups) {
  int64_t B = x->ne[0], Cin = x->ne[1], T = x->ne[2];
  int64_t Cout = w->ne[0], K = w->ne[2], Tout = dy->ne[2];
  int64_t Cg = Cin / groups, Og = Cout / groups;
  const float *wp = cpu_f(w), *g = cpu_f(dy);
  float *dxp = cpu_f(dx), *dwp = cpu_f(dw), *dbp = cpu_f(dbias);
  int x16 = x->dtype == DT_BF16;
  size_t ncol = (size_t)(Cg * K * Tout);
  float *col = cpu_scratch(0, ncol), *dcol = cpu_scratch(1, ncol);
  if (!col || !dcol) return TS_ENOMEM;
  for (int64_t b = 0; b < B; b++)
    for (int64_t gi = 0; gi < groups; gi++) {
      const void *xg = conv_x_at(x, (b * Cin + gi * Cg) * T);
      const float *gg = g + (b * Cout + gi * Og) * Tout;
      if (dbp)
        for (int64_t o = 0; o < Og; o++) {
          double s = 0;
          for (int64_t t = 0; t < Tout; t++) s += gg[o * Tout + t];
          dbp[gi * Og + o] += (float)s;
        }
      if (dwp) { /* dW_g (Og, Cg*K) += dY_g (Og,Tout) col^T */
        conv_im2col(xg, x16, Cg, T, K, Tout, stride, pad, col);
        gemm_mp(0, 1, (int)Og, (int)(Cg * K), (int)Tout, 1.0f, gg, (int)Tout, col, (int)Tout, 1.0f,
                 dwp + gi * Og * Cg * K, (int)(Cg * K));
      }
      if (dxp) { /* dcol (Cg*K, Tout) = W_g^T dY_g, then scatter back */
        gemm_mp(1, 0, (int)(Cg * K), (int)Tout, (int)Og, 1.0f, wp + gi * Og * Cg * K, (int)(Cg * K), gg,
                 (int)Tout, 0.0f, dcol, (int)Tout);
        conv_col2im(dcol, Cg, T, K, Tout, stride, pad, dxp + (b * Cin + gi * Cg) * T);
      }
    }
  return TS_OK;
}

/* Iterates v (O,I,K) as (outer, mid=ne[dim], inner) so slices along `dim` are easy. */
typedef struct wn_geom {
  int64_t outer, mid, inner;
} wn_geom;

static wn_geom wn_geom_of(const tensor *v, int dim) {
  wn_geom g = {1, v->ne[dim], 1};
  for (int i = 0; i < dim; i++) g.outer *= v->ne[i];
  for (int i = dim + 1; i < v->ndim; i++) g.inner *= v->ne[i];
  return g;
}

int cpu_weightnorm(backend *be, const tensor *v, const tensor *g, tensor *w, tensor *norm, int dim) {
  wn_geom q = wn_geom_of(v, dim);
  const float *vp = cpu_f(v), *gp = cpu_f(g);
  float *wp = cpu_f(w), *np = cpu_f(norm);
#pragma omp parallel for if (tensor_numel(v) > 65536)
  for (int64_t m = 0; m < q.mid; m++) {
    double s = 0;
    for (int64_t o = 0; o < q.outer; o++)
      for (int64_t i = 0; i < q.inner; i++) {
        float x = vp[(o * q.mid + m) * q.inner + i];
        s += (double)x * x;
      }
    float n = (float)sqrt(s);
    np[m] = n;
    float f = gp[m] / n;
    for (int64_t o = 0; o < q.outer; o++)
      for (int64_t i = 0; i < q.inner; i++) {
        int64_t idx = (o * q.mid + m) * q.inner + i;
        wp[idx] = vp[idx] * f;
      }
  }
  return TS_OK;
}

int cpu_weightnorm_bwd(backend *be, const tensor *v, const tensor *g, const tensor *norm,
                       const tensor *dw, tensor *dv, tensor *dg, int dim) {
  wn_geom q = wn_geom_of(v, dim);
  const float *vp = cpu_f(v), *gp = cpu_f(g), *np = cpu_f(norm), *dwp = cpu_f(dw);
  float *dvp = cpu_f(dv), *dgp = cpu_f(dg);
#pragma omp parallel for if (tensor_numel(v) > 65536)
  for (int64_t m = 0; m < q.mid; m++) {
    double dot = 0; /* sum(dw * v) over the slice */
    for (int64_t o = 0; o < q.outer; o++)
      for (int64_t i = 0; i < q.inner; i++) {
        int64_t idx = (o * q.mid + m) * q.inner + i;
        dot += (double)dwp[idx] * vp[idx];
      }
    float n = np[m];
    if (dgp) dgp[m] += (float)(dot / n);
    if (dvp) {
      float a = gp[m] / n, c = (float)(gp[m] * dot / ((double)n * n * n));
      for (int64_t o = 0; o < q.outer; o++)
        for (int64_t i = 0; i < q.inner; i++) {
          int64_t idx = (o * q.mid + m) * q.inner + i;
          dvp[idx] += a * dwp[idx] - c * vp[idx];
        }
    }
  }
  return TS_OK;
}
