/* err.c — formatting of error statuses. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(ts_err *e, ts_code c, const char *fmt, ...) {
  if (!e) return (int)c;
  e->code = c;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return (int)c;
}

int err_prefix(ts_err *e, const char *fmt, ...) {
  if (!e) return TS_OK;
  char head[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  char old[sizeof e->msg];
  memcpy(old, e->msg, sizeof old);
  snprintf(e->msg, sizeof e->msg, "%s: %s", head, old);
  return (int)e->code;
}

void err_clear(ts_err *e) {
  if (!e) return;
  e->code = TS_OK;
  e->msg[0] = 0;
}

const char *err_code_name(ts_code c) {
  switch (c) {
    case TS_OK: return "ok";
    case TS_EIO: return "I/O error";
    case TS_EFORMAT: return "format error";
    case TS_ENOMEM: return "out of memory";
    case TS_EARG: return "bad argument";
    case TS_ESHAPE: return "shape mismatch";
    case TS_EUNSUP: return "unsupported";
    case TS_EDEVICE: return "device error";
    case TS_EINTERNAL: return "internal error";
  }
  return "unknown error";
}
