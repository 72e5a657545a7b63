/* ref_ops.c — double-precision reference ops for the tests (see ref_ops.h). */
#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ref_matmul(void *ctx, double *const *in, double *out) {
  const ref_mm *c = ctx;
  int64_t batch = c->batch_a;
  for (int64_t bi = 0; bi < batch; bi++) {
    const double *a = in[0] + bi * c->M * c->K;
    const double *b = in[1] + (c->batch_b == 1 ? 0 : bi) * c->K * c->N;
    for (int64_t i = 0; i < c->M; i++)
      for (int64_t j = 0; j < c->N; j++) {
        double s = c->has_bias ? in[2][j] : 0.0;
        for (int64_t k = 0; k < c->K; k++) {
          double av = c->ta ? a[k * c->M + i] : a[i * c->K + k];
          double bv = c->tb ? b[j * c->K + k] : b[k * c->N + j];
          s += av * bv;
        }
        out[(bi * c->M + i) * c->N + j] = s;
      }
  }
}

void ref_layernorm(void *ctx, double *const *in, double *out) {
  const ref_norm *c = ctx;
  for (int64_t i = 0; i < c->N; i++) {
    const double *x = in[0] + i * c->C;
    double m = 0, v = 0;
    for (int64_t j = 0; j < c->C; j++) m += x[j];
    m /= c->C;
    for (int64_t j = 0; j < c->C; j++) v += (x[j] - m) * (x[j] - m);
    v /= c->C;
    for (int64_t j = 0; j < c->C; j++) {
      double y = (x[j] - m) / sqrt(v + c->eps);
      if (c->affine) y *= in[1][j];
      if (c->has_bias) y += in[2][j];
      if (c->act1 == 1) y = 0.5 * y * (1.0 + erf(y / sqrt(2.0)));
      else if (c->act1 == 2) y = y > 0 ? y : 0;
      else if (c->act1 == 3) y = y / (1.0 + exp(-y));
      out[i * c->C + j] = y;
    }
  }
}

void ref_layernorm_ch(void *ctx, double *const *in, double *out) {
  const ref_lnc *c = ctx;
  for (int64_t b = 0; b < c->B; b++)
    for (int64_t t = 0; t < c->T; t++) {
      const double *x = in[0] + b * c->C * c->T + t; /* channel j at x[j T] */
      double m = 0, v = 0;
      for (int64_t j = 0; j < c->C; j++) m += x[j * c->T];
      m /= c->C;
      for (int64_t j = 0; j < c->C; j++) v += (x[j * c->T] - m) * (x[j * c->T] - m);
      v /= c->C;
      for (int64_t j = 0; j < c->C; j++) {
        double y = (x[j * c->T] - m) / sqrt(v + c->eps);
        if (c->affine) y *= in[1][j];
        if (c->has_bias) y += in[2][j];
        out[b * c->C * c->T + j * c->T + t] = y;
      }
    }
}

void ref_rmsnorm(void *ctx, double *const *in, double *out) {
  const ref_norm *c = ctx;
  for (int64_t i = 0; i < c->N; i++) {
    const double *x = in[0] + i * c->C;
    double ms = 0;
    for (int64_t j = 0; j < c->C; j++) ms += x[j] * x[j];
    ms /= c->C;
    for (int64_t j = 0; j < c->C; j++) out[i * c->C + j] = x[j] / sqrt(ms + c->eps) * (c->affine ? in[1][j] : 1.0);
  }
}

void ref_groupnorm(void *ctx, double *const *in, double *out) {
  const ref_gn *c = ctx;
  int64_t Cg = c->C / c->groups;
  for (int64_t b = 0; b < c->B; b++)
    for (int g = 0; g < c->groups; g++) {
      double m = 0, v = 0;
      int64_t n = Cg * c->T;
      for (int64_t ch = g * Cg; ch < (g + 1) * Cg; ch++)
        for (int64_t t = 0; t < c->T; t++) m += in[0][(b * c->C + ch) * c->T + t];
      m /= n;
      for (int64_t ch = g * Cg; ch < (g + 1) * Cg; ch++)
        for (int64_t t = 0; t < c->T; t++) {
          double d = in[0][(b * c->C + ch) * c->T + t] - m;
          v += d * d;
        }
      v /= n;
      for (int64_t ch = g * Cg; ch < (g + 1) * Cg; ch++)
        for (int64_t t = 0; t < c->T; t++) {
          int64_t idx = (b * c->C + ch) * c->T + t;
          out[idx] = (in[0][idx] - m) / sqrt(v + c->eps) * in[1][ch] + in[2][ch];
        }
    }
}

void ref_act(void *ctx, double *const *in, double *out) {
  const ref_n *c = ctx;
  for (int64_t i = 0; i < c->n; i++) {
    double x = in[0][i];
    switch (c->kind) {
      case 0: out[i] = 0.5 * x * (1.0 + erf(x / sqrt(2.0))); break;
      case 1: out[i] = x > 0 ? x : 0; break;
      default: out[i] = x / (1.0 + exp(-x)); break;
    }
  }
}

void ref_swiglu(void *ctx, double *const *in, double *out) {
  const ref_n *c = ctx;
  for (int64_t i = 0; i < c->n; i++) out[i] = in[0][i] / (1.0 + exp(-in[0][i])) * in[1][i];
}

void ref_softmax(void *ctx, double *const *in, double *out) {
  const ref_n *c = ctx;
  for (int64_t r = 0; r < c->rows; r++) {
    const double *x = in[0] + r * c->cols;
    double mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < c->cols; j++) mx = fmax(mx, x[j]);
    for (int64_t j = 0; j < c->cols; j++) s += exp(x[j] - mx);
    for (int64_t j = 0; j < c->cols; j++) out[r * c->cols + j] = exp(x[j] - mx) / s;
  }
}

void ref_mul(void *ctx, double *const *in, double *out) {
  const ref_n *c = ctx;
  for (int64_t i = 0; i < c->n; i++) out[i] = in[0][i] * in[1][i];
}

void ref_add(void *ctx, double *const *in, double *out) {
  const ref_n *c = ctx;
  for (int64_t i = 0; i < c->n; i++) out[i] = in[0][i] + in[1][i];
}

void ref_attention(void *ctx, double *const *in, double *out) {
  const ref_attn *c = ctx;
  const double *q = in[0], *k = in[1], *v = in[2], *bias = c->has_bias ? in[3] : NULL;
  int64_t grp = c->Hq / c->Hkv;
  double *p = malloc(sizeof(double) * (size_t)c->Tk);
  for (int64_t b = 0; b < c->B; b++)
    for (int64_t h = 0; h < c->Hq; h++)
      for (int64_t i = 0; i < c->Tq; i++) {
        int64_t kh = h / grp;
        double mx = -INFINITY;
        for (int64_t j = 0; j < c->Tk; j++) {
          int vis = (!c->kv_len || j < c->kv_len[b]) &&
                    (!c->causal || j <= (c->q_pos0 ? c->q_pos0[b] : 0) + i);
          if (!vis) {
            p[j] = -INFINITY;
            continue;
          }
          double s = 0;
          for (int64_t d = 0; d < c->D; d++)
            s += q[((b * c->Tq + i) * c->Hq + h) * c->D + d] * k[((b * c->Tk + j) * c->Hkv + kh) * c->D + d];
          s *= c->scale;
          if (bias) s += bias[(h * c->Tq + i) * c->Tk + j];
          p[j] = s;
          mx = fmax(mx, s);
        }
        double *o = out + ((b * c->Tq + i) * c->Hq + h) * c->D;
        for (int64_t d = 0; d < c->D; d++) o[d] = 0;
        if (mx == -INFINITY) continue;
        double sum = 0;
        for (int64_t j = 0; j < c->Tk; j++) {
          p[j] = p[j] == -INFINITY ? 0 : exp(p[j] - mx);
          sum += p[j];
        }
        for (int64_t j = 0; j < c->Tk; j++)
          for (int64_t d = 0; d < c->D; d++) o[d] += p[j] / sum * v[((b * c->Tk + j) * c->Hkv + kh) * c->D + d];
      }
  free(p);
}

void ref_rope(void *ctx, double *const *in, double *out) {
  const ref_rope_c *c = ctx;
  int64_t half = c->D / 2;
  for (int64_t b = 0; b < c->B; b++)
    for (int64_t t = 0; t < c->T; t++)
      for (int64_t h = 0; h < c->H; h++)
        for (int64_t i = 0; i < half; i++) {
          /* angle as HF computes it: inv_freq in float32, then pos * inv_freq in float32 */
          float inv = 1.0f / powf((float)c->theta, (float)(2 * i) / (float)c->D);
          double ang = (double)((float)c->pos[b * c->T + t] * inv);
          const double *x = in[0] + ((b * c->T + t) * c->H + h) * c->D;
          double *y = out + ((b * c->T + t) * c->H + h) * c->D;
          y[i] = x[i] * cos(ang) - x[i + half] * sin(ang);
          y[i + half] = x[i + half] * cos(ang) + x[i] * sin(ang);
        }
}

void ref_conv1d(void *ctx, double *const *in, double *out) {
  const ref_conv *c = ctx;
  int64_t Cg = c->Cin / c->groups, Og = c->Cout / c->groups;
  for (int64_t b = 0; b < c->B; b++)
    for (int64_t o = 0; o < c->Cout; o++)
      for (int64_t t = 0; t < c->Tout; t++) {
        int64_t g = o / Og;
        double s = c->has_bias ? in[2][o] : 0.0;
        for (int64_t ci = 0; ci < Cg; ci++)
          for (int64_t k = 0; k < c->K; k++) {
            int64_t src = t * c->stride + k - c->pad;
            if (src < 0 || src >= c->T) continue;
            int64_t xi = c->cl ? (b * c->T + src) * c->Cin + g * Cg + ci : (b * c->Cin + g * Cg + ci) * c->T + src;
            s += in[1][(o * Cg + ci) * c->K + k] * in[0][xi];
          }
        out[c->cl ? (b * c->Tout + t) * c->Cout + o : (b * c->Cout + o) * c->Tout + t] = s;
      }
}

void ref_weightnorm(void *ctx, double *const *in, double *out) {
  const ref_wn *c = ctx;
  int64_t n = c->ne[0] * c->ne[1] * c->ne[2];
  int64_t m = c->ne[c->dim];
  double *nrm = calloc((size_t)m, sizeof(double));
  for (int64_t idx = 0; idx < n; idx++) {
    int64_t i0 = idx / (c->ne[1] * c->ne[2]), i1 = idx / c->ne[2] % c->ne[1], i2 = idx % c->ne[2];
    int64_t s = c->dim == 0 ? i0 : c->dim == 1 ? i1 : i2;
    nrm[s] += in[0][idx] * in[0][idx];
  }
  for (int64_t idx = 0; idx < n; idx++) {
    int64_t i0 = idx / (c->ne[1] * c->ne[2]), i1 = idx / c->ne[2] % c->ne[1], i2 = idx % c->ne[2];
    int64_t s = c->dim == 0 ? i0 : c->dim == 1 ? i1 : i2;
    out[idx] = in[1][s] * in[0][idx] / sqrt(nrm[s]);
  }
  free(nrm);
}

void ref_embed(void *ctx, double *const *in, double *out) {
  const ref_emb *c = ctx;
  for (int64_t i = 0; i < c->N; i++)
    for (int64_t j = 0; j < c->C; j++) out[i * c->C + j] = in[0][c->ids[i] * c->C + j];
}

void ref_framecat(void *ctx, double *const *in, double *out) {
  const ref_fc *c = ctx;
  int64_t To = c->T / c->k;
  for (int64_t b = 0; b < c->B; b++)
    for (int64_t t = 0; t < To; t++)
      for (int64_t j = 0; j < c->k; j++)
        for (int64_t ch = 0; ch < c->C; ch++)
          out[((b * To + t) * c->k + j) * c->C + ch] = in[0][(b * c->T + t * c->k + j) * c->C + ch];
}

void ref_xent(void *ctx, double *const *in, double *out) {
  const ref_xent_c *c = ctx;
  for (int64_t i = 0; i < c->N; i++) {
    const double *x = in[0] + i * c->V;
    double w = c->weights ? c->weights[i] : 1.0;
    if (c->targets[i] < 0 || w == 0) {
      out[i] = 0;
      continue;
    }
    double mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < c->V; j++) mx = fmax(mx, x[j]);
    for (int64_t j = 0; j < c->V; j++) s += exp(x[j] - mx);
    out[i] = w * (mx + log(s) - x[c->targets[i]]);
  }
}

void ref_split_heads(void *ctx, double *const *in, double *out) {
  const ref_heads_c *c = ctx;
  int64_t H = c->Hq + 2 * c->Hkv, BT = c->B * c->T, D = c->D, half = D / 2;
  int64_t nq = BT * c->Hq * D, nk = BT * c->Hkv * D;
  for (int64_t r = 0; r < BT; r++)
    for (int64_t h = 0; h < H; h++) {
      const double *x = in[0] + (r * H + h) * D;
      double *y = h < c->Hq ? out + (r * c->Hq + h) * D
                  : h < c->Hq + c->Hkv ? out + nq + (r * c->Hkv + h - c->Hq) * D
                                        : out + nq + nk + (r * c->Hkv + h - c->Hq - c->Hkv) * D;
      int rot = c->pos && h < c->Hq + c->Hkv;
      for (int64_t i = 0; i < half; i++) {
        if (!rot) {
          y[i] = x[i], y[i + half] = x[i + half];
          continue;
        }
        float inv = 1.0f / powf((float)c->theta, (float)(2 * i) / (float)D); /* as ref_rope */
        double ang = (double)((float)c->pos[r] * inv);
        y[i] = x[i] * cos(ang) - x[i + half] * sin(ang);
        y[i + half] = x[i + half] * cos(ang) + x[i] * sin(ang);
      }
    }
}

void ref_swiglu_packed(void *ctx, double *const *in, double *out) {
  const ref_n *c = ctx;
  for (int64_t r = 0; r < c->rows; r++)
    for (int64_t j = 0; j < c->cols; j++) {
      double g = in[0][r * 2 * c->cols + j], u = in[0][r * 2 * c->cols + c->cols + j];
      out[r * c->cols + j] = g / (1.0 + exp(-g)) * u;
    }
}
