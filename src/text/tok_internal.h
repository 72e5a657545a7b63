/* tok_internal.h — the tokenizer's private state, shared by tokenizer.c and tok_load.c. */
#ifndef TS_TEXT_TOK_INTERNAL_H
#define TS_TEXT_TOK_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "bpe.h"
#include "pretok.h"
#include "txmap.h"
#include "tokcache.h"
#include "tokenizer.h"

enum { TOKF_PRESENT = 1, TOKF_ADDED = 2, TOKF_SPECIAL = 4 };

typedef struct tok_added {
  char *content; /* raw text, matched literally */
  size_t len;
  int32_t id;
  int special;
} tok_added;

/* Per-call scratch; the tokenizer keeps one (guarded by a try-lock) to avoid allocations. */
typedef struct tok_scratch {
  bpe_work work;
  int32_t *sym; /* (sym_cap) byte ids of one pre-token */
  size_t sym_cap;
} tok_scratch;

struct tok {
  /* per id */
  int32_t n_ids;
  size_t ids_cap;
  uint32_t *off, *len; /* raw bytes of each token in pool */
  uint8_t *flags;      /* TOKF_* */
  char *pool;
  size_t pool_n, pool_cap;

  txmap vocab;        /* raw bytes -> id (model vocabulary) */
  int32_t byte_id[256];/* id of each single byte, -1 when missing */
  bpe_table merges;
  size_t n_merges;
  int ignore_merges;   /* a pre-token found whole in the vocabulary is one token */
  int nfc;
  int has_pre;
  pretok pre;

  tok_added *added;    /* sorted by length, longest first */
  size_t n_added;
  uint8_t added_first[256];

  int32_t audio_id;

  pthread_mutex_t mu;  /* guards cache and scratch */
  tokcache cache;
  tok_scratch scratch;
};

/* Allocates an empty tokenizer (no vocabulary). */
int tok_new_empty(tok **out, ts_err *e);
/* Sets the raw bytes of id (growing the tables); flags are TOKF_*. */
int tok_set_token(tok *t, int32_t id, const void *raw, size_t len, int flags, ts_err *e);
/* Adds an added token with a given id (its text becomes the token's bytes). */
int tok_add_token_id(tok *t, const char *content, int special, int32_t id, ts_err *e);
/* After vocabulary and merges are in: byte ids, <|audio|>, cache. */
int tok_finish_load(tok *t, ts_err *e);

#endif
