/* pretok.h — regex pre-tokenisation through PCRE2 (UTF + UCP, JIT when available), with the
 * Hugging Face "Split, Isolated" behaviour: every match is a piece and so is every gap between
 * matches. The pattern is compiled once; iterating is thread-safe (per-iterator match data). */
#ifndef TS_TEXT_PRETOK_H
#define TS_TEXT_PRETOK_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>

#include "base/err.h"

/* Qwen2 (tokenization_qwen2.py): digits one per piece, `\s+(?!\S)` look-ahead. */
#define PRETOK_QWEN2_PATTERN                                                                  \
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
  "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* GPT-2 (the ByteLevel pre-tokenizer's own regex, use_regex=true). */
#define PRETOK_GPT2_PATTERN \
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

typedef struct pretok {
  pcre2_code *re;
  int jit;        /* 1 when JIT compiled */
  char *pattern;  /* the pattern as given (malloc'd) */
} pretok;

/* Compiles pattern (Oniguruma/HF syntax subset). `\s` is widened to U+0085 as in Oniguruma. */
int pretok_init(pretok *p, const char *pattern, ts_err *e);
void pretok_free(pretok *p);

typedef struct pretok_iter {
  const pretok *p;
  pcre2_match_data *md;
  const char *s;
  size_t n;
  size_t pos;      /* next unread byte */
  size_t gap_end;  /* pending match start when a gap is being returned first */
  size_t pend_s, pend_e; /* pending match after a gap */
  int has_pend;
} pretok_iter;

/* s must be valid UTF-8 (checked by the caller); it is not copied. */
int pretok_iter_init(pretok_iter *it, const pretok *p, const char *s, size_t n, ts_err *e);
/* Next piece as [*off, *off + *len); *len == 0 at the end. */
int pretok_next(pretok_iter *it, size_t *off, size_t *len, ts_err *e);
void pretok_iter_free(pretok_iter *it);

#endif
