/* jsonx.h — JSON through cJSON: load a file with a clear error, typed getters that report
 * the missing or mistyped key, and atomic save. */
#ifndef TS_JSONX_H
#define TS_JSONX_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "err.h"

/* Parses a JSON file; on error the message names the file and the byte offset. */
int jsonx_load(const char *path, cJSON **out, ts_err *e);
/* Parses n bytes of text; what names the source in messages. */
int jsonx_parse(const char *text, size_t n, const char *what, cJSON **out, ts_err *e);
/* Writes pretty-printed JSON atomically. */
int jsonx_save(const char *path, const cJSON *j, ts_err *e);

/* Getters: a missing key takes the default if has_def, else it is an error naming the key. */
int jsonx_int(const cJSON *obj, const char *key, int64_t *out, int has_def, int64_t def,
              const char *what, ts_err *e);
int jsonx_num(const cJSON *obj, const char *key, double *out, int has_def, double def,
              const char *what, ts_err *e);
int jsonx_bool(const cJSON *obj, const char *key, int *out, int has_def, int def,
               const char *what, ts_err *e);
/* Returns the string (owned by obj) or NULL with e set; def is returned when has_def. */
const char *jsonx_str(const cJSON *obj, const char *key, int has_def, const char *def,
                      const char *what, ts_err *e);

#endif
