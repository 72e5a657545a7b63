/* wb_cmd_nav.c — commands that open files and models, move between samples, decode, sample
 * groups and play audio. */
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_cmd_int.h"
#include "wb_audio.h"
#include "wb_model.h"
#include "wb_run.h"

/* ---- open ---- */

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

void wb_open_path(wb *w, const char *p) {
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
    if (wb_input_silence != wb_model_silence(m)) { /* the timelines and the cached audio change */
      wb_input_silence = wb_model_silence(m);
      for (int i = 0; i < w->n; i++)
        if (w->it[i].facts_state != WB_FACTS_NONE) w->it[i].facts_state = WB_FACTS_NONE;
      wb_audio_free(w->audio);
      w->audio = NULL;
    }
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
  if (!strcmp(kind, "manifest")) { /* new samples: the cached audio may be of an old one */
    wb_audio_free(w->audio);
    w->audio = NULL;
  }
  if (!strcmp(kind, "manifest"))
    wb_msg(w, 0, "manifest %s: %d samples", p, w->n);
  else
    wb_msg(w, 0, "decode %s: %d samples (%d new)", p, w->n, w->n - before);
}

void c_open(wb *w, int argc, char **argv) {
  if (argc < 2) {
    wb_msg(w, 2, "usage: open PATH... (a model directory, a manifest or a decode JSONL)");
    return;
  }
  for (int i = 1; i < argc; i++) wb_open_path(w, argv[i]);
}

/* ---- navigation ---- */

void c_next(wb *w, int argc, char **argv) {
  long k = 1;
  if (argc > 1 && !wb_parse_int(argv[1], &k)) {
    wb_msg(w, 2, "next: not a number: %s", argv[1]);
    return;
  }
  wb_act_move(w, (int)k);
}

void c_prev(wb *w, int argc, char **argv) {
  long k = 1;
  if (argc > 1 && !wb_parse_int(argv[1], &k)) {
    wb_msg(w, 2, "prev: not a number: %s", argv[1]);
    return;
  }
  wb_act_move(w, -(int)k);
}

void c_goto(wb *w, int argc, char **argv) {
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
  if (wb_parse_int(argv[1], &k)) {
    if (k < 1 || k > w->n_vis) {
      wb_msg(w, 2, "goto: %ld is out of range 1..%d", k, w->n_vis);
      return;
    }
    wb_act_move(w, (int)k - 1 - w->cur);
    return;
  }
  wb_msg(w, 2, "goto: no sample \"%s\"", argv[1]);
}

void c_first(wb *w, int argc, char **argv) { wb_act_move(w, -w->cur); }
void c_last(wb *w, int argc, char **argv) { wb_act_move(w, w->n_vis - 1 - w->cur); }

/* ---- decode / group ---- */

void c_decode(wb *w, int argc, char **argv) {
  if (argc > 2 || (argc == 2 && strcmp(argv[1], "greedy") && strcmp(argv[1], "sample"))) {
    wb_msg(w, 2, "usage: decode [greedy|sample]");
    return;
  }
  wb_act_decode(w, argc == 2 && !strcmp(argv[1], "sample"));
}

void c_group(wb *w, int argc, char **argv) {
  long G = w->G;
  if (argc > 2 || (argc == 2 && !wb_parse_int(argv[1], &G))) {
    wb_msg(w, 2, "usage: group [G]");
    return;
  }
  wb_act_group(w, (int)G);
}

void c_pick(wb *w, int argc, char **argv) {
  long k;
  if (argc != 2 || !wb_parse_int(argv[1], &k)) {
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

void c_play(wb *w, int argc, char **argv) {
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
    if (argc != 3 || !wb_parse_int(argv[2], &k)) {
      wb_msg(w, 2, "usage: play source N (N from 1)");
      return;
    }
    wb_act_play(w, WB_PLAY_SOURCE, (int)k - 1);
  } else {
    wb_msg(w, 2, "usage: play [mix|enroll|source N|input|stop]");
  }
}

void c_stop(wb *w, int argc, char **argv) {
  wb_audio_stop(w->audio);
  if (wb_run_active(w->run) && argc > 1 && !strcmp(argv[1], "run")) {
    wb_run_stop(w->run);
    wb_msg(w, 0, "stopping the run");
    return;
  }
  wb_msg(w, 0, "stopped");
}

