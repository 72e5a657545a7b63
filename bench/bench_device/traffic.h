/* traffic.h — bench_device's devsim rows: the last SFT step's traffic count per op
 * (tensor/devsim_traffic.h) and the step's lower bound on a device of a given bandwidth and peak. */
#ifndef TS_BENCH_TRAFFIC_H
#define TS_BENCH_TRAFFIC_H

#include <stdint.h>

/* Prints the ops by bytes (the first 24 and every product), the line bench/run_traffic.sh reads
 * (traffic_counts: batch B, accumulation A, the other ops' and the products' bytes, the products'
 * FLOPs, `model` FLOPs, params, AdamW's bytes; then traffic_op per op) and the bound: the
 * non-product ops at bw TB/s, each product at the slower of its FLOPs at peak TFLOP/s and its
 * bytes at bw, and the MFU that bound allows for `model` FLOPs (the analytic count). */
void bdtr_print(int B, int accum, int64_t params, double model, double bw, double peak);

#endif
