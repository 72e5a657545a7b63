/* cpu_scratch.c — per-thread reusable scratch buffers (see cpu_scratch.h). */
#include "tensor/cpu_scratch.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct scratch_set {
  float *buf[SCRATCH_SLOTS];
  size_t cap[SCRATCH_SLOTS];
} scratch_set;

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
  scratch_set *s = p;
  for (int i = 0; i < SCRATCH_SLOTS; i++) free(s->buf[i]);
  free(s);
}

static void scratch_init(void) { pthread_key_create(&g_key, scratch_free); }

float *cpu_scratch(int slot, size_t n) {
  if (slot < 0 || slot >= SCRATCH_SLOTS) return NULL;
  pthread_once(&g_once, scratch_init);
  scratch_set *s = pthread_getspecific(g_key);
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s || pthread_setspecific(g_key, s)) {
      free(s);
      return NULL;
    }
  }
  if (s->cap[slot] < n) {
    float *nb = realloc(s->buf[slot], sizeof(float) * (n ? n : 1));
    if (!nb) return NULL;
    s->buf[slot] = nb;
    s->cap[slot] = n;
  }
  return s->buf[slot];
}
