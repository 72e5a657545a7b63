/* wb_export.c — the marked samples as an RL selection manifest: their original manifest lines,
 * one a line, in manifest order, written atomically. */
#include <cjson/cJSON.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "wb_state.h"

static int relative(const cJSON *o) {
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "path");
  return cJSON_IsString(p) && p->valuestring[0] != '/';
}

/* 1 when the line names an audio file by a relative path. */
static int line_relative(const char *line) {
  cJSON *j = cJSON_Parse(line);
  if (!j) return 0;
  int r = relative(cJSON_GetObjectItemCaseSensitive(j, "enroll"));
  const cJSON *s;
  cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(j, "sources")) r |= relative(s);
  cJSON_Delete(j);
  return r;
}

static void folder_of(const char *path, char out[PATH_MAX]) {
  char b[PATH_MAX];
  snprintf(b, sizeof b, "%s", path);
  if (!realpath(dirname(b), out)) snprintf(out, PATH_MAX, "%s", path);
}

int wb_export_moves_relative(const wb *w, const char *path) {
  char a[PATH_MAX], b[PATH_MAX];
  folder_of(path, a);
  folder_of(w->manifest_path, b);
  if (!strcmp(a, b)) return 0;
  int n = 0;
  for (int i = 0; i < w->n; i++)
    if (w->it[i].marked && w->it[i].line) n += line_relative(w->it[i].line);
  return n;
}

int wb_export_marks(const wb *w, const char *path, int *n_written, int *n_missing, ts_err *e) {
  *n_written = *n_missing = 0;
  size_t len = 0;
  for (int i = 0; i < w->n; i++) {
    const wb_item *x = &w->it[i];
    if (!x->marked) continue;
    if (!x->line) {
      (*n_missing)++;
      continue;
    }
    len += strlen(x->line) + 1;
  }
  if (len == 0) {
    if (*n_missing)
      return err_set(e, TS_EARG, "%s: the %d marked samples have no manifest line (open the manifest they came from)",
                     path, *n_missing);
    return err_set(e, TS_EARG, "%s: nothing is marked (m marks the current sample, `mark all` the filtered ones)", path);
  }
  char *buf = malloc(len);
  if (!buf) return err_set(e, TS_ENOMEM, "%s: out of memory", path);
  size_t o = 0;
  for (int i = 0; i < w->n; i++) {
    const wb_item *x = &w->it[i];
    if (!x->marked || !x->line) continue;
    size_t m = strlen(x->line);
    memcpy(buf + o, x->line, m);
    buf[o + m] = '\n';
    o += m + 1;
    (*n_written)++;
  }
  int rc = afile_write(path, buf, o, e);
  free(buf);
  if (rc) *n_written = 0;
  return rc;
}
