/* cpu_backend.c — the CPU backend: memory, threads, build information and the op table
 * (the ops themselves live in cpu_*.c beside this file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef TS_HAVE_BLAS
#include <cblas.h>
#endif

#include "tensor/backend.h"
#include "tensor/cpu_act16.h"
#include "tensor/cpu_fpenv.h"
#include "tensor/cpu_ops.h"
#include "tensor/cuda_ctl.h"
#include "tensor/gemm.h"

#ifdef TS_HAVE_CUDA
int cuda_query_info(be_info *info); /* kernels/cuda_info.cu */
#endif

static void *cpu_alloc(backend *be, size_t bytes) {
  (void)be;
  size_t n = (bytes + 63) / 64 * 64;
  return aligned_alloc(64, n ? n : 64);
}
static void cpu_release(backend *be, void *p) {
  (void)be;
  free(p);
}
static void cpu_fresh(backend *be, void *p, size_t bytes) { /* host arenas do not call it */
  (void)be, (void)p, (void)bytes;
}
static int cpu_to_device(backend *be, void *dst, const void *src, size_t bytes, ts_err *e) {
  (void)be;
  (void)e;
  memmove(dst, src, bytes);
  return TS_OK;
}
static int cpu_sync(backend *be, ts_err *e) {
  (void)be;
  (void)e;
  return TS_OK;
}

/* The open weights hints, innermost last (their kinds: 1 decoding, 2 a training step). In the
 * bf16 precision decoding's weights get a bf16 mirror (gemm_mirror): its GEMMs read it instead
 * of rounding the weights per call, and its few-row GEMMs against them run in bf16 (paper
 * geometry, 8 rollouts of 64 tokens: 17.5 -> 9.9 s). A training step uses each weight in
 * at most two GEMMs, which round it no slower than making the mirror would (measured: a paper
 * geometry step 8.25 s without, 8.75 s with), so it gets none. */
#define CPU_HINTS 16
static struct {
  int kind;
  const float *w;
  int64_t n;
} g_hint[CPU_HINTS];
static int g_nhint;

/* an off closes the innermost open hint, with that hint's own block (whatever the call names) */
static int cpu_weights_bf16(backend *be, const float *w, int64_t n, int on) {
  (void)be;
  if (on) {
    if (g_nhint == CPU_HINTS) return TS_EARG; /* deeper nesting than any caller has */
    g_hint[g_nhint].kind = on, g_hint[g_nhint].w = w, g_hint[g_nhint].n = n;
    g_nhint++;
    return on == 1 ? gemm_mirror(w, n, 1) : TS_OK;
  }
  if (!g_nhint) return TS_OK; /* nothing open */
  g_nhint--;
  return g_hint[g_nhint].kind == 1 ? gemm_mirror(g_hint[g_nhint].w, g_hint[g_nhint].n, 0) : TS_OK;
}

/* the CPU runs ops as they come: nothing to record */
static int cpu_step_graph(backend *be, int phase) {
  (void)be, (void)phase;
  return TS_OK;
}

/* nothing recorded, so nothing to replay: every step runs its ops */
static int cpu_step_replay(backend *be, const int32_t *ids, const int32_t *n_new, int64_t B, int *mode) {
  (void)be, (void)ids, (void)n_new, (void)B;
  *mode = 0;
  return TS_OK;
}

/* the CPU's attention keeps nothing for its backward (attn_cfg.keep): it reads q, k, v, out */
static size_t cpu_attn_keep_bytes(backend *be, const tensor *q, const tensor *k, const attn_cfg *cfg) {
  (void)be, (void)q, (void)k, (void)cfg;
  return 0;
}

static const be_ops cpu_ops_table = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .release = cpu_release,
    .fresh = cpu_fresh,
    .to_device = cpu_to_device,
    .to_host = cpu_to_device,
    .sync = cpu_sync,
    .fill = cpu_fill,
    .copy = cpu_copy,
    .axpby = cpu_axpby,
    .add = cpu_add,
    .mul = cpu_mul,
    .mul_bwd = cpu_mul_bwd,
    .matmul = cpu_matmul,
    .matmul_res = cpu_matmul_res,
    .matmul_bwd = cpu_matmul_bwd,
    .layernorm = cpu_layernorm,
    .layernorm_bwd = cpu_layernorm_bwd,
    .layernorm_act = cpu_layernorm_act,
    .layernorm_act_bwd = cpu_layernorm_act_bwd,
    .layernorm_ch = cpu_layernorm_ch,
    .layernorm_ch_bwd = cpu_layernorm_ch_bwd,
    .rmsnorm = cpu_rmsnorm,
    .rmsnorm_bwd = cpu_rmsnorm_bwd,
    .groupnorm = cpu_groupnorm,
    .groupnorm_bwd = cpu_groupnorm_bwd,
    .act = cpu_act,
    .act_bwd = cpu_act_bwd,
    .swiglu = cpu_swiglu,
    .swiglu_bwd = cpu_swiglu_bwd,
    .softmax = cpu_softmax,
    .softmax_bwd = cpu_softmax_bwd,
    .attention = cpu_attention,
    .attn_keep_bytes = cpu_attn_keep_bytes,
    .attention_bwd = cpu_attention_bwd,
    .rope = cpu_rope,
    .split_heads = cpu_split_heads,
    .conv1d = cpu_conv1d,
    .conv1d_bwd = cpu_conv1d_bwd,
    .conv1d_cl = cpu_conv1d_cl,
    .conv1d_cl_bwd = cpu_conv1d_cl_bwd,
    .weightnorm = cpu_weightnorm,
    .weightnorm_bwd = cpu_weightnorm_bwd,
    .embed = cpu_embed,
    .embed_bwd = cpu_embed_bwd,
    .set_rows = cpu_set_rows,
    .sample = cpu_sample,
    .weights_bf16 = cpu_weights_bf16,
    .act_dtype = cpu_act_dtype,
    .step_graph = cpu_step_graph,
    .step_replay = cpu_step_replay,
    .framecat = cpu_framecat,
    .framecat_bwd = cpu_framecat_bwd,
    .xent = cpu_xent,
    .adamw = cpu_adamw,
    .adamw_runs = cpu_adamw_runs,
    .sumsq = cpu_sumsq,
    .transpose = cpu_transpose,
    .stats_pool = cpu_stats_pool,
};

static backend g_cpu = {&cpu_ops_table, DEV_CPU, NULL};
static int g_threads = 0;
static int g_flush = 0, g_fpenv_done = 0; /* subnormals flushed (cpu_fpenv.h); set up yet */

void be_cpu_set_threads(int n) {
  if (n < 1) n = 1;
  g_threads = n;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
#ifdef TS_HAVE_BLAS
  openblas_set_num_threads(n);
#endif
  /* once, whichever comes first (a recipe sets the threads before any op): after the pool's size
   * is set, so its threads get FTZ/DAZ too */
  if (!g_fpenv_done) g_flush = cpu_fpenv_init(), g_fpenv_done = 1;
}

backend *be_cpu(void) {
  if (!g_threads) {
    int n = 1;
#ifdef _OPENMP
    n = omp_get_max_threads();
#endif
    const char *s = getenv("TSASR_THREADS");
    if (s && atoi(s) > 0) n = atoi(s);
    be_cpu_set_threads(n);
  }
  return &g_cpu;
}

#ifndef TS_HAVE_CUDA
backend *be_cuda(ts_err *e) {
  err_set(e, TS_EUNSUP, "this build has no CUDA backend (configure with -DTSASR_CUDA=ON)");
  return NULL;
}
int cuda_set_gemm(const char *mode) {
  (void)mode;
  return TS_EUNSUP;
}
int cuda_set_attn_rows(int rows) {
  (void)rows;
  return TS_EUNSUP;
}
int cuda_set_decode_kernels(int on) {
  (void)on;
  return TS_EUNSUP;
}
int cuda_set_decode_attention(int on) {
  (void)on;
  return TS_EUNSUP;
}
int cuda_set_graphs(int on) {
  (void)on;
  return TS_EUNSUP;
}
int cuda_set_fuse_round(int on) {
  (void)on;
  return TS_EUNSUP;
}
long cuda_graph_launches(void) { return 0; }
long cuda_graph_replays(void) { return 0; }
int cuda_set_flash_attention(int on) {
  (void)on;
  return TS_EUNSUP;
}
int cuda_set_train_copy(int on) {
  (void)on;
  return TS_EUNSUP;
}
int cuda_set_sample_split(int on) {
  (void)on;
  return TS_EUNSUP;
}
int cuda_set_bf16_acts(int on) {
  (void)on;
  return TS_EUNSUP;
}
int cuda_set_weight_copy(int on) {
  (void)on;
  return TS_EUNSUP;
}
int cuda_set_cudnn(int on) { return on ? TS_EUNSUP : TS_OK; }
void cuda_cudnn_counts(long *calls, long *fallbacks) {
  if (calls) *calls = 0;
  if (fallbacks) *fallbacks = 0;
}
int cuda_set_lt(int on) {
  (void)on;
  return TS_EUNSUP;
}
void cuda_lt_counts(long *calls, long *fallbacks) {
  if (calls) *calls = 0;
  if (fallbacks) *fallbacks = 0;
}
int cuda_set_cudnn_sdpa(int on) { return on ? TS_EUNSUP : TS_OK; }
int cuda_set_bwd16(int on) { return on ? TS_EUNSUP : TS_OK; }
int cuda_set_adamw_runs(int on) { return on ? TS_EUNSUP : TS_OK; }
int cuda_set_matmul_res(int on) { return on ? TS_EUNSUP : TS_OK; }
int cuda_set_conv_set(int on) { return on ? TS_EUNSUP : TS_OK; }
int cuda_set_deterministic(int on) { return on ? TS_EUNSUP : TS_OK; }
int cuda_set_attn_keep(int on) { return on ? TS_EUNSUP : TS_OK; }
int cuda_set_wcopy_sync(int on) { return on ? TS_EUNSUP : TS_OK; }
void cuda_wcopy_counts(long *skips, long *bad) {
  if (skips) *skips = 0;
  if (bad) *bad = 0;
}
int cuda_set_elem_blocks(int per_sm) { return per_sm ? TS_EUNSUP : TS_OK; }
int cuda_set_elem_vec(int on) { return on ? TS_EUNSUP : TS_OK; }
int cuda_set_cudnn_bf16(int on) { return on ? TS_EUNSUP : TS_OK; }
void cuda_sdpa_counts(long *calls, long *fallbacks) {
  if (calls) *calls = 0;
  if (fallbacks) *fallbacks = 0;
}
int cuda_profile_range(int on) {
  (void)on;
  return TS_EUNSUP;
}
void *cuda_stream_handle(void) { return NULL; }
const char *cuda_gemm_name(void) { return "f32"; }
const be_ops *cuda_ops(void) { return NULL; }
#endif

int be_gemm_known(const char *mode) {
  return mode && (!strcmp(mode, "f32") || !strcmp(mode, "tf32") || !strcmp(mode, "bf16"));
}

int be_set_gemm(backend *be, const char *mode, ts_err *e) {
  if (!be_gemm_known(mode))
    return err_set(e, TS_EARG, "GEMM precision must be f32, tf32 or bf16, not \"%s\"", mode ? mode : "(null)");
  if (be->device == DEV_CUDA) {
    int rc = cuda_set_gemm(mode);
    return rc ? err_set(e, rc, "GEMM precision %s: not available in this build", mode) : TS_OK;
  }
  if (!strcmp(mode, "tf32"))
    return err_set(e, TS_EARG, "GEMM precision tf32 needs the cuda device (the CPU's are f32 and bf16)");
  int rc = gemm_set_precision(mode);
  if (rc == TS_EUNSUP) {
    char why[128];
    gemm_bf16_describe(why, sizeof why);
    return err_set(e, rc, "GEMM precision bf16 on cpu/devsim needs oneDNN 2.x (libdnnl-dev) on an AVX-512 CPU: %s", why);
  }
  return rc ? err_set(e, rc, "GEMM precision %s: refused", mode) : TS_OK;
}

void be_get_info(be_info *info) {
  memset(info, 0, sizeof *info);
  be_cpu();
  gemm_bf16_describe(info->bf16_gemm, sizeof info->bf16_gemm);
  info->omp_threads = g_threads;
  info->denormals_flushed = g_flush;
#ifdef TS_HAVE_BLAS
  static char blas[128];
  const char *cfg = openblas_get_config();
  int par = openblas_get_parallel(); /* 0 sequential, 1 pthreads, 2 OpenMP */
  snprintf(blas, sizeof blas, "OpenBLAS (%s; %s)", cfg ? cfg : "?",
           par == 2 ? "openmp" : par == 1 ? "pthreads" : "sequential");
  info->blas = blas;
  info->blas_threads = openblas_get_num_threads();
  info->blas_not_openmp = par != 2;
#else
  info->blas = "built-in GEMM";
  info->blas_threads = g_threads;
#endif
#ifdef TS_HAVE_CUDA
  info->cuda_built = 1;
  cuda_query_info(info);
#endif
}
