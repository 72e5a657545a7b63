/* encoder.h — the speech encoder family: Hugging Face Data2VecAudio, wav2vec2 (group-norm
 * "base" and stable-layer-norm "large" variants) and fairseq data2vec 2.0 (fused qkv, ALiBi
 * with a learned per-head scale, prenet + shared blocks), forward and backward over backend
 * ops on a batch of waveforms of different lengths.
 *
 * Use:
 *   enc_cfg c;  enc_config_load("DIR", &c, e);          // DIR/config.json (+ preprocessor_config.json)
 *   enc_declare(&ps, "encoder.", &c, e);  ... pset_alloc(&ps, ...)
 *   enc_model m; enc_bind(&m, &ps, "encoder.", &c, e);
 *   enc_load_file(&m, "DIR", e);     // or st_open + enc_load(&m, f, src_prefix or NULL, e)
 *   be_arena_init(&arena, ps.be, ...);                             // activations in the backend's memory
 *   enc_acts a; enc_forward(&m, B, L, wav, len, &a, &arena, e);  // wav, len host; a.out (B, a.T, C), a.frames (B)
 *   enc_backward(&m, &a, dout, arena, e);                          // adds parameter gradients
 *
 * Tensor names are the reference implementation's (HF: "feature_extractor.conv_layers.0.conv.weight",
 * fairseq data2vec 2.0: "modality_encoders.AUDIO.local_encoder.conv_layers.0.0.weight",
 * "blocks.0.attn.qkv.weight"), under the pset prefix. A fairseq data2vec 2.0 checkpoint is
 * exported once by tools/export_data2vec2.py (config.json with model_type "data2vec2-audio"). */
#ifndef TS_ENCODER_H
#define TS_ENCODER_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "base/arena.h"
#include "tensor/params.h"
#include "tensor/safetensors.h"

#define ENC_MAX_CONV 16
#define ENC_FBANK_WIN 400 /* fbank front end: window and hop in samples (16 kHz, 25 ms / 10 ms) */
#define ENC_FBANK_HOP 160

typedef enum enc_kind {
  ENC_DATA2VEC_AUDIO = 0, /* HF Data2VecAudio: LN conv stack, 5 pos convs with LN, post-LN blocks */
  ENC_WAV2VEC2,           /* HF Wav2Vec2: weight-normed pos conv, group/layer conv norm, post/pre-LN */
  ENC_DATA2VEC2           /* fairseq data2vec 2.0 audio, exported by tools/export_data2vec2.py */
} enc_kind;

typedef enum enc_fe_norm { ENC_FE_GROUP = 0, ENC_FE_LAYER } enc_fe_norm;

typedef struct enc_cfg {
  enc_kind kind;
  /* convolutional feature extractor */
  int n_conv;
  int64_t conv_dim[ENC_MAX_CONV];
  int conv_kernel[ENC_MAX_CONV], conv_stride[ENC_MAX_CONV];
  int conv_bias;
  enc_fe_norm fe_norm;  /* group: GroupNorm(C, C) on layer 0 only; layer: LayerNorm after every conv */
  act_kind fe_act;      /* feat_extract_activation */
  /* transformer */
  int64_t C, H, F;      /* hidden_size, num_attention_heads, intermediate_size */
  int L;                /* blocks: num_hidden_layers (data2vec 2.0: shared blocks) */
  int L_prenet;         /* data2vec 2.0 prenet (modality-specific) blocks, run first; else 0 */
  act_kind act;         /* hidden_act */
  float eps;            /* layer_norm_eps (feature projection, encoder and block norms) */
  int stable_ln;        /* wav2vec2 do_stable_layer_norm: pre-LN blocks + final LN */
  int qkv_bias;         /* data2vec 2.0 fused qkv carries a bias */
  /* positional convolution */
  int pos_layers;       /* data2vec: conv layers with LN (5); wav2vec2: 1 weight-normed conv */
  int pos_kernel, pos_groups;
  /* data2vec 2.0 ALiBi */
  int alibi;            /* additive bias -slope_h |i-j| * max(scale_h, 0) */
  int alibi_scale_heads;/* 1 (one learned scale) or H (one per head) */
  /* input normalisation (zero mean, unit variance per utterance over its valid samples) */
  int do_normalize;
  float norm_eps;       /* HF feature extractor 1e-7, fairseq 1e-5 */
  /* input features: 0 = the waveform (one input channel, the references' front end); D > 0 =
   * D-bin Kaldi log-mel fbank frames (config "feature_type": "fbank", "num_mel_bins": D; our
   * extension for small encoders trained from scratch): 25 ms windows every 10 ms, each bin
   * mean/variance normalised per utterance when do_normalize; the conv stack then runs on
   * (B, D, frames) and its hop is counted in fbank frames. */
  int fbank;
} enc_cfg;

/* Fills c from a parsed config.json object (HF Data2VecAudioConfig / Wav2Vec2Config, or the
 * "data2vec2-audio" config written by tools/export_data2vec2.py); what names it in messages.
 * Normalisation defaults to on (eps 1e-7 for HF, 1e-5 for data2vec 2.0); the keys
 * "do_normalize" / "normalize_eps" in the object override. */
int enc_config_from_json(const cJSON *j, const char *what, enc_cfg *c, ts_err *e);
/* Reads path (a config.json, or a directory holding config.json and optionally an HF
 * preprocessor_config.json whose do_normalize is honoured). */
int enc_config_load(const char *path, enc_cfg *c, ts_err *e);
/* Fbank frames of n samples (0 when shorter than one window). */
int64_t enc_fbank_frames(int64_t n);
/* Output frames of the conv stack for n input samples (0 when too short). */
int64_t enc_frames(const enc_cfg *c, int64_t n);
/* Hop and receptive field of one output frame, in samples. */
int64_t enc_hop(const enc_cfg *c);

/* Declares every encoder tensor under prefix (HF / fairseq names). */
int enc_declare(pset *ps, const char *prefix, const enc_cfg *c, ts_err *e);

typedef struct enc_model {
  enc_cfg c;
  pset *ps;            /* not owned */
  char prefix[64];
  int first, count;    /* the encoder's views are ps->v[first .. first+count) */
} enc_model;

/* Binds to an allocated pset holding the declared tensors. */
int enc_bind(enc_model *m, pset *ps, const char *prefix, const enc_cfg *c, ts_err *e);
/* Loads the weights from a safetensors file (F32, BF16, F16 or F64) into the pset (on a device
 * backend through a host staging buffer of the largest tensor's size). src_prefix is the prefix
 * of the encoder's tensors in the file ("" for an HF Data2VecAudioModel/Wav2Vec2Model,
 * "data2vec_audio." or "wav2vec2." for the CTC heads' files); NULL detects it. A missing tensor,
 * a wrong shape, or a tensor the config does not account for (e.g. a layer past
 * num_hidden_layers) is an error naming the file and the tensor. The wav2vec2 weight-norm
 * tensors are also accepted under torch's parametrizations names (original0 = g, original1 = v). */
int enc_load(enc_model *m, const st_file *f, const char *src_prefix, ts_err *e);
/* Opens DIR/model.safetensors and loads it (enc_load with a detected prefix). */
int enc_load_file(enc_model *m, const char *path, ts_err *e);

/* Saved activations of one forward (all carved from the arena passed to enc_forward). The
 * float buffers are the backend's memory (device memory on a GPU; read them with
 * be_download); only the fields marked (host) are host memory. */
typedef struct enc_layer_acts {
  float *x;             /* (N, C) block input (= previous block's output), N = B*T */
  void *n1;             /* (N, C) pre-LN: LN1(x), in gdt; post-LN: x + attn (what LN1 normalises), f32 */
  float *m1, *r1;       /* (N) LN1 stats */
  float *q, *k, *v;     /* (N, C) */
  float *att, *lse;     /* (N, C) attention output before out_proj, (B, H, T) */
  float *h;             /* (N, C) pre-LN: x + attn; post-LN: LN1 output */
  void *n2;             /* (N, C) pre-LN: LN2(h), in gdt; post-LN: h + ffn (what LN2 normalises), f32 */
  float *m2, *r2;       /* (N) LN2 stats */
  float *u;             /* (N, F) FFN pre-activation */
  void *g;              /* (N, F) its activation, in gdt */
  ts_dtype gdt;         /* DT_F32, or DT_BF16 (op_act_dtype) for what only feeds a GEMM: g, and pre-LN's n1, n2 */
  attn_keep keep;       /* what the backend's attention forward keeps for its backward (host struct,
                           its buffer the backend's memory; buf NULL: nothing) */
} enc_layer_acts;

typedef struct enc_acts {
  int64_t B, L, T;      /* batch, padded samples, padded frames */
  int32_t *frames;      /* (B) valid frames per utterance (host) */
  int64_t *len;         /* (B) valid samples per utterance (host) */
  float *wav;           /* (B, L) normalised input (fbank mode: (B, D, Tf) features) */
  float *wm, *wr;       /* (B) normalisation stats */
  /* conv stack, layer i: input xin[i] (B, Cin, Tin), conv out co[i] (B, Co, To); layer norm
   * mode: cn[i] = the layer norm of co[i] over its channels (B, Co, To) with stats cm, cr
   * (B, To); gn[i] = act(...). With cl every one of them is (B, T, C) instead (the norm a row
   * LayerNorm fused with the activation, op_layernorm_act: no cn). The inner layers' inputs xin[1 .. n_conv-1] (they only feed a
   * convolution) are stored in xdt: DT_F32, or DT_BF16 (op_act_dtype) */
  int64_t conv_T[ENC_MAX_CONV + 1];
  ts_dtype xdt;
  float *xin[ENC_MAX_CONV + 1], *co[ENC_MAX_CONV], *cn[ENC_MAX_CONV],
      *cm[ENC_MAX_CONV], *cr[ENC_MAX_CONV], *gn[ENC_MAX_CONV];
  float *feat;          /* (B, T, Cl) conv features */
  float *fn, *fm, *fr;  /* feature-projection LN and stats */
  float *hp;            /* (B, T, C) projected (padded frames zeroed for HF models) */
  /* positional conv: pin[j] (B, C, T) input of pos layer j, po[j] conv out (B, C, T[+1]) (with
   * cl, data2vec's are (B, T, C), pin[0] is hp itself and there is no pn);
   * wav2vec2: pt[0] its transpose (B, T+1, C); data2vec: pn[j] the norm of po[j] over its
   * channels (B, C, T) with stats pm, pr (B, T) */
  float *pin[8], *po[8], *pt[8], *pn[8], *pm[8], *pr[8];
  float *wn_w, *wn_norm; /* wav2vec2 weight-normed kernel (C, C/G, K) and norms (K) */
  float *pos;           /* (B, T, C) */
  float *x0, *x0m, *x0r;/* x0 = hp + pos, its LN stats (post-LN models) */
  float *ab, *abase, *as;/* ALiBi bias (H, T, T), its unscaled base (H, T, T), relu(scale) (Ha) */
  int n_layers;
  enc_layer_acts *lay;  /* (n_layers) (host array; its buffers are the backend's) */
  float *last;          /* (B, T, C) last block output (stable: before the final LN) */
  float *om, *orr;      /* final LN stats (stable) */
  float *out;           /* (B, T, C) encoder output */
  int infer;            /* from enc_forward_infer: no activations kept (no backward) */
  int cl;               /* channels-last (enc_cl_on, fixed at the forward): the layer-norm mode's
                         * conv stack and data2vec's positional stack on (B, T, C) */
} enc_acts;

/* Runs the encoder on wav (B, L) (host memory, uploaded here; samples past len[b] are
 * ignored) with len (B) valid samples per utterance (host, 1..L). Fills a: a->out (B, a->T, C)
 * (backend memory) with a->T = enc_frames(L) and a->frames[b] = enc_frames(len[b]) (host);
 * rows past frames[b] are padding (not meaningful). Everything, including what backward
 * needs, lives in ar: an arena in the backend's memory (be_arena_init), whose host side
 * (arena_host_alloc) holds frames, len and lay. The conv stack's activations are kept only
 * when one of its tensors is trainable (the pset has gradients and it is not frozen);
 * otherwise only its output features are (a frozen feature encoder saves most of the memory). */
int enc_forward(enc_model *m, int64_t B, int64_t L, const float *wav, const int64_t *len, enc_acts *a,
                arena *ar, ts_err *e);
/* The same forward for inference (decoding): nothing is kept for backward. The positional
 * branch's and each block's activations are rewound as soon as they are used, so the arena
 * holds the conv features, two (B, T, C) buffers and one block's activations at a time instead
 * of every block's (for data2vec large on 20 s: ~1.5 GB less per utterance). a->out and
 * a->frames are as from enc_forward (bit for bit); enc_backward refuses these acts. */
int enc_forward_infer(enc_model *m, int64_t B, int64_t L, const float *wav, const int64_t *len, enc_acts *a,
                      arena *ar, ts_err *e);
/* dout (B, T, C) (backend memory) -> parameter gradients ADDED into the pset's gradient
 * buffer (frozen tensors skipped). Gradients of padded output rows are ignored. The input
 * gets no gradient. */
int enc_backward(enc_model *m, const enc_acts *a, const float *dout, arena *ar, ts_err *e);

/* Size information for `tsasr info`: parameters and memory for a batch of B utterances of
 * `samples` samples each. be (NULL: none) adds what that backend keeps of each layer's attention
 * for the backward (op_attn_keep_bytes; a CUDA build's SDPA keeps bf16 q, k, v and out). */
typedef struct enc_info {
  int64_t params;        /* number of parameters */
  int64_t param_bytes;   /* f32 weights */
  int64_t frames;        /* output frames per utterance */
  int64_t act_bytes;     /* arena bytes enc_forward uses (kept for backward; be's attention keep
                          * included), conv stack trainable */
  int64_t train_bytes;   /* weights + grads + AdamW moments + activations + backward scratch */
} enc_info;
int enc_info_get(const enc_cfg *c, backend *be, int64_t B, int64_t samples, enc_info *out, ts_err *e);
/* One-line description, e.g. "data2vec-audio: 12 blocks, hidden 768, 12 heads, ..." */
const char *enc_describe(const enc_cfg *c, char *buf, size_t n);

#endif
