/* utf8.c — UTF-8 helpers (see utf8.h). */
#include "utf8.h"

/* Length of a sequence led by byte c (0 for a byte that can not lead), and the allowed range
 * of its second byte. */
static int txutf8_lead(unsigned c, unsigned *lo, unsigned *hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) {
    if (c == 0xE0) *lo = 0xA0;
    if (c == 0xED) *hi = 0x9F;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (c == 0xF0) *lo = 0x90;
    if (c == 0xF4) *hi = 0x8F;
    return 4;
  }
  return 0;
}

/* Number of bytes at s (up to n) that match a prefix of a valid sequence; *len gets the full
 * length the lead byte asks for (0 if it can not lead). */
static size_t txutf8_prefix(const unsigned char *s, size_t n, int *len) {
  unsigned lo, hi;
  int l = txutf8_lead(s[0], &lo, &hi);
  *len = l;
  if (l <= 1) return (size_t)l;
  size_t k = 1;
  while (k < (size_t)l && k < n) {
    unsigned c = s[k];
    if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) break;
    k++;
  }
  return k;
}

int txutf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  if (!n) return 0;
  int len;
  size_t k = txutf8_prefix(s, n, &len);
  if (len == 0 || k < (size_t)len) return 0;
  uint32_t c;
  switch (len) {
    case 1: c = s[0]; break;
    case 2: c = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F); break;
    case 3: c = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F); break;
    default:
      c = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
          ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
  }
  *cp = c;
  return len;
}

int txutf8_encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

size_t txutf8_check(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    int len;
    size_t k = txutf8_prefix(s + i, n - i, &len);
    if (len == 0 || k < (size_t)len) return i;
    i += (size_t)len;
  }
  return n;
}

int txutf8_lossy_append(txbuf *b, const unsigned char *s, size_t n, ts_err *e) {
  static const char repl[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
  size_t i = 0;
  while (i < n) {
    size_t good = i + txutf8_check(s + i, n - i);
    if (good > i) {
      int rc = txbuf_put(b, s + i, good - i, e);
      if (rc) return rc;
      i = good;
    }
    if (i >= n) break;
    int len;
    size_t k = txutf8_prefix(s + i, n - i, &len);
    if (k == 0) k = 1;
    int rc = txbuf_put(b, repl, 3, e);
    if (rc) return rc;
    i += k;
  }
  return txbuf_reserve(b, 0, e);
}

size_t txutf8_incomplete_tail(const unsigned char *s, size_t n) {
  for (size_t k = 1; k <= 3 && k <= n; k++) {
    unsigned c = s[n - k];
    if (c >= 0x80 && c <= 0xBF) continue; /* continuation byte: keep looking for the lead */
    int len;
    size_t m = txutf8_prefix(s + n - k, k, &len);
    if (len > (int)k && m == k) return k;
    return 0;
  }
  return 0;
}
