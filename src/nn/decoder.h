/* decoder.h — one pre-norm transformer decoder layer of the Qwen2 family, forward and
 * backward over backend ops:
 *   h = x + o_proj(attn(rope(q_proj(rms1(x))), rope(k_proj(.)), v_proj(.)))
 *   y = h + down(silu(gate(rms2(h))) * up(rms2(h)))
 * Activations needed by backward are carved from an arena and kept in dec_acts. */
#ifndef TS_DECODER_H
#define TS_DECODER_H

#include "base/arena.h"
#include "tensor/backend.h"

typedef struct dec_cfg {
  int64_t C;        /* hidden size */
  int64_t Hq, Hkv;  /* attention heads, key/value heads (Hq % Hkv == 0) */
  int64_t D;        /* head dim */
  int64_t F;        /* MLP intermediate size */
  float eps;        /* RMSNorm epsilon */
  float theta;      /* RoPE base */
  int qkv_bias;     /* q/k/v projections carry a bias (Qwen2: yes) */
} dec_cfg;

/* Views of one layer's parameters (weights) or their gradients; Linear weights are
 * stored (out, in) as in PyTorch. */
typedef struct dec_params {
  tensor ln1;            /* (C) input_layernorm.weight */
  tensor wqkv;           /* ((Hq+2Hkv)*D, C): q_proj, k_proj, v_proj weights stacked (stored so) */
  tensor bqkv;           /* ((Hq+2Hkv)*D) their biases, or no data without qkv_bias */
  tensor wo;             /* (C, Hq*D) */
  tensor ln2;            /* (C) post_attention_layernorm.weight */
  tensor wgu;            /* (2F, C): gate_proj, up_proj stacked */
  tensor wd;             /* (C, F) down_proj */
} dec_params;

/* A batch of prefixes and their continuations laid out as one block of rows, packed without
 * padding (GRPO: a prompt and its G completions; SFT: each sample's prompt and its response):
 * the P prefixes' rows first, plen[p] each, then the Bc continuations' rows, clen[c] each (Tp
 * and Tc are the longest). Continuation c attends to the rows of prefix of[c], then causally
 * to its own rows: what the Bc sequences prefix ‖ continuation give when computed apart, with
 * each prefix's rows computed once however many continuations share it, and no row spent on
 * padding. The row-wise work (projections, norms, MLP) runs on all rows together; attention
 * gathers each part's queries, keys and values into padded blocks. Positions (RoPE) are the
 * caller's: a continuation's row t sits at plen[of[c]] + t. */
typedef struct dec_prefix {
  int64_t P, Tp, Bc, Tc;
  const int32_t *plen;  /* (P) rows of each prefix, 1..Tp */
  const int32_t *of;    /* (Bc) the prefix of each continuation */
  const int32_t *clen;  /* (Bc) rows of each continuation, 0..Tc */
  /* from dec_prefix_init (host memory from its arena): */
  int64_t N, Np;        /* rows in all; the prefixes' rows (the continuations' start there) */
  int32_t *prow, *crow; /* (P), (Bc) the first row of each prefix, each continuation */
  int32_t *pq;          /* (P Tp) the row of each prefix's t-th query and key (padding: its first row) */
  int32_t *pplace;      /* (Np) for each prefix row, its place p Tp + t in that padded block */
  int32_t *kidx;        /* (Bc (Tp + Tc)) the row each continuation's j-th key comes from */
  int32_t *qidx;        /* (Bc Tc) the row of each continuation's t-th query (padding: its first row, or 0) */
  int32_t *pidx;        /* (N - Np) for each continuation row, its place c Tc + t among the padded queries */
  int32_t *klen;        /* (Bc) keys continuation c sees: plen[of[c]] + clen[c] */
  int32_t *q0;          /* (Bc) where its first row sits among them: plen[of[c]] */
} dec_prefix;

/* Checks the layout and derives the row maps. */
int dec_prefix_init(dec_prefix *pf, arena *ar, ts_err *e);

/* Saved activations of one forward, for backward. N = B*T rows. */
typedef struct dec_acts {
  int64_t B, T;
  const float *x;        /* (N, C) layer input (caller-owned; must live until backward) */
  ts_dtype adt;          /* h1, h2, a: DT_F32, or DT_BF16 (op_act_dtype: they only feed GEMMs) */
  void *h1;              /* (N, C) rms1(x) */
  float *r1;             /* (N) its rstd */
  float *q, *k, *v;      /* (N, Hq*D), (N, Hkv*D) x2, after RoPE for q and k */
  float *att, *lse;      /* (N, Hq*D) attention output, (B, Hq, T) */
  float *h;              /* (N, C) residual after attention */
  void *h2;              /* (N, C) rms2(h) */
  float *r2;             /* (N) */
  float *gu;             /* (N, 2F) [gate | up] rows */
  void *a;               /* (N, F) silu(gate)*up */
  const dec_prefix *pf;  /* the layout of dec_forward_prefix (kept by reference), or NULL */
  attn_keep keep;        /* what the backend's attention forward keeps for its backward (buf NULL:
                            nothing; not with pf) */
} dec_acts;

/* Names the layer's tensors "<prefix>input_layernorm.weight" etc. and adds them to a pset,
 * q/k/v and gate/up packed so that dec_bind can view each group as one matrix. */
struct pset;
int dec_declare(struct pset *ps, const char *prefix, const dec_cfg *c, ts_err *e);
/* Fills p with views of layer `prefix` from the weights (grad = 0) or gradients (grad = 1). */
int dec_bind(const struct pset *ps, const char *prefix, const dec_cfg *c, int grad, dec_params *p, ts_err *e);

/* x, y (B, T, C); pos (B, T) host positions; mask gives kv_len / q_pos0 (its causal,
 * scale and bias fields are set here). acts may be NULL for inference (no saving; scratch
 * still comes from the arena). */
int dec_forward(backend *be, const dec_cfg *c, const dec_params *p, int64_t B, int64_t T, const float *x,
                float *y, const int32_t *pos, const attn_cfg *mask, dec_acts *acts, arena *ar, ts_err *e);
/* The same over a shared-prefix layout: x, y (N, C) with N = pf->N rows, pos (N);
 * backward reads the layout from acts. */
int dec_forward_prefix(backend *be, const dec_cfg *c, const dec_params *p, int64_t N, const float *x, float *y,
                       const int32_t *pos, const dec_prefix *pf, dec_acts *acts, arena *ar, ts_err *e);
/* Key/value cache of one layer for incremental decoding: rows [0, len[b]) of sequence b
 * hold its past keys and values. */
typedef struct dec_kv {
  float *k, *v;          /* (B, Tmax, Hkv, D) */
  int64_t Tmax;
  const int32_t *len;    /* (B) host: tokens already cached per sequence */
  const int32_t *n_new;  /* (B) host: valid new tokens per sequence (<= T) */
} dec_kv;

/* Inference forward with a cache: the T new tokens of sequence b sit at positions
 * len[b]..len[b]+T-1 of its cache (pos must match); their keys and values are written
 * there and attend to everything before them. Needs len[b] + T <= Tmax. Nothing is saved
 * for backward. y may be x (in place: no copies of the residual stream). */
int dec_forward_kv(backend *be, const dec_cfg *c, const dec_params *p, int64_t B, int64_t T, const float *x,
                   float *y, const int32_t *pos, const dec_kv *kv, arena *ar, ts_err *e);

/* dy (B,T,C) -> dx (B,T,C) (overwritten); parameter gradients are added into gp. For a
 * forward over a shared-prefix layout, mask is not read. */
int dec_backward(backend *be, const dec_cfg *c, const dec_params *p, const dec_params *gp,
                 const dec_acts *acts, const int32_t *pos, const attn_cfg *mask, const float *dy, float *dx,
                 arena *ar, ts_err *e);

#endif
