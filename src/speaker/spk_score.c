/* spk_score.c — per-source similarity to the enrollment for manifest entries (spk_score.h). */
#include "speaker/spk_score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "data/corpus.h"
#include "data/cot.h"
#include "speaker/spk_embed.h"

double spk_sim_value(double cosine, int continuous) {
  return continuous ? cot_round2(cot_clamp01(cosine)) : (double)cot_level(cosine);
}

void spk_default_cache_dir(char *buf, size_t n) {
  const char *t = getenv("TSASR_CACHE"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
  if (t && *t) snprintf(buf, n, "%s/speaker", t);
  else if (x && *x) snprintf(buf, n, "%s/tsasr/speaker", x);
  else snprintf(buf, n, "%s/.cache/tsasr/speaker", h && *h ? h : ".");
}

int spk_scorer_open_model(spk_scorer *s, const char *model_dir, const char *cache_dir, ts_err *e) {
  memset(s, 0, sizeof *s);
  s->from = SPK_FROM_MODEL;
  sample_opts_default(&s->so);
  int rc = spk_model_load(&s->model, model_dir, be_cpu(), e);
  if (rc) return rc;
  s->so.rate = s->model.c.sample_rate;
  s->dim = s->model.c.emb_dim;
  char id[33];
  if ((rc = spk_model_id(model_dir, id, e)) || (rc = spk_cache_open(&s->cache, cache_dir, id, s->dim, e))) {
    spk_model_free(&s->model);
    return rc;
  }
  return TS_OK;
}

int spk_scorer_open_import(spk_scorer *s, const char *path, ts_err *e) {
  memset(s, 0, sizeof *s);
  s->from = SPK_FROM_IMPORT;
  sample_opts_default(&s->so);
  int rc = spk_table_load(path, 0, &s->table, e);
  if (rc) return rc;
  s->dim = s->table.dim;
  return TS_OK;
}

int spk_scorer_close(spk_scorer *s, ts_err *e) {
  int rc = TS_OK;
  if (s->from == SPK_FROM_MODEL) {
    rc = spk_cache_save(&s->cache, e);
    spk_cache_close(&s->cache);
    spk_model_free(&s->model);
  } else {
    spk_table_free(&s->table);
  }
  memset(s, 0, sizeof *s);
  return rc;
}

/* Utterance id of a file: the name without folders and extension. */
static void utt_of(const char *utt, const char *path, char *buf, size_t n) {
  if (utt && *utt) {
    snprintf(buf, n, "%s", utt);
    return;
  }
  const char *b = strrchr(path, '/');
  snprintf(buf, n, "%s", b ? b + 1 : path);
  char *dot = strchr(buf, '.');
  if (dot) *dot = 0;
}

static int sim_import(spk_scorer *s, const man_entry *m, double *sim, ts_err *e) {
  char utt[512];
  const man_enroll *en = &m->enroll;
  utt_of(en->utt, en->path, utt, sizeof utt);
  const float *ee = spk_table_find(&s->table, utt, en->start, en->duration > 0 ? en->duration : 0);
  if (!ee)
    return err_set(e, TS_EFORMAT, "%s: no imported embedding for the enrollment (utt %s, start %g, duration %g) in %s",
                   m->id, utt, en->start, en->duration, s->table.path);
  s->n_reused++;
  for (int k = 0; k < m->n_src; k++) {
    const man_source *ms = &m->src[k];
    utt_of(ms->utt, ms->path, utt, sizeof utt);
    const float *se = spk_table_find(&s->table, utt, 0, 0);
    if (!se && !isnan(m->duration) && m->duration > 0)
      se = spk_table_find(&s->table, utt, 0, fmin(m->duration - ms->offset, isnan(ms->duration) ? INFINITY : ms->duration));
    if (!se)
      return err_set(e, TS_EFORMAT, "%s: no imported embedding for source %d (utt %s, whole utterance) in %s", m->id,
                     k + 1, utt, s->table.path);
    s->n_reused++;
    sim[k] = spk_cosine(ee, se, s->dim);
  }
  return TS_OK;
}

/* The samples each segment of the entry will have, from the audio headers alone (as
 * sample_build cuts them): enrollment [e0, e0 + el) of its file, source k [0, len[k]). */
static int entry_geometry(const spk_scorer *s, const man_entry *m, int64_t *e0, int64_t *el, int64_t *len,
                          ts_err *e) {
  int rate = s->so.rate, r;
  int64_t fr[MAN_MAX_SRC], off[MAN_MAX_SRC], mix_n = -1;
  for (int k = 0; k < m->n_src; k++) {
    int rc = corpus_probe_audio(m->src[k].path, &fr[k], &r, e);
    if (rc) return err_prefix(e, "%s", m->id);
    if (r != rate) return err_set(e, TS_EFORMAT, "%s: %s is %d Hz, expected %d", m->id, m->src[k].path, r, rate);
    off[k] = (int64_t)llround(m->src[k].offset * rate);
    int64_t end = off[k] + fr[k];
    if (mix_n < 0 || (m->mode == MAN_MODE_MAX ? end > mix_n : end < mix_n)) mix_n = end;
  }
  for (int k = 0; k < m->n_src; k++) {
    len[k] = off[k] + fr[k] > mix_n ? mix_n - off[k] : fr[k];
    if (len[k] <= 0) return err_set(e, TS_EFORMAT, "%s: source %d has no samples in the mixture", m->id, k + 1);
  }
  int64_t ef;
  int rc = corpus_probe_audio(m->enroll.path, &ef, &r, e);
  if (rc) return err_prefix(e, "%s: enrollment", m->id);
  if (r != rate) return err_set(e, TS_EFORMAT, "%s: %s is %d Hz, expected %d", m->id, m->enroll.path, r, rate);
  *e0 = (int64_t)llround(m->enroll.start * rate);
  *el = m->enroll.duration > 0 ? (int64_t)llround(m->enroll.duration * rate) : ef - *e0;
  if (s->so.enroll_max > 0 && *el > (int64_t)llround(s->so.enroll_max * rate)) *el = (int64_t)llround(s->so.enroll_max * rate);
  if (*e0 >= ef) return err_set(e, TS_EFORMAT, "%s: enrollment start %.3f s is past the end of %s", m->id, m->enroll.start, m->enroll.path);
  if (*e0 + *el > ef) *el = ef - *e0;
  return TS_OK;
}

static int sim_model(spk_scorer *s, const man_entry *m, double *sim, ts_err *e) {
  int D = s->dim, n = m->n_src;
  int64_t e0 = 0, el = 0, len[MAN_MAX_SRC] = {0};
  int rc = entry_geometry(s, m, &e0, &el, len, e);
  if (rc) return rc;
  char key[MAN_MAX_SRC + 1][4400];
  float *emb = malloc(sizeof(float) * (size_t)(n + 1) * (size_t)D);
  int have[MAN_MAX_SRC + 1], missing = 0;
  if (!emb) return err_set(e, TS_ENOMEM, "%s: out of memory", m->id);
  for (int k = 0; k <= n && !rc; k++) { /* k = n is the enrollment */
    rc = k < n ? spk_cache_key(m->src[k].path, 0, len[k], key[k], sizeof key[k], e)
               : spk_cache_key(m->enroll.path, e0, el, key[k], sizeof key[k], e);
    if (!rc) {
      have[k] = spk_cache_get(&s->cache, key[k], emb + (size_t)k * D);
      missing += !have[k];
      s->n_reused += have[k];
    }
  }
  if (rc) {
    free(emb);
    return err_prefix(e, "%s", m->id);
  }
  if (missing) { /* assemble the sample and embed the clean sources and the enrollment crop */
    sample smp;
    sample_opts so = s->so;
    so.keep_sources = 1;
    if ((rc = sample_build(m, &so, &smp, e))) {
      free(emb);
      return rc;
    }
    if (smp.enroll_n != el)
      rc = err_set(e, TS_EINTERNAL, "%s: enrollment has %lld samples, the headers said %lld", m->id,
                   (long long)smp.enroll_n, (long long)el);
    for (int k = 0; k <= n && !rc; k++) {
      if (have[k]) continue;
      const float *x;
      int64_t nx;
      if (k < n) {
        int64_t off = (int64_t)llround(m->src[k].offset * so.rate);
        x = smp.src[k] + off, nx = len[k];
        if (off + nx > smp.mix_n) {
          rc = err_set(e, TS_EINTERNAL, "%s: source %d span outside the mixture", m->id, k + 1);
          break;
        }
      } else {
        x = smp.wave, nx = smp.enroll_n;
      }
      if ((rc = spk_embed_wave(&s->model, x, nx, emb + (size_t)k * D, e))) {
        err_prefix(e, "%s: %s", m->id, k < n ? "source" : "enrollment");
        break;
      }
      s->n_embedded++;
      rc = spk_cache_put(&s->cache, key[k], emb + (size_t)k * D, e);
    }
    sample_free(&smp);
  }
  for (int k = 0; k < n && !rc; k++) sim[k] = spk_cosine(emb + (size_t)n * D, emb + (size_t)k * D, D);
  free(emb);
  return rc;
}

int spk_entry_similarity(spk_scorer *s, const man_entry *m, double *sim, ts_err *e) {
  if (m->n_src < 1 || m->n_src > MAN_MAX_SRC) return err_set(e, TS_EARG, "%s: %d sources", m->id, m->n_src);
  return s->from == SPK_FROM_IMPORT ? sim_import(s, m, sim, e) : sim_model(s, m, sim, e);
}

int spk_manifest_score(spk_scorer *s, manifest *m, int64_t *n_bad, ts_err *e) {
  int64_t bad = 0;
  for (int64_t i = 0; i < m->n; i++) {
    man_entry *x = &m->e[i];
    double sim[MAN_MAX_SRC];
    ts_err le = {0};
    if (spk_entry_similarity(s, x, sim, &le)) {
      if (!bad) log_warn("speaker score: %s", le.msg);
      bad++;
      continue;
    }
    double *p = malloc(sizeof(double) * (size_t)x->n_src);
    if (!p) return err_set(e, TS_ENOMEM, "speaker score: out of memory");
    memcpy(p, sim, sizeof(double) * (size_t)x->n_src);
    free(x->similarity);
    x->similarity = p;
  }
  if (n_bad) *n_bad = bad;
  return TS_OK;
}
