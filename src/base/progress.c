/* progress.c — progress bars and plain progress lines (see progress.h). */
#include "base/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double pg_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void pg_fmt_time(double s, char *buf, size_t n) {
  if (s < 0 || s > 1e7) {
    snprintf(buf, n, "--:--");
    return;
  }
  long x = (long)(s + 0.5);
  if (x >= 3600)
    snprintf(buf, n, "%ld:%02ld:%02ld", x / 3600, (x / 60) % 60, x % 60);
  else
    snprintf(buf, n, "%02ld:%02ld", x / 60, x % 60);
}

void progress_start(progress *p, const char *label, int64_t total) {
  memset(p, 0, sizeof *p);
  p->label = label;
  p->total = total;
  p->t0 = p->last = pg_now();
  p->tty = isatty(2);
  p->width = 24;
  p->done = -1;
}

double progress_eta(const progress *p, int64_t done, double elapsed) {
  int64_t here = done - (p->base > 0 ? p->base : 0); /* counted by this process */
  return here > 0 && p->total > 0 ? elapsed * (double)(p->total - done) / (double)here : -1;
}

static void pg_draw(progress *p, int64_t done, const char *metrics, int final) {
  double now = pg_now(), el = now - p->t0;
  double eta = progress_eta(p, done, el);
  char te[32], tr[32];
  pg_fmt_time(el, te, sizeof te);
  pg_fmt_time(eta, tr, sizeof tr);
  double frac = p->total > 0 ? (double)done / (double)p->total : 0;
  if (frac > 1) frac = 1;
  if (p->tty) {
    char bar[64];
    int fill = (int)(frac * p->width + 0.5);
    for (int i = 0; i < p->width; i++) bar[i] = i < fill ? '#' : '.';
    bar[p->width] = 0;
    fprintf(stderr, "\r%s [%s] %lld/%lld %s<%s %s\033[K%s", p->label, bar, (long long)done, (long long)p->total, te,
            tr, metrics ? metrics : "", final ? "\n" : "");
  } else {
    fprintf(stderr, "%s %lld/%lld (%.0f%%) elapsed %s eta %s %s\n", p->label, (long long)done, (long long)p->total,
            100 * frac, te, tr, metrics ? metrics : "");
  }
  fflush(stderr);
  p->last = now;
}

void progress_update(progress *p, int64_t done, const char *metrics) {
  double now = pg_now();
  if (p->done < 0) p->base = done - 1;
  p->done = done;
  if (p->tty ? now - p->last < 0.1 : now - p->last < 5.0) return;
  pg_draw(p, done, metrics, 0);
}

void progress_end(progress *p, const char *metrics) { pg_draw(p, p->done >= 0 ? p->done : p->total, metrics, 1); }
