/* strmap.h — open-addressing hash map from byte strings to int32 values (vocabularies).
 * Keys are copied into a pool owned by the map. */
#ifndef TS_TEXT_STRMAP_H
#define TS_TEXT_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct strmap_slot {
  uint64_t hash;
  uint32_t off; /* key offset in pool */
  uint32_t len; /* key length */
  int32_t val;
  int32_t used;
} strmap_slot;

typedef struct strmap {
  strmap_slot *slots;
  size_t cap;   /* power of two */
  size_t count;
  char *pool;
  size_t pool_n, pool_cap;
} strmap;

void strmap_init(strmap *m);
void strmap_free(strmap *m);
/* Inserts or overwrites key -> val. */
int strmap_put(strmap *m, const void *key, size_t len, int32_t val, ts_err *e);
/* Returns the value or -1 when absent. */
int32_t strmap_get(const strmap *m, const void *key, size_t len);

#endif
