/* jsonx.c — cJSON helpers with error messages that name the file and key. */
#include "jsonx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "afile.h"

int jsonx_parse(const char *text, size_t n, const char *what, cJSON **out, ts_err *e) {
  const char *end = NULL;
  *out = cJSON_ParseWithLengthOpts(text, n, &end, 0);
  if (!*out) {
    long off = end ? (long)(end - text) : -1;
    return err_set(e, TS_EFORMAT, "%s: invalid JSON near byte %ld", what, off);
  }
  return TS_OK;
}

int jsonx_load(const char *path, cJSON **out, ts_err *e) {
  char *buf;
  size_t n;
  *out = NULL;
  int rc = afile_read(path, &buf, &n, e);
  if (rc) return rc;
  rc = jsonx_parse(buf, n, path, out, e);
  free(buf);
  return rc;
}

int jsonx_save(const char *path, const cJSON *j, ts_err *e) {
  char *s = cJSON_Print(j);
  if (!s) return err_set(e, TS_ENOMEM, "%s: cannot serialise JSON", path);
  size_t n = strlen(s);
  char *t = malloc(n + 1);
  if (!t) {
    cJSON_free(s);
    return err_set(e, TS_ENOMEM, "%s: out of memory", path);
  }
  memcpy(t, s, n);
  t[n] = '\n'; /* files end with a newline */
  cJSON_free(s);
  int rc = afile_write(path, t, n + 1, e);
  free(t);
  return rc;
}

int jsonx_int(const cJSON *obj, const char *key, int64_t *out, int has_def, int64_t def,
              const char *what, ts_err *e) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it || cJSON_IsNull(it)) {
    if (has_def) {
      *out = def;
      return TS_OK;
    }
    return err_set(e, TS_EFORMAT, "%s: missing key \"%s\"", what, key);
  }
  if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble))
    return err_set(e, TS_EFORMAT, "%s: key \"%s\" must be an integer", what, key);
  /* the cast of a double outside int64's range is undefined (x86 gives INT64_MIN) */
  if (!(fabs(it->valuedouble) < 0x1p63))
    return err_set(e, TS_EFORMAT, "%s: key \"%s\" = %g is out of range", what, key, it->valuedouble);
  *out = (int64_t)it->valuedouble;
  return TS_OK;
}

int jsonx_num(const cJSON *obj, const char *key, double *out, int has_def, double def,
              const char *what, ts_err *e) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it || cJSON_IsNull(it)) {
    if (has_def) {
      *out = def;
      return TS_OK;
    }
    return err_set(e, TS_EFORMAT, "%s: missing key \"%s\"", what, key);
  }
  if (!cJSON_IsNumber(it)) return err_set(e, TS_EFORMAT, "%s: key \"%s\" must be a number", what, key);
  /* JSON has no infinity, but the parser turns an overflowing literal (1e400) into one */
  if (!isfinite(it->valuedouble))
    return err_set(e, TS_EFORMAT, "%s: key \"%s\" is out of range (not a finite number)", what, key);
  *out = it->valuedouble;
  return TS_OK;
}

int jsonx_bool(const cJSON *obj, const char *key, int *out, int has_def, int def,
               const char *what, ts_err *e) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it || cJSON_IsNull(it)) {
    if (has_def) {
      *out = def;
      return TS_OK;
    }
    return err_set(e, TS_EFORMAT, "%s: missing key \"%s\"", what, key);
  }
  if (!cJSON_IsBool(it)) return err_set(e, TS_EFORMAT, "%s: key \"%s\" must be true or false", what, key);
  *out = cJSON_IsTrue(it);
  return TS_OK;
}

const char *jsonx_str(const cJSON *obj, const char *key, int has_def, const char *def,
                      const char *what, ts_err *e) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!it || cJSON_IsNull(it)) {
    if (has_def) return def;
    err_set(e, TS_EFORMAT, "%s: missing key \"%s\"", what, key);
    return NULL;
  }
  if (!cJSON_IsString(it)) {
    err_set(e, TS_EFORMAT, "%s: key \"%s\" must be a string", what, key);
    return NULL;
  }
  return it->valuestring;
}
