/* spk_embed.c — features and embeddings of waveforms and file segments (spk_embed.h). */
#include "speaker/spk_embed.h"

#include <math.h>
#include <stdlib.h>

#ifdef TS_HAVE_AUDIO
#include "audio/audio_io.h"
#include "audio/fbank.h"
#endif

#define SPK_FEAT_RMS 0.05 /* -26 dBFS */

int spk_features(const spk_cfg *c, const float *x, int64_t n, float **feats, int64_t *T, ts_err *e) {
  *feats = NULL;
  *T = 0;
#ifndef TS_HAVE_AUDIO
  (void)c, (void)x, (void)n;
  return err_set(e, TS_EUNSUP, "speaker features: this build has no audio support (configure with -DTSASR_AUDIO=ON)");
#else
  /* scale to a fixed RMS first: the features (and so the embedding) then do not depend on the
   * gain a mixture applied to the source, also where the log floor would otherwise clip */
  double ss = 0;
  for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
  float *xs = NULL;
  if (n > 0 && ss > 0) {
    xs = malloc(sizeof(float) * (size_t)n);
    if (!xs) return err_set(e, TS_ENOMEM, "speaker features: out of memory");
    float g = (float)(SPK_FEAT_RMS / sqrt(ss / (double)n));
    for (int64_t i = 0; i < n; i++) xs[i] = g * x[i];
    x = xs;
  }
  fbank_cfg fc = fbank_cfg_default();
  fc.sample_rate = c->sample_rate;
  fc.num_mel_bins = c->n_mels;
  fc.subtract_mean = 1;
  int rc = fbank_compute(&fc, x, n, feats, T, e);
  free(xs);
  if (rc) return rc;
  if (*T < 1) {
    free(*feats);
    *feats = NULL;
    return err_set(e, TS_EFORMAT, "speaker features: segment of %lld samples is shorter than one 25 ms frame",
                   (long long)n);
  }
  return TS_OK;
#endif
}

int spk_embed_feats(spk_model *m, const float *feats, int64_t T, float *emb, ts_err *e) {
  arena ar;
  arena_init(&ar, (size_t)1 << 20);
  int rc = spk_forward(m, 1, T, feats, NULL, emb, NULL, &ar, e);
  arena_free(&ar);
  return rc;
}

int spk_embed_wave(spk_model *m, const float *x, int64_t n, float *emb, ts_err *e) {
  float *f;
  int64_t T;
  int rc = spk_features(&m->c, x, n, &f, &T, e);
  if (rc) return rc;
  rc = spk_embed_feats(m, f, T, emb, e);
  free(f);
  return rc;
}

int spk_embed_file(spk_model *m, const char *path, int64_t s0, int64_t len, float *emb, ts_err *e) {
#ifndef TS_HAVE_AUDIO
  (void)m, (void)s0, (void)len, (void)emb;
  return err_set(e, TS_EUNSUP, "%s: this build has no audio support (configure with -DTSASR_AUDIO=ON)", path);
#else
  audio_buf a;
  int rc = audio_read(path, m->c.sample_rate, &a, e);
  if (rc) return rc;
  if (s0 < 0 || s0 >= a.n) {
    rc = err_set(e, TS_EARG, "%s: segment start %lld is outside the file's %lld samples", path, (long long)s0,
                 (long long)a.n);
  } else {
    if (len <= 0 || s0 + len > a.n) len = a.n - s0;
    rc = spk_embed_wave(m, a.samples + s0, len, emb, e);
    if (rc) err_prefix(e, "%s", path);
  }
  audio_free(&a);
  return rc;
#endif
}

int spk_embed_segment(spk_model *m, const char *path, double start, double duration, float *emb, ts_err *e) {
  if (!(start >= 0) || !isfinite(duration))
    return err_set(e, TS_EARG, "%s: segment start %g / duration %g", path, start, duration);
  int r = m->c.sample_rate;
  return spk_embed_file(m, path, (int64_t)llround(start * r), duration > 0 ? (int64_t)llround(duration * r) : 0, emb, e);
}

double spk_cosine(const float *a, const float *b, int n) {
  double d = 0, na = 0, nb = 0;
  for (int i = 0; i < n; i++) d += (double)a[i] * b[i], na += (double)a[i] * a[i], nb += (double)b[i] * b[i];
  if (na <= 0 || nb <= 0) return 0.0;
  return d / sqrt(na * nb);
}
