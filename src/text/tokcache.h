/* tokcache.h — cache of frequent pre-tokens: raw bytes -> token ids. Fixed size; when it is
 * full it is emptied and refilled (frequent words come back at once). Not thread-safe: the
 * tokenizer guards it with a try-lock and encodes without it when another thread holds it. */
#ifndef TS_TEXT_TOKCACHE_H
#define TS_TEXT_TOKCACHE_H

#include <stddef.h>
#include <stdint.h>

#define TOKCACHE_MAX_KEY 64 /* longer pre-tokens are not cached */

typedef struct tokcache_slot {
  uint64_t hash;
  uint32_t off;  /* in pool: key bytes, then ids (int32, unaligned) */
  uint16_t klen;
  uint16_t nid;  /* 0: empty slot */
} tokcache_slot;

typedef struct tokcache {
  tokcache_slot *slots;
  size_t cap;    /* power of two */
  size_t count;
  unsigned char *pool;
  size_t pool_n, pool_cap;
} tokcache;

/* Allocates a cache of cap slots (power of two); returns 0, or -1 when out of memory. */
int tokcache_init(tokcache *c, size_t cap);
void tokcache_free(tokcache *c);
/* Copies the cached ids of key to out (room for klen ids) and returns their count, or 0. */
size_t tokcache_get(const tokcache *c, const void *key, size_t klen, uint64_t hash, int32_t *out);
/* Stores key -> ids (n >= 1); silently does nothing for keys over TOKCACHE_MAX_KEY. */
void tokcache_put(tokcache *c, const void *key, size_t klen, uint64_t hash, const int32_t *ids,
                  size_t n);

#endif
