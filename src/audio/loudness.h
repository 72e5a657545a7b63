/* loudness.h — ITU-R BS.1770 integrated loudness (LUFS) through libebur128, and the gains that
 * LibriMix-style mixing derives from it (target loudness, peak guard). */
#ifndef TS_LOUDNESS_H
#define TS_LOUDNESS_H

#include <stdint.h>

#include "base/err.h"

/* LibriMix: a source whose normalised peak would reach 1.0 is rescaled to this peak. */
#define LOUD_PEAK_GUARD 0.9

/* Integrated loudness (K-weighting, 400 ms blocks with 75% overlap, absolute gate -70 LUFS,
 * relative gate -10 LU) of the mono signal x (n) at rate Hz. A signal shorter than one
 * 400 ms block is an error (TS_EARG), as with pyloudnorm. A signal entirely below the absolute
 * gate (e.g. digital silence) gives *lufs = -INFINITY and TS_OK.
 * Measured by libebur128, then corrected for the pass-band gain of libebur128's unnormalised
 * RLB high-pass (+0.130 dB at 16 kHz, +0.043 dB at 48 kHz), so the value agrees with
 * pyloudnorm, which LibriMix used (within 0.02 LU on the test fixtures). */
int loud_lufs(const float *x, int64_t n, int rate, double *lufs, ts_err *e);

/* gain (linear) that brings x to target LUFS: 10^((target - loud_lufs(x)) / 20).
 * A silent signal (loudness -inf) has no such gain: TS_EARG. */
int loud_gain_to(const float *x, int64_t n, int rate, double target_lufs, double *gain, ts_err *e);

/* Largest |x[i]| (0 for n == 0). */
double loud_peak(const float *x, int64_t n);

/* loud_gain_to followed by LibriMix's peak guard: if x * gain would peak at or above 1.0, the
 * gain becomes LOUD_PEAK_GUARD / peak(x) instead. *guarded (may be NULL) says whether the
 * guard fired. */
int loud_gain_guarded(const float *x, int64_t n, int rate, double target_lufs, double *gain,
                      int *guarded, ts_err *e);

#endif
