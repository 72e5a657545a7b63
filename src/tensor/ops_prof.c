/* ops_prof.c — the per-op time profile (ops_prof.h). */
#include "tensor/ops_prof.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/backend.h"
#include "tensor/tensor.h"

#define PROF_MAX 64
#define SHAPE_MAX 512 /* (op, shapes) rows; calls past them stay in the op rows only */
#define SHAPE_KEY 112

typedef struct prof_row {
  const char *op; /* a string literal of the op wrappers */
  int64_t calls;
  double sec;
  double gap; /* host time between the previous op's end and this op's calls (code outside ops) */
} prof_row;

typedef struct shape_row {
  char key[SHAPE_KEY]; /* "op a-shape b-shape" */
  int64_t calls;
  double sec;
} shape_row;

static prof_row g_rows[PROF_MAX];
static int g_n, g_on = -1, g_registered, g_host; /* g_host: TSASR_PROFILE=host, no syncs */
static shape_row g_shapes[SHAPE_MAX];
static int g_ns, g_shapes_on;
static char g_pending[SHAPE_KEY - 24]; /* the next op's operand shapes, "" when none */
static double g_last_end, g_gap; /* the last timed op's end (0: none since a reset); the gap
                                    before the op being timed */

static double prof_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void prof_exit(void) {
  if (g_on == 1 && g_n) ops_prof_report(stderr);
}

void ops_prof_enable(int on) {
  g_on = on ? 1 : 0;
  if (on && !g_registered) g_registered = atexit(prof_exit) == 0;
}

void ops_prof_host(int host) { g_host = host ? 1 : 0; }

int ops_prof_on(void) {
  if (g_on < 0) {
    const char *s = getenv("TSASR_PROFILE");
    g_host = s && !strcmp(s, "host");
    g_shapes_on = s && !strcmp(s, "shapes");
    ops_prof_enable(s && *s && strcmp(s, "0"));
  }
  return g_on;
}

int ops_prof_shapes(void) { return ops_prof_on() && g_shapes_on; }

void ops_prof_shapes_enable(int on) { g_shapes_on = on ? 1 : 0; }

void ops_prof_shape(const tensor *a, const tensor *b) {
  char sa[40] = "", sb[40] = "";
  tensor_shape_str(a, sa, sizeof sa);
  if (b) tensor_shape_str(b, sb, sizeof sb);
  snprintf(g_pending, sizeof g_pending, "%s%s%s", sa, b ? " " : "", sb);
}

static shape_row *shape_row_of(const char *key, int add) {
  for (int i = 0; i < g_ns; i++)
    if (!strcmp(g_shapes[i].key, key)) return &g_shapes[i];
  if (!add || g_ns == SHAPE_MAX) return NULL;
  shape_row *r = &g_shapes[g_ns++];
  snprintf(r->key, sizeof r->key, "%s", key);
  r->calls = 0, r->sec = 0;
  return r;
}

static int prof_is_device(struct backend *be) { return !g_host && be && be->device != DEV_CPU && be->ops->sync; }

double ops_prof_begin(struct backend *be, int *rc) {
  double t = prof_now();
  g_gap = g_last_end > 0 ? t - g_last_end : 0.0;
  *rc = prof_is_device(be) ? be->ops->sync(be, NULL) : 0;
  return prof_now();
}

static prof_row *prof_row_of(const char *op, int add) {
  for (int i = 0; i < g_n; i++)
    if (g_rows[i].op == op || !strcmp(g_rows[i].op, op)) return &g_rows[i];
  if (!add || g_n == PROF_MAX) return NULL;
  g_rows[g_n].op = op;
  g_rows[g_n].calls = 0;
  g_rows[g_n].sec = 0;
  g_rows[g_n].gap = 0;
  return &g_rows[g_n++];
}

int ops_prof_end(struct backend *be, const char *op, double t0) {
  int rc = prof_is_device(be) ? be->ops->sync(be, NULL) : 0;
  double t1 = prof_now(), dt = t1 - t0;
  prof_row *r = prof_row_of(op, 1);
  if (r) r->calls++, r->sec += dt, r->gap += g_gap;
  g_last_end = t1, g_gap = 0;
  if (g_pending[0]) {
    char key[SHAPE_KEY];
    snprintf(key, sizeof key, "%s %s", op, g_pending);
    shape_row *q = shape_row_of(key, 1);
    if (q) q->calls++, q->sec += dt;
    g_pending[0] = 0;
  }
  return rc;
}

void ops_prof_get_shape(const char *key, int64_t *calls, double *sec) {
  shape_row *r = shape_row_of(key, 0);
  *calls = r ? r->calls : 0;
  *sec = r ? r->sec : 0.0;
}

void ops_prof_get(const char *op, int64_t *calls, double *sec) {
  prof_row *r = prof_row_of(op, 0);
  *calls = r ? r->calls : 0;
  *sec = r ? r->sec : 0.0;
}

void ops_prof_get_gap(const char *op, double *sec) {
  prof_row *r = prof_row_of(op, 0);
  *sec = r ? r->gap : 0.0;
}

void ops_prof_reset(void) { g_n = 0, g_ns = 0, g_pending[0] = 0, g_last_end = 0, g_gap = 0; }

static int prof_cmp(const void *a, const void *b) {
  double x = ((const prof_row *)a)->sec, y = ((const prof_row *)b)->sec;
  return x > y ? -1 : x < y;
}
static int gap_cmp(const void *a, const void *b) {
  double x = ((const prof_row *)a)->gap, y = ((const prof_row *)b)->gap;
  return x > y ? -1 : x < y;
}
static int shape_cmp(const void *a, const void *b) {
  double x = ((const shape_row *)a)->sec, y = ((const shape_row *)b)->sec;
  return x > y ? -1 : x < y;
}

/* the 30 slowest (op, shapes) rows, with their share of all op time */
static void shapes_report(FILE *f, double tot) {
  static shape_row rows[SHAPE_MAX];
  memcpy(rows, g_shapes, sizeof(shape_row) * (size_t)g_ns);
  qsort(rows, (size_t)g_ns, sizeof(shape_row), shape_cmp);
  fprintf(f, "\nby operand shapes (TSASR_PROFILE=shapes; the 30 slowest of %d%s):\n", g_ns,
          g_ns == SHAPE_MAX ? ", the table is full" : "");
  fprintf(f, "%-60s %8s %10s %7s %10s\n", "op and operands", "calls", "total ms", "share", "mean us");
  for (int i = 0; i < g_ns && i < 30; i++)
    fprintf(f, "%-60s %8lld %10.2f %6.1f%% %10.1f\n", rows[i].key, (long long)rows[i].calls, rows[i].sec * 1e3,
            tot > 0 ? 100.0 * rows[i].sec / tot : 0.0, rows[i].calls ? rows[i].sec * 1e6 / (double)rows[i].calls : 0.0);
}

void ops_prof_report(FILE *f) {
  prof_row rows[PROF_MAX];
  double tot = 0;
  int64_t calls = 0;
  memcpy(rows, g_rows, sizeof(prof_row) * (size_t)g_n);
  qsort(rows, (size_t)g_n, sizeof(prof_row), prof_cmp);
  for (int i = 0; i < g_n; i++) tot += rows[i].sec, calls += rows[i].calls;
  fprintf(f, "\nop profile (TSASR_PROFILE%s): %lld op calls, %.1f ms in ops%s\n",
          g_host ? "=host" : g_shapes_on ? "=shapes" : "",
          (long long)calls, tot * 1e3,
          g_host ? " (host time per call, no syncs: launches and staging, and the waits of ops that read results)"
                 : "");
  fprintf(f, "%-16s %10s %12s %7s %12s\n", "op", "calls", "total ms", "share", "mean us");
  for (int i = 0; i < g_n; i++)
    fprintf(f, "%-16s %10lld %12.2f %6.1f%% %12.1f\n", rows[i].op, (long long)rows[i].calls, rows[i].sec * 1e3,
            tot > 0 ? 100.0 * rows[i].sec / tot : 0.0, rows[i].calls ? rows[i].sec * 1e6 / (double)rows[i].calls : 0.0);
  /* the host's time outside the ops, between one op's end and the next one's start (the model
   * code's own work, and calls that are not ops), by the op that came next: large gaps with a
   * device that waits mean the host feeds it too slowly */
  double gtot = 0;
  for (int i = 0; i < g_n; i++) gtot += rows[i].gap;
  qsort(rows, (size_t)g_n, sizeof(prof_row), gap_cmp);
  fprintf(f, "host time between ops: %.1f ms; the most before:", gtot * 1e3);
  for (int i = 0; i < g_n && i < 6 && rows[i].gap > 0; i++)
    fprintf(f, " %s %.2f ms (%lld calls)%s", rows[i].op, rows[i].gap * 1e3, (long long)rows[i].calls,
            i + 1 < g_n && i < 5 && rows[i + 1].gap > 0 ? "," : "");
  fprintf(f, "\n");
  if (g_ns) shapes_report(f, tot);
}
