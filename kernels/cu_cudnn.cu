// cu_cudnn.cu — conv1d and its backward on cuDNN (cuda_set_cudnn; on by default in builds with
// cuDNN since an H200 checked and timed it, session 15, for every shape but single-input-channel
// ones since session 17; TSASR_CUDA_CUDNN=0 turns it off, 1 takes every shape): a 1-D
// convolution is cuDNN's 2-D one with height 1. Each
// shape (batch, channels, length, kernel, stride, padding, groups, math, data type) gets its
// descriptors and the heuristic's algorithms (forward, backward data, backward filter) once,
// kept in a small table; no FFT or Winograd algorithm (their rounding is not a GEMM's),
// deterministic ones first. FMA math in the f32 precision (only FMA kernels: no TF32); in tf32
// and bf16 the default math (TF32 tensor cores on the f32 data allowed), where the heuristic
// answers with (algorithm, math type) pairs: each direction keeps its pair and sets its math
// type on the descriptor before it runs.
// On f32 data a bf16 x (op_act_dtype) is widened into scratch first. With cuda_set_cudnn_bf16
// (off by default) the bf16 precision's convolutions run on bf16 data with tensor-op math
// instead (cd_fwd16, cd_bwd16 below). The bias and its gradient stay the backend's kernels
// (cu_conv.cu). A shape cuDNN cannot take is remembered, and the caller takes its im2col path.
// Built only with cuDNN (TS_HAVE_CUDNN); without it nothing runs here.
#include "cu_common.h"

extern "C" {
#include "base/log.h"
}

#ifdef TS_HAVE_CUDNN
#include <cudnn.h>

/* what identifies a plan; memset to zero before filling (compared with memcmp) */
typedef struct cd_key {
  int64_t B, Cin, T, Cout, K, Tout;
  int stride, pad, groups, math;
  int dt;    /* 0: f32 data; 1: bf16 data (cuda_set_cudnn_bf16), f32 compute */
  int det;   /* 1: deterministic algorithms only (cuda_set_deterministic); also no padding: keys
                are compared with memcmp */
} cd_key;
static_assert(sizeof(cd_key) == 6 * sizeof(int64_t) + 6 * sizeof(int), "cd_key has padding");

typedef struct cd_plan {
  cd_key key;
  int used; /* 0 free, 1 a plan, 2 no plan (the im2col path) */
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  cudnnConvolutionFwdAlgo_t fwd;
  cudnnConvolutionBwdDataAlgo_t bwd_data;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter;
  cudnnMathType_t m_fwd, m_data, m_filter; /* the math type each algorithm was chosen with */
  size_t ws_fwd, ws_data, ws_filter;       /* bytes of workspace each needs */
} cd_plan;

#define CD_SLOTS 64                      /* plans kept; the oldest slot is reused past that */
#define CD_WS_MAX ((size_t)1 << 30)      /* workspace an algorithm may ask for */

static cudnnHandle_t g_dnn;
static int g_dnn_state; /* 0 not made, 1 ready, -1 unavailable */
static cd_plan g_cd[CD_SLOTS];
static unsigned g_cd_next;
static long g_cd_calls, g_cd_fallbacks;

static void cd_drop(cd_plan *p) {
  if (p->used == 1) {
    cudnnDestroyTensorDescriptor(p->x);
    cudnnDestroyTensorDescriptor(p->y);
    cudnnDestroyFilterDescriptor(p->w);
    cudnnDestroyConvolutionDescriptor(p->conv);
  }
  p->used = 0;
}

/* whether a result's math type suits the plan's: FMA exactly (f32: no tensor cores); with the
 * default math, the default or tensor-op kernels */
static bool cd_math_ok(int got, int want) {
  return want == (int)CUDNN_FMA_MATH ? got == (int)CUDNN_FMA_MATH
                                     : got == (int)CUDNN_DEFAULT_MATH || got == (int)CUDNN_TENSOR_OP_MATH;
}

/* the first usable result: an allowed algorithm, workspace within CD_WS_MAX, a suitable math
 * type; deterministic ones before the others (cuDNN ranks them by expected speed), and only
 * those with det. -1 when none. */
template <typename R>
static int cd_pick(const R *r, int n, int math, int det, bool (*allowed)(int)) {
  for (int pass = 0; pass < (det ? 1 : 2); pass++)
    for (int i = 0; i < n; i++)
      if (r[i].status == CUDNN_STATUS_SUCCESS && allowed((int)r[i].algo) && r[i].memory <= CD_WS_MAX &&
          cd_math_ok((int)r[i].mathType, math) && (pass == 1 || r[i].determinism == CUDNN_DETERMINISTIC))
        return i;
  return -1;
}
static bool cd_fwd_ok(int a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM;
}
static bool cd_data_ok(int a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
}
static bool cd_filter_ok(int a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
}

/* the plan of key k (used 1), or none (2): descriptors, the output shape checked against ours,
 * and the three algorithms */
static void cd_make(const cd_key *k, cd_plan *p) {
  p->key = *k;
  p->used = 2;
  if (k->B > INT32_MAX || k->Cin > INT32_MAX || k->T > INT32_MAX || k->Cout > INT32_MAX || k->K > INT32_MAX ||
      k->B * k->Cin * k->T > INT32_MAX || k->B * k->Cout * k->Tout > INT32_MAX)
    return; /* cuDNN's descriptors take int dims and strides */
  cudnnTensorDescriptor_t x = NULL, y = NULL;
  cudnnFilterDescriptor_t w = NULL;
  cudnnConvolutionDescriptor_t conv = NULL;
  int n = 0, c = 0, h = 0, wd = 0;
  /* bf16 data: x, w and y in bf16, the products summed in f32 (the convolution's compute type) */
  const cudnnDataType_t dt = k->dt ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  bool ok = cudnnCreateTensorDescriptor(&x) == CUDNN_STATUS_SUCCESS &&
            cudnnCreateTensorDescriptor(&y) == CUDNN_STATUS_SUCCESS &&
            cudnnCreateFilterDescriptor(&w) == CUDNN_STATUS_SUCCESS &&
            cudnnCreateConvolutionDescriptor(&conv) == CUDNN_STATUS_SUCCESS &&
            cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, dt, (int)k->B, (int)k->Cin, 1, (int)k->T) ==
                CUDNN_STATUS_SUCCESS &&
            cudnnSetFilter4dDescriptor(w, dt, CUDNN_TENSOR_NCHW, (int)k->Cout,
                                       (int)(k->Cin / k->groups), 1, (int)k->K) == CUDNN_STATUS_SUCCESS &&
            cudnnSetConvolution2dDescriptor(conv, 0, k->pad, 1, k->stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                            CUDNN_DATA_FLOAT) == CUDNN_STATUS_SUCCESS &&
            cudnnSetConvolutionGroupCount(conv, k->groups) == CUDNN_STATUS_SUCCESS &&
            cudnnSetConvolutionMathType(conv, (cudnnMathType_t)k->math) == CUDNN_STATUS_SUCCESS &&
            cudnnGetConvolution2dForwardOutputDim(conv, x, w, &n, &c, &h, &wd) == CUDNN_STATUS_SUCCESS &&
            n == k->B && c == k->Cout && h == 1 && wd == k->Tout &&
            cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, dt, (int)k->B, (int)k->Cout, 1,
                                       (int)k->Tout) == CUDNN_STATUS_SUCCESS;
  int got = 0, i;
  if (ok) {
    cudnnConvolutionFwdAlgoPerf_t r[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    ok = cudnnGetConvolutionForwardAlgorithm_v7(g_dnn, x, w, conv, y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, r) ==
             CUDNN_STATUS_SUCCESS &&
         (i = cd_pick(r, got, k->math, k->det, cd_fwd_ok)) >= 0;
    if (ok) p->fwd = r[i].algo, p->m_fwd = r[i].mathType, p->ws_fwd = r[i].memory;
  }
  if (ok) {
    cudnnConvolutionBwdDataAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    ok = cudnnGetConvolutionBackwardDataAlgorithm_v7(g_dnn, w, y, conv, x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got,
                                                     r) == CUDNN_STATUS_SUCCESS &&
         (i = cd_pick(r, got, k->math, k->det, cd_data_ok)) >= 0;
    if (ok) p->bwd_data = r[i].algo, p->m_data = r[i].mathType, p->ws_data = r[i].memory;
  }
  if (ok) {
    cudnnConvolutionBwdFilterAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    ok = cudnnGetConvolutionBackwardFilterAlgorithm_v7(g_dnn, x, y, conv, w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                       &got, r) == CUDNN_STATUS_SUCCESS &&
         (i = cd_pick(r, got, k->math, k->det, cd_filter_ok)) >= 0;
    if (ok) p->bwd_filter = r[i].algo, p->m_filter = r[i].mathType, p->ws_filter = r[i].memory;
  }
  /* each direction's workspace with its own math type set (at least what the heuristic said) */
  size_t ws = 0;
  if (ok && cudnnSetConvolutionMathType(conv, p->m_fwd) == CUDNN_STATUS_SUCCESS &&
      cudnnGetConvolutionForwardWorkspaceSize(g_dnn, x, w, conv, y, p->fwd, &ws) == CUDNN_STATUS_SUCCESS &&
      ws > p->ws_fwd)
    p->ws_fwd = ws;
  if (ok && cudnnSetConvolutionMathType(conv, p->m_data) == CUDNN_STATUS_SUCCESS &&
      cudnnGetConvolutionBackwardDataWorkspaceSize(g_dnn, w, y, conv, x, p->bwd_data, &ws) == CUDNN_STATUS_SUCCESS &&
      ws > p->ws_data)
    p->ws_data = ws;
  if (ok && cudnnSetConvolutionMathType(conv, p->m_filter) == CUDNN_STATUS_SUCCESS &&
      cudnnGetConvolutionBackwardFilterWorkspaceSize(g_dnn, x, y, conv, w, p->bwd_filter, &ws) ==
          CUDNN_STATUS_SUCCESS &&
      ws > p->ws_filter)
    p->ws_filter = ws;
  if (ok) {
    p->x = x, p->y = y, p->w = w, p->conv = conv;
    p->used = 1;
    log_debug("cuda: cuDNN plan B=%lld Cin=%lld T=%lld Cout=%lld K=%lld groups=%d %s data: algorithms %d/%d/%d, "
              "math %d/%d/%d (forward/data/filter)",
              (long long)k->B, (long long)k->Cin, (long long)k->T, (long long)k->Cout, (long long)k->K, k->groups,
              k->dt ? "bf16" : "f32", (int)p->fwd, (int)p->bwd_data, (int)p->bwd_filter, (int)p->m_fwd,
              (int)p->m_data, (int)p->m_filter);
    return;
  }
  if (x) cudnnDestroyTensorDescriptor(x);
  if (y) cudnnDestroyTensorDescriptor(y);
  if (w) cudnnDestroyFilterDescriptor(w);
  if (conv) cudnnDestroyConvolutionDescriptor(conv);
}

/* the cuDNN handle on the backend's stream, made at the first use (also for cu_sdpa.cu); NULL
 * when cuDNN did not start (logged once) */
cudnnHandle_t cu_dnn_handle(void) {
  if (!g_dnn_state) {
    int made = cudnnCreate(&g_dnn) == CUDNN_STATUS_SUCCESS;
    g_dnn_state = made && cudnnSetStream(g_dnn, cu_stream()) == CUDNN_STATUS_SUCCESS ? 1 : -1;
    if (g_dnn_state < 0) log_warn("cuda: cuDNN did not start; convolutions and attention keep the backend's kernels");
  }
  return g_dnn_state > 0 ? g_dnn : NULL;
}

/* the plan for this convolution, or NULL (switch off, no cuDNN, no plan: the im2col path) */
static cd_plan *cd_plan_of(backend *be, const tensor *x, const tensor *w, int64_t Tout, int stride, int pad,
                           int groups) {
  cu_ctx *c = cu_of(be);
  if (!c->cudnn) return NULL;
  /* modes 2 (the default) and 3 leave single-input-channel convolutions (the waveform's: cuDNN's
   * weight gradient took 3.3 ms of an H200's bf16 SFT step for it) and, in 3, grouped ones to
   * the im2col path: a choice, not a fallback (not counted) */
  if ((c->cudnn >= 2 && x->ne[1] == 1) || (c->cudnn == 3 && groups > 1)) return NULL;
  if (!cu_dnn_handle()) {
    g_cd_fallbacks++;
    return NULL;
  }
  cd_key k;
  memset(&k, 0, sizeof k);
  k.B = x->ne[0], k.Cin = x->ne[1], k.T = x->ne[2], k.Cout = w->ne[0], k.K = w->ne[2], k.Tout = Tout;
  k.stride = stride, k.pad = pad, k.groups = groups;
  k.dt = c->dnn16 && c->gemm == TS_GEMM_BF16;
  k.det = c->det;
  /* bf16 data: tensor-op math asked for outright (the legacy API's tensor cores for bf16; the
   * default math is documented to allow TF32 for f32 data only) */
  k.math = k.dt                    ? (int)CUDNN_TENSOR_OP_MATH
           : c->gemm == TS_GEMM_F32 ? (int)CUDNN_FMA_MATH
                                    : (int)CUDNN_DEFAULT_MATH;
  cd_plan *p = NULL;
  for (int i = 0; i < CD_SLOTS && !p; i++)
    if (g_cd[i].used && !memcmp(&g_cd[i].key, &k, sizeof k)) p = &g_cd[i];
  if (!p) {
    p = &g_cd[g_cd_next++ % CD_SLOTS];
    cd_drop(p);
    cd_make(&k, p);
  }
  if (p->used != 1) {
    g_cd_fallbacks++;
    return NULL;
  }
  return p;
}


/* a cuDNN call's status: TS_OK; for NOT_SUPPORTED (nothing ran) the plan is dropped and the
 * caller's im2col path serves this shape from now on (*fallback = 1); else a device error */
static int cd_status(cd_plan *p, const char *what, cudnnStatus_t st, int *fallback) {
  if (st == CUDNN_STATUS_SUCCESS) return TS_OK;
  if (st == CUDNN_STATUS_NOT_SUPPORTED) {
    cd_key k = p->key;
    cd_drop(p);
    p->key = k, p->used = 2;
    g_cd_fallbacks++;
    *fallback = 1;
    return TS_OK;
  }
  return cu_fail_lib(what, "cuDNN", (int)st, cudnnGetErrorString(st));
}

/* the weight gradient's status: as cd_status while nothing was added yet (no dx wanted: the
 * im2col path may still do the call, *fallback = 1); after dx was added, any failure is an
 * error (falling back would add dx twice) */
static int cd_filter_status(cd_plan *p, cudnnStatus_t st, bool dx_added, int *fallback) {
  if (!dx_added) return cd_status(p, "cudnnConvolutionBackwardFilter", st, fallback);
  if (st == CUDNN_STATUS_SUCCESS) return TS_OK;
  return cu_fail_lib("cudnnConvolutionBackwardFilter", "cuDNN", (int)st, cudnnGetErrorString(st));
}

/* scratch for x widened to f32 (when it is bf16) and a workspace of ws bytes; when the device
 * has no room for it, the im2col path (*fallback = 1) */
static int cd_scratch_or_fall(backend *be, const tensor *x, size_t ws, const float **xf, void **wsp, int *fallback) {
  int64_t nx = x->dtype == DT_BF16 ? tensor_numel(x) : 0;
  char *base;
  int rc = cu_scratch(be, cu_rnd(sizeof(float) * (size_t)nx) + ws, (void **)&base);
  if (rc == TS_ENOMEM) {
    log_warn("cuda: no device memory for cuDNN's workspace (%zu bytes); this convolution takes the im2col path", ws);
    g_cd_fallbacks++;
    *fallback = 1;
    return TS_OK;
  }
  TS_TRY(rc);
  char *cur = base;
  float *xw = nx ? (float *)cu_carve(&cur, sizeof(float) * (size_t)nx) : NULL;
  *wsp = ws ? cur : NULL;
  if (xw) TS_TRY(cu_widen_bf16((const unsigned short *)x->data, xw, nx));
  *xf = xw ? xw : cu_f(x);
  return TS_OK;
}

/* ---- bf16 data (cuda_set_cudnn_bf16, the bf16 precision): cuDNN reads and writes bf16, so x
 * is taken as it is stored when it is a bf16 activation (else rounded), w and dY are rounded,
 * and Y, dX, dW come back in bf16 and are widened into y or added into the f32 gradients: the
 * products autocast gives (bf16 operands, f32 sums, bf16 results) ---- */

/* bf16 scratch of n[i] values each (0: none) and ws bytes of workspace, one block; *fallback =
 * 1 (the im2col path) when the device has no room */
static int cd_scratch16(backend *be, const int64_t *n, int cnt, size_t ws, unsigned short **b, void **wsp,
                        int *fallback) {
  size_t bytes = ws;
  for (int i = 0; i < cnt; i++) bytes += cu_rnd(sizeof(unsigned short) * (size_t)n[i]);
  char *cur;
  int rc = cu_scratch(be, bytes, (void **)&cur);
  if (rc == TS_ENOMEM) {
    log_warn("cuda: no device memory for cuDNN's bf16 buffers (%zu bytes); this convolution takes the im2col path",
             bytes);
    g_cd_fallbacks++;
    *fallback = 1;
    return TS_OK;
  }
  TS_TRY(rc);
  for (int i = 0; i < cnt; i++)
    b[i] = n[i] ? (unsigned short *)cu_carve(&cur, cu_rnd(sizeof(unsigned short) * (size_t)n[i])) : NULL;
  *wsp = ws ? cur : NULL;
  return TS_OK;
}

/* x in bf16: its own storage when it is a bf16 activation, else rounded into b */
static int cd_x16(const tensor *x, unsigned short *b, const void **out) {
  if (x->dtype == DT_BF16) {
    *out = x->data;
    return TS_OK;
  }
  *out = b;
  return cu_round_bf16(cu_f(x), b, tensor_numel(x));
}

static int cd_fwd16(backend *be, cd_plan *p, const tensor *x, const tensor *w, tensor *y, int *done) {
  const int64_t n[3] = {x->dtype == DT_BF16 ? 0 : tensor_numel(x), tensor_numel(w), tensor_numel(y)};
  unsigned short *b[3];
  void *ws;
  int fall = 0;
  TS_TRY(cd_scratch16(be, n, 3, p->ws_fwd, b, &ws, &fall));
  if (fall) return TS_OK;
  const void *x16;
  TS_TRY(cd_x16(x, b[0], &x16));
  TS_TRY(cu_round_bf16(cu_f(w), b[1], n[1]));
  const float one = 1.0f, zero = 0.0f;
  cu_of(be)->launches++;
  cudnnSetConvolutionMathType(p->conv, p->m_fwd);
  TS_TRY(cd_status(p, "cudnnConvolutionForward",
                   cudnnConvolutionForward(g_dnn, &one, p->x, x16, p->w, b[1], p->conv, p->fwd, ws, p->ws_fwd, &zero,
                                           p->y, b[2]),
                   &fall));
  if (fall) return TS_OK;
  TS_TRY(cu_widen_bf16(b[2], cu_f(y), n[2]));
  g_cd_calls++;
  *done = 1;
  return TS_OK;
}

static int cd_bwd16(backend *be, cd_plan *p, const tensor *x, const tensor *w, const tensor *dy, tensor *dx,
                    tensor *dw, int *done) {
  /* x (for dW, when not already bf16), w (for dX), dY, then the results dX and dW */
  const int64_t n[5] = {dw && x->dtype != DT_BF16 ? tensor_numel(x) : 0, dx ? tensor_numel(w) : 0, tensor_numel(dy),
                        dx ? tensor_numel(dx) : 0, dw ? tensor_numel(dw) : 0};
  size_t ws = p->ws_data > p->ws_filter ? p->ws_data : p->ws_filter;
  unsigned short *b[5];
  void *wsp;
  int fall = 0;
  TS_TRY(cd_scratch16(be, n, 5, ws, b, &wsp, &fall));
  if (fall) return TS_OK;
  TS_TRY(cu_round_bf16(cu_f(dy), b[2], n[2]));
  const float one = 1.0f, zero = 0.0f;
  /* dx first, as on the f32 path: a NOT_SUPPORTED there has added nothing yet */
  if (dx) { /* dX = W^T (x) dY in bf16, then added */
    TS_TRY(cu_round_bf16(cu_f(w), b[1], n[1]));
    cu_of(be)->launches++;
    cudnnSetConvolutionMathType(p->conv, p->m_data);
    TS_TRY(cd_status(p, "cudnnConvolutionBackwardData",
                     cudnnConvolutionBackwardData(g_dnn, &one, p->w, b[1], p->y, b[2], p->conv, p->bwd_data, wsp,
                                                  p->ws_data, &zero, p->x, b[3]),
                     &fall));
    if (fall) return TS_OK;
    TS_TRY(cu_add_bf16(b[3], cu_f(dx), n[3]));
  }
  if (dw) { /* dW = dY (x) x in bf16, then added */
    const void *x16;
    TS_TRY(cd_x16(x, b[0], &x16));
    cu_of(be)->launches++;
    cudnnSetConvolutionMathType(p->conv, p->m_filter);
    cudnnStatus_t st = cudnnConvolutionBackwardFilter(g_dnn, &one, p->x, x16, p->y, b[2], p->conv, p->bwd_filter, wsp,
                                                      p->ws_filter, &zero, p->w, b[4]);
    TS_TRY(cd_filter_status(p, st, dx != NULL, &fall));
    if (fall) return TS_OK;
    TS_TRY(cu_add_bf16(b[4], cu_f(dw), n[4]));
  }
  g_cd_calls++;
  *done = 1;
  return TS_OK;
}

int cu_cudnn_conv1d(backend *be, const tensor *x, const tensor *w, tensor *y, int stride, int pad, int groups,
                    int *done) {
  *done = 0;
  cd_plan *p = cd_plan_of(be, x, w, y->ne[2], stride, pad, groups);
  if (!p) return TS_OK;
  if (p->key.dt) return cd_fwd16(be, p, x, w, y, done);
  const float *xf;
  void *ws;
  int fall = 0;
  TS_TRY(cd_scratch_or_fall(be, x, p->ws_fwd, &xf, &ws, &fall));
  if (fall) return TS_OK;
  const float one = 1.0f, zero = 0.0f;
  cu_of(be)->launches++;
  cudnnSetConvolutionMathType(p->conv, p->m_fwd);
  TS_TRY(cd_status(p, "cudnnConvolutionForward",
                   cudnnConvolutionForward(g_dnn, &one, p->x, xf, p->w, cu_f(w), p->conv, p->fwd, ws, p->ws_fwd, &zero,
                                           p->y, cu_f(y)),
                   &fall));
  if (fall) return TS_OK;
  g_cd_calls++;
  *done = 1;
  return TS_OK;
}

int cu_cudnn_conv1d_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                        int stride, int pad, int groups, int *done) {
  *done = 0;
  cd_plan *p = cd_plan_of(be, x, w, dy->ne[2], stride, pad, groups);
  if (!p) return TS_OK;
  if (p->key.dt) return cd_bwd16(be, p, x, w, dy, dx, dw, done);
  size_t ws = p->ws_data > p->ws_filter ? p->ws_data : p->ws_filter;
  const float *xf;
  void *wsp;
  int fall = 0;
  TS_TRY(cd_scratch_or_fall(be, dw ? x : dy, ws, &xf, &wsp, &fall)); /* x widened only when dw reads it */
  if (fall) return TS_OK;
  const float one = 1.0f;
  /* dx first: a NOT_SUPPORTED there leaves dw untouched for the im2col path to do both. (dw
   * first could not fall back once dx failed: dw would be added twice.) */
  if (dx) { /* dx += W^T (x) dY */
    cu_of(be)->launches++;
    cudnnSetConvolutionMathType(p->conv, p->m_data);
    TS_TRY(cd_status(p, "cudnnConvolutionBackwardData",
                     cudnnConvolutionBackwardData(g_dnn, &one, p->w, cu_f(w), p->y, cu_f(dy), p->conv, p->bwd_data,
                                                  wsp, p->ws_data, &one, p->x, cu_f(dx)),
                     &fall));
    if (fall) return TS_OK;
  }
  if (dw) { /* dW += dY (x) */
    cu_of(be)->launches++;
    cudnnSetConvolutionMathType(p->conv, p->m_filter);
    cudnnStatus_t st = cudnnConvolutionBackwardFilter(g_dnn, &one, p->x, xf, p->y, cu_f(dy), p->conv, p->bwd_filter,
                                                      wsp, p->ws_filter, &one, p->w, cu_f(dw));
    TS_TRY(cd_filter_status(p, st, dx != NULL, &fall));
    if (fall) return TS_OK;
  }
  g_cd_calls++;
  *done = 1;
  return TS_OK;
}

extern "C" void cuda_cudnn_counts(long *calls, long *fallbacks) {
  if (calls) *calls = g_cd_calls;
  if (fallbacks) *fallbacks = g_cd_fallbacks;
}

#else /* no cuDNN in this build: the im2col path always */

int cu_cudnn_conv1d(backend *be, const tensor *x, const tensor *w, tensor *y, int stride, int pad, int groups,
                    int *done) {
  (void)be, (void)x, (void)w, (void)y, (void)stride, (void)pad, (void)groups;
  *done = 0;
  return TS_OK;
}

int cu_cudnn_conv1d_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                        int stride, int pad, int groups, int *done) {
  (void)be, (void)x, (void)w, (void)dy, (void)dx, (void)dw, (void)stride, (void)pad, (void)groups;
  *done = 0;
  return TS_OK;
}

extern "C" void cuda_cudnn_counts(long *calls, long *fallbacks) {
  if (calls) *calls = 0;
  if (fallbacks) *fallbacks = 0;
}
#endif
