// bench_gpu_ops.cu — CUDA backend timings through the op wrappers: f32 matmul GFLOP/s,
// attention forward/backward, one Qwen2.5-0.5B-shaped decoder layer forward+backward through
// the model's layer code (C 896, 14/2 heads of 64, MLP 4864) and decoding's token choice
// (greedy, temperature, top-k / top-p over 151,936 logits), and the GEMM in four storage forms
// (f32, f32 with bf16 math, bf16 in, bf16 in and out: what bf16 storage would buy), and last the
// decoder layer's training forward+backward in the bf16 precision three ways (f32 storage;
// the weights' bf16 copy, TSASR_CUDA_TRAIN_COPY; bf16 activation storage, TSASR_CUDA_BF16_ACTS),
// and a decoding step's five GEMMs on cuBLASLt and on the small-row kernel (TB/s of weights; one
// call host-fed, and per call of a CUDA graph of many: GPU time alone); with "elem" and "conv"
// the element kernels and data2vec's convolutions instead (bench_gpu_stack.cu). Timed with CUDA
// events after warm-up, median of repeats; the shared rig is bench_gpu_rig.h. Built only with
// CUDA (tests/gpu/CMakeLists.txt); run by tests/gpu/run.sh.
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
#include "tensor/be_mem.h"
#include "tensor/ops.h"
#include "tensor/params.h"
}
#include "bench_gpu_rig.h"

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
  attn_cfg cfg = {causal, 1.0f / sqrtf((float)D), NULL, NULL, NULL, NULL, 0};
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
  bench_to_bf16(a, ab, M * K);
  bench_to_bf16(w, wb, N * K);
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
    bench_lnc(4, 512, 63999); /* the feature extractor's first channel LayerNorm */
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
