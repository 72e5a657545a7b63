/* wb_filter.c — the sample list's view: audit filters (AND-ed) and the sort order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_state.h"

int wb_item_passes(const wb *w, const wb_item *x) {
  unsigned f = w->filt;
  if ((f & WB_F_FMT) && !(x->has_out && !x->out.format_ok)) return 0;
  if ((f & WB_F_TARGET) && !(x->has_out && x->out.wrong_target == 1)) return 0;
  if ((f & WB_F_WER) && !(x->has_out && x->out.sub + x->out.del + x->out.ins > 0)) return 0;
  if ((f & WB_F_SPK) && x->speakers != w->filt_spk) return 0;
  if ((f & WB_F_MARKED) && !x->marked) return 0;
  if ((f & WB_F_ID) && !strstr(x->id, w->filt_id)) return 0;
  if ((f & WB_F_NOOUT) && x->has_out) return 0;
  return 1;
}

static const wb *g_sort_w; /* qsort has no user pointer; set only for the duration of a sort */

static double wer_key(const wb_item *x) { return x->has_out ? wb_out_wer(&x->out) : -1.0; }

static int cmp_items(const void *pa, const void *pb) {
  const wb *w = g_sort_w;
  int a = *(const int *)pa, b = *(const int *)pb;
  const wb_item *x = &w->it[a], *y = &w->it[b];
  int c = 0;
  switch (w->sort_key) {
    case WB_SORT_ID: c = strcmp(x->id, y->id); break;
    case WB_SORT_WER: {
      double u = wer_key(x), v = wer_key(y);
      c = u < v ? -1 : u > v ? 1 : 0;
      break;
    }
    case WB_SORT_SPK: c = x->speakers - y->speakers; break;
    case WB_SORT_FMT: c = (x->has_out ? !x->out.format_ok : -1) - (y->has_out ? !y->out.format_ok : -1); break;
    case WB_SORT_MARK: c = x->marked - y->marked; break;
    default: break;
  }
  if (w->sort_desc) c = -c;
  if (c == 0) c = a - b; /* stable: file order */
  return c;
}

void wb_refilter(wb *w) {
  int keep = wb_current_index(w);
  w->n_vis = 0;
  for (int i = 0; i < w->n; i++)
    if (wb_item_passes(w, &w->it[i])) w->vis[w->n_vis++] = i;
  g_sort_w = w;
  if (w->n_vis > 1) qsort(w->vis, (size_t)w->n_vis, sizeof *w->vis, cmp_items);
  g_sort_w = NULL;
  w->cur = w->n_vis ? 0 : -1;
  for (int k = 0; k < w->n_vis; k++)
    if (w->vis[k] == keep) w->cur = k;
  if (w->list_top > w->cur) w->list_top = w->cur < 0 ? 0 : w->cur;
}

void wb_filter_desc(const wb *w, char *buf, size_t n) {
  buf[0] = 0;
  size_t o = 0;
#define ADD(...) o += (size_t)snprintf(buf + o, o < n ? n - o : 0, __VA_ARGS__)
  if (w->filt & WB_F_FMT) ADD("%sformat", o ? " " : "");
  if (w->filt & WB_F_TARGET) ADD("%starget", o ? " " : "");
  if (w->filt & WB_F_WER) ADD("%swer>0", o ? " " : "");
  if (w->filt & WB_F_SPK) ADD("%sspk=%d", o ? " " : "", w->filt_spk);
  if (w->filt & WB_F_MARKED) ADD("%smarked", o ? " " : "");
  if (w->filt & WB_F_ID) ADD("%sid~%s", o ? " " : "", w->filt_id);
  if (w->filt & WB_F_NOOUT) ADD("%snoout", o ? " " : "");
#undef ADD
  if (!o) snprintf(buf, n, "none");
}

static const char *k_sort_names[] = {"file", "id", "wer", "spk", "fmt", "mark"};

const char *wb_sort_name(int key) {
  return key >= 0 && key <= WB_SORT_MARK ? k_sort_names[key] : "?";
}

int wb_sort_parse(const char *s) {
  for (int k = 0; k <= WB_SORT_MARK; k++)
    if (!strcmp(s, k_sort_names[k])) return k;
  return -1;
}

void wb_goto_pos(wb *w, int pos) {
  if (w->n_vis == 0) {
    w->cur = -1;
    return;
  }
  if (pos < 0) pos = 0;
  if (pos >= w->n_vis) pos = w->n_vis - 1;
  w->cur = pos;
}
