/* drec_ids.c — a hash map from sample id to an int64 value (open addressing, linear probing):
 * resume sets, duplicate checks and RL selection. */
#include <stdlib.h>
#include <string.h>

#include "infer/decode_rec.h"
#include "text/hash.h"

struct drec_ids {
  char **key;    /* (cap) NULL = empty slot */
  int64_t *val;  /* (cap) */
  size_t cap;    /* power of two */
  size_t count;
};

int drec_ids_new(drec_ids **out, ts_err *e) {
  drec_ids *s = calloc(1, sizeof *s);
  if (s) {
    s->cap = 64;
    s->key = calloc(s->cap, sizeof *s->key);
    s->val = calloc(s->cap, sizeof *s->val);
  }
  if (!s || !s->key || !s->val) {
    drec_ids_free(s);
    *out = NULL;
    return err_set(e, TS_ENOMEM, "id set: out of memory");
  }
  *out = s;
  return TS_OK;
}

void drec_ids_free(drec_ids *s) {
  if (!s) return;
  if (s->key)
    for (size_t i = 0; i < s->cap; i++) free(s->key[i]);
  free(s->key);
  free(s->val);
  free(s);
}

static size_t ids_slot(char *const *key, size_t cap, const char *id) {
  size_t m = cap - 1, i = (size_t)txh_bytes(id, strlen(id)) & m;
  while (key[i] && strcmp(key[i], id) != 0) i = (i + 1) & m;
  return i;
}

static int ids_grow(drec_ids *s, ts_err *e) {
  size_t nc = s->cap * 2;
  char **nk = calloc(nc, sizeof *nk);
  int64_t *nv = calloc(nc, sizeof *nv);
  if (!nk || !nv) {
    free(nk);
    free(nv);
    return err_set(e, TS_ENOMEM, "id set: out of memory");
  }
  for (size_t i = 0; i < s->cap; i++) {
    if (!s->key[i]) continue;
    size_t j = ids_slot(nk, nc, s->key[i]);
    nk[j] = s->key[i];
    nv[j] = s->val[i];
  }
  free(s->key);
  free(s->val);
  s->key = nk;
  s->val = nv;
  s->cap = nc;
  return TS_OK;
}

int drec_ids_add(drec_ids *s, const char *id, int64_t val, int *found, int64_t *old, ts_err *e) {
  if (found) *found = 0;
  if (!id) return err_set(e, TS_EARG, "id set: NULL id");
  size_t i = ids_slot(s->key, s->cap, id);
  if (s->key[i]) {
    if (found) *found = 1;
    if (old) *old = s->val[i];
    return TS_OK;
  }
  if ((s->count + 1) * 2 > s->cap) {
    int rc = ids_grow(s, e);
    if (rc) return rc;
    i = ids_slot(s->key, s->cap, id);
  }
  s->key[i] = strdup(id);
  if (!s->key[i]) return err_set(e, TS_ENOMEM, "id set: out of memory");
  s->val[i] = val;
  s->count++;
  return TS_OK;
}

int drec_ids_get(const drec_ids *s, const char *id, int64_t *val) {
  if (!id) return 0;
  size_t i = ids_slot(s->key, s->cap, id);
  if (!s->key[i]) return 0;
  if (val) *val = s->val[i];
  return 1;
}

int drec_ids_set(drec_ids *s, const char *id, int64_t val) {
  if (!id) return 0;
  size_t i = ids_slot(s->key, s->cap, id);
  if (!s->key[i]) return 0;
  s->val[i] = val;
  return 1;
}

size_t drec_ids_count(const drec_ids *s) { return s->count; }
