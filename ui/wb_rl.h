/* wb_rl.h — the readline command line inside curses: readline's callback interface fed with
 * the keys curses reads, its line drawn on the bottom row; history (kept in a file) and tab
 * completion of commands, sample ids, settings and file paths. Readline is process-global,
 * so this module is a documented singleton bound to one workbench. */
#ifndef TS_WB_RL_H
#define TS_WB_RL_H

#include "wb_state.h"

/* Binds readline to w; on_line runs each entered line. Reads the history file. */
void wb_rl_init(wb *w, void (*on_line)(wb *w, const char *line));
/* Writes the history file and releases readline. */
void wb_rl_done(void);
/* Opens the command line with optional text already typed. */
void wb_rl_begin(const char *prefill);
/* Closes it without running anything. */
void wb_rl_cancel(void);
int wb_rl_active(void);
/* Feeds one curses key (ints from getch, KEY_* included). */
void wb_rl_key(int ch);
/* What the command line shows. */
const char *wb_rl_prompt(void);
const char *wb_rl_text(void);
int wb_rl_point(void);

#endif
