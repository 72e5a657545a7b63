/* audio_read.c — reading audio files to mono float through libsndfile (audio_read, audio_read_expect). */
#include "audio_io.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sndfile.h>

#include "base/log.h"

void audio_free(audio_buf *b) {
  if (!b) return;
  free(b->samples);
  b->samples = NULL;
  b->n = 0;
  b->rate = 0;
}

/* Opens path for reading, telling a missing, unreadable or empty file apart from one
 * libsndfile does not understand. */
static int audio_open_read(const char *path, SNDFILE **sf, SF_INFO *info, ts_err *e) {
  if (!path || !*path) return err_set(e, TS_EARG, "audio_read: empty path");
  struct stat st;
  if (stat(path, &st) != 0)
    return err_set(e, TS_EIO, "%s: cannot open audio file: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode)) return err_set(e, TS_EIO, "%s: is a directory, not an audio file", path);
  if (st.st_size == 0) return err_set(e, TS_EFORMAT, "%s: empty file (0 bytes)", path);
  memset(info, 0, sizeof *info);
  *sf = sf_open(path, SFM_READ, info);
  if (!*sf) {
    int code = sf_error(NULL);
    const char *why = sf_strerror(NULL);
    if (code == SF_ERR_SYSTEM)
      return err_set(e, TS_EIO, "%s: cannot open audio file: %s", path, why);
    return err_set(e, TS_EFORMAT, "%s: corrupt or unsupported audio file: %s", path, why);
  }
  if (info->channels < 1 || info->samplerate < 1) {
    sf_close(*sf);
    *sf = NULL;
    return err_set(e, TS_EFORMAT, "%s: corrupt audio header (%d channels, %d Hz)", path,
                   info->channels, info->samplerate);
  }
  return TS_OK;
}

/* Reads every frame of an open file and averages the channels. */
static int audio_read_mono(const char *path, SNDFILE *sf, const SF_INFO *info, float **out,
                           int64_t *n_out, ts_err *e) {
  const int ch = info->channels;
  int64_t cap = info->frames > 0 ? (int64_t)info->frames : 0;
  if (cap == 0) return err_set(e, TS_EFORMAT, "%s: audio file has no samples", path);
  /* A corrupt header may claim far more frames than the file holds (compressed formats
   * cannot be checked against the file size), so the buffer grows as samples arrive. */
  int64_t have = cap < ((int64_t)1 << 22) ? cap : ((int64_t)1 << 22);
  float *mono = malloc((size_t)have * sizeof *mono);
  const int64_t chunk = 16384;
  float *tmp = malloc((size_t)(chunk * ch) * sizeof *tmp);
  if (!mono || !tmp) {
    free(mono);
    free(tmp);
    return err_set(e, TS_ENOMEM, "%s: out of memory for %lld frames", path, (long long)cap);
  }
  int64_t n = 0;
  while (n < cap) {
    int64_t want = cap - n < chunk ? cap - n : chunk;
    sf_count_t got = sf_readf_float((SNDFILE *)sf, tmp, (sf_count_t)want);
    if (got <= 0) break;
    if (n + got > have) {
      int64_t grow = have * 2 < cap ? have * 2 : cap;
      float *bigger = realloc(mono, (size_t)grow * sizeof *mono);
      if (!bigger) {
        free(mono);
        free(tmp);
        return err_set(e, TS_ENOMEM, "%s: out of memory after %lld frames", path, (long long)n);
      }
      mono = bigger;
      have = grow;
    }
    for (sf_count_t i = 0; i < got; i++) {
      const float *fr = tmp + i * ch;
      if (ch == 1) {
        mono[n + i] = fr[0];
      } else {
        double s = 0;
        for (int c = 0; c < ch; c++) s += fr[c];
        mono[n + i] = (float)(s / ch);
      }
      /* float files can hold NaN or infinity, which would poison every feature downstream */
      if (!isfinite(mono[n + i])) {
        free(mono);
        free(tmp);
        return err_set(e, TS_EFORMAT, "%s: sample %lld is not a finite number (corrupt float data)", path,
                       (long long)(n + i));
      }
    }
    n += got;
  }
  free(tmp);
  if (sf_error(sf) != SF_ERR_NO_ERROR) {
    free(mono);
    return err_set(e, TS_EFORMAT, "%s: corrupt audio data after %lld frames: %s", path,
                   (long long)n, sf_strerror(sf));
  }
  if (n == 0) {
    free(mono);
    return err_set(e, TS_EFORMAT, "%s: audio file has no readable samples (header claims %lld)",
                   path, (long long)cap);
  }
  if (n < cap) log_warn("%s: truncated audio: header claims %lld frames, read %lld", path,
                        (long long)cap, (long long)n);
  *out = mono;
  *n_out = n;
  return TS_OK;
}

static int audio_read_native(const char *path, audio_buf *out, ts_err *e) {
  SNDFILE *sf = NULL;
  SF_INFO info;
  int rc = audio_open_read(path, &sf, &info, e);
  if (rc) return rc;
  float *x = NULL;
  int64_t n = 0;
  rc = audio_read_mono(path, sf, &info, &x, &n, e);
  sf_close(sf);
  if (rc) return rc;
  out->samples = x;
  out->n = n;
  out->rate = info.samplerate;
  return TS_OK;
}

int audio_read(const char *path, int target_rate, audio_buf *out, ts_err *e) {
  if (!out) return err_set(e, TS_EARG, "%s: audio_read: NULL output", path ? path : "(null)");
  memset(out, 0, sizeof *out);
  if (target_rate < 0)
    return err_set(e, TS_EARG, "%s: negative target sample rate %d", path, target_rate);
  audio_buf b = {0};
  int rc = audio_read_native(path, &b, e);
  if (rc) return rc;
  if (target_rate == 0 || target_rate == b.rate) {
    *out = b;
    return TS_OK;
  }
  float *y = NULL;
  int64_t ny = 0;
  rc = audio_resample(b.samples, b.n, b.rate, target_rate, &y, &ny, e);
  audio_free(&b);
  if (rc) return err_prefix(e, "%s", path);
  out->samples = y;
  out->n = ny;
  out->rate = target_rate;
  return TS_OK;
}

int audio_read_expect(const char *path, int rate, audio_buf *out, ts_err *e) {
  if (!out) return err_set(e, TS_EARG, "%s: audio_read_expect: NULL output", path ? path : "(null)");
  memset(out, 0, sizeof *out);
  if (rate <= 0) return err_set(e, TS_EARG, "%s: expected sample rate must be positive, got %d", path, rate);
  SNDFILE *sf = NULL;
  SF_INFO info;
  int rc = audio_open_read(path, &sf, &info, e);
  if (rc) return rc;
  if (info.samplerate != rate) {
    sf_close(sf);
    return err_set(e, TS_EFORMAT, "%s: sample rate is %d Hz, expected %d Hz (resample it first)",
                   path, info.samplerate, rate);
  }
  float *x = NULL;
  int64_t n = 0;
  rc = audio_read_mono(path, sf, &info, &x, &n, e);
  sf_close(sf);
  if (rc) return rc;
  out->samples = x;
  out->n = n;
  out->rate = rate;
  return TS_OK;
}
