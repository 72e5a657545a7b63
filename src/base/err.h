/* err.h — the error status every library call reports through: a code and a message.
 * Library code never aborts or exits; it fills a ts_err and returns its code. */
#ifndef TS_ERR_H
#define TS_ERR_H

typedef enum ts_code {
  TS_OK = 0,
  TS_EIO,        /* file or device I/O failed */
  TS_EFORMAT,    /* malformed input: file contents, JSON, config */
  TS_ENOMEM,     /* allocation failed */
  TS_EARG,       /* bad argument from the caller */
  TS_ESHAPE,     /* tensor shapes or dtypes do not agree */
  TS_EUNSUP,     /* valid request this build or backend cannot do */
  TS_EDEVICE,    /* accelerator runtime error */
  TS_EINTERNAL   /* a bug: an invariant did not hold */
} ts_code;

typedef struct ts_err {
  ts_code code;
  char msg[1024];
} ts_err;

/* Sets e (may be NULL) to code c with a printf-style message; returns c. */
int err_set(ts_err *e, ts_code c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "context: " to the message already in e; returns e->code (TS_OK if e is NULL). */
int err_prefix(ts_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(ts_err *e);
const char *err_code_name(ts_code c);

#endif
