/* spk_cache.h — on-disk cache of speaker embeddings, so that building CoT data again does not
 * recompute them. One file per model: DIR/spk-emb-<model id>.bin. A key names a segment of an
 * audio file by its path, size and modification time (so an edited file misses) and its first
 * sample and length: "PATH|SIZE|MTIME_NS|S0|LEN".
 *
 * File format (host byte order): "TSSPKEMB", u32 version (1), u32 dim, 32-byte model id
 * (NUL-padded), u64 count, then count records of u32 key length, key bytes, dim f32. A file
 * that does not match (other model, dim, truncated) is ignored with a warning and rewritten. */
#ifndef TS_SPK_CACHE_H
#define TS_SPK_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct spk_cache {
  char *path;        /* cache file; NULL = memory only */
  char model_id[33];
  int dim;
  int64_t n, cap;
  char **keys;       /* (n) */
  float *embs;       /* (n, dim) */
  int64_t *slots;    /* (nslot) index + 1, 0 = empty */
  int64_t nslot;
  int dirty;
  int64_t hits, misses;
} spk_cache;

/* Opens the cache of model_id with embeddings of dim floats in dir (created if needed) and
 * loads what is there. dir NULL: a cache in memory only. */
int spk_cache_open(spk_cache *c, const char *dir, const char *model_id, int dim, ts_err *e);
/* Writes the key of samples [s0, s0 + len) of path into buf (stat for size and mtime). */
int spk_cache_key(const char *path, int64_t s0, int64_t len, char *buf, size_t n, ts_err *e);
/* Copies the embedding of key into emb and returns 1, or returns 0 when absent. */
int spk_cache_get(spk_cache *c, const char *key, float *emb);
int spk_cache_put(spk_cache *c, const char *key, const float *emb, ts_err *e);
/* Writes the file (atomically) when something was added. */
int spk_cache_save(spk_cache *c, ts_err *e);
void spk_cache_close(spk_cache *c);
/* A 16-hex-digit identity of a model directory's config.json and model.safetensors bytes. */
int spk_model_id(const char *dir, char out[33], ts_err *e);

#endif
