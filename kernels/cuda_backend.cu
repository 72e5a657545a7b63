// cuda_backend.cu — the CUDA backend: device selection, memory (cudaMalloc), host<->device
// copies, scratch and staging, error capture, the row-major GEMM helper over cuBLAS and the op
// table. The ops themselves live in kernels/cu_*.cu.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_profiler_api.h>

#include "cu_common.h"

extern "C" {
#include "base/log.h"
}

static char g_cu_err[256];

extern "C" const char *cuda_last_error(void) { return g_cu_err; }

static cu_ctx g_ctx;

cudaStream_t cu_stream(void) { /* called by every launch and copy on the stream: counted */
  g_ctx.launches++;
  return g_ctx.st;
}

int cu_fail(const char *what, cudaError_t st) {
  snprintf(g_cu_err, sizeof g_cu_err, "%s: %s (%s)", what, cudaGetErrorString(st), cudaGetErrorName(st));
  log_warn("cuda: %s", g_cu_err);
  return TS_EDEVICE;
}

int cu_fail_blas(const char *what, cublasStatus_t st) {
  snprintf(g_cu_err, sizeof g_cu_err, "%s: cuBLAS status %d (%s)", what, (int)st, cublasGetStatusString(st));
  log_warn("cuda: %s", g_cu_err);
  return TS_EDEVICE;
}

int cu_fail_lib(const char *what, const char *lib, int st, const char *msg) {
  snprintf(g_cu_err, sizeof g_cu_err, "%s: %s status %d (%s)", what, lib, st, msg);
  log_warn("cuda: %s", g_cu_err);
  return TS_EDEVICE;
}

/* ---- memory ---- */
static void *cu_alloc(backend *be, size_t bytes) {
  void *p = NULL;
  /* exactly the bytes asked for (cudaMalloc aligns to 256), so compute-sanitizer sees any overrun */
  cudaError_t st = cudaMalloc(&p, bytes ? bytes : 4);
  if (st != cudaSuccess) {
    cu_fail("cudaMalloc", st);
    cudaGetLastError(); /* handled here: do not let the next kernel report it */
    return NULL;
  }
  return p;
}

static void cu_release(backend *be, void *p) {
  if (!p) return;
  cu_of(be)->mem_epoch++; /* a kept graph may use it: no replay until the next capture */
  if (p == (void *)cu_of(be)->w) cu_of(be)->wsync = 0; /* the weights freed: their copy is nobody's */
  cudaError_t st = cudaFree(p);
  if (st != cudaSuccess) cu_fail("cudaFree", st);
}

/* be_ops.fresh: an arena block is left as it is (devsim is where reads before writes are checked) */
static void cu_fresh(backend *be, void *p, size_t bytes) { (void)be, (void)p, (void)bytes; }

static int cu_to_device(backend *be, void *dst, const void *src, size_t bytes, ts_err *e) {
  if (!bytes) return TS_OK;
  cu_of(be)->xs_y = NULL; /* a write outside the stream: no rounding made before stays valid */
  cu_wcopy_touch(cu_of(be), dst, bytes); /* nor the weights' copy, if it lands in them */
  cudaError_t st = cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice);
  if (st != cudaSuccess) {
    cu_fail("to_device", st);
    return err_set(e, TS_EDEVICE, "cuda: host->device copy of %zu bytes: %s", bytes, cudaGetErrorString(st));
  }
  return TS_OK;
}

static int cu_to_host(backend *be, void *dst, const void *src, size_t bytes, ts_err *e) {
  if (!bytes) return TS_OK;
  cudaError_t st = cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost);
  if (st != cudaSuccess) {
    cu_fail("to_host", st);
    return err_set(e, TS_EDEVICE, "cuda: device->host copy of %zu bytes: %s", bytes, cudaGetErrorString(st));
  }
  return TS_OK;
}

static int cu_sync(backend *be, ts_err *e) {
  cudaError_t st = cudaDeviceSynchronize();
  if (st == cudaSuccess) st = cudaGetLastError();
  if (st != cudaSuccess) {
    cu_fail("sync", st);
    return err_set(e, TS_EDEVICE, "cuda: %s", g_cu_err);
  }
  return TS_OK;
}

/* the ring's first use: pinned memory and two events, or pin_state -1 (synchronous copies) */
static void cu_pin_init(cu_ctx *c) {
  c->pin_state = -1;
  if (cudaHostAlloc((void **)&c->pin, 2 * CU_PIN_HALF, cudaHostAllocDefault) != cudaSuccess) {
    cudaGetLastError(); /* not sticky */
    c->pin = NULL;
    return;
  }
  for (int i = 0; i < 2; i++)
    if (cudaEventCreateWithFlags(&c->pin_ev[i], cudaEventDisableTiming) != cudaSuccess) {
      cudaGetLastError();
      if (i) cudaEventDestroy(c->pin_ev[0]);
      cudaFreeHost(c->pin);
      c->pin = NULL;
      return;
    }
  c->pin_state = 1;
}

int cu_pin_ready(backend *be) {
  cu_ctx *c = cu_of(be);
  if (!c->pin_state) cu_pin_init(c);
  return c->pin_state > 0;
}

/* (cu_common.h) A synchronous cudaMemcpy from pageable memory first waits for the stream: a
 * decoding step stages ~6 host arrays (ids, positions, cache rows, kv lengths, the draws),
 * and each such copy drained the queue of launched work. Only the ops that read results back
 * (sample, xent's losses, sumsq, to_host) wait now. */
int cu_h2d(backend *be, void *dev, const void *host, size_t bytes) { return cu_h2d_kind(be, dev, host, bytes, SR_NONE); }

int cu_h2d_kind(backend *be, void *dev, const void *host, size_t bytes, sr_kind kind) {
  cu_ctx *c = cu_of(be);
  if (!bytes) return TS_OK;
  if (!c->pin_state) cu_pin_init(c);
  /* a captured step's copies come from its own pinned memory, which only captures and replays
   * write (cuda_graph.cu), each noted with its rule in the replay record */
  if (c->gr_capturing && c->gpin_state > 0) {
    if (c->gpin_off + bytes > CU_PIN_HALF)
      return cu_fail("a decoding step staged more host data than a captured step may", cudaErrorNotPermitted);
    char *p = c->gpin + c->gpin_off;
    memcpy(p, host, bytes);
    CU_TRY(cudaMemcpyAsync(dev, p, bytes, cudaMemcpyHostToDevice, cu_stream()));
    c->gpin_off += (bytes + 63) & ~(size_t)63;
    sr_add(&c->rp, p, host, bytes, kind);
    return TS_OK;
  }
  /* a captured step records the copy: it must come from the ring's current half */
  if (c->gr_capturing && (c->pin_state < 0 || c->pin_off + bytes > CU_PIN_HALF))
    return cu_fail("a decoding step staged more host data than a captured step may", cudaErrorNotPermitted);
  if (c->pin_state < 0 || bytes > CU_PIN_HALF) {
    CU_TRY(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice));
    return TS_OK;
  }
  if (c->pin_off + bytes > CU_PIN_HALF) { /* the other half, once its last copies are done */
    CU_TRY(cudaEventRecord(c->pin_ev[c->pin_cur], cu_stream()));
    c->pin_left[c->pin_cur] = 1;
    c->pin_cur ^= 1;
    if (c->pin_left[c->pin_cur]) CU_TRY(cudaEventSynchronize(c->pin_ev[c->pin_cur]));
    c->pin_off = 0;
  }
  char *p = c->pin + (size_t)c->pin_cur * CU_PIN_HALF + c->pin_off;
  memcpy(p, host, bytes);
  CU_TRY(cudaMemcpyAsync(dev, p, bytes, cudaMemcpyHostToDevice, cu_stream()));
  c->pin_off += (bytes + 63) & ~(size_t)63;
  return TS_OK;
}

/* Frees a device buffer being replaced: at once, or while a step is captured (the graph being
 * recorded may point at it; cudaFree would also sync) once the stream is idle (cu_free_dead). */
int cu_free_later(backend *be, void *p) {
  cu_ctx *c = cu_of(be);
  if (!p) return TS_OK;
  c->mem_epoch++; /* a kept graph may use it: no replay until the next capture */
  if (p == (void *)c->w) c->wsync = 0;
  if (!c->gr_capturing) {
    CU_TRY(cudaFree(p));
    return TS_OK;
  }
  if (c->ndead == 8) return cu_fail("a decoding step replaced too many device buffers while captured", cudaErrorNotPermitted);
  c->dead[c->ndead++] = p;
  return TS_OK;
}

void cu_free_dead(backend *be) {
  cu_ctx *c = cu_of(be);
  for (int i = 0; i < c->ndead; i++) cudaFree(c->dead[i]);
  c->ndead = 0;
}

/* Staged arrays are evicted least recently used first, a hit counting as a use: an op stages at
 * most 3 arrays, so it never evicts one it was just given (round-robin eviction did, when a
 * hit on the oldest entry came before a miss). */
int cu_stage_same(backend *be, const void *host, size_t bytes, sr_kind kind, const void **dev) {
  cu_ctx *c = cu_of(be);
  *dev = NULL;
  if (!bytes) return TS_OK;
  c->hc_clock++;
  for (int i = 0; i < 8; i++)
    if (c->hc[i].dev && c->hc[i].bytes == bytes && !memcmp(c->hc[i].host, host, bytes) &&
        (!c->gr_capturing || (c->hc[i].serial == c->gr_serial && c->hc[i].kind == (int)kind))) {
      c->hc[i].used = c->hc_clock;
      *dev = c->hc[i].dev;
      return TS_OK;
    }
  struct cu_ctx::cu_hc *h = &c->hc[0];
  for (int i = 1; i < 8; i++)
    if (c->hc[i].used < h->used) h = &c->hc[i];
  h->used = c->hc_clock;
  if (h->cap < bytes) {
    size_t cap = bytes < 4096 ? 4096 : bytes + bytes / 2;
    void *nh = realloc(h->host, cap);
    if (!nh) return TS_ENOMEM;
    h->host = nh;
    h->bytes = 0;
    int frc = cu_free_later(be, h->dev);
    h->dev = NULL;
    h->cap = 0;
    if (frc) return frc;
    cudaError_t st = cudaMalloc(&h->dev, cap);
    if (st != cudaSuccess) {
      h->dev = NULL;
      h->cap = 0;
      int rc = cu_fail("cudaMalloc(staging)", st);
      cudaGetLastError();
      return rc;
    }
    h->cap = cap;
  }
  /* in stream order: kernels queued before read the old contents */
  h->bytes = 0; /* invalid until the copy succeeded */
  TS_TRY(cu_h2d_kind(be, h->dev, host, bytes, kind));
  memcpy(h->host, host, bytes);
  h->bytes = bytes;
  h->serial = c->gr_capturing ? c->gr_serial : 0, h->kind = (int)kind;
  *dev = h->dev;
  return TS_OK;
}

int cu_grow(backend *be, void **buf, size_t *cap, size_t bytes, const char *what) {
  if (bytes < 256) bytes = 256;
  if (bytes <= *cap) return TS_OK;
  if (*buf) {
    int frc = cu_free_later(be, *buf); /* cudaFree synchronises: earlier users are done */
    *buf = NULL;
    *cap = 0;
    if (frc) return frc;
  }
  size_t want = bytes + bytes / 4;
  cudaError_t st = cudaMalloc(buf, want);
  if (st != cudaSuccess) {
    *buf = NULL;
    int rc = cu_fail(what, st);
    cudaGetLastError(); /* handled here: do not let the next kernel report it */
    return st == cudaErrorMemoryAllocation ? TS_ENOMEM : rc;
  }
  *cap = want;
  return TS_OK;
}

int cu_scratch(backend *be, size_t bytes, void **out) {
  cu_ctx *c = cu_of(be);
  TS_TRY(cu_grow(be, &c->scr, &c->scr_cap, bytes, "cudaMalloc(scratch)"));
  *out = c->scr;
  return TS_OK;
}

/* ---- GEMM: row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, so cuBLAS gets
 * the operands swapped with the same transpose flags and the row-major leading dims. ---- */
__global__ void k_gemm_scale(float *C, int64_t M, int64_t N, int64_t ldc, int64_t sC, int64_t batch, float beta) {
  CU_LOOP(i, batch * M * N) {
    int64_t b = i / (M * N), r = (i / N) % M, j = i % N;
    float *p = C + b * sC + r * ldc + j;
    *p = beta == 0.0f ? 0.0f : beta * *p;
  }
}

int cu_gemm(backend *be, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
            int64_t lda, int64_t sA, const float *B, int64_t ldb, int64_t sB, float beta, float *C,
            int64_t ldc, int64_t sC, int64_t batch) {
  if (M <= 0 || N <= 0 || batch <= 0) return TS_OK;
  cu_ctx *c = cu_of(be);
  if (K <= 0) { /* empty sum: C = beta C (beta 0 writes zeros, whatever C held) */
    if (beta == 1.0f) return TS_OK;
    k_gemm_scale<<<cu_blocks(batch * M * N), 256, 0, cu_stream()>>>(C, M, N, ldc, sC, batch, beta);
    CU_LAUNCHED("k_gemm_scale");
    return TS_OK;
  }
  if (c->lt && batch == 1) {
    cu_lt_call g = {ta, tb, M, N, K, 0, A, lda, B, ldb, NULL, alpha, beta, C, ldc, NULL};
    int done;
    TS_TRY(cu_lt_gemm(be, &g, &done));
    if (done) return TS_OK;
  }
  cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  c->launches++;
  if (c->gemm != TS_GEMM_F32) {
    /* f32 storage, tensor-core math: inputs rounded to tf32 or bf16 inside cuBLAS, f32 accumulate */
    cublasComputeType_t ct = c->gemm == TS_GEMM_BF16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F_FAST_TF32;
    if (batch == 1)
      CB_TRY(cublasGemmEx(c->blas, ob, oa, (int)N, (int)M, (int)K, &alpha, B, CUDA_R_32F, (int)ldb, A, CUDA_R_32F,
                          (int)lda, &beta, C, CUDA_R_32F, (int)ldc, ct, CUBLAS_GEMM_DEFAULT));
    else
      CB_TRY(cublasGemmStridedBatchedEx(c->blas, ob, oa, (int)N, (int)M, (int)K, &alpha, B, CUDA_R_32F, (int)ldb, sB,
                                        A, CUDA_R_32F, (int)lda, sA, &beta, C, CUDA_R_32F, (int)ldc, sC, (int)batch,
                                        ct, CUBLAS_GEMM_DEFAULT));
    return TS_OK;
  }
  if (batch == 1)
    CB_TRY(cublasSgemm(c->blas, ob, oa, (int)N, (int)M, (int)K, &alpha, B, (int)ldb, A, (int)lda, &beta, C,
                       (int)ldc));
  else
    CB_TRY(cublasSgemmStridedBatched(c->blas, ob, oa, (int)N, (int)M, (int)K, &alpha, B, (int)ldb, sB, A,
                                     (int)lda, sA, &beta, C, (int)ldc, sC, (int)batch));
  return TS_OK;
}

/* C (M,N) = op(A) op(B) + beta C, row-major, with A and B in bf16 (f32 accumulate and output):
 * the bf16 precision's GEMM on operands already rounded (x and the weights' bf16 copy, bf16
 * activations and the gradient rounded for them), half the bytes of FAST_16BF on f32 storage */
int cu_gemm_bf16(backend *be, int ta, int tb, int64_t M, int64_t N, int64_t K, const unsigned short *A, int64_t lda,
                 const unsigned short *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return K <= 0 ? TS_EARG : TS_OK;
  float alpha = 1.0f;
  if (cu_of(be)->lt) {
    cu_lt_call g = {ta, tb, M, N, K, 1, A, lda, B, ldb, NULL, 1.0f, beta, C, ldc, NULL};
    int done;
    TS_TRY(cu_lt_gemm(be, &g, &done));
    if (done) return TS_OK;
  }
  cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  cu_of(be)->launches++;
  CB_TRY(cublasGemmEx(cu_of(be)->blas, ob, oa, (int)N, (int)M, (int)K, &alpha, B, CUDA_R_16BF, (int)ldb, A,
                      CUDA_R_16BF, (int)lda, &beta, C, CUDA_R_32F, (int)ldc, CUBLAS_COMPUTE_32F,
                      CUBLAS_GEMM_DEFAULT));
  return TS_OK;
}

int cu_gemm_bf16_sb(backend *be, int ta, int tb, int64_t M, int64_t N, int64_t K, const unsigned short *A,
                    int64_t lda, int64_t sA, const unsigned short *B, int64_t ldb, int64_t sB, float beta, float *C,
                    int64_t ldc, int64_t sC, int64_t batch) {
  if (batch == 1) return cu_gemm_bf16(be, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
  if (M <= 0 || N <= 0 || batch <= 0) return TS_OK;
  if (K <= 0) return TS_EARG;
  float alpha = 1.0f;
  cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  cu_of(be)->launches++;
  CB_TRY(cublasGemmStridedBatchedEx(cu_of(be)->blas, ob, oa, (int)N, (int)M, (int)K, &alpha, B, CUDA_R_16BF, (int)ldb,
                                    sB, A, CUDA_R_16BF, (int)lda, sA, &beta, C, CUDA_R_32F, (int)ldc, sC, (int)batch,
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return TS_OK;
}

int cu_gemm_ptr(backend *be, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *const *A,
                int64_t lda, const float *const *B, int64_t ldb, float beta, float *const *C, int64_t ldc,
                int64_t count, int aligned) {
  if (M <= 0 || N <= 0 || count <= 0) return TS_OK;
  if (K <= 0) return TS_EARG; /* not used with an empty sum (attention has Tq, Tk, D >= 1 here) */
  cu_ctx *c = cu_of(be);
  cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  c->launches++;
  if (c->gemm != TS_GEMM_F32 && aligned) {
    cublasComputeType_t ct = c->gemm == TS_GEMM_BF16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F_FAST_TF32;
    cublasStatus_t st = cublasGemmBatchedEx(c->blas, ob, oa, (int)N, (int)M, (int)K, &alpha, (const void *const *)B,
                                            CUDA_R_32F, (int)ldb, (const void *const *)A, CUDA_R_32F, (int)lda, &beta,
                                            (void *const *)C, CUDA_R_32F, (int)ldc, (int)count, ct, CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS ? TS_OK : cu_fail_blas("cublasGemmBatchedEx", st);
  }
  cublasStatus_t st = cublasSgemmBatched(c->blas, ob, oa, (int)N, (int)M, (int)K, &alpha, B, (int)ldb, A, (int)lda,
                                         &beta, C, (int)ldc, (int)count);
  return st == CUBLAS_STATUS_SUCCESS ? TS_OK : cu_fail_blas("cublasSgemmBatched", st);
}

/* filled at start-up (C++ before C++20 has no designated initialisers) */
static be_ops cu_ops_table;

static void cu_table_init(be_ops *t) {
  t->name = "cuda";
  t->alloc = cu_alloc;
  t->release = cu_release;
  t->fresh = cu_fresh;
  t->to_device = cu_to_device;
  t->to_host = cu_to_host;
  t->sync = cu_sync;
  t->fill = cu_fill;
  t->copy = cu_copy;
  t->axpby = cu_axpby;
  t->add = cu_add;
  t->mul = cu_mul;
  t->mul_bwd = cu_mul_bwd;
  t->matmul = cu_matmul;
  t->matmul_res = cu_matmul_res;
  t->matmul_bwd = cu_matmul_bwd;
  t->layernorm = cu_layernorm;
  t->layernorm_bwd = cu_layernorm_bwd;
  t->layernorm_act = cu_layernorm_act;
  t->layernorm_act_bwd = cu_layernorm_act_bwd;
  t->layernorm_ch = cu_layernorm_ch;
  t->layernorm_ch_bwd = cu_layernorm_ch_bwd;
  t->rmsnorm = cu_rmsnorm;
  t->rmsnorm_bwd = cu_rmsnorm_bwd;
  t->groupnorm = cu_groupnorm;
  t->groupnorm_bwd = cu_groupnorm_bwd;
  t->act = cu_act;
  t->act_bwd = cu_act_bwd;
  t->swiglu = cu_swiglu;
  t->swiglu_bwd = cu_swiglu_bwd;
  t->softmax = cu_softmax;
  t->softmax_bwd = cu_softmax_bwd;
  t->attention = cu_attention;
  t->attn_keep_bytes = cu_sdpa_keep_bytes;
  t->attention_bwd = cu_attention_bwd;
  t->rope = cu_rope;
  t->split_heads = cu_split_heads;
  t->conv1d = cu_conv1d;
  t->conv1d_bwd = cu_conv1d_bwd;
  t->conv1d_cl = cu_conv1d_cl;
  t->conv1d_cl_bwd = cu_conv1d_cl_bwd;
  t->weightnorm = cu_weightnorm;
  t->weightnorm_bwd = cu_weightnorm_bwd;
  t->embed = cu_embed;
  t->embed_bwd = cu_embed_bwd;
  t->set_rows = cu_set_rows;
  t->sample = cu_sample;
  t->weights_bf16 = cu_weights_bf16;
  t->step_graph = cu_step_graph;
  t->step_replay = cu_step_replay;
  t->act_dtype = cu_act_dtype;
  t->framecat = cu_framecat;
  t->framecat_bwd = cu_framecat_bwd;
  t->xent = cu_xent;
  t->adamw = cu_adamw;
  t->adamw_runs = cu_adamw_runs;
  t->sumsq = cu_sumsq;
  t->transpose = cu_transpose;
  t->stats_pool = cu_stats_pool;
}

static backend g_cuda = {&cu_ops_table, DEV_CUDA, &g_ctx};
static int g_state = 0; /* 0 untried, 1 ready, -1 failed */
static char g_why[256];

extern "C" const be_ops *cuda_ops(void) {
  cu_table_init(&cu_ops_table);
  return &cu_ops_table;
}

extern "C" int cuda_set_gemm(const char *mode) {
  int m = !strcmp(mode, "f32") ? TS_GEMM_F32 : !strcmp(mode, "tf32") ? TS_GEMM_TF32 : !strcmp(mode, "bf16") ? TS_GEMM_BF16 : -1;
  if (m < 0) return TS_EARG;
  g_ctx.gemm = m;
  return TS_OK;
}

extern "C" int cuda_set_attn_rows(int rows) {
  if (rows < 0) return TS_EARG;
  g_ctx.attn_rows = rows;
  return TS_OK;
}

extern "C" int cuda_set_decode_kernels(int on) {
  if (on < 0 || on > 2) return TS_EARG;
  g_ctx.dec2 = on;
  return TS_OK;
}

unsigned g_cu_elem_cap;

extern "C" int cuda_set_elem_blocks(int per_sm) {
  if (per_sm < 0 || per_sm > 64) return TS_EARG;
  g_cu_elem_cap = (unsigned)per_sm * (unsigned)(g_ctx.sms > 0 ? g_ctx.sms : 132);
  return TS_OK;
}

/* a switch whose path this build may lack (built 0): setting it on is then TS_EUNSUP, off is a
 * no-op; otherwise *field = value */
static int cu_built_switch(int built, int *field, int value) {
  if (!built) return value ? TS_EUNSUP : TS_OK;
  *field = value;
  return TS_OK;
}
#ifdef TS_HAVE_CUDNN
#define CU_BUILT_CUDNN 1
#else
#define CU_BUILT_CUDNN 0
#endif
#ifdef TS_HAVE_CUDNN_FE
#define CU_BUILT_CUDNN_FE 1
#else
#define CU_BUILT_CUDNN_FE 0
#endif

extern "C" int cuda_set_cudnn_bf16(int on) { return cu_built_switch(CU_BUILT_CUDNN, &g_ctx.dnn16, on ? 1 : 0); }

extern "C" int cuda_set_elem_vec(int on) {
  g_cu_elem_vec = on ? 1 : 0;
  return TS_OK;
}

extern "C" int cuda_set_attn_keep(int on) { return cu_built_switch(CU_BUILT_CUDNN_FE, &g_ctx.keep, on ? 1 : 0); }

extern "C" int cuda_set_wcopy_sync(int on) {
  g_ctx.wsync_on = on ? 1 : 0;
  if (!on) g_ctx.wsync = 0;
  return TS_OK;
}

extern "C" void cuda_wcopy_counts(long *skips, long *bad) {
  if (skips) *skips = g_ctx.wskips;
  if (bad) *bad = g_ctx.wbad;
}

extern "C" int cuda_set_matmul_res(int on) {
  g_ctx.mres = on ? 1 : 0;
  return TS_OK;
}

extern "C" int cuda_set_conv_set(int on) {
  g_ctx.conv_set = on ? 1 : 0;
  return TS_OK;
}

extern "C" int cuda_set_deterministic(int on) {
  g_ctx.det = on ? 1 : 0;
  return TS_OK;
}

extern "C" int cuda_set_adamw_runs(int on) {
  g_ctx.adamw_runs = on ? 1 : 0;
  return TS_OK;
}

extern "C" int cuda_set_bwd16(int on) {
  g_ctx.bwd16 = on ? 1 : 0;
  return TS_OK;
}

extern "C" int cuda_set_cudnn_sdpa(int on) { return cu_built_switch(CU_BUILT_CUDNN_FE, &g_ctx.sdpa, on ? 1 : 0); }

extern "C" int cuda_profile_range(int on) {
  if (g_state != 1) return TS_EUNSUP;
  cudaError_t st = cudaStreamSynchronize(g_ctx.st);
  if (st == cudaSuccess) st = on ? cudaProfilerStart() : cudaProfilerStop();
  return st == cudaSuccess ? TS_OK : cu_fail(on ? "cudaProfilerStart" : "cudaProfilerStop", st);
}

extern "C" void *cuda_stream_handle(void) { return g_state == 1 ? (void *)g_ctx.st : NULL; }

extern "C" int cuda_set_decode_attention(int on) {
  if (on < 0 || on > 2) return TS_EARG;
  g_ctx.dec_attn = on;
  if (on == 2 && g_state == 1) cu_dec_counters(&g_ctx, 0); /* made now, not inside a captured step */
  return TS_OK;
}

extern "C" int cuda_set_fuse_round(int on) {
  g_ctx.fuse_round = on ? 1 : 0;
  g_ctx.xs_y = NULL;
  return TS_OK;
}

extern "C" int cuda_set_graphs(int on) {
  g_ctx.graphs = on ? 1 : 0;
  return TS_OK;
}

extern "C" long cuda_graph_launches(void) { return g_ctx.gr_launched; }

extern "C" long cuda_graph_replays(void) { return g_ctx.rp_replayed; }

extern "C" int cuda_set_flash_attention(int on) {
  g_ctx.flash = on ? 1 : 0;
  return TS_OK;
}

extern "C" int cuda_set_train_copy(int on) {
  g_ctx.train_copy = on ? 1 : 0;
  return TS_OK;
}

extern "C" int cuda_set_bf16_acts(int on) {
  g_ctx.act16 = on ? 1 : 0;
  return TS_OK;
}

extern "C" int cuda_set_lt(int on) {
  g_ctx.lt = on ? 1 : 0;
  return TS_OK;
}

extern "C" int cuda_set_cudnn(int on) {
  return on < 0 || on > 3 ? TS_EARG : cu_built_switch(CU_BUILT_CUDNN, &g_ctx.cudnn, on);
}

extern "C" int cuda_set_sample_split(int on) {
  g_ctx.no_smp_split = on ? 0 : 1;
  return TS_OK;
}

extern "C" int cuda_set_weight_copy(int on) {
  g_ctx.no_wcopy = on ? 0 : 1;
  return TS_OK;
}

extern "C" const char *cuda_gemm_name(void) {
  return g_ctx.gemm == TS_GEMM_BF16 ? "bf16" : g_ctx.gemm == TS_GEMM_TF32 ? "tf32" : "f32";
}

/* whether the environment variable name is set to v (the switches' start-up settings) */
static int env_is(const char *name, const char *v) {
  const char *s = getenv(name);
  return s && !strcmp(s, v);
}

extern "C" backend *be_cuda(ts_err *e) {
  if (g_state == 1) return &g_cuda;
  if (g_state == 0) {
    cu_table_init(&cu_ops_table);
    int n = 0;
    cudaError_t st = cudaGetDeviceCount(&n);
    cublasStatus_t bs;
    if (st != cudaSuccess) {
      snprintf(g_why, sizeof g_why, "no usable CUDA driver/device: %s", cudaGetErrorString(st));
    } else if (n < 1) {
      snprintf(g_why, sizeof g_why, "no CUDA device found");
    } else if ((st = cudaSetDevice(0)) != cudaSuccess || (st = cudaFree(0)) != cudaSuccess) {
      snprintf(g_why, sizeof g_why, "cannot start device 0: %s", cudaGetErrorString(st));
    } else if ((st = cudaMalloc((void **)&g_ctx.red, cu_sumsq_bytes())) != cudaSuccess) {
      snprintf(g_why, sizeof g_why, "device 0: %s", cudaGetErrorString(st));
    } else if ((bs = cublasCreate(&g_ctx.blas)) != CUBLAS_STATUS_SUCCESS) {
      snprintf(g_why, sizeof g_why, "cuBLAS initialisation failed: %s", cublasGetStatusString(bs));
    } else if ((bs = cublasSetMathMode(g_ctx.blas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
      snprintf(g_why, sizeof g_why, "cuBLAS math mode: %s", cublasGetStatusString(bs));
    } else if ((st = cudaStreamCreate(&g_ctx.st)) != cudaSuccess) {
      snprintf(g_why, sizeof g_why, "cannot create a stream: %s", cudaGetErrorString(st));
    } else if ((bs = cublasSetStream(g_ctx.blas, g_ctx.st)) != CUBLAS_STATUS_SUCCESS) {
      snprintf(g_why, sizeof g_why, "cuBLAS stream: %s", cublasGetStatusString(bs));
    } else {
      /* cuBLAS's workspace set once, so that a captured step allocates nothing (without it
       * cuBLAS keeps its own, which capture may refuse: graphs then stay off, reported) */
      if (cudaMalloc(&g_ctx.blas_ws, CU_BLAS_WS) != cudaSuccess ||
          cublasSetWorkspace(g_ctx.blas, g_ctx.blas_ws, CU_BLAS_WS) != CUBLAS_STATUS_SUCCESS) {
        cudaGetLastError();
        if (g_ctx.blas_ws) cudaFree(g_ctx.blas_ws);
        g_ctx.blas_ws = NULL;
      }
      g_ctx.fuse_round = !env_is("TSASR_CUDA_FUSE_ROUND", "0");
      g_ctx.graphs = !env_is("TSASR_CUDA_GRAPHS", "0");
      g_ctx.rp_check = env_is("TSASR_CUDA_GRAPHS_CHECK", "1");
      const char *pr = getenv("TSASR_CUDA_PROFILE_REPLAYS");
      g_ctx.prof_replays = pr && atoi(pr) > 0 ? atoi(pr) : 0;
      g_ctx.device = 0; /* gemm: TS_GEMM_F32 (zero) unless cuda_set_gemm() or the environment says */
      if (cudaDeviceGetAttribute(&g_ctx.sms, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess) {
        cudaGetLastError();
        g_ctx.sms = 0; /* sm_blocks_on assumes an H100's 132 */
      }
      const char *ar = getenv("TSASR_CUDA_ATTN_ROWS");
      if (ar && atoi(ar) > 0) g_ctx.attn_rows = atoi(ar);
      g_ctx.dec2 = env_is("TSASR_CUDA_DECODE_KERNELS", "0") ? 0 : env_is("TSASR_CUDA_DECODE_KERNELS", "1") ? 1 : 2;
      g_ctx.no_wcopy = env_is("TSASR_CUDA_WEIGHT_COPY", "0");
      g_ctx.dec_attn = env_is("TSASR_CUDA_DECODE_ATTN", "0") ? 0 : env_is("TSASR_CUDA_DECODE_ATTN", "2") ? 2 : 1;
      g_ctx.flash = !env_is("TSASR_CUDA_FLASH", "0");
      g_ctx.no_smp_split = env_is("TSASR_CUDA_SAMPLE_SPLIT", "0");
      g_ctx.train_copy = env_is("TSASR_CUDA_TRAIN_COPY", "1");
      g_ctx.act16 = !env_is("TSASR_CUDA_BF16_ACTS", "0");
      g_ctx.lt = !env_is("TSASR_CUDA_LT", "0");
#ifdef TS_HAVE_CUDNN
      const char *dn = getenv("TSASR_CUDA_CUDNN"); /* 0 off, 1 every conv, 2 (default), 3: cuda_ctl.h */
      g_ctx.cudnn = dn && dn[0] >= '0' && dn[0] <= '3' && !dn[1] ? dn[0] - '0' : 2;
      if (dn && g_ctx.cudnn == 2 && strcmp(dn, "2"))
        log_warn("cuda: TSASR_CUDA_CUDNN must be 0, 1, 2 or 3, not \"%s\"; the default, 2, is used", dn);
      g_ctx.dnn16 = env_is("TSASR_CUDA_CUDNN_BF16", "1");
#endif
#ifdef TS_HAVE_CUDNN_FE
      g_ctx.sdpa = !env_is("TSASR_CUDA_SDPA", "0");
      g_ctx.keep = !env_is("TSASR_CUDA_ATTN_KEEP", "0");
#endif
      g_ctx.bwd16 = !env_is("TSASR_CUDA_BWD16", "0");
      g_ctx.adamw_runs = !env_is("TSASR_CUDA_ADAMW_RUNS", "0");
      g_ctx.mres = !env_is("TSASR_CUDA_MATMUL_RES", "0");
      g_ctx.conv_set = !env_is("TSASR_CUDA_CONV_SET", "0");
      g_ctx.det = env_is("TSASR_CUDA_DETERMINISTIC", "1");
      g_ctx.wsync_on = !env_is("TSASR_CUDA_WCOPY_SYNC", "0");
      g_ctx.wcheck = env_is("TSASR_CUDA_WCOPY_CHECK", "1");
      const char *eb = getenv("TSASR_CUDA_ELEM_BLOCKS"); /* after sms: blocks per SM */
      if (eb && cuda_set_elem_blocks(atoi(eb)))
        log_warn("cuda: TSASR_CUDA_ELEM_BLOCKS must be 0-64 blocks per SM, not \"%s\"; no cap is used", eb);
      cuda_set_elem_vec(env_is("TSASR_CUDA_ELEM_VEC", "1"));
      const char *gm = getenv("TSASR_CUDA_GEMM");
      if (!gm || !cuda_set_gemm(gm)) {
        g_state = 1;
        return &g_cuda;
      }
      snprintf(g_why, sizeof g_why, "TSASR_CUDA_GEMM must be f32, tf32 or bf16, not \"%s\"", gm);
    }
    /* failed: release what was created */
    if (g_ctx.st) cudaStreamDestroy(g_ctx.st);
    g_ctx.st = NULL;
    if (g_ctx.blas) cublasDestroy(g_ctx.blas);
    if (g_ctx.red) cudaFree(g_ctx.red);
    g_ctx.blas = NULL;
    g_ctx.red = NULL;
    g_state = -1;
  }
  err_set(e, TS_EDEVICE, "cuda: %s", g_why);
  return NULL;
}
