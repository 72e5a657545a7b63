/* nfc.h — Unicode NFC through utf8proc, applied only to the stretches that can change: runs of
 * non-ASCII characters together with the ASCII character just before each run (a possible
 * base of a combining mark). ASCII text between runs is copied as is. */
#ifndef TS_TEXT_NFC_H
#define TS_TEXT_NFC_H

#include <stddef.h>

#include "base/err.h"
#include "txbuf.h"

/* Appends NFC(s) to out; s must be valid UTF-8. */
int txnfc_append(const char *s, size_t n, txbuf *out, ts_err *e);

#endif
