/* sample.c — enrollment ‖ silence ‖ LibriMix-style mixture, with its timeline. */
#include "data/sample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#ifdef TS_HAVE_AUDIO
#include "audio/audio_io.h"
#include "audio/loudness.h"
#endif

void sample_opts_default(sample_opts *o) {
  memset(o, 0, sizeof *o);
  o->rate = 16000;
  o->silence = 3.0;
  o->peak = 0.9;
}

void sample_free(sample *s) {
  if (!s) return;
  free(s->wave);
  for (int i = 0; i < MAN_MAX_SRC; i++) free(s->src[i]);
  memset(s, 0, sizeof *s);
}

#ifdef TS_HAVE_AUDIO

static float peak_of(const float *x, int64_t n) {
  float p = 0;
  for (int64_t i = 0; i < n; i++) {
    float a = fabsf(x[i]);
    if (a > p) p = a;
  }
  return p;
}

static int load(const char *path, const char *id, int rate, audio_buf *b, ts_err *e) {
  int rc = audio_read_expect(path, rate, b, e);
  if (rc) return err_prefix(e, "%s", id);
  if (b->n <= 0) {
    audio_free(b);
    return err_set(e, TS_EFORMAT, "%s: %s: no samples", id, path);
  }
  return TS_OK;
}

/* LibriMix: gain to reach the target loudness, or to peak 0.9 when that would clip. */
static int gain_for(const float *x, int64_t n, int rate, double fixed, double lufs, double guard_peak,
                    double *gain, double *in_lufs, const char *what, ts_err *e) {
  *in_lufs = NAN;
  if (!isnan(fixed)) {
    *gain = fixed;
    return TS_OK;
  }
  if (isnan(lufs)) {
    *gain = 1.0;
    return TS_OK;
  }
  double l;
  int rc = loud_lufs(x, n, rate, &l, e);
  if (rc) return err_prefix(e, "%s", what);
  if (!isfinite(l)) return err_set(e, TS_EFORMAT, "%s: silent, loudness undefined", what);
  *in_lufs = l;
  double g = pow(10.0, (lufs - l) / 20.0);
  double pk = peak_of(x, n);
  if (pk * g >= 1.0) g = guard_peak / pk;
  *gain = g;
  return TS_OK;
}

int sample_build(const man_entry *m, const sample_opts *o, sample *s, ts_err *e) {
  sample_opts dflt;
  if (!o) {
    sample_opts_default(&dflt);
    o = &dflt;
  }
  memset(s, 0, sizeof *s);
  int rc = man_entry_check(m, e);
  if (rc) return rc;
  const int rate = o->rate;
  s->rate = rate;
  s->n_src = m->n_src;
  s->target = m->target;
  s->entry = m;
  s->guard = 1.0;
  audio_buf src[MAN_MAX_SRC];
  memset(src, 0, sizeof src);
  int64_t off[MAN_MAX_SRC];
  audio_buf en = {0};
  float *mix = NULL;
  int all_fixed = 1;
  char what[1200];

  /* sources */
  for (int i = 0; i < m->n_src; i++) {
    const man_source *ms = &m->src[i];
    if ((rc = load(ms->path, m->id, rate, &src[i], e))) goto fail;
    snprintf(what, sizeof what, "%s: %s", m->id, ms->path);
    if ((rc = gain_for(src[i].samples, src[i].n, rate, ms->gain, ms->lufs, o->peak, &s->gain[i],
                       &s->in_lufs[i], what, e)))
      goto fail;
    all_fixed &= !isnan(ms->gain);
    off[i] = (int64_t)llround(ms->offset * rate);
  }
  int64_t mix_n = -1;
  for (int i = 0; i < m->n_src; i++) {
    int64_t end = off[i] + src[i].n;
    if (mix_n < 0 || (m->mode == MAN_MODE_MAX ? end > mix_n : end < mix_n)) mix_n = end;
  }
  if (mix_n <= 0) {
    rc = err_set(e, TS_EFORMAT, "%s: empty mixture (offsets past the shortest source in min mode)", m->id);
    goto fail;
  }
  mix = calloc((size_t)mix_n, sizeof *mix);
  if (!mix) {
    rc = err_set(e, TS_ENOMEM, "%s: out of memory for %lld samples", m->id, (long long)mix_n);
    goto fail;
  }
  for (int i = 0; i < m->n_src; i++) {
    float g = (float)s->gain[i];
    const float *x = src[i].samples;
    int64_t n = src[i].n;
    if (off[i] + n > mix_n) n = mix_n - off[i];
    if (n < 0) n = 0;
    for (int64_t t = 0; t < n; t++) mix[off[i] + t] += g * x[t];
  }
  double g0[MAN_MAX_SRC];
  for (int i = 0; i < m->n_src; i++) g0[i] = s->gain[i];
  float pk = peak_of(mix, mix_n);
  double limit = all_fixed ? 1.0 : o->peak;
  if (pk > limit) {
    s->guard = o->peak / pk;
    float f = (float)s->guard;
    for (int64_t t = 0; t < mix_n; t++) mix[t] *= f;
    for (int i = 0; i < m->n_src; i++) s->gain[i] *= s->guard;
  }
  if (o->keep_sources) {
    for (int i = 0; i < m->n_src; i++) {
      s->src[i] = calloc((size_t)mix_n, sizeof(float));
      if (!s->src[i]) {
        rc = err_set(e, TS_ENOMEM, "%s: out of memory", m->id);
        goto fail;
      }
      /* the mixture sums float(gain)*x then applies float(guard): repeat that exactly */
      float g = (float)g0[i];
      float f = (float)s->guard;
      int64_t n = src[i].n;
      if (off[i] + n > mix_n) n = mix_n - off[i];
      if (n < 0) n = 0;
      for (int64_t t = 0; t < n; t++) {
        float v = g * src[i].samples[t];
        s->src[i][off[i] + t] = s->guard == 1.0 ? v : v * f;
      }
    }
  }

  /* enrollment */
  if ((rc = load(m->enroll.path, m->id, rate, &en, e))) goto fail;
  int64_t e0 = (int64_t)llround(m->enroll.start * rate);
  int64_t el = m->enroll.duration > 0 ? (int64_t)llround(m->enroll.duration * rate) : en.n - e0;
  if (o->enroll_max > 0) {
    int64_t cap = (int64_t)llround(o->enroll_max * rate);
    if (el > cap) el = cap;
  }
  if (e0 >= en.n) {
    rc = err_set(e, TS_EFORMAT, "%s: %s: enrollment start %.3f s is past the end (%.3f s)", m->id,
                 m->enroll.path, m->enroll.start, (double)en.n / rate);
    goto fail;
  }
  if (e0 + el > en.n) el = en.n - e0;
  snprintf(what, sizeof what, "%s: enrollment %s", m->id, m->enroll.path);
  double dummy;
  if ((rc = gain_for(en.samples + e0, el, rate, m->enroll.gain, m->enroll.lufs, o->peak,
                     &s->enroll_gain, &dummy, what, e)))
    goto fail;

  /* the input */
  s->enroll_n = el;
  s->silence_n = (int64_t)llround(o->silence * rate);
  s->mix_off = el + s->silence_n;
  s->mix_n = mix_n;
  s->n = s->mix_off + mix_n;
  s->wave = calloc((size_t)s->n, sizeof(float));
  if (!s->wave) {
    rc = err_set(e, TS_ENOMEM, "%s: out of memory", m->id);
    goto fail;
  }
  float eg = (float)s->enroll_gain;
  for (int64_t t = 0; t < el; t++) s->wave[t] = eg * en.samples[e0 + t];
  memcpy(s->wave + s->mix_off, mix, sizeof(float) * (size_t)mix_n);
  s->total = (double)s->n / rate;

  /* timeline */
  const man_source *tg = &m->src[m->target];
  s->spans[0] = (sample_span){SPAN_ENROLL, -1, 0.0, (double)el / rate,
                              m->enroll.speaker ? m->enroll.speaker : tg->speaker, tg->gender, NULL};
  s->spans[1] = (sample_span){SPAN_SILENCE, -1, (double)el / rate, (double)s->mix_off / rate, NULL,
                              '?', NULL};
  s->spans[2] = (sample_span){SPAN_MIXTURE, -1, (double)s->mix_off / rate, s->total, NULL, '?', NULL};
  for (int i = 0; i < m->n_src; i++) {
    int64_t a = s->mix_off + off[i], b = a + src[i].n;
    if (b > s->n) b = s->n;
    s->spans[3 + i] = (sample_span){SPAN_SOURCE, i, (double)a / rate, (double)b / rate,
                                    m->src[i].speaker, m->src[i].gender, m->src[i].text};
  }
  s->n_spans = 3 + m->n_src;
  rc = TS_OK;
fail:
  for (int i = 0; i < m->n_src; i++) audio_free(&src[i]);
  audio_free(&en);
  free(mix);
  if (rc) sample_free(s);
  return rc;
}

int sample_bake_gains(manifest *m, const sample_opts *o, int64_t *n_bad, ts_err *e) {
  if (n_bad) *n_bad = 0;
  for (int64_t i = 0; i < m->n; i++) {
    sample s;
    ts_err le = {0};
    int rc = sample_build(&m->e[i], o, &s, &le);
    if (rc == TS_ENOMEM) return err_set(e, rc, "%s", le.msg);
    if (rc) {
      log_warn("%s (gains not fixed)", le.msg);
      if (n_bad) (*n_bad)++;
      continue;
    }
    for (int k = 0; k < m->e[i].n_src; k++) m->e[i].src[k].gain = s.gain[k];
    m->e[i].enroll.gain = s.enroll_gain;
    sample_free(&s);
  }
  return TS_OK;
}

#else /* !TS_HAVE_AUDIO */

int sample_build(const man_entry *m, const sample_opts *o, sample *s, ts_err *e) {
  memset(s, 0, sizeof *s);
  return err_set(e, TS_EUNSUP, "%s: sample assembly needs audio support (TSASR_AUDIO=ON)",
                 m && m->id ? m->id : "sample");
}

int sample_bake_gains(manifest *m, const sample_opts *o, int64_t *n_bad, ts_err *e) {
  if (n_bad) *n_bad = 0;
  return err_set(e, TS_EUNSUP, "sample_bake_gains needs audio support (TSASR_AUDIO=ON)");
}

#endif
