/* normalize.h — map any model output (or reference) to LibriSpeech transcript form before
 * scoring: upper case A–Z, digits, apostrophes kept only inside words, every other character
 * a space, single spaces, no leading/trailing space.
 *
 * Steps: invalid UTF-8 -> U+FFFD; compatibility decomposition with case folding and combining
 * marks removed (so "Café" -> "CAFE", "ﬁ" -> "FI", "ß" -> "SS"); curly/modifier apostrophes
 * (U+2018, U+2019, U+02BC, U+FF07) count as "'"; an apostrophe stays only between two
 * letters/digits ("DON'T", "JOHN'S"), so quotes like 'TIS or BOYS' lose it. */
#ifndef TS_TEXT_NORMALIZE_H
#define TS_TEXT_NORMALIZE_H

#include <stddef.h>

#include "base/err.h"

/* *out is malloc'd and NUL-terminated; *out_len may be NULL. */
int norm_librispeech(const char *in, size_t n, char **out, size_t *out_len, ts_err *e);

#endif
