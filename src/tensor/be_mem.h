/* be_mem.h — memory helpers over a backend: activation arenas in its memory (device chunks
 * plus a host twin for host arrays), and copies between host arrays and its buffers that are
 * plain copies on the CPU. Model code uses these so the same path runs on every device. */
#ifndef TS_BE_MEM_H
#define TS_BE_MEM_H

#include "base/arena.h"
#include "tensor/backend.h"

/* CPU backend: a plain arena. Other backends: chunks of the backend's memory and a host
 * twin (arena_host_alloc). Returns TS_OK or TS_ENOMEM. */
int be_arena_init(arena *a, backend *be, size_t chunk_size, ts_err *e);
/* host -> backend buffer and back (bytes); errors name `what`. */
int be_upload(backend *be, void *dst, const void *src, size_t bytes, const char *what, ts_err *e);
int be_download(backend *be, void *dst, const void *src, size_t bytes, const char *what, ts_err *e);
/* n floats of backend memory from the arena, uploaded from host src (NULL: left as is). */
float *be_arena_upload(backend *be, arena *a, const float *src, int64_t n, const char *what, ts_err *e);
/* What the backend keeps of an attention forward on q, k with cfg for its backward
 * (attn_cfg.keep, op_attn_keep_bytes), from the arena: *keep holds the buffer and cfg->keep
 * points at it, or cfg->keep stays as it was when the backend keeps nothing. keep must live
 * until the backward (the caller's saved activations). TS_OK or TS_ENOMEM (naming `what`). */
int be_attn_keep(backend *be, arena *a, const tensor *q, const tensor *k, attn_cfg *cfg, attn_keep *keep,
                 const char *what, ts_err *e);
/* 1 when the backend's buffers are host memory the caller may read and write directly. */
static inline int be_is_host(const backend *be) { return be->device == DEV_CPU; }

#endif
