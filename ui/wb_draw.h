/* wb_draw.h — drawing the workbench panes with curses (stdscr, redrawn whole each frame):
 * layout, colours and the clipped text helpers the pane files share. */
#ifndef TS_WB_DRAW_H
#define TS_WB_DRAW_H

#include "wb_state.h"

enum {
  WB_C_TITLE = 1, WB_C_OK, WB_C_WRONG, WB_C_MISSING, WB_C_SUB, WB_C_DEL, WB_C_INS, WB_C_ENROLL,
  WB_C_SILENCE, WB_C_MIX, WB_C_MALE, WB_C_FEMALE, WB_C_CURSOR, WB_C_HEAD, WB_C_MARK, WB_C_DIM,
  WB_C_UNKNOWN
};

/* Starts colours (when the terminal has them). */
void wb_draw_colors(void);
/* Redraws everything and places the cursor on the command line. */
void wb_draw(wb *w);
/* Redraws only the command line (readline's redisplay). */
void wb_draw_cmdline(wb *w);

/* Helpers: text clipped to [x, x + width) on row y; returns columns written. */
int wb_put(int y, int x, int width, int attr, const char *s);
int wb_putf(int y, int x, int width, int attr, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Draws s word-wrapped into rows [y, y + h) from wrapped row `skip` on; '\n' breaks lines.
 * Returns the total number of wrapped rows of s (for scrolling). */
int wb_wrap(int y, int x, int h, int width, int skip, int attr, const char *s);
/* A pane title bar across width. */
void wb_title(int y, int x, int width, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* COLOR_PAIR(c) when colours are on, else a fallback attribute. */
int wb_color(int c);

/* Panes: each draws inside the rectangle (y, x, h rows, width cols). */
void wb_pane_list(wb *w, int y, int x, int h, int width);
void wb_pane_timeline(wb *w, int y, int x, int h, int width);
/* Rows the timeline pane wants for the current sample. */
int wb_timeline_rows(wb *w);
void wb_pane_cot(wb *w, int y, int x, int h, int width);
void wb_pane_align(wb *w, int y, int x, int h, int width);
/* Rows the alignment pane wants for the current sample at this width. */
int wb_align_rows(wb *w, int width);
void wb_pane_group(wb *w, int y, int x, int h, int width);
void wb_pane_run(wb *w, int y, int x, int h, int width);
void wb_pane_text(wb *w, int y, int x, int h, int width);

#endif
