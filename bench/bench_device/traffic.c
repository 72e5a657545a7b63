/* traffic.c — bench_device's devsim rows (traffic.h): the last SFT step's per-op traffic, the
 * totals bench/run_traffic.sh fits, and the step's lower bound. */
#include "traffic.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tensor/devsim_traffic.h"

void bdtr_print(int B, int accum, int64_t params, double model, double bwt, double peak) {
  devsim_traffic_row r[128];
  int n = devsim_traffic_rows(r, 128);
  n = n < 128 ? n : 128;
  double by = 0, pb = 0, pf = 0, pt = 0, bw = bwt * 1e12, pk = peak * 1e12;
  printf("devsim traffic of the last SFT step (each device operand once a call; products' FLOPs):\n");
  printf("  %-22s %7s %10s %10s %9s\n", "op", "calls", "GB", "GFLOP", "bound ms");
  for (int i = 0; i < n; i++) {
    double t = r[i].flops > 0 ? fmax(r[i].flops / pk, r[i].bytes / bw) : r[i].bytes / bw;
    if (r[i].flops > 0) pb += r[i].bytes, pf += r[i].flops, pt += t;
    else by += r[i].bytes;
    if (i < 24 || r[i].flops > 0)
      printf("  %-22s %7ld %10.3f %10.1f %9.3f\n", r[i].op, r[i].calls, r[i].bytes / 1e9, r[i].flops / 1e9, 1e3 * t);
  }
  double tb = by / bw, step = tb + pt;
  /* for bench/run_traffic.sh's line through two batch sizes: the totals, then every op */
  double aw = 0; /* AdamW's bytes: with the zero fill of the gradients, what a step moves once */
  for (int i = 0; i < n; i++)
    if (!strcmp(r[i].op, "adamw_runs") || !strcmp(r[i].op, "adamw")) aw += r[i].bytes;
  printf("traffic_counts batch %d accum %d other_bytes %.6e product_bytes %.6e product_flops %.6e model_flops %.6e "
         "params %lld adamw_bytes %.6e\n",
         B, accum, by, pb, pf, model, (long long)params, aw);
  for (int i = 0; i < n; i++)
    printf("traffic_op %s %ld %.6e %.6e\n", r[i].op, r[i].calls, r[i].bytes, r[i].flops);
  printf("traffic_bound other ops %.2f GB (%.2f ms at %.2f TB/s); products %.2f TFLOP, %.2f GB (%.2f ms at %.0f "
         "TFLOP/s); step >= %.2f ms, MFU <= %.1f%%\n",
         by / 1e9, 1e3 * tb, bwt, pf / 1e12, pb / 1e9, 1e3 * pt, peak, 1e3 * step,
         step > 0 ? 100.0 * model / step / pk : 0.0);
}
