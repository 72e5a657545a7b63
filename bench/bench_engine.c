/* bench_engine.c — times the CPU engine on matmul, attention and a Qwen2.5-0.5B-shaped
 * decoder layer (forward + backward), and the GELU activation; then matmul and the layer again in
 * the bf16 GEMM precision (case names prefixed bf16_). Prints one line per case: name, median ms, GFLOP/s.
 * bench/run_engine.sh runs it beside the same work in PyTorch and prints the ratios. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/philox.h"
#include "nn/decoder.h"
#include "tensor/gemm.h"
#include "tensor/ops.h"
#include "tensor/params.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static float *bench_rand(int64_t n, uint64_t seed) {
  float *x = malloc(sizeof(float) * (size_t)n);
  philox_rng r;
  philox_init(&r, seed, 0);
  for (int64_t i = 0; i < n; i++) x[i] = philox_uniform(&r) * 2.0f - 1.0f;
  return x;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef void (*bench_fn)(void *ctx);

static double bench_median(bench_fn f, void *ctx, int reps) {
  double t[64];
  f(ctx); /* warm-up */
  for (int i = 0; i < reps; i++) {
    double t0 = now_ms();
    f(ctx);
    t[i] = now_ms() - t0;
  }
  qsort(t, (size_t)reps, sizeof(double), cmp_d);
  return t[reps / 2];
}

static void report(const char *name, double ms, double flops) {
  printf("%s %.3f %.2f\n", name, ms, flops / (ms * 1e6));
  fflush(stdout);
}

/* "" or "bf16_": prefixes the case names of the runs in the bf16 GEMM precision */
static const char *g_tag = "";

/* ---- matmul: y (M,N) = x (M,K) W^T, W (N,K); fwd+bwd = 3 GEMMs ---- */
typedef struct mm_ctx {
  tensor x, w, y, dx, dw, dy;
  int bwd;
} mm_ctx;

static void mm_run(void *p) {
  mm_ctx *c = p;
  backend *be = be_cpu();
  op_matmul(be, &c->x, &c->w, NULL, &c->y, 0, 1, 0.0f, NULL);
  if (c->bwd) op_matmul_bwd(be, &c->x, &c->w, &c->dy, &c->dx, &c->dw, NULL, 0, 1, NULL);
}

static void bench_matmul(int64_t M, int64_t N, int64_t K, int reps) {
  mm_ctx c;
  float *x = bench_rand(M * K, 1), *w = bench_rand(N * K, 2), *y = bench_rand(M * N, 3), *dy = bench_rand(M * N, 4);
  float *dx = bench_rand(M * K, 5), *dw = bench_rand(N * K, 6);
  c.x = tensor_f32(x, 2, M, K, 0, 0), c.w = tensor_f32(w, 2, N, K, 0, 0), c.y = tensor_f32(y, 2, M, N, 0, 0);
  c.dx = tensor_f32(dx, 2, M, K, 0, 0), c.dw = tensor_f32(dw, 2, N, K, 0, 0), c.dy = tensor_f32(dy, 2, M, N, 0, 0);
  char name[96];
  c.bwd = 0;
  snprintf(name, sizeof name, "%smatmul_fwd_%lldx%lldx%lld", g_tag, (long long)M, (long long)N, (long long)K);
  report(name, bench_median(mm_run, &c, reps), 2.0 * M * N * K);
  c.bwd = 1;
  snprintf(name, sizeof name, "%smatmul_fwdbwd_%lldx%lldx%lld", g_tag, (long long)M, (long long)N, (long long)K);
  report(name, bench_median(mm_run, &c, reps), 6.0 * M * N * K);
  free(x), free(w), free(y), free(dy), free(dx), free(dw);
}

/* ---- attention ---- */
typedef struct at_ctx {
  tensor q, k, v, o, l, dq, dk, dv, dout;
  attn_cfg cfg;
} at_ctx;

static void at_run(void *p) {
  at_ctx *c = p;
  backend *be = be_cpu();
  op_attention(be, &c->q, &c->k, &c->v, &c->o, &c->l, &c->cfg, NULL);
  op_attention_bwd(be, &c->q, &c->k, &c->v, &c->o, &c->l, &c->dout, &c->dq, &c->dk, &c->dv, NULL, &c->cfg, NULL);
}

static void bench_attention(int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int causal, int reps) {
  int64_t nq = B * T * Hq * D, nk = B * T * Hkv * D;
  at_ctx c;
  memset(&c, 0, sizeof c);
  c.q = tensor_f32(bench_rand(nq, 1), 4, B, T, Hq, D);
  c.k = tensor_f32(bench_rand(nk, 2), 4, B, T, Hkv, D);
  c.v = tensor_f32(bench_rand(nk, 3), 4, B, T, Hkv, D);
  c.o = tensor_f32(bench_rand(nq, 4), 4, B, T, Hq, D);
  c.dout = tensor_f32(bench_rand(nq, 5), 4, B, T, Hq, D);
  c.dq = tensor_f32(bench_rand(nq, 6), 4, B, T, Hq, D);
  c.dk = tensor_f32(bench_rand(nk, 7), 4, B, T, Hkv, D);
  c.dv = tensor_f32(bench_rand(nk, 8), 4, B, T, Hkv, D);
  c.l = tensor_f32(bench_rand(B * Hq * T, 9), 3, B, Hq, T, 0);
  c.cfg.causal = causal;
  c.cfg.scale = 1.0f / sqrtf((float)D);
  /* forward 2 GEMMs (QK^T, PV) + backward 4 (recompute QK^T, dV, dP, dQ, dK -> 5) */
  double flops = 2.0 * B * Hq * T * T * D * 2 + 2.0 * B * Hq * T * T * D * 5;
  char name[96];
  snprintf(name, sizeof name, "attention_fwdbwd_B%lld_T%lld_H%lld_%lld_D%lld_%s", (long long)B, (long long)T,
           (long long)Hq, (long long)Hkv, (long long)D, causal ? "causal" : "full");
  report(name, bench_median(at_run, &c, reps), flops);
  free(c.q.data), free(c.k.data), free(c.v.data), free(c.o.data), free(c.dout.data), free(c.dq.data);
  free(c.dk.data), free(c.dv.data), free(c.l.data);
}

/* ---- one Qwen2.5-0.5B decoder layer, forward + backward ---- */
typedef struct blk_ctx {
  dec_cfg c;
  dec_params p, g;
  int64_t B, T;
  float *x, *y, *dy, *dx;
  int32_t *pos;
  arena ar;
} blk_ctx;

static void blk_run(void *p) {
  blk_ctx *b = p;
  arena_reset(&b->ar);
  dec_acts a;
  attn_cfg mask;
  memset(&mask, 0, sizeof mask);
  dec_forward(be_cpu(), &b->c, &b->p, b->B, b->T, b->x, b->y, b->pos, &mask, &a, &b->ar, NULL);
  dec_backward(be_cpu(), &b->c, &b->p, &b->g, &a, b->pos, &mask, b->dy, b->dx, &b->ar, NULL);
}

static void bench_block(int64_t B, int64_t T, int reps) {
  blk_ctx b;
  memset(&b, 0, sizeof b);
  b.c = (dec_cfg){896, 14, 2, 64, 4864, 1e-6f, 1e6f, 1};
  b.B = B, b.T = T;
  pset ps;
  pset_init(&ps, be_cpu());
  ts_err e;
  if (dec_declare(&ps, "l.", &b.c, &e) || pset_alloc(&ps, 1, 0, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return;
  }
  pset_init_normal(&ps, 0.02f, 1, &e);
  dec_bind(&ps, "l.", &b.c, 0, &b.p, &e);
  dec_bind(&ps, "l.", &b.c, 1, &b.g, &e);
  int64_t N = B * T;
  b.x = bench_rand(N * 896, 1), b.y = bench_rand(N * 896, 2), b.dy = bench_rand(N * 896, 3), b.dx = bench_rand(N * 896, 4);
  b.pos = malloc(sizeof(int32_t) * (size_t)N);
  for (int64_t i = 0; i < N; i++) b.pos[i] = (int32_t)(i % T);
  arena_init(&b.ar, 64 << 20);
  double params = (double)pset_count(&ps, "");
  /* 6 flops per parameter per token, plus causal attention (about half of 2*T*T*D per head
   * for QK^T and PV forward, and 5 such GEMMs backward; full GEMMs are computed) */
  double flops = 6.0 * params * N + 2.0 * B * 14 * (double)T * T * 64 * 7;
  char name[96];
  snprintf(name, sizeof name, "%sqwen2_0.5b_layer_fwdbwd_B%lld_T%lld", g_tag, (long long)B, (long long)T);
  report(name, bench_median(blk_run, &b, reps), flops);
  free(b.x), free(b.y), free(b.dy), free(b.dx), free(b.pos);
  arena_free(&b.ar);
  pset_free(&ps);
}

/* ---- GELU (erf form), the encoder FFN's activation: y = gelu(x); fwd+bwd adds dx += dy gelu'(x).
 * The rate column counts elements (G elements / s), not FLOPs. ---- */
typedef struct gelu_ctx {
  tensor x, y, dy, dx;
  int bwd;
} gelu_ctx;

static void gelu_run(void *p) {
  gelu_ctx *c = p;
  backend *be = be_cpu();
  op_act(be, ACT_GELU, &c->x, &c->y, NULL);
  if (c->bwd) op_act_bwd(be, ACT_GELU, &c->x, &c->dy, &c->dx, NULL);
}

static void bench_gelu(int64_t n, int reps) {
  gelu_ctx c;
  float *x = bench_rand(n, 11), *y = bench_rand(n, 12), *dy = bench_rand(n, 13), *dx = bench_rand(n, 14);
  for (int64_t i = 0; i < n; i++) x[i] *= 4.0f; /* pre-activations span a few units */
  c.x = tensor_f32(x, 1, n, 0, 0, 0), c.y = tensor_f32(y, 1, n, 0, 0, 0);
  c.dy = tensor_f32(dy, 1, n, 0, 0, 0), c.dx = tensor_f32(dx, 1, n, 0, 0, 0);
  char name[96];
  for (c.bwd = 0; c.bwd < 2; c.bwd++) {
    snprintf(name, sizeof name, "gelu_%s_%lld", c.bwd ? "fwdbwd" : "fwd", (long long)n);
    report(name, bench_median(gelu_run, &c, reps), (double)n);
  }
  free(x), free(y), free(dy), free(dx);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5;
  if (reps < 1 || reps > 64) reps = 5;
  be_cpu();
  if (getenv("BENCH_ONLY_ATTN")) {
    bench_attention(1, 500, 16, 16, 64, 0, reps);
    return 0;
  }
  bench_matmul(512, 512, 512, reps);
  bench_matmul(256, 4864, 896, reps);
  bench_attention(1, 256, 14, 2, 64, 1, reps);
  bench_attention(1, 500, 16, 16, 64, 0, reps);
  bench_block(1, 256, reps);
  bench_gelu(4000 * 4096, reps); /* data2vec large's FFN at batch 4 x 20 s */
  /* the bf16 GEMM precision (oneDNN), against PyTorch's CPU autocast to bf16 */
  if (gemm_set_precision("bf16") == TS_OK) {
    g_tag = "bf16_";
    bench_matmul(512, 512, 512, reps);
    bench_matmul(256, 4864, 896, reps);
    bench_matmul(1600, 768, 256, reps); /* the small model's LLM FFN at batch 8 */
    bench_block(1, 256, reps);
    gemm_set_precision("f32");
  } else {
    fprintf(stderr, "bench_engine: no bf16 GEMM in this build (oneDNN): bf16 cases skipped\n");
  }
  return 0;
}
