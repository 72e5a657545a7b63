/* tokenizer.h — byte-level BPE tokenizer compatible with Hugging Face `tokenizers` (Qwen2,
 * GPT-2 style): added tokens matched first (longest match), NFC, regex pre-tokenisation, GPT-2
 * byte map, merges by rank. Loads tokenizer.json or vocab.json + merges.txt (+ added tokens).
 * Every loader also adds our special token <|audio|> at the next free id when it is absent.
 *
 * Thread safety: tok_encode/tok_decode may run concurrently on one tok (the pre-token cache is
 * taken with a try-lock); tok_add_token must not run concurrently with anything else. */
#ifndef TS_TEXT_TOKENIZER_H
#define TS_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define TOK_AUDIO "<|audio|>"

typedef struct tok tok;

/* Growable list of token ids; zero-initialise, free with tok_ids_free. */
typedef struct tok_ids {
  int32_t *v; /* (n) */
  size_t n, cap;
} tok_ids;

int tok_ids_push(tok_ids *a, int32_t id, ts_err *e);
int tok_ids_append(tok_ids *a, const int32_t *ids, size_t n, ts_err *e);
void tok_ids_free(tok_ids *a);

/* ---- loading ---- */
/* A tokenizer.json file, or a directory holding tokenizer.json, or vocab.json + merges.txt
 * (+ optional added_tokens.json / tokenizer_config.json). Caller frees with tok_free. */
int tok_load(const char *path, tok **out, ts_err *e);
/* Hugging Face tokenizer.json (model BPE; merges as "a b" strings or ["a","b"] pairs). */
int tok_load_json(const char *path, tok **out, ts_err *e);
/* vocab.json + merges.txt with the Qwen2 pre-tokenizer and NFC. added may be NULL or a JSON
 * file in one of three forms: {"content": id} (HF added_tokens.json; all taken as special),
 * {"id": {"content": ..., "special": bool}}, or a tokenizer_config.json with
 * "added_tokens_decoder". */
int tok_load_files(const char *vocab_json, const char *merges_txt, const char *added,
                   tok **out, ts_err *e);
void tok_free(tok *t);

/* Adds an added token (matched literally before normalisation). An existing added token keeps
 * its id; a string already in the vocabulary takes that id; otherwise the next free id. */
int tok_add_token(tok *t, const char *content, int special, int32_t *id, ts_err *e);

/* ---- queries ---- */
int32_t tok_n_ids(const tok *t);        /* highest id + 1 */
size_t tok_n_merges(const tok *t);
int32_t tok_audio_id(const tok *t);     /* id of <|audio|> */
/* Id of the token whose text is exactly s (added token, or a vocabulary entry whose raw bytes
 * are s), or -1. */
int32_t tok_find(const tok *t, const char *s);
int tok_is_special(const tok *t, int32_t id);
int tok_is_added(const tok *t, int32_t id);
/* Raw bytes of a token (not NUL-terminated; NULL for an unused id). */
const char *tok_id_bytes(const tok *t, int32_t id, size_t *len);

/* ---- encoding ---- */
enum {
  TOK_ENC_SPLIT_SPECIAL = 1, /* treat added tokens in the text as plain text */
  TOK_ENC_NO_CACHE = 2       /* do not use the pre-token cache (benchmarks, tests) */
};
/* Appends the ids of text (n bytes of UTF-8) to out. Invalid UTF-8 is an error naming the
 * byte offset. */
int tok_encode(tok *t, const char *text, size_t n, int flags, tok_ids *out, ts_err *e);

/* ---- decoding ---- */
enum {
  TOK_DEC_SKIP_SPECIAL = 1, /* drop added tokens marked special */
  TOK_DEC_SKIP_UNKNOWN = 2  /* drop ids outside the vocabulary (as HF does) instead of failing */
};
/* Decodes ids to UTF-8 text (invalid byte sequences become U+FFFD, as HF's errors="replace").
 * An id outside the vocabulary (e.g. one of Qwen2's unused embedding rows) is an error naming
 * it, unless TOK_DEC_SKIP_UNKNOWN.
 * *out is malloc'd and NUL-terminated; *len may be NULL. */
int tok_decode(const tok *t, const int32_t *ids, size_t n, int flags, char **out, size_t *len,
               ts_err *e);

/* Streaming decode: feed ids one at a time, get the text that is complete so far; bytes of
 * an unfinished UTF-8 character are held back until the next id (or finish). The
 * concatenated output equals tok_decode of all ids. */
typedef struct tok_stream {
  const tok *t;
  int flags;               /* TOK_DEC_* */
  unsigned char pend[8];   /* held-back bytes */
  size_t npend;
  char *buf;               /* output of the last call (owned) */
  size_t buf_n, buf_cap;
} tok_stream;

void tok_stream_init(tok_stream *s, const tok *t, int flags);
/* *text (NUL-terminated, valid until the next call) gets the newly completed text. */
int tok_stream_push(tok_stream *s, int32_t id, const char **text, size_t *len, ts_err *e);
/* Flushes held-back bytes (as U+FFFD when they never completed). */
int tok_stream_finish(tok_stream *s, const char **text, size_t *len, ts_err *e);
void tok_stream_free(tok_stream *s);

#endif
