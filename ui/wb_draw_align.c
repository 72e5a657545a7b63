/* wb_draw_align.c — hypothesis vs reference: the word alignment in aligned columns, coloured by
 * operation (substitution, deletion, insertion), wrapped over row pairs; WER and counts. */
#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "text/wer.h"
#include "wb_draw.h"

int wb_align_rows(wb *w, int width) {
  wb_item *it = wb_current(w);
  if (!it) return 3;
  if (!it->has_out) {
    int n = it->ref_text ? (int)strlen(it->ref_text) / (width > 10 ? width - 10 : 1) + 1 : 1;
    return 1 + n;
  }
  wer_result r;
  if (wer_align(it->out.ref, it->out.hyp, &r, NULL)) return 3;
  int avail = width - 6, col = 0, lines = 1;
  for (size_t i = 0; i < r.n_ops; i++) {
    const wer_op *op = &r.ops[i];
    int wa = op->ref ? (int)strlen(op->ref) : 0, wbw = op->hyp ? (int)strlen(op->hyp) : 0;
    int cw = wa > wbw ? wa : wbw;
    if ((op->type == WER_DEL || op->type == WER_INS) && cw < 3) cw = 3;
    if (cw > avail) cw = avail;
    if (col > 0 && col + cw > avail) lines++, col = 0;
    col += cw + 1;
  }
  wer_result_free(&r);
  return 1 + 2 * lines;
}

void wb_pane_align(wb *w, int y, int x, int h, int width) {
  wb_item *it = wb_current(w);
  if (!it || !it->has_out) {
    wb_title(y, x, width, "Hypothesis vs reference");
    if (it && it->ref_text) {
      wb_put(y + 1, x + 1, 5, A_BOLD, "REF");
      wb_wrap(y + 1, x + 5, h - 1, width - 6, 0, A_NORMAL, it->ref_text);
    }
    return;
  }
  const wb_out *o = &it->out;
  wer_result r;
  ts_err e;
  if (wer_align(o->ref, o->hyp, &r, &e)) {
    wb_title(y, x, width, "Hypothesis vs reference");
    wb_put(y + 1, x + 1, width - 1, wb_color(WB_C_WRONG), e.msg);
    return;
  }
  int64_t errs = r.st.sub + r.st.del + r.st.ins;
  double wer = (double)errs / (double)(r.st.n_ref > 0 ? r.st.n_ref : 1);
  char rw[48] = "";
  if (o->has_reward) snprintf(rw, sizeof rw, "  reward %.3f", o->reward);
  wb_title(y, x, width, "Hyp vs ref  WER %.1f%%  S%lld D%lld I%lld N%lld%s%s", 100 * wer, (long long)r.st.sub,
           (long long)r.st.del, (long long)r.st.ins, (long long)r.st.n_ref, rw,
           o->format_ok ? "" : "  (format error: empty hyp)");
  /* legend at the right of the title */
  int lx = x + width - 16;
  if (lx > x + 50) {
    wb_put(y, lx, 3, wb_color(WB_C_SUB), "sub");
    wb_put(y, lx + 4, 3, wb_color(WB_C_DEL), "del");
    wb_put(y, lx + 8, 3, wb_color(WB_C_INS), "ins");
  }
  int x0 = x + 5, avail = width - 6;
  int row = y + 1, col = 0;
  if (row + 1 < y + h) {
    wb_put(row, x + 1, 4, A_BOLD, "REF");
    wb_put(row + 1, x + 1, 4, A_BOLD, "HYP");
  }
  for (size_t i = 0; i < r.n_ops; i++) {
    const wer_op *op = &r.ops[i];
    const char *a = op->ref ? op->ref : "", *b = op->hyp ? op->hyp : "";
    int wa = (int)strlen(a), wbw = (int)strlen(b);
    int cw = (wa > wbw ? wa : wbw);
    if (op->type == WER_DEL || op->type == WER_INS) cw = cw < 3 ? 3 : cw;
    if (cw > avail) cw = avail;
    if (col > 0 && col + cw > avail) {
      row += 2;
      col = 0;
    }
    if (row + 1 >= y + h) {
      if (row < y + h) wb_put(row, x0, avail, wb_color(WB_C_DIM), "...");
      break;
    }
    int attr = op->type == WER_SUB ? wb_color(WB_C_SUB) : op->type == WER_DEL ? wb_color(WB_C_DEL)
               : op->type == WER_INS ? wb_color(WB_C_INS) : 0;
    char ca[256], cb[256];
    snprintf(ca, sizeof ca, "%-*s", cw, op->type == WER_INS ? "***" : a);
    snprintf(cb, sizeof cb, "%-*s", cw, op->type == WER_DEL ? "***" : b);
    wb_put(row, x0 + col, cw, attr, ca);
    wb_put(row + 1, x0 + col, cw, attr, cb);
    col += cw + 1;
  }
  if (r.n_ops == 0 && row < y + h) wb_put(row, x0, avail, wb_color(WB_C_DIM), "(empty reference and hypothesis)");
  wer_result_free(&r);
}
