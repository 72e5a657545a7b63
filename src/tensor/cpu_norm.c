/* cpu_norm.c — LayerNorm (over the last dim, or over the channel axis of (B,C,T)), RMSNorm and
 * GroupNorm forward and backward on the CPU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/cpu_act16.h"
#include "tensor/cpu_ops.h"
#include "tensor/par.h"

/* Per-thread partial sums for parameter gradients, reduced at the end: (threads, C), zeroed. */
static float *norm_partials(int64_t C, int *nth) {
  *nth = par_max_threads();
  return calloc((size_t)*nth * (size_t)C, sizeof(float));
}

static void norm_reduce(float *dst, const float *part, int nth, int64_t C) {
  if (!dst) return;
  for (int t = 0; t < nth; t++)
    for (int64_t c = 0; c < C; c++) dst[c] += part[(int64_t)t * C + c];
}

/* A row's sums in double over LN_LANES interleaved lanes (c mod LN_LANES), added in a fixed tree
 * at the end: one chain of dependent double adds per row ran at the adds' latency (the
 * channels-last conv stack's row LayerNorms took 1.8x the channel-axis ones on the CPU, session
 * 19); independent lanes vectorise. The order is fixed, so results do not depend on threads. */
#define LN_LANES 8

static double ln_tree(const double *l) {
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* the sum of x[0 .. C) */
static double ln_sum(const float *x, int64_t C) {
  double l[LN_LANES] = {0};
  int64_t c = 0;
  for (; c + LN_LANES <= C; c += LN_LANES)
    for (int j = 0; j < LN_LANES; j++) l[j] += x[c + j];
  for (int j = 0; c < C; c++, j++) l[j] += x[c];
  return ln_tree(l);
}

/* the sum of (x[c] - m)^2, each difference in float as before */
static double ln_sqdev(const float *x, int64_t C, float m) {
  double l[LN_LANES] = {0};
  int64_t c = 0;
  for (; c + LN_LANES <= C; c += LN_LANES)
    for (int j = 0; j < LN_LANES; j++) {
      float d = x[c + j] - m;
      l[j] += (double)d * d;
    }
  for (int j = 0; c < C; c++, j++) {
    float d = x[c] - m;
    l[j] += (double)d * d;
  }
  return ln_tree(l);
}

int cpu_layernorm(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                   tensor *mean, tensor *rstd, float eps) {
  int64_t N = cpu_rows(x), C = cpu_last(x);
  const float *xp = cpu_f(x), *wp = cpu_f(w), *bp = cpu_f(b);
  float *mp = cpu_f(mean), *rp = cpu_f(rstd);
  CPU_OUT(y, yp, yh);
#pragma omp parallel for if (N * C > 16384)
  for (int64_t i = 0; i < N; i++) {
    const float *xr = xp + i * C;
    float m = (float)(ln_sum(xr, C) / C);
    float r = 1.0f / sqrtf((float)(ln_sqdev(xr, C, m) / C) + eps);
    for (int64_t c = 0; c < C; c++) {
      float n = (xr[c] - m) * r;
      CPU_STORE(yp, yh, i * C + c, n * (wp ? wp[c] : 1.0f) + (bp ? bp[c] : 0.0f));
    }
    if (mp) mp[i] = m;
    if (rp) rp[i] = r;
  }
  return TS_OK;
}

int cpu_layernorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                       const tensor *rstd, const tensor *dy, const tensor *dxin, tensor *dx, tensor *dw, tensor *db) {
  int64_t N = cpu_rows(x), C = cpu_last(x);
  const float *xp = cpu_f(x), *wp = cpu_f(w), *mp = cpu_f(mean), *rp = cpu_f(rstd), *g = cpu_f(dy);
  const float *bp = cpu_f(dxin); /* (N, C) what dx adds onto (dx, a residual's gradient), or NULL: 0 */
  float *dxp = cpu_f(dx);
  int nth;
  float *pw = norm_partials(2 * C, &nth), *pb = pw ? pw + (int64_t)nth * C : NULL; /* dw's, then db's */
  if (!pw) return TS_ENOMEM;
#pragma omp parallel for if (N * C > 16384)
  for (int64_t i = 0; i < N; i++) {
    const float *xr = xp + i * C, *gr = g + i * C;
    float m = mp[i], r = rp[i];
    float *tw = pw + (int64_t)par_thread() * C, *tb = pb + (int64_t)par_thread() * C;
    double ld[LN_LANES] = {0}, ldx[LN_LANES] = {0}; /* lanes c mod LN_LANES, as ln_sum */
    for (int64_t c0 = 0; c0 < C; c0 += LN_LANES) {
      int nl = C - c0 < LN_LANES ? (int)(C - c0) : LN_LANES;
      for (int j = 0; j < nl; j++) {
        int64_t c = c0 + j;
        float xh = (xr[c] - m) * r;
        float dn = gr[c] * (wp ? wp[c] : 1.0f);
        tw[c] += gr[c] * xh;
        tb[c] += gr[c];
        ld[j] += dn;
        ldx[j] += (double)dn * xh;
      }
    }
    float md = (float)(ln_tree(ld) / C), mdx = (float)(ln_tree(ldx) / C);
    if (dxp) {
      float *dr = dxp + i * C;
      const float *br = bp ? bp + i * C : NULL;
      for (int64_t c = 0; c < C; c++) {
        float xh = (xr[c] - m) * r;
        float dn = gr[c] * (wp ? wp[c] : 1.0f);
        dr[c] = (br ? br[c] : 0.0f) + r * (dn - md - xh * mdx);
      }
    }
  }
  norm_reduce(cpu_f(dw), pw, nth, C);
  norm_reduce(cpu_f(db), pb, nth, C);
  free(pw);
  return TS_OK;
}

/* ---- LayerNorm over the channel axis of x (B,C,T). Work goes by tiles of LNC_TILE steps of one
 * batch row: a tile walks the channels in order, keeping per-step sums, so each step's
 * statistics are summed over c = 0 .. C-1 in order, as cpu_layernorm sums a row, and every
 * read is along a contiguous row of x. ---- */
#define LNC_TILE 64

int cpu_layernorm_ch(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                     tensor *mean, tensor *rstd, float eps) {
  int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], nt = (T + LNC_TILE - 1) / LNC_TILE;
  const float *xp = cpu_f(x), *wp = cpu_f(w), *bp = cpu_f(b);
  float *yp = cpu_f(y), *mp = cpu_f(mean), *rp = cpu_f(rstd);
#pragma omp parallel for if (B * C * T > 16384)
  for (int64_t k = 0; k < B * nt; k++) {
    int64_t bi = k / nt, t0 = k % nt * LNC_TILE, n = T - t0 < LNC_TILE ? T - t0 : LNC_TILE;
    const float *xb = xp + bi * C * T + t0;
    float *yb = yp + bi * C * T + t0;
    double s[LNC_TILE] = {0}, v[LNC_TILE] = {0};
    float m[LNC_TILE], r[LNC_TILE];
    for (int64_t c = 0; c < C; c++)
      for (int64_t j = 0; j < n; j++) s[j] += xb[c * T + j];
    for (int64_t j = 0; j < n; j++) m[j] = (float)(s[j] / C);
    for (int64_t c = 0; c < C; c++)
      for (int64_t j = 0; j < n; j++) {
        float d = xb[c * T + j] - m[j];
        v[j] += (double)d * d;
      }
    for (int64_t j = 0; j < n; j++) r[j] = 1.0f / sqrtf((float)(v[j] / C) + eps);
    for (int64_t c = 0; c < C; c++) {
      float wc = wp ? wp[c] : 1.0f, bc = bp ? bp[c] : 0.0f;
      for (int64_t j = 0; j < n; j++) {
        float nv = (xb[c * T + j] - m[j]) * r[j];
        yb[c * T + j] = nv * wc + bc;
      }
    }
    for (int64_t j = 0; j < n; j++) {
      if (mp) mp[bi * T + t0 + j] = m[j];
      if (rp) rp[bi * T + t0 + j] = r[j];
    }
  }
  return TS_OK;
}

int cpu_layernorm_ch_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                         const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db) {
  int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], nt = (T + LNC_TILE - 1) / LNC_TILE;
  const float *xp = cpu_f(x), *wp = cpu_f(w), *mp = cpu_f(mean), *rp = cpu_f(rstd), *g = cpu_f(dy);
  float *dxp = cpu_f(dx);
  int nth;
  float *pw = norm_partials(2 * C, &nth), *pb = pw ? pw + (int64_t)nth * C : NULL; /* dw's, then db's */
  if (!pw) return TS_ENOMEM;
#pragma omp parallel for if (B * C * T > 16384)
  for (int64_t k = 0; k < B * nt; k++) {
    int64_t bi = k / nt, t0 = k % nt * LNC_TILE, n = T - t0 < LNC_TILE ? T - t0 : LNC_TILE;
    const float *xb = xp + bi * C * T + t0, *gb = g + bi * C * T + t0, *m = mp + bi * T + t0, *r = rp + bi * T + t0;
    float *tw = pw + (int64_t)par_thread() * C, *tb = pb + (int64_t)par_thread() * C;
    double sd[LNC_TILE] = {0}, sdx[LNC_TILE] = {0};
    for (int64_t c = 0; c < C; c++) {
      float wc = wp ? wp[c] : 1.0f, aw = 0.0f, ab = 0.0f;
      for (int64_t j = 0; j < n; j++) {
        float xh = (xb[c * T + j] - m[j]) * r[j], gv = gb[c * T + j], dn = gv * wc;
        sd[j] += dn;
        sdx[j] += (double)dn * xh;
        aw += gv * xh;
        ab += gv;
      }
      tw[c] += aw;
      tb[c] += ab;
    }
    if (!dxp) continue;
    float md[LNC_TILE], mdx[LNC_TILE];
    for (int64_t j = 0; j < n; j++) md[j] = (float)(sd[j] / C), mdx[j] = (float)(sdx[j] / C);
    float *dxb = dxp + bi * C * T + t0;
    for (int64_t c = 0; c < C; c++) {
      float wc = wp ? wp[c] : 1.0f;
      for (int64_t j = 0; j < n; j++) {
        float xh = (xb[c * T + j] - m[j]) * r[j], dn = gb[c * T + j] * wc;
        dxb[c * T + j] += r[j] * (dn - md[j] - xh * mdx[j]);
      }
    }
  }
  norm_reduce(cpu_f(dw), pw, nth, C);
  norm_reduce(cpu_f(db), pb, nth, C);
  free(pw);
  return TS_OK;
}

int cpu_rmsnorm(backend *be, const tensor *x, const tensor *w, tensor *y, tensor *rstd, float eps) {
  int64_t N = cpu_rows(x), C = cpu_last(x);
  const float *xp = cpu_f(x), *wp = cpu_f(w);
  float *rp = cpu_f(rstd);
  CPU_OUT(y, yp, yh);
#pragma omp parallel for if (N * C > 16384)
  for (int64_t i = 0; i < N; i++) {
    const float *xr = xp + i * C;
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += (double)xr[c] * xr[c];
    float r = 1.0f / sqrtf((float)(s / C) + eps);
    for (int64_t c = 0; c < C; c++) CPU_STORE(yp, yh, i * C + c, xr[c] * r * (wp ? wp[c] : 1.0f));
    if (rp) rp[i] = r;
  }
  return TS_OK;
}

int cpu_rmsnorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *rstd,
                     const tensor *dy, const tensor *dxin, tensor *dx, tensor *dw) {
  int64_t N = cpu_rows(x), C = cpu_last(x);
  const float *xp = cpu_f(x), *wp = cpu_f(w), *rp = cpu_f(rstd), *g = cpu_f(dy);
  const float *bp = cpu_f(dxin); /* (N, C) what dx adds onto, or NULL: 0 */
  float *dxp = cpu_f(dx);
  int nth;
  float *pw = norm_partials(C, &nth);
  if (!pw) return TS_ENOMEM;
#pragma omp parallel for if (N * C > 16384)
  for (int64_t i = 0; i < N; i++) {
    const float *xr = xp + i * C, *gr = g + i * C;
    float r = rp[i];
    float *tw = pw + (int64_t)par_thread() * C;
    double sdx = 0;
    for (int64_t c = 0; c < C; c++) {
      float xh = xr[c] * r;
      float dn = gr[c] * (wp ? wp[c] : 1.0f);
      sdx += (double)dn * xh;
      tw[c] += gr[c] * xh;
    }
    float mdx = (float)(sdx / C);
    if (dxp) {
      float *dr = dxp + i * C;
      const float *br = bp ? bp + i * C : NULL;
      for (int64_t c = 0; c < C; c++) {
        float xh = xr[c] * r;
        float dn = gr[c] * (wp ? wp[c] : 1.0f);
        dr[c] = (br ? br[c] : 0.0f) + r * (dn - xh * mdx);
      }
    }
  }
  norm_reduce(cpu_f(dw), pw, nth, C);
  free(pw);
  return TS_OK;
}

/* x (B,C,T): group g covers channels [g*C/G, (g+1)*C/G) over all T. */
int cpu_groupnorm(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                   tensor *mean, tensor *rstd, int groups, float eps) {
  int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], Cg = C / groups;
  const float *xp = cpu_f(x), *wp = cpu_f(w), *bp = cpu_f(b);
  float *yp = cpu_f(y), *mp = cpu_f(mean), *rp = cpu_f(rstd);
#pragma omp parallel for collapse(2) if (B * C * T > 16384)
  for (int64_t bi = 0; bi < B; bi++)
    for (int64_t gi = 0; gi < groups; gi++) {
      const float *xs = xp + (bi * C + gi * Cg) * T;
      int64_t n = Cg * T;
      double s = 0;
      for (int64_t i = 0; i < n; i++) s += xs[i];
      float m = (float)(s / n);
      double v = 0;
      for (int64_t i = 0; i < n; i++) {
        float d = xs[i] - m;
        v += (double)d * d;
      }
      float r = 1.0f / sqrtf((float)(v / n) + eps);
      float *ys = yp + (bi * C + gi * Cg) * T;
      for (int64_t c = 0; c < Cg; c++) {
        int64_t ch = gi * Cg + c;
        float wc = wp ? wp[ch] : 1.0f, bc = bp ? bp[ch] : 0.0f;
        for (int64_t t = 0; t < T; t++) ys[c * T + t] = (xs[c * T + t] - m) * r * wc + bc;
      }
      if (mp) mp[bi * groups + gi] = m;
      if (rp) rp[bi * groups + gi] = r;
    }
  return TS_OK;
}

int cpu_groupnorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                       const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db,
                       int groups) {
  int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], Cg = C / groups;
  const float *xp = cpu_f(x), *wp = cpu_f(w), *mp = cpu_f(mean), *rp = cpu_f(rstd), *g = cpu_f(dy);
  float *dxp = cpu_f(dx), *dwp = cpu_f(dw), *dbp = cpu_f(db);
  /* parallel over groups; the batch loop inside keeps each channel's dw/db in one thread */
#pragma omp parallel for if (B * C * T > 16384)
  for (int64_t gi = 0; gi < groups; gi++)
    for (int64_t bi = 0; bi < B; bi++) {
      int64_t base = (bi * C + gi * Cg) * T, n = Cg * T;
      const float *xs = xp + base, *gs = g + base;
      float m = mp[bi * groups + gi], r = rp[bi * groups + gi];
      double sd = 0, sdx = 0;
      for (int64_t c = 0; c < Cg; c++) {
        int64_t ch = gi * Cg + c;
        float wc = wp ? wp[ch] : 1.0f;
        double cw = 0, cb = 0;
        for (int64_t t = 0; t < T; t++) {
          float xh = (xs[c * T + t] - m) * r;
          float gv = gs[c * T + t];
          float dn = gv * wc;
          sd += dn;
          sdx += (double)dn * xh;
          cw += (double)gv * xh;
          cb += gv;
        }
        if (dwp) dwp[ch] += (float)cw;
        if (dbp) dbp[ch] += (float)cb;
      }
      if (!dxp) continue;
      float md = (float)(sd / n), mdx = (float)(sdx / n);
      float *ds = dxp + base;
      for (int64_t c = 0; c < Cg; c++) {
        float wc = wp ? wp[gi * Cg + c] : 1.0f;
        for (int64_t t = 0; t < T; t++) {
          float xh = (xs[c * T + t] - m) * r;
          ds[c * T + t] += r * (gs[c * T + t] * wc - md - xh * mdx);
        }
      }
    }
  return TS_OK;
}
