/* log.h — leveled logging to stderr (or a callback, e.g. the workbench status line). */
#ifndef TS_LOG_H
#define TS_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_QUIET } log_level;

typedef void (*log_sink_fn)(log_level lv, const char *msg, void *user);

void log_set_level(log_level lv);
log_level log_get_level(void);
/* Routes messages to fn instead of stderr; NULL restores stderr. */
void log_set_sink(log_sink_fn fn, void *user);
void log_msg(log_level lv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
