/* audio_write.c — atomic writing of mono float audio as PCM16 WAV/FLAC or float WAV (libsndfile). */
#include "audio_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sndfile.h>

#include "base/afile.h"

static int ends_with_ci(const char *s, const char *suffix) {
  size_t ls = strlen(s), lx = strlen(suffix);
  return ls >= lx && strcasecmp(s + ls - lx, suffix) == 0;
}

/* PCM16 with the same scale the reader uses (x * 32768, clipped), so a round trip through
 * a .wav or .flac file gives back every value that int16 can represent exactly. */
static short audio_to_pcm16(float v) {
  double s = nearbyint((double)v * 32768.0);
  if (s > 32767.0) s = 32767.0;
  if (s < -32768.0) s = -32768.0;
  return (short)s;
}

static int audio_put(const char *path, SNDFILE *sf, const float *x, int64_t n, int pcm16,
                     ts_err *e) {
  enum { CHUNK = 8192 };
  short buf[CHUNK];
  for (int64_t at = 0; at < n; at += CHUNK) {
    int64_t m = n - at < CHUNK ? n - at : CHUNK;
    sf_count_t w;
    if (pcm16) {
      for (int64_t i = 0; i < m; i++) buf[i] = audio_to_pcm16(x[at + i]);
      w = sf_write_short(sf, buf, (sf_count_t)m);
    } else {
      w = sf_write_float(sf, x + at, (sf_count_t)m);
    }
    if (w != (sf_count_t)m)
      return err_set(e, TS_EIO, "%s: writing audio failed: %s", path, sf_strerror(sf));
  }
  return TS_OK;
}

int audio_write(const char *path, const float *x, int64_t n, int rate, ts_err *e) {
  if (!path || !*path) return err_set(e, TS_EARG, "audio_write: empty path");
  if (n < 0 || (n > 0 && !x)) return err_set(e, TS_EARG, "%s: audio_write: bad buffer (n=%lld)", path, (long long)n);
  if (rate <= 0) return err_set(e, TS_EARG, "%s: audio_write: bad sample rate %d", path, rate);
  int format, pcm16 = 1;
  if (ends_with_ci(path, ".f32.wav")) {
    format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    pcm16 = 0;
  } else if (ends_with_ci(path, ".wav")) {
    format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  } else if (ends_with_ci(path, ".flac")) {
    format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
  } else {
    return err_set(e, TS_EARG, "%s: unknown audio extension (use .wav, .f32.wav or .flac)", path);
  }
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(x[i]))
      return err_set(e, TS_EARG, "%s: sample %lld is not finite", path, (long long)i);

  SF_INFO info;
  memset(&info, 0, sizeof info);
  info.samplerate = rate;
  info.channels = 1;
  info.format = format;
  if (!sf_format_check(&info))
    return err_set(e, TS_EUNSUP, "%s: libsndfile cannot write this format at %d Hz", path, rate);

  afile f;
  int rc = afile_open(&f, path, e);
  if (rc) return rc;
  SNDFILE *sf = sf_open_fd(f.fd, SFM_WRITE, &info, 0);
  if (!sf) {
    rc = err_set(e, TS_EIO, "%s: cannot start audio file: %s", path, sf_strerror(NULL));
    afile_abort(&f);
    return rc;
  }
  rc = audio_put(path, sf, x, n, pcm16, e);
  if (sf_close(sf) != 0 && !rc)
    rc = err_set(e, TS_EIO, "%s: finishing audio file failed", path);
  if (rc) {
    afile_abort(&f);
    return rc;
  }
  return afile_commit(&f, e);
}
