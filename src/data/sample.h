/* sample.h — assembles one model input from a manifest entry:
 *   wave = enrollment crop ‖ silence ‖ mixture   (mono float at opts.rate)
 * plus the timeline: the enrollment and silence spans, the mixture span, and each source's span
 * in input time (seconds), with its speaker, gender and text.
 *
 * Gains follow LibriMix. A source with a fixed "gain" is multiplied by it. A source without one
 * is scaled to its target loudness "lufs" (BS.1770, libebur128); if that would clip (peak >= 1)
 * it is instead scaled to peak 0.9. The sources are summed at their offsets ("max" mode: padded
 * to the longest; "min": cut to the shortest). If the mixture's peak exceeds opts.peak (0.9)
 * every source is scaled down by the same factor ("guard"); when all gains are fixed (e.g.
 * imported LibriMix gains, which already include the guard) it is only applied if the mixture
 * would clip (peak > 1). The enrollment is scaled the same way (gain, else lufs, else 1).
 * Input normalisation for the model is not done here.
 * Needs TS_HAVE_AUDIO; without it sample_build returns TS_EUNSUP. */
#ifndef TS_SAMPLE_H
#define TS_SAMPLE_H

#include <stdint.h>

#include "base/err.h"
#include "data/manifest.h"

typedef struct sample_opts {
  int rate;          /* Hz every file must have: 16000 (a file at another rate is an error) */
  double silence;    /* seconds of silence between enrollment and mixture: 3 */
  double enroll_max; /* crop the enrollment to at most this many seconds; 0 = as in the entry */
  double peak;       /* mixture peak guard: 0.9 */
  int keep_sources;  /* 1: keep each scaled source in mixture time (sample.src) */
} sample_opts;

enum { SPAN_ENROLL = 0, SPAN_SILENCE, SPAN_MIXTURE, SPAN_SOURCE };

typedef struct sample_span {
  int kind;            /* SPAN_* */
  int src;             /* source index for SPAN_SOURCE, else -1 */
  double start, end;   /* seconds in the input */
  const char *speaker; /* borrowed from the entry (SPAN_SOURCE, SPAN_ENROLL), else NULL */
  char gender;         /* 'M', 'F', '?' (sources; the enrollment gets the target's) */
  const char *text;    /* borrowed from the entry (SPAN_SOURCE) */
} sample_span;

typedef struct sample {
  float *wave;         /* (n) the model input */
  int64_t n;
  int rate;
  int64_t enroll_n;    /* samples of enrollment at wave[0] */
  int64_t silence_n;   /* samples of silence after it */
  int64_t mix_off;     /* mixture starts at wave + mix_off */
  int64_t mix_n;       /* mixture samples */
  double total;        /* n / rate */
  int n_src, target;
  sample_span spans[3 + MAN_MAX_SRC]; /* enroll, silence, mixture, then one per source */
  int n_spans;
  double gain[MAN_MAX_SRC];     /* linear gain applied to each source (guard included) */
  double in_lufs[MAN_MAX_SRC];  /* loudness of the unscaled source (NAN when not measured) */
  double enroll_gain;
  double guard;                 /* mixture peak-guard factor (1 = not applied) */
  float *src[MAN_MAX_SRC];      /* (mix_n) each scaled source, only with keep_sources */
  const man_entry *entry;       /* borrowed */
} sample;

void sample_opts_default(sample_opts *o);
/* Builds the sample; on error the message names the entry and the file. */
int sample_build(const man_entry *m, const sample_opts *o, sample *s, ts_err *e);
void sample_free(sample *s);

/* Fixes every entry's gains to what sample_build would apply (source gains with the guard,
 * enrollment gain), so the manifest no longer depends on loudness measurement. Entries that
 * fail are left as they are, logged and counted in *n_bad (may be NULL). */
int sample_bake_gains(manifest *m, const sample_opts *o, int64_t *n_bad, ts_err *e);

#endif
