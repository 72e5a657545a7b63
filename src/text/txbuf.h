/* txbuf.h — growable byte buffer used by the text module (always NUL-terminated). */
#ifndef TS_TEXT_TXBUF_H
#define TS_TEXT_TXBUF_H

#include <stddef.h>

#include "base/err.h"

typedef struct txbuf {
  char *p;    /* NUL-terminated once anything was put */
  size_t n;   /* bytes used, not counting the NUL */
  size_t cap;
} txbuf;

int txbuf_reserve(txbuf *b, size_t extra, ts_err *e);
int txbuf_put(txbuf *b, const void *data, size_t n, ts_err *e);
int txbuf_puts(txbuf *b, const char *s, ts_err *e);
/* Hands the buffer to the caller (malloc'd, NUL-terminated) and resets b. */
char *txbuf_take(txbuf *b, size_t *n);
void txbuf_free(txbuf *b);

#endif
