/* drec_io.c — decode JSONL files: the line-flushing (appending) writer, the tolerant reader
 * that skips and counts bad lines, and the set of ids already decoded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "infer/decode_rec.h"

int drec_writer_open(drec_writer *w, const char *path, int append, ts_err *e) {
  memset(w, 0, sizeof *w);
  if (strlen(path) >= sizeof w->path) return err_set(e, TS_EARG, "%s: path too long", path);
  snprintf(w->path, sizeof w->path, "%s", path);
  int need_nl = 0;
  if (append) {
    FILE *r = fopen(path, "rb");
    if (r) { /* a cut-off last line gets its newline so the next record starts fresh */
      if (fseek(r, -1, SEEK_END) == 0) need_nl = fgetc(r) != '\n';
      fclose(r);
    }
  }
  FILE *f = fopen(path, append ? "ab" : "wb");
  if (!f) return err_set(e, TS_EIO, "%s: cannot open for writing: %s", path, strerror(errno));
  if (need_nl && (fputc('\n', f) == EOF || fflush(f) != 0)) {
    fclose(f);
    return err_set(e, TS_EIO, "%s: write failed: %s", path, strerror(errno));
  }
  w->fp = f;
  return TS_OK;
}

int drec_writer_put(drec_writer *w, const drec *r, ts_err *e) {
  if (!w->fp) return err_set(e, TS_EARG, "%s: writer is not open", w->path);
  char *line = NULL;
  int rc = drec_to_json(r, &line, e);
  if (rc) return err_prefix(e, "%s", w->path);
  size_t n = strlen(line);
  line[n] = '\n'; /* strdup left room for the NUL; the newline takes its place */
  FILE *f = w->fp;
  int bad = fwrite(line, 1, n + 1, f) != n + 1 || fflush(f) != 0;
  free(line);
  if (bad) return err_set(e, TS_EIO, "%s: write failed: %s", w->path, strerror(errno));
  w->n_written++;
  return TS_OK;
}

int drec_writer_close(drec_writer *w, ts_err *e) {
  if (!w->fp) return TS_OK;
  int bad = fclose((FILE *)w->fp) != 0;
  w->fp = NULL;
  if (bad) return err_set(e, TS_EIO, "%s: close failed: %s", w->path, strerror(errno));
  return TS_OK;
}

int drec_read_each(const char *path, drec_fn fn, void *user, int64_t *skipped, ts_err *e) {
  if (skipped) *skipped = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return err_set(e, TS_EIO, "%s: cannot open: %s", path, strerror(errno));
  char *buf = NULL;
  size_t cap = 0;
  ssize_t len;
  long line = 0;
  int rc = TS_OK;
  char what[4200];
  while ((len = getline(&buf, &cap, f)) >= 0) {
    line++;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
    size_t i = 0;
    while (i < (size_t)len && (buf[i] == ' ' || buf[i] == '\t')) i++;
    if (i == (size_t)len) continue; /* blank line */
    snprintf(what, sizeof what, "%s:%ld", path, line);
    drec r;
    ts_err le = {0};
    if (drec_from_json(buf, (size_t)len, what, &r, &le) != TS_OK) {
      log_warn("%s (line skipped)", le.msg);
      if (skipped) (*skipped)++;
      continue;
    }
    rc = fn(&r, user, e);
    drec_free(&r);
    if (rc) break;
  }
  if (!rc && ferror(f)) rc = err_set(e, TS_EIO, "%s: read failed after line %ld", path, line);
  free(buf);
  fclose(f);
  return rc;
}

typedef struct drec_vec {
  drec *v;
  size_t n, cap;
} drec_vec;

static int drec_vec_push(const drec *r, void *user, ts_err *e) {
  drec_vec *d = user;
  if (d->n == d->cap) {
    size_t nc = d->cap ? d->cap * 2 : 64;
    drec *nv = realloc(d->v, nc * sizeof *nv);
    if (!nv) return err_set(e, TS_ENOMEM, "decode records: out of memory");
    d->v = nv;
    d->cap = nc;
  }
  int rc = drec_copy(&d->v[d->n], r, e);
  if (!rc) d->n++;
  return rc;
}

int drec_read_all(const char *path, drec **recs, size_t *n, int64_t *skipped, ts_err *e) {
  drec_vec d = {*recs, *n, *n};
  int rc = drec_read_each(path, drec_vec_push, &d, skipped, e);
  *recs = d.v;
  *n = d.n;
  return rc;
}

void drec_free_all(drec *recs, size_t n) {
  for (size_t i = 0; i < n; i++) drec_free(&recs[i]);
  free(recs);
}

static int drec_done_add(const drec *r, void *user, ts_err *e) {
  return drec_ids_add(user, r->id, 0, NULL, NULL, e);
}

int drec_done_ids(const char *path, drec_ids **out, int64_t *skipped, ts_err *e) {
  if (skipped) *skipped = 0;
  int rc = drec_ids_new(out, e);
  if (rc) return rc;
  struct stat sb;
  if (stat(path, &sb) != 0 && errno == ENOENT) return TS_OK;
  rc = drec_read_each(path, drec_done_add, *out, skipped, e);
  if (rc) {
    drec_ids_free(*out);
    *out = NULL;
  }
  return rc;
}
