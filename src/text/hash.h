/* hash.h — a fast 64-bit hash of byte strings for the text module's hash tables. */
#ifndef TS_TEXT_HASH_H
#define TS_TEXT_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t txh_mix(uint64_t x) {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  return x;
}

/* Hash of n bytes: 8-byte words folded with multiply-xorshift steps. */
static inline uint64_t txh_bytes(const void *p, size_t n) {
  const unsigned char *s = (const unsigned char *)p;
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0x9fb21c651e98df25ULL;
    h ^= h >> 29;
    s += 8;
    n -= 8;
  }
  if (n) {
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w ^ ((uint64_t)n << 59)) * 0x9fb21c651e98df25ULL;
  }
  return txh_mix(h);
}

static inline uint64_t txh_u64(uint64_t x) { return txh_mix(x ^ 0x2545f4914f6cdd1dULL); }

#endif
