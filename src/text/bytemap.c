/* bytemap.c — GPT-2 byte <-> code point alphabet (see bytemap.h). */
#include "bytemap.h"

#include "utf8.h"

static int bytemap_printable(unsigned b) {
  return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

uint32_t bytemap_to_cp(uint8_t b) {
  if (bytemap_printable(b)) return b;
  /* rank among the 68 non-printable bytes: 0..32 -> 0..32, 127..160 -> 33..66, 173 -> 67 */
  if (b <= 32) return 256u + b;
  if (b >= 127 && b <= 160) return 256u + 33u + (b - 127u);
  return 256u + 67u; /* 173 */
}

int bytemap_from_cp(uint32_t cp) {
  if (cp < 256) return bytemap_printable(cp) ? (int)cp : -1;
  if (cp < 256 + 33) return (int)(cp - 256);
  if (cp < 256 + 67) return (int)(cp - 256 - 33 + 127);
  if (cp == 256 + 67) return 173;
  return -1;
}

int bytemap_encode(const void *raw, size_t n, txbuf *out, ts_err *e) {
  const unsigned char *s = raw;
  int rc = txbuf_reserve(out, 2 * n, e);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    char u[4];
    int l = txutf8_encode(bytemap_to_cp(s[i]), u);
    for (int k = 0; k < l; k++) out->p[out->n++] = u[k];
  }
  out->p[out->n] = 0;
  return TS_OK;
}

int bytemap_decode(const char *s, size_t n, txbuf *out, ts_err *e) {
  const unsigned char *u = (const unsigned char *)s;
  int rc = txbuf_reserve(out, n, e);
  if (rc) return rc;
  size_t i = 0;
  while (i < n) {
    uint32_t cp;
    int l = txutf8_decode(u + i, n - i, &cp);
    if (!l) return err_set(e, TS_EFORMAT, "byte-level token \"%.*s\": invalid UTF-8 at byte %zu",
                           (int)n, s, i);
    int b = bytemap_from_cp(cp);
    if (b < 0)
      return err_set(e, TS_EFORMAT,
                     "byte-level token \"%.*s\": character U+%04X is not in the byte alphabet",
                     (int)n, s, (unsigned)cp);
    out->p[out->n++] = (char)b;
    i += (size_t)l;
  }
  out->p[out->n] = 0;
  return TS_OK;
}
