/* philox.h — counter-based Philox4x32-10 random numbers. A draw depends only on
 * (seed, stream, counter), so the same (seed, step, sample) gives the same numbers on CPU
 * and GPU, in any thread order and across resumes. */
#ifndef TS_PHILOX_H
#define TS_PHILOX_H

#include <stdint.h>

/* One Philox4x32-10 block: 4 counter words and a 2-word key give 4 random words. */
void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* A stream of draws: key = seed, counter = (index, stream). State is two integers,
 * so it is saved in a checkpoint as-is. */
typedef struct philox_rng {
  uint64_t seed;
  uint64_t stream; /* e.g. a hash of (step, sample) */
  uint64_t index;  /* next 128-bit block */
  uint32_t buf[4];
  int avail;       /* unused words left in buf */
} philox_rng;

void philox_init(philox_rng *r, uint64_t seed, uint64_t stream);
/* Mixes several integers (e.g. step, sample id) into one stream id. */
uint64_t philox_stream_id(uint64_t a, uint64_t b, uint64_t c);
/* 64-bit FNV-1a hash of a string (sample ids as stream keys). */
uint64_t philox_hash_str(const char *s);
uint32_t philox_u32(philox_rng *r);
uint64_t philox_u64(philox_rng *r);
/* Uniform in [0, 1) with 24 random bits (float) or 53 bits (double). */
float philox_uniform(philox_rng *r);
double philox_uniform_d(philox_rng *r);
/* Standard normal (Box-Muller). */
float philox_normal(philox_rng *r);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t philox_below(philox_rng *r, uint64_t n);
/* Fisher-Yates shuffle of n indices. */
void philox_shuffle(philox_rng *r, int64_t *idx, int64_t n);

#endif
