// cu_elem.cu — CUDA elementwise ops: fill, copy, axpby, add, mul, activations and row softmax
// (forward and backward; backward ops add into their gradients). The activation kernels are in
// cu_act.cuh, SwiGLU in cu_proj.cu.
#include "cu_common.h"
#include "cu_act.cuh"

static_assert((int)CU_ACT_GELU == (int)ACT_GELU && (int)CU_ACT_RELU == (int)ACT_RELU && (int)CU_ACT_SILU == (int)ACT_SILU,
              "cu_act.cuh's kinds are act_kind's");

__global__ void k_fill(float *x, int64_t n, float v) {
  CU_LOOP(i, n) x[i] = v;
}
__global__ void k_axpby(const float *x, float a, float *y, float b, int64_t n) {
  CU_LOOP(i, n) y[i] = a * x[i] + b * y[i];
}
__global__ void k_add(const float *a, const float *b, float *c, int64_t n) {
  CU_LOOP(i, n) c[i] = a[i] + b[i];
}
__global__ void k_mul(const float *a, const float *b, float *c, int64_t n) {
  CU_LOOP(i, n) c[i] = a[i] * b[i];
}
__global__ void k_mul_bwd(const float *a, const float *b, const float *g, float *da, float *db, int64_t n) {
  CU_LOOP(i, n) {
    if (da) da[i] += g[i] * b[i];
    if (db) db[i] += g[i] * a[i];
  }
}

/* one block per row */
__global__ void k_softmax(const float *x, float *y, int64_t C) {
  const float *xr = x + blockIdx.x * C;
  float *yr = y + blockIdx.x * C;
  float mx = -INFINITY;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) mx = fmaxf(mx, xr[c]);
  mx = cu_block_max(mx);
  double s = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float ev = expf(xr[c] - mx);
    yr[c] = ev;
    s += ev;
  }
  s = cu_block_sum(s);
  float inv = 1.0f / (float)s;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) yr[c] *= inv;
}
__global__ void k_softmax_bwd(const float *y, const float *g, float *dx, int64_t C) {
  const float *yr = y + blockIdx.x * C, *gr = g + blockIdx.x * C;
  float *dr = dx + blockIdx.x * C;
  double dot = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dot += (double)yr[c] * gr[c];
  float d = (float)cu_block_sum(dot);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dr[c] += yr[c] * (gr[c] - d);
}

int cu_fill(backend *be, tensor *x, float v) {
  int64_t n = tensor_numel(x);
  if (n > 0) cu_wcopy_touch(cu_of(be), x->data, tensor_nbytes(x)); /* a write into the weights: their copy is not current */
  if (n > 0 && v == 0.0f) {
    CU_TRY(cudaMemsetAsync(x->data, 0, sizeof(float) * (size_t)n, cu_stream()));
    return TS_OK;
  }
  EL_RUN(k_fill, n, cu_f(x), n, v);
}
int cu_copy(backend *be, const tensor *src, tensor *dst) {
  int64_t n = tensor_numel(src);
  if (n <= 0 || src->data == dst->data) return TS_OK;
  size_t bytes = sizeof(float) * (size_t)n;
  cu_wcopy_touch(cu_of(be), dst->data, bytes);
  const char *s = (const char *)src->data;
  char *d = (char *)dst->data;
  if (d < s + bytes && s < d + bytes) { /* overlapping ranges (memmove semantics): via scratch */
    void *tmp;
    TS_TRY(cu_scratch(be, bytes, &tmp));
    CU_TRY(cudaMemcpyAsync(tmp, s, bytes, cudaMemcpyDeviceToDevice, cu_stream()));
    s = (const char *)tmp;
  }
  CU_TRY(cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, cu_stream()));
  return TS_OK;
}
int cu_axpby(backend *be, const tensor *x, float a, tensor *y, float b) {
  int64_t n = tensor_numel(x);
  if (n > 0) cu_wcopy_touch(cu_of(be), y->data, sizeof(float) * (size_t)n);
  EL_RUN(k_axpby, n, cu_f(x), a, cu_f(y), b, n);
}
int cu_add(backend *be, const tensor *a, const tensor *b, tensor *c) {
  int64_t n = tensor_numel(c);
  EL_RUN(k_add, n, cu_f(a), cu_f(b), cu_f(c), n);
}
int cu_mul(backend *be, const tensor *a, const tensor *b, tensor *c) {
  int64_t n = tensor_numel(c);
  EL_RUN(k_mul, n, cu_f(a), cu_f(b), cu_f(c), n);
}
int cu_mul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da, tensor *db) {
  int64_t n = tensor_numel(dc);
  EL_RUN(k_mul_bwd, n, cu_f(a), cu_f(b), cu_f(dc), cu_f(da), cu_f(db), n);
}
int cu_act(backend *be, act_kind k, const tensor *x, tensor *y) {
  int64_t n = tensor_numel(x);
  if (n <= 0) return TS_OK;
  float *yf = y->dtype == DT_BF16 ? NULL : cu_f(y);
  unsigned short *yb = y->dtype == DT_BF16 ? (unsigned short *)y->data : NULL; /* a bf16 activation */
  if (cu_vec_ok(x->data, y->data)) {
    k_act8<<<cu_blocks((n + 7) / 8), 256, 0, cu_stream()>>>((int)k, cu_f(x), yf, yb, n);
    CU_LAUNCHED("k_act8");
  } else {
    k_act<<<cu_blocks(n), 256, 0, cu_stream()>>>((int)k, cu_f(x), yf, yb, n);
    CU_LAUNCHED("k_act");
  }
  return TS_OK;
}
int cu_act_bwd(backend *be, act_kind k, const tensor *x, const tensor *dy, tensor *dx, int set) {
  int64_t n = tensor_numel(x);
  if (n <= 0) return TS_OK;
  unsigned short *db = cu_round_want_bwd(be, cu_f(dx), n); /* the GEMM before it takes dx as its dC */
  if (cu_vec_ok(x->data, dy->data, dx->data, db)) {
    k_act_bwd8<<<cu_blocks((n + 7) / 8), 256, 0, cu_stream()>>>((int)k, cu_f(x), cu_f(dy), cu_f(dx), db, n, set);
    CU_LAUNCHED("k_act_bwd8");
  } else {
    k_act_bwd<<<cu_blocks(n), 256, 0, cu_stream()>>>((int)k, cu_f(x), cu_f(dy), cu_f(dx), db, n, set);
    CU_LAUNCHED("k_act_bwd");
  }
  if (db) cu_round_made(be, cu_f(dx), n);
  return TS_OK;
}
/* Rows go to grid.x; more than 2^31-1 rows is far beyond any model here. */
int cu_softmax(backend *be, const tensor *x, tensor *y) {
  int64_t C = cu_last(x), R = C ? cu_rows(x) : 0;
  if (R <= 0) return TS_OK;
  k_softmax<<<(unsigned)R, 256, 0, cu_stream()>>>(cu_f(x), cu_f(y), C);
  CU_LAUNCHED("k_softmax");
  return TS_OK;
}
int cu_softmax_bwd(backend *be, const tensor *y, const tensor *dy, tensor *dx) {
  int64_t C = cu_last(y), R = C ? cu_rows(y) : 0;
  if (R <= 0) return TS_OK;
  k_softmax_bwd<<<(unsigned)R, 256, 0, cu_stream()>>>(cu_f(y), cu_f(dy), cu_f(dx), C);
  CU_LAUNCHED("k_softmax_bwd");
  return TS_OK;
}
