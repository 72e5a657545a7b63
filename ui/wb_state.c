/* wb_state.c — the workbench state: items, messages, the text view. */
#include "wb_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_audio.h"
#include "wb_model.h"
#include "wb_run.h"

void wb_out_free(wb_out *o) {
  if (!o) return;
  free(o->raw);
  free(o->hyp);
  free(o->ref);
  memset(o, 0, sizeof *o);
}

double wb_out_wer(const wb_out *o) {
  int64_t err = o->sub + o->del + o->ins;
  return (double)err / (double)(o->n > 0 ? o->n : 1);
}

void wb_init(wb *w) {
  memset(w, 0, sizeof *w);
  w->cur = -1;
  w->temp = 1.0;
  w->top_p = 1.0;
  w->max_new = 300; /* as the recipes' eval and `tsasr demo` */
  w->G = 8;
  w->seed = 1;
  w->filt_spk = 0;
  snprintf(w->plot_key, sizeof w->plot_key, "loss");
}

void wb_item_free(wb_item *x) {
  free(x->id);
  free(x->set);
  if (x->has_ent) man_entry_free(&x->ent);
  free(x->line);
  free(x->ref_text);
  wb_out_free(&x->out);
  memset(x, 0, sizeof *x);
}

void wb_group_free(wb_group *g) {
  for (int i = 0; i < g->G; i++) wb_out_free(&g->o[i]);
  free(g->o);
  free(g->adv);
  memset(g, 0, sizeof *g);
}

void wb_clear_items(wb *w) {
  for (int i = 0; i < w->n; i++) wb_item_free(&w->it[i]);
  w->n = 0;
  w->n_vis = 0;
  w->cur = -1;
  wb_group_free(&w->group);
}

void wb_lua_close(void *L); /* wb_lua.c */

void wb_free(wb *w) {
  wb_lua_close(w->lua);
  w->lua = NULL;
  wb_clear_items(w);
  free(w->it);
  free(w->vis);
  free(w->text);
  wb_run_free(w->run);
  wb_audio_free(w->audio);
  wb_model_free(w->model);
  memset(w, 0, sizeof *w);
}

void wb_msg(wb *w, int level, const char *fmt, ...) {
  int k = w->n_msg % WB_MSG_N;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->msg[k], sizeof w->msg[k], fmt, ap);
  va_end(ap);
  for (char *p = w->msg[k]; *p; p++)
    if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
  w->msg_level[k] = level;
  w->n_msg++;
}

const char *wb_last_msg(const wb *w, int *level) {
  if (w->n_msg == 0) {
    if (level) *level = 0;
    return "";
  }
  int k = (w->n_msg - 1) % WB_MSG_N;
  if (level) *level = w->msg_level[k];
  return w->msg[k];
}

void wb_set_text(wb *w, const char *text) {
  free(w->text);
  w->text = strdup(text ? text : "");
  w->text_top = 0;
  w->view = WB_VIEW_TEXT;
}

wb_item *wb_add_item(wb *w, ts_err *e) {
  if (w->n == w->cap) {
    int cap = w->cap ? 2 * w->cap : 64;
    wb_item *it = realloc(w->it, sizeof *it * (size_t)cap);
    int *vis = realloc(w->vis, sizeof *vis * (size_t)cap);
    if (it) w->it = it;
    if (vis) w->vis = vis;
    if (!it || !vis) {
      err_set(e, TS_ENOMEM, "workbench: out of memory for %d samples", cap);
      return NULL;
    }
    w->cap = cap;
  }
  wb_item *x = &w->it[w->n++];
  memset(x, 0, sizeof *x);
  x->target = -1;
  return x;
}

int wb_find(const wb *w, const char *id) {
  for (int i = 0; i < w->n; i++)
    if (w->it[i].id && !strcmp(w->it[i].id, id)) return i;
  return -1;
}

int wb_current_index(const wb *w) {
  if (w->cur < 0 || w->cur >= w->n_vis) return -1;
  return w->vis[w->cur];
}

wb_item *wb_current(wb *w) {
  int i = wb_current_index(w);
  return i < 0 ? NULL : &w->it[i];
}
