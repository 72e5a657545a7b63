/* devsim_traffic.c — the simulated device's traffic count (devsim_traffic.h): a pending op (the
 * calling thread's) collects its operands' bytes and its FLOPs as devsim checks them, and
 * becomes a call of its row when it runs. One table per process, guarded by a mutex. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/devsim_traffic.h"

#define DST_ROWS 128
#define DST_SEEN 16 /* operand addresses an op's count remembers (ops have at most ~12 operands) */

static struct {
  pthread_mutex_t mu;
  int on;
  devsim_traffic_row rows[DST_ROWS];
  int n;
} g_dst = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* the op whose operands are being checked, the calling thread's */
static _Thread_local struct {
  const char *op;
  double bytes, flops;
  const void *seen[DST_SEEN];
  int nseen;
} t_pend;

void devsim_traffic_on(int on) {
  pthread_mutex_lock(&g_dst.mu);
  if (on) g_dst.n = 0;
  g_dst.on = on;
  pthread_mutex_unlock(&g_dst.mu);
  t_pend.op = NULL;
}

void devsim_traffic_operand(const char *op, size_t bytes) {
  devsim_traffic_operand_at(op, NULL, bytes);
}

void devsim_traffic_operand_at(const char *op, const void *at, size_t bytes) {
  if (!g_dst.on) return;
  if (t_pend.op != op && (!t_pend.op || strcmp(t_pend.op, op)))
    t_pend.op = op, t_pend.bytes = 0, t_pend.flops = 0, t_pend.nseen = 0;
  if (at) { /* an operand passed twice (in place: add(c, c, c)) is moved once */
    for (int i = 0; i < t_pend.nseen; i++)
      if (t_pend.seen[i] == at) return;
    if (t_pend.nseen < DST_SEEN) t_pend.seen[t_pend.nseen++] = at;
  }
  t_pend.bytes += (double)bytes;
}

void devsim_traffic_flops(double flops) {
  if (g_dst.on && t_pend.op) t_pend.flops += flops;
}

void devsim_traffic_drop(void) { t_pend.op = NULL; }

void devsim_traffic_ran(void) {
  if (!t_pend.op) return;
  pthread_mutex_lock(&g_dst.mu);
  if (g_dst.on) {
    int i = 0;
    while (i < g_dst.n && strcmp(g_dst.rows[i].op, t_pend.op)) i++;
    if (i == g_dst.n && g_dst.n < DST_ROWS) g_dst.rows[g_dst.n++] = (devsim_traffic_row){t_pend.op, 0, 0, 0};
    if (i < g_dst.n) {
      g_dst.rows[i].calls++;
      g_dst.rows[i].bytes += t_pend.bytes;
      g_dst.rows[i].flops += t_pend.flops;
    }
  }
  pthread_mutex_unlock(&g_dst.mu);
  t_pend.op = NULL;
}

static int dst_by_bytes(const void *a, const void *b) {
  double x = ((const devsim_traffic_row *)a)->bytes, y = ((const devsim_traffic_row *)b)->bytes;
  return x < y ? 1 : x > y ? -1 : 0;
}

int devsim_traffic_rows(devsim_traffic_row *rows, int cap) {
  pthread_mutex_lock(&g_dst.mu);
  devsim_traffic_row all[DST_ROWS];
  int n = g_dst.n;
  memcpy(all, g_dst.rows, sizeof all[0] * (size_t)n);
  pthread_mutex_unlock(&g_dst.mu);
  qsort(all, (size_t)n, sizeof all[0], dst_by_bytes);
  for (int i = 0; i < n && i < cap; i++) rows[i] = all[i];
  return n;
}
