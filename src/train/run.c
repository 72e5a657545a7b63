/* run.c — run directories, metrics log and the interrupt flag (see run.h). */
#include "train/run.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "base/jsonx.h"

static volatile sig_atomic_t g_interrupted;
static struct sigaction g_old_int, g_old_term;
static int g_caught;

static void run_on_signal(int sig) {
  if (g_interrupted) { /* second signal: restore the default and re-raise */
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  g_interrupted = 1;
}

void run_catch_signals(void) {
  if (g_caught) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = run_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
  g_caught = 1;
}

void run_release_signals(void) {
  if (!g_caught) return;
  sigaction(SIGINT, &g_old_int, NULL);
  sigaction(SIGTERM, &g_old_term, NULL);
  g_caught = 0;
}

int run_interrupted(void) { return g_interrupted != 0; }
void run_clear_interrupt(void) { g_interrupted = 0; }

/* Keeps the lines of metrics.jsonl whose "step" is <= keep (and lines without a step). */
static int run_truncate_metrics(const char *path, long long keep, ts_err *e) {
  char *buf;
  size_t n;
  if (afile_read(path, &buf, &n, NULL)) return TS_OK; /* no log yet */
  char *out = malloc(n + 1);
  if (!out) {
    free(buf);
    return err_set(e, TS_ENOMEM, "%s: out of memory", path);
  }
  size_t on = 0;
  char *line = buf;
  while (line < buf + n) {
    char *nl = memchr(line, '\n', (size_t)(buf + n - line));
    size_t len = nl ? (size_t)(nl - line) : (size_t)(buf + n - line);
    cJSON *j = cJSON_ParseWithLength(line, len);
    int keep_line = j != NULL; /* a torn last line is dropped */
    if (j) {
      const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "step");
      if (cJSON_IsNumber(s) && s->valuedouble > (double)keep) keep_line = 0;
      cJSON_Delete(j);
    }
    if (keep_line) {
      memcpy(out + on, line, len);
      on += len;
      out[on++] = '\n';
    }
    line += len + 1;
  }
  int rc = afile_write(path, out, on, e);
  free(out);
  free(buf);
  return rc;
}

int run_open(run_dir *r, const char *path, const cJSON *settings, long long truncate_after_step, ts_err *e) {
  memset(r, 0, sizeof *r);
  snprintf(r->path, sizeof r->path, "%s", path);
  int rc = afile_mkdirs(path, e);
  if (rc) return rc;
  char p[4200];
  if (settings) {
    snprintf(p, sizeof p, "%s/config.json", path);
    if ((rc = jsonx_save(p, settings, e))) return rc;
  }
  snprintf(p, sizeof p, "%s/metrics.jsonl", path);
  if (truncate_after_step >= 0 && (rc = run_truncate_metrics(p, truncate_after_step, e))) return rc;
  r->metrics = fopen(p, "a");
  if (!r->metrics) return err_set(e, TS_EIO, "%s: cannot open: %s", p, strerror(errno));
  return TS_OK;
}

int run_log(run_dir *r, const cJSON *obj, ts_err *e) {
  if (!r->metrics) return TS_OK;
  char *s = cJSON_PrintUnformatted(obj);
  if (!s) return err_set(e, TS_ENOMEM, "%s/metrics.jsonl: out of memory", r->path);
  int bad = fprintf(r->metrics, "%s\n", s) < 0 || fflush(r->metrics) != 0;
  cJSON_free(s);
  return bad ? err_set(e, TS_EIO, "%s/metrics.jsonl: write failed", r->path) : TS_OK;
}

void run_close(run_dir *r) {
  if (r->metrics) fclose(r->metrics);
  r->metrics = NULL;
}
