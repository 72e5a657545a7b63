/* utf8.h — strict UTF-8 decoding/encoding, lossy repair (U+FFFD for each maximal invalid
 * subpart, as Python's errors="replace" and Rust's from_utf8_lossy do) and detection of an
 * incomplete trailing sequence (for streaming decode). */
#ifndef TS_TEXT_UTF8_H
#define TS_TEXT_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "txbuf.h"

/* Decodes one scalar value at s (n bytes available). Returns its length 1..4, or 0 when the
 * bytes at s do not start a valid sequence (overlong, surrogate, > U+10FFFF, truncated). */
int txutf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Writes cp (a scalar value) as UTF-8; returns the length 1..4. */
int txutf8_encode(uint32_t cp, char out[4]);
/* Offset of the first invalid byte, or n when all of s is valid UTF-8. */
size_t txutf8_check(const unsigned char *s, size_t n);
/* Appends s to b with every maximal invalid subpart replaced by U+FFFD. */
int txutf8_lossy_append(txbuf *b, const unsigned char *s, size_t n, ts_err *e);
/* Number of trailing bytes (0..3) that form a valid but unfinished UTF-8 sequence. */
size_t txutf8_incomplete_tail(const unsigned char *s, size_t n);

#endif
