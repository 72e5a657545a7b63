/* generate.h — batched decoding with the composed model: one encoder pass and one prompt
 * prefill per input, fanned out to G samples through the KV cache; greedy or sampled
 * continuation until <|im_end|>, the token budget, the model's context (the LLM's
 * max_position_embeddings: prompt, audio and generated tokens together) or the repetition guard. The audio
 * placeholder and the embedding rows past the tokenizer's vocabulary are never emitted (their
 * probability is set to zero before choosing). */
#ifndef TS_GENERATE_H
#define TS_GENERATE_H

#include "infer/sampler.h"
#include "model/tsmodel.h"

typedef struct gen_cfg {
  sample_cfg samp;   /* temperature 0 = greedy */
  int max_new;       /* token budget per output (paper: 512) */
  int min_new;       /* <|im_end|> is not chosen before this many tokens (0 = off; benchmarks) */
  int G;             /* outputs per input (GRPO group size; 1 for decoding) */
  rep_guard guard;   /* zeros: defaults */
  uint64_t seed;
} gen_cfg;

typedef struct gen_input {
  int64_t B;
  const float *wav;          /* (B, L) */
  int64_t L;
  const int64_t *wav_len;    /* (B) */
  const int32_t *const *ids; /* B prompts with one <|audio|>, ending with the assistant header */
  const int32_t *n_ids;
  const uint64_t *keys;      /* (B) RNG stream per input (e.g. hash of sample id and step), or NULL */
} gen_input;

typedef struct gen_output {
  int32_t *tok;     /* (n) generated ids, without the stop token */
  float *logp;      /* (n) log-prob of each token at the sampling temperature */
  int32_t n;
  int stopped;      /* ended with <|im_end|> */
  float stop_logp;  /* log-prob of that <|im_end|> (it is part of the completion for GRPO) */
  int repetition;   /* the repetition guard ended it */
  char *text;       /* decoded tok (special tokens skipped) */
} gen_output;

/* outs has B*G entries: output g of input b is outs[b*G + g]. Free with gen_output_free. */
int tsm_generate(tsm *m, const gen_input *in, const gen_cfg *c, gen_output *outs, arena *ar, ts_err *e);
void gen_output_free(gen_output *o);

/* Builds the generation prompt ids for this model (chat template, instruction, one
 * <|audio|>, assistant header). ids is malloc'd. */
int tsm_prompt_ids(tsm *m, int32_t **ids, int32_t *n, ts_err *e);
/* Prompt + response ids for training (response followed by <|im_end|>), with the loss span. */
int tsm_train_ids(tsm *m, const char *response, int32_t **ids, int32_t *n, int32_t *resp_start, int32_t *resp_end,
                  ts_err *e);

#endif
