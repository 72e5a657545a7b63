/* wer.c — word-level Levenshtein alignment and WER aggregation (see wer.h). */
#include "wer.h"

#include <stdlib.h>
#include <string.h>

#include "txmap.h"

#define WER_MAX_CELLS ((size_t)1 << 28) /* 1 GiB of DP matrix */

void wer_result_free(wer_result *r) {
  free(r->ops);
  free(r->words);
  memset(r, 0, sizeof *r);
}

void wer_stats_add(wer_stats *acc, const wer_stats *x) {
  acc->hit += x->hit;
  acc->sub += x->sub;
  acc->del += x->del;
  acc->ins += x->ins;
  acc->n_ref += x->n_ref;
  acc->n_hyp += x->n_hyp;
}

int64_t wer_stats_errors(const wer_stats *s) { return s->sub + s->del + s->ins; }

double wer_stats_rate(const wer_stats *s) {
  int64_t den = s->n_ref > 0 ? s->n_ref : 1;
  return (double)wer_stats_errors(s) / (double)den;
}

double wer_weighted(const wer_stats *sets, size_t n) {
  wer_stats acc = {0};
  for (size_t i = 0; i < n; i++) wer_stats_add(&acc, &sets[i]);
  return wer_stats_rate(&acc);
}

static int wer_is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits s on white space into a malloc'd array of pointers into a malloc'd copy. */
static int wer_split(const char *s, char **buf, const char ***words, size_t *n, ts_err *e) {
  size_t len = strlen(s);
  *buf = malloc(len + 1);
  *words = malloc((len / 2 + 1) * sizeof **words);
  *n = 0;
  if (!*buf || !*words) {
    free(*buf);
    free(*words);
    *buf = NULL;
    *words = NULL;
    return err_set(e, TS_ENOMEM, "wer: out of memory splitting %zu bytes", len);
  }
  memcpy(*buf, s, len + 1);
  char *p = *buf;
  for (;;) {
    while (*p && wer_is_space(*p)) p++;
    if (!*p) break;
    (*words)[(*n)++] = p;
    while (*p && !wer_is_space(*p)) p++;
    if (!*p) break;
    *p++ = 0;
  }
  return TS_OK;
}

int wer_align(const char *ref, const char *hyp, wer_result *out, ts_err *e) {
  char *rb, *hb;
  const char **rw, **hw;
  size_t nr, nh;
  memset(out, 0, sizeof *out);
  int rc = wer_split(ref, &rb, &rw, &nr, e);
  if (rc) return rc;
  rc = wer_split(hyp, &hb, &hw, &nh, e);
  if (!rc) {
    rc = wer_align_words(rw, nr, hw, nh, out, e);
    free(hb);
    free(hw);
  }
  free(rb);
  free(rw);
  return rc;
}

int wer_align_words(const char *const *ref, size_t nr, const char *const *hyp, size_t nh,
                    wer_result *out, ts_err *e) {
  memset(out, 0, sizeof *out);
  if (nr > INT32_MAX / 2 || nh > INT32_MAX / 2)
    return err_set(e, TS_EARG, "wer: too many words (%zu, %zu)", nr, nh);
  /* copy the words and give each distinct word an integer */
  size_t bytes = 0;
  for (size_t i = 0; i < nr; i++) bytes += strlen(ref[i]) + 1;
  for (size_t i = 0; i < nh; i++) bytes += strlen(hyp[i]) + 1;
  char *store = malloc(bytes + 1);
  const char **rp = malloc((nr + 1) * sizeof *rp), **hp = malloc((nh + 1) * sizeof *hp);
  int32_t *ri = malloc((nr + 1) * sizeof *ri), *hi = malloc((nh + 1) * sizeof *hi);
  wer_op *ops = malloc((nr + nh + 1) * sizeof *ops);
  int32_t *d = NULL;
  txmap ids;
  txmap_init(&ids);
  int rc = TS_OK;
  if (!store || !rp || !hp || !ri || !hi || !ops) {
    rc = err_set(e, TS_ENOMEM, "wer: out of memory for %zu + %zu words", nr, nh);
    goto done;
  }
  size_t off = 0;
  for (int side = 0; side < 2 && !rc; side++) {
    const char *const *w = side ? hyp : ref;
    size_t n = side ? nh : nr;
    for (size_t i = 0; i < n && !rc; i++) {
      size_t l = strlen(w[i]);
      memcpy(store + off, w[i], l + 1);
      (side ? hp : rp)[i] = store + off;
      off += l + 1;
      int32_t id = txmap_get(&ids, w[i], l);
      if (id < 0) {
        id = (int32_t)ids.count;
        rc = txmap_put(&ids, w[i], l, id, e);
      }
      (side ? hi : ri)[i] = id;
    }
  }
  if (rc) goto done;
  /* common prefix and suffix are matches */
  size_t pre = 0;
  while (pre < nr && pre < nh && ri[pre] == hi[pre]) pre++;
  size_t suf = 0;
  while (suf < nr - pre && suf < nh - pre && ri[nr - 1 - suf] == hi[nh - 1 - suf]) suf++;
  size_t n1 = nr - pre - suf, n2 = nh - pre - suf; /* middle part: s1 = ref, s2 = hyp */
  const int32_t *s1 = ri + pre, *s2 = hi + pre;
  if ((n1 + 1) > WER_MAX_CELLS / (n2 + 1)) {
    rc = err_set(e, TS_EUNSUP, "wer: %zu x %zu words is too long to align", n1, n2);
    goto done;
  }
  /* D[c][r] = distance between s1[:c] and s2[:r], stored d[c * (n2 + 1) + r] */
  size_t w2 = n2 + 1;
  d = malloc((n1 + 1) * w2 * sizeof *d);
  if (!d) {
    rc = err_set(e, TS_ENOMEM, "wer: out of memory for a %zu x %zu alignment", n1, n2);
    goto done;
  }
  for (size_t r = 0; r <= n2; r++) d[r] = (int32_t)r;
  for (size_t c = 1; c <= n1; c++) {
    int32_t *row = d + c * w2, *up = d + (c - 1) * w2;
    row[0] = (int32_t)c;
    for (size_t r = 1; r <= n2; r++) {
      int32_t best = up[r - 1] + (s1[c - 1] != s2[r - 1]);
      if (up[r] + 1 < best) best = up[r] + 1;
      if (row[r - 1] + 1 < best) best = row[r - 1] + 1;
      row[r] = best;
    }
  }
  /* backtrace from the end, collecting ops in reverse */
  size_t nops = 0;
  for (size_t k = 0; k < suf; k++) {
    size_t a = nr - 1 - k, b = nh - 1 - k;
    ops[nops++] = (wer_op){WER_EQUAL, (int32_t)a, (int32_t)b, rp[a], hp[b]};
  }
  size_t c = n1, r = n2;
#define D(cc, rr) d[(cc) * w2 + (rr)]
  while (r && c) {
    if (D(c, r) - D(c - 1, r) == 1) { /* deletion */
      c--;
      ops[nops++] = (wer_op){WER_DEL, (int32_t)(pre + c), -1, rp[pre + c], NULL};
      continue;
    }
    r--;
    if (r && D(c, r) - D(c - 1, r) == -1) { /* insertion */
      ops[nops++] = (wer_op){WER_INS, -1, (int32_t)(pre + r), NULL, hp[pre + r]};
      continue;
    }
    c--;
    wer_op_type t = s1[c] != s2[r] ? WER_SUB : WER_EQUAL;
    ops[nops++] = (wer_op){t, (int32_t)(pre + c), (int32_t)(pre + r), rp[pre + c], hp[pre + r]};
  }
#undef D
  while (c) {
    c--;
    ops[nops++] = (wer_op){WER_DEL, (int32_t)(pre + c), -1, rp[pre + c], NULL};
  }
  while (r) {
    r--;
    ops[nops++] = (wer_op){WER_INS, -1, (int32_t)(pre + r), NULL, hp[pre + r]};
  }
  for (size_t k = pre; k-- > 0;) ops[nops++] = (wer_op){WER_EQUAL, (int32_t)k, (int32_t)k, rp[k], hp[k]};
  /* reverse into reading order and count */
  for (size_t i = 0, j = nops ? nops - 1 : 0; i < j; i++, j--) {
    wer_op tmp = ops[i];
    ops[i] = ops[j];
    ops[j] = tmp;
  }
  wer_stats st = {0};
  for (size_t i = 0; i < nops; i++) {
    switch (ops[i].type) {
      case WER_EQUAL: st.hit++; break;
      case WER_SUB: st.sub++; break;
      case WER_DEL: st.del++; break;
      case WER_INS: st.ins++; break;
    }
  }
  st.n_ref = (int64_t)nr;
  st.n_hyp = (int64_t)nh;
  if (wer_stats_errors(&st) != (int64_t)d[n1 * w2 + n2] ||
      st.hit + st.sub + st.del != st.n_ref || st.hit + st.sub + st.ins != st.n_hyp) {
    rc = err_set(e, TS_EINTERNAL, "wer: alignment does not add up (S%lld D%lld I%lld)",
                 (long long)st.sub, (long long)st.del, (long long)st.ins);
    goto done;
  }
  out->st = st;
  out->ops = ops;
  out->n_ops = nops;
  out->words = store;
  ops = NULL;
  store = NULL;
done:
  txmap_free(&ids);
  free(d);
  free(ops);
  free(store);
  free(rp);
  free(hp);
  free(ri);
  free(hi);
  return rc;
}
