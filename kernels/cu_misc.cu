// cu_misc.cu — rotary embedding (split_heads: cu_proj.cu), embedding lookup (its backward:
// cu_colred.cu), frame concatenation, batched transpose and statistics pooling on the GPU. Host
// arrays (positions, ids, lengths) are staged into device scratch inside each op.
#include <math.h>
#include <string.h>

#include "cu_common.h"

/* Copies n host bytes into the next piece of scratch at *cursor (in stream order). */
static int stage(backend *be, const void *host, size_t bytes, sr_kind kind, char **cursor, void **dev) {
  *dev = cu_carve(cursor, bytes);
  return cu_h2d_kind(be, *dev, host, bytes, kind);
}

/* ---- rope: x (B,T,H,D), one thread per (b, t, h, i < D/2) ---- */
__global__ void k_rope(const float *x, float *y, const int32_t *pos, const float *inv, int64_t B, int64_t T,
                       int64_t H, int64_t half, int inverse) {
  CU_LOOP(n, B * T * H * half) {
    int64_t i = n % half, bth = n / half, bt = bth / H;
    float ang = (float)pos[bt] * inv[i];
    float c = cosf(ang), s = inverse ? -sinf(ang) : sinf(ang);
    const float *xr = x + bth * 2 * half;
    float *yr = y + bth * 2 * half;
    float x1 = xr[i], x2 = xr[i + half];
    yr[i] = x1 * c - x2 * s;
    yr[i + half] = x2 * c + x1 * s;
  }
}

int cu_rope(backend *be, const tensor *x, tensor *y, const int32_t *pos, float theta, int inverse) {
  int64_t B = x->ne[0], T = x->ne[1], H = x->ne[2], D = x->ne[3], half = D / 2;
  if (B * T * H * half <= 0) return TS_OK;
  /* inverse frequencies exactly as the CPU backend computes them (host powf, float32) */
  float inv[512];
  for (int64_t i = 0; i < half && i < 512; i++) inv[i] = 1.0f / powf(theta, (float)(2 * i) / (float)D);
  size_t pb = sizeof(int32_t) * (size_t)(B * T), ib = sizeof(float) * (size_t)half;
  const void *dpos, *dinv; /* the same for every layer of a step: staged once */
  TS_TRY(cu_stage_same(be, pos, pb, SR_ADVANCE, &dpos));
  TS_TRY(cu_stage_same(be, inv, ib, SR_CONST, &dinv));
  k_rope<<<cu_blocks(B * T * H * half), 256, 0, cu_stream()>>>(cu_f(x), cu_f(y), (const int32_t *)dpos, (const float *)dinv, B, T,
                                               H, half, inverse);
  CU_LAUNCHED("k_rope");
  return TS_OK;
}

/* ---- embedding ---- */
__global__ void k_embed(const float *table, const int32_t *ids, float *out, int64_t N, int64_t C) {
  CU_LOOP(i, N * C) out[i] = table[(int64_t)ids[i / C] * C + i % C];
}
__global__ void k_set_rows(const float *src, const int32_t *ids, float *dst, int64_t N, int64_t C) {
  CU_LOOP(i, N * C) dst[(int64_t)ids[i / C] * C + i % C] = src[i];
}

int cu_embed(backend *be, const tensor *table, const int32_t *ids, tensor *out) {
  int64_t C = cu_last(out), N = C ? cu_rows(out) : 0;
  if (N <= 0) return TS_OK;
  char *cur;
  void *did;
  TS_TRY(cu_scratch(be, sizeof(int32_t) * (size_t)N, (void **)&cur));
  /* in a decoding step: the step's token ids, or the rows its head reads (fixed by which
   * sequences take a token, which a replay keeps) */
  sr_kind kind = ids == cu_of(be)->rp_ids ? SR_IDS : SR_CONST;
  TS_TRY(stage(be, ids, sizeof(int32_t) * (size_t)N, kind, &cur, &did));
  k_embed<<<cu_blocks(N * C), 256, 0, cu_stream()>>>(cu_f(table), (const int32_t *)did, cu_f(out), N, C);
  CU_LAUNCHED("k_embed");
  return TS_OK;
}

int cu_set_rows(backend *be, const tensor *src, const int32_t *ids, tensor *dst) {
  int64_t C = cu_last(dst), N = C ? tensor_numel(src) / C : 0;
  if (N <= 0) return TS_OK;
  const void *did; /* the KV append's rows: the same for K and V and every layer of a step */
  TS_TRY(cu_stage_same(be, ids, sizeof(int32_t) * (size_t)N, SR_ADVANCE, &did)); /* cache rows */
  k_set_rows<<<cu_blocks(N * C), 256, 0, cu_stream()>>>(cu_f(src), (const int32_t *)did, cu_f(dst), N, C);
  CU_LAUNCHED("k_set_rows");
  return TS_OK;
}

/* ---- framecat: y (B, To, k*C) row-major is x (B, T, C)'s first To*k frames ---- */
__global__ void k_framecat(const float *x, float *y, int64_t B, int64_t T, int64_t C, int64_t span, int back) {
  CU_LOOP(i, B * span) {
    int64_t b = i / span, r = i % span;
    if (back)
      y[b * T * C + r] += x[i]; /* here x is dy and y is dx */
    else
      y[i] = x[b * T * C + r];
  }
}

int cu_framecat(backend *be, const tensor *x, tensor *y, int k) {
  int64_t B = x->ne[0], T = x->ne[1], C = x->ne[2], span = y->ne[1] * k * C;
  if (B * span <= 0) return TS_OK;
  k_framecat<<<cu_blocks(B * span), 256, 0, cu_stream()>>>(cu_f(x), cu_f(y), B, T, C, span, 0);
  CU_LAUNCHED("k_framecat");
  return TS_OK;
}

int cu_framecat_bwd(backend *be, const tensor *dy, tensor *dx, int k) {
  int64_t B = dx->ne[0], T = dx->ne[1], C = dx->ne[2], span = dy->ne[1] * k * C;
  if (B * span <= 0) return TS_OK;
  k_framecat<<<cu_blocks(B * span), 256, 0, cu_stream()>>>(cu_f(dy), cu_f(dx), B, T, C, span, 1);
  CU_LAUNCHED("k_framecat_bwd");
  return TS_OK;
}

/* ---- transpose: y (B,C,R) = x (B,R,C)^T + beta y, 32x32 shared tiles ---- */
__global__ void k_transpose(const float *x, float *y, int64_t R, int64_t C, float beta) {
  __shared__ float tile[32][33];
  int64_t b = blockIdx.z, r0 = (int64_t)blockIdx.y * 32, c0 = (int64_t)blockIdx.x * 32;
  const float *xb = x + b * R * C;
  float *yb = y + b * R * C;
  for (int dy = threadIdx.y; dy < 32; dy += blockDim.y) {
    int64_t r = r0 + dy, c = c0 + threadIdx.x;
    if (r < R && c < C) tile[dy][threadIdx.x] = xb[r * C + c];
  }
  __syncthreads();
  for (int dy = threadIdx.y; dy < 32; dy += blockDim.y) {
    int64_t c = c0 + dy, r = r0 + threadIdx.x;
    if (r < R && c < C) {
      float v = tile[threadIdx.x][dy];
      yb[c * R + r] = beta == 0.0f ? v : v + beta * yb[c * R + r];
    }
  }
}

int cu_transpose(backend *be, const tensor *x, tensor *y, float beta) {
  int nd = x->ndim;
  int64_t R = x->ne[nd - 2], C = x->ne[nd - 1];
  int64_t B = (R > 0 && C > 0) ? tensor_numel(x) / (R * C) : 0;
  if (B <= 0) return TS_OK;
  if (B > 65535 || (R + 31) / 32 > 65535) return cu_fail("transpose: grid too large", cudaErrorInvalidValue);
  dim3 grid((unsigned)((C + 31) / 32), (unsigned)((R + 31) / 32), (unsigned)B), blk(32, 8);
  k_transpose<<<grid, blk, 0, cu_stream()>>>(cu_f(x), cu_f(y), R, C, beta);
  CU_LAUNCHED("k_transpose");
  return TS_OK;
}

/* ---- stats pooling over time: x (B,C,T), y (B,2C) = [mean, std] over the first L frames ---- */
__global__ void k_stats_pool(const float *x, const int32_t *lens, float *y, int64_t C, int64_t T, float eps) {
  int64_t b = blockIdx.x / C, c = blockIdx.x % C, L = lens ? lens[b] : T;
  const float *xr = x + (b * C + c) * T;
  double s = 0;
  for (int64_t t = threadIdx.x; t < L; t += blockDim.x) s += xr[t];
  double mu = cu_block_sum(s) / (double)L, v = 0;
  for (int64_t t = threadIdx.x; t < L; t += blockDim.x) {
    double d = xr[t] - mu;
    v += d * d;
  }
  v = cu_block_sum(v);
  if (threadIdx.x == 0) {
    y[b * 2 * C + c] = (float)mu;
    y[b * 2 * C + C + c] = (float)sqrt(v / (double)L + eps);
  }
}

__global__ void k_stats_pool_bwd(const float *x, const int32_t *lens, const float *y, const float *g, float *dx,
                                 int64_t B, int64_t C, int64_t T) {
  CU_LOOP(i, B * C * T) {
    int64_t t = i % T, bc = i / T, b = bc / C, c = bc % C, L = lens ? lens[b] : T;
    if (t >= L) continue;
    float mu = y[b * 2 * C + c], sd = y[b * 2 * C + C + c];
    float a = g[b * 2 * C + c] / (float)L, k = g[b * 2 * C + C + c] / ((float)L * sd);
    dx[i] += a + k * (x[i] - mu);
  }
}

int cu_stats_pool(backend *be, const tensor *x, const int32_t *lens, tensor *y, const tensor *dy, tensor *dx,
                  float eps) {
  int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2];
  if (B * C * T <= 0) return TS_OK;
  if (dy && !dx) return TS_OK;
  void *dl = NULL;
  if (lens) {
    char *cur;
    TS_TRY(cu_scratch(be, sizeof(int32_t) * (size_t)B, (void **)&cur));
    TS_TRY(stage(be, lens, sizeof(int32_t) * (size_t)B, SR_NONE, &cur, &dl));
  }
  if (!dy) {
    k_stats_pool<<<(unsigned)(B * C), 256, 0, cu_stream()>>>(cu_f(x), (const int32_t *)dl, cu_f(y), C, T, eps);
    CU_LAUNCHED("k_stats_pool");
  } else {
    k_stats_pool_bwd<<<cu_blocks(B * C * T), 256, 0, cu_stream()>>>(cu_f(x), (const int32_t *)dl, cu_f(y), cu_f(dy), cu_f(dx), B, C,
                                                    T);
    CU_LAUNCHED("k_stats_pool_bwd");
  }
  return TS_OK;
}
