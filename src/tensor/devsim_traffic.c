/* devsim_traffic.c — the simulated device's traffic count (devsim_traffic.h): a pending op
 * collects its operands' bytes and its FLOPs as devsim checks them, and becomes a call of its
 * row when it runs. One table per process, guarded by a mutex (devsim's ops may run from
 * several threads). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/devsim_traffic.h"

#define DST_ROWS 128

static struct {
  pthread_mutex_t mu;
  int on;
  devsim_traffic_row rows[DST_ROWS];
  int n;
  const char *pend_op; /* the op whose operands are being checked */
  double pend_bytes, pend_flops;
} g_dst = {.mu = PTHREAD_MUTEX_INITIALIZER};

void devsim_traffic_on(int on) {
  pthread_mutex_lock(&g_dst.mu);
  if (on) g_dst.n = 0;
  g_dst.on = on;
  g_dst.pend_op = NULL;
  pthread_mutex_unlock(&g_dst.mu);
}

void devsim_traffic_operand(const char *op, size_t bytes) {
  pthread_mutex_lock(&g_dst.mu);
  if (g_dst.on) {
    if (g_dst.pend_op != op && (!g_dst.pend_op || strcmp(g_dst.pend_op, op)))
      g_dst.pend_op = op, g_dst.pend_bytes = 0, g_dst.pend_flops = 0;
    g_dst.pend_bytes += (double)bytes;
  }
  pthread_mutex_unlock(&g_dst.mu);
}

void devsim_traffic_flops(double flops) {
  pthread_mutex_lock(&g_dst.mu);
  if (g_dst.on && g_dst.pend_op) g_dst.pend_flops += flops;
  pthread_mutex_unlock(&g_dst.mu);
}

void devsim_traffic_ran(void) {
  pthread_mutex_lock(&g_dst.mu);
  if (g_dst.on && g_dst.pend_op) {
    int i = 0;
    while (i < g_dst.n && strcmp(g_dst.rows[i].op, g_dst.pend_op)) i++;
    if (i == g_dst.n && g_dst.n < DST_ROWS) g_dst.rows[g_dst.n++] = (devsim_traffic_row){g_dst.pend_op, 0, 0, 0};
    if (i < g_dst.n) {
      g_dst.rows[i].calls++;
      g_dst.rows[i].bytes += g_dst.pend_bytes;
      g_dst.rows[i].flops += g_dst.pend_flops;
    }
  }
  g_dst.pend_op = NULL;
  pthread_mutex_unlock(&g_dst.mu);
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
