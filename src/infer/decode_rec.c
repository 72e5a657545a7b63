/* decode_rec.c — the decode record: life cycle, scoring a raw model output (format check,
 * normalisation, word alignment) and the wrong-speaker test. */
#include "infer/decode_rec.h"

#include <stdlib.h>
#include <string.h>

#include "infer/cot_parse.h"
#include "text/normalize.h"
#include "text/txbuf.h"
#include "text/utf8.h"
#include "text/wer.h"

void drec_init(drec *r) {
  memset(r, 0, sizeof *r);
  r->target = -1;
  r->think_ok = -1;
  r->wrong_speaker = -1;
  r->repetition = -1;
  r->tokens = -1;
  r->sample = -1;
}

void drec_free(drec *r) {
  if (!r) return;
  free(r->id);
  free(r->set);
  free(r->ref);
  free(r->hyp);
  free(r->raw);
  free(r->fmt);
  free(r->think);
  drec_init(r);
}

int64_t drec_errors(const drec *r) { return r->sub + r->del + r->ins; }

static int drec_dup(const char *s, char **out, ts_err *e) {
  *out = NULL;
  if (!s) return TS_OK;
  *out = strdup(s);
  if (!*out) return err_set(e, TS_ENOMEM, "decode record: out of memory");
  return TS_OK;
}

int drec_copy(drec *dst, const drec *src, ts_err *e) {
  *dst = *src;
  dst->id = dst->set = dst->ref = dst->hyp = dst->raw = dst->fmt = dst->think = NULL;
  int rc = drec_dup(src->id, &dst->id, e);
  if (!rc) rc = drec_dup(src->set, &dst->set, e);
  if (!rc) rc = drec_dup(src->ref, &dst->ref, e);
  if (!rc) rc = drec_dup(src->hyp, &dst->hyp, e);
  if (!rc) rc = drec_dup(src->raw, &dst->raw, e);
  if (!rc) rc = drec_dup(src->fmt, &dst->fmt, e);
  if (!rc) rc = drec_dup(src->think, &dst->think, e);
  if (rc) drec_free(dst);
  return rc;
}

int drec_clean_text(const char *s, size_t n, char **out, ts_err *e) {
  txbuf b = {0};
  *out = NULL;
  int rc = txbuf_reserve(&b, n + 1, e);
  size_t i = 0;
  while (!rc && i < n) {
    const char *z = memchr(s + i, 0, n - i);
    size_t seg = z ? (size_t)(z - (s + i)) : n - i;
    rc = txutf8_lossy_append(&b, (const unsigned char *)s + i, seg, e);
    i += seg;
    if (!rc && i < n) { /* a NUL byte */
      rc = txbuf_put(&b, "\xEF\xBF\xBD", 3, e);
      i++;
    }
  }
  if (rc) {
    txbuf_free(&b);
    return rc;
  }
  *out = txbuf_take(&b, NULL);
  if (!*out) *out = strdup("");
  if (!*out) return err_set(e, TS_ENOMEM, "decode record: out of memory");
  return TS_OK;
}

static int drec_is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int drec_from_output(const char *id, const char *set, const char *ref, const char *raw,
                     size_t raw_n, drec *out, ts_err *e) {
  drec_init(out);
  if (!id || !set || !ref)
    return err_set(e, TS_EARG, "drec_from_output: id, set and ref must not be NULL");
  if (!raw) raw_n = 0;
  size_t a_off = 0, a_len = 0, t_off = 0, t_len = 0;
  cot_fmt_err f = cot_format_check(raw ? raw : "", raw_n, &a_off, &a_len, &t_off, &t_len);
  out->format_ok = f == COT_FMT_OK;
  int rc = drec_dup(id, &out->id, e);
  if (!rc) rc = drec_dup(set, &out->set, e);
  if (!rc) rc = drec_clean_text(raw ? raw : "", raw_n, &out->raw, e);
  if (!rc) rc = norm_librispeech(ref, strlen(ref), &out->ref, NULL, e);
  if (!rc && out->format_ok) {
    rc = norm_librispeech(raw + a_off, a_len, &out->hyp, NULL, e);
    while (t_len && drec_is_ws(raw[t_off])) t_off++, t_len--;
    while (t_len && drec_is_ws(raw[t_off + t_len - 1])) t_len--;
    if (!rc) rc = drec_clean_text(raw + t_off, t_len, &out->think, e);
  } else if (!rc) {
    rc = drec_dup("", &out->hyp, e);
    if (!rc) rc = drec_dup(cot_fmt_err_name(f), &out->fmt, e);
  }
  wer_result w = {0};
  if (!rc) rc = wer_align(out->ref, out->hyp, &w, e);
  if (!rc) {
    out->sub = w.st.sub;
    out->del = w.st.del;
    out->ins = w.st.ins;
    out->n = w.st.n_ref;
    wer_result_free(&w);
  }
  if (rc) {
    err_prefix(e, "decode record \"%s\"", id);
    drec_free(out);
  }
  return rc;
}

/* WER of hyp against a raw (unnormalised) reference. */
static int drec_rate_vs(const char *ref_raw, const char *hyp, double *rate, ts_err *e) {
  char *ref = NULL;
  int rc = norm_librispeech(ref_raw, strlen(ref_raw), &ref, NULL, e);
  if (rc) return rc;
  wer_result w = {0};
  rc = wer_align(ref, hyp, &w, e);
  free(ref);
  if (rc) return rc;
  *rate = wer_stats_rate(&w.st);
  wer_result_free(&w);
  return TS_OK;
}

int drec_set_wrong_speaker(drec *r, const char *const *others, size_t n_others, ts_err *e) {
  if (!r->ref || !r->hyp) return err_set(e, TS_EARG, "drec_set_wrong_speaker: record has no ref/hyp");
  r->wrong_speaker = 0;
  if (!r->hyp[0] || n_others == 0) return TS_OK;
  wer_result w = {0};
  int rc = wer_align(r->ref, r->hyp, &w, e);
  if (rc) return rc;
  double own = wer_stats_rate(&w.st);
  wer_result_free(&w);
  for (size_t i = 0; i < n_others; i++) {
    if (!others[i]) continue;
    double o;
    rc = drec_rate_vs(others[i], r->hyp, &o, e);
    if (rc) return rc;
    if (o < own) {
      r->wrong_speaker = 1;
      break;
    }
  }
  return TS_OK;
}

int drec_set_think_ok(drec *r, const struct cot_facts *f, const struct cot_check_opts *o, ts_err *e) {
  if (!r->raw) return err_set(e, TS_EARG, "drec_set_think_ok: record has no raw output");
  cot_parsed *p = malloc(sizeof *p);
  cot_check *c = malloc(sizeof *c);
  int rc = p && c ? TS_OK : err_set(e, TS_ENOMEM, "decode record: out of memory");
  if (!rc) rc = cot_parse(r->raw, strlen(r->raw), p, e);
  if (!rc && !p->format_ok) {
    r->think_ok = 0;
  } else if (!rc && p->think_empty) {
    r->think_ok = -1;
  } else if (!rc) {
    rc = cot_check_run(p, f, o, c, e);
    if (!rc) r->think_ok = c->n_wrong == 0 && c->n_missing == 0;
  }
  if (rc) err_prefix(e, "decode record \"%s\"", r->id ? r->id : "");
  free(p);
  free(c);
  return rc;
}
