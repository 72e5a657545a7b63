/* normalize.c — LibriSpeech-style normalisation of transcripts (see normalize.h). */
#include "normalize.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "txbuf.h"
#include "utf8.h"

static int norm_is_apos(utf8proc_int32_t c) {
  return c == '\'' || c == 0x2018 || c == 0x2019 || c == 0x02BC || c == 0xFF07;
}

int norm_librispeech(const char *in, size_t n, char **out, size_t *out_len, ts_err *e) {
  txbuf fixed = {0}, mapped = {0}, res = {0};
  int rc = txutf8_lossy_append(&fixed, (const unsigned char *)in, n, e);
  utf8proc_uint8_t *dec = NULL;
  utf8proc_ssize_t dn = 0;
  if (!rc) {
    dn = utf8proc_map((const utf8proc_uint8_t *)fixed.p, (utf8proc_ssize_t)fixed.n, &dec,
                      UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK | UTF8PROC_CASEFOLD);
    if (dn < 0) rc = err_set(e, TS_EFORMAT, "norm_librispeech: %s", utf8proc_errmsg(dn));
  }
  /* pass 1: every character to A-Z, 0-9, '\'' or ' ' */
  if (!rc) rc = txbuf_reserve(&mapped, (size_t)dn, e);
  for (utf8proc_ssize_t i = 0; !rc && i < dn;) {
    utf8proc_int32_t c;
    utf8proc_ssize_t l = utf8proc_iterate(dec + i, dn - i, &c);
    if (l <= 0) { /* cannot happen after repair; be safe */
      l = 1;
      c = ' ';
    }
    i += l;
    char m = ' ';
    if (c >= 'a' && c <= 'z') m = (char)(c - 'a' + 'A');
    else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) m = (char)c;
    else if (norm_is_apos(c)) m = '\'';
    mapped.p[mapped.n++] = m;
  }
  /* pass 2: apostrophes only between alphanumerics; single spaces; strip */
  if (!rc) rc = txbuf_reserve(&res, mapped.n, e);
  for (size_t i = 0; !rc && i < mapped.n; i++) {
    char c = mapped.p[i];
    if (c == '\'') {
      int left = i > 0 && mapped.p[i - 1] != ' ' && mapped.p[i - 1] != '\'';
      int right = i + 1 < mapped.n && mapped.p[i + 1] != ' ' && mapped.p[i + 1] != '\'';
      if (!left || !right) c = ' ';
    }
    if (c == ' ' && (res.n == 0 || res.p[res.n - 1] == ' ')) continue;
    res.p[res.n++] = c;
  }
  if (!rc) {
    while (res.n && res.p[res.n - 1] == ' ') res.n--;
    rc = txbuf_reserve(&res, 0, e);
    if (!rc) res.p[res.n] = 0;
  }
  free(dec);
  txbuf_free(&fixed);
  txbuf_free(&mapped);
  if (rc) {
    txbuf_free(&res);
    return rc;
  }
  *out = txbuf_take(&res, out_len);
  return *out ? TS_OK : err_set(e, TS_ENOMEM, "norm_librispeech: out of memory");
}
