/* gemm_mirror.c — bf16 mirrors of weight blocks for the CPU's bf16 GEMM precision (the weights
 * hint, op_weights_bf16): while a block is held unchanged, a bf16 GEMM reads an operand inside
 * it from the mirror instead of rounding it on every call. The mirror is rounded lazily, in
 * chunks of GM_CHUNK values, the first time a GEMM reads them: decoding touches the LLM's
 * weights only, not the encoder's (the paper geometry: 0.49 of 0.82 B parameters), and memory
 * never read is never touched. A mirror's memory is kept after the hint ends and reused by the
 * next one; each hint rounds again. */
#include "tensor/gemm.h"
#include "tensor/cpu_act16.h"
#include "tensor/par.h"
#include "base/err.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GEMM_MIRRORS 4
#define GM_CHUNK_LOG 16
#define GM_CHUNK ((int64_t)1 << GM_CHUNK_LOG)

enum { GM_RAW, GM_BUSY, GM_DONE }; /* a chunk's state: not rounded, being rounded, rounded */

typedef struct gemm_mirror_slot {
  const float *w; /* the block (n values) */
  int64_t n;
  uint16_t *bits;          /* its bf16 rounding (cap values allocated) */
  atomic_uchar *state;     /* (cap / GM_CHUNK rounded up) chunk states */
  int64_t cap;
  int depth; /* open hints on the block (a generate call inside a training step nests): on while > 0 */
} gemm_mirror_slot;

static gemm_mirror_slot g_slot[GEMM_MIRRORS];
static atomic_int g_active; /* how many slots are on: a GEMM looks only when some are */

static int64_t gm_chunks(int64_t n) { return (n + GM_CHUNK - 1) >> GM_CHUNK_LOG; }

/* Chunk c of slot s rounded (nearest even, NaN stays NaN: the rounding of gemm_bf16) by the
 * first thread to claim it; a thread that finds it claimed waits until it is done. */
static void gm_round_chunk(gemm_mirror_slot *s, int64_t c) {
  unsigned char want = GM_RAW;
  if (atomic_compare_exchange_strong(&s->state[c], &want, GM_BUSY)) {
    int64_t i0 = c << GM_CHUNK_LOG, i1 = i0 + GM_CHUNK < s->n ? i0 + GM_CHUNK : s->n;
    const float *w = s->w;
    uint16_t *bits = s->bits;
#pragma omp simd
    for (int64_t i = i0; i < i1; i++) bits[i] = cpu_bf16(w[i]);
    atomic_store_explicit(&s->state[c], GM_DONE, memory_order_release);
    return;
  }
  while (atomic_load_explicit(&s->state[c], memory_order_acquire) != GM_DONE) sched_yield();
}

/* values [off, off + extent) of slot s rounded */
static void gm_fill(gemm_mirror_slot *s, int64_t off, int64_t extent) {
  int64_t c0 = off >> GM_CHUNK_LOG, c1 = (off + extent - 1) >> GM_CHUNK_LOG, c = c0;
  while (c <= c1 && atomic_load_explicit(&s->state[c], memory_order_acquire) == GM_DONE) c++;
  if (c > c1) return; /* all rounded already: the usual case */
#pragma omp parallel for schedule(dynamic) if (c1 > c && !par_in_parallel())
  for (int64_t k = c; k <= c1; k++) gm_round_chunk(s, k);
}

static void gemm_mirror_count(void) {
  int k = 0;
  for (int i = 0; i < GEMM_MIRRORS; i++) k += g_slot[i].depth > 0;
  atomic_store(&g_active, k);
}

int gemm_mirror(const float *w, int64_t n, int on) {
  gemm_mirror_slot *s = NULL;
  for (int i = 0; i < GEMM_MIRRORS && !s; i++)
    if (g_slot[i].depth > 0 && g_slot[i].w == w && g_slot[i].n == n) s = &g_slot[i];
  if (!on) { /* the innermost open hint on the block closes (none open: nothing to do) */
    if (s) s->depth--;
    gemm_mirror_count();
    return TS_OK;
  }
  if (s) { /* nested: the block is held unchanged already */
    s->depth++;
    return TS_OK;
  }
  if (!w || n <= 0 || strcmp(gemm_precision(), "bf16")) return TS_OK; /* f32 GEMMs round nothing */
  /* the memory of a slot that is off (the largest), else an unused slot: what stays allocated is
   * bounded by the most blocks ever on at once */
  for (int i = 0; i < GEMM_MIRRORS; i++)
    if (!g_slot[i].depth && g_slot[i].bits && (!s || g_slot[i].cap > s->cap)) s = &g_slot[i];
  for (int i = 0; i < GEMM_MIRRORS && !s; i++)
    if (!g_slot[i].bits) s = &g_slot[i];
  if (!s) return TS_OK; /* every slot holds an open block: this one is rounded per call */
  if (s->cap < n) {
    free(s->bits);
    free(s->state);
    s->bits = malloc(sizeof *s->bits * (size_t)n);
    s->state = malloc(sizeof *s->state * (size_t)gm_chunks(n));
    s->cap = s->bits && s->state ? n : 0;
    if (!s->cap) { /* a hint: without the memory every call rounds, as before */
      free(s->bits), free(s->state);
      s->bits = NULL, s->state = NULL;
      return TS_OK;
    }
  }
  for (int64_t c = 0; c < gm_chunks(n); c++) atomic_init(&s->state[c], GM_RAW);
  s->w = w, s->n = n, s->depth = 1;
  gemm_mirror_count();
  return TS_OK;
}

/* the open slot whose block holds all extent values at p (their offset in *off), or NULL */
static gemm_mirror_slot *gm_lookup(const float *p, int64_t extent, int64_t *off) {
  if (!atomic_load(&g_active) || !p || extent <= 0) return NULL;
  uintptr_t a = (uintptr_t)p;
  for (int i = 0; i < GEMM_MIRRORS; i++) {
    gemm_mirror_slot *s = &g_slot[i];
    uintptr_t w = (uintptr_t)s->w;
    if (s->depth > 0 && a >= w && (a - w) % sizeof(float) == 0 && (int64_t)((a - w) / sizeof(float)) <= s->n - extent) {
      *off = (int64_t)((a - w) / sizeof(float));
      return s;
    }
  }
  return NULL;
}

int gemm_mirror_has(const float *p, int64_t extent) {
  int64_t off;
  return gm_lookup(p, extent, &off) != NULL;
}

const uint16_t *gemm_mirror_find(const float *p, int64_t extent) {
  int64_t off;
  gemm_mirror_slot *s = gm_lookup(p, extent, &off);
  if (!s) return NULL;
  gm_fill(s, off, extent);
  return s->bits + off;
}

void gemm_mirror_release(void) {
  for (int i = 0; i < GEMM_MIRRORS; i++) {
    free(g_slot[i].bits);
    free(g_slot[i].state);
    memset(&g_slot[i], 0, sizeof g_slot[i]);
  }
  atomic_store(&g_active, 0);
}
