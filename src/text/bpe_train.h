/* bpe_train.h — learns a byte-level BPE from a text corpus with the same pre-tokeniser as
 * the tokenizer (NFC, Qwen2 regex, GPT-2 byte map) and writes a Hugging Face tokenizer.json
 * for small models. Ids: the 256 byte tokens in code-point order of their byte-level form
 * (as Qwen2/GPT-2 order them), then one token per merge, then the special tokens
 * <|endoftext|>, <|im_start|>, <|im_end|>, <|audio|>.
 *
 * Each step merges the most frequent adjacent pair (ties: the smaller (left, right) id pair),
 * counted over distinct pre-tokens weighted by frequency; pair counts are updated
 * incrementally (only the words that contain the merged pair are touched). */
#ifndef TS_TEXT_BPE_TRAIN_H
#define TS_TEXT_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct bpetrain_cfg {
  int n_merges;        /* merges to learn (fewer when no pair reaches min_freq) */
  int64_t min_freq;    /* a pair needs at least this count to be merged (>= 1) */
  const char *pattern; /* pre-tokenizer regex; NULL: Qwen2's */
} bpetrain_cfg;

typedef struct bpetrain bpetrain;

int bpetrain_new(const bpetrain_cfg *cfg, bpetrain **out, ts_err *e);
/* Counts the pre-tokens of a text (UTF-8; the special tokens above are skipped). */
int bpetrain_feed(bpetrain *b, const char *text, size_t n, ts_err *e);
int bpetrain_feed_file(bpetrain *b, const char *path, ts_err *e);
/* Learns the merges. */
int bpetrain_run(bpetrain *b, ts_err *e);
int bpetrain_n_merges(const bpetrain *b);
/* Writes tokenizer.json (atomically). */
int bpetrain_save(const bpetrain *b, const char *path, ts_err *e);
void bpetrain_free(bpetrain *b);

#endif
