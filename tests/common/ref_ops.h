/* ref_ops.h — naive double-precision reference implementations of the engine's ops, written
 * independently of src/tensor (plain loops, straight from the definitions). Each has the
 * tu_ref_fn shape (ctx, inputs, output) so it serves both the forward checks and the
 * finite-difference gradient checks. */
#ifndef TS_REF_OPS_H
#define TS_REF_OPS_H

#include <stdint.h>

typedef struct ref_mm {
  int64_t batch_a, batch_b, M, N, K;
  int ta, tb, has_bias;
} ref_mm; /* in: a, b, [bias] */
void ref_matmul(void *ctx, double *const *in, double *out);

typedef struct ref_norm {
  int64_t N, C;
  double eps;
  int affine, has_bias;
  int act1; /* ref_layernorm: 0, or the activation kind + 1 applied to the output (layernorm_act) */
} ref_norm; /* in: x, [w], [b] */
void ref_layernorm(void *ctx, double *const *in, double *out);
void ref_rmsnorm(void *ctx, double *const *in, double *out);

typedef struct ref_lnc {
  int64_t B, C, T;
  double eps;
  int affine, has_bias;
} ref_lnc; /* in: x (B,C,T), [w], [b]: each (b, t) normalised over its C channels */
void ref_layernorm_ch(void *ctx, double *const *in, double *out);

typedef struct ref_gn {
  int64_t B, C, T;
  int groups;
  double eps;
} ref_gn; /* in: x, w, b */
void ref_groupnorm(void *ctx, double *const *in, double *out);

typedef struct ref_n {
  int64_t n, rows, cols;
  int kind; /* activation kind for ref_act (0 gelu, 1 relu, 2 silu) */
} ref_n;
void ref_act(void *ctx, double *const *in, double *out);     /* in: x */
void ref_swiglu(void *ctx, double *const *in, double *out);  /* in: gate, up */
void ref_softmax(void *ctx, double *const *in, double *out); /* in: x (rows, cols) */
void ref_mul(void *ctx, double *const *in, double *out);     /* in: a, b */
void ref_add(void *ctx, double *const *in, double *out);     /* in: a, b */

typedef struct ref_attn {
  int64_t B, Tq, Tk, Hq, Hkv, D;
  int causal;
  double scale;
  const int32_t *kv_len, *q_pos0;
  int has_bias;
} ref_attn; /* in: q, k, v, [bias] */
void ref_attention(void *ctx, double *const *in, double *out);

typedef struct ref_rope_c {
  int64_t B, T, H, D;
  const int32_t *pos;
  double theta;
} ref_rope_c; /* in: x */
void ref_rope(void *ctx, double *const *in, double *out);

typedef struct ref_heads_c {
  int64_t B, T, Hq, Hkv, D;
  const int32_t *pos; /* NULL: no rotation */
  double theta;
} ref_heads_c; /* in: packed x (B,T,Hq+2Hkv,D); out: q, k, v flattened one after another */
void ref_split_heads(void *ctx, double *const *in, double *out);
void ref_swiglu_packed(void *ctx, double *const *in, double *out); /* ref_n rows, cols = H; in: (rows, 2H) */

typedef struct ref_conv {
  int64_t B, Cin, T, Cout, K, Tout;
  int stride, pad, groups, has_bias;
  int cl; /* channels-last (op_conv1d_cl): x (B, T, Cin), out (B, Tout, Cout) */
} ref_conv; /* in: x, w, [bias] */
void ref_conv1d(void *ctx, double *const *in, double *out);

typedef struct ref_wn {
  int64_t ne[3];
  int dim;
} ref_wn; /* in: v, g */
void ref_weightnorm(void *ctx, double *const *in, double *out);

typedef struct ref_emb {
  int64_t V, C, N;
  const int32_t *ids;
} ref_emb; /* in: table */
void ref_embed(void *ctx, double *const *in, double *out);

typedef struct ref_fc {
  int64_t B, T, C;
  int k;
} ref_fc; /* in: x */
void ref_framecat(void *ctx, double *const *in, double *out);

typedef struct ref_xent_c {
  int64_t N, V;
  const int32_t *targets;
  const float *weights;
} ref_xent_c; /* in: logits; out: (N) losses */
void ref_xent(void *ctx, double *const *in, double *out);

#endif
