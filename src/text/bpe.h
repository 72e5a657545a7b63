/* bpe.h — the merge table of a byte-level BPE (pair of ids -> rank and merged id) and the
 * merge loop for one pre-token: repeatedly merge the lowest-ranked adjacent pair (leftmost
 * first on ties). A binary heap of candidate pairs over a linked list of symbols keeps long
 * pre-tokens at O(n log n). */
#ifndef TS_TEXT_BPE_H
#define TS_TEXT_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct bpe_slot {
  uint64_t key;  /* (left << 32) | right */
  int32_t rank;  /* -1: empty slot */
  int32_t id;    /* merged token */
} bpe_slot;

typedef struct bpe_table {
  bpe_slot *slots;
  size_t cap;    /* power of two */
  size_t count;
} bpe_table;

void bpe_table_init(bpe_table *t);
void bpe_table_free(bpe_table *t);
/* Adds merge (left, right) -> id with the given rank; a repeated pair takes the new values. */
int bpe_table_put(bpe_table *t, int32_t left, int32_t right, int32_t rank, int32_t id, ts_err *e);
/* Rank of (left, right), or -1; *id gets the merged token. */
static inline int32_t bpe_table_get(const bpe_table *t, int32_t left, int32_t right, int32_t *id);

/* Scratch space for bpe_merge, reused across calls (one per thread). */
typedef struct bpe_work {
  int32_t *sym_id, *sym_prev, *sym_next; /* (cap) */
  uint64_t *heap;                        /* (2 cap) (rank << 32) | position */
  int32_t *out;                          /* (cap) result of the last call */
  size_t cap;
} bpe_work;

void bpe_work_free(bpe_work *w);
/* Merges the n symbols ids (n >= 1); the result is w->out[0 .. *nout). */
int bpe_merge(const bpe_table *t, bpe_work *w, const int32_t *ids, size_t n, size_t *nout,
              ts_err *e);

/* ---- inline lookup ---- */
#include "hash.h"
static inline int32_t bpe_table_get(const bpe_table *t, int32_t left, int32_t right, int32_t *id) {
  uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
  size_t mask = t->cap - 1;
  size_t j = txh_u64(key) & mask;
  for (;;) {
    const bpe_slot *s = &t->slots[j];
    if (s->rank < 0) return -1;
    if (s->key == key) {
      *id = s->id;
      return s->rank;
    }
    j = (j + 1) & mask;
  }
}

#endif
