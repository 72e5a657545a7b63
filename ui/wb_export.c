/* wb_export.c — the marked samples as an RL selection manifest: their original manifest lines,
 * one a line, in manifest order, written atomically. */
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "wb_state.h"

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
