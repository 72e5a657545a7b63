// cu_conv.cu — grouped, strided, padded 1-D convolution on the GPU (im2col + cuBLAS
// strided-batched over the groups, one batch row at a time; the element kernels are in
// cu_conv.cuh; on cuDNN with cuda_set_cudnn, kernels/cu_cudnn.cu) and weight normalisation.
// x may be a bf16 activation (op_act_dtype): im2col widens it (a K = 1 convolution then goes
// through im2col too).
#include <math.h>

#include "cu_common.h"
#include "cu_conv.cuh"

/* im2col of batch row b of x (f32 or bf16) into col */
static void cv_im2col(const tensor *x, int64_t b, int K, int64_t Tout, int stride, int pad, float *col) {
  int64_t Cin = x->ne[1], T = x->ne[2];
  dim3 grid(cv_xblocks(Tout), cv_cap(Cin * K));
  if (x->dtype == DT_BF16)
    k_im2col<unsigned short><<<grid, CV_THREADS, 0, cu_stream()>>>((const unsigned short *)x->data + b * Cin * T, Cin, T,
                                                                  K, Tout, stride, pad, col);
  else
    k_im2col<float><<<grid, CV_THREADS, 0, cu_stream()>>>(cu_f(x) + b * Cin * T, Cin, T, K, Tout, stride, pad, col);
}

int cu_conv1d(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y, int stride, int pad,
              int groups) {
  int64_t B = x->ne[0], Cin = x->ne[1], T = x->ne[2];
  int64_t Cout = w->ne[0], K = w->ne[2], Tout = y->ne[2];
  int64_t Cg = Cin / groups, Og = Cout / groups;
  if (B * Cout * Tout <= 0) return TS_OK;
  if (Cin * K > 2147483647LL - CV_MAXY) return cu_fail("conv1d: Cin x K past 2^31", cudaErrorInvalidValue);
  int done = 0;
  TS_TRY(cu_cudnn_conv1d(be, x, w, y, stride, pad, groups, &done)); /* cuda_set_cudnn */
  float *col = NULL;
  if (!done) TS_TRY(cu_scratch(be, sizeof(float) * (size_t)(Cin * K * Tout), (void **)&col));
  for (int64_t b = 0; b < B && !done; b++) {
    float *yb = cu_f(y) + b * Cout * Tout;
    const float *src = NULL; /* the GEMM's right operand: x itself (f32, K = 1) or its columns */
    int64_t lds = T;
    if (K == 1 && stride == 1 && pad == 0 && x->dtype != DT_BF16) {
      src = cu_f(x) + b * Cin * T;
    } else {
      if (Cin * K > 0) { /* an empty grid is a launch error */
        cv_im2col(x, b, (int)K, Tout, stride, pad, col);
        CU_LAUNCHED("k_im2col");
      }
      src = col;
      lds = Tout;
    }
    /* Y_g (Og,Tout) = W_g (Og, Cg*K) col_g (Cg*K, Tout) */
    TS_TRY(cu_gemm(be, 0, 0, Og, Tout, Cg * K, 1.0f, cu_f(w), Cg * K, Og * Cg * K, src, lds, Cg * K * lds, 0.0f, yb,
                   Tout, Og * Tout, groups));
  }
  if (bias) {
    k_conv_bias<<<dim3(cv_xblocks(Tout), cv_cap(Cout), cv_cap(B)), CV_THREADS, 0, cu_stream()>>>(cu_f(y), cu_f(bias), B,
                                                                                              Cout, Tout);
    CU_LAUNCHED("k_conv_bias");
  }
  return TS_OK;
}

int cu_conv1d_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                  tensor *dbias, int stride, int pad, int groups) {
  int64_t B = x->ne[0], Cin = x->ne[1], T = x->ne[2];
  int64_t Cout = w->ne[0], K = w->ne[2], Tout = dy->ne[2];
  int64_t Cg = Cin / groups, Og = Cout / groups;
  if (B <= 0 || Cout <= 0) return TS_OK;
  if (Cin * K > 2147483647LL - CV_MAXY) return cu_fail("conv1d_bwd: Cin x K past 2^31", cudaErrorInvalidValue);
  if (dbias) {
    k_conv_dbias<<<cv_cap(Cout), CV_THREADS, 0, cu_stream()>>>(cu_f(dy), cu_f(dbias), B, Cout, Tout);
    CU_LAUNCHED("k_conv_dbias");
  }
  if (Tout <= 0 || (!dx && !dw)) return TS_OK;
  int done = 0;
  TS_TRY(cu_cudnn_conv1d_bwd(be, x, w, dy, dx, dw, stride, pad, groups, &done)); /* cuda_set_cudnn */
  if (done) return TS_OK;
  size_t ncol = (size_t)(Cin * K * Tout);
  float *col = NULL;
  TS_TRY(cu_scratch(be, 2 * sizeof(float) * ncol, (void **)&col));
  float *dcol = col + ncol;
  for (int64_t b = 0; b < B; b++) {
    const float *gb = cu_f(dy) + b * Cout * Tout;
    if (dw && Cin * K > 0) { /* dW_g (Og, Cg*K) += dY_g (Og,Tout) col_g^T */
      cv_im2col(x, b, (int)K, Tout, stride, pad, col);
      CU_LAUNCHED("k_im2col");
      TS_TRY(cu_gemm(be, 0, 1, Og, Cg * K, Tout, 1.0f, gb, Tout, Og * Tout, col, Tout, Cg * K * Tout, 1.0f, cu_f(dw),
                     Cg * K, Og * Cg * K, groups));
    }
    if (dx && Cin * K > 0 && T > 0) { /* dcol_g (Cg*K, Tout) = W_g^T dY_g, then gather back */
      TS_TRY(cu_gemm(be, 1, 0, Cg * K, Tout, Og, 1.0f, cu_f(w), Cg * K, Og * Cg * K, gb, Tout, Og * Tout, 0.0f, dcol,
                     Tout, Cg * K * Tout, groups));
      k_col2im<<<dim3(cv_xblocks(T), cv_cap(Cin)), CV_THREADS, 0, cu_stream()>>>(dcol, Cin, T, (int)K, Tout, stride, pad,
                                                                               cu_f(dx) + b * Cin * T);
      CU_LAUNCHED("k_col2im");
    }
  }
  return TS_OK;
}

/* ---- weight norm: v viewed as (outer, mid = ne[dim], inner); one block per slice m ---- */
typedef struct wn_geom {
  int64_t outer, mid, inner;
} wn_geom;

static wn_geom wn_geom_of(const tensor *v, int dim) {
  wn_geom g = {1, v->ne[dim], 1};
  for (int i = 0; i < dim; i++) g.outer *= v->ne[i];
  for (int i = dim + 1; i < v->ndim; i++) g.inner *= v->ne[i];
  return g;
}

__global__ void k_weightnorm(const float *v, const float *g, float *w, float *norm, int64_t outer, int64_t mid,
                             int64_t inner) {
  int64_t m = blockIdx.x, n = outer * inner;
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float x = v[((i / inner) * mid + m) * inner + i % inner];
    s += (double)x * x;
  }
  s = cu_block_sum(s);
  float nv = (float)sqrt(s);
  if (threadIdx.x == 0) norm[m] = nv;
  float f = g[m] / nv;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    int64_t idx = ((i / inner) * mid + m) * inner + i % inner;
    w[idx] = v[idx] * f;
  }
}

__global__ void k_weightnorm_bwd(const float *v, const float *g, const float *norm, const float *dw, float *dv,
                                 float *dg, int64_t outer, int64_t mid, int64_t inner) {
  int64_t m = blockIdx.x, n = outer * inner;
  double dot = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    int64_t idx = ((i / inner) * mid + m) * inner + i % inner;
    dot += (double)dw[idx] * v[idx];
  }
  dot = cu_block_sum(dot);
  float nv = norm[m];
  if (threadIdx.x == 0 && dg) dg[m] += (float)(dot / nv);
  if (!dv) return;
  float a = g[m] / nv, c = (float)(g[m] * dot / ((double)nv * nv * nv));
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    int64_t idx = ((i / inner) * mid + m) * inner + i % inner;
    dv[idx] += a * dw[idx] - c * v[idx];
  }
}

int cu_weightnorm(backend *be, const tensor *v, const tensor *g, tensor *w, tensor *norm, int dim) {
  wn_geom q = wn_geom_of(v, dim);
  if (q.mid <= 0) return TS_OK;
  k_weightnorm<<<(unsigned)q.mid, 256, 0, cu_stream()>>>(cu_f(v), cu_f(g), cu_f(w), cu_f(norm), q.outer, q.mid, q.inner);
  CU_LAUNCHED("k_weightnorm");
  return TS_OK;
}

int cu_weightnorm_bwd(backend *be, const tensor *v, const tensor *g, const tensor *norm, const tensor *dw,
                      tensor *dv, tensor *dg, int dim) {
  wn_geom q = wn_geom_of(v, dim);
  if (q.mid <= 0) return TS_OK;
  k_weightnorm_bwd<<<(unsigned)q.mid, 256, 0, cu_stream()>>>(cu_f(v), cu_f(g), cu_f(norm), cu_f(dw), cu_f(dv), cu_f(dg), q.outer,
                                             q.mid, q.inner);
  CU_LAUNCHED("k_weightnorm_bwd");
  return TS_OK;
}
