/* cpu_elem.c — CPU elementwise ops: fill, copy, axpby, add, mul, activations, SwiGLU, softmax. */
#include <math.h>
#include <string.h>

#include "tensor/cpu_act16.h"
#include "tensor/cpu_ops.h"
#include "tensor/vmath.h"

int cpu_fill(backend *be, tensor *x, float v) {
  float *p = cpu_f(x);
  int64_t n = tensor_numel(x);
  if (v == 0.0f) {
    memset(p, 0, sizeof(float) * (size_t)n);
    return TS_OK;
  }
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; i++) p[i] = v;
  return TS_OK;
}

int cpu_copy(backend *be, const tensor *src, tensor *dst) {
  memmove(dst->data, src->data, sizeof(float) * (size_t)tensor_numel(src));
  return TS_OK;
}

int cpu_axpby(backend *be, const tensor *x, float a, tensor *y, float b) {
  const float *xp = cpu_f(x);
  float *yp = cpu_f(y);
  int64_t n = tensor_numel(x);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; i++) yp[i] = a * xp[i] + b * yp[i];
  return TS_OK;
}

int cpu_add(backend *be, const tensor *a, const tensor *b, tensor *c) {
  const float *ap = cpu_f(a), *bp = cpu_f(b);
  float *cp = cpu_f(c);
  int64_t n = tensor_numel(c);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; i++) cp[i] = ap[i] + bp[i];
  return TS_OK;
}

int cpu_mul(backend *be, const tensor *a, const tensor *b, tensor *c) {
  const float *ap = cpu_f(a), *bp = cpu_f(b);
  float *cp = cpu_f(c);
  int64_t n = tensor_numel(c);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; i++) cp[i] = ap[i] * bp[i];
  return TS_OK;
}

int cpu_mul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da, tensor *db) {
  const float *ap = cpu_f(a), *bp = cpu_f(b), *g = cpu_f(dc);
  float *dap = cpu_f(da), *dbp = cpu_f(db);
  int64_t n = tensor_numel(dc);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    if (dap) dap[i] += g[i] * bp[i];
    if (dbp) dbp[i] += g[i] * ap[i];
  }
  return TS_OK;
}

static inline float act_sigmoid(float x) { return 1.0f / (1.0f + vm_expf(-x)); }

/* erf(x_i / sqrt 2) for 8 values through one vector erff (vmath.h): every element goes through
 * the same routine whatever the tensor's size, the thread split or the element's position, so
 * results do not depend on how a tensor is cut (the scalar and vector erff differ by an ulp) */
#define GELU_W 8
static inline void gelu_erf8(const float *x, float *e) {
#pragma omp simd simdlen(GELU_W)
  for (int i = 0; i < GELU_W; i++) e[i] = erff(x[i] * (float)M_SQRT1_2);
}

/* erf for the block of (up to 8) elements starting at i0 of x (n), the tail padded with zeros */
static inline void gelu_erf_block(const float *x, int64_t n, int64_t i0, float *e, int *m) {
  *m = n - i0 < GELU_W ? (int)(n - i0) : GELU_W;
  if (*m == GELU_W) {
    gelu_erf8(x + i0, e);
  } else {
    float xb[GELU_W] = {0};
    memcpy(xb, x + i0, sizeof(float) * (size_t)*m);
    gelu_erf8(xb, e);
  }
}

int cpu_act(backend *be, act_kind k, const tensor *x, tensor *y) {
  const float *xp = cpu_f(x);
  CPU_OUT(y, yp, yh);
  int64_t n = tensor_numel(x);
  switch (k) {
    case ACT_GELU:
#pragma omp parallel for if (n > 16384)
      for (int64_t b = 0; b < (n + GELU_W - 1) / GELU_W; b++) {
        float e[GELU_W];
        int m;
        gelu_erf_block(xp, n, b * GELU_W, e, &m);
        for (int j = 0; j < m; j++) CPU_STORE(yp, yh, b * GELU_W + j, 0.5f * xp[b * GELU_W + j] * (1.0f + e[j]));
      }
      break;
    case ACT_RELU:
#pragma omp parallel for if (n > 65536)
      for (int64_t i = 0; i < n; i++) CPU_STORE(yp, yh, i, xp[i] > 0.0f ? xp[i] : 0.0f);
      break;
    case ACT_SILU:
#pragma omp parallel for if (n > 16384)
      for (int64_t i = 0; i < n; i++) CPU_STORE(yp, yh, i, xp[i] * act_sigmoid(xp[i]));
      break;
  }
  return TS_OK;
}

int cpu_act_bwd(backend *be, act_kind k, const tensor *x, const tensor *dy, tensor *dx, int set) {
  const float *xp = cpu_f(x), *g = cpu_f(dy);
  float *dp = cpu_f(dx);
  int64_t n = tensor_numel(x);
  switch (k) {
    case ACT_GELU: {
      const float inv_sqrt_2pi = 0.3989422804014327f;
#pragma omp parallel for if (n > 16384)
      for (int64_t b = 0; b < (n + GELU_W - 1) / GELU_W; b++) {
        float e[GELU_W];
        int m;
        gelu_erf_block(xp, n, b * GELU_W, e, &m);
        for (int j = 0; j < m; j++) {
          int64_t i = b * GELU_W + j;
          float v = xp[i];
          float cdf = 0.5f * (1.0f + e[j]);
          float pdf = inv_sqrt_2pi * vm_expf(-0.5f * v * v);
          float t = g[i] * (cdf + v * pdf);
          dp[i] = set ? t : dp[i] + t;
        }
      }
    } break;
    case ACT_RELU:
#pragma omp parallel for if (n > 65536)
      for (int64_t i = 0; i < n; i++) {
        float t = xp[i] > 0.0f ? g[i] : 0.0f;
        dp[i] = set ? t : dp[i] + t;
      }
      break;
    case ACT_SILU:
#pragma omp parallel for if (n > 16384)
      for (int64_t i = 0; i < n; i++) {
        float s = act_sigmoid(xp[i]);
        float t = g[i] * s * (1.0f + xp[i] * (1.0f - s));
        dp[i] = set ? t : dp[i] + t;
      }
      break;
  }
  return TS_OK;
}

/* separate gate and up (N,H), or packed rows [gate | up] (N,2H) when up is NULL */
int cpu_swiglu(backend *be, const tensor *gate, const tensor *up, tensor *y) {
  int64_t H = cpu_last(y), rows = H ? tensor_numel(y) / H : 0, ld = up ? H : 2 * H;
  const float *gp = cpu_f(gate), *up_ = up ? cpu_f(up) : gp + H;
  CPU_OUT(y, yp, yh);
#pragma omp parallel for if (rows * H > 16384)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < H; j++) {
      float gv = gp[r * ld + j];
      CPU_STORE(yp, yh, r * H + j, gv * act_sigmoid(gv) * up_[r * ld + j]);
    }
  return TS_OK;
}

int cpu_swiglu_bwd(backend *be, const tensor *gate, const tensor *up, const tensor *dy,
                    tensor *dgate, tensor *dup, int set) {
  int64_t H = cpu_last(dy), rows = H ? tensor_numel(dy) / H : 0, ld = up ? H : 2 * H;
  const float *gp = cpu_f(gate), *up_ = up ? cpu_f(up) : gp + H, *g = cpu_f(dy);
  float *dg = cpu_f(dgate), *du = up ? cpu_f(dup) : dg ? dg + H : NULL;
#pragma omp parallel for if (rows * H > 16384)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < H; j++) {
      int64_t i = r * ld + j;
      float gv = gp[i], gy = g[r * H + j];
      float s = act_sigmoid(gv);
      float silu = gv * s;
      float tu = gy * silu, tg = gy * up_[i] * s * (1.0f + gv * (1.0f - s));
      if (du) du[i] = set ? tu : du[i] + tu;
      if (dg) dg[i] = set ? tg : dg[i] + tg;
    }
  return TS_OK;
}

int cpu_softmax(backend *be, const tensor *x, tensor *y) {
  int64_t rows = cpu_rows(x), C = cpu_last(x);
  const float *xp = cpu_f(x);
  float *yp = cpu_f(y);
#pragma omp parallel for if (rows * C > 16384)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = xp + r * C;
    float *yr = yp + r * C;
    float mx = -INFINITY;
    for (int64_t c = 0; c < C; c++) mx = xr[c] > mx ? xr[c] : mx;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < C; c++) {
      yr[c] = vm_expf(xr[c] - mx);
      s += yr[c];
    }
    float inv = 1.0f / s;
    for (int64_t c = 0; c < C; c++) yr[c] *= inv;
  }
  return TS_OK;
}

int cpu_softmax_bwd(backend *be, const tensor *y, const tensor *dy, tensor *dx) {
  int64_t rows = cpu_rows(y), C = cpu_last(y);
  const float *yp = cpu_f(y), *g = cpu_f(dy);
  float *dp = cpu_f(dx);
#pragma omp parallel for if (rows * C > 16384)
  for (int64_t r = 0; r < rows; r++) {
    const float *yr = yp + r * C, *gr = g + r * C;
    float *dr = dp + r * C;
    double dot = 0;
    for (int64_t c = 0; c < C; c++) dot += (double)yr[c] * gr[c];
    for (int64_t c = 0; c < C; c++) dr[c] += yr[c] * (gr[c] - (float)dot);
  }
  return TS_OK;
}
