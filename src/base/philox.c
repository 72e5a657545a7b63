/* philox.c — Philox4x32-10 (Salmon et al., SC'11) and draws built on it. */
#include "philox.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ c1 ^ k0;
    uint32_t n1 = lo1;
    uint32_t n2 = hi0 ^ c3 ^ k1;
    uint32_t n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

void philox_init(philox_rng *r, uint64_t seed, uint64_t stream) {
  r->seed = seed;
  r->stream = stream;
  r->index = 0;
  r->avail = 0;
}

uint64_t philox_stream_id(uint64_t a, uint64_t b, uint64_t c) {
  /* splitmix64-style mixing of the three parts */
  uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull;
  x ^= (c + 0x94D049BB133111EBull) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return x;
}

uint64_t philox_hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

uint32_t philox_u32(philox_rng *r) {
  if (r->avail == 0) {
    uint32_t ctr[4] = {(uint32_t)r->index, (uint32_t)(r->index >> 32), (uint32_t)r->stream,
                       (uint32_t)(r->stream >> 32)};
    uint32_t key[2] = {(uint32_t)r->seed, (uint32_t)(r->seed >> 32)};
    philox4x32_10(ctr, key, r->buf);
    r->index++;
    r->avail = 4;
  }
  return r->buf[4 - r->avail--];
}

uint64_t philox_u64(philox_rng *r) {
  uint64_t hi = philox_u32(r);
  return (hi << 32) | philox_u32(r);
}

float philox_uniform(philox_rng *r) { return (float)(philox_u32(r) >> 8) * (1.0f / 16777216.0f); }

double philox_uniform_d(philox_rng *r) {
  return (double)(philox_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

float philox_normal(philox_rng *r) {
  double u1 = philox_uniform_d(r), u2 = philox_uniform_d(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

uint64_t philox_below(philox_rng *r, uint64_t n) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = philox_u64(r);
  while (x >= limit);
  return x % n;
}

void philox_shuffle(philox_rng *r, int64_t *idx, int64_t n) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)philox_below(r, (uint64_t)i + 1);
    int64_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}
