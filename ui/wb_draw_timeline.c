/* wb_draw_timeline.c — the timeline pane: enrollment | silence | mixture on one bar, one lane
 * per speaker (gender, similarity level and score, target marked, transcript start inside its
 * span), a time axis, and the playback cursor. */
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "wb_audio.h"
#include "wb_draw.h"

#define LABEL_W 14

int wb_timeline_rows(wb *w) {
  wb_item *x = wb_current(w);
  if (!x || wb_item_facts(x, NULL)) return 3;
  return 3 + x->facts.n_speakers;
}

static int col_of(double t, double total, int bw) {
  int c = (int)floor(t / total * bw + 1e-9);
  return c < 0 ? 0 : c > bw ? bw : c;
}

/* A coloured segment [t0, t1) with a label inside when it fits. */
static void segment(int y, int x0, int bw, double total, double t0, double t1, int attr, const char *label) {
  int a = col_of(t0, total, bw), b = col_of(t1, total, bw);
  if (b <= a) b = a + 1;
  if (b > bw) b = bw;
  attron(attr);
  mvhline(y, x0 + a, ' ' | (chtype)attr, b - a);
  attroff(attr);
  if (label && *label) wb_put(y, x0 + a, b - a, attr, label);
}

void wb_pane_timeline(wb *w, int y, int x, int h, int width) {
  wb_item *it = wb_current(w);
  if (!it) {
    wb_title(y, x, width, "Timeline");
    return;
  }
  ts_err e;
  err_clear(&e);
  if (wb_item_facts(it, &e)) {
    wb_title(y, x, width, "Timeline");
    wb_wrap(y + 1, x + 1, h - 1, width - 2, 0, wb_color(WB_C_MISSING), e.msg);
    return;
  }
  const cot_facts *f = &it->facts;
  double cur = wb_audio_cursor(w->audio, it->id);
  char cbuf[64] = "";
  if (cur >= 0) snprintf(cbuf, sizeof cbuf, "  %s %.2fs", wb_audio_active(w->audio) ? "playing" : "cursor", cur);
  wb_title(y, x, width, "Timeline %.2fs: enroll %.2f | silence %.2f | mix %.2f%s", f->total_dur, f->enroll_dur,
           f->silence_dur, f->mix_dur, cbuf);
  int bx = x + LABEL_W, bw = width - LABEL_W - 1;
  if (bw < 10) return;
  double T = f->total_dur > 0 ? f->total_dur : 1;
  int row = y + 1;
  if (row < y + h) {
    wb_putf(row, x, LABEL_W, A_BOLD, " input  enr %c", f->enroll_gender == COT_MALE ? 'M' : f->enroll_gender == COT_FEMALE ? 'F' : '?');
    int ecols = col_of(f->enroll_dur, T, bw);
    segment(row, bx, bw, T, 0, f->enroll_dur, wb_color(WB_C_ENROLL), ecols >= 10 ? "enrollment" : "enroll");
    segment(row, bx, bw, T, f->enroll_dur, f->enroll_dur + f->silence_dur, wb_color(WB_C_SILENCE), "silence");
    segment(row, bx, bw, T, f->enroll_dur + f->silence_dur, T, wb_color(WB_C_MIX),
            f->n_speakers == 1 ? "single speaker" : "mixture");
    row++;
  }
  for (int k = 0; k < f->n_speakers && row < y + h - 1; k++, row++) {
    const cot_speaker *s = &f->spk[k];
    char g = s->gender == COT_MALE ? 'M' : s->gender == COT_FEMALE ? 'F' : '?';
    int la = k == f->target ? A_BOLD | wb_color(WB_C_MARK) : A_NORMAL;
    if (it->has_sim)
      wb_putf(row, x, LABEL_W, la, "%cS%d %c L%d %.2f", k == f->target ? '>' : ' ', k + 1, g, s->level, s->score);
    else
      wb_putf(row, x, LABEL_W, la, "%cS%d %c sim -", k == f->target ? '>' : ' ', k + 1, g);
    const char *txt = it->has_ent && k < it->ent.n_src ? it->ent.src[k].text : "";
    segment(row, bx, bw, T, s->start, s->end, wb_color(s->gender == COT_FEMALE ? WB_C_FEMALE : WB_C_MALE), txt);
  }
  /* axis: ticks at the part boundaries and the end */
  if (row < y + h) {
    attron(wb_color(WB_C_DIM));
    mvhline(row, bx, '-' | (chtype)wb_color(WB_C_DIM), bw);
    attroff(wb_color(WB_C_DIM));
    double ticks[4] = {0, f->enroll_dur, f->enroll_dur + f->silence_dur, T};
    int last_end = -1;
    for (int i = 0; i < 4; i++) {
      char b[32];
      snprintf(b, sizeof b, "%.4g", ticks[i]);
      int c = col_of(ticks[i], T, bw);
      int l = (int)strlen(b);
      if (c + l > bw) c = bw - l;
      if (c <= last_end) continue;
      wb_put(row, bx + c, l, wb_color(WB_C_DIM), b);
      last_end = c + l;
    }
    wb_put(row, x, LABEL_W, wb_color(WB_C_DIM), " seconds");
  }
  /* playback cursor */
  if (cur >= 0 && cur <= T) {
    int c = col_of(cur, T, bw);
    if (c >= bw) c = bw - 1;
    for (int r = y + 1; r < row; r++) mvaddch(r, bx + c, '|' | wb_color(WB_C_CURSOR) | A_BOLD);
  }
}
