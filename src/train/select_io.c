/* select_io.c — writing an RL selection: the chosen ids as JSONL, or the matching lines of a
 * manifest copied byte for byte (streaming, matched on the "id" field). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "base/log.h"
#include "train/select.h"

int sel_write_ids(const sel_pool *p, const sel_result *r, const char *path, ts_err *e) {
  afile f;
  int rc = afile_open(&f, path, e);
  if (rc) return rc;
  for (size_t i = 0; !rc && i < r->n; i++) {
    const sel_item *it = &p->v[r->idx[i]];
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "id", it->id) && cJSON_AddStringToObject(o, "set", it->set) &&
             cJSON_AddStringToObject(o, "category", sel_cat_name(it->cat)) &&
             cJSON_AddNumberToObject(o, "errors", (double)it->errors) &&
             cJSON_AddNumberToObject(o, "n", (double)it->n);
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
      rc = err_set(e, TS_ENOMEM, "%s: out of memory", path);
      break;
    }
    rc = afile_put(&f, s, strlen(s), e);
    if (!rc) rc = afile_put(&f, "\n", 1, e);
    cJSON_free(s);
  }
  if (!rc) rc = afile_commit(&f, e);
  else afile_abort(&f);
  return rc;
}

int sel_write_manifest(const sel_pool *p, const sel_result *r, const char *manifest, const char *path,
                       int64_t *written, int64_t *missing, int64_t *bad, ts_err *e) {
  if (written) *written = 0;
  if (missing) *missing = 0;
  if (bad) *bad = 0;
  drec_ids *want = NULL;
  int rc = drec_ids_new(&want, e);
  for (size_t i = 0; !rc && i < r->n; i++) rc = drec_ids_add(want, p->v[r->idx[i]].id, 0, NULL, NULL, e);
  if (rc) {
    drec_ids_free(want);
    return rc;
  }
  FILE *in = fopen(manifest, "rb");
  if (!in) {
    drec_ids_free(want);
    return err_set(e, TS_EIO, "%s: cannot open: %s", manifest, strerror(errno));
  }
  afile f = {.fd = -1};
  rc = afile_open(&f, path, e);
  int opened = rc == TS_OK;
  char *buf = NULL;
  size_t cap = 0;
  ssize_t len;
  long line = 0;
  int64_t n_written = 0, n_bad = 0;
  while (!rc && (len = getline(&buf, &cap, in)) >= 0) {
    line++;
    size_t body = (size_t)len;
    while (body > 0 && (buf[body - 1] == '\n' || buf[body - 1] == '\r')) body--;
    size_t i = 0;
    while (i < body && (buf[i] == ' ' || buf[i] == '\t')) i++;
    if (i == body) continue;
    cJSON *o = cJSON_ParseWithLength(buf, body);
    const cJSON *id = o ? cJSON_GetObjectItemCaseSensitive(o, "id") : NULL;
    if (!cJSON_IsString(id)) {
      log_warn("%s:%ld: %s (line skipped)", manifest, line,
               o ? "no string \"id\"" : "invalid JSON");
      n_bad++;
      cJSON_Delete(o);
      continue;
    }
    int64_t done = 0;
    if (drec_ids_get(want, id->valuestring, &done) && !done) {
      drec_ids_set(want, id->valuestring, 1);
      rc = afile_put(&f, buf, body, e);
      if (!rc) rc = afile_put(&f, "\n", 1, e);
      n_written++;
    }
    cJSON_Delete(o);
  }
  if (!rc && ferror(in)) rc = err_set(e, TS_EIO, "%s: read failed after line %ld", manifest, line);
  free(buf);
  fclose(in);
  if (!rc) rc = afile_commit(&f, e);
  else if (opened) afile_abort(&f);
  drec_ids_free(want);
  if (rc) return rc;
  if (written) *written = n_written;
  if (missing) *missing = (int64_t)r->n - n_written;
  if (bad) *bad = n_bad;
  return TS_OK;
}
