/* pretok.c — PCRE2 pre-tokeniser (see pretok.h). */
#include "pretok.h"

#include <stdlib.h>
#include <string.h>

#include "txbuf.h"

/* Rewrites `\s` so it also matches U+0085 (Oniguruma counts NEL as white space, PCRE2's UCP
 * \s does not): outside a class `\s` -> `[\s\x{85}]`, `\S` -> `[^\s\x{85}]`; inside a class
 * `\s` -> `\s\x{85}`. */
static int pretok_rewrite(const char *pat, txbuf *out, ts_err *e) {
  int in_class = 0;
  int rc = TS_OK;
  for (size_t i = 0; pat[i] && !rc; i++) {
    char c = pat[i];
    if (c == '\\' && pat[i + 1]) {
      char d = pat[i + 1];
      i++;
      if (d == 's')
        rc = txbuf_puts(out, in_class ? "\\s\\x{85}" : "[\\s\\x{85}]", e);
      else if (d == 'S' && !in_class)
        rc = txbuf_puts(out, "[^\\s\\x{85}]", e);
      else {
        char two[2] = {c, d};
        rc = txbuf_put(out, two, 2, e);
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = 1;
      rc = txbuf_put(out, &c, 1, e);
      /* a leading ']' or '^]' is literal */
      if (!rc && pat[i + 1] == '^') rc = txbuf_put(out, &pat[++i], 1, e);
      if (!rc && pat[i + 1] == ']') rc = txbuf_put(out, &pat[++i], 1, e);
      continue;
    }
    if (c == ']' && in_class) in_class = 0;
    rc = txbuf_put(out, &c, 1, e);
  }
  return rc;
}

int pretok_init(pretok *p, const char *pattern, ts_err *e) {
  memset(p, 0, sizeof *p);
  txbuf pat = {0};
  int rc = pretok_rewrite(pattern, &pat, e);
  if (rc) {
    txbuf_free(&pat);
    return rc;
  }
  int ec;
  PCRE2_SIZE eo;
  p->re = pcre2_compile((PCRE2_SPTR)pat.p, pat.n, PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &ec,
                        &eo, NULL);
  txbuf_free(&pat);
  if (!p->re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(ec, msg, sizeof msg);
    return err_set(e, TS_EFORMAT, "pre-tokenizer regex \"%s\": %s at offset %zu", pattern,
                   (const char *)msg, (size_t)eo);
  }
  uint32_t have_jit = 0;
  pcre2_config(PCRE2_CONFIG_JIT, &have_jit);
  if (have_jit && pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE) == 0) p->jit = 1;
  p->pattern = strdup(pattern);
  if (!p->pattern) {
    pretok_free(p);
    return err_set(e, TS_ENOMEM, "pre-tokenizer: out of memory");
  }
  return TS_OK;
}

void pretok_free(pretok *p) {
  if (p->re) pcre2_code_free(p->re);
  free(p->pattern);
  memset(p, 0, sizeof *p);
}

int pretok_iter_init(pretok_iter *it, const pretok *p, const char *s, size_t n, ts_err *e) {
  memset(it, 0, sizeof *it);
  it->p = p;
  it->s = s;
  it->n = n;
  it->md = pcre2_match_data_create_from_pattern(p->re, NULL);
  if (!it->md) return err_set(e, TS_ENOMEM, "pre-tokenizer: out of memory for match data");
  return TS_OK;
}

void pretok_iter_free(pretok_iter *it) {
  if (it->md) pcre2_match_data_free(it->md);
  it->md = NULL;
}

/* Length of the UTF-8 character at s[0] (s is valid UTF-8). */
static size_t pretok_charlen(unsigned char c) {
  return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

int pretok_next(pretok_iter *it, size_t *off, size_t *len, ts_err *e) {
  if (it->has_pend) {
    it->has_pend = 0;
    *off = it->pend_s;
    *len = it->pend_e - it->pend_s;
    it->pos = it->pend_e;
    return TS_OK;
  }
  *off = it->pos;
  *len = 0;
  size_t start = it->pos;
  while (start < it->n) {
    int r;
    if (it->p->jit)
      r = pcre2_jit_match(it->p->re, (PCRE2_SPTR)it->s, it->n, start, 0, it->md, NULL);
    else
      r = pcre2_match(it->p->re, (PCRE2_SPTR)it->s, it->n, start, PCRE2_NO_UTF_CHECK, it->md, NULL);
    if (r == PCRE2_ERROR_JIT_STACKLIMIT)
      r = pcre2_match(it->p->re, (PCRE2_SPTR)it->s, it->n, start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                      it->md, NULL);
    if (r == PCRE2_ERROR_NOMATCH) break;
    if (r < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(r, msg, sizeof msg);
      return err_set(e, TS_EINTERNAL, "pre-tokenizer regex \"%s\": match failed at byte %zu: %s",
                     it->p->pattern, start, (const char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(it->md);
    size_t ms = ov[0], me = ov[1];
    if (me == ms) { /* empty match: not a piece; look again one character further */
      start = ms + pretok_charlen((unsigned char)it->s[ms]);
      continue;
    }
    if (ms > it->pos) { /* the gap first, the match next */
      *off = it->pos;
      *len = ms - it->pos;
      it->has_pend = 1;
      it->pend_s = ms;
      it->pend_e = me;
      it->pos = ms;
      return TS_OK;
    }
    *off = ms;
    *len = me - ms;
    it->pos = me;
    return TS_OK;
  }
  /* no further match: the rest is one gap piece */
  *off = it->pos;
  *len = it->n - it->pos;
  it->pos = it->n;
  return TS_OK;
}
