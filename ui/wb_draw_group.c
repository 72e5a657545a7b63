/* wb_draw_group.c — the group pane: G sampled outputs of one sample with their reward
 * (1 - WER + format reward) and GRPO advantage, as the trainer would see them. */
#include <curses.h>
#include <math.h>
#include <stdio.h>

#include "wb_draw.h"

void wb_pane_group(wb *w, int y, int x, int h, int width) {
  wb_group *g = &w->group;
  if (!g->G) {
    wb_title(y, x, width, "Group");
    wb_put(y + 1, x + 1, width - 1, wb_color(WB_C_DIM), "no group yet: g (or group [G]) samples G outputs of this sample");
    return;
  }
  double mean = 0, var = 0;
  for (int i = 0; i < g->G; i++) mean += g->o[i].reward;
  mean /= g->G;
  for (int i = 0; i < g->G; i++) var += (g->o[i].reward - mean) * (g->o[i].reward - mean);
  double sd = g->G > 1 ? sqrt(var / (g->G - 1)) : 0;
  wb_title(y, x, width, "Group of %d for %s  T=%g  reward mean %.3f std %.3f%s", g->G, w->it[g->item].id, g->temp, mean, sd,
           g->zero_std ? "  ZERO VARIANCE" : "");
  wb_put(y + 1, x + 1, width - 1, A_BOLD, "  k  reward     adv  fmt   WER%  hypothesis");
  int rows = h - 2;
  if (w->text_top > g->G - 1) w->text_top = g->G - 1;
  if (w->text_top < 0) w->text_top = 0;
  for (int r = 0; r < rows; r++) {
    int i = w->text_top + r;
    if (i >= g->G) break;
    const wb_out *o = &g->o[i];
    int row = y + 2 + r;
    wb_putf(row, x + 1, 12, A_NORMAL, "%3d  %6.3f", i + 1, o->reward);
    float a = g->adv[i];
    wb_putf(row, x + 13, 8, wb_color(a > 0 ? WB_C_OK : a < 0 ? WB_C_WRONG : WB_C_DIM) | A_BOLD, " %+7.3f", a);
    wb_putf(row, x + 21, 5, wb_color(o->format_ok ? WB_C_OK : WB_C_WRONG), "  %-3s", o->format_ok ? "ok" : "ERR");
    wb_putf(row, x + 26, 8, A_NORMAL, " %6.1f", 100 * wb_out_wer(o));
    wb_put(row, x + 35, width - 36, A_NORMAL, o->hyp && *o->hyp ? o->hyp : "(empty)");
  }
}
