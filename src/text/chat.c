/* chat.c — Qwen2.5-Instruct chat template and ASR prompts (see chat.h). */
#include "chat.h"

#include <stdlib.h>
#include <string.h>

#include "txbuf.h"

static int chat_turn(txbuf *b, const char *role, const char *content, ts_err *e) {
  int rc = txbuf_puts(b, "<|im_start|>", e);
  if (!rc) rc = txbuf_puts(b, role, e);
  if (!rc) rc = txbuf_puts(b, "\n", e);
  if (!rc) rc = txbuf_puts(b, content ? content : "", e);
  if (!rc) rc = txbuf_puts(b, "<|im_end|>\n", e);
  return rc;
}

int chat_render(const chat_msg *msgs, size_t n, int add_generation_prompt, char **out, ts_err *e) {
  txbuf b = {0};
  int rc = TS_OK;
  size_t first = 0;
  if (n && !strcmp(msgs[0].role, "system")) {
    rc = chat_turn(&b, "system", msgs[0].content, e);
    first = 1;
  } else {
    rc = chat_turn(&b, "system", CHAT_QWEN25_SYSTEM, e);
  }
  for (size_t i = first; i < n && !rc; i++) {
    const char *r = msgs[i].role;
    if (strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "system")) {
      rc = err_set(e, TS_EARG, "chat_render: message %zu has unknown role \"%s\"", i, r);
      break;
    }
    rc = chat_turn(&b, r, msgs[i].content, e);
  }
  if (!rc && add_generation_prompt) rc = txbuf_puts(&b, "<|im_start|>assistant\n", e);
  if (rc) {
    txbuf_free(&b);
    return rc;
  }
  *out = txbuf_take(&b, NULL);
  return *out ? TS_OK : err_set(e, TS_ENOMEM, "chat_render: out of memory");
}

void chat_prompt_free(chat_prompt *p) {
  free(p->text);
  tok_ids_free(&p->ids);
  memset(p, 0, sizeof *p);
}

void chat_loss_mask(const chat_prompt *p, uint8_t *mask) {
  for (size_t i = 0; i < p->ids.n; i++) mask[i] = i >= p->resp_start && i < p->resp_end;
}

int chat_build(tok *t, const chat_cfg *cfg, const char *response, chat_prompt *out, ts_err *e) {
  memset(out, 0, sizeof *out);
  if (cfg->n_audio < 0) return err_set(e, TS_EARG, "chat_build: n_audio %d < 0", cfg->n_audio);
  txbuf user = {0}, b = {0};
  int rc = txbuf_puts(&user, cfg->instruction ? cfg->instruction : "", e);
  for (int i = 0; i < cfg->n_audio && !rc; i++) rc = txbuf_puts(&user, TOK_AUDIO, e);
  if (!rc) rc = txbuf_reserve(&user, 0, e);
  if (!rc) rc = chat_turn(&b, "system", cfg->system ? cfg->system : CHAT_QWEN25_SYSTEM, e);
  if (!rc) rc = chat_turn(&b, "user", user.p, e);
  if (!rc) rc = txbuf_puts(&b, "<|im_start|>assistant\n", e);
  size_t prompt_len = b.n, resp_close = 0;
  if (!rc && response) {
    rc = txbuf_puts(&b, response, e);
    resp_close = b.n + strlen("<|im_end|>");
    if (!rc) rc = txbuf_puts(&b, "<|im_end|>\n", e);
  }
  txbuf_free(&user);
  if (rc) {
    txbuf_free(&b);
    return rc;
  }
  out->text_len = b.n;
  out->text = txbuf_take(&b, NULL);
  out->resp_text_off = prompt_len;
  rc = tok_encode(t, out->text, out->text_len, 0, &out->ids, e);
  if (!rc && response) {
    /* prompt ids: a token that straddles the boundary counts as response */
    tok_ids p = {0};
    rc = tok_encode(t, out->text, prompt_len, 0, &p, e);
    size_t k = 0;
    while (!rc && k < p.n && k < out->ids.n && p.v[k] == out->ids.v[k]) k++;
    out->resp_start = k;
    tok_ids_free(&p);
    /* the ids up to and including the closing <|im_end|> */
    tok_ids q = {0};
    if (!rc) rc = tok_encode(t, out->text, resp_close, 0, &q, e);
    out->resp_end = q.n;
    tok_ids_free(&q);
  } else {
    out->resp_start = out->resp_end = out->ids.n;
  }
  if (rc) {
    chat_prompt_free(out);
    return err_prefix(e, "chat_build");
  }
  return TS_OK;
}
