/* ops.h — the ops model code calls: each checks shapes and dtypes, names the problem in e,
 * and dispatches through the backend's op table (backend.h documents the semantics).
 * Backward ops add into their gradient outputs; any gradient output may be NULL. */
#ifndef TS_OPS_H
#define TS_OPS_H

#include "tensor/backend.h"

int op_fill(backend *be, tensor *x, float v, ts_err *e);
int op_copy(backend *be, const tensor *src, tensor *dst, ts_err *e);
int op_axpby(backend *be, const tensor *x, float a, tensor *y, float b, ts_err *e);
int op_add(backend *be, const tensor *a, const tensor *b, tensor *c, ts_err *e);
/* backward of c = a + b: da += dc, db += dc */
int op_add_bwd(backend *be, const tensor *dc, tensor *da, tensor *db, ts_err *e);
/* c = s a */
int op_scale(backend *be, const tensor *a, float s, tensor *c, ts_err *e);
int op_scale_bwd(backend *be, const tensor *dc, float s, tensor *da, ts_err *e);
int op_mul(backend *be, const tensor *a, const tensor *b, tensor *c, ts_err *e);
int op_mul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da,
               tensor *db, ts_err *e);

int op_matmul(backend *be, const tensor *a, const tensor *b, const tensor *bias, tensor *c, int ta,
              int tb, float beta, ts_err *e);
/* c = op(a) op(b) + bias + r, r of c's shape (f32): matmul with beta 1 onto r, r not copied
 * into c first where the backend can read r as it writes c (r may be c itself; c may overlap
 * none of a, b, and r no part of c unless it is c) */
int op_matmul_res(backend *be, const tensor *a, const tensor *b, const tensor *bias, const tensor *r, tensor *c,
                  int ta, int tb, ts_err *e);
/* the same with dA written, not added to (da's old contents unread: no zero fill needed
 * first); db and dbias still added. da must not overlap a, b or dc */
int op_matmul_bwd_set(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da, tensor *db,
                      tensor *dbias, int ta, int tb, ts_err *e);
int op_matmul_bwd_da(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da, tensor *db,
                     tensor *dbias, int ta, int tb, int da_set, ts_err *e);
int op_matmul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da,
                  tensor *db, tensor *dbias, int ta, int tb, ts_err *e);

int op_layernorm(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                 tensor *mean, tensor *rstd, float eps, ts_err *e);
int op_layernorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                     const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db,
                     ts_err *e);
/* the same with dx = dxin + the input gradient: dxin a residual's gradient of dx's shape (dx's
 * old values unread: no copy of it into dx first), NULL (dx written: no zero fill first), or dx
 * itself (op_layernorm_bwd). dxin overlaps dx only by being it. The values are those of the
 * copy (or fill) and op_layernorm_bwd. */
int op_layernorm_bwd_to(backend *be, const tensor *x, const tensor *w, const tensor *mean, const tensor *rstd,
                        const tensor *dy, const tensor *dxin, tensor *dx, tensor *dw, tensor *db, ts_err *e);
/* y = act(LayerNorm(x)) over the last dim, the norm's output never stored: y f32 or a bf16
 * activation (op_act_dtype), mean and rstd (rows) kept. The backward takes dy at the
 * activation's output and recomputes the norm's output from x, the stats, w and b; dx, dw, db
 * add (dx must not overlap dy). The same values as op_layernorm then op_act (and their
 * backwards; CUDA's split passes for few rows of 65,536 values or more, which the fused op
 * does not take, may differ in the last bits), with one pass over x where they take three, and
 * no norm output kept. */
int op_layernorm_act(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                     tensor *rstd, act_kind k, float eps, ts_err *e);
int op_layernorm_act_bwd(backend *be, const tensor *x, const tensor *w, const tensor *b, const tensor *mean,
                         const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db, act_kind k,
                         ts_err *e);
/* the same with dx written, not added to (its old contents unread: no zero fill needed first;
 * dx must not overlap x, w, b, the statistics, dy, dw or db) */
int op_layernorm_act_bwd_set(backend *be, const tensor *x, const tensor *w, const tensor *b, const tensor *mean,
                             const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db, act_kind k,
                             ts_err *e);
/* LayerNorm over the channel axis of x (B,C,T): as op_layernorm on x's (B,T,C) transpose, without
 * it; mean/rstd (B*T). Gradients add into dx, dw, db (dx may be dy itself: it then holds dy plus
 * the input gradient). */
int op_layernorm_ch(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                    tensor *mean, tensor *rstd, float eps, ts_err *e);
int op_layernorm_ch_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                        const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db,
                        ts_err *e);
int op_rmsnorm(backend *be, const tensor *x, const tensor *w, tensor *y, tensor *rstd, float eps,
               ts_err *e);
int op_rmsnorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *rstd,
                   const tensor *dy, tensor *dx, tensor *dw, ts_err *e);
/* dx = dxin + the input gradient, as op_layernorm_bwd_to */
int op_rmsnorm_bwd_to(backend *be, const tensor *x, const tensor *w, const tensor *rstd, const tensor *dy,
                      const tensor *dxin, tensor *dx, tensor *dw, ts_err *e);
int op_groupnorm(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                 tensor *mean, tensor *rstd, int groups, float eps, ts_err *e);
int op_groupnorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                     const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db,
                     int groups, ts_err *e);

int op_act(backend *be, act_kind k, const tensor *x, tensor *y, ts_err *e);
/* the same with dx written, not added to (its old contents unread: no zero fill first) */
int op_act_bwd_set(backend *be, act_kind k, const tensor *x, const tensor *dy, tensor *dx, ts_err *e);
int op_act_bwd_da(backend *be, act_kind k, const tensor *x, const tensor *dy, tensor *dx, int set, ts_err *e);
int op_act_bwd(backend *be, act_kind k, const tensor *x, const tensor *dy, tensor *dx, ts_err *e);
int op_swiglu(backend *be, const tensor *gate, const tensor *up, tensor *y, ts_err *e);
int op_swiglu_bwd(backend *be, const tensor *gate, const tensor *up, const tensor *dy,
                  tensor *dgate, tensor *dup, ts_err *e);
/* the same on gate and up stored side by side in each row, as one GEMM against the stacked
 * gate_proj/up_proj weights leaves them: gate_up (..., 2H) = [gate | up], y (..., H);
 * backward: dgate_up += [dgate | dup] */
int op_swiglu_packed(backend *be, const tensor *gate_up, tensor *y, ts_err *e);
int op_swiglu_packed_bwd(backend *be, const tensor *gate_up, const tensor *dy, tensor *dgate_up, ts_err *e);
/* the same with dgate_up written, not added to (no zero fill first) */
int op_swiglu_packed_bwd_set(backend *be, const tensor *gu, const tensor *dy, tensor *dgu, ts_err *e);
int op_swiglu_packed_bwd_da(backend *be, const tensor *gu, const tensor *dy, tensor *dgu, int set, ts_err *e);
int op_softmax(backend *be, const tensor *x, tensor *y, ts_err *e);
int op_softmax_bwd(backend *be, const tensor *y, const tensor *dy, tensor *dx, ts_err *e);

int op_attention(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out,
                 tensor *lse, const attn_cfg *cfg, ts_err *e);
/* the bytes of backend memory attn_cfg.keep should hold for this call (backend.h attn_keep), 0
 * when the backend keeps nothing: a caller that runs the backward allocates them with the
 * activations and passes the same keep to the forward and the backward */
size_t op_attn_keep_bytes(backend *be, const tensor *q, const tensor *k, const attn_cfg *cfg);
int op_attention_bwd(backend *be, const tensor *q, const tensor *k, const tensor *v,
                     const tensor *out, const tensor *lse, const tensor *dout, tensor *dq,
                     tensor *dk, tensor *dv, tensor *dbias, const attn_cfg *cfg, ts_err *e);

int op_rope(backend *be, const tensor *x, tensor *y, const int32_t *pos, float theta, ts_err *e);
/* backward: dx += rope^-1(dy) */
int op_rope_bwd(backend *be, const tensor *dy, tensor *dx, const int32_t *pos, float theta,
                tensor *scratch, ts_err *e);

/* The heads of one GEMM against the stacked q/k/v projections, qkv (B,T,Hq+2Hkv,D) (head
 * order: Hq query heads, Hkv key heads, Hkv value heads), taken apart into q (B,T,Hq,D), k and
 * v (B,T,Hkv,D), with q and k rotated by RoPE at pos (B,T) (host; NULL: no rotation).
 * merge_heads is its backward: qkv = the heads of q, k, v put back (overwritten), q and k
 * rotated back. */
int op_split_heads(backend *be, const tensor *qkv, tensor *q, tensor *k, tensor *v, const int32_t *pos, float theta,
                   ts_err *e);
int op_merge_heads(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *qkv, const int32_t *pos,
                   float theta, ts_err *e);
/* the same, also writing q, k, v into the attention forward's keep where the backend keeps its
 * operands (attn_cfg.keep; keep->qkv then set): the forward need not round them again. keep is
 * the one the forward on these q, k, v will get */
int op_split_heads_keep(backend *be, const tensor *qkv, tensor *q, tensor *k, tensor *v, const int32_t *pos,
                        float theta, attn_keep *keep, ts_err *e);
/* split_heads for a decoding step: q as above; the keys and values of qkv's row r (row-major
 * over B, T) go straight to row kvrow[r] (host) of the caches kc and vc, row tables of whole
 * heads ((B Tmax, Hkv D) or (B, Tmax, Hkv, D)): no k/v scratch and no row scatter after. The
 * rows must increase (so no two are the same: the decoder's next positions, sequence by
 * sequence); rows out of range or out of order are an error. */
int op_split_heads_kv(backend *be, const tensor *qkv, tensor *q, tensor *kc, tensor *vc, const int32_t *kvrow,
                      const int32_t *pos, float theta, ts_err *e);

/* The decoding-step hint of be_ops.step_graph (phase TS_STEP_*): generate brackets each
 * decoding step's layers and head with BEGIN and END, and ends with DONE (ABORT after a failed
 * step). Errors name the backend's reason. */
int op_step_graph(backend *be, int phase, ts_err *e);
/* be_ops.step_replay: *mode 0 (run the step's ops), 1 (replayed: skip them) or 2 (replayed:
 * run them too and compare the KV cache and logits); ids and n_new: B int32 each. */
int op_step_replay(backend *be, const int32_t *ids, const int32_t *n_new, int64_t B, int *mode, ts_err *e);

/* The dtype a training step stores the activations in that only feed a GEMM as its x (the norms'
 * and activations' outputs before a projection): DT_BF16 where the backend asks for it
 * (be_ops.act_dtype: the bf16 GEMM precision with bf16 storage on), else DT_F32. rmsnorm,
 * layernorm, act and swiglu_packed then write y rounded to bf16 (nearest even), matmul /
 * matmul_bwd take such an x as a (not transposed), and conv1d / conv1d_bwd as x. The bf16 GEMM precision rounds x to bf16
 * anyway, so only the bytes change: half the memory for what backward keeps, and on CUDA the
 * GEMM reads bf16 operands. */
ts_dtype op_act_dtype(backend *be);

/* The hint of be_ops.weights_bf16: on = 1 (decoding) or 2 (a training step's forward and
 * backward), the n parameters at w stay unchanged until the call with on = 0 (a backend may
 * read a bf16 copy meanwhile; CUDA makes one for on = 2 only with TSASR_CUDA_TRAIN_COPY=1 or
 * TSASR_CUDA_BF16_ACTS=1).
 * devsim reports an optimizer step on them while it is on. */
int op_weights_bf16(backend *be, const float *w, int64_t n, int on, ts_err *e);

/* output length of a conv1d */
int64_t op_conv1d_out_len(int64_t T, int64_t K, int stride, int pad);
int op_conv1d(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y,
              int stride, int pad, int groups, ts_err *e);
int op_conv1d_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx,
                  tensor *dw, tensor *dbias, int stride, int pad, int groups, ts_err *e);
/* conv1d channels-last: x (B, T, Cin), y (B, Tout, Cout), w (Cout, Cin/groups, K) and bias as
 * conv1d's (the same weights give the same convolution); x may be a bf16 activation */
int op_conv1d_cl(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y, int stride, int pad,
                 int groups, ts_err *e);
int op_conv1d_cl_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                     tensor *dbias, int stride, int pad, int groups, ts_err *e);
/* the same with dx written, not added to (its old contents unread: no zero fill needed first;
 * dx must not overlap x, w, dy, dw or dbias); dw, dbias still add */
int op_conv1d_cl_bwd_set(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                         tensor *dbias, int stride, int pad, int groups, ts_err *e);
int op_weightnorm(backend *be, const tensor *v, const tensor *g, tensor *w, tensor *norm, int dim,
                  ts_err *e);
int op_weightnorm_bwd(backend *be, const tensor *v, const tensor *g, const tensor *norm,
                      const tensor *dw, tensor *dv, tensor *dg, int dim, ts_err *e);

int op_embed(backend *be, const tensor *table, const int32_t *ids, tensor *out, ts_err *e);
int op_embed_bwd(backend *be, const int32_t *ids, const tensor *dout, tensor *dtable, ts_err *e);
/* dst (M, C) rows ids[i] = src (N, C) rows i; ids distinct, host (backend.h) */
/* one token per row of z (R, V) (backend.h sample_req); tok, logp (R) host */
int op_sample(backend *be, const tensor *z, const sample_req *q, int32_t *tok, float *logp, ts_err *e);
int op_set_rows(backend *be, const tensor *src, const int32_t *ids, tensor *dst, ts_err *e);
int op_framecat(backend *be, const tensor *x, tensor *y, int k, ts_err *e);
int op_framecat_bwd(backend *be, const tensor *dy, tensor *dx, int k, ts_err *e);

int op_xent(backend *be, tensor *logits, const int32_t *targets, const float *weights,
            float *losses, float grad_scale, ts_err *e);
int op_adamw(backend *be, float *p, const float *g, float *m, float *v, int64_t n, float lr,
             float beta1, float beta2, float eps, float wd, int64_t t, ts_err *e);
/* AdamW over nr runs of the flat buffers p, g, m, v (runs in increasing order of offset, not
 * overlapping; a run with decay 0 takes no weight decay): the same bits as one op_adamw per run */
int op_adamw_runs(backend *be, float *p, const float *g, float *m, float *v, const adamw_run *runs, int nr, float lr,
                  float beta1, float beta2, float eps, float wd, int64_t t, ts_err *e);
double op_sumsq(backend *be, const float *x, int64_t n);

#endif
