/* arena.h — bump allocator for per-step activations: many allocations, one reset.
 * Blocks are 64-byte aligned; memory grows in chunks and is reused after arena_reset. */
#ifndef TS_ARENA_H
#define TS_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk;

typedef struct arena {
  arena_chunk *head;   /* chunk being filled */
  arena_chunk *chunks; /* all chunks in fill order; those after head are empty */
  size_t chunk_size;   /* default size of a new chunk (bytes) */
  size_t used;         /* bytes handed out since the last reset */
  size_t peak;         /* high-water mark of used */
} arena;

typedef struct arena_mark {
  arena_chunk *chunk;
  size_t off;
  size_t used;
} arena_mark;

void arena_init(arena *a, size_t chunk_size);
/* Returns 64-byte aligned memory of n bytes, or NULL when out of memory. Not zeroed. */
void *arena_alloc(arena *a, size_t n);
/* Like arena_alloc, zero-filled. */
void *arena_calloc(arena *a, size_t n);
arena_mark arena_get_mark(const arena *a);
/* Frees everything allocated after the mark (memory stays owned by the arena). */
void arena_rewind(arena *a, arena_mark m);
void arena_reset(arena *a);
void arena_free(arena *a);

#endif
