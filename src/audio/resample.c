/* resample.c — sample-rate conversion of mono float signals through libsamplerate. */
#include "audio_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <samplerate.h>

int audio_resample(const float *x, int64_t n, int rate_in, int rate_out, float **out,
                   int64_t *n_out, ts_err *e) {
  if (!out || !n_out) return err_set(e, TS_EARG, "audio_resample: NULL output");
  *out = NULL;
  *n_out = 0;
  if (rate_in <= 0 || rate_out <= 0)
    return err_set(e, TS_EARG, "audio_resample: bad sample rates %d -> %d Hz", rate_in, rate_out);
  if (n < 0 || (n > 0 && !x)) return err_set(e, TS_EARG, "audio_resample: bad input (n=%lld)", (long long)n);
  double ratio = (double)rate_out / rate_in;
  if (!src_is_valid_ratio(ratio))
    return err_set(e, TS_EUNSUP, "audio_resample: ratio %d -> %d Hz is outside libsamplerate's range",
                   rate_in, rate_out);
  int64_t want = (int64_t)llround((double)n * ratio);
  float *y = malloc((size_t)(want > 0 ? want : 1) * sizeof *y);
  if (!y) return err_set(e, TS_ENOMEM, "audio_resample: out of memory for %lld samples", (long long)want);
  if (rate_in == rate_out) {
    if (n) memcpy(y, x, (size_t)n * sizeof *y);
    *out = y;
    *n_out = n;
    return TS_OK;
  }
  int serr = 0;
  SRC_STATE *st = src_new(SRC_SINC_BEST_QUALITY, 1, &serr);
  if (!st) {
    free(y);
    return err_set(e, TS_EINTERNAL, "audio_resample: src_new failed: %s", src_strerror(serr));
  }
  /* Feed the whole input with end_of_input set and call again until the converter has
   * flushed; the result is time-aligned with the input. */
  int64_t in_at = 0, got = 0;
  const long step = 1L << 20;
  for (int guard = 0; got < want && guard < 1000000; guard++) {
    SRC_DATA d;
    memset(&d, 0, sizeof d);
    int64_t in_left = n - in_at;
    d.data_in = x ? x + in_at : NULL;
    d.input_frames = (long)(in_left < step ? in_left : step);
    d.data_out = y + got;
    int64_t out_left = want - got;
    d.output_frames = (long)(out_left < step ? out_left : step);
    d.end_of_input = (in_at + d.input_frames >= n);
    d.src_ratio = ratio;
    serr = src_process(st, &d);
    if (serr) {
      src_delete(st);
      free(y);
      return err_set(e, TS_EINTERNAL, "audio_resample: %s", src_strerror(serr));
    }
    in_at += d.input_frames_used;
    got += d.output_frames_gen;
    if (d.end_of_input && d.output_frames_gen == 0 && d.input_frames_used == 0) break;
  }
  src_delete(st);
  for (int64_t i = got; i < want; i++) y[i] = 0.0f; /* the converter may stop a sample short */
  *out = y;
  *n_out = want;
  return TS_OK;
}
