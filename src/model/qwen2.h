/* qwen2.h — the Qwen2 / Qwen2.5 decoder stack (embeddings, L decoder layers, final RMSNorm,
 * tied or untied LM head) over a parameter set, with training forward and backward.
 * Tensor names follow Hugging Face ("model.layers.0.self_attn.q_proj.weight"), under an
 * optional prefix ("llm." inside a composed model). */
#ifndef TS_QWEN2_H
#define TS_QWEN2_H

#include "base/arena.h"
#include "nn/decoder.h"
#include "tensor/params.h"

typedef struct qwen2_cfg {
  int64_t V;        /* vocab_size */
  int64_t C;        /* hidden_size */
  int64_t L;        /* num_hidden_layers */
  int64_t Hq, Hkv;  /* num_attention_heads, num_key_value_heads */
  int64_t D;        /* head dim = C / Hq */
  int64_t F;        /* intermediate_size */
  float eps;        /* rms_norm_eps */
  float theta;      /* rope_theta */
  int tied;         /* tie_word_embeddings */
  int64_t ctx;      /* max_position_embeddings: positions a generated sequence may reach (0: 32768) */
} qwen2_cfg;

/* Qwen2's default max_position_embeddings, for configs without one. */
#define QWEN2_DEFAULT_CTX 32768
/* The context a sequence may reach: c->ctx, or the default when unset. */
int64_t qwen2_ctx(const qwen2_cfg *c);

typedef struct qwen2 {
  qwen2_cfg c;
  dec_cfg layer;    /* derived per-layer settings */
  pset *ps;         /* not owned */
  char prefix[64];
  int i_embed, i_norm, i_head; /* indices into ps (i_head == i_embed when tied) */
} qwen2;

/* Saved activations of one training forward. N = B*T. */
typedef struct qwen2_acts {
  int64_t B, T;
  float **xin;      /* (L+1) pointers: input of layer l, (N, C); xin[L] = last layer output */
  dec_acts *layer;  /* (L) */
  float *hid;       /* (N, C) final-norm output */
  float *rf;        /* (N) final-norm rstd */
  int infer;        /* from qwen2_forward_infer: layer activations not kept (no backward) */
} qwen2_acts;

int qwen2_declare(pset *ps, const char *prefix, const qwen2_cfg *c, ts_err *e);
/* Binds to an allocated pset holding the declared tensors. */
int qwen2_bind(qwen2 *m, pset *ps, const char *prefix, const qwen2_cfg *c, ts_err *e);
/* x (N, C) = embed_tokens[ids] */
int qwen2_embed(qwen2 *m, const int32_t *ids, int64_t N, float *x, ts_err *e);
int qwen2_embed_bwd(qwen2 *m, const int32_t *ids, int64_t N, const float *dx, ts_err *e);
/* Runs the layers and the final norm on input embeddings x (B, T, C) (kept by reference
 * until backward); pos (B, T); mask gives kv_len (B) for right padding. */
int qwen2_forward(qwen2 *m, int64_t B, int64_t T, const float *x, const int32_t *pos, const attn_cfg *mask,
                  qwen2_acts *a, arena *ar, ts_err *e);
/* The same forward without backward (scoring): each layer's activations are rewound once the
 * next layer has its input, so the arena holds two (N, C) buffers and one layer's activations
 * instead of all L; hid and rf as from qwen2_forward (bit for bit); qwen2_backward refuses it. */
int qwen2_forward_infer(qwen2 *m, int64_t B, int64_t T, const float *x, const int32_t *pos, const attn_cfg *mask,
                        qwen2_acts *a, arena *ar, ts_err *e);
/* The forward (infer = 0) or the inference forward (1) over a shared-prefix layout (decoder.h):
 * x (N, C), pos (N), N = pf->N (P Tp + the continuations' rows); acts as above with B = 1, T = N (qwen2_backward takes
 * them with any mask). */
int qwen2_forward_prefix(qwen2 *m, int64_t N, const float *x, const int32_t *pos, const dec_prefix *pf, int infer,
                         qwen2_acts *a, arena *ar, ts_err *e);
/* logits (R, V) = hid rows (R, C) . head^T */
int qwen2_head(qwen2 *m, const float *hid, int64_t R, float *logits, ts_err *e);
/* dhid (R, C) = dlogits . head (written: no zero fill needed first); head gradient added */
int qwen2_head_bwd(qwen2 *m, const float *hid, const float *dlogits, int64_t R, float *dhid, ts_err *e);
/* dhid (B, T, C) -> dx (B, T, C) (overwritten); parameter gradients added. */
int qwen2_backward(qwen2 *m, const qwen2_acts *a, const int32_t *pos, const attn_cfg *mask, const float *dhid,
                   float *dx, arena *ar, ts_err *e);



/* ---- configuration (qwen2_config.c) ---- */
#include <cjson/cJSON.h>
/* Reads a Hugging Face Qwen2 config.json object; what names it in messages. */
int qwen2_cfg_from_json(const cJSON *j, const char *what, qwen2_cfg *c, ts_err *e);
int qwen2_cfg_load(const char *path, qwen2_cfg *c, ts_err *e);
/* Adds the HF config fields of c to j (for saving a model directory). */
int qwen2_cfg_to_json(const qwen2_cfg *c, cJSON *j, ts_err *e);
int64_t qwen2_param_count(const qwen2_cfg *c);

/* ---- incremental decoding (qwen2_infer.c) ---- */
typedef struct qwen2_kv {
  int64_t B, Tmax;
  float *k, *v;       /* (L, B, Tmax, Hkv, D) on the backend's device */
  int32_t *len;       /* (B) host: cached tokens per sequence */
  backend *be;
} qwen2_kv;

int qwen2_kv_init(qwen2_kv *kv, const qwen2 *m, int64_t B, int64_t Tmax, ts_err *e);
void qwen2_kv_free(qwen2_kv *kv);
/* Copies sequence src's cache into dst (prefix sharing: G samples of one prompt). */
int qwen2_kv_copy_seq(qwen2_kv *kv, const qwen2 *m, int64_t src, int64_t dst, ts_err *e);

/* Copies sequence sb of cache src into sequence db of cache dst (same model; dst->Tmax must
 * hold src's length). Used to fan a prompt's prefill out to G samples. */
int qwen2_kv_copy_from(qwen2_kv *dst, int64_t db, const qwen2_kv *src, int64_t sb, const qwen2 *m, ts_err *e);

/* Feeds T new input embeddings x (B, T, C) per sequence (n_new[b] <= T of them valid;
 * rows past n_new[b] are padding), appends them to the cache and writes logits (B, V) of
 * each sequence's last valid new token (the head runs on B rows only). Sequences with
 * n_new[b] == 0 are left unchanged and their logits row is not written. x is backend memory;
 * logits is a host array (downloaded from a device backend). */
int qwen2_step(qwen2 *m, qwen2_kv *kv, int64_t T, const float *x, const int32_t *n_new, float *logits,
               arena *ar, ts_err *e);
/* The same, leaving the logits in backend memory: lg (>= B, V) gets *R rows, those of the
 * sequences with n_new[b] > 0 in order (decoding samples them on the device). */
int qwen2_step_into(qwen2 *m, qwen2_kv *kv, int64_t T, const float *x, const int32_t *n_new, float *lg, int64_t *R,
                    arena *ar, ts_err *e);
#endif
