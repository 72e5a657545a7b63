/* arena.c — chunked bump allocator. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
  arena_chunk *next; /* older chunk */
  size_t size;       /* usable bytes in data */
  size_t off;        /* bytes used */
  unsigned char *data;
};

#define ARENA_ALIGN 64

void arena_init(arena *a, size_t chunk_size) {
  memset(a, 0, sizeof *a);
  a->chunk_size = chunk_size ? chunk_size : (size_t)1 << 24;
}

int arena_init_device(arena *a, size_t chunk_size, arena_mem mem, size_t host_chunk) {
  arena_init(a, chunk_size);
  a->mem = mem;
  if (!(a->host = malloc(sizeof *a->host))) return -1;
  arena_init(a->host, host_chunk);
  return 0;
}

static arena_chunk *arena_new_chunk(const arena *a, size_t size) {
  arena_chunk *c = malloc(sizeof *c);
  if (!c) return NULL;
  size_t bytes = (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
  c->data = a->mem.alloc ? a->mem.alloc(a->mem.user, bytes) : aligned_alloc(ARENA_ALIGN, bytes);
  if (!c->data) {
    free(c);
    return NULL;
  }
  c->size = size;
  c->off = 0;
  c->next = NULL;
  return c;
}

void *arena_alloc(arena *a, size_t n) {
  size_t need = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
  if (need == 0) need = ARENA_ALIGN;
  /* Chunks form a list in fill order; everything after head is empty. */
  arena_chunk *c = a->head;
  if (!c && a->chunks) {
    c = a->head = a->chunks;
    c->off = 0;
  }
  while (c && c->off + need > c->size) {
    arena_chunk *nx = c->next;
    if (!nx || nx->size < need) break;
    nx->off = 0;
    c = a->head = nx;
  }
  if (!c || c->off + need > c->size) {
    size_t sz = need > a->chunk_size ? need : a->chunk_size;
    arena_chunk *nc = arena_new_chunk(a, sz);
    if (!nc) return NULL;
    if (c) {
      nc->next = c->next;
      c->next = nc;
    } else {
      nc->next = a->chunks;
      a->chunks = nc;
    }
    c = a->head = nc;
  }
  void *p = c->data + c->off;
  c->off += need;
  a->used += need;
  if (a->used > a->peak) a->peak = a->used;
  if (a->mem.fresh) a->mem.fresh(a->mem.user, p, need);
  return p;
}

void *arena_calloc(arena *a, size_t n) {
  void *p = arena_alloc(a, n);
  if (p) memset(p, 0, n);
  return p;
}

void *arena_host_alloc(arena *a, size_t n) { return arena_alloc(a->host ? a->host : a, n); }

arena_mark arena_get_mark(const arena *a) {
  arena_mark m = {a->head, a->head ? a->head->off : 0, a->used, NULL, 0, 0};
  if (a->host) {
    m.hchunk = a->host->head;
    m.hoff = a->host->head ? a->host->head->off : 0;
    m.hused = a->host->used;
  }
  return m;
}

void arena_rewind(arena *a, arena_mark m) {
  /* Chunks after the marked one are implicitly empty: they are reset when reached. */
  a->head = m.chunk;
  if (m.chunk) m.chunk->off = m.off;
  a->used = m.used;
  if (a->host) {
    a->host->head = m.hchunk;
    if (m.hchunk) m.hchunk->off = m.hoff;
    a->host->used = m.hused;
  }
}

void arena_reset(arena *a) {
  a->head = NULL;
  a->used = 0;
  if (a->host) arena_reset(a->host);
}

void arena_free(arena *a) {
  arena_chunk *r = a->chunks;
  while (r) {
    arena_chunk *n = r->next;
    if (a->mem.release)
      a->mem.release(a->mem.user, r->data);
    else
      free(r->data);
    free(r);
    r = n;
  }
  if (a->host) {
    arena_free(a->host);
    free(a->host);
  }
  memset(a, 0, sizeof *a);
}
