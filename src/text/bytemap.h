/* bytemap.h — the GPT-2 byte-level alphabet: every byte 0..255 is shown as one printable
 * code point (bytes 33..126, 161..172, 174..255 as themselves; the other 68 bytes, in
 * increasing order, as U+0100, U+0101, ...; so ' ' -> U+0120 'Ġ', '\n' -> U+010A 'Ċ'). */
#ifndef TS_TEXT_BYTEMAP_H
#define TS_TEXT_BYTEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "txbuf.h"

/* Code point that shows byte b. */
uint32_t bytemap_to_cp(uint8_t b);
/* Byte shown by code point cp, or -1 when cp is not in the alphabet. */
int bytemap_from_cp(uint32_t cp);
/* Appends the byte-level form (UTF-8) of n raw bytes to out. */
int bytemap_encode(const void *raw, size_t n, txbuf *out, ts_err *e);
/* Appends the raw bytes of a byte-level string s (UTF-8, n bytes) to out. Fails with
 * TS_EFORMAT naming the offending character when s has one outside the alphabet. */
int bytemap_decode(const char *s, size_t n, txbuf *out, ts_err *e);

#endif
