/* wb_cmd_view.c — commands that show things (views, raw output, truth, entry, settings,
 * messages) and run recipes / plot metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_cmd_int.h"
#include "data/cot.h"
#include "wb_audio.h"
#include "wb_run.h"

/* ---- views and information ---- */

void c_view(wb *w, int argc, char **argv) {
  static const char *names[] = {"cot", "group", "run", "text"};
  for (int v = 0; argc == 2 && v < 4; v++)
    if (!strcmp(argv[1], names[v])) {
      w->view = v;
      w->text_top = 0;
      return;
    }
  wb_msg(w, 2, "usage: view cot|group|run|text");
}

void c_raw(wb *w, int argc, char **argv) {
  wb_item *x = wb_current(w);
  if (!x) {
    wb_msg(w, 1, "no sample selected");
    return;
  }
  size_t cap = 4096 + (x->has_out ? strlen(x->out.raw) + strlen(x->out.hyp) + strlen(x->out.ref) : 0);
  char *t = malloc(cap);
  if (!t) return;
  size_t o = (size_t)snprintf(t, cap, "Raw output of %s", x->id);
  if (x->has_out)
    o += (size_t)snprintf(t + o, cap - o, " (%s):\n%s\n\nhyp: %s\nref: %s\n", x->out.origin, x->out.raw, x->out.hyp,
                          x->out.ref);
  else
    o += (size_t)snprintf(t + o, cap - o, ": none yet (decode makes one)\n");
  wb_set_text(w, t);
  free(t);
}

void c_truth(wb *w, int argc, char **argv) {
  wb_item *x = wb_current(w);
  if (!x) {
    wb_msg(w, 1, "no sample selected");
    return;
  }
  ts_err e;
  err_clear(&e);
  if (wb_item_facts(x, &e)) {
    wb_msg(w, 2, "truth: %s", e.msg);
    return;
  }
  char *s = NULL;
  cot_opts co = {w->continuous};
  if (cot_build(&x->facts, &co, x->ref_text ? x->ref_text : "", &s, &e)) {
    wb_msg(w, 2, "truth: %s", e.msg);
    return;
  }
  size_t n = strlen(s) + 256;
  char *t = malloc(n);
  if (t) {
    snprintf(t, n, "The CoT this sample should get (built from its truth%s):\n%s\n",
             x->has_sim ? "" : "; no similarity in the manifest, so levels are placeholders", s);
    wb_set_text(w, t);
  }
  free(t);
  free(s);
}

void c_info(wb *w, int argc, char **argv) {
  wb_item *x = wb_current(w);
  if (!x) {
    wb_msg(w, 1, "no sample selected");
    return;
  }
  char t[8192];
  size_t o = (size_t)snprintf(t, sizeof t, "Sample %s  set %s  speakers %d  target %d\nreference: %s\n", x->id, x->set,
                              x->speakers, x->target + 1, x->ref_text ? x->ref_text : "");
  if (x->has_ent) {
    const man_entry *m = &x->ent;
    o += (size_t)snprintf(t + o, sizeof t - o, "enrollment: %s (start %.2fs, %.2fs)\n", m->enroll.path, m->enroll.start,
                          m->enroll.duration);
    for (int k = 0; k < m->n_src && o < sizeof t; k++)
      o += (size_t)snprintf(t + o, sizeof t - o, "source %d%s: %s  speaker %s  %c  offset %.2fs  sim %s\n  %s\n", k + 1,
                            k == m->target ? " (target)" : "", m->src[k].path, m->src[k].speaker, m->src[k].gender,
                            m->src[k].offset, m->similarity ? "yes" : "-", m->src[k].text);
    if (m->similarity)
      for (int k = 0; k < m->n_src && o < sizeof t; k++)
        o += (size_t)snprintf(t + o, sizeof t - o, "similarity %d: %.3f (level %d)\n", k + 1, m->similarity[k],
                              cot_level(m->similarity[k]));
  } else {
    o += (size_t)snprintf(t + o, sizeof t - o, "(no manifest entry: open the manifest for audio and truth)\n");
  }
  wb_set_text(w, t);
}

void c_set(wb *w, int argc, char **argv) {
  if (argc == 1) {
    wb_msg(w, 0, "temp %g  top_k %d  top_p %g  max_new %d  G %d  seed %llu  continuous %d", w->temp, w->top_k,
           w->top_p, w->max_new, w->G, (unsigned long long)w->seed, w->continuous);
    return;
  }
  double v;
  if (argc != 3 || !wb_parse_num(argv[2], &v)) {
    wb_msg(w, 2, "usage: set temp|top_k|top_p|max_new|G|seed|continuous VALUE");
    return;
  }
  if (!strcmp(argv[1], "temp") && v >= 0 && v <= 10) w->temp = v;
  else if (!strcmp(argv[1], "top_k") && v >= 0 && v <= 1e6 && v == (int)v) w->top_k = (int)v;
  else if (!strcmp(argv[1], "top_p") && v > 0 && v <= 1) w->top_p = v;
  else if (!strcmp(argv[1], "max_new") && v >= 1 && v <= 8192) w->max_new = (int)v;
  else if (!strcmp(argv[1], "G") && v >= 2 && v <= 64) w->G = (int)v;
  else if (!strcmp(argv[1], "seed") && v >= 0) w->seed = (uint64_t)v;
  else if (!strcmp(argv[1], "continuous") && (v == 0 || v == 1)) w->continuous = (int)v;
  else {
    wb_msg(w, 2, "set: bad setting or value: %s %s", argv[1], argv[2]);
    return;
  }
  wb_msg(w, 0, "%s = %s", argv[1], argv[2]);
}

void c_log(wb *w, int argc, char **argv) {
  char t[WB_MSG_N * 270];
  size_t o = (size_t)snprintf(t, sizeof t, "Messages (newest last):\n");
  int n = w->n_msg < WB_MSG_N ? w->n_msg : WB_MSG_N;
  for (int i = w->n_msg - n; i < w->n_msg && o < sizeof t; i++) {
    int k = i % WB_MSG_N;
    o += (size_t)snprintf(t + o, sizeof t - o, "%s %s\n", w->msg_level[k] == 2 ? "error" : w->msg_level[k] ? "warn " : "     ",
                          w->msg[k]);
  }
  wb_set_text(w, t);
}

/* ---- run / plot / lua ---- */

static void load_plot(wb *w, const char *path, const char *key) {
  ts_err e;
  err_clear(&e);
  int n;
  if (wb_metrics_series(path, key, w->plot, WB_PLOT_MAX, &n, &e)) {
    wb_msg(w, 2, "plot: %s", e.msg);
    return;
  }
  w->n_plot = n;
  snprintf(w->plot_key, sizeof w->plot_key, "%s", key);
  snprintf(w->plot_path, sizeof w->plot_path, "%s", path);
  w->view = WB_VIEW_RUN;
  if (n == 0) wb_msg(w, 1, "plot: no \"%s\" values in %s", key, path);
  else wb_msg(w, 0, "plot: %d values of \"%s\" from %s", n, key, path);
}

void c_plot(wb *w, int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    wb_msg(w, 2, "usage: plot METRICS.jsonl [KEY] (default key: loss)");
    return;
  }
  load_plot(w, argv[1], argc == 3 ? argv[2] : "loss");
}

void c_run(wb *w, int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "stop")) {
    if (!wb_run_active(w->run)) wb_msg(w, 1, "no run is going");
    else wb_run_stop(w->run), wb_msg(w, 0, "stopping the run");
    return;
  }
  if (argc < 2) {
    w->view = WB_VIEW_RUN;
    return;
  }
  if (wb_run_active(w->run)) {
    wb_msg(w, 2, "run: one is still going (run stop ends it)");
    return;
  }
  /* TSASR_WB_RUN_EXE replaces the program (tests; a wrapper script) */
  const char *exe = getenv("TSASR_WB_RUN_EXE");
  if (!exe || !*exe) exe = wb_cmd_exe();
  char *av[64];
  int n = 0;
  av[n++] = (char *)exe;
  av[n++] = "run";
  for (int i = 1; i < argc && n < 63; i++) av[n++] = argv[i];
  av[n] = NULL;
  wb_run *r;
  ts_err e;
  err_clear(&e);
  if (wb_run_start(exe, av, &r, &e)) {
    wb_msg(w, 2, "run: %s", e.msg);
    return;
  }
  /* a run directory given as key=value names the metrics file */
  for (int i = 2; i < argc; i++) {
    static const char *keys[] = {"out=", "dir=", "run_dir=", "out_dir=", "output="};
    for (int k = 0; k < 5; k++)
      if (!strncmp(argv[i], keys[k], strlen(keys[k]))) {
        char p[4200];
        snprintf(p, sizeof p, "%s/metrics.jsonl", argv[i] + strlen(keys[k]));
        wb_run_set_metrics(r, p);
      }
  }
  wb_run_free(w->run);
  w->run = r;
  w->n_plot = 0;
  w->plot_path[0] = 0;
  w->view = WB_VIEW_RUN;
  wb_msg(w, 0, "started: %s", wb_run_cmdline(r));
}

void wb_lua_eval(wb *w, const char *code); /* wb_lua.c */

void c_lua(wb *w, int argc, char **argv) {
  if (argc < 2) {
    wb_msg(w, 1, "usage: lua EXPR   (the tsasr module is `ts`; e.g. lua ts.normalize(\"it's ok\"))");
    return;
  }
  char code[2048];
  size_t off = 0;
  for (int i = 1; i < argc && off < sizeof code - 1; i++)
    off += (size_t)snprintf(code + off, sizeof code - off, i > 1 ? " %s" : "%s", argv[i]);
  wb_lua_eval(w, code);
}

void c_quit(wb *w, int argc, char **argv) { w->quit = 1; }
void c_help(wb *w, int argc, char **argv) { wb_act_help(w, argc > 1 ? argv[1] : NULL); }

