/* fbank.h — Kaldi-compatible log-mel filterbank features (as Kaldi's compute-fbank-feats and
 * torchaudio.compliance.kaldi.fbank), computed with FFTW. */
#ifndef TS_FBANK_H
#define TS_FBANK_H

#include <stdint.h>

#include "base/err.h"

typedef struct fbank_cfg {
  int sample_rate;        /* Hz; 16000 */
  int num_mel_bins;       /* 80 */
  double frame_length_ms; /* 25: window of int(rate * 0.001 * 25) = 400 samples at 16 kHz */
  double frame_shift_ms;  /* 10: hop of 160 samples at 16 kHz */
  double preemph;         /* 0.97; 0 turns pre-emphasis off */
  double low_freq;        /* 20 Hz */
  double high_freq;       /* 0: Nyquist; a negative value is an offset from Nyquist (as Kaldi) */
  int remove_dc;          /* 1: subtract each frame's mean before pre-emphasis */
  int use_power;          /* 1: power spectrum; 0: magnitude */
  int subtract_mean;      /* 0; 1: per-utterance mean normalisation (subtract the mean over frames of each bin) */
  float input_scale;      /* 1: the waveform is taken as given, like torchaudio's fbank on a float
                           * waveform in [-1, 1]; 32768 gives Kaldi's int16 scale (what many
                           * speaker and ASR recipes feed). */
} fbank_cfg;
/* Fixed, not configurable: Povey window, dither 0, snip_edges true (frames = 1 + (n - win) /
 * hop, none when n < win), FFT size = win rounded up to a power of two, mel scale
 * 1127 ln(1 + f / 700), no energy column, log with floor FLT_EPSILON: log(max(e, FLT_EPSILON)). */

/* The defaults listed above (80 bins at 16 kHz). */
fbank_cfg fbank_cfg_default(void);

/* Computes the features of x (n) at cfg->sample_rate. *out (frames, num_mel_bins) row-major is
 * malloc'd and owned by the caller (free()); with 0 frames (n shorter than one window) *out is
 * NULL and the call succeeds. Thread-safe: the FFT plan is made once per size under a lock and
 * shared (a documented process-wide cache); each call uses its own buffers. */
int fbank_compute(const fbank_cfg *cfg, const float *x, int64_t n, float **out, int64_t *frames,
                  ts_err *e);

/* Number of frames fbank_compute gives for n samples under cfg (0 on a bad cfg). */
int64_t fbank_num_frames(const fbank_cfg *cfg, int64_t n);

/* Destroys the cached FFT plans (process exit or tests); no fbank_compute may be running. */
void fbank_cleanup(void);

#endif
