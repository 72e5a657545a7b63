/* wb_draw_list.c — the sample list pane: mark, id, speakers, WER, format; the current sample
 * highlighted; scrolled to keep it visible. */
#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "wb_draw.h"

void wb_pane_list(wb *w, int y, int x, int h, int width) {
  wb_title(y, x, width, "Samples %d/%d", w->n_vis, w->n);
  int idw = width - 17; /* "* " id " spk WER%  fmt" */
  if (idw < 6) idw = 6;
  wb_putf(y + 1, x, width, A_BOLD, "  %-*s spk  WER%% fmt", idw, "id");
  int rows = h - 2;
  if (rows < 1) return;
  if (w->n_vis == 0) {
    wb_put(y + 2, x + 1, width - 1, wb_color(WB_C_DIM), w->n ? "(all filtered out)" : "(open a manifest)");
    return;
  }
  if (w->cur < w->list_top) w->list_top = w->cur;
  if (w->cur >= w->list_top + rows) w->list_top = w->cur - rows + 1;
  if (w->list_top < 0) w->list_top = 0;
  for (int r = 0; r < rows; r++) {
    int k = w->list_top + r;
    if (k >= w->n_vis) break;
    const wb_item *it = &w->it[w->vis[k]];
    char wer[16], fmt[8];
    if (it->has_out) {
      snprintf(wer, sizeof wer, "%5.1f", 100 * wb_out_wer(&it->out));
      snprintf(fmt, sizeof fmt, "%s", it->out.format_ok ? "ok" : "ERR");
    } else {
      snprintf(wer, sizeof wer, "    -");
      snprintf(fmt, sizeof fmt, "-");
    }
    char spk[8];
    if (it->speakers) snprintf(spk, sizeof spk, "%d", it->speakers);
    else snprintf(spk, sizeof spk, "?");
    int sel = k == w->cur;
    int base = sel ? A_REVERSE : A_NORMAL;
    if (sel) {
      attron(A_REVERSE);
      mvhline(y + 2 + r, x, ' ' | A_REVERSE, width);
      attroff(A_REVERSE);
    }
    int cx = x;
    cx += wb_put(y + 2 + r, cx, 2, base | (it->marked ? wb_color(WB_C_MARK) | A_BOLD : 0), it->marked ? "* " : "  ");
    char idb[256];
    snprintf(idb, sizeof idb, "%-*.*s", idw, idw, it->id);
    cx += wb_put(y + 2 + r, cx, idw, base, idb);
    cx += wb_putf(y + 2 + r, cx, 5, base, "  %s  ", spk);
    int wa = base;
    if (it->has_out) wa |= wb_color(it->out.sub + it->out.del + it->out.ins ? WB_C_WRONG : WB_C_OK);
    cx += wb_put(y + 2 + r, cx, 5, wa, wer);
    int fa = base;
    if (it->has_out) fa |= wb_color(it->out.format_ok ? WB_C_OK : WB_C_WRONG) | (it->out.format_ok ? 0 : A_BOLD);
    wb_putf(y + 2 + r, cx, 4, fa, " %-3s", fmt);
  }
}
