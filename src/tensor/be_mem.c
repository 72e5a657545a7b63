/* be_mem.c — arenas in a backend's memory, host<->backend copies, and attention keep buffers from an arena (be_mem.h). */
#include "tensor/be_mem.h"

#include <string.h>

#include "tensor/ops.h"

static void *bm_alloc(void *user, size_t bytes) {
  backend *be = user;
  return be->ops->alloc(be, bytes);
}

static void bm_release(void *user, void *p) {
  backend *be = user;
  be->ops->release(be, p);
}

static void bm_fresh(void *user, void *p, size_t bytes) {
  backend *be = user;
  be->ops->fresh(be, p, bytes);
}

int be_arena_init(arena *a, backend *be, size_t chunk_size, ts_err *e) {
  if (be_is_host(be)) {
    arena_init(a, chunk_size);
    return TS_OK;
  }
  arena_mem mem = {bm_alloc, bm_release, be, bm_fresh};
  size_t hc = chunk_size / 16 > ((size_t)1 << 16) ? chunk_size / 16 : (size_t)1 << 16;
  if (arena_init_device(a, chunk_size, mem, hc))
    return err_set(e, TS_ENOMEM, "%s: cannot allocate an activation arena", be->ops->name);
  return TS_OK;
}

/* host <-> backend copy; to_dev picks the direction */
static int bm_copy(backend *be, void *dst, const void *src, size_t bytes, int to_dev, const char *what, ts_err *e) {
  if (!bytes) return TS_OK;
  if (be_is_host(be)) {
    memmove(dst, src, bytes);
    return TS_OK;
  }
  if ((to_dev ? be->ops->to_device : be->ops->to_host)(be, dst, src, bytes, e))
    return err_set(e, TS_EDEVICE, "%s: copy of %zu bytes %s the %s device failed", what, bytes, to_dev ? "to" : "from",
                   be->ops->name);
  return TS_OK;
}

int be_upload(backend *be, void *dst, const void *src, size_t bytes, const char *what, ts_err *e) {
  return bm_copy(be, dst, src, bytes, 1, what, e);
}

int be_download(backend *be, void *dst, const void *src, size_t bytes, const char *what, ts_err *e) {
  return bm_copy(be, dst, src, bytes, 0, what, e);
}

float *be_arena_upload(backend *be, arena *a, const float *src, int64_t n, const char *what, ts_err *e) {
  size_t bytes = sizeof(float) * (size_t)(n > 0 ? n : 1);
  float *p = arena_alloc(a, bytes);
  if (!p) {
    err_set(e, TS_ENOMEM, "%s: activation arena out of memory (%zu bytes)", what, bytes);
    return NULL;
  }
  if (src && n > 0 && be_upload(be, p, src, sizeof(float) * (size_t)n, what, e)) return NULL;
  return p;
}

int be_attn_keep(backend *be, arena *a, const tensor *q, const tensor *k, attn_cfg *cfg, attn_keep *keep,
                 const char *what, ts_err *e) {
  size_t bytes = op_attn_keep_bytes(be, q, k, cfg);
  if (!bytes) return TS_OK;
  void *buf = arena_alloc(a, bytes);
  if (!buf) return err_set(e, TS_ENOMEM, "%s: activation arena out of memory (%zu bytes kept for the attention)", what, bytes);
  *keep = (attn_keep){buf, bytes, 0, 0};
  cfg->keep = keep;
  return TS_OK;
}
