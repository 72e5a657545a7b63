/* wb_act.c — the workbench's actions behind commands and keys: navigation, marks, playback,
 * decoding with the model and the GRPO group view. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/grpo.h"
#include "train/grpo_loss.h"
#include "wb_audio.h"
#include "wb_cmd.h"
#include "wb_model.h"

void wb_act_move(wb *w, int delta) {
  if (w->n_vis == 0) {
    wb_msg(w, 1, "no samples in view (open a manifest, or `filter clear`)");
    return;
  }
  int to = w->cur + delta;
  if (to < 0 || to >= w->n_vis) wb_msg(w, 0, to < 0 ? "at the first sample" : "at the last sample");
  wb_goto_pos(w, to);
  w->text_top = 0;
  if (w->view == WB_VIEW_TEXT || (w->view == WB_VIEW_GROUP && w->group.item != wb_current_index(w)))
    w->view = WB_VIEW_COT;
}

void wb_act_toggle_mark(wb *w) {
  wb_item *x = wb_current(w);
  if (!x) {
    wb_msg(w, 1, "no sample to mark");
    return;
  }
  x->marked = !x->marked;
  wb_msg(w, 0, "%s %s", x->marked ? "marked" : "unmarked", x->id);
}

static const char *k_play_names[] = {"mixture", "enrollment", "source", "input"};

void wb_act_play(wb *w, int what, int src) {
  wb_item *x = wb_current(w);
  if (!x) {
    wb_msg(w, 1, "no sample to play");
    return;
  }
  if (!x->has_ent) {
    wb_msg(w, 2, "%s: no manifest entry, so no audio (open the manifest)", x->id);
    return;
  }
  ts_err e;
  err_clear(&e);
  if (wb_audio_play(&w->audio, &x->ent, what, src, &e)) {
    wb_msg(w, 2, "play: %s", e.msg);
    return;
  }
  if (what == WB_PLAY_SOURCE)
    wb_msg(w, 0, "playing source %d of %s%s", src + 1, x->id,
           wb_audio_silent(w->audio) ? " (silent sink: no audio device)" : "");
  else
    wb_msg(w, 0, "playing %s of %s%s", k_play_names[what], x->id,
           wb_audio_silent(w->audio) ? " (silent sink: no audio device)" : "");
}

void wb_act_toggle_play(wb *w) {
  if (wb_audio_active(w->audio)) {
    wb_audio_stop(w->audio);
    wb_msg(w, 0, "stopped");
  } else {
    wb_act_play(w, WB_PLAY_MIX, 0);
  }
}

static int need_model_entry(wb *w, wb_item **px) {
  wb_item *x = wb_current(w);
  if (!x) {
    wb_msg(w, 1, "no sample selected");
    return 0;
  }
  if (!w->model) {
    wb_msg(w, 2, "no model: open MODEL_DIR first");
    return 0;
  }
  if (!x->has_ent) {
    wb_msg(w, 2, "%s: no manifest entry, so no audio to decode (open the manifest)", x->id);
    return 0;
  }
  *px = x;
  return 1;
}

void wb_act_decode(wb *w, int sampled) {
  wb_item *x;
  if (!need_model_entry(w, &x)) return;
  ts_err e;
  err_clear(&e);
  char **raws;
  int rep = 0;
  uint64_t seed = w->seed;
  wb_msg(w, 0, "decoding %s ...", x->id);
  if (w->busy) w->busy(w);
  if (wb_model_generate(w->model, &x->ent, sampled ? w->temp : 0.0, w->top_k, w->top_p, 1, w->max_new, seed, &raws,
                        &rep, &e)) {
    wb_msg(w, 2, "decode: %s", e.msg);
    return;
  }
  if (sampled) w->seed++;
  wb_out o;
  if (wb_score(x, raws[0], &o, &e)) {
    wb_msg(w, 2, "decode: %s", e.msg);
  } else {
    o.repetition = rep;
    snprintf(o.origin, sizeof o.origin, "%s", sampled ? "sampled" : "greedy");
    wb_out_free(&x->out);
    x->out = o;
    x->has_out = 1;
    w->view = WB_VIEW_COT;
    w->text_top = 0;
    if (sampled)
      wb_msg(w, 0, "decoded %s (sampled T=%g seed %llu): WER %.1f%%, format %s", x->id, w->temp, (unsigned long long)seed,
             100 * wb_out_wer(&o), o.format_ok ? "ok" : "error");
    else
      wb_msg(w, 0, "decoded %s (greedy): WER %.1f%%, format %s", x->id, 100 * wb_out_wer(&o),
             o.format_ok ? "ok" : "error");
  }
  free(raws[0]);
  free(raws);
}

void wb_act_group(wb *w, int G) {
  wb_item *x;
  if (G < 2 || G > 64) {
    wb_msg(w, 2, "group: G must be 2..64 (got %d)", G);
    return;
  }
  if (!need_model_entry(w, &x)) return;
  if (!(w->temp > 0)) {
    wb_msg(w, 2, "group: temperature must be > 0 (set temp 1)");
    return;
  }
  ts_err e;
  err_clear(&e);
  char **raws;
  int *rep = calloc((size_t)G, sizeof *rep);
  wb_out *o = calloc((size_t)G, sizeof *o);
  float *r = calloc((size_t)G, sizeof *r), *adv = calloc((size_t)G, sizeof *adv);
  if (!rep || !o || !r || !adv) {
    free(rep), free(o), free(r), free(adv);
    wb_msg(w, 2, "group: out of memory");
    return;
  }
  uint64_t seed = w->seed;
  wb_msg(w, 0, "sampling %d outputs for %s ...", G, x->id);
  if (w->busy) w->busy(w);
  if (wb_model_generate(w->model, &x->ent, w->temp, w->top_k, w->top_p, G, w->max_new, seed, &raws, rep, &e)) {
    wb_msg(w, 2, "group: %s", e.msg);
    free(rep), free(o), free(r), free(adv);
    return;
  }
  w->seed++;
  int ok = 1;
  for (int g = 0; g < G; g++) {
    if (ok && wb_score(x, raws[g], &o[g], &e)) {
      wb_msg(w, 2, "group: %s", e.msg);
      ok = 0;
    }
    /* paper eq. (1)-(3), as GRPO computes it: r = (1 - WER) + format reward for a well-formed
     * output, 0 for a format error (whose answer the scoring above still reads leniently) */
    if (ok) o[g].reward = grpo_reward(raws[g], x->ref_text ? x->ref_text : "", 1.0f, NULL);
    free(raws[g]);
    if (!ok) continue;
    o[g].repetition = rep[g];
    o[g].has_reward = 1;
    r[g] = (float)o[g].reward;
    snprintf(o[g].origin, sizeof o[g].origin, "group %d", g + 1);
  }
  free(raws);
  free(rep);
  int64_t zs = 0;
  if (ok && grpo_advantages(r, 1, G, 1e-4f, adv, &zs, &e)) {
    wb_msg(w, 2, "group: %s", e.msg);
    ok = 0;
  }
  free(r);
  if (!ok) {
    for (int g = 0; g < G; g++) wb_out_free(&o[g]);
    free(o), free(adv);
    return;
  }
  wb_group_free(&w->group);
  w->group.G = G;
  w->group.item = (int)(x - w->it);
  w->group.temp = w->temp;
  w->group.o = o;
  w->group.adv = adv;
  w->group.zero_std = zs;
  w->view = WB_VIEW_GROUP;
  w->text_top = 0;
  wb_msg(w, 0, "group of %d for %s (T=%g, seed %llu)%s; `pick K` shows output K", G, x->id, w->temp,
         (unsigned long long)seed, zs ? ": all rewards equal, advantages 0" : "");
}
