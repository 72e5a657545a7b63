/* lr.c — warm-up + cosine schedule (see lr.h). */
#include "train/lr.h"

#include <math.h>

double lr_at(const lr_sched *s, int64_t step) {
  if (step < 0) step = 0;
  if (s->warmup > 0 && step < s->warmup) return s->start + (s->peak - s->start) * (double)step / (double)s->warmup;
  int64_t span = s->total - s->warmup;
  if (span <= 0 || step >= s->total) return step >= s->total && span > 0 ? s->min : s->peak;
  double prog = (double)(step - s->warmup) / (double)span;
  return s->min + 0.5 * (s->peak - s->min) * (1.0 + cos(M_PI * prog));
}
