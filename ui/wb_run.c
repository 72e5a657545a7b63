/* wb_run.c — a recipe run as a child process with its output collected line by line, and the
 * metric series of a metrics.jsonl for the plot pane. */
#include "wb_run.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/afile.h"

struct wb_run {
  pid_t pid;
  int fd;          /* read end, -1 when closed */
  int active;
  int status;
  char *lines[WB_RUN_LINES];
  int n_lines;     /* total lines ever (ring index = n % WB_RUN_LINES) */
  char part[1024]; /* the line being received */
  size_t n_part;
  char metrics[4096];
  char cmdline[1024];
};

int wb_run_start(const char *exe, char *const *argv, wb_run **out, ts_err *e) {
  *out = NULL;
  wb_run *r = calloc(1, sizeof *r);
  if (!r) return err_set(e, TS_ENOMEM, "run: out of memory");
  int fds[2];
  if (pipe(fds)) {
    free(r);
    return err_set(e, TS_EIO, "run: pipe: %s", strerror(errno));
  }
  size_t o = 0;
  for (int i = 0; argv[i]; i++)
    o += (size_t)snprintf(r->cmdline + o, o < sizeof r->cmdline ? sizeof r->cmdline - o : 0, "%s%s", i ? " " : "",
                          i ? argv[i] : strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0]);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]), close(fds[1]);
    free(r);
    return err_set(e, TS_EIO, "run: fork: %s", strerror(errno));
  }
  if (pid == 0) {
    setpgid(0, 0);
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGWINCH, SIG_DFL);
    signal(SIGPIPE, SIG_DFL); /* ignored by the workbench; ignoring would survive exec */
    execv(exe, argv);
    dprintf(2, "run: cannot start %s: %s\n", exe, strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  r->pid = pid;
  r->fd = fds[0];
  r->active = 1;
  *out = r;
  return TS_OK;
}

/* Takes a path ending in metrics.jsonl out of a line, if there is one. */
static void find_metrics(wb_run *r, const char *s) {
  if (r->metrics[0]) return;
  const char *m = strstr(s, "metrics.jsonl");
  if (!m) return;
  const char *a = m;
  while (a > s && a[-1] != ' ' && a[-1] != '\t' && a[-1] != '"' && a[-1] != '\'' && a[-1] != '=' && a[-1] != ':') a--;
  size_t n = (size_t)(m - a) + strlen("metrics.jsonl");
  if (n < sizeof r->metrics) {
    memcpy(r->metrics, a, n);
    r->metrics[n] = 0;
  }
}

static void push_line(wb_run *r) {
  r->part[r->n_part] = 0;
  int k = r->n_lines % WB_RUN_LINES;
  free(r->lines[k]);
  r->lines[k] = strdup(r->part);
  r->n_lines++;
  find_metrics(r, r->part);
  r->n_part = 0;
}

int wb_run_poll(wb_run *r) {
  if (!r) return 0;
  int changed = 0;
  char buf[4096];
  while (r->fd >= 0) {
    ssize_t k = read(r->fd, buf, sizeof buf);
    if (k > 0) {
      changed = 1;
      for (ssize_t i = 0; i < k; i++) {
        char c = buf[i];
        if (c == '\n') push_line(r);
        else if (c == '\r') r->n_part = 0; /* a progress bar redraws its line */
        else if (r->n_part + 1 < sizeof r->part) r->part[r->n_part++] = (c == '\t' || (unsigned char)c >= 32) ? c : '?';
      }
    } else if (k == 0) {
      if (r->n_part) push_line(r);
      close(r->fd);
      r->fd = -1;
      changed = 1;
    } else {
      break; /* EAGAIN (or an error: the child's end decides) */
    }
  }
  if (r->active) {
    int st;
    pid_t p = waitpid(r->pid, &st, WNOHANG);
    if (p == r->pid) {
      r->active = 0;
      r->status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
      changed = 1;
    }
  }
  return changed;
}

int wb_run_active(const wb_run *r) { return r && (r->active || r->fd >= 0); }
int wb_run_status(const wb_run *r) { return r ? r->status : 0; }

int wb_run_n_lines(const wb_run *r) {
  if (!r) return 0;
  return r->n_lines < WB_RUN_LINES ? r->n_lines : WB_RUN_LINES;
}

const char *wb_run_line(const wb_run *r, int i) {
  int n = wb_run_n_lines(r);
  if (i < 0 || i >= n) return "";
  int first = r->n_lines - n;
  const char *s = r->lines[(first + i) % WB_RUN_LINES];
  return s ? s : "";
}

const char *wb_run_metrics(const wb_run *r) { return r ? r->metrics : ""; }

void wb_run_set_metrics(wb_run *r, const char *path) {
  if (r) snprintf(r->metrics, sizeof r->metrics, "%s", path);
}

const char *wb_run_cmdline(const wb_run *r) { return r ? r->cmdline : ""; }

void wb_run_stop(wb_run *r) {
  if (r && r->active) kill(-r->pid, SIGTERM);
}

void wb_run_free(wb_run *r) {
  if (!r) return;
  if (r->active) {
    kill(-r->pid, SIGTERM);
    waitpid(r->pid, NULL, 0);
  }
  if (r->fd >= 0) close(r->fd);
  for (int i = 0; i < WB_RUN_LINES; i++) free(r->lines[i]);
  free(r);
}

int wb_metrics_series(const char *path, const char *key, double *y, int cap, int *n, ts_err *e) {
  *n = 0;
  char *buf;
  size_t len;
  if (afile_read(path, &buf, &len, e)) return e->code;
  int total = 0;
  for (size_t p = 0; p < len;) {
    const char *nl = memchr(buf + p, '\n', len - p);
    size_t q = nl ? (size_t)(nl - buf) : len;
    cJSON *j = cJSON_ParseWithLength(buf + p, q - p);
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
    if (cJSON_IsNumber(v)) {
      y[total % cap] = v->valuedouble;
      total++;
    }
    cJSON_Delete(j);
    p = q + 1;
  }
  free(buf);
  if (total > cap) { /* rotate the ring so y is in order */
    double *tmp = malloc(sizeof *tmp * (size_t)cap);
    if (!tmp) return err_set(e, TS_ENOMEM, "%s: out of memory", path);
    int s = total % cap;
    for (int i = 0; i < cap; i++) tmp[i] = y[(s + i) % cap];
    memcpy(y, tmp, sizeof *tmp * (size_t)cap);
    free(tmp);
    total = cap;
  }
  *n = total;
  return TS_OK;
}
