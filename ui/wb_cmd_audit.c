/* wb_cmd_audit.c — the audit commands: filters, sort order, marks and the export of an RL
 * selection manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_cmd_int.h"

/* ---- filters, sort, marks ---- */

void c_filter(wb *w, int argc, char **argv) {
  if (argc < 2) {
    char d[256];
    wb_filter_desc(w, d, sizeof d);
    wb_msg(w, 0, "filter: %s (%d of %d shown)", d, w->n_vis, w->n);
    return;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "clear") || !strcmp(a, "none")) w->filt = 0;
    else if (!strcmp(a, "fmt") || !strcmp(a, "format")) w->filt |= WB_F_FMT;
    else if (!strcmp(a, "target")) w->filt |= WB_F_TARGET;
    else if (!strcmp(a, "wer")) w->filt |= WB_F_WER;
    else if (!strcmp(a, "marked")) w->filt |= WB_F_MARKED;
    else if (!strcmp(a, "noout")) w->filt |= WB_F_NOOUT;
    else if (!strcmp(a, "spk") || !strcmp(a, "id")) {
      if (i + 1 >= argc) {
        wb_msg(w, 2, "filter %s needs a value", a);
        return;
      }
      if (a[0] == 's') {
        long k;
        if (!wb_parse_int(argv[i + 1], &k) || k < 1 || k > MAN_MAX_SRC) {
          wb_msg(w, 2, "filter spk: not a speaker count: %s", argv[i + 1]);
          return;
        }
        w->filt_spk = (int)k;
        w->filt |= WB_F_SPK;
      } else {
        snprintf(w->filt_id, sizeof w->filt_id, "%s", argv[i + 1]);
        w->filt |= WB_F_ID;
      }
      i++;
    } else {
      wb_msg(w, 2, "filter: unknown \"%s\" (fmt target wer spk N marked id TEXT noout clear)", a);
      return;
    }
  }
  wb_refilter(w);
  char d[256];
  wb_filter_desc(w, d, sizeof d);
  wb_msg(w, 0, "filter: %s (%d of %d shown)", d, w->n_vis, w->n);
}

void c_unfilter(wb *w, int argc, char **argv) {
  w->filt = 0;
  wb_refilter(w);
  wb_msg(w, 0, "filters cleared (%d shown)", w->n_vis);
}

void c_sort(wb *w, int argc, char **argv) {
  int k = argc > 1 ? wb_sort_parse(argv[1]) : -1;
  if (k < 0 || argc > 3 || (argc == 3 && strcmp(argv[2], "asc") && strcmp(argv[2], "desc"))) {
    wb_msg(w, 2, "usage: sort file|id|wer|spk|fmt|mark [asc|desc]");
    return;
  }
  w->sort_key = k;
  w->sort_desc = argc == 3 ? !strcmp(argv[2], "desc") : (k == WB_SORT_WER || k == WB_SORT_FMT || k == WB_SORT_MARK);
  wb_refilter(w);
  wb_msg(w, 0, "sorted by %s %s", wb_sort_name(k), w->sort_desc ? "desc" : "asc");
}

static void set_marks(wb *w, int argc, char **argv, int on) {
  if (argc == 1) {
    wb_item *x = wb_current(w);
    if (!x) {
      wb_msg(w, 1, "no sample selected");
      return;
    }
    x->marked = on;
    wb_msg(w, 0, "%s %s", on ? "marked" : "unmarked", x->id);
    return;
  }
  if (argc == 2 && (!strcmp(argv[1], "all") || !strcmp(argv[1], "filtered"))) {
    for (int k = 0; k < w->n_vis; k++) w->it[w->vis[k]].marked = on;
    wb_msg(w, 0, "%s %d samples (the ones shown)", on ? "marked" : "unmarked", w->n_vis);
    return;
  }
  wb_msg(w, 2, "usage: %s [all]", argv[0]);
}

void c_mark(wb *w, int argc, char **argv) { set_marks(w, argc, argv, 1); }
void c_unmark(wb *w, int argc, char **argv) { set_marks(w, argc, argv, 0); }

void c_export(wb *w, int argc, char **argv) {
  if (argc != 2) {
    wb_msg(w, 2, "usage: export FILE.jsonl (the marked samples' manifest lines)");
    return;
  }
  int n, miss;
  ts_err e;
  err_clear(&e);
  if (wb_export_marks(w, argv[1], &n, &miss, &e)) {
    wb_msg(w, 2, "export: %s", e.msg);
    return;
  }
  int rel = wb_export_moves_relative(w, argv[1]);
  if (miss)
    wb_msg(w, 1, "exported %d samples to %s (%d marked samples had no manifest line)", n, argv[1], miss);
  else if (rel)
    wb_msg(w, 1, "exported %d samples to %s; note: %d lines keep audio paths relative to the manifest's folder", n,
           argv[1], rel);
  else
    wb_msg(w, 0, "exported %d samples to %s", n, argv[1]);
}

