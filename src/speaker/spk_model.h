/* spk_model.h — the built-in speaker encoder: a small x-vector style TDNN on 80-dim Kaldi fbank.
 *
 *   features (B, T, n_mels)  -> transpose -> (B, n_mels, T)
 *   frame layer l = 0..L-1:  conv1d (kernel K_l, stride 1, "same" padding) -> ReLU ->
 *                            LayerNorm over channels (per frame)            -> (B, C_l, T)
 *   statistics pooling over the first lens[b] frames: mean and std          -> (B, 2 C_{L-1})
 *   Linear                                                                   -> (B, E) embedding
 *
 * Training adds an additive-angular-margin head (spk_aam.h) whose class weights "head.weight"
 * (n_classes, E) live in the same parameter set. Tensor names: "frame.L.conv.weight"
 * (C_l, C_{l-1}, K_l), "frame.L.conv.bias", "frame.L.norm.weight", "frame.L.norm.bias",
 * "embed.weight" (E, 2 C_{L-1}), "embed.bias", "head.weight".
 * Every op goes through the backend table (ops.h, ops_layout.h, ops_pool.h); buffers passed in
 * are host memory of the CPU backend. A model directory holds config.json and
 * model.safetensors. */
#ifndef TS_SPK_MODEL_H
#define TS_SPK_MODEL_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "base/arena.h"
#include "tensor/params.h"

#define SPK_MAX_LAYERS 8
#define SPK_MODEL_KIND "tsasr-spk-tdnn"

typedef struct spk_cfg {
  int n_mels;                    /* 80 */
  int sample_rate;               /* 16000 */
  int n_layers;                  /* frame layers, 1..SPK_MAX_LAYERS */
  int channels[SPK_MAX_LAYERS];  /* output channels of each frame layer */
  int kernels[SPK_MAX_LAYERS];   /* odd kernel sizes */
  int emb_dim;                   /* E */
  int n_classes;                 /* rows of the training head; 0 = none */
  float ln_eps;                  /* LayerNorm epsilon */
  float pool_eps;                /* added to the variance before the square root */
} spk_cfg;

typedef struct spk_model {
  spk_cfg c;
  pset ps;
  int i_cw[SPK_MAX_LAYERS], i_cb[SPK_MAX_LAYERS], i_nw[SPK_MAX_LAYERS], i_nb[SPK_MAX_LAYERS];
  int i_ew, i_eb, i_head; /* i_head = -1 without a head */
} spk_model;

/* Saved activations of one forward (arena memory); see spk_forward. */
typedef struct spk_acts {
  int64_t B, T;
  const int32_t *lens;             /* (B) caller-owned, or NULL = all T */
  float *in;                       /* (B, n_mels, T) */
  float *h[SPK_MAX_LAYERS];        /* (B, C_l, T) conv output (before ReLU) */
  float *t[SPK_MAX_LAYERS];        /* (B, T, C_l) ReLU output, frame-major (LayerNorm input) */
  float *mean[SPK_MAX_LAYERS];     /* (B*T) */
  float *rstd[SPK_MAX_LAYERS];     /* (B*T) */
  float *o[SPK_MAX_LAYERS];        /* (B, C_l, T) layer output */
  float *pool;                     /* (B, 2 C_{L-1}) */
} spk_acts;

/* 4 layers (128, 128, 128, 384) with kernels (5, 3, 3, 1), E = 128, no head. */
void spk_cfg_default(spk_cfg *c);
/* Checks the sizes; the message names what is wrong. */
int spk_cfg_check(const spk_cfg *c, ts_err *e);
int spk_cfg_from_json(const cJSON *j, const char *what, spk_cfg *c, ts_err *e);
/* Adds the config keys ("model": SPK_MODEL_KIND, ...) to the object j. */
int spk_cfg_to_json(const spk_cfg *c, cJSON *j, ts_err *e);

/* Declares and allocates the parameters (zeroed); with_grad/with_adam as pset_alloc. */
int spk_model_init(spk_model *m, const spk_cfg *c, backend *be, int with_grad, int with_adam, ts_err *e);
/* He-normal convolutions, 1/sqrt(fan-in) linear layers, unit norms, zero biases; seeded. */
void spk_model_init_weights(spk_model *m, uint64_t seed);
void spk_model_free(spk_model *m);
int64_t spk_model_n_params(const spk_model *m, int with_head);

/* x (B, T, n_mels) features (host) with lens (B) valid frames each (NULL: all T) ->
 * emb (B, E). acts (may be NULL when no backward follows) and every activation are allocated
 * from ar; the caller resets the arena. */
int spk_forward(spk_model *m, int64_t B, int64_t T, const float *x, const int32_t *lens, float *emb,
                spk_acts *acts, arena *ar, ts_err *e);
/* demb (B, E) -> parameter gradients added into m->ps.g (no input gradient). Scratch from ar
 * (rewound before returning). */
int spk_backward(spk_model *m, const spk_acts *acts, const float *demb, arena *ar, ts_err *e);

/* Model directory: DIR/config.json and DIR/model.safetensors (with or without the head). */
int spk_model_save(const spk_model *m, const char *dir, const cJSON *extra, ts_err *e);
/* Loads a model directory for inference (no gradients); the messages name the directory. */
int spk_model_load(spk_model *m, const char *dir, backend *be, ts_err *e);

#endif
