/* txmap.h — open-addressing hash map from byte strings to int32 values (vocabularies).
 * Keys are copied into a pool owned by the map. */
#ifndef TS_TEXT_TXMAP_H
#define TS_TEXT_TXMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct txmap_slot {
  uint64_t hash;
  uint32_t off; /* key offset in pool */
  uint32_t len; /* key length */
  int32_t val;
  int32_t used;
} txmap_slot;

typedef struct txmap {
  txmap_slot *slots;
  size_t cap;   /* power of two */
  size_t count;
  char *pool;
  size_t pool_n, pool_cap;
} txmap;

void txmap_init(txmap *m);
void txmap_free(txmap *m);
/* Inserts or overwrites key -> val. */
int txmap_put(txmap *m, const void *key, size_t len, int32_t val, ts_err *e);
/* Returns the value or -1 when absent. */
int32_t txmap_get(const txmap *m, const void *key, size_t len);

#endif
