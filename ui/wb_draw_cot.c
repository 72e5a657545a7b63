/* wb_draw_cot.c — the CoT pane (each reasoning step of the shown output marked right, wrong or
 * missing against the sample's truth with cot_check_run) and the scrolling text pane. */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_draw.h"

int wb_wrap(int y, int x, int h, int width, int skip, int attr, const char *s) {
  int row = 0;
  if (width < 4) return 0;
  const char *p = s;
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    /* wrap this line at spaces */
    size_t o = 0;
    do {
      size_t n = len - o;
      if ((int)n > width) {
        n = (size_t)width;
        size_t b = n;
        while (b > 0 && p[o + b] != ' ') b--;
        if (b > 0) n = b;
      }
      int r = row - skip;
      if (r >= 0 && r < h) {
        char line[1024];
        size_t m = n < sizeof line - 1 ? n : sizeof line - 1;
        memcpy(line, p + o, m);
        line[m] = 0;
        wb_put(y + r, x, width, attr, line);
      }
      row++;
      o += n;
      while (o < len && p[o] == ' ') o++;
    } while (o < len);
    p += len;
    if (*p == '\n') p++;
  }
  return row;
}

static int needs_sim(const char *name) {
  return strstr(name, "similarity") || !strcmp(name, "target.ranking") || !strcmp(name, "target.reason");
}

void wb_pane_cot(wb *w, int y, int x, int h, int width) {
  wb_item *it = wb_current(w);
  if (!it) {
    wb_title(y, x, width, "CoT");
    return;
  }
  if (!it->has_out) {
    wb_title(y, x, width, "CoT: no output yet");
    wb_put(y + 1, x + 1, width - 1, wb_color(WB_C_MISSING),
           w->model ? "d decodes this sample; the CoT it should get:" : "no model open (open MODEL_DIR); the CoT it should get:");
    ts_err e;
    if (h > 2 && wb_item_facts(it, &e) == TS_OK) {
      char *s = NULL;
      cot_opts co = {w->continuous};
      if (cot_build_think(&it->facts, &co, &s, &e) == TS_OK) {
        int n = wb_wrap(y + 2, x + 1, h - 2, width - 2, w->text_top, wb_color(WB_C_DIM), s);
        if (w->text_top > n) w->text_top = n;
      }
      free(s);
    }
    return;
  }
  const wb_out *o = &it->out;
  cot_parsed p;
  cot_check c;
  ts_err e;
  err_clear(&e);
  int rc = wb_check_cot(it, o, w->continuous, &p, &c, &e);
  char fmt[96];
  if (o->format_ok) snprintf(fmt, sizeof fmt, "format ok");
  else snprintf(fmt, sizeof fmt, "FORMAT ERROR (%s)", o->fmt >= 0 ? cot_fmt_err_name((cot_fmt_err)o->fmt) : "?");
  if (rc) {
    wb_title(y, x, width, "CoT (%s): %s", o->origin, fmt);
    wb_put(y + 1, x + 1, width - 1, wb_color(WB_C_MISSING), e.msg);
    if (o->raw && h > 2) wb_wrap(y + 2, x + 1, h - 2, width - 2, w->text_top, A_NORMAL, o->raw);
    return;
  }
  int n_na = 0;
  if (!it->has_sim)
    for (int i = 0; i < c.n_steps; i++) n_na += needs_sim(c.step[i].name) != 0;
  int okc = 0, wrong = 0, miss = 0;
  for (int i = 0; i < c.n_steps; i++) {
    if (!it->has_sim && needs_sim(c.step[i].name)) continue;
    okc += c.step[i].status == COT_STEP_OK;
    wrong += c.step[i].status == COT_STEP_WRONG;
    miss += c.step[i].status == COT_STEP_MISSING;
  }
  wb_title(y, x, width, "CoT (%s): %d ok %d wrong %d miss | %s%s", o->origin, okc, wrong, miss, fmt,
           n_na ? " | n/a: no similarity" : "");
  int rows = h - 2, y0 = y + 1;
  /* summary row: the chosen target against the truth, and the scroll position */
  if (p.target >= 0 && p.target == it->facts.target)
    wb_putf(y0, x + 1, width - 16, wb_color(WB_C_OK) | A_BOLD, "target: chose S%d, truth S%d (right)", p.target + 1,
            it->facts.target + 1);
  else if (p.target >= 0)
    wb_putf(y0, x + 1, width - 16, wb_color(WB_C_WRONG) | A_BOLD, "target: chose S%d, truth S%d (WRONG)", p.target + 1,
            it->facts.target + 1);
  else
    wb_putf(y0, x + 1, width - 16, wb_color(WB_C_MISSING), "target: none chosen, truth S%d%s", it->facts.target + 1,
            p.think_empty ? " (empty think: BASE form / random reasoning)" : "");
  y++;
  if (w->text_top > c.n_steps - 1) w->text_top = c.n_steps > 0 ? c.n_steps - 1 : 0;
  for (int r = 0; r < rows; r++) {
    int i = w->text_top + r;
    if (i >= c.n_steps) break;
    const cot_step *s = &c.step[i];
    int row = y + 1 + r;
    const char *tag;
    int ta;
    if (!it->has_sim && needs_sim(s->name)) {
      tag = "n/a ", ta = wb_color(WB_C_DIM);
    } else if (s->status == COT_STEP_OK) {
      tag = " ok ", ta = wb_color(WB_C_OK) | A_BOLD;
    } else if (s->status == COT_STEP_WRONG) {
      tag = "WRONG", ta = wb_color(WB_C_WRONG) | A_BOLD;
    } else {
      tag = "miss", ta = wb_color(WB_C_MISSING);
    }
    wb_putf(row, x + 1, 6, ta, "%-5s", tag);
    wb_putf(row, x + 7, 20, A_BOLD, "%-19s", s->name);
    wb_put(row, x + 27, width - 28, A_NORMAL, s->detail);
  }
  if (c.n_steps > rows && rows > 0) { /* scroll position at the right end of the summary row */
    char b[32];
    int n = snprintf(b, sizeof b, " %d-%d/%d ", w->text_top + 1,
                     w->text_top + rows < c.n_steps ? w->text_top + rows : c.n_steps, c.n_steps);
    wb_put(y0, x + width - n, n, wb_color(WB_C_DIM), b);
  }
}

void wb_pane_text(wb *w, int y, int x, int h, int width) {
  wb_title(y, x, width, "Text  (PgUp/PgDn scroll, Esc back to CoT)");
  if (!w->text) return;
  int n = wb_wrap(y + 1, x + 1, h - 1, width - 2, w->text_top, A_NORMAL, w->text);
  if (w->text_top > 0 && w->text_top >= n) w->text_top = n - 1;
}
