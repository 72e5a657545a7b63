/* arena.h — bump allocator for per-step activations: many allocations, one reset.
 * Blocks are 64-byte aligned; memory grows in chunks and is reused after arena_reset.
 * A device arena takes its chunks from an allocator hook (a backend's device memory) and
 * owns a host twin for the small host-side arrays of a step (positions, ids, lengths);
 * arena_host_alloc serves those, and marks, rewinds and resets cover both. */
#ifndef TS_ARENA_H
#define TS_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk;

typedef struct arena_mem {
  void *(*alloc)(void *user, size_t bytes); /* NULL: aligned_alloc */
  void (*release)(void *user, void *p);
  void *user;
  /* not NULL: called on every block arena_alloc hands out (a checking device fills it with
   * NaN, so that a read before the first write shows) */
  void (*fresh)(void *user, void *p, size_t bytes);
} arena_mem;

typedef struct arena {
  arena_chunk *head;   /* chunk being filled */
  arena_chunk *chunks; /* all chunks in fill order; those after head are empty */
  size_t chunk_size;   /* default size of a new chunk (bytes) */
  size_t used;         /* bytes handed out since the last reset */
  size_t peak;         /* high-water mark of used */
  arena_mem mem;       /* where chunks come from */
  struct arena *host;  /* device arenas: the host twin (owned), else NULL */
} arena;

typedef struct arena_mark {
  arena_chunk *chunk;
  size_t off;
  size_t used;
  arena_chunk *hchunk; /* the host twin's position */
  size_t hoff, hused;
} arena_mark;

void arena_init(arena *a, size_t chunk_size);
/* A device arena: chunks from mem, host arrays from a host twin of host_chunk bytes per
 * chunk. Returns 0, or -1 when the twin cannot be allocated. */
int arena_init_device(arena *a, size_t chunk_size, arena_mem mem, size_t host_chunk);
/* Returns 64-byte aligned memory of n bytes, or NULL when out of memory. Not zeroed. */
void *arena_alloc(arena *a, size_t n);
/* Like arena_alloc, zero-filled (host arenas only). */
void *arena_calloc(arena *a, size_t n);
/* Host memory for n bytes: from the host twin of a device arena, else from a itself. */
void *arena_host_alloc(arena *a, size_t n);
arena_mark arena_get_mark(const arena *a);
/* Frees everything allocated after the mark (memory stays owned by the arena). */
void arena_rewind(arena *a, arena_mark m);
void arena_reset(arena *a);
void arena_free(arena *a);

#endif
