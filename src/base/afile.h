/* afile.h — whole-file reads and atomic writes (temp file, fsync, rename, fsync dir),
 * so a crash never leaves a half-written checkpoint or manifest in place. */
#ifndef TS_AFILE_H
#define TS_AFILE_H

#include <stddef.h>

#include "err.h"

/* Writes n bytes to path atomically. */
int afile_write(const char *path, const void *data, size_t n, ts_err *e);

/* Streaming variant: open a temp file beside path, write parts, then commit or abort. */
typedef struct afile {
  int fd;
  char path[4096];
  char tmp[4200];
} afile;
int afile_open(afile *f, const char *path, ts_err *e);
int afile_put(afile *f, const void *data, size_t n, ts_err *e);
int afile_commit(afile *f, ts_err *e); /* fsync, rename over path, fsync directory */
void afile_abort(afile *f);             /* removes the temp file */

/* Reads a whole file into a malloc'd buffer with a terminating NUL (not counted in *n). */
int afile_read(const char *path, char **out, size_t *n, ts_err *e);
/* Creates a directory and its parents (like mkdir -p). */
int afile_mkdirs(const char *path, ts_err *e);

#endif
