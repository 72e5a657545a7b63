/* fbank.c — Kaldi-compatible log-mel filterbank: framing, DC removal, pre-emphasis, Povey
 * window, FFTW power spectrum, triangular mel filters, log with an FLT_EPSILON floor. */
#include "fbank.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>

fbank_cfg fbank_cfg_default(void) {
  fbank_cfg c;
  memset(&c, 0, sizeof c);
  c.sample_rate = 16000;
  c.num_mel_bins = 80;
  c.frame_length_ms = 25.0;
  c.frame_shift_ms = 10.0;
  c.preemph = 0.97;
  c.low_freq = 20.0;
  c.high_freq = 0.0;
  c.remove_dc = 1;
  c.use_power = 1;
  c.subtract_mean = 0;
  c.input_scale = 1.0f;
  return c;
}

/* ---- FFT plan cache: one r2c plan per size, made under a lock (FFTW's planner is not
 * thread-safe), executed with fftwf_execute_dft_r2c on per-call buffers (which is). ---- */

enum { FBANK_MAX_PLANS = 8 };
static pthread_mutex_t fbank_plan_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  int n;
  fftwf_plan plan;
} fbank_plans[FBANK_MAX_PLANS];

static fftwf_plan fbank_plan_get(int n) {
  fftwf_plan p = NULL;
  pthread_mutex_lock(&fbank_plan_lock);
  int slot = -1;
  for (int i = 0; i < FBANK_MAX_PLANS; i++) {
    if (fbank_plans[i].plan && fbank_plans[i].n == n) {
      p = fbank_plans[i].plan;
      break;
    }
    if (!fbank_plans[i].plan && slot < 0) slot = i;
  }
  if (!p && slot >= 0) {
    /* Buffers from fftwf_malloc have the alignment every later fftwf_malloc buffer has, which
     * the new-array execute requires. */
    float *in = fftwf_malloc(sizeof(float) * (size_t)n);
    fftwf_complex *out = fftwf_malloc(sizeof(fftwf_complex) * (size_t)(n / 2 + 1));
    if (in && out) p = fftwf_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE);
    fftwf_free(in);
    fftwf_free(out);
    if (p) {
      fbank_plans[slot].n = n;
      fbank_plans[slot].plan = p;
    }
  }
  pthread_mutex_unlock(&fbank_plan_lock);
  return p;
}

void fbank_cleanup(void) {
  pthread_mutex_lock(&fbank_plan_lock);
  for (int i = 0; i < FBANK_MAX_PLANS; i++) {
    if (fbank_plans[i].plan) fftwf_destroy_plan(fbank_plans[i].plan);
    fbank_plans[i].plan = NULL;
    fbank_plans[i].n = 0;
  }
  pthread_mutex_unlock(&fbank_plan_lock);
}

/* ---- geometry ---- */

typedef struct fbank_geom {
  int win, hop, nfft;
} fbank_geom;

static int fbank_geometry(const fbank_cfg *c, fbank_geom *g) {
  if (!c || c->sample_rate <= 0 || c->frame_length_ms <= 0 || c->frame_shift_ms <= 0) return -1;
  g->win = (int)((double)c->sample_rate * 0.001 * c->frame_length_ms);
  g->hop = (int)((double)c->sample_rate * 0.001 * c->frame_shift_ms);
  if (g->win < 2 || g->hop < 1 || g->win > (1 << 24)) return -1;
  g->nfft = 1;
  while (g->nfft < g->win) g->nfft <<= 1;
  return 0;
}

int64_t fbank_num_frames(const fbank_cfg *cfg, int64_t n) {
  fbank_geom g = {0, 0, 0};
  if (fbank_geometry(cfg, &g) != 0 || n < g.win) return 0;
  return 1 + (n - g.win) / g.hop;
}

/* ---- mel filters: for bin m, weights w[m][k] over FFT bins first[m] .. first[m]+len[m]-1 ---- */

typedef struct fbank_mel {
  int *first, *len;
  float *w; /* (num_mel_bins, nfft / 2) */
} fbank_mel;

static double fbank_mel_scale(double f) { return 1127.0 * log(1.0 + f / 700.0); }

static void fbank_mel_free(fbank_mel *m) {
  free(m->first);
  free(m->len);
  free(m->w);
  m->first = m->len = NULL;
  m->w = NULL;
}

static int fbank_mel_make(const fbank_cfg *c, int nfft, fbank_mel *m, ts_err *e) {
  const int nb = c->num_mel_bins, half = nfft / 2;
  const double nyq = 0.5 * c->sample_rate;
  double lo = c->low_freq, hi = c->high_freq;
  if (hi <= 0) hi += nyq;
  if (!(lo >= 0 && lo < nyq && hi > 0 && hi <= nyq && lo < hi))
    return err_set(e, TS_EARG, "fbank: bad band low %g Hz, high %g Hz (Nyquist %g Hz)", c->low_freq,
                   c->high_freq, nyq);
  m->first = calloc((size_t)nb, sizeof *m->first);
  m->len = calloc((size_t)nb, sizeof *m->len);
  m->w = calloc((size_t)nb * (size_t)half, sizeof *m->w);
  if (!m->first || !m->len || !m->w) {
    fbank_mel_free(m);
    return err_set(e, TS_ENOMEM, "fbank: out of memory for mel filters");
  }
  const double mlo = fbank_mel_scale(lo), mhi = fbank_mel_scale(hi);
  const double delta = (mhi - mlo) / (nb + 1);
  const double bin_hz = (double)c->sample_rate / nfft;
  for (int b = 0; b < nb; b++) {
    double left = mlo + b * delta, center = mlo + (b + 1) * delta, right = mlo + (b + 2) * delta;
    int first = -1, last = -1;
    for (int k = 0; k < half; k++) {
      double mel = fbank_mel_scale(bin_hz * k);
      double up = (mel - left) / (center - left), down = (right - mel) / (right - center);
      double wt = up < down ? up : down;
      if (wt > 0) {
        m->w[(size_t)b * half + k] = (float)wt;
        if (first < 0) first = k;
        last = k;
      }
    }
    if (first < 0) {
      fbank_mel_free(m);
      return err_set(e, TS_EARG, "fbank: mel bin %d of %d is empty (too many bins for FFT size %d)",
                     b, nb, nfft);
    }
    m->first[b] = first;
    m->len[b] = last - first + 1;
  }
  return TS_OK;
}

/* ---- features ---- */

static int fbank_check(const fbank_cfg *c, fbank_geom *g, ts_err *e) {
  if (!c) return err_set(e, TS_EARG, "fbank: NULL config");
  if (fbank_geometry(c, g) != 0)
    return err_set(e, TS_EARG, "fbank: bad framing (rate %d Hz, frame %g ms, shift %g ms)",
                   c->sample_rate, c->frame_length_ms, c->frame_shift_ms);
  if (c->num_mel_bins < 3 || c->num_mel_bins > 4096)
    return err_set(e, TS_EARG, "fbank: num_mel_bins %d out of range [3, 4096]", c->num_mel_bins);
  if (!(c->preemph >= 0 && c->preemph <= 1))
    return err_set(e, TS_EARG, "fbank: pre-emphasis %g out of range [0, 1]", c->preemph);
  if (!isfinite(c->input_scale) || c->input_scale == 0)
    return err_set(e, TS_EARG, "fbank: input_scale %g must be finite and non-zero", (double)c->input_scale);
  return TS_OK;
}

int fbank_compute(const fbank_cfg *cfg, const float *x, int64_t n, float **out, int64_t *frames,
                  ts_err *e) {
  if (!out || !frames) return err_set(e, TS_EARG, "fbank: NULL output");
  *out = NULL;
  *frames = 0;
  fbank_geom g = {0, 0, 0};
  int rc = fbank_check(cfg, &g, e);
  if (rc) return rc;
  if (n < 0 || (n > 0 && !x)) return err_set(e, TS_EARG, "fbank: bad input (n=%lld)", (long long)n);
  const int64_t nf = fbank_num_frames(cfg, n);
  if (nf == 0) return TS_OK;
  const int nb = cfg->num_mel_bins, win = g.win, nfft = g.nfft, half = nfft / 2;

  fftwf_plan plan = fbank_plan_get(nfft);
  if (!plan) return err_set(e, TS_EINTERNAL, "fbank: FFTW plan of size %d failed", nfft);
  fbank_mel mel = {NULL, NULL, NULL};
  rc = fbank_mel_make(cfg, nfft, &mel, e);
  if (rc) return rc;

  float *feat = malloc((size_t)nf * (size_t)nb * sizeof *feat);
  float *window = malloc((size_t)win * sizeof *window);
  double *power = malloc((size_t)half * sizeof *power);
  float *buf = fftwf_malloc(sizeof(float) * (size_t)nfft);
  fftwf_complex *spec = fftwf_malloc(sizeof(fftwf_complex) * (size_t)(half + 1));
  if (!feat || !window || !power || !buf || !spec) {
    rc = err_set(e, TS_ENOMEM, "fbank: out of memory for %lld frames", (long long)nf);
    goto done;
  }
  /* Povey window: a Hann window over win - 1 intervals, raised to 0.85. */
  for (int i = 0; i < win; i++)
    window[i] = (float)pow(0.5 - 0.5 * cos(2.0 * M_PI * i / (win - 1)), 0.85);

  const float scale = cfg->input_scale, pre = (float)cfg->preemph;
  for (int64_t f = 0; f < nf; f++) {
    const float *src = x + f * g.hop;
    for (int i = 0; i < win; i++) buf[i] = src[i] * scale;
    if (cfg->remove_dc) {
      double s = 0;
      for (int i = 0; i < win; i++) s += buf[i];
      float mean = (float)(s / win);
      for (int i = 0; i < win; i++) buf[i] -= mean;
    }
    if (pre != 0.0f) {
      /* x[i] -= pre * x[i-1], and x[0] -= pre * x[0] (Kaldi's edge rule); from the end so each
       * step reads the unmodified previous sample. */
      for (int i = win - 1; i > 0; i--) buf[i] -= pre * buf[i - 1];
      buf[0] -= pre * buf[0];
    }
    for (int i = 0; i < win; i++) buf[i] *= window[i];
    for (int i = win; i < nfft; i++) buf[i] = 0.0f;
    fftwf_execute_dft_r2c(plan, buf, spec);
    for (int k = 0; k < half; k++) {
      double re = spec[k][0], im = spec[k][1];
      double p = re * re + im * im;
      power[k] = cfg->use_power ? p : sqrt(p);
    }
    float *row = feat + f * nb;
    for (int b = 0; b < nb; b++) {
      const float *w = mel.w + (size_t)b * half;
      double s = 0;
      for (int k = mel.first[b], end = mel.first[b] + mel.len[b]; k < end; k++) s += w[k] * power[k];
      float v = (float)s;
      row[b] = logf(v > FLT_EPSILON ? v : FLT_EPSILON);
    }
  }
  if (cfg->subtract_mean) {
    double *mean = calloc((size_t)nb, sizeof *mean);
    if (!mean) {
      rc = err_set(e, TS_ENOMEM, "fbank: out of memory for the mean");
      goto done;
    }
    for (int64_t f = 0; f < nf; f++)
      for (int b = 0; b < nb; b++) mean[b] += feat[f * nb + b];
    for (int b = 0; b < nb; b++) mean[b] /= (double)nf;
    for (int64_t f = 0; f < nf; f++)
      for (int b = 0; b < nb; b++) feat[f * nb + b] = (float)(feat[f * nb + b] - mean[b]);
    free(mean);
  }
  *out = feat;
  *frames = nf;
  feat = NULL;
done:
  free(feat);
  free(window);
  free(power);
  fftwf_free(buf);
  fftwf_free(spec);
  fbank_mel_free(&mel);
  return rc;
}
