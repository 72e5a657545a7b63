/* gemm_mirror.c — bf16 mirrors of weight blocks for the CPU's bf16 GEMM precision (the weights
 * hint, op_weights_bf16): while a block is held unchanged, its bf16 rounding is kept once, and
 * a bf16 GEMM reads an operand inside the block from the mirror instead of rounding it on every
 * call. A mirror's memory is kept after the hint ends (a training loop brackets every step) and
 * reused by the next hint on the same block. */
#include "tensor/gemm.h"
#include "tensor/par.h"
#include "base/err.h"

#include <stdint.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define GEMM_MIRRORS 4

typedef struct gemm_mirror_slot {
  const float *w; /* the block (n values) */
  int64_t n;
  uint16_t *bits; /* its bf16 rounding (cap values allocated) */
  int64_t cap;
  int depth; /* open hints on the block (a generate call inside a training step nests): on while > 0 */
} gemm_mirror_slot;

static gemm_mirror_slot g_slot[GEMM_MIRRORS];
static atomic_int g_active; /* how many slots are on: a GEMM looks only when some are */

/* w[0..n) rounded to nearest even into bits (NaN stays NaN), the rounding of gemm_bf16 */
static void gemm_mirror_round(const float *w, int64_t n, uint16_t *bits) {
#pragma omp parallel for schedule(static) if (n > 65536 && !par_in_parallel())
  for (int64_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &w[i], sizeof u);
    uint32_t rne = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = (u >> 16) | 0x40u;
    bits[i] = (uint16_t)(((u & 0x7fffffffu) > 0x7f800000u) ? nan : rne);
  }
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
  if (s) { /* nested: the block is held unchanged and rounded already */
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
    s->bits = malloc(sizeof *s->bits * (size_t)n);
    s->cap = s->bits ? n : 0;
    if (!s->bits) return TS_OK; /* a hint: without the memory every call rounds, as before */
  }
  gemm_mirror_round(w, n, s->bits);
  s->w = w, s->n = n, s->depth = 1;
  gemm_mirror_count();
  return TS_OK;
}

const uint16_t *gemm_mirror_find(const float *p, int64_t extent) {
  if (!atomic_load(&g_active) || !p || extent <= 0) return NULL;
  uintptr_t a = (uintptr_t)p;
  for (int i = 0; i < GEMM_MIRRORS; i++) {
    const gemm_mirror_slot *s = &g_slot[i];
    uintptr_t w = (uintptr_t)s->w;
    if (s->depth > 0 && a >= w && (a - w) % sizeof(float) == 0 && (int64_t)((a - w) / sizeof(float)) <= s->n - extent)
      return s->bits + (a - w) / sizeof(float);
  }
  return NULL;
}

void gemm_mirror_release(void) {
  for (int i = 0; i < GEMM_MIRRORS; i++) {
    free(g_slot[i].bits);
    memset(&g_slot[i], 0, sizeof g_slot[i]);
  }
  atomic_store(&g_active, 0);
}
