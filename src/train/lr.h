/* lr.h — learning-rate schedule of the paper's SFT (§3.2): linear warm-up from lr_start to
 * the peak over `warmup` steps, then cosine decay to lr_min at `total` steps (constant
 * after). A constant schedule (GRPO) is warmup 0 and lr_min == peak. Steps count from 0. */
#ifndef TS_LR_H
#define TS_LR_H

#include <stdint.h>

typedef struct lr_sched {
  double start;   /* lr at step 0 (paper: 1e-7) */
  double peak;    /* paper: 7e-5 (SFT), 1e-6 (GRPO) */
  double min;     /* paper: 1e-6 */
  int64_t warmup; /* paper: 3000 */
  int64_t total;  /* total optimizer steps */
} lr_sched;

double lr_at(const lr_sched *s, int64_t step);

#endif
