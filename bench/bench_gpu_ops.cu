// bench_gpu_ops.cu — CUDA backend timings through the op wrappers: f32 matmul GFLOP/s,
// attention forward/backward, one Qwen2.5-0.5B-shaped decoder layer forward+backward through
// the model's layer code (C 896, 14/2 heads of 64, MLP 4864) and decoding's token choice
// (greedy, temperature, top-k / top-p over 151,936 logits), and the GEMM in four storage forms
// (f32, f32 with bf16 math, bf16 in, bf16 in and out: what bf16 storage would buy), and last the
// decoder layer's training forward+backward in the bf16 precision three ways (f32 storage;
// the weights' bf16 copy, TSASR_CUDA_TRAIN_COPY; bf16 activation storage, TSASR_CUDA_BF16_ACTS),
// and a decoding step's five GEMMs on cuBLASLt and on the small-row kernel (TB/s of weights; one
// call host-fed, and per call of a CUDA graph of many: GPU time alone), ("elem") the element
// kernels' TB/s against the grid's cap (cuda_set_elem_blocks), and ("conv") data2vec's
// convolutions layer by layer on cuDNN and on im2col,
// timed with CUDA events after warm-up, median of repeats. Built only with CUDA (tests/gpu/CMakeLists.txt); run by tests/gpu/run.sh.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

extern "C" {
#include "base/arena.h"
#include "nn/decoder.h"
#include "tensor/backend.h"
#include "tensor/be_mem.h"
#include "tensor/cuda_ctl.h"
#include "tensor/ops.h"
#include "tensor/params.h"
}

static backend *g_be;
static ts_err g_e;

#define OK(x)                                                        \
  do {                                                               \
    if ((x)) {                                                       \
      fprintf(stderr, "bench_gpu_ops: %s: %s\n", #x, g_e.msg);       \
      exit(1);                                                       \
    }                                                                \
  } while (0)
#define CK(x)                                                                          \
  do {                                                                                 \
    cudaError_t s_ = (x);                                                              \
    if (s_ != cudaSuccess) {                                                           \
      fprintf(stderr, "bench_gpu_ops: %s: %s\n", #x, cudaGetErrorString(s_));          \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

/* device buffer of n floats with small random values */
static float *dbuf(int64_t n) {
  std::vector<float> h((size_t)n);
  uint64_t x = 0x1234567ull + (uint64_t)n;
  for (auto &v : h) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    v = (float)((double)(x >> 40) / 16777216.0 - 0.5) * 0.1f;
  }
  float *p = (float *)g_be->ops->alloc(g_be, sizeof(float) * (size_t)n);
  if (!p) {
    fprintf(stderr, "bench_gpu_ops: out of device memory (%lld floats)\n", (long long)n);
    exit(1);
  }
  OK(g_be->ops->to_device(g_be, p, h.data(), sizeof(float) * (size_t)n, &g_e));
  return p;
}

static tensor T(float *p, int nd, int64_t a, int64_t b = 0, int64_t c = 0, int64_t d = 0) {
  tensor t = tensor_f32(p, nd, a, b, c, d);
  t.device = DEV_CUDA;
  return t;
}

/* median milliseconds of fn over reps, each between two events recorded on stream st */
template <class F>
static double median_ms(cudaStream_t st, F fn, int reps) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<double> ms;
  for (int i = 0; i < reps; i++) {
    CK(cudaEventRecord(a, st));
    fn();
    CK(cudaEventRecord(b, st));
    CK(cudaEventSynchronize(b));
    float t = 0;
    CK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

/* median milliseconds of fn over reps after warm runs */
template <class F>
static double time_ms(F fn, int warm = 3, int reps = 10) {
  for (int i = 0; i < warm; i++) fn();
  CK(cudaDeviceSynchronize());
  return median_ms(0, fn, reps);
}

/* GPU milliseconds per call of fn with the host's launches out of the way: R calls captured
 * into one CUDA graph on the backend's stream, the graph launched after a warm run, the median
 * of 10 launches divided by R. -1 when the capture fails (the reason on stderr; the bench goes
 * on). The calls must not sync or read back, as inside a decoding step. */
template <class F>
static double time_graph_ms(F fn, int R) {
  cudaStream_t st = (cudaStream_t)cuda_stream_handle();
  cudaGraph_t g = NULL;
  cudaGraphExec_t ge = NULL;
  CK(cudaStreamSynchronize(st));
  cudaError_t rc = cudaStreamBeginCapture(st, cudaStreamCaptureModeRelaxed);
  if (rc == cudaSuccess) {
    for (int i = 0; i < R; i++) fn();
    rc = cudaStreamEndCapture(st, &g);
  }
  if (rc == cudaSuccess) rc = cudaGraphInstantiate(&ge, g, 0);
  if (g) cudaGraphDestroy(g);
  if (rc != cudaSuccess) {
    fprintf(stderr, "bench_gpu_ops: a graph of %d calls: %s\n", R, cudaGetErrorString(rc));
    cudaGetLastError();
    return -1;
  }
  CK(cudaGraphLaunch(ge, st));
  CK(cudaStreamSynchronize(st));
  double ms = median_ms(st, [&] { CK(cudaGraphLaunch(ge, st)); }, 10);
  CK(cudaGraphExecDestroy(ge));
  return ms / R;
}

struct row {
  char name[96];
  double ms;
  char rate[64];
};
static std::vector<row> g_rows;

static void report(const char *name, double ms, const char *rate) {
  row r;
  snprintf(r.name, sizeof r.name, "%s", name);
  r.ms = ms;
  snprintf(r.rate, sizeof r.rate, "%s", rate);
  g_rows.push_back(r);
  printf("%-52s %10.3f ms  %s\n", name, ms, rate);
  fflush(stdout);
}

/* the rows again as one table (run.sh's summary prints it) */
static void print_table(void) {
  printf("\n%-52s %10s  %s\n", "benchmark", "median", "rate");
  for (const row &r : g_rows) printf("%-52s %10.3f ms  %s\n", r.name, r.ms, r.rate);
}

static void bench_matmul(int64_t M, int64_t K, int64_t N) {
  float *a = dbuf(M * K), *w = dbuf(N * K), *c = dbuf(M * N);
  tensor A = T(a, 2, M, K), W = T(w, 2, N, K), Cm = T(c, 2, M, N);
  double ms = time_ms([&] { OK(op_matmul(g_be, &A, &W, NULL, &Cm, 0, 1, 0.0f, &g_e)); });
  char name[96], rate[64];
  snprintf(name, sizeof name, "matmul f32 x(%lld,%lld) W^T(%lld,%lld)", (long long)M, (long long)K, (long long)N,
           (long long)K);
  snprintf(rate, sizeof rate, "%.0f GFLOP/s", 2.0 * M * N * K / (ms * 1e6));
  report(name, ms, rate);
  g_be->ops->release(g_be, a);
  g_be->ops->release(g_be, w);
  g_be->ops->release(g_be, c);
}

static void bench_attn(int64_t B, int64_t Tn, int64_t Hq, int64_t Hkv, int64_t D, int causal = 1) {
  int64_t nq = B * Tn * Hq * D, nk = B * Tn * Hkv * D;
  float *q = dbuf(nq), *k = dbuf(nk), *v = dbuf(nk), *o = dbuf(nq), *l = dbuf(B * Hq * Tn), *go = dbuf(nq),
        *dq = dbuf(nq), *dk = dbuf(nk), *dv = dbuf(nk);
  tensor Q = T(q, 4, B, Tn, Hq, D), K = T(k, 4, B, Tn, Hkv, D), V = T(v, 4, B, Tn, Hkv, D), O = T(o, 4, B, Tn, Hq, D),
         L = T(l, 3, B, Hq, Tn), GO = T(go, 4, B, Tn, Hq, D), DQ = T(dq, 4, B, Tn, Hq, D),
         DK = T(dk, 4, B, Tn, Hkv, D), DV = T(dv, 4, B, Tn, Hkv, D);
  attn_cfg cfg = {causal, 1.0f / sqrtf((float)D), NULL, NULL, NULL};
  double f = 4.0 * B * Hq * Tn * Tn * D; /* QK^T and PV, full (unmasked) count */
  char name[96], rate[64];
  double ms = time_ms([&] { OK(op_attention(g_be, &Q, &K, &V, &O, &L, &cfg, &g_e)); });
  snprintf(name, sizeof name, "attention fwd B=%lld T=%lld H=%lld/%lld D=%lld %s", (long long)B, (long long)Tn,
           (long long)Hq, (long long)Hkv, (long long)D, causal ? "causal" : "full");
  snprintf(rate, sizeof rate, "%.1f TFLOP/s (nominal)", f / (ms * 1e9));
  report(name, ms, rate);
  ms = time_ms([&] { OK(op_attention_bwd(g_be, &Q, &K, &V, &O, &L, &GO, &DQ, &DK, &DV, NULL, &cfg, &g_e)); });
  snprintf(name, sizeof name, "attention bwd B=%lld T=%lld H=%lld/%lld D=%lld %s", (long long)B, (long long)Tn,
           (long long)Hq, (long long)Hkv, (long long)D, causal ? "causal" : "full");
  snprintf(rate, sizeof rate, "%.1f TFLOP/s (nominal)", 2.5 * f / (ms * 1e9));
  report(name, ms, rate);
  float *bufs[] = {q, k, v, o, l, go, dq, dk, dv};
  for (float *p : bufs) g_be->ops->release(g_be, p);
}

/* One Qwen2.5-0.5B-shaped decoder layer over N = B*T tokens: the model's own layer code
 * (nn/decoder.c: stacked q/k/v and gate/up GEMMs), its parameters in a device pset, its
 * activations in a device arena, random input and output gradient. */
struct layer_rig {
  int64_t B, Tn, N;
  dec_cfg c;
  pset ps;
  dec_params p, gp;
  float *x, *y, *dy, *dx;
  std::vector<int32_t> pos;
  attn_cfg mask;
  arena ar;
  double mmf; /* matmul flops of the forward: 2 N C (QD + 2 KD + QD) + 3 * 2 N C F */

  layer_rig(int64_t b, int64_t t) : B(b), Tn(t), N(b * t), c{896, 14, 2, 64, 4864, 1e-6f, 1e6f, 1} {
    pset_init(&ps, g_be);
    OK(dec_declare(&ps, "l.", &c, &g_e));
    OK(pset_alloc(&ps, 1, 0, &g_e));
    OK(pset_init_normal(&ps, 0.02f, 1, &g_e));
    OK(dec_bind(&ps, "l.", &c, 0, &p, &g_e));
    OK(dec_bind(&ps, "l.", &c, 1, &gp, &g_e));
    x = dbuf(N * c.C), y = dbuf(N * c.C), dy = dbuf(N * c.C), dx = dbuf(N * c.C);
    pos.resize((size_t)N);
    for (int64_t i = 0; i < N; i++) pos[(size_t)i] = (int32_t)(i % Tn);
    mask = {1, 0.0f, NULL, NULL, NULL};
    OK(be_arena_init(&ar, g_be, (size_t)1 << 30, &g_e));
    const int64_t QD = c.Hq * c.D, KD = c.Hkv * c.D;
    mmf = 2.0 * N * c.C * (2.0 * QD + 2.0 * KD) + 6.0 * N * c.C * c.F;
  }
  ~layer_rig() {
    arena_free(&ar);
    float *bufs[] = {x, y, dy, dx};
    for (float *b : bufs) g_be->ops->release(g_be, b);
    pset_free(&ps);
  }
  void fwd() {
    arena_reset(&ar);
    OK(dec_forward(g_be, &c, &p, B, Tn, x, y, pos.data(), &mask, NULL, &ar, &g_e));
  }
  void fwdbwd() {
    arena_reset(&ar);
    dec_acts a;
    OK(dec_forward(g_be, &c, &p, B, Tn, x, y, pos.data(), &mask, &a, &ar, &g_e));
    OK(dec_backward(g_be, &c, &p, &gp, &a, pos.data(), &mask, dy, dx, &ar, &g_e));
  }
};

/* the layer forward, then forward and backward */
static void bench_layer(int64_t B, int64_t Tn) {
  layer_rig r(B, Tn);
  char name[96], rate[64];
  double ms_f = time_ms([&] { r.fwd(); });
  snprintf(name, sizeof name, "qwen2.5-0.5B layer fwd B=%lld T=%lld", (long long)B, (long long)Tn);
  snprintf(rate, sizeof rate, "%.0f tok/s, %.1f TFLOP/s (matmuls)", r.N / (ms_f * 1e-3), r.mmf / (ms_f * 1e9));
  report(name, ms_f, rate);
  double ms_fb = time_ms([&] { r.fwdbwd(); });
  snprintf(name, sizeof name, "qwen2.5-0.5B layer fwd+bwd B=%lld T=%lld", (long long)B, (long long)Tn);
  snprintf(rate, sizeof rate, "%.0f tok/s, %.1f TFLOP/s (matmuls)", r.N / (ms_fb * 1e-3), 3 * r.mmf / (ms_fb * 1e9));
  report(name, ms_fb, rate);
}

/* The layer's training step (forward + backward inside the weights hint's training bracket, as
 * tsm_train_step runs it) in the bf16 precision: f32 storage (FAST_16BF), the weights' bf16
 * copy for the forward GEMMs, and bf16 storage of the GEMM-only activations (which reads the
 * copy in both directions). Last in the run: the switches are untimed and a failure here
 * (exit) loses no other row. The precision and switches are restored after. */
static void bench_layer_bf16(int64_t B, int64_t Tn) {
  char prev[8];
  snprintf(prev, sizeof prev, "%s", cuda_gemm_name());
  OK(cuda_set_gemm("bf16"));
  {
    layer_rig r(B, Tn);
    size_t peak = 0;
    auto step = [&] {
      OK(op_weights_bf16(g_be, r.ps.w, r.ps.total, 2, &g_e));
      r.fwdbwd();
      OK(op_weights_bf16(g_be, r.ps.w, r.ps.total, 0, &g_e));
      peak = r.ar.peak;
    };
    static const char *const how[] = {"f32 storage", "weights copy", "bf16 acts"};
    for (int v = 0; v < 3; v++) {
      OK(cuda_set_train_copy(v == 1));
      OK(cuda_set_bf16_acts(v == 2));
      r.ar.peak = 0;
      double ms = time_ms(step);
      char name[96], rate[64];
      snprintf(name, sizeof name, "layer fwd+bwd bf16, %s B=%lld T=%lld", how[v], (long long)B, (long long)Tn);
      snprintf(rate, sizeof rate, "%.0f tok/s, %.1f TFLOP/s, arena %.0f MiB", r.N / (ms * 1e-3),
               3 * r.mmf / (ms * 1e9), peak / 1048576.0);
      report(name, ms, rate);
    }
  }
  OK(cuda_set_train_copy(0));
  OK(cuda_set_bf16_acts(1)); /* the default */
  OK(cuda_set_gemm(prev));
}

/* What bf16 storage would buy the GEMMs: one x W^T (M,K)x(N,K)^T straight on cuBLAS in four
 * storage/compute forms, TFLOP/s each: f32 SGEMM; f32 storage with bf16 tensor-core math (the
 * backend's bf16 precision today); bf16 operands with f32 output; bf16 in and out. Also the
 * decoding form: 8 rows against the weight. Operands are device buffers of the right types. */
/* dst (n) = src rounded to bf16 (the bf16 forms get the same random operands: zeros would
 * flatter the tensor cores' rate) */
__global__ void k_bench_to_bf16(const float *src, __nv_bfloat16 *dst, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    dst[i] = __float2bfloat16(src[i]);
}

static void bench_gemm_forms(int64_t M, int64_t N, int64_t K) {
  cublasHandle_t h;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
    fprintf(stderr, "bench_gpu_ops: cublasCreate failed\n");
    exit(1);
  }
  float *a = dbuf(M * K), *w = dbuf(N * K), *c = dbuf(M * N);
  void *ab, *wb, *cb;
  CK(cudaMalloc(&ab, 2 * (size_t)(M * K)));
  CK(cudaMalloc(&wb, 2 * (size_t)(N * K)));
  CK(cudaMalloc(&cb, 2 * (size_t)(M * N)));
  k_bench_to_bf16<<<1024, 256>>>(a, (__nv_bfloat16 *)ab, M * K);
  k_bench_to_bf16<<<1024, 256>>>(w, (__nv_bfloat16 *)wb, N * K);
  CK(cudaGetLastError());
  const float one = 1.0f, zero = 0.0f;
  /* row-major C (M,N) = A (M,K) W^T: column-major C^T (N,M) = W (N,K as col-major K x N)^T A^T */
  auto run = [&](int form) {
    cublasStatus_t st;
    int m = (int)N, n = (int)M, k = (int)K;
    switch (form) {
      case 0: st = cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, w, k, a, k, &zero, c, m); break;
      case 1:
        st = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, w, CUDA_R_32F, k, a, CUDA_R_32F, k, &zero, c,
                          CUDA_R_32F, m, CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT);
        break;
      case 2:
        st = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, wb, CUDA_R_16BF, k, ab, CUDA_R_16BF, k, &zero, c,
                          CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        break;
      default:
        st = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, wb, CUDA_R_16BF, k, ab, CUDA_R_16BF, k, &zero, cb,
                          CUDA_R_16BF, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    }
    if (st != CUBLAS_STATUS_SUCCESS) {
      fprintf(stderr, "bench_gpu_ops: GEMM form %d: %s\n", form, cublasGetStatusString(st));
      exit(1);
    }
  };
  static const char *names[4] = {"f32", "f32 storage, bf16 math", "bf16 in, f32 out", "bf16 in and out"};
  for (int form = 0; form < 4; form++) {
    double ms = time_ms([&] { run(form); });
    char name[96], rate[64];
    snprintf(name, sizeof name, "gemm %s (%lld,%lld)x(%lld,%lld)^T", names[form], (long long)M, (long long)K,
             (long long)N, (long long)K);
    snprintf(rate, sizeof rate, "%.1f TFLOP/s", 2.0 * M * N * K / (ms * 1e9));
    report(name, ms, rate);
  }
  CK(cudaFree(ab));
  CK(cudaFree(wb));
  CK(cudaFree(cb));
  g_be->ops->release(g_be, a);
  g_be->ops->release(g_be, w);
  g_be->ops->release(g_be, c);
  cublasDestroy(h);
}

/* per decoding GEMM shape and kernel (0 cuBLASLt, 1 small-row): GPU ms per call in a graph */
static double g_dec_graph[5][2];

/* a decoding step's x W^T (M rows) in the bf16 precision with the weights' bf16 copy held, as
 * generate holds it: on cuBLASLt (the default) and on the small-row kernel
 * (cuda_set_decode_kernels), and the bf16 weight bytes streamed per second (the H200 reads
 * ~4.8 TB/s at most, the H100 ~3.35). Two timings each: one call between CUDA events (the
 * host's launch and the GEMM's host code included, as an eager step pays them) and per call
 * of R calls in one CUDA graph (GPU time alone, as a replayed step runs). Each call takes the
 * next of nw copies of the weights, together over 3x the H200's 50 MB L2, so a timing reads
 * them from memory as a step does (24 layers apart). x is rounded by the GEMM here; in
 * decoding the op before it mostly did (the fused rounding). */
static void bench_decode_gemm(int slot, int64_t M, int64_t K, int64_t N) {
  const char *prev = cuda_gemm_name();
  const char *dk = getenv("TSASR_CUDA_DECODE_KERNELS");
  OK(cuda_set_gemm("bf16"));
  int64_t nw = (int64_t)(150e6 / (2.0 * (double)N * (double)K)) + 1;
  if (nw > 64) nw = 64;
  float *x = dbuf(M * K), *w = dbuf(nw * N * K), *y = dbuf(M * N);
  tensor X = T(x, 2, M, K), Y = T(y, 2, M, N);
  OK(op_weights_bf16(g_be, w, nw * N * K, 1, &g_e)); /* one bf16 copy over all nw */
  static const char *names[2] = {"cuBLASLt", "small-row"};
  for (int v = 0; v < 2; v++) {
    OK(cuda_set_decode_kernels(v));
    int64_t i = 0;
    double ms = time_ms([&] {
      tensor W = T(w + (i++ % nw) * N * K, 2, N, K);
      OK(op_matmul(g_be, &X, &W, NULL, &Y, 0, 1, 0.0f, &g_e));
    }, 3, 20);
    char name[96], rate[64];
    snprintf(name, sizeof name, "decode %s x(%lld,%lld) W^T(%lld,%lld)", names[v], (long long)M, (long long)K,
             (long long)N, (long long)K);
    snprintf(rate, sizeof rate, "%.2f TB/s of bf16 weights", 2.0 * (double)N * (double)K / (ms * 1e9));
    report(name, ms, rate);
    i = 0;
    double gm = time_graph_ms([&] {
      tensor W = T(w + (i++ % nw) * N * K, 2, N, K);
      OK(op_matmul(g_be, &X, &W, NULL, &Y, 0, 1, 0.0f, &g_e));
    }, nw < 16 ? 16 : (int)nw);
    g_dec_graph[slot][v] = gm;
    if (gm > 0) {
      snprintf(name, sizeof name, "graph %s x(%lld,%lld) W^T(%lld,%lld)", names[v], (long long)M, (long long)K,
               (long long)N, (long long)K);
      snprintf(rate, sizeof rate, "%.2f TB/s of bf16 weights", 2.0 * (double)N * (double)K / (gm * 1e9));
      report(name, gm, rate);
    }
  }
  OK(cuda_set_decode_kernels(dk && !strcmp(dk, "0") ? 0 : dk && !strcmp(dk, "1") ? 1 : 2)); /* as the environment set it */
  OK(op_weights_bf16(g_be, w, nw * N * K, 0, &g_e));
  g_be->ops->release(g_be, x);
  g_be->ops->release(g_be, w);
  g_be->ops->release(g_be, y);
  OK(cuda_set_gemm(prev));
}

/* the five GEMM shapes of a Qwen2.5-0.5B decoding step with G = 8 rows: q/k/v, o, gate/up,
 * down, the head */
static void bench_decode_gemms(void) {
  bench_decode_gemm(0, 8, 896, 1152);
  bench_decode_gemm(1, 8, 896, 896);
  bench_decode_gemm(2, 8, 896, 9728);
  bench_decode_gemm(3, 8, 4864, 896);
  bench_decode_gemm(4, 8, 896, 151936);
  /* a step's GEMMs from the graph timings: 24 layers of the first four, the head once */
  double t[3] = {0, 0, 0};
  for (int s = 0; s < 5; s++) {
    double n = s < 4 ? 24 : 1, a = g_dec_graph[s][0], b = g_dec_graph[s][1];
    if (a <= 0 || b <= 0) return; /* a capture failed: no sum */
    t[0] += n * a, t[1] += n * b, t[2] += n * (a < b ? a : b);
  }
  printf("decode step's GEMMs in graphs (24 layers + head): cuBLASLt %.3f ms, small-row %.3f ms, the faster per shape "
         "%.3f ms\n", t[0], t[1], t[2]);
}

/* one decoding step's token choice for R rows of Qwen2's vocabulary: ids and log-probs back on
 * the host (the sample op includes its copies, as decoding uses it) */
/* The element kernels' rate (TB/s of the bytes each must move) on n items against the grid's
 * cap (cuda_set_elem_blocks: 0 = one thread per item, else at most that many 256-thread
 * blocks per SM, each thread striding over several items), GPU time per call in CUDA graphs:
 * GELU f32 -> bf16 (6 bytes an item: a bf16 activation's forward), GELU's backward (16: x, g,
 * dx read and written), axpby (12), AdamW (28: p, g, m, v read, p, m, v written) and the
 * rounding f32 -> bf16 (6: the weights' copy, as GEMM operands and SDPA's inputs are rounded);
 * then GELU, AdamW and the rounding again with cuda_set_elem_vec (eight values, four for AdamW,
 * a thread-step: "vec"). */
static void bench_elem(int64_t n) {
  float *x = dbuf(n), *g = dbuf(n), *y = dbuf(n), *m = dbuf(n);
  unsigned short *yb = (unsigned short *)g_be->ops->alloc(g_be, sizeof(unsigned short) * (size_t)n);
  if (!yb) {
    fprintf(stderr, "bench_gpu_ops: out of device memory (%lld bf16)\n", (long long)n);
    exit(1);
  }
  tensor X = T(x, 1, n), G = T(g, 1, n), Y = T(y, 1, n), Yb = T((float *)yb, 1, n);
  Yb.dtype = DT_BF16;
  OK(g_be->ops->fill(g_be, &G, 0.0f)); /* GELU's dy and AdamW's v: zeros keep every value finite */
  static const int caps[] = {0, 4, 8, 16};
  struct kern {
    const char *name;
    double bytes;
  } ks[] = {{"gelu f32->bf16", 6}, {"gelu bwd", 16}, {"axpby", 12}, {"adamw", 28}, {"round f32->bf16", 6}};
  /* the rounding through the weights' bf16 copy, which the bf16 precision makes: made once
   * here, outside the graphs (its buffer's cudaMalloc) */
  char prec[16];
  snprintf(prec, sizeof prec, "%s", cuda_gemm_name());
  OK(cuda_set_gemm("bf16"));
  OK(g_be->ops->weights_bf16(g_be, x, n, 1));
  /* no fused rounding: GELU's backward then writes its 16 bytes an item at every n (with it, 18
   * below the rounding buffer's cap and 16 above) */
  const char *fr = getenv("TSASR_CUDA_FUSE_ROUND");
  OK(cuda_set_fuse_round(0));
  for (int vec = 0; vec < 2; vec++)
    for (int c : caps) {
      OK(cuda_set_elem_blocks(c));
      OK(cuda_set_elem_vec(vec));
      for (int k = 0; k < 5; k++) {
        if (vec && k == 2) continue; /* axpby has no eight-a-step form */
        auto fn = [&] {
          if (k == 0) OK(g_be->ops->act(g_be, ACT_GELU, &X, &Yb));
          if (k == 1) OK(g_be->ops->act_bwd(g_be, ACT_GELU, &X, &G, &Y));
          if (k == 2) OK(g_be->ops->axpby(g_be, &X, 0.5f, &Y, 0.5f));
          if (k == 3) OK(g_be->ops->adamw(g_be, y, x, m, g, n, 1e-7f, 0.9f, 0.999f, 1e-8f, 0.0f, 1));
          if (k == 4) OK(g_be->ops->weights_bf16(g_be, x, n, 1));
        };
        fn(); /* eager once: whatever it allocates is made outside the graph's capture */
        CK(cudaDeviceSynchronize());
        double ms = time_graph_ms(fn, n > (1 << 26) ? 4 : 16);
        char name[96], rate[64];
        snprintf(name, sizeof name, "elem %s%s n=%lld cap=%d/SM", ks[k].name, vec ? " vec" : "", (long long)n, c);
        snprintf(rate, sizeof rate, "%.2f TB/s", ms > 0 ? ks[k].bytes * (double)n / (ms * 1e-3) / 1e12 : 0.0);
        report(name, ms, rate);
      }
    }
  OK(cuda_set_elem_blocks(0));
  OK(cuda_set_elem_vec(0));
  OK(g_be->ops->weights_bf16(g_be, NULL, 0, 0));
  OK(cuda_set_gemm(prec));
  OK(cuda_set_fuse_round(!(fr && !strcmp(fr, "0"))));
  g_be->ops->release(g_be, x), g_be->ops->release(g_be, g), g_be->ops->release(g_be, y), g_be->ops->release(g_be, m);
  g_be->ops->release(g_be, yb);
}

/* One convolution of data2vec's stack at the paper geometry's micro-batch (4 x 20 s), bf16
 * precision, forward and backward (dx unless the input is the waveform, dW, db), on cuDNN
 * with f32 data (mode 1), on cuDNN with bf16 data (cuda_set_cudnn_bf16) and on the im2col
 * path (mode 0), host-fed between events (cuDNN's calls are not captured). x is a bf16 activation as in training (the GELU before it stores bf16), except
 * the waveform's. Which path wins per shape is what cuda_set_cudnn's modes choose; session
 * 17's profile put ~27 ms of a 99 ms step in this stack without saying which layer took what. */
static void bench_conv(const char *tag, int64_t B, int64_t Cin, int64_t Tn, int64_t Cout, int64_t K, int stride,
                       int pad, int groups) {
  const int64_t To = op_conv1d_out_len(Tn, K, stride, pad), nx = B * Cin * Tn;
  const bool wav = Cin == 1;
  float *xf = dbuf(nx), *w = dbuf(Cout * (Cin / groups) * K), *bs = dbuf(Cout), *y = dbuf(B * Cout * To);
  float *dy = dbuf(B * Cout * To), *dx = wav ? NULL : dbuf(nx), *dw = dbuf(Cout * (Cin / groups) * K), *db = dbuf(Cout);
  void *xb = NULL;
  if (!wav) {
    CK(cudaMalloc(&xb, 2 * (size_t)nx));
    k_bench_to_bf16<<<1024, 256>>>(xf, (__nv_bfloat16 *)xb, nx);
    CK(cudaGetLastError());
  }
  tensor X = T(wav ? xf : (float *)xb, 3, B, Cin, Tn), W = T(w, 3, Cout, Cin / groups, K), Bs = T(bs, 1, Cout);
  if (!wav) X.dtype = DT_BF16;
  tensor Y = T(y, 3, B, Cout, To), DY = T(dy, 3, B, Cout, To), DW = T(dw, 3, Cout, Cin / groups, K), DB = T(db, 1, Cout);
  tensor DX = wav ? tensor{} : T(dx, 3, B, Cin, Tn);
  const double fl = 2.0 * (double)B * To * Cout * (Cin / groups) * K; /* one direction's FLOPs */
  /* cuDNN on f32 data, im2col, then cuDNN on bf16 data (cuda_set_cudnn_bf16) last and only when
   * the caller says its checks passed (TSASR_BENCH_DNN16=1: run.sh 3o, quick.sh q2'), so that a
   * failure there (an exit) costs no other row */
  static const char *const how[] = {"cuDNN", "im2col", "cuDNN16"};
  const bool d16 = getenv("TSASR_BENCH_DNN16") && !strcmp(getenv("TSASR_BENCH_DNN16"), "1");
  for (int v = 0; v < (d16 ? 3 : 2); v++) {
    int mode = v != 1;
    if (cuda_set_cudnn(mode) || cuda_set_cudnn_bf16(v == 2)) continue; /* a build without cuDNN: im2col only */
    long c0, f0, c1, f1;
    cuda_cudnn_counts(&c0, &f0);
    double f = time_ms([&] { OK(op_conv1d(g_be, &X, &W, &Bs, &Y, stride, pad, groups, &g_e)); }, 2, 5);
    double b = time_ms([&] { OK(op_conv1d_bwd(g_be, &X, &W, &DY, wav ? NULL : &DX, &DW, &DB, stride, pad, groups, &g_e)); },
                       2, 5);
    cuda_cudnn_counts(&c1, &f1); /* what ran on cuDNN and what fell back (a cuDNN16 row on im2col) */
    char name[96], rate[64];
    snprintf(name, sizeof name, "conv %s fwd %s", tag, how[v]);
    snprintf(rate, sizeof rate, "%.1f TFLOP/s cudnn=%ld/%ld", fl / (f * 1e-3) / 1e12, c1 - c0, f1 - f0);
    report(name, f, rate);
    snprintf(name, sizeof name, "conv %s bwd %s", tag, how[v]);
    snprintf(rate, sizeof rate, "%.1f TFLOP/s cudnn=%ld/%ld", (wav ? 1.0 : 2.0) * fl / (b * 1e-3) / 1e12, c1 - c0,
             f1 - f0);
    report(name, b, rate);
  }
  cuda_set_cudnn(2); /* the defaults again (TS_EUNSUP without cuDNN: nothing to restore) */
  cuda_set_cudnn_bf16(0);
  for (float *p : {xf, w, bs, y, dy, dx, dw, db})
    if (p) g_be->ops->release(g_be, p);
  if (xb) CK(cudaFree(xb));
}

static void bench_sample(int64_t R, float temperature, int64_t top_k, float top_p) {
  const int64_t V = 151936;
  float *z = dbuf(R * V);
  std::vector<double> u((size_t)R, 0.37);
  std::vector<int32_t> tok((size_t)R);
  std::vector<float> lp((size_t)R);
  tensor Z = T(z, 2, R, V);
  sample_req q = {temperature, V, -1, NULL, u.data(), top_k, top_p};
  double ms = time_ms([&] { OK(op_sample(g_be, &Z, &q, tok.data(), lp.data(), &g_e)); });
  char name[96], rate[64];
  snprintf(name, sizeof name, "sample R=%lld V=%lld T=%g top_k=%lld top_p=%g", (long long)R, (long long)V,
           (double)temperature, (long long)top_k, (double)top_p);
  snprintf(rate, sizeof rate, "%.1f us per row", ms * 1e3 / (double)R);
  report(name, ms, rate);
  g_be->ops->release(g_be, z);
}

int main(int argc, char **argv) {
  /* "attention": the attention cases only (run.sh compares the bf16 precision with and
   * without the flash forward); "decode": a decoding step's GEMMs only (run.sh graphs); "elem":
   * the element kernels against the grid's cap only (run.sh quick and bench) */
  const bool only_attn = argc > 1 && !strcmp(argv[1], "attention");
  const bool only_decode = argc > 1 && !strcmp(argv[1], "decode");
  const bool only_elem = argc > 1 && !strcmp(argv[1], "elem");
  const bool only_conv = argc > 1 && !strcmp(argv[1], "conv");
  g_be = be_cuda(&g_e);
  if (!g_be) {
    fprintf(stderr, "bench_gpu_ops: %s\n", g_e.msg);
    return 2;
  }
  be_info info;
  be_get_info(&info);
  printf("bench_gpu_ops: %s, GEMM precision %s (TSASR_CUDA_GEMM), flash attention %s (TSASR_CUDA_FLASH)\n",
         info.cuda_device_name, cuda_gemm_name(), getenv("TSASR_CUDA_FLASH") ? getenv("TSASR_CUDA_FLASH") : "0");
  if (only_attn) {
    bench_attn(4, 512, 14, 2, 64);
    bench_attn(1, 2048, 14, 2, 64);
    bench_attn(4, 1000, 16, 16, 64, 0); /* data2vec large on 4 x 20 s */
    return 0;
  }
  if (only_decode) {
    bench_decode_gemms();
    print_table();
    return 0;
  }
  if (only_conv) { /* data2vec large's stack on 4 x 20 s in bf16: the seven feature layers, a positional one */
    OK(cuda_set_gemm("bf16"));
    bench_conv("L0 1->512 k10 s5", 4, 1, 320000, 512, 10, 5, 0, 1);
    const int64_t Ts[] = {63999, 31999, 15999, 7999, 3999, 1999};
    for (int l = 1; l <= 6; l++) {
      char tag[48];
      snprintf(tag, sizeof tag, "L%d 512 k%d s2 T=%lld", l, l <= 4 ? 3 : 2, (long long)Ts[l - 1]);
      bench_conv(tag, 4, 512, Ts[l - 1], 512, l <= 4 ? 3 : 2, 2, 0, 1);
    }
    bench_conv("pos 1024 k19 g16 T=999", 4, 1024, 999, 1024, 19, 1, 9, 16);
    print_table();
    return 0;
  }
  if (only_elem) { /* the SFT step's sizes: 4 x 999 x 1024 (the encoder's width), x 4096 (its FFN), 2^27 */
    bench_elem(4 * 999 * 1024);
    bench_elem(4 * 999 * 4096);
    bench_elem((int64_t)1 << 27);
    print_table();
    return 0;
  }
  bench_matmul(4096, 896, 896);
  bench_matmul(4096, 896, 4864);
  bench_matmul(4096, 4864, 896);
  bench_matmul(4096, 4096, 4096);
  bench_matmul(512, 896, 151936);
  /* storage forms: the encoder's FFN (4 x 1000 frames, 1024 -> 4096), the LLM's gate/up (4 x 200
   * tokens, 896 -> 9728), a decoding step's gate/up (8 rows) */
  bench_gemm_forms(4000, 4096, 1024);
  bench_gemm_forms(800, 9728, 896);
  bench_gemm_forms(8, 9728, 896);
  bench_decode_gemms();
  bench_attn(4, 512, 14, 2, 64);
  bench_attn(1, 2048, 14, 2, 64);
  bench_layer(4, 512);
  bench_layer(1, 2048);
  bench_sample(8, 0.0f, 0, 1.0f);
  bench_sample(8, 1.0f, 0, 1.0f);
  bench_sample(8, 1.0f, 50, 1.0f);
  bench_sample(8, 1.0f, 0, 0.9f);
  bench_sample(8, 1.0f, 50, 0.9f);
  bench_layer_bf16(4, 512);
  print_table();
  return 0;
}
