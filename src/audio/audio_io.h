/* audio_io.h — reading and writing mono audio files (libsndfile) and resampling (libsamplerate). */
#ifndef TS_AUDIO_IO_H
#define TS_AUDIO_IO_H

#include <stdint.h>

#include "base/err.h"

/* A mono float signal. samples is malloc'd and owned by the buffer; release with audio_free. */
typedef struct audio_buf {
  float *samples; /* (n) mono */
  int64_t n;
  int rate;
} audio_buf;

/* Reads wav/flac/ogg (anything libsndfile reads); mixes channels to mono (mean of the
 * channels); resamples to target_rate with libsamplerate (SRC_SINC_BEST_QUALITY) unless
 * target_rate is 0 (then out->rate is the file's rate). Integer formats are scaled to
 * [-1, 1) (int16 divided by 32768). A file with no samples is an error (TS_EFORMAT), as are a
 * missing file (TS_EIO) and a corrupt or unsupported one (TS_EFORMAT); the message names the
 * file. On error *out is left empty ({NULL, 0, 0}). */
int audio_read(const char *path, int target_rate, audio_buf *out, ts_err *e);

/* Like audio_read with target_rate 0, but refuses (TS_EFORMAT) a file whose sample rate is
 * not rate instead of resampling it. For data that must already be at the model's rate. */
int audio_read_expect(const char *path, int rate, audio_buf *out, ts_err *e);

/* Writes mono float samples; the format comes from the extension: ".f32.wav" = 32-bit float
 * WAV, ".wav" = PCM16 WAV, ".flac" = PCM16 FLAC (case-insensitive). PCM16 clips to [-1, 1].
 * Atomic: written to a temp file beside path, then renamed over it. */
int audio_write(const char *path, const float *x, int64_t n, int rate, ts_err *e);

/* Releases b->samples and empties b; NULL or an empty buffer is fine. */
void audio_free(audio_buf *b);

/* Resamples x (n samples at rate_in) to rate_out with SRC_SINC_BEST_QUALITY. *out (n_out) is
 * malloc'd, owned by the caller (free()). The output has round(n * rate_out / rate_in)
 * samples and is aligned with the input (the converter's delay is flushed). Equal rates copy. */
int audio_resample(const float *x, int64_t n, int rate_in, int rate_out, float **out,
                   int64_t *n_out, ts_err *e);

#endif
