/* wb_audio.c — playback of a sample's parts through play.h, with the input-time cursor. */
#include "wb_audio.h"
#include "wb_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/sample.h"
#ifdef TS_HAVE_AUDIO
#include "audio/play.h"
#endif

struct wb_audio {
#ifdef TS_HAVE_AUDIO
  play *p;
#endif
  sample s;
  int have_s;
  char id[512];
  double base;     /* input seconds where the playing buffer starts */
  char what[32];
};

static void drop_sample(wb_audio *a) {
  if (a->have_s) sample_free(&a->s);
  a->have_s = 0;
  a->id[0] = 0;
}

int wb_audio_play(wb_audio **pa, const man_entry *ent, int what, int src, ts_err *e) {
#ifndef TS_HAVE_AUDIO
  (void)pa, (void)ent, (void)what, (void)src;
  return err_set(e, TS_EUNSUP, "playback needs a build with TSASR_AUDIO");
#else
  wb_audio *a = *pa;
  if (!a) {
    a = calloc(1, sizeof *a);
    if (!a) return err_set(e, TS_ENOMEM, "playback: out of memory");
    if (play_open(&a->p, 0, e)) {
      free(a);
      return e->code;
    }
    *pa = a;
  }
  if (!a->have_s || strcmp(a->id, ent->id)) {
    play_stop(a->p);
    drop_sample(a);
    sample_opts so;
    sample_opts_default(&so);
    so.silence = wb_input_silence;
    so.keep_sources = 1;
    memset(&a->s, 0, sizeof a->s);
    if (sample_build(ent, &so, &a->s, e)) return e->code;
    a->have_s = 1;
    snprintf(a->id, sizeof a->id, "%s", ent->id);
  }
  sample *s = &a->s;
  const float *x;
  int64_t n, off;
  switch (what) {
    case WB_PLAY_ENROLL: off = 0, n = s->enroll_n, x = s->wave; snprintf(a->what, sizeof a->what, "enrollment"); break;
    case WB_PLAY_SOURCE:
      if (src < 0 || src >= s->n_src || !s->src[src])
        return err_set(e, TS_EARG, "%s: no source %d (the sample has %d)", ent->id, src + 1, s->n_src);
      off = s->mix_off, n = s->mix_n, x = s->src[src];
      snprintf(a->what, sizeof a->what, "source %d", src + 1);
      break;
    case WB_PLAY_INPUT: off = 0, n = s->n, x = s->wave; snprintf(a->what, sizeof a->what, "input"); break;
    default: off = s->mix_off, n = s->mix_n, x = s->wave + s->mix_off; snprintf(a->what, sizeof a->what, "mixture"); break;
  }
  a->base = (double)off / s->rate;
  return play_start(a->p, x, n, s->rate, 0, e);
#endif
}

void wb_audio_stop(wb_audio *a) {
#ifdef TS_HAVE_AUDIO
  if (a) play_stop(a->p);
#else
  (void)a;
#endif
}

int wb_audio_active(wb_audio *a) {
#ifdef TS_HAVE_AUDIO
  return a && play_active(a->p);
#else
  (void)a;
  return 0;
#endif
}

double wb_audio_cursor(wb_audio *a, const char *id) {
#ifdef TS_HAVE_AUDIO
  if (!a || !a->have_s || strcmp(a->id, id)) return -1;
  return a->base + play_seconds(a->p);
#else
  (void)a, (void)id;
  return -1;
#endif
}

int wb_audio_silent(const wb_audio *a) {
#ifdef TS_HAVE_AUDIO
  return a && play_is_silent(a->p);
#else
  (void)a;
  return 1;
#endif
}

const char *wb_audio_what(const wb_audio *a) { return a ? a->what : ""; }

void wb_audio_free(wb_audio *a) {
  if (!a) return;
#ifdef TS_HAVE_AUDIO
  play_close(a->p);
#endif
  drop_sample(a);
  free(a);
}
