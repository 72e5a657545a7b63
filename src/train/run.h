/* run.h — a training run's directory: the resolved settings (config.json), the metrics log
 * (metrics.jsonl, one JSON object per line, flushed as written, so a killed run keeps
 * every line), checkpoints, and the Ctrl-C flag that makes a trainer save and stop. */
#ifndef TS_RUN_H
#define TS_RUN_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "base/err.h"

typedef struct run_dir {
  char path[4096];
  FILE *metrics;
} run_dir;

/* Creates path (and parents), writes config.json from settings (when non-NULL) and opens
 * metrics.jsonl for appending. When resuming, lines past `truncate_after_step` are dropped
 * first so the log has no duplicates after a kill (-1: keep everything). */
int run_open(run_dir *r, const char *path, const cJSON *settings, long long truncate_after_step, ts_err *e);
/* Appends one object (a line) and flushes. */
int run_log(run_dir *r, const cJSON *obj, ts_err *e);
void run_close(run_dir *r);

/* SIGINT/SIGTERM set a flag instead of killing the process (a second Ctrl-C kills). */
void run_catch_signals(void);
void run_release_signals(void);
int run_interrupted(void);
void run_clear_interrupt(void);

#endif
