/* wb_cmd.c — the command table, `help`, and the dispatcher of command lines. */
#include "wb_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/cot.h"
#include "wb_audio.h"
#include "wb_model.h"
#include "wb_run.h"

static char g_exe[4096] = "tsasr"; /* process-wide: this executable, for `run` */

void wb_cmd_set_exe(const char *path) { snprintf(g_exe, sizeof g_exe, "%s", path); }

static int parse_int(const char *s, long *v) {
  char *end;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (errno || end == s || *end) return 0;
  *v = x;
  return 1;
}

static int parse_num(const char *s, double *v) {
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  if (errno || end == s || *end) return 0;
  *v = x;
  return 1;
}

/* ---- open ---- */

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void open_path(wb *w, const char *p) {
  ts_err e;
  err_clear(&e);
  if (is_dir(p)) {
    wb_model *m;
    if (wb_model_open(p, &m, &e)) {
      wb_msg(w, 2, "open: %s", e.msg);
      return;
    }
    wb_model_free(w->model);
    w->model = m;
    char b[512];
    wb_model_brief(m, b, sizeof b);
    wb_msg(w, 0, "model %s", b);
    return;
  }
  const char *kind = "";
  int before = w->n;
  if (wb_open_file(w, p, &kind, &e)) {
    wb_msg(w, 2, "open: %s", e.msg);
    return;
  }
  if (!strcmp(kind, "manifest"))
    wb_msg(w, 0, "manifest %s: %d samples", p, w->n);
  else
    wb_msg(w, 0, "decode %s: %d samples (%d new)", p, w->n, w->n - before);
}

static void c_open(wb *w, int argc, char **argv) {
  if (argc < 2) {
    wb_msg(w, 2, "usage: open PATH... (a model directory, a manifest or a decode JSONL)");
    return;
  }
  for (int i = 1; i < argc; i++) open_path(w, argv[i]);
}

/* ---- navigation ---- */

static void c_next(wb *w, int argc, char **argv) {
  long k = 1;
  if (argc > 1 && !parse_int(argv[1], &k)) {
    wb_msg(w, 2, "next: not a number: %s", argv[1]);
    return;
  }
  wb_act_move(w, (int)k);
}

static void c_prev(wb *w, int argc, char **argv) {
  long k = 1;
  if (argc > 1 && !parse_int(argv[1], &k)) {
    wb_msg(w, 2, "prev: not a number: %s", argv[1]);
    return;
  }
  wb_act_move(w, -(int)k);
}

static void c_goto(wb *w, int argc, char **argv) {
  if (argc != 2) {
    wb_msg(w, 2, "usage: goto ID | goto N (position in the list, from 1)");
    return;
  }
  int i = wb_find(w, argv[1]);
  if (i >= 0) {
    for (int k = 0; k < w->n_vis; k++)
      if (w->vis[k] == i) {
        wb_act_move(w, k - w->cur);
        return;
      }
    wb_msg(w, 1, "%s is hidden by the filter (filter clear shows it)", argv[1]);
    return;
  }
  long k;
  if (parse_int(argv[1], &k)) {
    if (k < 1 || k > w->n_vis) {
      wb_msg(w, 2, "goto: %ld is out of range 1..%d", k, w->n_vis);
      return;
    }
    wb_act_move(w, (int)k - 1 - w->cur);
    return;
  }
  wb_msg(w, 2, "goto: no sample \"%s\"", argv[1]);
}

static void c_first(wb *w, int argc, char **argv) { wb_act_move(w, -w->cur); }
static void c_last(wb *w, int argc, char **argv) { wb_act_move(w, w->n_vis - 1 - w->cur); }

/* ---- decode / group ---- */

static void c_decode(wb *w, int argc, char **argv) {
  if (argc > 2 || (argc == 2 && strcmp(argv[1], "greedy") && strcmp(argv[1], "sample"))) {
    wb_msg(w, 2, "usage: decode [greedy|sample]");
    return;
  }
  wb_act_decode(w, argc == 2 && !strcmp(argv[1], "sample"));
}

static void c_group(wb *w, int argc, char **argv) {
  long G = w->G;
  if (argc > 2 || (argc == 2 && !parse_int(argv[1], &G))) {
    wb_msg(w, 2, "usage: group [G]");
    return;
  }
  wb_act_group(w, (int)G);
}

static void c_pick(wb *w, int argc, char **argv) {
  long k;
  if (argc != 2 || !parse_int(argv[1], &k)) {
    wb_msg(w, 2, "usage: pick K (an output of the group view, from 1)");
    return;
  }
  wb_group *g = &w->group;
  if (!g->G) {
    wb_msg(w, 2, "pick: no group yet (group [G] makes one)");
    return;
  }
  if (k < 1 || k > g->G) {
    wb_msg(w, 2, "pick: %ld is out of range 1..%d", k, g->G);
    return;
  }
  wb_item *x = &w->it[g->item];
  wb_out *src = &g->o[k - 1], o;
  ts_err e;
  if (wb_score(x, src->raw, &o, &e)) {
    wb_msg(w, 2, "pick: %s", e.msg);
    return;
  }
  o.reward = src->reward;
  o.has_reward = 1;
  o.repetition = src->repetition;
  snprintf(o.origin, sizeof o.origin, "%s", src->origin);
  wb_out_free(&x->out);
  x->out = o;
  x->has_out = 1;
  for (int p = 0; p < w->n_vis; p++)
    if (w->vis[p] == g->item) w->cur = p;
  w->view = WB_VIEW_COT;
  w->text_top = 0;
  wb_msg(w, 0, "showing group output %ld of %s", k, x->id);
}

/* ---- playback ---- */

static void c_play(wb *w, int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "mix";
  if (!strcmp(what, "stop")) {
    wb_audio_stop(w->audio);
    wb_msg(w, 0, "stopped");
  } else if (!strcmp(what, "mix") || !strcmp(what, "mixture")) {
    wb_act_play(w, WB_PLAY_MIX, 0);
  } else if (!strcmp(what, "enroll") || !strcmp(what, "enrollment")) {
    wb_act_play(w, WB_PLAY_ENROLL, 0);
  } else if (!strcmp(what, "input") || !strcmp(what, "all")) {
    wb_act_play(w, WB_PLAY_INPUT, 0);
  } else if (!strcmp(what, "source") || !strcmp(what, "src")) {
    long k;
    if (argc != 3 || !parse_int(argv[2], &k)) {
      wb_msg(w, 2, "usage: play source N (N from 1)");
      return;
    }
    wb_act_play(w, WB_PLAY_SOURCE, (int)k - 1);
  } else {
    wb_msg(w, 2, "usage: play [mix|enroll|source N|input|stop]");
  }
}

static void c_stop(wb *w, int argc, char **argv) {
  wb_audio_stop(w->audio);
  if (wb_run_active(w->run) && argc > 1 && !strcmp(argv[1], "run")) {
    wb_run_stop(w->run);
    wb_msg(w, 0, "stopping the run");
    return;
  }
  wb_msg(w, 0, "stopped");
}

/* ---- filters, sort, marks ---- */

static void c_filter(wb *w, int argc, char **argv) {
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
        if (!parse_int(argv[i + 1], &k) || k < 1 || k > MAN_MAX_SRC) {
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

static void c_unfilter(wb *w, int argc, char **argv) {
  w->filt = 0;
  wb_refilter(w);
  wb_msg(w, 0, "filters cleared (%d shown)", w->n_vis);
}

static void c_sort(wb *w, int argc, char **argv) {
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

static void c_mark(wb *w, int argc, char **argv) { set_marks(w, argc, argv, 1); }
static void c_unmark(wb *w, int argc, char **argv) { set_marks(w, argc, argv, 0); }

static void c_export(wb *w, int argc, char **argv) {
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
  if (miss)
    wb_msg(w, 1, "exported %d samples to %s (%d marked samples had no manifest line)", n, argv[1], miss);
  else
    wb_msg(w, 0, "exported %d samples to %s", n, argv[1]);
}

/* ---- views and information ---- */

static void c_view(wb *w, int argc, char **argv) {
  static const char *names[] = {"cot", "group", "run", "text"};
  for (int v = 0; argc == 2 && v < 4; v++)
    if (!strcmp(argv[1], names[v])) {
      w->view = v;
      w->text_top = 0;
      return;
    }
  wb_msg(w, 2, "usage: view cot|group|run|text");
}

static void c_raw(wb *w, int argc, char **argv) {
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

static void c_truth(wb *w, int argc, char **argv) {
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

static void c_info(wb *w, int argc, char **argv) {
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

static void c_set(wb *w, int argc, char **argv) {
  if (argc == 1) {
    wb_msg(w, 0, "temp %g  max_new %d  G %d  seed %llu  continuous %d", w->temp, w->max_new, w->G,
           (unsigned long long)w->seed, w->continuous);
    return;
  }
  double v;
  if (argc != 3 || !parse_num(argv[2], &v)) {
    wb_msg(w, 2, "usage: set temp|max_new|G|seed|continuous VALUE");
    return;
  }
  if (!strcmp(argv[1], "temp") && v >= 0 && v <= 10) w->temp = v;
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

static void c_log(wb *w, int argc, char **argv) {
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

static void c_plot(wb *w, int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    wb_msg(w, 2, "usage: plot METRICS.jsonl [KEY] (default key: loss)");
    return;
  }
  load_plot(w, argv[1], argc == 3 ? argv[2] : "loss");
}

static void c_run(wb *w, int argc, char **argv) {
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
  if (!exe || !*exe) exe = g_exe;
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

static void c_lua(wb *w, int argc, char **argv) {
  wb_msg(w, 1, "lua: not available in this build yet (the Lua bindings land separately; `run RECIPE.lua` runs a recipe)");
}

static void c_quit(wb *w, int argc, char **argv) { w->quit = 1; }
static void c_help(wb *w, int argc, char **argv) { wb_act_help(w, argc > 1 ? argv[1] : NULL); }

static const wb_cmd k_cmds[] = {
    {"help", "help [COMMAND]", "list the commands and keys, or explain one command", c_help},
    {"open", "open PATH...", "open a model directory, a manifest JSONL or a decode JSONL (decode records join manifest samples by id)", c_open},
    {"next", "next [N]", "next sample in the list (key n or Down)", c_next},
    {"prev", "prev [N]", "previous sample (key p or Up)", c_prev},
    {"goto", "goto ID|N", "go to a sample by id (Tab completes ids) or list position", c_goto},
    {"first", "first", "first sample in the list (key Home)", c_first},
    {"last", "last", "last sample in the list (key End)", c_last},
    {"decode", "decode [greedy|sample]", "decode the current sample with the model (key d: greedy); sample uses temp and seed", c_decode},
    {"group", "group [G]", "G sampled outputs (default G 8, temp 1) with rewards (1 - WER + format) and GRPO advantages (key g)", c_group},
    {"pick", "pick K", "make output K of the group the sample's shown output (CoT and alignment)", c_pick},
    {"play", "play [mix|enroll|source N|input|stop]", "play part of the input (space: mixture/stop, e: enrollment, 1-3: source)", c_play},
    {"stop", "stop", "stop playback", c_stop},
    {"filter", "filter fmt|target|wer|spk N|marked|id TEXT|noout|clear", "show only format errors, wrong targets, WER > 0, a speaker count, ... (AND-ed; key /)", c_filter},
    {"unfilter", "unfilter", "clear every filter (key c)", c_unfilter},
    {"sort", "sort file|id|wer|spk|fmt|mark [asc|desc]", "order the sample list", c_sort},
    {"mark", "mark [all]", "mark the current sample, or all shown (filtered) samples (key m toggles)", c_mark},
    {"unmark", "unmark [all]", "unmark the current sample, or all shown samples", c_unmark},
    {"export", "export FILE.jsonl", "write the marked samples' manifest lines as an RL selection manifest (atomic)", c_export},
    {"view", "view cot|group|run|text", "switch the lower right pane (key Tab cycles, Esc returns to cot)", c_view},
    {"raw", "raw", "show the raw model output, hypothesis and reference", c_raw},
    {"truth", "truth", "show the CoT the sample should get, built from its truth", c_truth},
    {"info", "info", "show the manifest entry: files, speakers, genders, offsets, similarities", c_info},
    {"set", "set [temp|max_new|G|seed|continuous VALUE]", "show or change the decoding settings", c_set},
    {"log", "log", "show the recent messages", c_log},
    {"run", "run RECIPE.lua [key=value...] | run stop", "run `tsasr run RECIPE` as a child: its output and the loss from its metrics.jsonl as a plot", c_run},
    {"plot", "plot METRICS.jsonl [KEY]", "plot a metric (default loss) of a metrics.jsonl in the run pane", c_plot},
    {"lua", "lua EXPR", "evaluate Lua (not available in this build yet)", c_lua},
    {"quit", "quit", "leave the workbench (key q)", c_quit},
    {"exit", "exit", "same as quit", c_quit},
    {NULL, NULL, NULL, NULL}};

const wb_cmd *wb_cmds(void) { return k_cmds; }

void wb_act_help(wb *w, const char *cmd) {
  if (cmd) {
    for (const wb_cmd *c = k_cmds; c->name; c++)
      if (!strcmp(c->name, cmd)) {
        wb_msg(w, 0, "%s: %s", c->usage, c->help);
        return;
      }
    wb_msg(w, 2, "help: no command \"%s\"", cmd);
    return;
  }
  char t[8192];
  size_t o = (size_t)snprintf(t, sizeof t,
                              "Keys (outside the command line):\n"
                              "  : or Enter  command line     n p / Down Up  next, previous\n"
                              "  Home End    first, last      space  play mixture / stop\n"
                              "  e           play enrollment  1 2 3  play source N\n"
                              "  m           mark / unmark    /      filter ...\n"
                              "  c           clear filters    d      decode (greedy)\n"
                              "  g           group of G       Tab    next view (Esc: CoT)\n"
                              "  PgUp PgDn   scroll the pane  ? h    help      q  quit\n"
                              "Command line: Tab completes commands, ids, settings and paths;\n"
                              "  Up/Down recall history; Esc or Ctrl-C cancels.\n\nCommands:\n");
  for (const wb_cmd *c = k_cmds; c->name && o < sizeof t; c++)
    o += (size_t)snprintf(t + o, sizeof t - o, "%s\n      %s\n", c->usage, c->help);
  wb_set_text(w, t);
}

/* Splits line into argv (at most cap - 1 words) in buf; quotes keep spaces. */
static int split(const char *line, char *buf, size_t bn, char **argv, int cap) {
  int n = 0;
  size_t o = 0;
  const char *p = line;
  while (*p && n < cap - 1) {
    while (isspace((unsigned char)*p)) p++;
    if (!*p) break;
    argv[n++] = buf + o;
    while (*p && !isspace((unsigned char)*p) && o + 1 < bn) {
      if (*p == '"' || *p == '\'') {
        char q = *p++;
        while (*p && *p != q && o + 1 < bn) buf[o++] = *p++;
        if (*p) p++;
      } else {
        buf[o++] = *p++;
      }
    }
    buf[o++] = 0;
    if (o >= bn) break;
  }
  argv[n] = NULL;
  return n;
}

void wb_cmd_exec(wb *w, const char *line) {
  char buf[8192];
  char *argv[64];
  int argc = split(line, buf, sizeof buf, argv, 64);
  if (argc == 0) return;
  for (const wb_cmd *c = k_cmds; c->name; c++)
    if (!strcmp(c->name, argv[0])) {
      c->fn(w, argc, argv);
      return;
    }
  wb_msg(w, 2, "unknown command \"%s\" (help lists the commands)", argv[0]);
}
