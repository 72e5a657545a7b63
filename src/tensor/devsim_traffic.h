/* devsim_traffic.h — what the simulated device's ops would move and compute: per op, its calls,
 * the bytes of its device operands and the FLOPs of its products (GEMMs, convolutions,
 * attention). A device kernel must at least read or write each operand once, so a step's bytes
 * over a device's bandwidth, plus its FLOPs over the device's peak, bound the step's time from
 * below for this op sequence (bench_device --device devsim prints that bound). Each operand
 * counts once: an in-place or accumulating output (read and written) counts once too, and
 * what a device adds (roundings, layout copies) or saves (kept operands, fused ops) is not
 * seen. AdamW counts its four arrays read and three written. */
#ifndef TS_DEVSIM_TRAFFIC_H
#define TS_DEVSIM_TRAFFIC_H

#include <stddef.h>

typedef struct devsim_traffic_row {
  const char *op; /* the op's name (devsim's: "matmul", "layernorm_bwd", ...) */
  long calls;
  double bytes;   /* its device operands' bytes, each once a call */
  double flops;   /* its products' FLOPs (0: not a product) */
} devsim_traffic_row;

/* on: counting starts from zero; off: counting stops, the rows stay until the next on */
void devsim_traffic_on(int on);
/* the rows (at most cap), largest bytes first; returns how many there are */
int devsim_traffic_rows(devsim_traffic_row *rows, int cap);

/* devsim.c's side: an operand of the op about to run (a new op name starts a new op; an operand
 * at an address the op already has counts once), the FLOPs of its product, and the op's run (the
 * pending op becomes a call of its row). The pending op is the calling thread's. */
void devsim_traffic_operand(const char *op, size_t bytes);
void devsim_traffic_operand_at(const char *op, const void *at, size_t bytes);
void devsim_traffic_flops(double flops);
void devsim_traffic_ran(void);
/* the pending op was refused: it moves nothing */
void devsim_traffic_drop(void);

#endif
