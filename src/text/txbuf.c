/* txbuf.c — growable byte buffer. */
#include "txbuf.h"

#include <stdlib.h>
#include <string.h>

int txbuf_reserve(txbuf *b, size_t extra, ts_err *e) {
  if (b->n + extra + 1 <= b->cap) return TS_OK;
  size_t nc = b->cap ? b->cap : 64;
  while (nc < b->n + extra + 1) nc *= 2;
  char *np = realloc(b->p, nc);
  if (!np) return err_set(e, TS_ENOMEM, "text buffer: out of memory (%zu bytes)", nc);
  b->p = np;
  b->cap = nc;
  return TS_OK;
}

int txbuf_put(txbuf *b, const void *data, size_t n, ts_err *e) {
  int rc = txbuf_reserve(b, n, e);
  if (rc) return rc;
  if (n) memcpy(b->p + b->n, data, n);
  b->n += n;
  b->p[b->n] = 0;
  return TS_OK;
}

int txbuf_puts(txbuf *b, const char *s, ts_err *e) { return txbuf_put(b, s, strlen(s), e); }

char *txbuf_take(txbuf *b, size_t *n) {
  if (!b->p) {
    b->p = malloc(1);
    if (b->p) b->p[0] = 0;
  } else {
    b->p[b->n] = 0; /* cap > n always holds once allocated */
  }
  char *p = b->p;
  if (n) *n = b->n;
  b->p = NULL;
  b->n = b->cap = 0;
  return p;
}

void txbuf_free(txbuf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}
