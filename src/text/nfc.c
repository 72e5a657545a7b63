/* nfc.c — NFC of the non-ASCII stretches only (see nfc.h). */
#include "nfc.h"

#include <stdlib.h>
#include <utf8proc.h>

static int nfc_span(const char *s, size_t n, txbuf *out, ts_err *e) {
  utf8proc_uint8_t *norm = NULL;
  utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &norm,
                                    UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (r < 0) return err_set(e, TS_EFORMAT, "NFC: %s", utf8proc_errmsg(r));
  int rc = txbuf_put(out, norm, (size_t)r, e);
  free(norm);
  return rc;
}

int txnfc_append(const char *s, size_t n, txbuf *out, ts_err *e) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, done = 0;
  int rc = txbuf_reserve(out, n, e);
  while (!rc && i < n) {
    if (u[i] < 0x80) {
      i++;
      continue;
    }
    /* a non-ASCII run starts at i; its base may be the ASCII character before it */
    size_t start = i > done ? i - 1 : i;
    size_t j = i;
    /* the run ends before two ASCII characters in a row (or at the end) */
    while (j < n && !(u[j] < 0x80 && (j + 1 == n || u[j + 1] < 0x80))) j++;
    rc = txbuf_put(out, s + done, start - done, e);
    if (!rc) rc = nfc_span(s + start, j - start, out, e);
    done = i = j;
  }
  if (!rc) rc = txbuf_put(out, s + done, n - done, e);
  return rc;
}
