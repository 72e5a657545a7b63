/* tsmodel.h — the composed target-speaker ASR model: speech encoder -> adapter -> Qwen2 LLM,
 * the tokenizer and the prompt, in one parameter set ("encoder.*", "adapter.*", "llm.*").
 *
 * Model directory (Hugging Face style):
 *   config.json        {"encoder": {HF encoder config}, "adapter": {...}, "llm": {HF Qwen2
 *                       config}, "prompt": {"system": ..., "instruction": ...}}
 *   model.safetensors  encoder.* / adapter.* / llm.* with HF names under those prefixes
 *   tokenizer.json
 * A model can also be assembled from an HF Qwen2 directory and an HF encoder directory
 * (the paper's starting point); the adapter is then freshly initialised.
 *
 * The prompt is the Qwen2.5 chat template; the single <|audio|> placeholder in the user turn
 * is replaced by the adapter's output frames (one embedding per frame). */
#ifndef TS_TSMODEL_H
#define TS_TSMODEL_H

#include <cjson/cJSON.h>

#include "model/adapter.h"
#include "model/encoder.h"
#include "model/qwen2.h"
#include "text/tokenizer.h"

#define TSM_DEFAULT_INSTRUCTION                                                                  \
  "The audio begins with an enrollment utterance of the target speaker, then silence, then a " \
  "recording where several people may talk at once. Transcribe only the target speaker."

typedef struct tsm {
  cJSON *enc_json;      /* the encoder section as read (written back verbatim on save) */
  enc_cfg ecfg;
  adapter_cfg acfg;
  qwen2_cfg lcfg;
  char *system;         /* prompt: system message (NULL = Qwen2.5 default) */
  char *instruction;    /* prompt: user instruction before the audio */
  backend *be;
  pset ps;
  enc_model enc;
  adapter adp;
  qwen2 llm;
  int ctc;              /* an encoder CTC head over characters (train/ctc.h) is present */
  float ctc_weight;     /* its default loss weight (config "ctc": {"weight": w}) */
  int i_ctc_w, i_ctc_b; /* "ctc.weight" (29, C_enc), "ctc.bias" (29) */
  tok *tok;
  char *tok_path;        /* the tokenizer.json it came from (copied on save) */
  int32_t audio_id, im_end_id;
  double silence;        /* seconds of silence between enrollment and mixture in the inputs the
                          * model was trained on (config "input": {"silence": s}; TSM_DEFAULT_SILENCE,
                          * the paper's 3 s, when absent). Trainers record what they train with;
                          * decoding and the workbench build inputs the same way by default. */
} tsm;
#define TSM_DEFAULT_SILENCE 3.0

/* Loads a model directory (weights in F32/BF16/F16). grads/adam allocate those buffers. */
int tsm_load(const char *dir, backend *be, int grads, int adam, tsm **out, ts_err *e);
/* Assembles from an HF Qwen2 directory and an HF encoder directory with a new adapter
 * (adapter settings from acfg; its input/output sizes are filled in), initialised from seed. */
int tsm_assemble(const char *llm_dir, const char *enc_dir, const adapter_cfg *acfg, uint64_t seed, backend *be,
                 int grads, int adam, tsm **out, ts_err *e);
/* Builds a new randomly initialised model from a config.json object of our format and a
 * tokenizer file (for models trained from scratch). */
int tsm_new(const cJSON *config, const char *tokenizer_path, uint64_t seed, float init_std, backend *be, int grads,
            int adam, tsm **out, ts_err *e);
/* Writes config.json, model.safetensors and tokenizer.json into dir (created), atomically per file. */
int tsm_save(tsm *m, const char *dir, int as_bf16, ts_err *e);
void tsm_free(tsm *m);

/* Writes a human-readable description: architecture, parameters per part, memory needs
 * for training on a batch of `batch` inputs of `seconds` seconds. */
int tsm_describe(const tsm *m, int batch, double seconds, char *buf, size_t n);

/* ---- training forward/backward (tsmodel_train.c) ---- */
typedef struct tsm_batch {
  int64_t B;              /* token sequences */
  const float *wav;       /* (U, L) 16 kHz, padded: the distinct audio inputs */
  int64_t L;
  const int64_t *wav_len; /* (U) valid samples */
  int64_t U;              /* distinct audio inputs (0 = B: one per sequence) */
  const int32_t *audio_of;/* (B) audio input of each sequence (NULL: b) — G completions of one
                             prompt share one encoder pass, forward and backward */
  const int32_t *const *ids; /* B token sequences: prompt (with one <|audio|>) + response */
  const int32_t *n_ids;   /* (B) */
  const int32_t *resp_start, *resp_end; /* (B) loss span [start, end) in ids */
  int pack;               /* the LLM's rows packed without padding: each audio input's prompt once
                             (the sequences sharing an input share its prompt: ids before the same
                             resp_start, as GRPO's completions do), then every sequence's
                             continuation, attending to its prompt (tsmodel_int.h). The same
                             results; a batch whose prompts differ within an input is laid out
                             apart, padded, as without it (and as with TSASR_PACK=0) */
  /* GRPO and scoring (all optional; zero = plain SFT): */
  float temperature;      /* logits are divided by it before the softmax (0 = 1) */
  float *logp_out;        /* (R) log-prob of each response token, in batch order */
  /* encoder CTC auxiliary loss (models with a CTC head): ctc_scale x d(CTC NLL / label
   * length) is added for each audio input u with transcript ctc_text[u] (0 = off) */
  float ctc_scale;
  const char *const *ctc_text; /* (U) */
  /* per-token weights of the NLL, computed from the tokens' log-probs (GRPO coefficients) */
  int (*coef_fn)(void *user, int64_t R, const float *logp, float *weight, ts_err *e);
  void *coef_user;
} tsm_batch;

typedef struct tsm_loss {
  double loss_sum;        /* sum of (weighted) token cross-entropies (nats) */
  int64_t tokens;         /* response tokens scored */
  int64_t correct;        /* of which the argmax was right */
  double ctc_sum;         /* sum over audio inputs of CTC NLL / label length */
  int64_t ctc_n;          /* audio inputs with a feasible CTC alignment */
  int64_t rows;           /* the LLM's input rows, padding included */
  int64_t rows_apart;     /* what they are with every sequence laid out apart and padded (pack
                             saves the difference) */
} tsm_loss;

/* Audio side of a batch: encoder + adapter. aud (B, *Ta, C_llm) from the arena; na[b] valid
 * adapter frames of input b. ea/aa keep what backward needs (may be NULL for inference);
 * enc_bwd says whether the encoder's backward will run: without it the encoder runs its
 * inference forward (ea->out, T and frames are still set). */
int tsm_encode_audio(tsm *m, int64_t B, const float *wav, int64_t L, const int64_t *wav_len, float **aud,
                     int64_t *Ta, int32_t *na, enc_acts *ea, adapter_acts *aa, int enc_bwd, arena *ar, ts_err *e);
/* Splices the audio frames into each token sequence at its single <|audio|>:
 * x (B, *Tm, C) from the arena, zero past S[b] = n_ids[b] - 1 + na[u]; p[b] is the
 * placeholder's index. Sequence b takes audio u = audio_of[b] (NULL: u = b) of aud
 * (U, Ta, C) with na (U). Text rows are embedded; tid/Ntext (optional) return the text ids in
 * splice order (for the embedding backward). */
int tsm_splice(tsm *m, int64_t B, const int32_t *const *ids, const int32_t *n_ids, const float *aud, int64_t Ta,
               const int32_t *na, const int32_t *audio_of, float **x, int64_t *Tm, int32_t *S, int32_t *p,
               int32_t **tid, int64_t *Ntext, arena *ar, ts_err *e);

/* Forward of a batch; when grad_scale != 0 also backward, adding grad_scale x the gradient
 * of loss_sum into the parameter gradients (frozen parts are skipped). ar is reset by the
 * caller between steps. */
int tsm_train_step(tsm *m, const tsm_batch *b, float grad_scale, tsm_loss *out, arena *ar, ts_err *e);

#endif
