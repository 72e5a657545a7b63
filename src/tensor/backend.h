/* backend.h — the backend op table. Model code never loops over tensor data: it calls the
 * op_* wrappers (ops.h), which check shapes and dispatch through this table. The CPU
 * backend (cpu_*.c) and the CUDA backend (kernels/) each fill one. Backward ops ADD into
 * gradient buffers (callers zero them once per step). Ops return TS_OK or an error code
 * (TS_ENOMEM for scratch memory, TS_EDEVICE for a failed kernel). */
#ifndef TS_BACKEND_H
#define TS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "tensor/tensor.h"

typedef enum act_kind { ACT_GELU = 0, ACT_RELU, ACT_SILU } act_kind;

/* Scaled-dot-product attention settings.
 *   score[b,h,i,j] = scale * q[b,i,h,:]·k[b,j,h/(Hq/Hkv),:] + bias[h,i,j]
 *   key j is visible to query i of batch b iff j < kv_len[b] (all if kv_len NULL)
 *   and, when causal, j <= q_pos0[b] + i (q_pos0 NULL means 0 for every b). */
/* What a forward may keep for its backward (attn_cfg.keep): a buffer of `bytes` of the
 * backend's memory, held by the caller from the forward to the backward of one attention call
 * (be_ops.attn_keep_bytes says how many; 0: the backend keeps nothing for this call). The
 * forward sets made when it wrote its copies (it may not: a shape its fast path refuses); the
 * backward reads them only then, in place of q, k, v and out, which must not change in
 * between. A device backend keeps the bf16 operands its fused attention took, so its backward
 * need not round them again. */
typedef struct attn_keep {
  void *buf;
  size_t bytes;
  int made;
  int qkv; /* split_heads (op_split_heads_keep) wrote q, k, v there too, so the forward need not
              round them; reset by op_attn_keep_bytes' callers with the rest (zeroed struct) */
} attn_keep;

typedef struct attn_cfg {
  int causal;
  float scale;
  const int32_t *kv_len;  /* (B) valid keys per batch row, host memory, or NULL */
  const int32_t *q_pos0;  /* (B) position of query 0 among the keys, host memory, or NULL */
  const tensor *bias;     /* (Hq, Tq, Tk) additive per-head bias (e.g. ALiBi), or NULL */
  attn_keep *keep;        /* the forward's copies for the backward (above), or NULL */
  int grad_set;           /* backward: dq, dk, dv are written, not added to (their old contents
                             unread: the caller need not zero them; dbias is still added); they
                             must not overlap q, k, v, out, lse or dout */
} attn_cfg;

/* Token choice for decoding (the sample op), one token t per row of logits z (R, V):
 *   logp[r] = z[t] / tau - log sum_j exp(z_j / tau) over the FULL row (tau = temperature, 1
 *   when greedy): the log-prob GRPO needs;
 *   t is drawn from the row without the banned ids (ids >= n_real, ban when >= 0, ban_row[r]
 *   when given and >= 0): greedy (temperature 0) takes the largest remaining logit (the first
 *   on ties); otherwise the inverse-CDF pick (rowsample.h) of softmax(z / tau) over the
 *   remaining ids with the uniform u[r] in [0, 1); with top_k / top_p (rs_truncated), the
 *   truncated pick of rowsample.h over the remaining ids instead (top-k first, then the nucleus
 *   of what top-k kept, as Hugging Face applies them; ties broken by id).
 * z is left unchanged; u, ban_row, tok and logp are host arrays (R). */
typedef struct sample_req {
  float temperature;
  int64_t n_real;
  int32_t ban;
  const int32_t *ban_row;
  const double *u;
  int64_t top_k; /* keep the top_k largest logits (0 = off) ... */
  float top_p;   /* ... then the smallest prefix holding top_p of their mass (0 or 1 = off) */
} sample_req;

/* one run of an AdamW update over several tensors at once (be_ops.adamw_runs): the n values at
 * offset off of the flat buffers, with weight decay (decay 1) or without (0) */
typedef struct adamw_run {
  int64_t off, n;
  int decay;
} adamw_run;

typedef struct backend backend;

typedef struct be_ops {
  const char *name;
  /* memory (device memory for a GPU backend) */
  void *(*alloc)(backend *be, size_t bytes);
  void (*release)(backend *be, void *p);
  /* called on each block a device arena hands out: devsim, while checking, fills it with NaN
   * bytes (a read before the first write shows); a no-op elsewhere */
  void (*fresh)(backend *be, void *p, size_t bytes);
  int (*to_device)(backend *be, void *dst, const void *src, size_t bytes, ts_err *e);
  int (*to_host)(backend *be, void *dst, const void *src, size_t bytes, ts_err *e);
  int (*sync)(backend *be, ts_err *e);

  /* elementwise and copies */
  int (*fill)(backend *be, tensor *x, float v);
  int (*copy)(backend *be, const tensor *src, tensor *dst);
  int (*axpby)(backend *be, const tensor *x, float a, tensor *y, float b); /* y = a x + b y */
  int (*add)(backend *be, const tensor *a, const tensor *b, tensor *c);
  int (*mul)(backend *be, const tensor *a, const tensor *b, tensor *c);
  int (*mul_bwd)(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da,
                  tensor *db);

  /* C = op(A) op(B) + bias + beta C; A (M,K) or (Bt,M,K), B (K,N) or (Bt,K,N) [transposed
   * storage when ta/tb], C (M,N) or (Bt,M,N), bias (N). */
  int (*matmul)(backend *be, const tensor *a, const tensor *b, const tensor *bias, tensor *c,
                 int ta, int tb, float beta);
  /* C = op(A) op(B) + bias + R: matmul with beta 1 onto the residual R (C's shape) instead of C,
   * so that R need not be copied into C first; R may be C itself (no other overlap) */
  int (*matmul_res)(backend *be, const tensor *a, const tensor *b, const tensor *bias, const tensor *r, tensor *c,
                    int ta, int tb);
  /* da_set: dA is written, not added to (its old contents unread); db, dbias are added */
  int (*matmul_bwd)(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da,
                     tensor *db, tensor *dbias, int ta, int tb, int da_set);

  /* norms over the last dim C of x (N,C); mean/rstd (N) are saved for backward */
  int (*layernorm)(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                    tensor *mean, tensor *rstd, float eps);
  /* dxin: what dx's values add onto: dx itself (added to), another tensor of dx's shape (a
   * residual's gradient, dx = dxin + ...), or NULL (written, dx = 0 + ...); dw, db add */
  int (*layernorm_bwd)(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                        const tensor *rstd, const tensor *dy, const tensor *dxin, tensor *dx, tensor *dw, tensor *db);
  /* y = act(LayerNorm(x)) over the last dim (y f32 or a bf16 activation); mean, rstd kept.
   * The backward takes dy at the activation's output and recomputes the norm's output from x,
   * mean, rstd, w, b (it is not stored); dw, db add, dx adds or (dx_set) is written (its old
   * contents unread); dx must not alias dy */
  int (*layernorm_act)(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                       tensor *rstd, act_kind k, float eps);
  int (*layernorm_act_bwd)(backend *be, const tensor *x, const tensor *w, const tensor *b, const tensor *mean,
                           const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db, act_kind k,
                           int dx_set);
  int (*rmsnorm)(backend *be, const tensor *x, const tensor *w, tensor *y, tensor *rstd, float eps);
  int (*rmsnorm_bwd)(backend *be, const tensor *x, const tensor *w, const tensor *rstd,
                      const tensor *dy, const tensor *dxin, tensor *dx, tensor *dw); /* dxin: as layernorm_bwd's */
  /* LayerNorm over the channel axis of x (B,C,T) (each (b, t) normalised over its C values: the
   * conv feature extractor's layer norm without transposes); w,b (C) or NULL; mean/rstd (B,T) */
  int (*layernorm_ch)(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                       tensor *mean, tensor *rstd, float eps);
  int (*layernorm_ch_bwd)(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                           const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db);
  /* x (B,C,T), groups G; mean/rstd (B,G); w,b (C) or NULL */
  int (*groupnorm)(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                    tensor *mean, tensor *rstd, int groups, float eps);
  int (*groupnorm_bwd)(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                        const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db,
                        int groups);

  int (*act)(backend *be, act_kind k, const tensor *x, tensor *y);
  /* set: dx written, not added to (its old contents unread) */
  int (*act_bwd)(backend *be, act_kind k, const tensor *x, const tensor *dy, tensor *dx, int set);
  /* y = silu(gate) * up; all (N,H). up NULL: gate holds both, rows [gate | up] (N,2H); in
   * the backward dgate then takes both gradients (N,2H) and dup is NULL. Gradients add, or with
   * set are written (their old contents unread). */
  int (*swiglu)(backend *be, const tensor *gate, const tensor *up, tensor *y);
  int (*swiglu_bwd)(backend *be, const tensor *gate, const tensor *up, const tensor *dy,
                     tensor *dgate, tensor *dup, int set);
  /* softmax over the last dim */
  int (*softmax)(backend *be, const tensor *x, tensor *y);
  int (*softmax_bwd)(backend *be, const tensor *y, const tensor *dy, tensor *dx);

  /* q (B,Tq,Hq,D), k,v (B,Tk,Hkv,D), out (B,Tq,Hq,D), lse (B,Hq,Tq) saved for backward */
  int (*attention)(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out,
                    tensor *lse, const attn_cfg *cfg);
  /* the bytes attn_cfg.keep needs for an attention call on q (B, Tq, Hq, D), k (B, Tk, Hkv, D)
   * with cfg (and lse wanted): 0 when this backend keeps nothing for it */
  size_t (*attn_keep_bytes)(backend *be, const tensor *q, const tensor *k, const attn_cfg *cfg);
  int (*attention_bwd)(backend *be, const tensor *q, const tensor *k, const tensor *v,
                        const tensor *out, const tensor *lse, const tensor *dout, tensor *dq,
                        tensor *dk, tensor *dv, tensor *dbias, const attn_cfg *cfg);

  /* half-split rotary embedding on x (B,T,H,D) with positions pos (B,T) (host int32);
   * inverse rotates back (the backward). x and y may alias. */
  int (*rope)(backend *be, const tensor *x, tensor *y, const int32_t *pos, float theta, int inverse);
  /* merge 0: q (B,T,Hq,D), k, v (B,T,Hkv,D) = heads [0,Hq), [Hq,Hq+Hkv), [Hq+Hkv,Hq+2Hkv) of
   * x (B,T,Hq+2Hkv,D), q and k rotated as rope does when pos is not NULL; merge 1: the
   * reverse (x overwritten, rotated back). kvrow (B T, host) or NULL, split only: k and v are
   * row tables (.., R, Hkv, D) and the keys/values of x's row r go to row kvrow[r] (a KV
   * cache's next positions); the other rows are left as they are. keep or NULL (split only,
   * kvrow NULL): the attention forward's keep for these q, k, v (attn_cfg.keep): a backend
   * that keeps its operands writes them there too and sets keep->qkv */
  int (*split_heads)(backend *be, tensor *x, tensor *q, tensor *k, tensor *v, const int32_t *pos,
                     const int32_t *kvrow, float theta, int merge, attn_keep *keep);

  /* x (B,Cin,T), w (Cout,Cin/groups,K), bias (Cout), y (B,Cout,Tout) */
  int (*conv1d)(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y,
                 int stride, int pad, int groups);
  int (*conv1d_bwd)(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx,
                     tensor *dw, tensor *dbias, int stride, int pad, int groups);

  /* channels-last: x (B,T,Cin), y (B,Tout,Cout), w and bias as conv1d's; dw, dbias add, dx adds
   * or (dx_set) is written (its old contents unread) */
  int (*conv1d_cl)(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y, int stride, int pad,
                   int groups);
  int (*conv1d_cl_bwd)(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                       tensor *dbias, int stride, int pad, int groups, int dx_set);

  /* w = g * v / ||v||, norm over every dim of v (O,I,K) but `dim`; g and norm have v's shape
   * with 1 everywhere except `dim` */
  int (*weightnorm)(backend *be, const tensor *v, const tensor *g, tensor *w, tensor *norm, int dim);
  int (*weightnorm_bwd)(backend *be, const tensor *v, const tensor *g, const tensor *norm,
                         const tensor *dw, tensor *dv, tensor *dg, int dim);

  /* table (V,C), ids (N) host int32, out (N,C) */
  int (*embed)(backend *be, const tensor *table, const int32_t *ids, tensor *out);
  int (*embed_bwd)(backend *be, const int32_t *ids, const tensor *dout, tensor *dtable);
  /* dst[ids[i]] = src[i] for the N rows of src (N, C) into dst (M, C); ids (N) host int32,
   * distinct (a KV-cache append: one op for all sequences' new rows) */
  int (*set_rows)(backend *be, const tensor *src, const int32_t *ids, tensor *dst);

  /* x (B,T,C) -> y (B,T/k,k*C): k consecutive frames side by side; tail frames dropped */
  int (*framecat)(backend *be, const tensor *x, tensor *y, int k);
  int (*framecat_bwd)(backend *be, const tensor *dy, tensor *dx, int k);

  /* Softmax cross-entropy over logits (N,V) with targets (N) and weights (N) (host memory).
   * loss[i] = w[i] * (logsumexp(logits[i]) - logits[i][t[i]]) into losses (N, host).
   * When grad_scale != 0 the logits are overwritten with
   * dlogits[i] = grad_scale * w[i] * (softmax(logits[i]) - onehot(t[i])). A target < 0 or a
   * zero weight means the row carries no loss (and gets zero gradient). */
  int (*xent)(backend *be, tensor *logits, const int32_t *targets, const float *weights,
               float *losses, float grad_scale);

  /* AdamW with decoupled weight decay over flat buffers of n floats; step t >= 1 */
  int (*adamw)(backend *be, float *p, const float *g, float *m, float *v, int64_t n, float lr,
                float beta1, float beta2, float eps, float wd, int64_t t);
  /* the same over nr runs of the flat buffers (disjoint, each in bounds; a run's weight decay wd
   * or 0): the same bits as one adamw call per run, in as few launches as the backend can */
  int (*adamw_runs)(backend *be, float *p, const float *g, float *m, float *v, const adamw_run *runs, int nr,
                    float lr, float beta1, float beta2, float eps, float wd, int64_t t);
  /* sum of squares of n floats (for the global grad norm) */
  double (*sumsq)(backend *be, const float *x, int64_t n);
  int (*transpose)(backend *be, const tensor *x, tensor *y, float beta); /* y (B,C,R) = x (B,R,C)^T + beta y; ops_layout.h */
  /* statistics pooling over time (ops_pool.h): x (B,C,T), lens (B) host or NULL, y (B,2C) = [mean, std].
   * dy NULL: forward, writes y. dy (B,2C) given: backward, reads the saved y, adds into dx. */
  int (*stats_pool)(backend *be, const tensor *x, const int32_t *lens, tensor *y, const tensor *dy, tensor *dx,
                    float eps);
  /* decoding's token choice (sample_req above): tok, logp (R) host */
  int (*sample)(backend *be, const tensor *z, const sample_req *q, int32_t *tok, float *logp);
  /* a hint around decoding: on = 1, the n floats at w (parameters) stay unchanged until the
   * call with on = 0; a backend may meanwhile read a bf16 copy of them (CUDA, in the bf16
   * precision: every x W^T against them). Backends that have no use
   * for it do nothing; a failure to make the copy is not an error (the f32 weights serve). */
  int (*weights_bf16)(backend *be, const float *w, int64_t n, int on);
  /* the dtype a training step stores GEMM-input activations in (op_act_dtype); NULL: DT_F32 */
  ts_dtype (*act_dtype)(backend *be);
  /* a hint around a decoding step (TS_STEP_*): BEGIN, and until END the ops only launch work
   * (no result read back, no sync, no allocation the step did not make before), so a backend
   * may record the step and submit it at END as one graph; ABORT ends a step that failed (its
   * work may be lost) and DONE ends the decoding (a backend frees what it kept). Backends that
   * have no use for it do nothing. */
  int (*step_graph)(backend *be, int phase);
  /* before each decoding step's BEGIN: the step's B rows, their token ids (the caller's
   * array, the same one every step) and which rows take a token (n_new: 0 or 1 each). The
   * backend may submit the step without its host code, as a replay of the last one it
   * recorded with the same rows: *mode = 1, and the caller skips the step's ops, advancing
   * its cache lengths itself; 2: replayed, and the caller is asked to run the step's ops again
   * (they write the same cache rows) and compare the KV cache and logits; 0: not replayed. NULL: never. */
  int (*step_replay)(backend *be, const int32_t *ids, const int32_t *n_new, int64_t B, int *mode);
} be_ops;

enum { TS_STEP_BEGIN = 1, TS_STEP_END = 0, TS_STEP_ABORT = 2, TS_STEP_DONE = 3 };

struct backend {
  const be_ops *ops;
  ts_device device;
  void *ctx;
};

/* Process-wide CPU backend (threads configured on first use). */
backend *be_cpu(void);
/* The CUDA backend, or NULL with e set when not built or no device. */
backend *be_cuda(ts_err *e);

typedef struct be_info {
  const char *blas;   /* "OpenBLAS 0.3.21 (openmp)" or "built-in GEMM" */
  int omp_threads;
  int blas_threads;
  int blas_not_openmp; /* an OpenBLAS other than its OpenMP build: slow inside the engine's OpenMP regions */
  int denormals_flushed; /* the CPU backend's threads flush subnormals to zero (cpu_fpenv.h) */
  int cuda_built;
  int cuda_runtime;   /* CUDART_VERSION style, 12040 = 12.4 */
  int cuda_driver;
  int cuda_devices;
  char cuda_device_name[320];
  char cuda_status[160];
  char bf16_gemm[128]; /* the CPU's bf16 GEMM: "oneDNN 2.6.3 (brg:avx512_core_amx_bf16: AMX)", or "none (why)" */
} be_info;

void be_get_info(be_info *info);
/* Sets the GEMM precision for be's kind of backend (process-wide): "f32" (the default), "bf16"
 * (inputs rounded to bf16, f32 accumulate: tensor cores on cuda, oneDNN's AMX / AVX512-BF16
 * kernels on cpu and devsim) or "tf32" (cuda only). TS_EARG for an unknown name or tf32 off
 * cuda, TS_EUNSUP where this build or machine cannot; e says why. */
int be_set_gemm(backend *be, const char *mode, ts_err *e);
/* 1 when mode names a GEMM precision ("f32", "tf32", "bf16"), whatever the device: callers check
 * the name before starting a device */
int be_gemm_known(const char *mode);
/* Sets the number of CPU threads for our OpenMP loops and BLAS together. */
void be_cpu_set_threads(int n);

#endif
