// bench_gpu_ops.cu — CUDA backend timings through the op wrappers: f32 matmul GFLOP/s,
// attention forward/backward and one Qwen2.5-0.5B-shaped decoder layer forward+backward
// (C 896, 14/2 heads of 64, MLP 4864) and decoding's token choice (greedy, temperature,
// top-k / top-p over 151,936 logits), timed with CUDA events after warm-up, median of
// repeats. Built only with CUDA (tests/gpu/CMakeLists.txt); run by tests/gpu/run.sh.
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

extern "C" {
#include "tensor/backend.h"
#include "tensor/ops.h"
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

/* median milliseconds of fn over reps after warm runs */
template <class F>
static double time_ms(F fn, int warm = 3, int reps = 10) {
  for (int i = 0; i < warm; i++) fn();
  CK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<double> ms;
  for (int i = 0; i < reps; i++) {
    CK(cudaEventRecord(a, 0));
    fn();
    CK(cudaEventRecord(b, 0));
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

static void bench_attn(int64_t B, int64_t Tn, int64_t Hq, int64_t Hkv, int64_t D) {
  int64_t nq = B * Tn * Hq * D, nk = B * Tn * Hkv * D;
  float *q = dbuf(nq), *k = dbuf(nk), *v = dbuf(nk), *o = dbuf(nq), *l = dbuf(B * Hq * Tn), *go = dbuf(nq),
        *dq = dbuf(nq), *dk = dbuf(nk), *dv = dbuf(nk);
  tensor Q = T(q, 4, B, Tn, Hq, D), K = T(k, 4, B, Tn, Hkv, D), V = T(v, 4, B, Tn, Hkv, D), O = T(o, 4, B, Tn, Hq, D),
         L = T(l, 3, B, Hq, Tn), GO = T(go, 4, B, Tn, Hq, D), DQ = T(dq, 4, B, Tn, Hq, D),
         DK = T(dk, 4, B, Tn, Hkv, D), DV = T(dv, 4, B, Tn, Hkv, D);
  attn_cfg cfg = {1, 1.0f / sqrtf((float)D), NULL, NULL, NULL};
  double f = 4.0 * B * Hq * Tn * Tn * D; /* QK^T and PV, full (unmasked) count */
  char name[96], rate[64];
  double ms = time_ms([&] { OK(op_attention(g_be, &Q, &K, &V, &O, &L, &cfg, &g_e)); });
  snprintf(name, sizeof name, "attention fwd B=%lld T=%lld H=%lld/%lld D=%lld causal", (long long)B, (long long)Tn,
           (long long)Hq, (long long)Hkv, (long long)D);
  snprintf(rate, sizeof rate, "%.1f TFLOP/s (nominal)", f / (ms * 1e9));
  report(name, ms, rate);
  ms = time_ms([&] { OK(op_attention_bwd(g_be, &Q, &K, &V, &O, &L, &GO, &DQ, &DK, &DV, NULL, &cfg, &g_e)); });
  snprintf(name, sizeof name, "attention bwd B=%lld T=%lld H=%lld/%lld D=%lld causal", (long long)B, (long long)Tn,
           (long long)Hq, (long long)Hkv, (long long)D);
  snprintf(rate, sizeof rate, "%.1f TFLOP/s (nominal)", 2.5 * f / (ms * 1e9));
  report(name, ms, rate);
  float *bufs[] = {q, k, v, o, l, go, dq, dk, dv};
  for (float *p : bufs) g_be->ops->release(g_be, p);
}

/* One Qwen2 decoder layer over N = B*T tokens, forward then backward, all through op_*. */
static void bench_layer(int64_t B, int64_t Tn) {
  const int64_t C = 896, Hq = 14, Hkv = 2, D = 64, F = 4864, N = B * Tn, QD = Hq * D, KD = Hkv * D;
  const float eps = 1e-6f, theta = 1e6f;
  std::vector<float *> all;
  auto mk = [&](int64_t n) {
    float *p = dbuf(n);
    all.push_back(p);
    return p;
  };
  float *x = mk(N * C), *ln1 = mk(C), *wq = mk(QD * C), *bq = mk(QD), *wk = mk(KD * C), *bk = mk(KD),
        *wv = mk(KD * C), *bv = mk(KD), *wo = mk(C * QD), *ln2 = mk(C), *wg = mk(F * C), *wu = mk(F * C),
        *wd = mk(C * F);
  float *h1 = mk(N * C), *r1 = mk(N), *q = mk(N * QD), *k = mk(N * KD), *v = mk(N * KD), *att = mk(N * QD),
        *lse = mk(B * Hq * Tn), *tmp = mk(N * C), *h = mk(N * C), *h2 = mk(N * C), *r2 = mk(N), *g = mk(N * F),
        *u = mk(N * F), *a = mk(N * F), *y = mk(N * C);
  float *dy = mk(N * C), *da = mk(N * F), *dg = mk(N * F), *du = mk(N * F), *dh2 = mk(N * C), *dh = mk(N * C),
        *datt = mk(N * QD), *dq = mk(N * QD), *dk = mk(N * KD), *dv = mk(N * KD), *dq0 = mk(N * QD),
        *dk0 = mk(N * KD), *rs = mk(N * QD), *dh1 = mk(N * C), *dx = mk(N * C);
  float *gw[] = {mk(C), mk(QD * C), mk(QD), mk(KD * C), mk(KD), mk(KD * C), mk(KD), mk(C * QD), mk(C), mk(F * C),
                 mk(F * C), mk(C * F)};
  std::vector<int32_t> pos((size_t)N);
  for (int64_t i = 0; i < N; i++) pos[(size_t)i] = (int32_t)(i % Tn);
  attn_cfg cfg = {1, 1.0f / sqrtf((float)D), NULL, NULL, NULL};
  tensor X = T(x, 2, N, C), LN1 = T(ln1, 1, C), WQ = T(wq, 2, QD, C), BQ = T(bq, 1, QD), WK = T(wk, 2, KD, C),
         BK = T(bk, 1, KD), WV = T(wv, 2, KD, C), BV = T(bv, 1, KD), WO = T(wo, 2, C, QD), LN2 = T(ln2, 1, C),
         WG = T(wg, 2, F, C), WU = T(wu, 2, F, C), WD = T(wd, 2, C, F);
  tensor H1 = T(h1, 2, N, C), R1 = T(r1, 1, N), Q2 = T(q, 2, N, QD), K2 = T(k, 2, N, KD), V2 = T(v, 2, N, KD),
         Q4 = T(q, 4, B, Tn, Hq, D), K4 = T(k, 4, B, Tn, Hkv, D), V4 = T(v, 4, B, Tn, Hkv, D),
         A4 = T(att, 4, B, Tn, Hq, D), A2 = T(att, 2, N, QD), L = T(lse, 3, B, Hq, Tn), TMP = T(tmp, 2, N, C),
         H = T(h, 2, N, C), H2 = T(h2, 2, N, C), R2 = T(r2, 1, N), G = T(g, 2, N, F), U = T(u, 2, N, F),
         AA = T(a, 2, N, F), Y = T(y, 2, N, C);
  tensor DY = T(dy, 2, N, C), DA = T(da, 2, N, F), DG = T(dg, 2, N, F), DU = T(du, 2, N, F), DH2 = T(dh2, 2, N, C),
         DH = T(dh, 2, N, C), DATT2 = T(datt, 2, N, QD), DATT4 = T(datt, 4, B, Tn, Hq, D),
         DQ4 = T(dq, 4, B, Tn, Hq, D), DK4 = T(dk, 4, B, Tn, Hkv, D), DV4 = T(dv, 4, B, Tn, Hkv, D),
         DQ04 = T(dq0, 4, B, Tn, Hq, D), DK04 = T(dk0, 4, B, Tn, Hkv, D), RS4 = T(rs, 4, B, Tn, Hq, D),
         RSK4 = T(rs, 4, B, Tn, Hkv, D), DQ02 = T(dq0, 2, N, QD), DK02 = T(dk0, 2, N, KD), DV2 = T(dv, 2, N, KD),
         DH1 = T(dh1, 2, N, C), DX = T(dx, 2, N, C);
  tensor GLN1 = T(gw[0], 1, C), GWQ = T(gw[1], 2, QD, C), GBQ = T(gw[2], 1, QD), GWK = T(gw[3], 2, KD, C),
         GBK = T(gw[4], 1, KD), GWV = T(gw[5], 2, KD, C), GBV = T(gw[6], 1, KD), GWO = T(gw[7], 2, C, QD),
         GLN2 = T(gw[8], 1, C), GWG = T(gw[9], 2, F, C), GWU = T(gw[10], 2, F, C), GWD = T(gw[11], 2, C, F);
  auto fwd = [&] {
    OK(op_rmsnorm(g_be, &X, &LN1, &H1, &R1, eps, &g_e));
    OK(op_matmul(g_be, &H1, &WQ, &BQ, &Q2, 0, 1, 0.0f, &g_e));
    OK(op_matmul(g_be, &H1, &WK, &BK, &K2, 0, 1, 0.0f, &g_e));
    OK(op_matmul(g_be, &H1, &WV, &BV, &V2, 0, 1, 0.0f, &g_e));
    OK(op_rope(g_be, &Q4, &Q4, pos.data(), theta, &g_e));
    OK(op_rope(g_be, &K4, &K4, pos.data(), theta, &g_e));
    OK(op_attention(g_be, &Q4, &K4, &V4, &A4, &L, &cfg, &g_e));
    OK(op_matmul(g_be, &A2, &WO, NULL, &TMP, 0, 1, 0.0f, &g_e));
    OK(op_add(g_be, &X, &TMP, &H, &g_e));
    OK(op_rmsnorm(g_be, &H, &LN2, &H2, &R2, eps, &g_e));
    OK(op_matmul(g_be, &H2, &WG, NULL, &G, 0, 1, 0.0f, &g_e));
    OK(op_matmul(g_be, &H2, &WU, NULL, &U, 0, 1, 0.0f, &g_e));
    OK(op_swiglu(g_be, &G, &U, &AA, &g_e));
    OK(op_matmul(g_be, &AA, &WD, NULL, &TMP, 0, 1, 0.0f, &g_e));
    OK(op_add(g_be, &H, &TMP, &Y, &g_e));
  };
  auto bwd = [&] {
    tensor zs[] = {DA, DG, DU, DH2, DATT2, DQ4, DK4, DV4, DQ04, DK04, DH1};
    for (tensor &z : zs) OK(op_fill(g_be, &z, 0.0f, &g_e));
    OK(op_copy(g_be, &DY, &DH, &g_e)); /* residual path */
    OK(op_matmul_bwd(g_be, &AA, &WD, &DY, &DA, &GWD, NULL, 0, 1, &g_e));
    OK(op_swiglu_bwd(g_be, &G, &U, &DA, &DG, &DU, &g_e));
    OK(op_matmul_bwd(g_be, &H2, &WG, &DG, &DH2, &GWG, NULL, 0, 1, &g_e));
    OK(op_matmul_bwd(g_be, &H2, &WU, &DU, &DH2, &GWU, NULL, 0, 1, &g_e));
    OK(op_rmsnorm_bwd(g_be, &H, &LN2, &R2, &DH2, &DH, &GLN2, &g_e));
    OK(op_matmul_bwd(g_be, &A2, &WO, &DH, &DATT2, &GWO, NULL, 0, 1, &g_e));
    OK(op_attention_bwd(g_be, &Q4, &K4, &V4, &A4, &L, &DATT4, &DQ4, &DK4, &DV4, NULL, &cfg, &g_e));
    OK(op_rope_bwd(g_be, &DQ4, &DQ04, pos.data(), theta, &RS4, &g_e));
    OK(op_rope_bwd(g_be, &DK4, &DK04, pos.data(), theta, &RSK4, &g_e));
    OK(op_copy(g_be, &DH, &DX, &g_e));
    OK(op_matmul_bwd(g_be, &H1, &WQ, &DQ02, &DH1, &GWQ, &GBQ, 0, 1, &g_e));
    OK(op_matmul_bwd(g_be, &H1, &WK, &DK02, &DH1, &GWK, &GBK, 0, 1, &g_e));
    OK(op_matmul_bwd(g_be, &H1, &WV, &DV2, &DH1, &GWV, &GBV, 0, 1, &g_e));
    OK(op_rmsnorm_bwd(g_be, &X, &LN1, &R1, &DH1, &DX, &GLN1, &g_e));
  };
  /* matmul flops of one layer: 2 N C (QD + 2 KD + QD) + 3 * 2 N C F; backward twice that */
  double mmf = 2.0 * N * C * (2.0 * QD + 2.0 * KD) + 6.0 * N * C * F;
  char name[96], rate[64];
  double ms_f = time_ms(fwd);
  snprintf(name, sizeof name, "qwen2.5-0.5B layer fwd B=%lld T=%lld", (long long)B, (long long)Tn);
  snprintf(rate, sizeof rate, "%.0f tok/s, %.1f TFLOP/s (matmuls)", N / (ms_f * 1e-3), mmf / (ms_f * 1e9));
  report(name, ms_f, rate);
  double ms_fb = time_ms([&] {
    fwd();
    bwd();
  });
  snprintf(name, sizeof name, "qwen2.5-0.5B layer fwd+bwd B=%lld T=%lld", (long long)B, (long long)Tn);
  snprintf(rate, sizeof rate, "%.0f tok/s, %.1f TFLOP/s (matmuls)", N / (ms_fb * 1e-3), 3 * mmf / (ms_fb * 1e9));
  report(name, ms_fb, rate);
  for (float *p : all) g_be->ops->release(g_be, p);
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

int main(void) {
  g_be = be_cuda(&g_e);
  if (!g_be) {
    fprintf(stderr, "bench_gpu_ops: %s\n", g_e.msg);
    return 2;
  }
  be_info info;
  be_get_info(&info);
  printf("bench_gpu_ops: %s, f32 (cuBLAS sgemm, no TF32)\n", info.cuda_device_name);
  bench_matmul(4096, 896, 896);
  bench_matmul(4096, 896, 4864);
  bench_matmul(4096, 4864, 896);
  bench_matmul(4096, 4096, 4096);
  bench_matmul(512, 896, 151936);
  bench_attn(4, 512, 14, 2, 64);
  bench_attn(1, 2048, 14, 2, 64);
  bench_layer(4, 512);
  bench_layer(1, 2048);
  bench_sample(8, 0.0f, 0, 1.0f);
  bench_sample(8, 1.0f, 0, 1.0f);
  bench_sample(8, 1.0f, 50, 1.0f);
  bench_sample(8, 1.0f, 0, 0.9f);
  bench_sample(8, 1.0f, 50, 0.9f);
  printf("\n%-52s %10s  %s\n", "benchmark", "median", "rate");
  for (const row &r : g_rows) printf("%-52s %10.3f ms  %s\n", r.name, r.ms, r.rate);
  return 0;
}
