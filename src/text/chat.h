/* chat.h — the Qwen2.5-Instruct chat template (non-tool branch) and the ASR prompt built on
 * it: system prompt, user instruction followed by <|audio|> placeholders, assistant response.
 * Produces the text and the ids, and where the assistant response starts (loss masking).
 *
 *   <|im_start|>system\n{system}<|im_end|>\n
 *   <|im_start|>user\n{instruction}<|audio|>…<|im_end|>\n
 *   <|im_start|>assistant\n{response}<|im_end|>\n          (or just the header: generation)
 *
 * Text is encoded as a whole, like apply_chat_template + encode in Hugging Face: added tokens
 * written inside the contents are parsed as such. */
#ifndef TS_TEXT_CHAT_H
#define TS_TEXT_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "text/tokenizer.h"

#define CHAT_QWEN25_SYSTEM "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

typedef struct chat_msg {
  const char *role;    /* "system", "user", "assistant" */
  const char *content;
} chat_msg;

/* Renders messages as the template does; without a leading system message the default one
 * (CHAT_QWEN25_SYSTEM) is used. *out is malloc'd. */
int chat_render(const chat_msg *msgs, size_t n, int add_generation_prompt, char **out, ts_err *e);

typedef struct chat_cfg {
  const char *system;      /* NULL: CHAT_QWEN25_SYSTEM */
  const char *instruction; /* NULL: empty */
  int n_audio;             /* <|audio|> placeholders after the instruction (the model splices
                              the audio embeddings there) */
} chat_cfg;

typedef struct chat_prompt {
  char *text;          /* the rendered conversation (malloc'd) */
  size_t text_len;
  size_t resp_text_off;/* byte offset of the response in text (= length of the prompt part) */
  tok_ids ids;         /* ids of text */
  size_t resp_start;   /* first id of the response (ids before it are the prompt) */
  size_t resp_end;     /* one past the response's closing <|im_end|>: the loss span is
                          [resp_start, resp_end); == ids.n when there is no response */
} chat_prompt;

/* Builds the ASR conversation; response NULL gives the generation prompt (ending with
 * "<|im_start|>assistant\n"). */
int chat_build(tok *t, const chat_cfg *cfg, const char *response, chat_prompt *out, ts_err *e);
/* mask[i] = 1 for ids in [resp_start, resp_end), else 0; mask has ids.n entries. */
void chat_loss_mask(const chat_prompt *p, uint8_t *mask);
void chat_prompt_free(chat_prompt *p);

#endif
