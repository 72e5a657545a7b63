/* encoder_fbank.c — the optional log-mel front end of the encoder (config "feature_type":
 * "fbank"): Kaldi fbank of each utterance (25 ms / 10 ms at 16 kHz, src/audio/fbank.h),
 * per-utterance mean and variance normalisation of each bin over its valid frames, zero
 * padding, laid out (B, bins, Tf) as the first conv layer's input ((B, Tf, bins) when the conv
 * stack is channels-last, enc_fe_cl). Computed on the host from
 * the host waveform and uploaded to the backend. Not differentiated: the input gets no
 * gradient. Needs the audio build (FFTW); without it the call is an error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/encoder_int.h"
#ifdef TS_HAVE_AUDIO
#include "audio/fbank.h"
#endif

int64_t enc_fbank_frames(int64_t n) {
  return n < ENC_FBANK_WIN ? 0 : 1 + (n - ENC_FBANK_WIN) / ENC_FBANK_HOP;
}

#ifdef TS_HAVE_AUDIO
/* feats (Tf, D) of one utterance -> out (D, Tpad) column block, or (Tpad, D) rows when cl,
 * normalised per bin */
static void put_normalised(const float *feats, int64_t Tf, int64_t D, int64_t Tpad, int norm, float eps, int cl,
                           float *out) {
  for (int64_t d = 0; d < D; d++) {
    double mu = 0, var = 0;
    if (norm) {
      for (int64_t t = 0; t < Tf; t++) mu += feats[t * D + d];
      mu /= (double)Tf;
      for (int64_t t = 0; t < Tf; t++) {
        double z = feats[t * D + d] - mu;
        var += z * z;
      }
      var /= (double)Tf;
    }
    float sc = norm ? (float)(1.0 / sqrt(var + eps)) : 1.0f;
    int64_t st = cl ? D : 1; /* out's step from one frame to the next */
    float *o = out + (cl ? d : d * Tpad);
    for (int64_t t = 0; t < Tf; t++) o[t * st] = (float)(feats[t * D + d] - mu) * sc;
    for (int64_t t = Tf; t < Tpad; t++) o[t * st] = 0.0f;
  }
}
#endif

int enc_fbank_input(enc_model *m, enc_acts *a, const float *wav, arena *ar, ts_err *e) {
  const enc_cfg *c = &m->c;
#ifndef TS_HAVE_AUDIO
  (void)c, (void)a, (void)wav, (void)ar;
  return err_set(e, TS_EUNSUP, "encoder: feature_type \"fbank\" needs the audio build (TSASR_AUDIO, FFTW)");
#else
  backend *be = m->ps->be;
  int64_t B = a->B, L = a->L, D = c->fbank, Tp = enc_fbank_frames(L);
  EALLOC(a->wav, B * D * Tp); /* (B, D, Tp) features, the conv stack's input ((B, Tp, D) channels-last) */
  /* features are computed on the host (wav is host memory) and uploaded in one copy */
  float *host = malloc(sizeof(float) * (size_t)(B * D * Tp));
  if (!host) return err_set(e, TS_ENOMEM, "encoder: out of memory for fbank features");
  fbank_cfg fc = fbank_cfg_default();
  fc.num_mel_bins = (int)D;
  int rc = TS_OK;
  for (int64_t b = 0; b < B && !rc; b++) {
    float *feats = NULL;
    int64_t Tf = 0;
    rc = fbank_compute(&fc, wav + b * L, a->len[b], &feats, &Tf, e);
    if (!rc && Tf < 1) rc = err_set(e, TS_EARG, "encoder: utterance %lld gives no fbank frame", (long long)b);
    if (!rc) put_normalised(feats, Tf, D, Tp, c->do_normalize, c->norm_eps, enc_fe_cl(c, a->cl), host + b * D * Tp);
    free(feats);
  }
  if (!rc) rc = be_upload(be, a->wav, host, sizeof(float) * (size_t)(B * D * Tp), "encoder fbank features", e);
  free(host);
  if (rc) return err_prefix(e, "encoder fbank front end");
  a->xin[0] = a->wav;
  a->conv_T[0] = Tp;
  return TS_OK;
#endif
}
