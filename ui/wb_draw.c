/* wb_draw.c — the workbench layout: title, panes, message line, status line, command line;
 * colours and clipped text helpers. Works from 80x24 up. */
#include "wb_draw.h"

#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "wb_audio.h"
#include "wb_model.h"
#include "wb_rl.h"
#include "wb_run.h"

static int g_colors; /* process-wide: the terminal has colours (set once by wb_draw_colors) */

void wb_draw_colors(void) {
  if (!has_colors()) return;
  start_color();
  use_default_colors();
  g_colors = 1;
  init_pair(WB_C_TITLE, COLOR_WHITE, COLOR_BLUE);
  init_pair(WB_C_OK, COLOR_GREEN, -1);
  init_pair(WB_C_WRONG, COLOR_RED, -1);
  init_pair(WB_C_MISSING, COLOR_YELLOW, -1);
  init_pair(WB_C_SUB, COLOR_BLACK, COLOR_YELLOW);
  init_pair(WB_C_DEL, COLOR_WHITE, COLOR_RED);
  init_pair(WB_C_INS, COLOR_BLACK, COLOR_CYAN);
  init_pair(WB_C_ENROLL, COLOR_BLACK, COLOR_GREEN);
  init_pair(WB_C_SILENCE, COLOR_WHITE, COLOR_BLACK);
  init_pair(WB_C_MIX, COLOR_BLACK, COLOR_WHITE);
  init_pair(WB_C_MALE, COLOR_WHITE, COLOR_BLUE);
  init_pair(WB_C_FEMALE, COLOR_WHITE, COLOR_MAGENTA);
  init_pair(WB_C_CURSOR, COLOR_YELLOW, COLOR_RED);
  init_pair(WB_C_HEAD, COLOR_BLACK, COLOR_CYAN);
  init_pair(WB_C_MARK, COLOR_YELLOW, -1);
  init_pair(WB_C_DIM, COLOR_CYAN, -1);
  init_pair(WB_C_UNKNOWN, COLOR_BLACK, COLOR_YELLOW);
}

int wb_color(int c) {
  if (g_colors) return COLOR_PAIR(c);
  switch (c) {
    case WB_C_TITLE: case WB_C_HEAD: case WB_C_SUB: case WB_C_DEL: case WB_C_INS: case WB_C_ENROLL:
    case WB_C_MIX: case WB_C_MALE: case WB_C_FEMALE: case WB_C_CURSOR: case WB_C_UNKNOWN:
      return A_REVERSE;
    case WB_C_WRONG: case WB_C_MARK: return A_BOLD;
    case WB_C_DIM: return A_DIM;
    default: return A_NORMAL;
  }
}

int wb_put(int y, int x, int width, int attr, const char *s) {
  if (width <= 0 || y < 0 || y >= LINES || x >= COLS) return 0;
  if (x + width > COLS) width = COLS - x;
  int n = 0;
  attron(attr);
  move(y, x);
  for (; s[n] && n < width; n++) {
    unsigned char c = (unsigned char)s[n];
    addch(c >= 32 && c < 127 ? c : '?');
  }
  attroff(attr);
  return n;
}

int wb_putf(int y, int x, int width, int attr, const char *fmt, ...) {
  char b[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  return wb_put(y, x, width, attr, b);
}

void wb_title(int y, int x, int width, const char *fmt, ...) {
  char b[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  int a = g_colors ? wb_color(WB_C_HEAD) : (int)(wb_color(WB_C_HEAD) | A_BOLD);
  attron(a);
  mvhline(y, x, ' ' | (chtype)a, width);
  attroff(a);
  wb_put(y, x + 1, width - 1, a, b);
}

static void draw_status(wb *w, int y) {
  int a = wb_color(WB_C_TITLE);
  attron(a);
  mvhline(y, 0, ' ' | (chtype)a, COLS);
  attroff(a);
  char f[256], b[1024];
  wb_filter_desc(w, f, sizeof f);
  int marks = 0;
  for (int i = 0; i < w->n; i++) marks += w->it[i].marked;
  size_t o = (size_t)snprintf(b, sizeof b, " %d/%d", w->cur + 1, w->n_vis);
  if (w->n_vis != w->n) o += (size_t)snprintf(b + o, sizeof b - o, " of %d", w->n);
  o += (size_t)snprintf(b + o, sizeof b - o, " | filter %s | sort %s | marked %d | T=%g G=%d", f, wb_sort_name(w->sort_key),
                        marks, w->temp, w->G);
  wb_item *x = wb_current(w);
  double cur = x ? wb_audio_cursor(w->audio, x->id) : -1;
  if (wb_audio_active(w->audio) && cur >= 0)
    o += (size_t)snprintf(b + o, sizeof b - o, " | > %s %.1fs%s", wb_audio_what(w->audio), cur,
                          wb_audio_silent(w->audio) ? " (silent)" : "");
  if (wb_run_active(w->run)) o += (size_t)snprintf(b + o, sizeof b - o, " | run going");
  wb_put(y, 0, COLS, a, b);
}

static void draw_msg(wb *w, int y) {
  int lv;
  const char *m = wb_last_msg(w, &lv);
  move(y, 0);
  clrtoeol();
  wb_put(y, 0, COLS, lv == 2 ? (int)(wb_color(WB_C_WRONG) | A_BOLD) : lv == 1 ? wb_color(WB_C_MISSING) : 0, m);
}

void wb_draw_cmdline(wb *w) {
  int y = LINES - 1;
  move(y, 0);
  clrtoeol();
  if (!wb_rl_active()) {
    wb_put(y, 0, COLS, wb_color(WB_C_DIM),
           ": command (help)  n/p next/prev  space play  m mark  / filter  d decode  g group  q quit");
    curs_set(0);
    return;
  }
  const char *pr = wb_rl_prompt(), *t = wb_rl_text();
  int pl = (int)strlen(pr), tl = (int)strlen(t), pt = wb_rl_point();
  int avail = COLS - pl - 1;
  int start = 0; /* scroll the line so the point stays visible */
  if (avail > 0 && pt > avail) start = pt - avail;
  wb_put(y, 0, COLS, A_BOLD, pr);
  if (tl > start) wb_put(y, pl, avail + 1, A_NORMAL, t + start);
  curs_set(1);
  move(y, pl + pt - start < COLS ? pl + pt - start : COLS - 1);
}

void wb_draw(wb *w) {
  erase();
  int H = LINES, W = COLS;
  if (H < 10 || W < 40) {
    wb_put(0, 0, W, A_BOLD, "terminal too small (the workbench needs 80x24)");
    wb_draw_cmdline(w);
    refresh();
    return;
  }
  /* title */
  int a = wb_color(WB_C_TITLE) | A_BOLD;
  attron(a);
  mvhline(0, 0, ' ' | (chtype)a, W);
  attroff(a);
  const char *mf = w->manifest_path[0] ? strrchr(w->manifest_path, '/') : NULL;
  const char *df = w->decode_path[0] ? strrchr(w->decode_path, '/') : NULL;
  wb_putf(0, 0, W, a, " tsasr workbench | model %s | manifest %s | decode %s", w->model ? wb_model_dir(w->model) : "-",
          mf ? mf + 1 : w->manifest_path[0] ? w->manifest_path : "-", df ? df + 1 : w->decode_path[0] ? w->decode_path : "-");
  /* main area rows 1 .. H-4 */
  int top = 1, mh = H - 4;
  int lw = W >= 120 ? 40 : W >= 100 ? 34 : 28;
  wb_pane_list(w, top, 0, mh, lw);
  attron(wb_color(WB_C_DIM));
  mvvline(top, lw, '|' | (chtype)wb_color(WB_C_DIM), mh);
  attroff(wb_color(WB_C_DIM));
  int rx = lw + 1, rw = W - rx;
  int th = wb_timeline_rows(w);
  int ah = wb_align_rows(w, rw), amax = mh >= 30 ? 11 : mh >= 24 ? 9 : 5;
  if (ah < 3) ah = 3;
  if (ah > amax) ah = amax;
  if (th > mh / 3 + 1) th = mh / 3 + 1;
  wb_pane_timeline(w, top, rx, th, rw);
  int ly = top + th, lh = mh - th - ah;
  switch (w->view) {
    case WB_VIEW_GROUP: wb_pane_group(w, ly, rx, lh, rw); break;
    case WB_VIEW_RUN: wb_pane_run(w, ly, rx, lh, rw); break;
    case WB_VIEW_TEXT: wb_pane_text(w, ly, rx, lh, rw); break;
    default: wb_pane_cot(w, ly, rx, lh, rw); break;
  }
  wb_pane_align(w, ly + lh, rx, ah, rw);
  draw_msg(w, H - 3);
  draw_status(w, H - 2);
  wb_draw_cmdline(w);
  refresh();
}
