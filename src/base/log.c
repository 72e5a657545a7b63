/* log.c — leveled logging; level from TSASR_LOG (debug|info|warn|error|quiet) at first use. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_level = -1;
static log_sink_fn g_sink;
static void *g_sink_user;

static void log_init_level(void) {
  if (g_level >= 0) return;
  g_level = LOG_INFO;
  const char *s = getenv("TSASR_LOG");
  if (!s) return;
  static const char *names[] = {"debug", "info", "warn", "error", "quiet"};
  for (int i = 0; i < 5; i++)
    if (strcmp(s, names[i]) == 0) g_level = i;
}

void log_set_level(log_level lv) { g_level = (int)lv; }

log_level log_get_level(void) {
  log_init_level();
  return (log_level)g_level;
}

void log_set_sink(log_sink_fn fn, void *user) {
  g_sink = fn;
  g_sink_user = user;
}

void log_msg(log_level lv, const char *fmt, ...) {
  log_init_level();
  if ((int)lv < g_level || lv >= LOG_QUIET) return;
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (g_sink) {
    g_sink(lv, buf, g_sink_user);
    return;
  }
  static const char *tags[] = {"debug", "info", "warn", "error"};
  fprintf(stderr, "[%s] %s\n", tags[lv], buf);
}
