/* bpe_train.c — byte-level BPE trainer and tokenizer.json writer (see bpe_train.h). */
#include "bpe_train.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "bytemap.h"
#include "hash.h"
#include "nfc.h"
#include "pretok.h"
#include "txmap.h"
#include "txbuf.h"
#include "utf8.h"

static const char *const bpetrain_specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>",
                                                 "<|audio|>"};
#define BPETRAIN_NSPECIAL 4

typedef struct bt_word {
  int32_t *sym; /* (n) current symbols */
  int32_t n;
  int32_t stamp; /* last merge that touched it */
  int64_t count;
} bt_word;

typedef struct bt_pair {
  uint64_t key;    /* (left << 32) | right */
  int64_t count;
  int32_t *words;  /* words that had this pair (may hold stale entries) */
  int32_t nw, cw;
  int32_t stamp;   /* last merge that queued it */
} bt_pair;

typedef struct bt_heap_ent {
  int64_t count;
  uint64_t key;
} bt_heap_ent;

struct bpetrain {
  bpetrain_cfg cfg;
  pretok pre;
  txmap word_ids; /* raw pre-token -> word index */
  bt_word *words;
  size_t n_words, cap_words;
  /* tokens: raw bytes */
  txbuf tok_bytes;
  uint32_t *tok_off, *tok_len;
  int32_t n_tok, cap_tok;
  txmap tok_ids;   /* raw bytes -> id */
  int32_t byte_tok[256];
  /* pairs */
  bt_pair *pairs;
  size_t n_pairs, cap_pairs;
  uint64_t *pkeys; int32_t *pidx; size_t pcap; /* key -> pair index (open addressing) */
  bt_heap_ent *heap;
  size_t nheap, cap_heap;
  /* result */
  int32_t (*merges)[2];
  int n_merges;
  int ran;
};

/* ---- tokens ---- */
static int bt_add_token(bpetrain *b, const void *raw, size_t n, int32_t *id, ts_err *e) {
  int32_t old = txmap_get(&b->tok_ids, raw, n);
  if (old >= 0) {
    *id = old;
    return TS_OK;
  }
  if (b->n_tok == b->cap_tok) {
    int32_t c = b->cap_tok ? b->cap_tok * 2 : 1024;
    uint32_t *o = realloc(b->tok_off, (size_t)c * sizeof *o);
    if (o) b->tok_off = o;
    uint32_t *l = realloc(b->tok_len, (size_t)c * sizeof *l);
    if (l) b->tok_len = l;
    if (!o || !l) return err_set(e, TS_ENOMEM, "bpetrain: out of memory for tokens");
    b->cap_tok = c;
  }
  b->tok_off[b->n_tok] = (uint32_t)b->tok_bytes.n;
  b->tok_len[b->n_tok] = (uint32_t)n;
  int rc = txbuf_put(&b->tok_bytes, raw, n, e);
  if (!rc) rc = txmap_put(&b->tok_ids, raw, n, b->n_tok, e);
  if (rc) return rc;
  *id = b->n_tok++;
  return TS_OK;
}

static int bt_cp_cmp(const void *x, const void *y) {
  uint32_t a = bytemap_to_cp(*(const uint8_t *)x), c = bytemap_to_cp(*(const uint8_t *)y);
  return a < c ? -1 : a > c;
}

int bpetrain_new(const bpetrain_cfg *cfg, bpetrain **out, ts_err *e) {
  *out = NULL;
  if (cfg->n_merges < 0 || cfg->min_freq < 1)
    return err_set(e, TS_EARG, "bpetrain: n_merges %d must be >= 0 and min_freq %lld >= 1",
                   cfg->n_merges, (long long)cfg->min_freq);
  bpetrain *b = calloc(1, sizeof *b);
  if (!b) return err_set(e, TS_ENOMEM, "bpetrain: out of memory");
  b->cfg = *cfg;
  txmap_init(&b->word_ids);
  txmap_init(&b->tok_ids);
  int rc = pretok_init(&b->pre, cfg->pattern ? cfg->pattern : PRETOK_QWEN2_PATTERN, e);
  if (rc) {
    free(b);
    return rc;
  }
  b->cfg.pattern = b->pre.pattern;
  uint8_t order[256];
  for (int i = 0; i < 256; i++) order[i] = (uint8_t)i;
  qsort(order, 256, 1, bt_cp_cmp);
  for (int i = 0; i < 256 && !rc; i++) rc = bt_add_token(b, &order[i], 1, &b->byte_tok[order[i]], e);
  if (rc) {
    bpetrain_free(b);
    return rc;
  }
  *out = b;
  return TS_OK;
}

void bpetrain_free(bpetrain *b) {
  if (!b) return;
  pretok_free(&b->pre);
  txmap_free(&b->word_ids);
  txmap_free(&b->tok_ids);
  for (size_t i = 0; i < b->n_words; i++) free(b->words[i].sym);
  free(b->words);
  txbuf_free(&b->tok_bytes);
  free(b->tok_off);
  free(b->tok_len);
  for (size_t i = 0; i < b->n_pairs; i++) free(b->pairs[i].words);
  free(b->pairs);
  free(b->pkeys);
  free(b->pidx);
  free(b->heap);
  free(b->merges);
  free(b);
}

/* ---- counting words ---- */
static int bt_count_word(bpetrain *b, const char *p, size_t n, ts_err *e) {
  int32_t w = txmap_get(&b->word_ids, p, n);
  if (w >= 0) {
    b->words[w].count++;
    return TS_OK;
  }
  if (b->n_words == b->cap_words) {
    size_t c = b->cap_words ? b->cap_words * 2 : 4096;
    bt_word *nw = realloc(b->words, c * sizeof *nw);
    if (!nw) return err_set(e, TS_ENOMEM, "bpetrain: out of memory for words");
    b->words = nw;
    b->cap_words = c;
  }
  if (b->n_words >= INT32_MAX || n > INT32_MAX) return err_set(e, TS_EARG, "bpetrain: corpus too large");
  bt_word *x = &b->words[b->n_words];
  x->sym = malloc((n ? n : 1) * sizeof *x->sym);
  if (!x->sym) return err_set(e, TS_ENOMEM, "bpetrain: out of memory for words");
  for (size_t i = 0; i < n; i++) x->sym[i] = b->byte_tok[(unsigned char)p[i]];
  x->n = (int32_t)n;
  x->count = 1;
  x->stamp = -1;
  int rc = txmap_put(&b->word_ids, p, n, (int32_t)b->n_words, e);
  if (rc) {
    free(x->sym);
    return rc;
  }
  b->n_words++;
  return TS_OK;
}

static int bt_feed_segment(bpetrain *b, const char *s, size_t n, ts_err *e) {
  if (!n) return TS_OK;
  txbuf norm = {0};
  int rc = txnfc_append(s, n, &norm, e);
  if (rc) {
    txbuf_free(&norm);
    return err_prefix(e, "bpetrain");
  }
  pretok_iter it;
  rc = pretok_iter_init(&it, &b->pre, norm.p, norm.n, e);
  while (!rc) {
    size_t off, len;
    rc = pretok_next(&it, &off, &len, e);
    if (rc || !len) break;
    rc = bt_count_word(b, norm.p + off, len, e);
  }
  pretok_iter_free(&it);
  txbuf_free(&norm);
  return rc;
}

int bpetrain_feed(bpetrain *b, const char *text, size_t n, ts_err *e) {
  if (b->ran) return err_set(e, TS_EARG, "bpetrain_feed: the trainer already ran");
  size_t bad = txutf8_check((const unsigned char *)text, n);
  if (bad < n) return err_set(e, TS_EFORMAT, "bpetrain_feed: invalid UTF-8 at byte %zu", bad);
  size_t seg = 0;
  int rc = TS_OK;
  for (size_t i = 0; i < n && !rc; i++) {
    if (text[i] != '<') continue;
    for (int k = 0; k < BPETRAIN_NSPECIAL; k++) {
      size_t l = strlen(bpetrain_specials[k]);
      if (l <= n - i && !memcmp(text + i, bpetrain_specials[k], l)) {
        rc = bt_feed_segment(b, text + seg, i - seg, e);
        i += l - 1;
        seg = i + 1;
        break;
      }
    }
  }
  if (!rc) rc = bt_feed_segment(b, text + seg, n - seg, e);
  return rc;
}

int bpetrain_feed_file(bpetrain *b, const char *path, ts_err *e) {
  char *buf;
  size_t n;
  int rc = afile_read(path, &buf, &n, e);
  if (rc) return rc;
  rc = bpetrain_feed(b, buf, n, e);
  free(buf);
  return rc ? err_prefix(e, "%s", path) : TS_OK;
}

/* ---- pairs ---- */
static int bt_pair_index(bpetrain *b, uint64_t key, int create, int32_t *out, ts_err *e) {
  if (create && (b->n_pairs + 1) * 2 > b->pcap) {
    size_t nc = b->pcap ? b->pcap * 2 : 4096;
    uint64_t *nk = malloc(nc * sizeof *nk);
    int32_t *ni = malloc(nc * sizeof *ni);
    if (!nk || !ni) {
      free(nk);
      free(ni);
      return err_set(e, TS_ENOMEM, "bpetrain: out of memory for pairs");
    }
    for (size_t i = 0; i < nc; i++) ni[i] = -1;
    for (size_t i = 0; i < b->pcap; i++) {
      if (b->pidx[i] < 0) continue;
      size_t j = txh_u64(b->pkeys[i]) & (nc - 1);
      while (ni[j] >= 0) j = (j + 1) & (nc - 1);
      nk[j] = b->pkeys[i];
      ni[j] = b->pidx[i];
    }
    free(b->pkeys);
    free(b->pidx);
    b->pkeys = nk;
    b->pidx = ni;
    b->pcap = nc;
  }
  *out = -1;
  if (!b->pcap) return TS_OK;
  size_t j = txh_u64(key) & (b->pcap - 1);
  while (b->pidx[j] >= 0) {
    if (b->pkeys[j] == key) {
      *out = b->pidx[j];
      return TS_OK;
    }
    j = (j + 1) & (b->pcap - 1);
  }
  if (!create) return TS_OK;
  if (b->n_pairs == b->cap_pairs) {
    size_t c = b->cap_pairs ? b->cap_pairs * 2 : 4096;
    bt_pair *np = realloc(b->pairs, c * sizeof *np);
    if (!np) return err_set(e, TS_ENOMEM, "bpetrain: out of memory for pairs");
    b->pairs = np;
    b->cap_pairs = c;
  }
  bt_pair *p = &b->pairs[b->n_pairs];
  memset(p, 0, sizeof *p);
  p->key = key;
  p->stamp = -1;
  b->pkeys[j] = key;
  b->pidx[j] = (int32_t)b->n_pairs;
  *out = (int32_t)b->n_pairs++;
  return TS_OK;
}

static inline uint64_t bt_key(int32_t l, int32_t r) {
  return ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
}

/* count[pair] += delta; with a positive delta the word is recorded as holding the pair. */
static int bt_pair_add(bpetrain *b, int32_t l, int32_t r, int64_t delta, int32_t w, ts_err *e) {
  int32_t pi = -1;
  int rc = bt_pair_index(b, bt_key(l, r), delta > 0, &pi, e);
  if (rc || pi < 0) return rc;
  bt_pair *p = &b->pairs[pi];
  p->count += delta;
  if (delta > 0 && (p->nw == 0 || p->words[p->nw - 1] != w)) {
    if (p->nw == p->cw) {
      int32_t c = p->cw ? p->cw * 2 : 4;
      int32_t *nw = realloc(p->words, (size_t)c * sizeof *nw);
      if (!nw) return err_set(e, TS_ENOMEM, "bpetrain: out of memory for pair lists");
      p->words = nw;
      p->cw = c;
    }
    p->words[p->nw++] = w;
  }
  return TS_OK;
}

/* max-heap on (count, then smaller key) */
static inline int bt_before(const bt_heap_ent *a, const bt_heap_ent *c) {
  return a->count > c->count || (a->count == c->count && a->key < c->key);
}

static int bt_push(bpetrain *b, int64_t count, uint64_t key, ts_err *e) {
  if (b->nheap == b->cap_heap) {
    size_t c = b->cap_heap ? b->cap_heap * 2 : 4096;
    bt_heap_ent *nh = realloc(b->heap, c * sizeof *nh);
    if (!nh) return err_set(e, TS_ENOMEM, "bpetrain: out of memory for the heap");
    b->heap = nh;
    b->cap_heap = c;
  }
  bt_heap_ent v = {count, key};
  size_t i = b->nheap++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!bt_before(&v, &b->heap[p])) break;
    b->heap[i] = b->heap[p];
    i = p;
  }
  b->heap[i] = v;
  return TS_OK;
}

static bt_heap_ent bt_pop(bpetrain *b) {
  bt_heap_ent top = b->heap[0], v = b->heap[--b->nheap];
  size_t i = 0, n = b->nheap;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && bt_before(&b->heap[c + 1], &b->heap[c])) c++;
    if (!bt_before(&b->heap[c], &v)) break;
    b->heap[i] = b->heap[c];
    i = c;
  }
  if (n) b->heap[i] = v;
  return top;
}

/* Applies merge (l, r) -> m to word w, updating pair counts; queues new pairs (with m). */
static int bt_merge_word(bpetrain *b, int32_t w, int32_t l, int32_t r, int32_t m, int32_t stamp,
                         int32_t **touched, size_t *nt, size_t *ct, ts_err *e) {
  bt_word *x = &b->words[w];
  int found = 0;
  for (int32_t i = 0; i + 1 < x->n; i++)
    if (x->sym[i] == l && x->sym[i + 1] == r) found = 1;
  if (!found) return TS_OK;
  int rc = TS_OK;
  for (int32_t i = 0; i + 1 < x->n && !rc; i++) rc = bt_pair_add(b, x->sym[i], x->sym[i + 1], -x->count, w, e);
  int32_t k = 0;
  for (int32_t i = 0; i < x->n; i++) {
    if (i + 1 < x->n && x->sym[i] == l && x->sym[i + 1] == r) {
      x->sym[k++] = m;
      i++;
    } else {
      x->sym[k++] = x->sym[i];
    }
  }
  x->n = k;
  for (int32_t i = 0; i + 1 < x->n && !rc; i++) {
    rc = bt_pair_add(b, x->sym[i], x->sym[i + 1], x->count, w, e);
    if (rc || (x->sym[i] != m && x->sym[i + 1] != m)) continue;
    int32_t pi = -1;
    rc = bt_pair_index(b, bt_key(x->sym[i], x->sym[i + 1]), 0, &pi, e);
    if (rc || pi < 0 || b->pairs[pi].stamp == stamp) continue;
    b->pairs[pi].stamp = stamp;
    if (*nt == *ct) {
      size_t c = *ct ? *ct * 2 : 64;
      int32_t *nt2 = realloc(*touched, c * sizeof *nt2);
      if (!nt2) return err_set(e, TS_ENOMEM, "bpetrain: out of memory");
      *touched = nt2;
      *ct = c;
    }
    (*touched)[(*nt)++] = pi;
  }
  return rc;
}

int bpetrain_run(bpetrain *b, ts_err *e) {
  if (b->ran) return err_set(e, TS_EARG, "bpetrain_run: already ran");
  b->ran = 1;
  int rc = TS_OK;
  b->merges = malloc(((size_t)b->cfg.n_merges + 1) * sizeof *b->merges);
  if (!b->merges) return err_set(e, TS_ENOMEM, "bpetrain: out of memory");
  for (size_t w = 0; w < b->n_words && !rc; w++)
    for (int32_t i = 0; i + 1 < b->words[w].n && !rc; i++)
      rc = bt_pair_add(b, b->words[w].sym[i], b->words[w].sym[i + 1], b->words[w].count, (int32_t)w, e);
  for (size_t i = 0; i < b->n_pairs && !rc; i++)
    if (b->pairs[i].count > 0) rc = bt_push(b, b->pairs[i].count, b->pairs[i].key, e);
  int32_t *touched = NULL;
  size_t ct = 0;
  txbuf cat = {0};
  while (!rc && b->n_merges < b->cfg.n_merges && b->nheap) {
    bt_heap_ent top = bt_pop(b);
    int32_t pi = -1;
    rc = bt_pair_index(b, top.key, 0, &pi, e);
    if (rc || pi < 0) break;
    bt_pair *p = &b->pairs[pi];
    if (p->count != top.count) { /* stale entry */
      if (p->count > 0 && p->count < top.count) rc = bt_push(b, p->count, p->key, e);
      continue;
    }
    if (top.count < b->cfg.min_freq) break;
    int32_t l = (int32_t)(top.key >> 32), r = (int32_t)(uint32_t)top.key, m;
    cat.n = 0;
    rc = txbuf_put(&cat, b->tok_bytes.p + b->tok_off[l], b->tok_len[l], e);
    if (!rc) rc = txbuf_put(&cat, b->tok_bytes.p + b->tok_off[r], b->tok_len[r], e);
    if (!rc) rc = bt_add_token(b, cat.p, cat.n, &m, e);
    if (rc) break;
    int32_t stamp = b->n_merges;
    b->merges[b->n_merges][0] = l;
    b->merges[b->n_merges][1] = r;
    b->n_merges++;
    size_t nt = 0;
    /* the list may grow while we walk it (a word can hold (l, r) again): copy it first */
    int32_t nw = p->nw;
    int32_t *ws = malloc(((size_t)nw + 1) * sizeof *ws);
    if (!ws) {
      rc = err_set(e, TS_ENOMEM, "bpetrain: out of memory");
      break;
    }
    memcpy(ws, p->words, (size_t)nw * sizeof *ws);
    for (int32_t k = 0; k < nw && !rc; k++) {
      int32_t w = ws[k];
      if (b->words[w].stamp == stamp) continue;
      b->words[w].stamp = stamp;
      rc = bt_merge_word(b, w, l, r, m, stamp, &touched, &nt, &ct, e);
    }
    free(ws);
    for (size_t k = 0; k < nt && !rc; k++)
      if (b->pairs[touched[k]].count > 0)
        rc = bt_push(b, b->pairs[touched[k]].count, b->pairs[touched[k]].key, e);
  }
  free(touched);
  txbuf_free(&cat);
  return rc;
}

int bpetrain_n_merges(const bpetrain *b) { return b->n_merges; }

/* ---- tokenizer.json ---- */
static int bt_bytelevel(const bpetrain *b, int32_t id, txbuf *out, ts_err *e) {
  out->n = 0;
  int rc = bytemap_encode(b->tok_bytes.p + b->tok_off[id], b->tok_len[id], out, e);
  if (!rc) rc = txbuf_reserve(out, 0, e);
  return rc;
}

int bpetrain_save(const bpetrain *b, const char *path, ts_err *e) {
  if (!b->ran) return err_set(e, TS_EARG, "bpetrain_save: run the trainer first");
  cJSON *j = cJSON_CreateObject();
  txbuf s1 = {0}, s2 = {0};
  int rc = TS_OK;
  cJSON_AddStringToObject(j, "version", "1.0");
  cJSON_AddNullToObject(j, "truncation");
  cJSON_AddNullToObject(j, "padding");
  cJSON *added = cJSON_AddArrayToObject(j, "added_tokens");
  for (int k = 0; k < BPETRAIN_NSPECIAL; k++) {
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "id", b->n_tok + k);
    cJSON_AddStringToObject(a, "content", bpetrain_specials[k]);
    cJSON_AddBoolToObject(a, "single_word", 0);
    cJSON_AddBoolToObject(a, "lstrip", 0);
    cJSON_AddBoolToObject(a, "rstrip", 0);
    cJSON_AddBoolToObject(a, "normalized", 0);
    cJSON_AddBoolToObject(a, "special", 1);
    cJSON_AddItemToArray(added, a);
  }
  cJSON *norm = cJSON_AddObjectToObject(j, "normalizer");
  cJSON_AddStringToObject(norm, "type", "NFC");
  cJSON *pre = cJSON_AddObjectToObject(j, "pre_tokenizer");
  cJSON_AddStringToObject(pre, "type", "Sequence");
  cJSON *list = cJSON_AddArrayToObject(pre, "pretokenizers");
  cJSON *split = cJSON_CreateObject();
  cJSON_AddStringToObject(split, "type", "Split");
  cJSON *pat = cJSON_AddObjectToObject(split, "pattern");
  cJSON_AddStringToObject(pat, "Regex", b->cfg.pattern);
  cJSON_AddStringToObject(split, "behavior", "Isolated");
  cJSON_AddBoolToObject(split, "invert", 0);
  cJSON_AddItemToArray(list, split);
  cJSON *bl = cJSON_CreateObject();
  cJSON_AddStringToObject(bl, "type", "ByteLevel");
  cJSON_AddBoolToObject(bl, "add_prefix_space", 0);
  cJSON_AddBoolToObject(bl, "trim_offsets", 0);
  cJSON_AddBoolToObject(bl, "use_regex", 0);
  cJSON_AddItemToArray(list, bl);
  cJSON_AddItemToObject(j, "post_processor", cJSON_Duplicate(bl, 1));
  cJSON_AddItemToObject(j, "decoder", cJSON_Duplicate(bl, 1));
  cJSON *model = cJSON_AddObjectToObject(j, "model");
  cJSON_AddStringToObject(model, "type", "BPE");
  cJSON_AddNullToObject(model, "dropout");
  cJSON_AddNullToObject(model, "unk_token");
  cJSON_AddStringToObject(model, "continuing_subword_prefix", "");
  cJSON_AddStringToObject(model, "end_of_word_suffix", "");
  cJSON_AddBoolToObject(model, "fuse_unk", 0);
  cJSON_AddBoolToObject(model, "byte_fallback", 0);
  cJSON_AddBoolToObject(model, "ignore_merges", 0);
  cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
  for (int32_t id = 0; id < b->n_tok && !rc; id++) {
    rc = bt_bytelevel(b, id, &s1, e);
    if (!rc) cJSON_AddNumberToObject(vocab, s1.p, id);
  }
  cJSON *merges = cJSON_AddArrayToObject(model, "merges");
  for (int k = 0; k < b->n_merges && !rc; k++) {
    rc = bt_bytelevel(b, b->merges[k][0], &s1, e);
    if (!rc) rc = bt_bytelevel(b, b->merges[k][1], &s2, e);
    if (rc) break;
    const char *pair[2] = {s1.p, s2.p};
    cJSON_AddItemToArray(merges, cJSON_CreateStringArray(pair, 2));
  }
  if (!rc) rc = jsonx_save(path, j, e);
  txbuf_free(&s1);
  txbuf_free(&s2);
  cJSON_Delete(j);
  return rc;
}
