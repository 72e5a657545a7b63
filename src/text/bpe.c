/* bpe.c — merge table and the heap-driven merge loop (see bpe.h). */
#include "bpe.h"

#include <stdlib.h>
#include <string.h>

static int bpe_alloc_slots(bpe_slot **out, size_t cap, ts_err *e) {
  bpe_slot *s = malloc(cap * sizeof *s);
  if (!s) return err_set(e, TS_ENOMEM, "BPE merge table: out of memory (%zu slots)", cap);
  for (size_t i = 0; i < cap; i++) s[i].rank = -1;
  *out = s;
  return TS_OK;
}

void bpe_table_init(bpe_table *t) { memset(t, 0, sizeof *t); }

void bpe_table_free(bpe_table *t) {
  free(t->slots);
  memset(t, 0, sizeof *t);
}

static void bpe_insert(bpe_slot *slots, size_t cap, uint64_t key, int32_t rank, int32_t id,
                       int *added) {
  size_t j = txh_u64(key) & (cap - 1);
  while (slots[j].rank >= 0 && slots[j].key != key) j = (j + 1) & (cap - 1);
  *added = slots[j].rank < 0;
  slots[j].key = key;
  slots[j].rank = rank;
  slots[j].id = id;
}

int bpe_table_put(bpe_table *t, int32_t left, int32_t right, int32_t rank, int32_t id, ts_err *e) {
  if (rank < 0) return err_set(e, TS_EARG, "BPE merge table: negative rank %d", (int)rank);
  if ((t->count + 1) * 2 > t->cap) {
    size_t ncap = t->cap ? t->cap * 2 : 1024;
    bpe_slot *ns = NULL;
    int rc = bpe_alloc_slots(&ns, ncap, e);
    if (rc) return rc;
    for (size_t i = 0; i < t->cap; i++) {
      int added;
      if (t->slots[i].rank >= 0)
        bpe_insert(ns, ncap, t->slots[i].key, t->slots[i].rank, t->slots[i].id, &added);
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
  }
  int added;
  bpe_insert(t->slots, t->cap, ((uint64_t)(uint32_t)left << 32) | (uint32_t)right, rank, id, &added);
  t->count += (size_t)added;
  return TS_OK;
}

void bpe_work_free(bpe_work *w) {
  free(w->sym_id);
  free(w->sym_prev);
  free(w->sym_next);
  free(w->heap);
  free(w->out);
  memset(w, 0, sizeof *w);
}

static int bpe_work_reserve(bpe_work *w, size_t n, ts_err *e) {
  if (n <= w->cap) return TS_OK;
  size_t c = w->cap ? w->cap : 64;
  while (c < n) c *= 2;
  int32_t *a = realloc(w->sym_id, c * sizeof *a);
  if (a) w->sym_id = a;
  int32_t *b = realloc(w->sym_prev, c * sizeof *b);
  if (b) w->sym_prev = b;
  int32_t *d = realloc(w->sym_next, c * sizeof *d);
  if (d) w->sym_next = d;
  uint64_t *h = realloc(w->heap, 2 * c * sizeof *h); /* a merge pops one and pushes two */
  if (h) w->heap = h;
  int32_t *o = realloc(w->out, c * sizeof *o);
  if (o) w->out = o;
  if (!a || !b || !d || !h || !o)
    return err_set(e, TS_ENOMEM, "BPE: out of memory for a pre-token of %zu symbols", n);
  w->cap = c;
  return TS_OK;
}

/* ---- binary min-heap of (rank << 32 | position) ---- */
static inline void heap_push(uint64_t *h, size_t *n, uint64_t v) {
  size_t i = (*n)++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (h[p] <= v) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = v;
}

static inline uint64_t heap_pop(uint64_t *h, size_t *n) {
  uint64_t top = h[0];
  uint64_t v = h[--(*n)];
  size_t i = 0, m = *n;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= m) break;
    if (c + 1 < m && h[c + 1] < h[c]) c++;
    if (v <= h[c]) break;
    h[i] = h[c];
    i = c;
  }
  if (m) h[i] = v;
  return top;
}

int bpe_merge(const bpe_table *t, bpe_work *w, const int32_t *ids, size_t n, size_t *nout,
              ts_err *e) {
  int rc = bpe_work_reserve(w, n + 1, e);
  if (rc) return rc;
  if (n > INT32_MAX) return err_set(e, TS_EARG, "BPE: pre-token of %zu symbols is too long", n);
  *nout = 0;
  if (n == 0) return TS_OK;
  if (n == 1 || !t->cap) {
    memcpy(w->out, ids, n * sizeof *ids);
    *nout = n;
    return TS_OK;
  }
  int32_t *id = w->sym_id, *prev = w->sym_prev, *next = w->sym_next;
  uint64_t *heap = w->heap;
  size_t hn = 0;
  for (size_t i = 0; i < n; i++) {
    id[i] = ids[i];
    prev[i] = (int32_t)i - 1;
    next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
  }
  for (size_t i = 0; i + 1 < n; i++) {
    int32_t mid = -1;
    int32_t r = bpe_table_get(t, id[i], id[i + 1], &mid);
    if (r >= 0) heap_push(heap, &hn, ((uint64_t)(uint32_t)r << 32) | (uint32_t)i);
  }
  while (hn) {
    uint64_t top = heap_pop(heap, &hn);
    int32_t rank = (int32_t)(top >> 32);
    int32_t pos = (int32_t)(uint32_t)top;
    if (id[pos] < 0) continue; /* merged away */
    int32_t nx = next[pos];
    if (nx < 0) continue;
    int32_t mid = -1;
    int32_t r = bpe_table_get(t, id[pos], id[nx], &mid);
    if (r != rank) continue; /* stale: the pair at pos changed */
    /* merge pos and nx into pos */
    id[pos] = mid;
    id[nx] = -1;
    int32_t nn = next[nx];
    next[pos] = nn;
    if (nn >= 0) prev[nn] = pos;
    int32_t pv = prev[pos];
    if (pv >= 0) {
      int32_t m1 = -1;
      int32_t r2 = bpe_table_get(t, id[pv], mid, &m1);
      if (r2 >= 0) heap_push(heap, &hn, ((uint64_t)(uint32_t)r2 << 32) | (uint32_t)pv);
    }
    if (nn >= 0) {
      int32_t m2 = -1;
      int32_t r3 = bpe_table_get(t, id[pos], id[nn], &m2);
      if (r3 >= 0) heap_push(heap, &hn, ((uint64_t)(uint32_t)r3 << 32) | (uint32_t)pos);
    }
  }
  size_t k = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) w->out[k++] = id[i];
  *nout = k;
  return TS_OK;
}
