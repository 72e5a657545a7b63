/* wb_cmd.h — the workbench's commands: a table of names, usage and help, and the dispatcher
 * that runs one command line. Every command reports through the message line; none exits. */
#ifndef TS_WB_CMD_H
#define TS_WB_CMD_H

#include "wb_state.h"

typedef struct wb_cmd {
  const char *name;
  const char *usage;
  const char *help;
  void (*fn)(wb *w, int argc, char **argv);
} wb_cmd;

/* The table, ended by an entry with name NULL. */
const wb_cmd *wb_cmds(void);
/* Runs one line (split on white space; "..." or '...' keep spaces). */
void wb_cmd_exec(wb *w, const char *line);

/* Actions shared with the keys. */
void wb_act_move(wb *w, int delta);
void wb_act_toggle_mark(wb *w);
void wb_act_play(wb *w, int what, int src);
void wb_act_toggle_play(wb *w);
void wb_act_decode(wb *w, int sampled);
void wb_act_group(wb *w, int G);
void wb_act_help(wb *w, const char *cmd);

/* Path of this executable (for `run`); set by wb_main. */
void wb_cmd_set_exe(const char *path);
/* Opens a model directory or a manifest / decode file, reporting on the message line. */
void wb_open_path(wb *w, const char *path);

#endif
