/* spk_import.c — reading imported embeddings from JSONL (spk_import.h). */
#include "speaker/spk_import.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"

#define SPK_SEG_TOL 0.005

typedef struct row {
  spk_seg s;
  int64_t at; /* index of its embedding in the load buffer */
} row;

static int seg_cmp3(const char *ua, double sa, double da, const spk_seg *b) {
  int c = strcmp(ua, b->utt);
  if (c) return c;
  if (fabs(sa - b->start) > SPK_SEG_TOL) return sa < b->start ? -1 : 1;
  if (fabs(da - b->duration) > SPK_SEG_TOL) return da < b->duration ? -1 : 1;
  return 0;
}

static int row_cmp(const void *a, const void *b) {
  const row *x = a, *y = b;
  int c = strcmp(x->s.utt, y->s.utt);
  if (c) return c;
  if (x->s.start != y->s.start) return x->s.start < y->s.start ? -1 : 1;
  if (x->s.duration != y->s.duration) return x->s.duration < y->s.duration ? -1 : 1;
  return x->s.line - y->s.line;
}

void spk_table_free(spk_table *t) {
  for (int64_t i = 0; i < t->n; i++) free(t->seg[i].utt);
  free(t->seg), free(t->emb), free(t->path);
  memset(t, 0, sizeof *t);
}

static int parse_line(const char *path, int ln, const char *s, size_t n, int *dim, row *r, float **embs,
                      int64_t *cap, int64_t idx, ts_err *e) {
  cJSON *j = cJSON_ParseWithLength(s, n);
  if (!j || !cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return err_set(e, TS_EFORMAT, "%s:%d: not a JSON object", path, ln);
  }
  int rc = TS_OK;
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "utt");
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "start");
  const cJSON *du = cJSON_GetObjectItemCaseSensitive(j, "duration");
  const cJSON *em = cJSON_GetObjectItemCaseSensitive(j, "emb");
  if (!cJSON_IsString(u) || !u->valuestring[0]) {
    rc = err_set(e, TS_EFORMAT, "%s:%d: \"utt\" is missing or not a non-empty string", path, ln);
    goto done;
  }
  if ((st && !cJSON_IsNull(st) && !cJSON_IsNumber(st)) || (du && !cJSON_IsNull(du) && !cJSON_IsNumber(du))) {
    rc = err_set(e, TS_EFORMAT, "%s:%d: \"start\" and \"duration\" must be numbers (seconds)", path, ln);
    goto done;
  }
  double s0 = cJSON_IsNumber(st) ? st->valuedouble : 0, d0 = cJSON_IsNumber(du) ? du->valuedouble : 0;
  if (!isfinite(s0) || !isfinite(d0) || s0 < 0 || d0 < 0) {
    rc = err_set(e, TS_EFORMAT, "%s:%d: start %g / duration %g must be finite and >= 0", path, ln, s0, d0);
    goto done;
  }
  if (!cJSON_IsArray(em) || cJSON_GetArraySize(em) < 1) {
    rc = err_set(e, TS_EFORMAT, "%s:%d: \"emb\" must be a non-empty array of numbers", path, ln);
    goto done;
  }
  int k = cJSON_GetArraySize(em);
  if (*dim == 0) *dim = k;
  if (k != *dim) {
    rc = err_set(e, TS_EFORMAT, "%s:%d: embedding has %d values, expected %d (dimension mismatch)", path, ln, k, *dim);
    goto done;
  }
  if (idx == *cap) {
    int64_t nc = *cap ? 2 * *cap : 64;
    float *p = realloc(*embs, sizeof(float) * (size_t)nc * (size_t)k);
    if (!p) {
      rc = err_set(e, TS_ENOMEM, "%s: out of memory", path);
      goto done;
    }
    *embs = p, *cap = nc;
  }
  float *dst = *embs + idx * k;
  int i = 0;
  for (const cJSON *v = em->child; v; v = v->next, i++) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
      rc = err_set(e, TS_EFORMAT, "%s:%d: \"emb\"[%d] is not a finite number", path, ln, i);
      goto done;
    }
    dst[i] = (float)v->valuedouble;
  }
  r->s.utt = strdup(u->valuestring);
  r->s.start = s0, r->s.duration = d0, r->s.line = ln, r->at = idx;
  if (!r->s.utt) rc = err_set(e, TS_ENOMEM, "%s: out of memory", path);
done:
  cJSON_Delete(j);
  return rc;
}

int spk_table_load(const char *path, int dim, spk_table *t, ts_err *e) {
  memset(t, 0, sizeof *t);
  char *buf;
  size_t n;
  int rc = afile_read(path, &buf, &n, e);
  if (rc) return err_prefix(e, "embedding import");
  row *rows = NULL;
  float *embs = NULL;
  int64_t nr = 0, cr = 0, ce = 0;
  int d = dim > 0 ? dim : 0, ln = 0;
  for (size_t p = 0; p < n;) {
    size_t q = p;
    while (q < n && buf[q] != '\n') q++;
    ln++;
    size_t a = p;
    while (a < q && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r')) a++;
    if (a < q) {
      if (nr == cr) {
        int64_t nc = cr ? 2 * cr : 64;
        row *x = realloc(rows, sizeof(row) * (size_t)nc);
        if (!x) {
          rc = err_set(e, TS_ENOMEM, "%s: out of memory", path);
          goto fail;
        }
        rows = x, cr = nc;
      }
      if ((rc = parse_line(path, ln, buf + a, q - a, &d, &rows[nr], &embs, &ce, nr, e))) goto fail;
      nr++;
    }
    p = q + 1;
  }
  if (!nr) {
    rc = err_set(e, TS_EFORMAT, "%s: no embeddings (expected one JSON object a line)", path);
    goto fail;
  }
  qsort(rows, (size_t)nr, sizeof(row), row_cmp);
  for (int64_t i = 1; i < nr; i++)
    if (!seg_cmp3(rows[i].s.utt, rows[i].s.start, rows[i].s.duration, &rows[i - 1].s)) {
      rc = err_set(e, TS_EFORMAT, "%s:%d: segment %s start %g duration %g is listed twice (first on line %d)", path,
                   rows[i].s.line, rows[i].s.utt, rows[i].s.start, rows[i].s.duration, rows[i - 1].s.line);
      goto fail;
    }
  t->seg = malloc(sizeof(spk_seg) * (size_t)nr);
  t->emb = malloc(sizeof(float) * (size_t)nr * (size_t)d);
  t->path = strdup(path);
  if (!t->seg || !t->emb || !t->path) {
    free(t->seg), free(t->emb), free(t->path);
    rc = err_set(e, TS_ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  for (int64_t i = 0; i < nr; i++) {
    t->seg[i] = rows[i].s;
    memcpy(t->emb + i * d, embs + rows[i].at * d, sizeof(float) * (size_t)d);
  }
  t->n = nr, t->dim = d;
  free(rows), free(embs), free(buf);
  return TS_OK;
fail:
  for (int64_t i = 0; i < nr; i++) free(rows[i].s.utt);
  free(rows), free(embs), free(buf);
  memset(t, 0, sizeof *t);
  return rc;
}

const float *spk_table_find(const spk_table *t, const char *utt, double start, double duration) {
  int64_t lo = 0, hi = t->n;
  while (lo < hi) { /* first row with utt >= the key's utt */
    int64_t mid = (lo + hi) / 2;
    if (strcmp(t->seg[mid].utt, utt) < 0) lo = mid + 1;
    else hi = mid;
  }
  for (int64_t i = lo; i < t->n && !strcmp(t->seg[i].utt, utt); i++)
    if (!seg_cmp3(utt, start, duration, &t->seg[i])) return t->emb + i * t->dim;
  return NULL;
}
