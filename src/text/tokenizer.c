/* tokenizer.c — byte-level BPE encode/decode, added tokens, streaming decode. */
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "nfc.h"
#include "tok_internal.h"
#include "txbuf.h"
#include "utf8.h"

/* ---- id lists ---- */

static int tok_ids_reserve(tok_ids *a, size_t n, ts_err *e) {
  if (a->n + n <= a->cap) return TS_OK;
  size_t c = a->cap ? a->cap : 16;
  while (c < a->n + n) c *= 2;
  int32_t *v = realloc(a->v, c * sizeof *v);
  if (!v) return err_set(e, TS_ENOMEM, "token list: out of memory (%zu ids)", c);
  a->v = v;
  a->cap = c;
  return TS_OK;
}

int tok_ids_append(tok_ids *a, const int32_t *ids, size_t n, ts_err *e) {
  int rc = tok_ids_reserve(a, n, e);
  if (rc) return rc;
  if (n) memcpy(a->v + a->n, ids, n * sizeof *ids);
  a->n += n;
  return TS_OK;
}

int tok_ids_push(tok_ids *a, int32_t id, ts_err *e) { return tok_ids_append(a, &id, 1, e); }

void tok_ids_free(tok_ids *a) {
  free(a->v);
  a->v = NULL;
  a->n = a->cap = 0;
}

/* ---- construction ---- */

int tok_new_empty(tok **out, ts_err *e) {
  tok *t = calloc(1, sizeof *t);
  if (!t) return err_set(e, TS_ENOMEM, "tokenizer: out of memory");
  txmap_init(&t->vocab);
  bpe_table_init(&t->merges);
  pthread_mutex_init(&t->mu, NULL);
  t->audio_id = -1;
  for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
  *out = t;
  return TS_OK;
}

void tok_free(tok *t) {
  if (!t) return;
  free(t->off);
  free(t->len);
  free(t->flags);
  free(t->pool);
  txmap_free(&t->vocab);
  bpe_table_free(&t->merges);
  if (t->has_pre) pretok_free(&t->pre);
  for (size_t i = 0; i < t->n_added; i++) free(t->added[i].content);
  free(t->added);
  tokcache_free(&t->cache);
  bpe_work_free(&t->scratch.work);
  free(t->scratch.sym);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

int tok_set_token(tok *t, int32_t id, const void *raw, size_t len, int flags, ts_err *e) {
  if (id < 0) return err_set(e, TS_EFORMAT, "token id %d is negative", (int)id);
  if ((size_t)id >= t->ids_cap) {
    size_t c = t->ids_cap ? t->ids_cap : 1024;
    while (c <= (size_t)id) c *= 2;
    uint32_t *o = realloc(t->off, c * sizeof *o);
    if (o) t->off = o;
    uint32_t *l = realloc(t->len, c * sizeof *l);
    if (l) t->len = l;
    uint8_t *f = realloc(t->flags, c);
    if (f) t->flags = f;
    if (!o || !l || !f) return err_set(e, TS_ENOMEM, "tokenizer: out of memory for %zu ids", c);
    memset(t->flags + t->ids_cap, 0, c - t->ids_cap);
    t->ids_cap = c;
  }
  if (t->pool_n + len > t->pool_cap) {
    size_t c = t->pool_cap ? t->pool_cap : 65536;
    while (c < t->pool_n + len) c *= 2;
    char *p = realloc(t->pool, c);
    if (!p) return err_set(e, TS_ENOMEM, "tokenizer: out of memory for token text");
    t->pool = p;
    t->pool_cap = c;
  }
  if (len) memcpy(t->pool + t->pool_n, raw, len);
  t->off[id] = (uint32_t)t->pool_n;
  t->len[id] = (uint32_t)len;
  t->pool_n += len;
  t->flags[id] = (uint8_t)(flags | TOKF_PRESENT);
  if (id >= t->n_ids) t->n_ids = id + 1;
  return TS_OK;
}

static int tok_added_cmp(const void *a, const void *b) {
  const tok_added *x = a, *y = b;
  if (x->len != y->len) return x->len > y->len ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

static const tok_added *tok_added_find(const tok *t, const char *s, size_t n) {
  for (size_t i = 0; i < t->n_added; i++)
    if (t->added[i].len == n && memcmp(t->added[i].content, s, n) == 0) return &t->added[i];
  return NULL;
}

int tok_add_token_id(tok *t, const char *content, int special, int32_t id, ts_err *e) {
  size_t n = strlen(content);
  if (!n) return err_set(e, TS_EFORMAT, "added token %d is empty", (int)id);
  const tok_added *old = tok_added_find(t, content, n);
  if (old) {
    if (old->id != id)
      return err_set(e, TS_EFORMAT, "added token \"%s\" has id %d but already id %d", content,
                     (int)id, (int)old->id);
    return TS_OK;
  }
  if (id < 0 || id == INT32_MAX) return err_set(e, TS_EFORMAT, "added token \"%s\": bad id %d", content, (int)id);
  if (id < t->n_ids && (t->flags[id] & TOKF_ADDED))
    return err_set(e, TS_EFORMAT, "added token \"%s\": id %d is already added token \"%.*s\"",
                   content, (int)id, (int)t->len[id], t->pool + t->off[id]);
  tok_added *na = realloc(t->added, (t->n_added + 1) * sizeof *na);
  if (!na) return err_set(e, TS_ENOMEM, "tokenizer: out of memory adding \"%s\"", content);
  t->added = na;
  char *c = strdup(content);
  if (!c) return err_set(e, TS_ENOMEM, "tokenizer: out of memory adding \"%s\"", content);
  int rc = tok_set_token(t, id, content, n, TOKF_ADDED | (special ? TOKF_SPECIAL : 0), e);
  if (rc) {
    free(c);
    return rc;
  }
  t->added[t->n_added++] = (tok_added){c, n, id, special != 0};
  qsort(t->added, t->n_added, sizeof *t->added, tok_added_cmp);
  t->added_first[(unsigned char)content[0]] = 1;
  return TS_OK;
}

int tok_add_token(tok *t, const char *content, int special, int32_t *id, ts_err *e) {
  size_t n = strlen(content);
  if (!n) return err_set(e, TS_EARG, "tok_add_token: empty token");
  const tok_added *old = tok_added_find(t, content, n);
  int32_t nid = old ? old->id : txmap_get(&t->vocab, content, n);
  if (nid < 0) nid = t->n_ids;
  int rc = tok_add_token_id(t, content, special, nid, e);
  if (!rc && id) *id = nid;
  return rc;
}

int tok_finish_load(tok *t, ts_err *e) {
  for (int b = 0; b < 256; b++) {
    char c = (char)b;
    t->byte_id[b] = txmap_get(&t->vocab, &c, 1);
  }
  int rc = tok_add_token(t, TOK_AUDIO, 1, &t->audio_id, e);
  if (rc) return rc;
  if (tokcache_init(&t->cache, 1u << 15) != 0)
    return err_set(e, TS_ENOMEM, "tokenizer: out of memory for the pre-token cache");
  return TS_OK;
}

/* ---- queries ---- */

int32_t tok_n_ids(const tok *t) { return t->n_ids; }
size_t tok_n_merges(const tok *t) { return t->n_merges; }
int32_t tok_audio_id(const tok *t) { return t->audio_id; }

int32_t tok_find(const tok *t, const char *s) {
  size_t n = strlen(s);
  const tok_added *a = tok_added_find(t, s, n);
  return a ? a->id : txmap_get(&t->vocab, s, n);
}

int tok_is_special(const tok *t, int32_t id) {
  return id >= 0 && id < t->n_ids && (t->flags[id] & TOKF_SPECIAL);
}

int tok_is_added(const tok *t, int32_t id) {
  return id >= 0 && id < t->n_ids && (t->flags[id] & TOKF_ADDED);
}

const char *tok_id_bytes(const tok *t, int32_t id, size_t *len) {
  if (id < 0 || id >= t->n_ids || !(t->flags[id] & TOKF_PRESENT)) {
    if (len) *len = 0;
    return NULL;
  }
  if (len) *len = t->len[id];
  return t->pool + t->off[id];
}

/* ---- encoding ---- */

static int tok_scratch_sym(tok_scratch *s, size_t n, ts_err *e) {
  if (n <= s->sym_cap) return TS_OK;
  size_t c = s->sym_cap ? s->sym_cap : 256;
  while (c < n) c *= 2;
  int32_t *p = realloc(s->sym, c * sizeof *p);
  if (!p) return err_set(e, TS_ENOMEM, "tokenizer: out of memory for a pre-token of %zu bytes", n);
  s->sym = p;
  s->sym_cap = c;
  return TS_OK;
}

/* BPE of one pre-token (raw bytes). */
static int tok_encode_piece(const tok *t, tok_scratch *sc, tokcache *cache, const char *p,
                            size_t n, tok_ids *out, ts_err *e) {
  uint64_t h = 0;
  int rc;
  if (cache && n <= TOKCACHE_MAX_KEY) {
    rc = tok_ids_reserve(out, n, e); /* a pre-token never has more ids than bytes */
    if (rc) return rc;
    h = txh_bytes(p, n);
    size_t k = tokcache_get(cache, p, n, h, out->v + out->n);
    if (k) {
      out->n += k;
      return TS_OK;
    }
  }
  if (t->ignore_merges) {
    int32_t whole = txmap_get(&t->vocab, p, n);
    if (whole >= 0) {
      if (cache && n <= TOKCACHE_MAX_KEY) tokcache_put(cache, p, n, h, &whole, 1);
      return tok_ids_push(out, whole, e);
    }
  }
  rc = tok_scratch_sym(sc, n, e);
  if (rc) return rc;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t b = t->byte_id[(unsigned char)p[i]];
    if (b >= 0) sc->sym[m++] = b; /* a byte missing from the vocabulary is dropped (no unk) */
  }
  if (!m) return TS_OK;
  size_t nout;
  rc = bpe_merge(&t->merges, &sc->work, sc->sym, m, &nout, e);
  if (rc) return rc;
  if (cache && n <= TOKCACHE_MAX_KEY) tokcache_put(cache, p, n, h, sc->work.out, nout);
  return tok_ids_append(out, sc->work.out, nout, e);
}

static int tok_is_ascii(const char *s, size_t n) {
  size_t i = 0;
  uint64_t acc = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    acc |= w;
  }
  for (; i < n; i++) acc |= (unsigned char)s[i];
  return (acc & 0x8080808080808080ULL) == 0;
}

/* One stretch of text between added tokens: NFC, pre-tokenise, BPE. off is the byte offset of
 * s in the caller's text (for messages). */
static int tok_encode_segment(const tok *t, tok_scratch *sc, tokcache *cache, const char *s,
                              size_t n, size_t off, tok_ids *out, ts_err *e) {
  if (!n) return TS_OK;
  txbuf norm = {0};
  if (!tok_is_ascii(s, n)) {
    size_t bad = txutf8_check((const unsigned char *)s, n);
    if (bad < n)
      return err_set(e, TS_EFORMAT, "tok_encode: invalid UTF-8 at byte %zu (0x%02x)", off + bad,
                     (unsigned char)s[bad]);
    if (t->nfc) {
      int rc = txnfc_append(s, n, &norm, e);
      if (rc) {
        txbuf_free(&norm);
        return err_prefix(e, "tok_encode: text at byte %zu", off);
      }
      s = norm.p;
      n = norm.n;
    }
  }
  int rc = TS_OK;
  if (!t->has_pre) {
    rc = tok_encode_piece(t, sc, cache, s, n, out, e);
  } else {
    pretok_iter it;
    rc = pretok_iter_init(&it, &t->pre, s, n, e);
    while (!rc) {
      size_t po, pl;
      rc = pretok_next(&it, &po, &pl, e);
      if (rc || !pl) break;
      rc = tok_encode_piece(t, sc, cache, s + po, pl, out, e);
    }
    pretok_iter_free(&it);
  }
  txbuf_free(&norm);
  return rc;
}

/* Length of the added token that starts at s (longest first), or 0; *id gets its id. */
static size_t tok_match_added(const tok *t, const char *s, size_t n, int32_t *id) {
  for (size_t k = 0; k < t->n_added; k++) {
    const tok_added *a = &t->added[k];
    if (a->len <= n && a->content[0] == s[0] && memcmp(a->content, s, a->len) == 0) {
      *id = a->id;
      return a->len;
    }
  }
  return 0;
}

int tok_encode(tok *t, const char *text, size_t n, int flags, tok_ids *out, ts_err *e) {
  tok_scratch local = {0}, *sc = &local;
  tokcache *cache = NULL;
  int locked = pthread_mutex_trylock(&t->mu) == 0;
  if (locked) {
    sc = &t->scratch;
    if (!(flags & TOK_ENC_NO_CACHE)) cache = &t->cache;
  }
  int rc = TS_OK;
  size_t seg = 0;
  if (!(flags & TOK_ENC_SPLIT_SPECIAL) && t->n_added) {
    for (size_t i = 0; i < n && !rc; i++) {
      if (!t->added_first[(unsigned char)text[i]]) continue;
      int32_t id;
      size_t l = tok_match_added(t, text + i, n - i, &id);
      if (!l) continue;
      rc = tok_encode_segment(t, sc, cache, text + seg, i - seg, seg, out, e);
      if (!rc) rc = tok_ids_push(out, id, e);
      i += l - 1;
      seg = i + 1;
    }
  }
  if (!rc) rc = tok_encode_segment(t, sc, cache, text + seg, n - seg, seg, out, e);
  if (locked) pthread_mutex_unlock(&t->mu);
  if (sc == &local) {
    bpe_work_free(&local.work);
    free(local.sym);
  }
  return rc;
}

/* ---- decoding ---- */

static int tok_check_id(const tok *t, int32_t id, ts_err *e) {
  if (id < 0 || id >= t->n_ids || !(t->flags[id] & TOKF_PRESENT))
    return err_set(e, TS_EARG, "tok_decode: token id %d is not in the vocabulary (size %d)",
                   (int)id, (int)t->n_ids);
  return TS_OK;
}

int tok_decode(const tok *t, const int32_t *ids, size_t n, int flags, char **out, size_t *len,
               ts_err *e) {
  txbuf raw = {0}, txt = {0};
  int rc = TS_OK;
  for (size_t i = 0; i < n && !rc; i++) {
    if ((flags & TOK_DEC_SKIP_UNKNOWN) && tok_check_id(t, ids[i], NULL)) continue;
    rc = tok_check_id(t, ids[i], e);
    if (rc) break;
    if ((flags & TOK_DEC_SKIP_SPECIAL) && (t->flags[ids[i]] & TOKF_SPECIAL)) continue;
    rc = txbuf_put(&raw, t->pool + t->off[ids[i]], t->len[ids[i]], e);
  }
  if (!rc) rc = txutf8_lossy_append(&txt, (const unsigned char *)raw.p, raw.n, e);
  txbuf_free(&raw);
  if (rc) {
    txbuf_free(&txt);
    return rc;
  }
  *out = txbuf_take(&txt, len);
  return *out ? TS_OK : err_set(e, TS_ENOMEM, "tok_decode: out of memory");
}

void tok_stream_init(tok_stream *s, const tok *t, int flags) {
  memset(s, 0, sizeof *s);
  s->t = t;
  s->flags = flags;
}

void tok_stream_free(tok_stream *s) {
  free(s->buf);
  memset(s, 0, sizeof *s);
}

/* Emits pend + (p, n) minus an unfinished tail, which stays in pend. */
static int tok_stream_emit(tok_stream *s, const char *p, size_t n, int final, const char **text,
                           size_t *len, ts_err *e) {
  txbuf raw = {0}, txt = {0};
  int rc = txbuf_put(&raw, s->pend, s->npend, e);
  if (!rc) rc = txbuf_put(&raw, p, n, e);
  if (rc) {
    txbuf_free(&raw);
    return rc;
  }
  size_t tail = final ? 0 : txutf8_incomplete_tail((const unsigned char *)raw.p, raw.n);
  rc = txutf8_lossy_append(&txt, (const unsigned char *)raw.p, raw.n - tail, e);
  if (!rc) {
    memcpy(s->pend, raw.p + raw.n - tail, tail);
    s->npend = tail;
    free(s->buf);
    s->buf = txbuf_take(&txt, &s->buf_n);
    if (!s->buf) rc = err_set(e, TS_ENOMEM, "tok_stream: out of memory");
  }
  txbuf_free(&raw);
  txbuf_free(&txt);
  if (rc) return rc;
  *text = s->buf;
  if (len) *len = s->buf_n;
  return TS_OK;
}

int tok_stream_push(tok_stream *s, int32_t id, const char **text, size_t *len, ts_err *e) {
  const tok *t = s->t;
  if ((s->flags & TOK_DEC_SKIP_UNKNOWN) && tok_check_id(t, id, NULL))
    return tok_stream_emit(s, "", 0, 0, text, len, e);
  int rc = tok_check_id(t, id, e);
  if (rc) return rc;
  if ((s->flags & TOK_DEC_SKIP_SPECIAL) && (t->flags[id] & TOKF_SPECIAL))
    return tok_stream_emit(s, "", 0, 0, text, len, e);
  return tok_stream_emit(s, t->pool + t->off[id], t->len[id], 0, text, len, e);
}

int tok_stream_finish(tok_stream *s, const char **text, size_t *len, ts_err *e) {
  return tok_stream_emit(s, "", 0, 1, text, len, e);
}
