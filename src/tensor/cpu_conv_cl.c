/* cpu_conv_cl.c — the channels-last 1-D convolution (op_conv1d_cl): x (B, T, Cin) (f32, or a
 * bf16 activation), w (Cout, Cg, K) as conv1d's, y (B, Tout, Cout). The weight is permuted once
 * per call into Wp (Cout, K, Cg), so that output channel o's tap k is the row Wp[o][k][:].
 * Two forms (conv_cl_taps picks; tensor/conv_cl.h, shared with CUDA):
 * - taps (groups 1, Cin >= CONV_CL_TAP_MIN): per tap k one GEMM over the output steps whose
 *   input row t stride + k - pad lies inside x, Y[t] += X[t stride + k - pad] Wk^T, x's rows read
 *   in place with leading dimension stride Cin: no copy of x;
 * - rows (the first layer's one channel, grouped convolutions): a row im2col of all groups,
 *   col (Tout, groups K Cg) with col[t][(g K + k) Cg + c] = x[t stride + k - pad][g Cg + c]
 *   (0 outside x), as CUDA's, and per group one GEMM Y_g (Tout, Og) = col_g Wp_g^T.
 * The backward takes the same forms: dWk += dY^T Xk and dXk += dY Wk; dWp_g += dY_g^T col and
 * dcol = dY_g Wp_g, gathered back into dx. dx may be written instead of added to (dx_set): each
 * row class's first tap writes (conv_cl_dx_first), the rows it leaves start at 0; the gather
 * starts each row at 0. The values are those of a zero fill and the adding form. */
#include <stdlib.h>
#include <string.h>

#include "tensor/cpu_act16.h"
#include "tensor/cpu_ops.h"
#include "tensor/conv_cl.h"
#include "tensor/cpu_scratch.h"
#include "tensor/gemm.h"

/* Wp (Cout, K, Cg)[o][k][c] = w (Cout, Cg, K)[o][c][k] */
static void conv_cl_permute(const float *w, int64_t Cout, int64_t Cg, int64_t K, float *wp) {
  for (int64_t o = 0; o < Cout; o++)
    for (int64_t c = 0; c < Cg; c++)
      for (int64_t k = 0; k < K; k++) wp[(o * K + k) * Cg + c] = w[(o * Cg + c) * K + k];
}

/* dw (Cout, Cg, K)[o][c][k] += dWp (Cout, K, Cg)[o][k][c] */
static void conv_cl_unpermute_add(const float *dwp, int64_t Cout, int64_t Cg, int64_t K, float *dw) {
  for (int64_t o = 0; o < Cout; o++)
    for (int64_t c = 0; c < Cg; c++)
      for (int64_t k = 0; k < K; k++) dw[(o * Cg + c) * K + k] += dwp[(o * K + k) * Cg + c];
}

/* col (Tout, groups K Cg) for batch row xb (T, Cin) (f32, or bf16 bits when x16: widened
 * exactly), all groups at once as CUDA lays it out: col[t][(g K + k) Cg + c] =
 * x[t stride + k - pad][g Cg + c], 0 outside [0, T). With one group, a row whose taps all lie
 * in x is one contiguous run of K Cin values of x (one copy, not K) */
static void conv_cl_im2row(const void *xb, int x16, int64_t T, int64_t Cin, int64_t groups, int64_t K,
                           int64_t Tout, int stride, int pad, float *col) {
  int64_t Cg = Cin / groups, n = K * Cin; /* a col row */
#pragma omp parallel for if (Tout * n > 65536)
  for (int64_t t = 0; t < Tout; t++) {
    float *d = col + t * n;
    int64_t s0 = t * stride - pad;
    if (groups == 1 && s0 >= 0 && s0 + K <= T) {
      if (x16)
        for (int64_t i = 0; i < n; i++) d[i] = cpu_bf16_f32(((const uint16_t *)xb)[s0 * Cin + i]);
      else
        memcpy(d, (const float *)xb + s0 * Cin, sizeof(float) * (size_t)n);
      continue;
    }
    for (int64_t g = 0; g < groups; g++)
      for (int64_t k = 0; k < K; k++, d += Cg) {
        int64_t s = s0 + k;
        if (s < 0 || s >= T) {
          memset(d, 0, sizeof(float) * (size_t)Cg);
        } else if (x16) {
          const uint16_t *h = (const uint16_t *)xb + s * Cin + g * Cg;
          for (int64_t c = 0; c < Cg; c++) d[c] = cpu_bf16_f32(h[c]);
        } else {
          memcpy(d, (const float *)xb + s * Cin + g * Cg, sizeof(float) * (size_t)Cg);
        }
      }
  }
}

/* dx (T, Cin) of one batch row += the gather of dcol (Tout, groups K Cg): dx[u][g Cg + c] +=
 * the sum over k (in order) with u + pad - k = t stride, 0 <= t < Tout, of
 * dcol[t][(g K + k) Cg + c] (a gather over u: no write races); set: each row starts at 0 */
static void conv_cl_row2im(const float *dcol, int64_t T, int64_t Cin, int64_t groups, int64_t K, int64_t Tout,
                           int stride, int pad, int set, float *dx) {
  int64_t Cg = Cin / groups, n = K * Cin;
#pragma omp parallel for if (T * n > 65536)
  for (int64_t u = 0; u < T; u++) {
    float *d = dx + u * Cin;
    if (set) memset(d, 0, sizeof(float) * (size_t)Cin);
    for (int64_t k = 0; k < K; k++) {
      int64_t v = u + pad - k; /* t stride */
      if (v < 0) break;        /* k only grows */
      if (v % stride) continue;
      int64_t t = v / stride;
      if (t >= Tout) continue;
      for (int64_t g = 0; g < groups; g++) {
        const float *s = dcol + t * n + (g * K + k) * Cg;
        float *dg = d + g * Cg;
        for (int64_t c = 0; c < Cg; c++) dg[c] += s[c];
      }
    }
  }
}

/* the rows of one batch row's dx (T, Cin) that no first tap writes (conv_cl.h), set to 0 */
static void conv_cl_dx_zero(float *dxb, int64_t T, int64_t Tout, int64_t K, int64_t Cin, int stride, int pad) {
  for (int64_t q = 0; q < stride; q++) {
    int64_t a, n;
    conv_cl_dx_zero_run(T, Tout, K, stride, pad, q, &a, &n);
    for (int64_t i = 0; i < n; i++) memset(dxb + (a + i * stride) * Cin, 0, sizeof(float) * (size_t)Cin);
  }
}

/* x's element off (f32 or bf16) */
static const void *conv_cl_at(const tensor *x, int64_t off) {
  return (const char *)x->data + (size_t)off * (x->dtype == DT_BF16 ? 2 : 4);
}

int cpu_conv1d_cl(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y, int stride, int pad,
                  int groups) {
  (void)be;
  int64_t B = x->ne[0], T = x->ne[1], Cin = x->ne[2];
  int64_t Cout = w->ne[0], K = w->ne[2], Tout = y->ne[1];
  int64_t Cg = Cin / groups, Og = Cout / groups;
  int x16 = x->dtype == DT_BF16, taps = conv_cl_taps(Cin, groups);
  const float *bp = cpu_f(bias);
  float *yp = cpu_f(y);
  float *wp = malloc(sizeof(float) * (size_t)(Cout * K * Cg + 1)); /* (Cout, K, Cg) */
  float *col = taps ? NULL : cpu_scratch(0, (size_t)(Tout * K * Cin)); /* (Tout, groups K Cg) */
  if (!wp || (!taps && !col) || (taps && x16 && gemm_mp16_reserve(Tout * Cin))) {
    free(wp);
    return TS_ENOMEM; /* before y is touched */
  }
  conv_cl_permute(cpu_f(w), Cout, Cg, K, wp);
  int64_t kf = conv_cl_cover(taps, bp != NULL, T, Tout, K, Cin, stride, pad);
  for (int64_t r = 0; r < B * Tout && kf < 0; r++) /* else y's rows start at the bias (or 0) */
    if (bp)
      memcpy(yp + r * Cout, bp, sizeof(float) * (size_t)Cout);
    else
      memset(yp + r * Cout, 0, sizeof(float) * (size_t)Cout);
  int rc = 0;
  for (int64_t b = 0; b < B && !rc; b++) {
    float *yb = yp + b * Tout * Cout; /* (Tout, Cout) */
    if (taps) {
      for (int64_t i = 0; i < K && !rc; i++) {
        int64_t k = conv_cl_tap(i, kf), lo, hi;
        conv_cl_range(T, Tout, k, stride, pad, &lo, &hi);
        if (hi <= lo || Cin <= 0) continue;
        /* Y[lo..hi) (M, Cout) += X rows (M, Cin; ld stride Cin) Wk^T, Wk (Cout, Cin; ld K Cin) */
        rc = gemm_mp16(0, 1, (int)(hi - lo), (int)Cout, (int)Cin, 1.0f,
                       conv_cl_at(x, b * T * Cin + (lo * stride + k - pad) * Cin), x16, (int)(stride * Cin),
                       wp + k * Cin, 0, (int)(K * Cin), kf >= 0 && i == 0 ? 0.0f : 1.0f, yb + lo * Cout, (int)Cout);
      }
    } else {
      if (Tout > 0 && K * Cg > 0)
        conv_cl_im2row(conv_cl_at(x, b * T * Cin), x16, T, Cin, groups, K, Tout, stride, pad, col);
      for (int64_t g = 0; g < groups && Tout > 0 && K * Cg > 0; g++)
        /* Y_g (Tout, Og; ld Cout) (+)= col_g (Tout, K Cg; ld K Cin) Wp_g^T, Wp_g (Og, K Cg) */
        gemm_mp(0, 1, (int)Tout, (int)Og, (int)(K * Cg), 1.0f, col + g * K * Cg, (int)(K * Cin), wp + g * Og * K * Cg,
                (int)(K * Cg), kf >= 0 ? 0.0f : 1.0f, yb + g * Og, (int)Cout);
    }
  }
  free(wp);
  return rc;
}

int cpu_conv1d_cl_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                      tensor *dbias, int stride, int pad, int groups, int dx_set) {
  (void)be;
  int64_t B = x->ne[0], T = x->ne[1], Cin = x->ne[2];
  int64_t Cout = w->ne[0], K = w->ne[2], Tout = dy->ne[1];
  int64_t Cg = Cin / groups, Og = Cout / groups, nw = Cout * K * Cg;
  int x16 = x->dtype == DT_BF16, taps = conv_cl_taps(Cin, groups);
  const float *g = cpu_f(dy);
  float *dxp = cpu_f(dx), *dbp = cpu_f(dbias);
  float *wp = malloc(sizeof(float) * (size_t)(2 * nw + 1)), *dwp = dw ? wp + nw : NULL; /* (Cout, K, Cg) each */
  double *bs = dbp ? calloc((size_t)Cout + 1, sizeof(double)) : NULL;
  size_t ncol = (size_t)(Tout * K * Cin); /* (Tout, groups K Cg) */
  float *col = taps || !dw ? NULL : cpu_scratch(0, ncol), *dcol = taps || !dx ? NULL : cpu_scratch(1, ncol);
  if (!wp || (dbp && !bs) || (!taps && ((dw && !col) || (dx && !dcol))) ||
      (taps && x16 && dw && gemm_mp16_reserve(Tout * Cin))) {
    free(wp), free(bs);
    return TS_ENOMEM; /* before any gradient is touched */
  }
  if (dbp) { /* dbias[o] += the sum over (b, t) of dy[b][t][o], in double */
    for (int64_t r = 0; r < B * Tout; r++)
      for (int64_t o = 0; o < Cout; o++) bs[o] += g[r * Cout + o];
    for (int64_t o = 0; o < Cout; o++) dbp[o] += (float)bs[o];
    free(bs);
  }
  if (dxp && dx_set && (Tout <= 0 || Cout <= 0 || K <= 0)) { /* nothing reaches dx: written as 0 */
    memset(dxp, 0, sizeof(float) * (size_t)(B * T * Cin));
    dxp = NULL;
  }
  if (!dxp && !dw) {
    free(wp);
    return TS_OK;
  }
  conv_cl_permute(cpu_f(w), Cout, Cg, K, wp);
  if (dwp) memset(dwp, 0, sizeof(float) * (size_t)nw);
  int rc = 0;
  for (int64_t b = 0; b < B && !rc; b++) {
    const float *gb = g + b * Tout * Cout; /* (Tout, Cout) */
    if (taps) {
      if (dxp && dx_set) conv_cl_dx_zero(dxp + b * T * Cin, T, Tout, K, Cin, stride, pad);
      for (int64_t k = 0; k < K && !rc; k++) {
        int64_t lo, hi, ra, rb;
        conv_cl_range(T, Tout, k, stride, pad, &lo, &hi);
        if (hi <= lo || Cin <= 0 || Cout <= 0) continue;
        float beta = dx_set && conv_cl_dx_first(T, Tout, K, stride, pad, k % stride, &ra, &rb) == k ? 0.0f : 1.0f;
        int64_t xo = b * T * Cin + (lo * stride + k - pad) * Cin; /* x's row of output step lo */
        if (dwp) /* dWk (Cout, Cin; ld K Cin) += dY^T (Cout, M) Xk (M, Cin; ld stride Cin) */
          rc = gemm_mp16(1, 0, (int)Cout, (int)Cin, (int)(hi - lo), 1.0f, gb + lo * Cout, 0, (int)Cout,
                         conv_cl_at(x, xo), x16, (int)(stride * Cin), 1.0f, dwp + k * Cin, (int)(K * Cin));
        if (dxp && !rc) /* dXk (M, Cin; ld stride Cin) (+)= dY (M, Cout) Wk (Cout, Cin; ld K Cin) */
          gemm_mp(0, 0, (int)(hi - lo), (int)Cin, (int)Cout, 1.0f, gb + lo * Cout, (int)Cout, wp + k * Cin,
                  (int)(K * Cin), beta, dxp + xo, (int)(stride * Cin));
      }
    } else {
      if (Tout <= 0 || K * Cg <= 0 || Og <= 0) continue;
      if (dwp) conv_cl_im2row(conv_cl_at(x, b * T * Cin), x16, T, Cin, groups, K, Tout, stride, pad, col);
      for (int64_t gi = 0; gi < groups; gi++) {
        if (dwp) /* dWp_g (Og, K Cg) += dY_g^T (Og, Tout) col_g (Tout, K Cg; ld K Cin) */
          gemm_mp(1, 0, (int)Og, (int)(K * Cg), (int)Tout, 1.0f, gb + gi * Og, (int)Cout, col + gi * K * Cg,
                  (int)(K * Cin), 1.0f, dwp + gi * Og * K * Cg, (int)(K * Cg));
        if (dxp) /* dcol_g (Tout, K Cg; ld K Cin) = dY_g (Tout, Og; ld Cout) Wp_g (Og, K Cg) */
          gemm_mp(0, 0, (int)Tout, (int)(K * Cg), (int)Og, 1.0f, gb + gi * Og, (int)Cout, wp + gi * Og * K * Cg,
                  (int)(K * Cg), 0.0f, dcol + gi * K * Cg, (int)(K * Cin));
      }
      if (dxp) conv_cl_row2im(dcol, T, Cin, groups, K, Tout, stride, pad, dx_set, dxp + b * T * Cin); /* gathered */
    }
  }
  if (dwp && !rc) conv_cl_unpermute_add(dwp, Cout, Cg, K, cpu_f(dw));
  free(wp);
  return rc;
}
