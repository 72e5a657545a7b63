// cu_common.h — shared pieces of the CUDA backend: the backend context (cuBLAS handle, device
// scratch and host-array staging), error capture, launch helpers and the op declarations
// (kernels/cu_*.cu). Every op runs on the backend's stream (cu_stream), so buffers reused
// between ops (scratch, staging) are ordered by the stream; host arrays in the op signatures
// are copied to the device inside the op.
#ifndef TS_CU_COMMON_H
#define TS_CU_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "base/err.h"
#include "tensor/backend.h"
#include "tensor/step_replay.h"
}
#include "tensor/cuda_ctl.h"
#include "cu_dev.cuh"

typedef struct cu_ctx {
  int device;
  cublasHandle_t blas;
  cudaStream_t st; /* every launch, cuBLAS call and staging copy (cu_stream) */
  void *blas_ws;   /* cuBLAS's workspace, set once (no allocation while a graph is captured) */
  void *scr;       /* device scratch (im2col columns, attention scores, staged host arrays) */
  size_t scr_cap;  /* bytes */
  double *red;     /* device doubles for sumsq (cu_sumsq_bytes): its total, then its partials */
  void *cpart;     /* column reductions' partials (cu_colpart: doubles), cpart_cap bytes */
  size_t cpart_cap;
  int gemm;        /* GEMM precision, cuda_ctl.h: TS_GEMM_F32 (cublasSgemm), _TF32, _BF16 */
  int attn_rows;   /* batch rows per attention chunk (cuda_set_attn_rows); 0: as many as fit in
                      CU_ATTN_SCRATCH bytes of scores */
  int flash;       /* bf16 precision: attention on the tensor-core flash kernels
                      (cuda_set_flash_attention; on: faster on an H200, 2026-11-27) */
  int dec2;        /* the small-row GEMM for decoding (cuda_set_decode_kernels: 0 off, 1 every shape,
                      2 (the default) weights up to SM_SMALL_W, where it beat cuBLASLt on an H100) */
  int sms;         /* the device's multiprocessors (the small-row GEMM's grid) */
  int no_smp_split; /* the sample op without the row split over blocks (TSASR_CUDA_SAMPLE_SPLIT=0,
                       for A/B timings; the split is on by default) */
  int train_copy;   /* training steps' forward GEMMs on the weights' bf16 copy (TSASR_CUDA_TRAIN_COPY=1;
                       off: what act16 implies anyway) */
  int act16;        /* bf16 storage of GEMM-input activations in the bf16 precision (op_act_dtype;
                       on; TSASR_CUDA_BF16_ACTS=0 turns it off); implies the training copy */
  int dec_attn;    /* split-key attention for decoding steps (cuda_set_decode_attention; 1, on:
                      half the one-query kernel's time on an H200; 2: its merge folded into the
                      chunks' launch, counting in dec_cnt) */
  unsigned *dec_cnt; /* AT_SK_CNT zeroed counters of k_attn_dec_fused (made on its first use) */
  /* decoding's bf16 copy of the weights (cu_weights_bf16): wb (wn) mirrors w while won;
     no_wcopy: never made (TSASR_CUDA_WEIGHT_COPY=0, for A/B timings) */
  int no_wcopy;
  const float *w;
  int64_t wn;
  unsigned short *wb;
  size_t wb_cap; /* bytes */
  int won;
  int wkeep; /* the copy is a training step's: on = 0 keeps its memory */
  /* wb holds bf16(w[0 .. wn)) exactly while wsync: set by a rounding, kept so by
     cu_adamw_runs updating wb with w (wsync_on: cuda_set_wcopy_sync), cleared by any other
     write to [w, w + wn) the backend sees (to_device, fill, copy, axpby, cu_adamw), by
     freeing w (cu_release, cu_free_later) and by replacing wb; the next bracket on the same
     (w, wn) then skips its rounding. wcheck (TSASR_CUDA_WCOPY_CHECK=1): such a skip rounds
     anyway and counts the values that differ (wbad; repaired), for the GPU checks */
  int wsync, wsync_on, wcheck;
  long wskips, wbad;
  int tnop;  /* the open bracket is a training step's without the switch: on = 0 changes nothing */
  int gnop;  /* a generate bracket opened inside such a step (no copy made); closed first */
  /* the last host arrays staged with cu_stage_same (positions, ids, lengths repeat across the
   * layers of a step): a host copy to compare with, the device copy, round-robin reuse */
  struct cu_hc {
    void *dev, *host;
    size_t bytes, cap;
    uint64_t used; /* hc_clock at the last hit or copy: the least recently used goes first */
    uint64_t serial; /* gr_serial of the capture that staged it (hits inside a capture need it) */
    int kind;        /* its sr_kind when staged inside a capture */
  } hc[8];
  uint64_t hc_clock;
  /* device buffers replaced while a step was captured (its graph may still point at them):
     freed at the next BEGIN, once the stream is idle, or at DONE */
  void *dead[8];
  int ndead;
  /* the pinned ring of cu_h2d: two halves of CU_PIN_HALF bytes, the half in use and the offset
     in it, and per half the event recorded when the ring last left it (pin_state: 0 not made
     yet, 1 ready, -1 unavailable: copies then go synchronously) */
  char *pin;
  int pin_state, pin_cur, pin_left[2];
  size_t pin_off;
  cudaEvent_t pin_ev[2];
  /* decoding steps as CUDA graphs (cu_step_graph; on, TSASR_CUDA_GRAPHS=0 off): the switch, the eager
     steps since decoding began (the first ones size scratch and staging), whether a step is
     being captured, the executable graph updated from each capture, and graphs off for good
     after a failure */
  int graphs, gr_warm, gr_capturing, gr_off;
  long gr_launched; /* decoding steps launched as graphs (cuda_graph_launches) */
  cudaGraphExec_t gr_exec;
  uint64_t gr_serial; /* captures begun (cu_stage_same keeps a capture's copies its own) */
  /* replayed decoding steps (cu_step_replay): the last capture's staging copies and their
     rules (rp; their bytes in the pinned gpin, written only by captures and replays), the
     step rows the caller declared for the next capture (rp_ids, rp_nnew, rp_B), rp_epoch
     (mem_epoch at that capture: any device buffer freed since may be one its graph uses),
     rp_ev (recorded after each launch of the kept graph: its copies have read gpin),
     rp_check (TSASR_CUDA_GRAPHS_CHECK=1: the caller reruns each replayed step eagerly and
     compares) and rp_just (that rerun follows: its BEGIN captures nothing) */
  sr_rec rp;
  char *gpin;
  size_t gpin_off;
  int gpin_state; /* 0 not made yet, 1 ready, -1 unavailable (no replay) */
  const int32_t *rp_ids, *rp_nnew;
  int64_t rp_B;
  uint64_t mem_epoch, rp_epoch;
  cudaEvent_t rp_ev;
  int rp_check, rp_just;
  long rp_replayed; /* decoding steps replayed (cuda_graph_replays) */
  int prof_replays; /* TSASR_CUDA_PROFILE_REPLAYS=N: replays 8 to 8 + N - 1 of the process inside
                       the profiler's range (cudaProfilerStart/Stop), for ncu --profile-from-start
                       off: a replayed decoding step's kernels alone (tests/gpu/kprof.sh) */
  /* the bf16 rounding of a GEMM operand made by the op that wrote it (cu_round_want;
     TSASR_CUDA_FUSE_ROUND=1, while the weights' bf16 copy is held): xs (xs_cap values) holds
     xs_n values of xs_y, valid while nothing was launched after (launches: counted by
     cu_stream and the GEMM calls; xs_mark: the count after the writer's launch) */
  int fuse_round;
  unsigned short *xs;
  size_t xs_cap;
  const unsigned short *xs_ext; /* not NULL: xs_y's rounding is there instead (cu_round_have) */
  const float *xs_y;
  int64_t xs_n;
  uint64_t launches, xs_mark;
  int lt; /* single GEMMs on cuBLASLt with cached plans and the bias as epilogue (cu_lt.cu;
             cuda_set_lt) */
  int cudnn; /* conv1d and its backward on cuDNN (cu_cudnn.cu; cuda_set_cudnn; builds with cuDNN):
                0 off, 1 every shape, 2 (default) all but Cin = 1, 3 all but Cin = 1 and grouped */
  int dnn16; /* those convolutions on bf16 data in the bf16 precision (cuda_set_cudnn_bf16) */
  int sdpa;  /* attention on cuDNN's fused SDPA where it applies (cu_sdpa.cu; cuda_set_cudnn_sdpa;
                builds with cuDNN's frontend; on by default since session 17's H200 run) */
  int keep; /* SDPA's bf16 operands kept from the forward for the backward (attn_cfg.keep;
               cu_sdpa.cu; cuda_set_attn_keep; on by default) */
  int mres;       /* matmul_res reads the residual as cuBLASLt's C (cu_matmul.cu; cuda_set_matmul_res; on by
                     default, session 21; run on an H200 in session 23) */
  int conv_set;   /* conv1d_cl's backward writes a written dx without a zero fill first (cu_conv_cl.cu;
                     cuda_set_conv_set; on by default, session 22; run on an H200 in session 23) */
  int det;        /* the libraries' deterministic algorithms only: cuDNN's SDPA backward asked for its
                     deterministic one, convolutions only on deterministic cuDNN algorithms
                     (cuda_set_deterministic; off by default: ~2 % slower on an H200, session 23). The
                     backend's own kernels are deterministic either way */
  int adamw_runs; /* pset_adamw's runs in one launch (cu_optim.cu; cuda_set_adamw_runs; on by
                     default) rather than one launch per run */
  int bwd16; /* bf16 precision: the backward of x W^T with an f32 x on bf16 operands as well (x
                rounded; cu_matmul.cu; cuda_set_bwd16; on by default since session 17's H200 run) */
} cu_ctx;

/* The stream every kernel, cuBLAS call and staging copy goes to: made when the backend starts
 * (a blocking stream, so it keeps order with the legacy stream's synchronous copies and syncs),
 * the legacy stream before. A stream of its own is what CUDA graph capture needs. */
cudaStream_t cu_stream(void);
#define CU_BLAS_WS ((size_t)32 << 20) /* bytes of cuBLAS workspace */

/* Records a CUDA failure (what + the runtime's message, readable with cuda_last_error) and
 * returns TS_EDEVICE. */
int cu_fail(const char *what, cudaError_t st);
int cu_fail_blas(const char *what, cublasStatus_t st);
/* the same for another library's status (cuDNN): its name, the status and its message */
int cu_fail_lib(const char *what, const char *lib, int st, const char *msg);
extern "C" const char *cuda_last_error(void);

#define CU_TRY(call)                                     \
  do {                                                   \
    cudaError_t st_ = (call);                            \
    if (st_ != cudaSuccess) return cu_fail(#call, st_);  \
  } while (0)
#define CU_LAUNCHED(what)                                  \
  do {                                                     \
    cudaError_t st_ = cudaGetLastError();                  \
    if (st_ != cudaSuccess) return cu_fail(what, st_);     \
  } while (0)
/* launches an elementwise kernel over n items (grid-stride, 256 threads) and returns */
#define EL_RUN(kern, n, ...)                                  \
  do {                                                        \
    if ((n) > 0) {                                            \
      kern<<<cu_blocks(n), 256, 0, cu_stream()>>>(__VA_ARGS__); \
      CU_LAUNCHED(#kern);                                     \
    }                                                         \
    return TS_OK;                                             \
  } while (0)
#define CB_TRY(call)                                                \
  do {                                                              \
    cublasStatus_t st_ = (call);                                    \
    if (st_ != CUBLAS_STATUS_SUCCESS) return cu_fail_blas(#call, st_); \
  } while (0)
#define TS_TRY(x)          \
  do {                     \
    int rc_ = (x);         \
    if (rc_) return rc_;   \
  } while (0)

static inline cu_ctx *cu_of(backend *be) { return (cu_ctx *)be->ctx; }
static inline float *cu_f(const tensor *t) { return t ? (float *)t->data : 0; }
static inline int64_t cu_rows(const tensor *t) { return tensor_numel(t) / t->ne[t->ndim - 1]; }
static inline int64_t cu_last(const tensor *t) { return t->ne[t->ndim - 1]; }

/* The most blocks cu_blocks gives (0: 65535 x 8 only): cuda_set_elem_blocks' blocks per SM
 * times the SMs (cuda_backend.cu); and whether the f32 <-> bf16 conversions take eight values a
 * thread-step (cuda_set_elem_vec; cu_cvt.cu) */
extern unsigned g_cu_elem_cap;
extern int g_cu_elem_vec;

/* whether an element kernel's wide form may take these pointers: cuda_set_elem_vec is on and
 * every one is 16-byte aligned (NULL passes) */
static inline bool cu_vec_ok(const void *a, const void *b, const void *c = NULL, const void *d = NULL) {
  return g_cu_elem_vec && !(((uintptr_t)a | (uintptr_t)b | (uintptr_t)c | (uintptr_t)d) & 15);
}

/* f32 <-> bf16 conversions of n values (cu_cvt.cu): dst = src rounded to bf16 (nearest even),
 * dst = src's bf16 values widened, dst += them; eight a thread-step when cuda_set_elem_vec is on
 * and both pointers are 16-byte aligned, else one. TS_OK or a launch error. */
int cu_round_bf16(const float *src, unsigned short *dst, int64_t n);
int cu_widen_bf16(const unsigned short *src, float *dst, int64_t n);
int cu_add_bf16(const unsigned short *src, float *dst, int64_t n);
/* Column reductions in a fixed order (cu_colred.cu, cu_colred.cuh; no float atomics, so the same
 * bits every run). cu_colsum_add: out (N) += the column sums of g (rows, N), a bias's gradient.
 * cu_colred_gy: the row chunks (partials a column) for rows x N, at most cap and at most
 * CR_MAX_PART partials in all. cu_colpart: the partials' device buffer of at least bytes (its
 * own, grown on demand: an op's scratch stays as it is). cu_colpart_add: out (N) += the sums of
 * part (gy, N) over gy, in order. TS_OK, TS_ENOMEM or a launch error. */
int cu_colsum_add(backend *be, const float *g, float *out, int64_t rows, int64_t N);
int64_t cu_colred_gy(int64_t rows, int64_t N, int64_t cap);
int cu_colpart(backend *be, size_t bytes, double **out);
int cu_colpart_add(const double *part, int64_t gy, int64_t N, float *out);
/* the same for two outputs in one launch: a += pa's sums, b += pb's (a or b may be NULL) */
int cu_colpart_add2(const double *pa, const double *pb, int64_t gy, int64_t N, float *a, float *b);

/* Blocks for a grid-stride loop over n items with 256 threads (every kernel launched with it
 * strides: CU_LOOP or its own loop over the grid). */
static inline unsigned cu_blocks(int64_t n) {
  int64_t b = (n + 255) / 256;
  if (b < 1) b = 1;
  if (b > 65535 * 8) b = 65535 * 8;
  if (g_cu_elem_cap && b > (int64_t)g_cu_elem_cap) b = g_cu_elem_cap;
  return (unsigned)b;
}

/* Copies bytes of host memory to device memory dev in stream order without waiting for the
 * device: through a pinned ring, so the host array may change as soon as this returns, and
 * kernels queued before still read dev's old contents. Larger copies than half the ring (or
 * no pinned memory) go synchronously. */
#define CU_PIN_HALF ((size_t)256 << 10)
int cu_h2d(backend *be, void *dev, const void *host, size_t bytes);
/* The same, naming how the array changes from one decoding step to the next (sr_kind): inside
 * a captured step the copy goes to its own pinned memory and into the replay record. cu_h2d is
 * SR_NONE: a captured step that stages such an array is not replayed. */
int cu_h2d_kind(backend *be, void *dev, const void *host, size_t bytes, sr_kind kind);

/* A device copy of a small host array that is often passed again unchanged: returns the copy
 * made for an equal array earlier (compared byte for byte) or makes one. The copy stays valid
 * until 8 other arrays have been staged; kernels only read it. kind as cu_h2d_kind; inside a
 * capture only a copy the same capture made, of the same kind, is reused (a replayed graph
 * refreshes exactly the copies it made). */
int cu_stage_same(backend *be, const void *host, size_t bytes, sr_kind kind, const void **dev);
/* k_attn_dec_fused's per-row counters (cu_attn.cu: made on first use, or by
 * cuda_set_decode_attention(2); NULL when that switch is off, n passes AT_SK_CNT or they could
 * not be made) */
#define AT_SK_CNT 65536
unsigned *cu_dec_counters(cu_ctx *c, int64_t n);
/* the bytes of cu_ctx.red (cu_optim.cu): the sum of squares' total and per-block partials */
size_t cu_sumsq_bytes(void);
/* A device buffer *buf of *cap bytes grown to at least bytes (a quarter more; the old one freed
 * after its users, cu_free_later): TS_OK, TS_ENOMEM or what cudaMalloc said, named by what. */
int cu_grow(backend *be, void **buf, size_t *cap, size_t bytes, const char *what);
/* Device scratch of at least bytes (grown on demand; contents not kept between ops). */
int cu_scratch(backend *be, size_t bytes, void **out);
/* Carves an aligned piece of `bytes` from a scratch region at *cursor. */
static inline void *cu_carve(char **cursor, size_t bytes) {
  void *p = *cursor;
  *cursor += (bytes + 255) / 256 * 256;
  return p;
}
static inline size_t cu_rnd(size_t bytes) { return (bytes + 255) / 256 * 256; }

/* The layout of an attention's keep buffer (attn_cfg.keep; cu_sdpa.cu, cu_split_heads): q and
 * o in bf16 (nq values each), then k and v (nk each), each slot cu_rnd'ed; *need its bytes.
 * slots[4]: q, o, k, v in buf (NULL: only the size) */
static inline size_t cu_keep_layout(void *buf, int64_t nq, int64_t nk, unsigned short **slots) {
  size_t bq = cu_rnd(2 * (size_t)nq), bk = cu_rnd(2 * (size_t)nk);
  if (buf && slots) {
    char *b = (char *)buf;
    slots[0] = (unsigned short *)b, slots[1] = (unsigned short *)(b + bq);
    slots[2] = (unsigned short *)(b + 2 * bq), slots[3] = (unsigned short *)(b + 2 * bq + bk);
  }
  return 2 * bq + 2 * bk;
}

/* Row-major GEMM on the device in the style of gemm_f32, batched with element strides:
 * C_i (M,N) = alpha op(A_i) op(B_i) + beta C_i for i < batch. */
int cu_gemm(backend *be, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
            int64_t lda, int64_t sA, const float *B, int64_t ldb, int64_t sB, float beta, float *C,
            int64_t ldc, int64_t sC, int64_t batch);
/* C (M,N) = op(A) op(B) + beta C, row-major with leading dims, bf16 (raw bits) A and B, f32
 * accumulate and C. */
int cu_gemm_bf16(backend *be, int ta, int tb, int64_t M, int64_t N, int64_t K, const unsigned short *A, int64_t lda,
                 const unsigned short *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* cu_gemm_bf16 batched with element strides (cuBLAS strided-batched; batch 1 is cu_gemm_bf16) */
int cu_gemm_bf16_sb(backend *be, int ta, int tb, int64_t M, int64_t N, int64_t K, const unsigned short *A,
                    int64_t lda, int64_t sA, const unsigned short *B, int64_t ldb, int64_t sB, float beta, float *C,
                    int64_t ldc, int64_t sC, int64_t batch);
/* One GEMM on cuBLASLt (kernels/cu_lt.cu), row-major as cu_gemm: C (M,N) = alpha op(A) op(B)
 * + beta C + bias (bias: N values added to every row, or NULL), A and B both f32 (the
 * precision's compute type) or both bf16 (raw bits; f32 compute), C f32. done = 1 when it ran;
 * 0 when the switch is off or the shape has no plan: the caller then takes its cuBLAS path,
 * bias included. */
typedef struct cu_lt_call {
  int ta, tb;
  int64_t M, N, K;
  int bf16;
  const void *A;
  int64_t lda;
  const void *B;
  int64_t ldb;
  const float *bias;
  float alpha, beta;
  float *C;
  int64_t ldc;
  const float *R; /* NULL: C = alpha A B + beta C + bias in place; else C = alpha A B + beta R + bias (R read
                     as cuBLASLt's C, C written as its D; R has C's layout) */
} cu_lt_call;
int cu_lt_gemm(backend *be, const cu_lt_call *g, int *done);
/* conv1d's convolution (no bias) and its backward's dx and dw (no dbias) on cuDNN
 * (kernels/cu_cudnn.cu), with the ops' contracts (y overwritten; dx, dw added to): done = 1 when
 * it ran, 0 when the switch is off, the build has no cuDNN or the shape has no plan (the caller
 * then takes its im2col path). */
int cu_cudnn_conv1d(backend *be, const tensor *x, const tensor *w, tensor *y, int stride, int pad, int groups,
                    int *done);
int cu_cudnn_conv1d_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                        int stride, int pad, int groups, int *done);
/* attention forward / backward on cuDNN's fused SDPA (cu_sdpa.cu): *done = 1 when it ran the
 * call, 0 when it does not take it (switch off, a shape or setting it has no graph for, a build
 * without cuDNN's frontend) and the caller's kernels must */
int cu_sdpa_fwd(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out, tensor *lse,
                const attn_cfg *cfg, int *done);
int cu_sdpa_bwd(backend *be, const tensor *q, const tensor *k, const tensor *v, const tensor *out, const tensor *lse,
                const tensor *dout, tensor *dq, tensor *dk, tensor *dv, const attn_cfg *cfg, int *done);
/* be_ops.attn_keep_bytes: the bf16 q, o, k, v the SDPA forward keeps for its backward
 * (attn_cfg.keep) when cuDNN's SDPA would take the call; 0 otherwise */
size_t cu_sdpa_keep_bytes(backend *be, const tensor *q, const tensor *k, const attn_cfg *cfg);
/* the dtype a training step stores GEMM-input activations in (be_ops.act_dtype; cu_matmul.cu) */
ts_dtype cu_act_dtype(backend *be);

/* The same GEMM for count operand sets given as device arrays of pointers (cuBLAS batched):
 * C[i] (M,N) = alpha op(A[i]) op(B[i]) + beta C[i]; K >= 1. aligned: every matrix starts
 * 16-byte aligned (cuBLAS cannot see device-side pointers; its tensor-core kernels for pointer
 * batches need it), else the tf32/bf16 modes fall back to f32 SGEMM for this call. */
int cu_gemm_ptr(backend *be, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *const *A,
                int64_t lda, const float *const *B, int64_t ldb, float beta, float *const *C, int64_t ldc,
                int64_t count, int aligned);

/* ---- ops (signatures as in be_ops) ---- */
int cu_fill(backend *be, tensor *x, float v);
int cu_copy(backend *be, const tensor *src, tensor *dst);
int cu_axpby(backend *be, const tensor *x, float a, tensor *y, float b);
int cu_add(backend *be, const tensor *a, const tensor *b, tensor *c);
int cu_mul(backend *be, const tensor *a, const tensor *b, tensor *c);
int cu_mul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da, tensor *db);
int cu_act(backend *be, act_kind k, const tensor *x, tensor *y);
int cu_act_bwd(backend *be, act_kind k, const tensor *x, const tensor *dy, tensor *dx, int set);
int cu_swiglu(backend *be, const tensor *gate, const tensor *up, tensor *y);
int cu_swiglu_bwd(backend *be, const tensor *gate, const tensor *up, const tensor *dy, tensor *dgate,
                  tensor *dup, int set);
int cu_softmax(backend *be, const tensor *x, tensor *y);
int cu_softmax_bwd(backend *be, const tensor *y, const tensor *dy, tensor *dx);

int cu_matmul_res(backend *be, const tensor *a, const tensor *b, const tensor *bias, const tensor *r, tensor *c, int ta,
                  int tb);
int cu_matmul(backend *be, const tensor *a, const tensor *b, const tensor *bias, tensor *c, int ta, int tb,
              float beta);
int cu_matmul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da, tensor *db,
                  tensor *dbias, int ta, int tb, int da_set);

int cu_layernorm(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                 tensor *rstd, float eps);
int cu_layernorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean, const tensor *rstd,
                     const tensor *dy, const tensor *dxin, tensor *dx, tensor *dw, tensor *db);
int cu_layernorm_act(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                     tensor *rstd, act_kind k, float eps);
int cu_layernorm_act_bwd(backend *be, const tensor *x, const tensor *w, const tensor *b, const tensor *mean,
                         const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db, act_kind k,
                         int dx_set);
int cu_layernorm_ch(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                    tensor *rstd, float eps);
int cu_layernorm_ch_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean, const tensor *rstd,
                        const tensor *dy, tensor *dx, tensor *dw, tensor *db);
int cu_rmsnorm(backend *be, const tensor *x, const tensor *w, tensor *y, tensor *rstd, float eps);
int cu_rmsnorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *rstd, const tensor *dy,
                   const tensor *dxin, tensor *dx, tensor *dw);
int cu_groupnorm(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                 tensor *rstd, int groups, float eps);
int cu_groupnorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean, const tensor *rstd,
                     const tensor *dy, tensor *dx, tensor *dw, tensor *db, int groups);

int cu_attention(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out, tensor *lse,
                 const attn_cfg *cfg);
int cu_attention_bwd(backend *be, const tensor *q, const tensor *k, const tensor *v, const tensor *out,
                     const tensor *lse, const tensor *dout, tensor *dq, tensor *dk, tensor *dv, tensor *dbias,
                     const attn_cfg *cfg);

int cu_conv1d(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y, int stride, int pad,
              int groups);
int cu_conv1d_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                  tensor *dbias, int stride, int pad, int groups);
int cu_conv1d_cl(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y, int stride, int pad,
                 int groups);
int cu_conv1d_cl_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                     tensor *dbias, int stride, int pad, int groups, int dx_set);
int cu_weightnorm(backend *be, const tensor *v, const tensor *g, tensor *w, tensor *norm, int dim);
int cu_weightnorm_bwd(backend *be, const tensor *v, const tensor *g, const tensor *norm, const tensor *dw,
                      tensor *dv, tensor *dg, int dim);

int cu_split_heads(backend *be, tensor *x, tensor *q, tensor *k, tensor *v, const int32_t *pos, const int32_t *kvrow,
                   float theta, int merge, attn_keep *keep);
int cu_rope(backend *be, const tensor *x, tensor *y, const int32_t *pos, float theta, int inverse);
int cu_embed(backend *be, const tensor *table, const int32_t *ids, tensor *out);
int cu_embed_bwd(backend *be, const int32_t *ids, const tensor *dout, tensor *dtable);
int cu_set_rows(backend *be, const tensor *src, const int32_t *ids, tensor *dst);
int cu_sample(backend *be, const tensor *z, const sample_req *q, int32_t *tok, float *logp); /* cu_sample.cu */
int cu_weights_bf16(backend *be, const float *w, int64_t n, int on); /* cu_matmul.cu */
int cu_step_graph(backend *be, int phase);                          /* cuda_graph.cu */
int cu_step_replay(backend *be, const int32_t *ids, const int32_t *n_new, int64_t B, int *mode); /* cuda_graph.cu */
int cu_pin_ready(backend *be); /* whether cu_h2d has its pinned ring (made on first use) */
/* a device buffer being replaced: freed now, or after a captured step (cuda_backend.cu) */
int cu_free_later(backend *be, void *p);
void cu_free_dead(backend *be);
/* The fused rounding of GEMM operands (cu_matmul.cu): an op about to write n values at y asks
 * cu_round_want for a buffer to write their bf16 rounding into as well (NULL: not wanted, as
 * when no bf16 weight copy is held), and says cu_round_made after its launch; cu_matmul's bf16
 * path takes cu_round_of(x, n) instead of rounding x itself when nothing was launched since. */
unsigned short *cu_round_want(backend *be, const float *y, int64_t n);
void cu_round_made(backend *be, const float *y, int64_t n);
/* The same for a gradient about to be written at g that a GEMM's backward takes as its dC next
 * (act_bwd, packed swiglu_bwd, merge_heads): cu_matmul_bwd's bf16 path takes its rounding
 * instead of making one (the bf16 precision with fused rounding on; no weight copy needed). */
unsigned short *cu_round_want_bwd(backend *be, const float *g, int64_t n);
/* The rounding of the n values at y is already in bits (a buffer the caller keeps valid until
 * the next launch at least: cuDNN SDPA's bf16 output, which y holds widened): the next GEMM
 * takes it as cu_round_made's, under the same rule. */
void cu_round_have(backend *be, const float *y, int64_t n, const unsigned short *bits);
int cu_framecat(backend *be, const tensor *x, tensor *y, int k);
int cu_framecat_bwd(backend *be, const tensor *dy, tensor *dx, int k);
int cu_transpose(backend *be, const tensor *x, tensor *y, float beta);
int cu_stats_pool(backend *be, const tensor *x, const int32_t *lens, tensor *y, const tensor *dy, tensor *dx,
                  float eps);

int cu_xent(backend *be, tensor *logits, const int32_t *targets, const float *weights, float *losses,
            float grad_scale);
/* the weights' copy (cu_matmul.cu): a write to the n bytes at p by other than cu_adamw_runs
 * (the copy is no longer known current if they overlap w); and, for cu_adamw_runs, the copy to
 * update along with the parameters at p whose runs end by `end` values (NULL: none; then
 * an overlap clears it as cu_wcopy_touch does) */
void cu_wcopy_touch(cu_ctx *c, const void *p, size_t bytes);
unsigned short *cu_wcopy_follow(cu_ctx *c, const float *p, int64_t begin, int64_t end);
int cu_adamw_runs(backend *be, float *p, const float *g, float *m, float *v, const adamw_run *runs, int nr, float lr,
                  float beta1, float beta2, float eps, float wd, int64_t t);
int cu_adamw(backend *be, float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
             float beta2, float eps, float wd, int64_t t);
double cu_sumsq(backend *be, const float *x, int64_t n);

#endif
