/* spk_cache.c — the on-disk embedding cache (spk_cache.h). */
#include "speaker/spk_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/afile.h"
#include "base/log.h"
#include "text/hash.h"

#define SPK_CACHE_MAGIC "TSSPKEMB"
#define SPK_CACHE_VERSION 1u

static int slot_grow(spk_cache *c, ts_err *e);

static int64_t slot_find(const spk_cache *c, const char *key, uint64_t h) {
  if (!c->nslot) return -1;
  uint64_t mask = (uint64_t)c->nslot - 1;
  for (uint64_t i = h & mask;; i = (i + 1) & mask) {
    int64_t v = c->slots[i];
    if (!v) return -(int64_t)i - 2; /* empty slot i */
    if (!strcmp(c->keys[v - 1], key)) return v - 1;
  }
}

static int insert(spk_cache *c, const char *key, const float *emb, ts_err *e) {
  if ((c->n + 1) * 2 > c->nslot && slot_grow(c, e)) return e ? e->code : TS_ENOMEM;
  uint64_t h = txh_bytes(key, strlen(key));
  int64_t f = slot_find(c, key, h);
  if (f >= 0) { /* replace */
    memcpy(c->embs + f * c->dim, emb, sizeof(float) * (size_t)c->dim);
    return TS_OK;
  }
  if (c->n == c->cap) {
    int64_t nc = c->cap ? 2 * c->cap : 256;
    char **k = realloc(c->keys, sizeof(char *) * (size_t)nc);
    if (!k) return err_set(e, TS_ENOMEM, "embedding cache: out of memory");
    c->keys = k;
    float *em = realloc(c->embs, sizeof(float) * (size_t)nc * (size_t)c->dim);
    if (!em) return err_set(e, TS_ENOMEM, "embedding cache: out of memory");
    c->embs = em;
    c->cap = nc;
  }
  if (!(c->keys[c->n] = strdup(key))) return err_set(e, TS_ENOMEM, "embedding cache: out of memory");
  memcpy(c->embs + c->n * c->dim, emb, sizeof(float) * (size_t)c->dim);
  c->slots[-f - 2] = ++c->n;
  return TS_OK;
}

static int slot_grow(spk_cache *c, ts_err *e) {
  int64_t ns = c->nslot ? 2 * c->nslot : 1024;
  int64_t *s = calloc((size_t)ns, sizeof(int64_t));
  if (!s) return err_set(e, TS_ENOMEM, "embedding cache: out of memory");
  free(c->slots);
  c->slots = s;
  c->nslot = ns;
  uint64_t mask = (uint64_t)ns - 1;
  for (int64_t i = 0; i < c->n; i++) {
    uint64_t j = txh_bytes(c->keys[i], strlen(c->keys[i])) & mask;
    while (s[j]) j = (j + 1) & mask;
    s[j] = i + 1;
  }
  return TS_OK;
}

static void cache_load(spk_cache *c) {
  char *buf = NULL;
  size_t n = 0;
  ts_err le = {0};
  struct stat st;
  if (stat(c->path, &st) != 0) return; /* no cache yet */
  if (afile_read(c->path, &buf, &n, &le)) {
    log_warn("%s: unreadable embedding cache, starting empty (%s)", c->path, le.msg);
    return;
  }
  const char *why = NULL;
  size_t p = 0, hdr = 8 + 4 + 4 + 32 + 8;
  uint32_t ver, dim;
  uint64_t cnt = 0;
  if (n < hdr || memcmp(buf, SPK_CACHE_MAGIC, 8)) {
    why = "not an embedding cache";
    goto bad;
  }
  memcpy(&ver, buf + 8, 4);
  memcpy(&dim, buf + 12, 4);
  memcpy(&cnt, buf + 48, 8);
  if (ver != SPK_CACHE_VERSION || (int)dim != c->dim || strncmp(buf + 16, c->model_id, 32)) {
    why = "another version, model or embedding size";
    goto bad;
  }
  p = hdr;
  for (uint64_t i = 0; i < cnt; i++) {
    uint32_t kl;
    if (p + 4 > n) goto trunc;
    memcpy(&kl, buf + p, 4);
    p += 4;
    if (kl == 0 || kl > 8192 || p + kl + (size_t)c->dim * 4 > n) goto trunc;
    char key[8193];
    memcpy(key, buf + p, kl);
    key[kl] = 0;
    p += kl;
    float *emb = malloc(sizeof(float) * (size_t)c->dim);
    if (!emb) break;
    memcpy(emb, buf + p, sizeof(float) * (size_t)c->dim);
    p += sizeof(float) * (size_t)c->dim;
    int rc = insert(c, key, emb, &le);
    free(emb);
    if (rc) break;
  }
  free(buf);
  return;
trunc:
  why = "truncated";
bad:
  log_warn("%s: embedding cache ignored (%s); it will be rewritten", c->path, why);
  for (int64_t i = 0; i < c->n; i++) free(c->keys[i]);
  c->n = 0;
  if (c->slots) memset(c->slots, 0, sizeof(int64_t) * (size_t)c->nslot);
  c->dirty = 1;
  free(buf);
}

int spk_cache_open(spk_cache *c, const char *dir, const char *model_id, int dim, ts_err *e) {
  memset(c, 0, sizeof *c);
  if (dim < 1) return err_set(e, TS_EARG, "embedding cache: dimension %d", dim);
  c->dim = dim;
  snprintf(c->model_id, sizeof c->model_id, "%s", model_id ? model_id : "");
  if (slot_grow(c, e)) return e ? e->code : TS_ENOMEM;
  if (!dir) return TS_OK;
  int rc = afile_mkdirs(dir, e);
  if (rc) {
    spk_cache_close(c);
    return err_prefix(e, "embedding cache");
  }
  size_t n = strlen(dir) + strlen(c->model_id) + 32;
  if (!(c->path = malloc(n))) {
    spk_cache_close(c);
    return err_set(e, TS_ENOMEM, "embedding cache: out of memory");
  }
  snprintf(c->path, n, "%s/spk-emb-%s.bin", dir, c->model_id);
  cache_load(c);
  return TS_OK;
}

int spk_cache_key(const char *path, int64_t s0, int64_t len, char *buf, size_t n, ts_err *e) {
  struct stat st;
  if (stat(path, &st) != 0) return err_set(e, TS_EIO, "%s: cannot stat the audio file", path);
  int k = snprintf(buf, n, "%s|%lld|%lld%09ld|%lld|%lld", path, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                   (long)st.st_mtim.tv_nsec, (long long)s0, (long long)len);
  if (k < 0 || (size_t)k >= n) return err_set(e, TS_EARG, "%s: path too long for a cache key", path);
  return TS_OK;
}

int spk_cache_get(spk_cache *c, const char *key, float *emb) {
  int64_t f = slot_find(c, key, txh_bytes(key, strlen(key)));
  if (f < 0) {
    c->misses++;
    return 0;
  }
  memcpy(emb, c->embs + f * c->dim, sizeof(float) * (size_t)c->dim);
  c->hits++;
  return 1;
}

int spk_cache_put(spk_cache *c, const char *key, const float *emb, ts_err *e) {
  size_t kl = strlen(key);
  if (!kl || kl > 8192) return err_set(e, TS_EARG, "embedding cache: key of %zu bytes", kl);
  int rc = insert(c, key, emb, e);
  if (!rc) c->dirty = 1;
  return rc;
}

int spk_cache_save(spk_cache *c, ts_err *e) {
  if (!c->path || !c->dirty) return TS_OK;
  afile f;
  int rc = afile_open(&f, c->path, e);
  if (rc) return rc;
  char hdr[56] = {0};
  uint32_t ver = SPK_CACHE_VERSION, dim = (uint32_t)c->dim;
  uint64_t cnt = (uint64_t)c->n;
  memcpy(hdr, SPK_CACHE_MAGIC, 8);
  memcpy(hdr + 8, &ver, 4);
  memcpy(hdr + 12, &dim, 4);
  memcpy(hdr + 16, c->model_id, strlen(c->model_id));
  memcpy(hdr + 48, &cnt, 8);
  rc = afile_put(&f, hdr, sizeof hdr, e);
  for (int64_t i = 0; !rc && i < c->n; i++) {
    uint32_t kl = (uint32_t)strlen(c->keys[i]);
    if (!(rc = afile_put(&f, &kl, 4, e)) && !(rc = afile_put(&f, c->keys[i], kl, e)))
      rc = afile_put(&f, c->embs + i * c->dim, sizeof(float) * (size_t)c->dim, e);
  }
  if (rc) {
    afile_abort(&f);
    return rc;
  }
  if ((rc = afile_commit(&f, e))) return rc;
  c->dirty = 0;
  return TS_OK;
}

void spk_cache_close(spk_cache *c) {
  for (int64_t i = 0; i < c->n; i++) free(c->keys[i]);
  free(c->keys), free(c->embs), free(c->slots), free(c->path);
  memset(c, 0, sizeof *c);
}

int spk_model_id(const char *dir, char out[33], ts_err *e) {
  uint64_t h = 0x73706b31ULL;
  const char *files[2] = {"config.json", "model.safetensors"};
  for (int i = 0; i < 2; i++) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    char *buf;
    size_t n;
    int rc = afile_read(p, &buf, &n, e);
    if (rc) return rc;
    h = txh_mix(h ^ txh_bytes(buf, n)) + (uint64_t)i;
    free(buf);
  }
  snprintf(out, 33, "%016llx", (unsigned long long)h);
  return TS_OK;
}
