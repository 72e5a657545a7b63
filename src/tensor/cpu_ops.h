/* cpu_ops.h — the CPU backend's op implementations (f32, contiguous, row-major). Shapes are
 * validated by the op_* wrappers in ops.c before these run; see backend.h for semantics. */
#ifndef TS_CPU_OPS_H
#define TS_CPU_OPS_H

#include "tensor/backend.h"

int cpu_fill(backend *be, tensor *x, float v);
int cpu_copy(backend *be, const tensor *src, tensor *dst);
int cpu_axpby(backend *be, const tensor *x, float a, tensor *y, float b);
int cpu_add(backend *be, const tensor *a, const tensor *b, tensor *c);
int cpu_mul(backend *be, const tensor *a, const tensor *b, tensor *c);
int cpu_mul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da, tensor *db);

int cpu_matmul(backend *be, const tensor *a, const tensor *b, const tensor *bias, tensor *c, int ta,
                int tb, float beta);
int cpu_matmul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da,
                    tensor *db, tensor *dbias, int ta, int tb, int da_set);
/* be_ops.matmul_res: R copied into C (unless it is C), then matmul with beta 1 */
int cpu_matmul_res(backend *be, const tensor *a, const tensor *b, const tensor *bias, const tensor *r, tensor *c,
                   int ta, int tb);

int cpu_layernorm_ch(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                     tensor *mean, tensor *rstd, float eps);
int cpu_layernorm_ch_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                         const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db);
int cpu_layernorm(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                   tensor *mean, tensor *rstd, float eps);
int cpu_layernorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                      const tensor *rstd, const tensor *dy, const tensor *dxin, tensor *dx, tensor *dw, tensor *db);
int cpu_layernorm_act(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                      tensor *rstd, act_kind k, float eps);
int cpu_layernorm_act_bwd(backend *be, const tensor *x, const tensor *w, const tensor *b, const tensor *mean,
                          const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db, act_kind k,
                          int dx_set);
int cpu_rmsnorm(backend *be, const tensor *x, const tensor *w, tensor *y, tensor *rstd, float eps);
int cpu_rmsnorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *rstd,
                    const tensor *dy, const tensor *dxin, tensor *dx, tensor *dw);
int cpu_groupnorm(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y,
                   tensor *mean, tensor *rstd, int groups, float eps);
int cpu_groupnorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean,
                       const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db,
                       int groups);

int cpu_act(backend *be, act_kind k, const tensor *x, tensor *y);
int cpu_act_bwd(backend *be, act_kind k, const tensor *x, const tensor *dy, tensor *dx, int set);
int cpu_swiglu(backend *be, const tensor *gate, const tensor *up, tensor *y);
int cpu_swiglu_bwd(backend *be, const tensor *gate, const tensor *up, const tensor *dy,
                    tensor *dgate, tensor *dup, int set);
int cpu_softmax(backend *be, const tensor *x, tensor *y);
int cpu_softmax_bwd(backend *be, const tensor *y, const tensor *dy, tensor *dx);

int cpu_attention(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out,
                   tensor *lse, const attn_cfg *cfg);
int cpu_attention_bwd(backend *be, const tensor *q, const tensor *k, const tensor *v,
                       const tensor *out, const tensor *lse, const tensor *dout, tensor *dq,
                       tensor *dk, tensor *dv, tensor *dbias, const attn_cfg *cfg);

int cpu_split_heads(backend *be, tensor *x, tensor *q, tensor *k, tensor *v, const int32_t *pos,
                    const int32_t *kvrow, float theta, int merge, attn_keep *keep);
int cpu_rope(backend *be, const tensor *x, tensor *y, const int32_t *pos, float theta, int inverse);

int cpu_conv1d(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y,
                int stride, int pad, int groups);
int cpu_conv1d_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx,
                    tensor *dw, tensor *dbias, int stride, int pad, int groups);
int cpu_conv1d_cl(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y, int stride, int pad,
                  int groups);
int cpu_conv1d_cl_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                      tensor *dbias, int stride, int pad, int groups, int dx_set);
int cpu_weightnorm(backend *be, const tensor *v, const tensor *g, tensor *w, tensor *norm, int dim);
int cpu_weightnorm_bwd(backend *be, const tensor *v, const tensor *g, const tensor *norm,
                        const tensor *dw, tensor *dv, tensor *dg, int dim);

int cpu_embed(backend *be, const tensor *table, const int32_t *ids, tensor *out);
int cpu_embed_bwd(backend *be, const int32_t *ids, const tensor *dout, tensor *dtable);
int cpu_sample(backend *be, const tensor *z, const sample_req *q, int32_t *tok, float *logp); /* cpu_sample.c */
int cpu_set_rows(backend *be, const tensor *src, const int32_t *ids, tensor *dst);
int cpu_framecat(backend *be, const tensor *x, tensor *y, int k);
int cpu_framecat_bwd(backend *be, const tensor *dy, tensor *dx, int k);

int cpu_xent(backend *be, tensor *logits, const int32_t *targets, const float *weights,
              float *losses, float grad_scale);
int cpu_adamw(backend *be, float *p, const float *g, float *m, float *v, int64_t n, float lr,
               float beta1, float beta2, float eps, float wd, int64_t t);
int cpu_adamw_runs(backend *be, float *p, const float *g, float *m, float *v, const adamw_run *runs, int nr,
                   float lr, float beta1, float beta2, float eps, float wd, int64_t t);
double cpu_sumsq(backend *be, const float *x, int64_t n);
int cpu_transpose(backend *be, const tensor *x, tensor *y, float beta); /* cpu_transpose.c */
int cpu_stats_pool(backend *be, const tensor *x, const int32_t *lens, tensor *y, const tensor *dy,
                   tensor *dx, float eps); /* cpu_pool.c */

/* helpers shared by the cpu_*.c files */
static inline float *cpu_f(const tensor *t) { return t ? (float *)t->data : 0; }
static inline int64_t cpu_rows(const tensor *t) { return tensor_numel(t) / t->ne[t->ndim - 1]; }
static inline int64_t cpu_last(const tensor *t) { return t->ne[t->ndim - 1]; }

#endif
