/* wb_draw_run.c — the run pane: the child run's last output lines and a plot of the loss (or
 * another metric) from its metrics.jsonl, or from a file given to `plot`. */
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "wb_draw.h"
#include "wb_run.h"

static void plot(wb *w, int y, int x, int h, int width) {
  if (h < 3 || width < 20) return;
  int n = w->n_plot;
  const double *v = w->plot;
  if (n == 0) {
    wb_put(y, x + 1, width - 1, wb_color(WB_C_DIM), "no metric values yet");
    return;
  }
  double lo = v[0], hi = v[0];
  for (int i = 1; i < n; i++) {
    if (v[i] < lo) lo = v[i];
    if (v[i] > hi) hi = v[i];
  }
  if (hi - lo < 1e-12) hi = lo + 1e-12;
  int lw = 9, pw = width - lw - 1, ph = h - 1;
  wb_putf(y, x, lw, wb_color(WB_C_DIM), "%8.4g", hi);
  wb_putf(y + ph - 1, x, lw, wb_color(WB_C_DIM), "%8.4g", lo);
  attron(wb_color(WB_C_DIM));
  mvvline(y, x + lw - 1, '|' | (chtype)wb_color(WB_C_DIM), ph);
  mvhline(y + ph, x + lw - 1, '-' | (chtype)wb_color(WB_C_DIM), pw + 1);
  attroff(wb_color(WB_C_DIM));
  wb_putf(y + ph, x + lw, pw, wb_color(WB_C_DIM), "1 .. %d (%s)", n, w->plot_key);
  int cols = n < pw ? n : pw; /* one column per value, or the mean of the values a column covers */
  for (int c = 0; c < cols; c++) {
    int i0 = (int)((long long)c * n / cols), i1 = (int)((long long)(c + 1) * n / cols);
    if (i1 <= i0) i1 = i0 + 1;
    double s = 0;
    for (int i = i0; i < i1; i++) s += v[i];
    s /= (i1 - i0);
    int r = (int)lround((hi - s) / (hi - lo) * (ph - 1));
    mvaddch(y + r, x + lw + (int)((long long)c * pw / (cols > 0 ? cols : 1)), '*' | wb_color(WB_C_OK) | A_BOLD);
  }
}

void wb_pane_run(wb *w, int y, int x, int h, int width) {
  wb_run *r = w->run;
  if (r) {
    char st[64];
    if (wb_run_active(r)) snprintf(st, sizeof st, "running");
    else snprintf(st, sizeof st, "exited %d", wb_run_status(r));
    wb_title(y, x, width, "Run: %s  [%s]", wb_run_cmdline(r), st);
  } else {
    wb_title(y, x, width, "Run / plot  (run RECIPE.lua, plot METRICS.jsonl)");
  }
  int out_h = r ? (h - 1) / 2 : 0;
  if (r) {
    int n = wb_run_n_lines(r);
    int first = n > out_h ? n - out_h : 0;
    for (int i = first; i < n; i++) wb_put(y + 1 + i - first, x + 1, width - 1, A_NORMAL, wb_run_line(r, i));
  }
  int py = y + 1 + out_h, ph = h - 1 - out_h;
  if (ph < 1) return;
  if (w->plot_path[0]) wb_putf(py, x + 1, width - 1, A_BOLD, "%s of %s", w->plot_key, w->plot_path);
  else wb_put(py, x + 1, width - 1, wb_color(WB_C_DIM), r ? "no metrics.jsonl found yet" : "");
  plot(w, py + 1, x, ph - 1, width);
}
