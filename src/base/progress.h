/* progress.h — progress reporting for long jobs: a one-line bar with ETA and key metrics,
 * redrawn in place on a terminal; plain lines (at most one every few seconds, and the last)
 * when stderr is not a terminal, so logs stay readable. */
#ifndef TS_PROGRESS_H
#define TS_PROGRESS_H

#include <stdint.h>

typedef struct progress {
  const char *label;
  int64_t total;
  double t0, last;
  int tty;
  int width;
  int64_t done; /* the last value given to progress_update; -1 before the first */
  int64_t base; /* the count before the first update: a resumed job starts past 0, and its ETA
                 * comes from the steps done in this process */
} progress;

void progress_start(progress *p, const char *label, int64_t total);
/* done of total; metrics is a short free-form text such as "loss 1.23 lr 7e-05". */
void progress_update(progress *p, int64_t done, const char *metrics);
/* The final line, at the last reported count (a job stopped early does not show total). */
void progress_end(progress *p, const char *metrics);
/* Seconds left at count done after elapsed seconds, at the rate of the counts this process
 * has done (-1 when unknown). */
double progress_eta(const progress *p, int64_t done, double elapsed);

#endif
