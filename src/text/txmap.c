/* txmap.c — open-addressing (linear probing) byte-string -> int32 map. */
#include "txmap.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

void txmap_init(txmap *m) { memset(m, 0, sizeof *m); }

void txmap_free(txmap *m) {
  free(m->slots);
  free(m->pool);
  memset(m, 0, sizeof *m);
}

static int txmap_grow(txmap *m, ts_err *e) {
  size_t ncap = m->cap ? m->cap * 2 : 1024;
  txmap_slot *ns = calloc(ncap, sizeof *ns);
  if (!ns) return err_set(e, TS_ENOMEM, "txmap: out of memory growing to %zu slots", ncap);
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->slots[i].used) continue;
    size_t j = m->slots[i].hash & (ncap - 1);
    while (ns[j].used) j = (j + 1) & (ncap - 1);
    ns[j] = m->slots[i];
  }
  free(m->slots);
  m->slots = ns;
  m->cap = ncap;
  return TS_OK;
}

int32_t txmap_get(const txmap *m, const void *key, size_t len) {
  if (!m->cap) return -1;
  uint64_t h = txh_bytes(key, len);
  size_t j = h & (m->cap - 1);
  while (m->slots[j].used) {
    const txmap_slot *s = &m->slots[j];
    if (s->hash == h && s->len == len && memcmp(m->pool + s->off, key, len) == 0) return s->val;
    j = (j + 1) & (m->cap - 1);
  }
  return -1;
}

int txmap_put(txmap *m, const void *key, size_t len, int32_t val, ts_err *e) {
  if ((m->count + 1) * 2 > m->cap) {
    int rc = txmap_grow(m, e);
    if (rc) return rc;
  }
  uint64_t h = txh_bytes(key, len);
  size_t j = h & (m->cap - 1);
  while (m->slots[j].used) {
    txmap_slot *s = &m->slots[j];
    if (s->hash == h && s->len == len && memcmp(m->pool + s->off, key, len) == 0) {
      s->val = val;
      return TS_OK;
    }
    j = (j + 1) & (m->cap - 1);
  }
  if (m->pool_n + len > UINT32_MAX) return err_set(e, TS_ENOMEM, "txmap: key pool over 4 GiB");
  if (m->pool_n + len > m->pool_cap) {
    size_t nc = m->pool_cap ? m->pool_cap * 2 : 65536;
    while (nc < m->pool_n + len) nc *= 2;
    char *np = realloc(m->pool, nc);
    if (!np) return err_set(e, TS_ENOMEM, "txmap: out of memory for key pool (%zu bytes)", nc);
    m->pool = np;
    m->pool_cap = nc;
  }
  if (len) memcpy(m->pool + m->pool_n, key, len);
  txmap_slot *s = &m->slots[j];
  s->hash = h;
  s->off = (uint32_t)m->pool_n;
  s->len = (uint32_t)len;
  s->val = val;
  s->used = 1;
  m->pool_n += len;
  m->count++;
  return TS_OK;
}
