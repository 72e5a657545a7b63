/* cpu_misc.c — rotary embedding (alone, or splitting packed q/k/v heads), embedding lookup
 * (scatter-add backward) and frame concatenation on the CPU. */
#include <math.h>
#include <string.h>

#include "tensor/cpu_ops.h"

int cpu_rope(backend *be, const tensor *x, tensor *y, const int32_t *pos, float theta, int inverse) {
  int64_t B = x->ne[0], T = x->ne[1], H = x->ne[2], D = x->ne[3], half = D / 2;
  const float *xp = cpu_f(x);
  float *yp = cpu_f(y);
  /* inverse frequencies as Hugging Face computes them: 1 / theta^(2i/D) in float32 */
  float inv[512];
  for (int64_t i = 0; i < half && i < 512; i++) inv[i] = 1.0f / powf(theta, (float)(2 * i) / (float)D);
#pragma omp parallel for collapse(2) if (B * T * H * D > 16384)
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++) {
      float p = (float)pos[b * T + t];
      for (int64_t i = 0; i < half; i++) {
        float ang = p * inv[i];
        float c = cosf(ang), s = inverse ? -sinf(ang) : sinf(ang);
        for (int64_t h = 0; h < H; h++) {
          const float *xr = xp + ((b * T + t) * H + h) * D;
          float *yr = yp + ((b * T + t) * H + h) * D;
          float x1 = xr[i], x2 = xr[i + half];
          yr[i] = x1 * c - x2 * s;
          yr[i + half] = x2 * c + x1 * s;
        }
      }
    }
  return TS_OK;
}

int cpu_split_heads(backend *be, tensor *x, tensor *q, tensor *k, tensor *v, const int32_t *pos,
                    const int32_t *kvrow, float theta, int merge, attn_keep *keep) {
  (void)keep; /* the CPU's attention keeps nothing */
  int64_t BT = q->ne[0] * q->ne[1], Hq = q->ne[2], Hkv = k->ne[2], D = q->ne[3], half = D / 2;
  int64_t H = Hq + 2 * Hkv;
  float *xp = cpu_f(x), *qp = cpu_f(q), *kp = cpu_f(k), *vp = cpu_f(v);
  float inv[512]; /* as cpu_rope computes them */
  for (int64_t i = 0; i < half && i < 512; i++) inv[i] = 1.0f / powf(theta, (float)(2 * i) / (float)D);
#pragma omp parallel for if (BT * H * D > 16384)
  for (int64_t r = 0; r < BT; r++) {
    float cs[512], sn[512]; /* the row's rotation, shared by its q and k heads */
    if (pos) {
      float p = (float)pos[r];
      for (int64_t i = 0; i < half && i < 512; i++) {
        float ang = p * inv[i];
        cs[i] = cosf(ang), sn[i] = merge ? -sinf(ang) : sinf(ang);
      }
    }
    int64_t kr = kvrow ? kvrow[r] : r; /* the row of k and v */
    for (int64_t h = 0; h < H; h++) {
      float *xr = xp + (r * H + h) * D; /* the packed head */
      float *hr = h < Hq ? qp + (r * Hq + h) * D
                 : h < Hq + Hkv ? kp + (kr * Hkv + h - Hq) * D
                                : vp + (kr * Hkv + h - Hq - Hkv) * D;
      const float *src = merge ? hr : xr;
      float *dst = merge ? xr : hr;
      if (!pos || h >= Hq + Hkv) {
        memcpy(dst, src, sizeof(float) * (size_t)D);
        continue;
      }
      for (int64_t i = 0; i < half; i++) {
        float x1 = src[i], x2 = src[i + half];
        dst[i] = x1 * cs[i] - x2 * sn[i];
        dst[i + half] = x2 * cs[i] + x1 * sn[i];
      }
    }
  }
  return TS_OK;
}

int cpu_embed(backend *be, const tensor *table, const int32_t *ids, tensor *out) {
  int64_t N = cpu_rows(out), C = cpu_last(out);
  const float *tp = cpu_f(table);
  float *op = cpu_f(out);
#pragma omp parallel for if (N * C > 65536)
  for (int64_t i = 0; i < N; i++) memcpy(op + i * C, tp + (int64_t)ids[i] * C, sizeof(float) * (size_t)C);
  return TS_OK;
}

int cpu_set_rows(backend *be, const tensor *src, const int32_t *ids, tensor *dst) {
  int64_t C = cpu_last(dst), N = C ? tensor_numel(src) / C : 0;
  const float *s = cpu_f(src);
  float *d = cpu_f(dst);
#pragma omp parallel for if (N * C > 65536)
  for (int64_t i = 0; i < N; i++) memcpy(d + (int64_t)ids[i] * C, s + i * C, sizeof(float) * (size_t)C);
  return TS_OK;
}

int cpu_embed_bwd(backend *be, const int32_t *ids, const tensor *dout, tensor *dtable) {
  int64_t N = cpu_rows(dout), C = cpu_last(dout);
  const float *g = cpu_f(dout);
  float *dt = cpu_f(dtable);
  /* columns are split among threads, so equal ids never race */
#pragma omp parallel for if (N * C > 65536)
  for (int64_t c0 = 0; c0 < C; c0 += 64) {
    int64_t c1 = c0 + 64 < C ? c0 + 64 : C;
    for (int64_t i = 0; i < N; i++) {
      float *dr = dt + (int64_t)ids[i] * C;
      const float *gr = g + i * C;
      for (int64_t c = c0; c < c1; c++) dr[c] += gr[c];
    }
  }
  return TS_OK;
}

int cpu_framecat(backend *be, const tensor *x, tensor *y, int k) {
  int64_t B = x->ne[0], T = x->ne[1], C = x->ne[2], To = y->ne[1];
  const float *xp = cpu_f(x);
  float *yp = cpu_f(y);
  for (int64_t b = 0; b < B; b++)
    memcpy(yp + b * To * k * C, xp + b * T * C, sizeof(float) * (size_t)(To * k * C));
  return TS_OK;
}

int cpu_framecat_bwd(backend *be, const tensor *dy, tensor *dx, int k) {
  int64_t B = dx->ne[0], T = dx->ne[1], C = dx->ne[2], To = dy->ne[1];
  const float *g = cpu_f(dy);
  float *dp = cpu_f(dx);
#pragma omp parallel for if (B * To * k * C > 65536)
  for (int64_t b = 0; b < B; b++) {
    float *d = dp + b * T * C;
    const float *s = g + b * To * k * C;
    for (int64_t i = 0; i < To * k * C; i++) d[i] += s[i];
  }
  return TS_OK;
}
