/* loudness.c — BS.1770 integrated loudness through libebur128 and the gains built on it. */
#include "loudness.h"

#include <math.h>
#include <stddef.h>

#include <ebur128.h>

/* libebur128 builds BS.1770's RLB high-pass at every rate from the standard's analog design
 * (f0 = 38.135 Hz, Q = 0.50033) with the numerator fixed at (1, -2, 1), as the standard's 48 kHz
 * coefficients have it. That numerator is not normalised: the pass band has gain
 * 4 / (1 - a1 + a2), +0.043 dB at 48 kHz and +0.130 dB at 16 kHz. pyloudnorm (which LibriMix
 * used to set source loudness) normalises the high-pass to unity, so its numbers sit that far
 * below libebur128's. loud_lufs removes the excess to agree with pyloudnorm/LibriMix. */
static double loud_rlb_excess_db(int rate) {
  const double f0 = 38.13547087602444, q = 0.5003270373238773;
  double k = tan(M_PI * f0 / rate), a0 = 1.0 + k / q + k * k;
  double a1 = 2.0 * (k * k - 1.0) / a0, a2 = (1.0 - k / q + k * k) / a0;
  return 20.0 * log10(4.0 / (1.0 - a1 + a2));
}

int loud_lufs(const float *x, int64_t n, int rate, double *lufs, ts_err *e) {
  if (!lufs) return err_set(e, TS_EARG, "loud_lufs: NULL output");
  *lufs = -INFINITY;
  if (rate < 16 || n < 0 || (n > 0 && !x))
    return err_set(e, TS_EARG, "loud_lufs: bad signal (n=%lld, rate=%d Hz)", (long long)n, rate);
  /* One gating block is 400 ms; pyloudnorm refuses anything shorter, libebur128 would say -inf. */
  if ((double)n < 0.4 * rate)
    return err_set(e, TS_EARG,
                   "loud_lufs: %lld samples at %d Hz is shorter than one 400 ms gating block",
                   (long long)n, rate);
  ebur128_state *st = ebur128_init(1, (unsigned long)rate, EBUR128_MODE_I);
  if (!st) return err_set(e, TS_ENOMEM, "loud_lufs: libebur128 init failed at %d Hz", rate);
  const int64_t chunk = 1 << 20;
  for (int64_t at = 0; at < n; at += chunk) {
    int64_t m = n - at < chunk ? n - at : chunk;
    int r = ebur128_add_frames_float(st, x + at, (size_t)m);
    if (r != EBUR128_SUCCESS) {
      ebur128_destroy(&st);
      return err_set(e, TS_EINTERNAL, "loud_lufs: libebur128 add_frames failed (%d)", r);
    }
  }
  double v = 0;
  int r = ebur128_loudness_global(st, &v);
  ebur128_destroy(&st);
  if (r != EBUR128_SUCCESS)
    return err_set(e, TS_EINTERNAL, "loud_lufs: libebur128 loudness_global failed (%d)", r);
  *lufs = isfinite(v) ? v - loud_rlb_excess_db(rate) : -INFINITY;
  return TS_OK;
}

int loud_gain_to(const float *x, int64_t n, int rate, double target_lufs, double *gain, ts_err *e) {
  if (!gain) return err_set(e, TS_EARG, "loud_gain_to: NULL output");
  *gain = 1.0;
  if (!isfinite(target_lufs))
    return err_set(e, TS_EARG, "loud_gain_to: target loudness %g LUFS is not finite", target_lufs);
  double l = 0;
  int rc = loud_lufs(x, n, rate, &l, e);
  if (rc) return rc;
  if (!isfinite(l))
    return err_set(e, TS_EARG, "loud_gain_to: signal is silent (below the -70 LUFS gate), no gain reaches %g LUFS",
                   target_lufs);
  *gain = pow(10.0, (target_lufs - l) / 20.0);
  return TS_OK;
}

double loud_peak(const float *x, int64_t n) {
  double p = 0;
  for (int64_t i = 0; i < n; i++) {
    double a = fabs((double)x[i]);
    if (a > p) p = a;
  }
  return p;
}

int loud_gain_guarded(const float *x, int64_t n, int rate, double target_lufs, double *gain,
                      int *guarded, ts_err *e) {
  if (guarded) *guarded = 0;
  int rc = loud_gain_to(x, n, rate, target_lufs, gain, e);
  if (rc) return rc;
  double peak = loud_peak(x, n);
  if (peak * *gain >= 1.0) {
    *gain = LOUD_PEAK_GUARD / peak;
    if (guarded) *guarded = 1;
  }
  return TS_OK;
}
