/* wb_cmd_int.h — internal to the command files: the command functions the table in wb_cmd.c
 * points to, and the argument helpers they share. */
#ifndef TS_WB_CMD_INT_H
#define TS_WB_CMD_INT_H

#include "wb_cmd.h"

/* Whole-string number parsing: 1 on success. */
int wb_parse_int(const char *s, long *v);
int wb_parse_num(const char *s, double *v);
/* This executable (for `run`). */
const char *wb_cmd_exe(void);

void c_open(wb *w, int argc, char **argv);
void c_next(wb *w, int argc, char **argv);
void c_prev(wb *w, int argc, char **argv);
void c_goto(wb *w, int argc, char **argv);
void c_first(wb *w, int argc, char **argv);
void c_last(wb *w, int argc, char **argv);
void c_decode(wb *w, int argc, char **argv);
void c_group(wb *w, int argc, char **argv);
void c_pick(wb *w, int argc, char **argv);
void c_play(wb *w, int argc, char **argv);
void c_stop(wb *w, int argc, char **argv);
void c_filter(wb *w, int argc, char **argv);
void c_unfilter(wb *w, int argc, char **argv);
void c_sort(wb *w, int argc, char **argv);
void c_mark(wb *w, int argc, char **argv);
void c_unmark(wb *w, int argc, char **argv);
void c_export(wb *w, int argc, char **argv);
void c_view(wb *w, int argc, char **argv);
void c_raw(wb *w, int argc, char **argv);
void c_truth(wb *w, int argc, char **argv);
void c_info(wb *w, int argc, char **argv);
void c_set(wb *w, int argc, char **argv);
void c_log(wb *w, int argc, char **argv);
void c_plot(wb *w, int argc, char **argv);
void c_run(wb *w, int argc, char **argv);
void c_lua(wb *w, int argc, char **argv);
void c_quit(wb *w, int argc, char **argv);
void c_help(wb *w, int argc, char **argv);

#endif
