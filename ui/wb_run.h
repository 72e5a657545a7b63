/* wb_run.h — `run RECIPE.lua`: runs `tsasr run RECIPE [key=value ...]` as a child process,
 * collects its output lines without blocking the workbench, and finds its metrics.jsonl;
 * plus the loss series of a metrics file for the plot pane. */
#ifndef TS_WB_RUN_H
#define TS_WB_RUN_H

#include "base/err.h"

typedef struct wb_run wb_run;

#define WB_RUN_LINES 256

/* Starts exe with argv (NULL-terminated; argv[0] is the program name). The child's stdout and
 * stderr go to a pipe read by wb_run_poll. *out is freed with wb_run_free (which kills a
 * child still running). */
int wb_run_start(const char *exe, char *const *argv, wb_run **out, ts_err *e);
/* Reads what the child wrote and reaps it when it ended; returns 1 when anything changed. */
int wb_run_poll(wb_run *r);
int wb_run_active(const wb_run *r);
/* The exit status (valid once not active): the exit code, or 128 + signal. */
int wb_run_status(const wb_run *r);
int wb_run_n_lines(const wb_run *r);
/* Line i of the last WB_RUN_LINES lines (0 = oldest kept). */
const char *wb_run_line(const wb_run *r, int i);
/* The metrics.jsonl path: given with wb_run_set_metrics or found in the output; "" if none. */
const char *wb_run_metrics(const wb_run *r);
void wb_run_set_metrics(wb_run *r, const char *path);
const char *wb_run_cmdline(const wb_run *r);
/* Sends SIGTERM to the child's process group. */
void wb_run_stop(wb_run *r);
void wb_run_free(wb_run *r);

/* Reads the numbers under `key` of each line of a metrics JSONL into y (at most cap; the
 * last cap values when there are more). Lines without the key are passed over. Returns the
 * count in *n. */
int wb_metrics_series(const char *path, const char *key, double *y, int cap, int *n, ts_err *e);

#endif
