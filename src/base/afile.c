/* afile.c — atomic file writes and whole-file reads. */
#include "afile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int afile_open(afile *f, const char *path, ts_err *e) {
  if (strlen(path) >= sizeof f->path) return err_set(e, TS_EARG, "%s: path too long", path);
  snprintf(f->path, sizeof f->path, "%s", path);
  snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld", path, (long)getpid());
  f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f->fd < 0) return err_set(e, TS_EIO, "%s: cannot create temp file: %s", f->tmp, strerror(errno));
  return TS_OK;
}

int afile_put(afile *f, const void *data, size_t n, ts_err *e) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(f->fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return err_set(e, TS_EIO, "%s: write failed: %s", f->path, strerror(errno));
    }
    p += w;
    n -= (size_t)w;
  }
  return TS_OK;
}

static void afile_sync_dir(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  int dfd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}

int afile_commit(afile *f, ts_err *e) {
  if (fsync(f->fd) != 0) {
    int rc = err_set(e, TS_EIO, "%s: fsync failed: %s", f->path, strerror(errno));
    afile_abort(f);
    return rc;
  }
  if (close(f->fd) != 0) {
    f->fd = -1;
    int rc = err_set(e, TS_EIO, "%s: close failed: %s", f->path, strerror(errno));
    unlink(f->tmp);
    return rc;
  }
  f->fd = -1;
  if (rename(f->tmp, f->path) != 0) {
    int rc = err_set(e, TS_EIO, "%s: rename failed: %s", f->path, strerror(errno));
    unlink(f->tmp);
    return rc;
  }
  afile_sync_dir(f->path);
  return TS_OK;
}

void afile_abort(afile *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  unlink(f->tmp);
}

int afile_write(const char *path, const void *data, size_t n, ts_err *e) {
  afile f;
  int rc = afile_open(&f, path, e);
  if (rc) return rc;
  rc = afile_put(&f, data, n, e);
  if (rc) {
    afile_abort(&f);
    return rc;
  }
  return afile_commit(&f, e);
}

int afile_read(const char *path, char **out, size_t *n, ts_err *e) {
  *out = NULL;
  if (n) *n = 0;
  FILE *fp = fopen(path, "rb");
  if (!fp) return err_set(e, TS_EIO, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(fp);
    return err_set(e, TS_ENOMEM, "%s: out of memory", path);
  }
  for (;;) {
    if (len + 1 >= cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        fclose(fp);
        return err_set(e, TS_ENOMEM, "%s: out of memory", path);
      }
      buf = nb;
      cap *= 2;
    }
    size_t r = fread(buf + len, 1, cap - len - 1, fp);
    len += r;
    if (r == 0) break;
  }
  int bad = ferror(fp);
  fclose(fp);
  if (bad) {
    free(buf);
    return err_set(e, TS_EIO, "%s: read failed", path);
  }
  buf[len] = 0;
  *out = buf;
  if (n) *n = len;
  return TS_OK;
}

int afile_mkdirs(const char *path, ts_err *e) {
  char buf[4096];
  if (strlen(path) >= sizeof buf) return err_set(e, TS_EARG, "%s: path too long", path);
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return err_set(e, TS_EIO, "%s: cannot create directory: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    return err_set(e, TS_EIO, "%s: cannot create directory: %s", buf, strerror(errno));
  struct stat st;
  if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return err_set(e, TS_EIO, "%s: exists and is not a directory", buf);
  return TS_OK;
}
