/* tokcache.c — pre-token cache (see tokcache.h). */
#include "tokcache.h"

#include <stdlib.h>
#include <string.h>

int tokcache_init(tokcache *c, size_t cap) {
  memset(c, 0, sizeof *c);
  c->slots = calloc(cap, sizeof *c->slots);
  c->pool_cap = cap * 48;
  c->pool = malloc(c->pool_cap);
  if (!c->slots || !c->pool) {
    tokcache_free(c);
    return -1;
  }
  c->cap = cap;
  return 0;
}

void tokcache_free(tokcache *c) {
  free(c->slots);
  free(c->pool);
  memset(c, 0, sizeof *c);
}

size_t tokcache_get(const tokcache *c, const void *key, size_t klen, uint64_t hash, int32_t *out) {
  if (!c->cap || klen > TOKCACHE_MAX_KEY) return 0;
  size_t mask = c->cap - 1;
  for (size_t j = hash & mask;; j = (j + 1) & mask) {
    const tokcache_slot *s = &c->slots[j];
    if (!s->nid) return 0;
    if (s->hash == hash && s->klen == klen && memcmp(c->pool + s->off, key, klen) == 0) {
      memcpy(out, c->pool + s->off + klen, (size_t)s->nid * sizeof(int32_t));
      return s->nid;
    }
  }
}

void tokcache_put(tokcache *c, const void *key, size_t klen, uint64_t hash, const int32_t *ids,
                  size_t n) {
  if (!c->cap || klen > TOKCACHE_MAX_KEY || n == 0 || n > klen) return;
  size_t need = klen + n * sizeof(int32_t);
  if ((c->count + 1) * 4 > c->cap * 3 || c->pool_n + need > c->pool_cap) {
    memset(c->slots, 0, c->cap * sizeof *c->slots);
    c->count = 0;
    c->pool_n = 0;
  }
  size_t mask = c->cap - 1;
  size_t j = hash & mask;
  while (c->slots[j].nid) {
    const tokcache_slot *s = &c->slots[j];
    if (s->hash == hash && s->klen == klen && memcmp(c->pool + s->off, key, klen) == 0) return;
    j = (j + 1) & mask;
  }
  memcpy(c->pool + c->pool_n, key, klen);
  memcpy(c->pool + c->pool_n + klen, ids, n * sizeof(int32_t));
  c->slots[j].hash = hash;
  c->slots[j].off = (uint32_t)c->pool_n;
  c->slots[j].klen = (uint16_t)klen;
  c->slots[j].nid = (uint16_t)n;
  c->pool_n += need;
  c->count++;
}
