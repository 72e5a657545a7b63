/* librimix.h — LibriMix metadata CSVs and SpeakerBeam enrollment lists to a manifest, so the
 * paper's Libri2Mix/Libri3Mix test sets are rebuilt exactly from a LibriSpeech tree; and the
 * way back (a manifest with fixed gains to a LibriMix CSV and enrollment list).
 *
 * CSV: a header naming the columns; "mixture_ID" and "source_K_path" (K = 1, 2, ...) are
 * required, "source_K_gain" and "length" are used when present, other columns (noise_path,
 * mixture_path, ...) are ignored. A source is found in the corpus by its utterance id (the file
 * name without extension), so the paths may point anywhere. Without gain columns the sources
 * keep their level (gain 1).
 * Enrollment list (SpeakerBeam map_mixture2enrollment): "MIXID TARGET_UTT sK/OTHER_MIXID" per
 * line: the target is the source of MIXID whose utterance is TARGET_UTT; the enrollment is
 * source K of mixture OTHER_MIXID at its LibriMix gain, cut to OTHER_MIXID's min-mode length
 * (as SpeakerBeam used wav8k/min) and cropped to enroll_dur seconds from its start.
 * Without a list every source is the target in turn and the enrollment is drawn (seeded) from
 * another utterance of the target's speaker, as in mixspec.h.
 * Bad lines (wrong column count, unknown utterance, bad gain, duplicate id, unknown mixture or
 * target, enrollment of another speaker) are skipped with a message naming file and line, and
 * counted. */
#ifndef TS_LIBRIMIX_H
#define TS_LIBRIMIX_H

#include <stdint.h>

#include "base/err.h"
#include "data/corpus.h"
#include "data/manifest.h"

typedef struct lmx_opts {
  const char *set;    /* the entries' "set"; NULL = the CSV's file name without ".csv" */
  double enroll_dur;  /* enrollment crop from its start (s): 3; 0 = the whole min-mode source */
  int mode;           /* MAN_MODE_MAX (default) or MAN_MODE_MIN */
  uint64_t seed;      /* enrollment draws when there is no list */
} lmx_opts;

typedef struct lmx_stats {
  int64_t n_rows, n_bad_rows;     /* CSV data rows read / skipped */
  int64_t n_trials, n_bad_trials; /* list lines made into entries / skipped */
  int64_t n_length_mismatch;      /* rows whose "length" disagrees with the corpus */
} lmx_stats;

void lmx_opts_default(lmx_opts *o);

/* Appends one entry per trial to out. map may be NULL. stats may be NULL. */
int lmx_import(const char *csv, const char *map, const corpus *c, const lmx_opts *o, manifest *out,
               lmx_stats *stats, ts_err *e);

/* Writes the mixtures of m (entries with the same sources are one mixture) as a LibriMix CSV
 * (mixture_ID, source_K_path, source_K_gain, length in samples at rate) and, when map is not
 * NULL, an enrollment list; that needs each entry's enrollment to be a source of another
 * mixture (same utterance and gain). Every source needs a fixed gain and offset 0, and all
 * mixtures the same number of sources. Mixtures are found by sorting (n log n: a training
 * set's hundreds of thousands of entries export in seconds); a field holding a comma, a
 * quote or edge spaces is written in double quotes (RFC 4180), as lmx_import reads it. */
int lmx_export(const manifest *m, int rate, const char *csv, const char *map, ts_err *e);

/* The utterance id of a path: its file name without the extension, truncated to n - 1 bytes. */
void lmx_utt_of_path(const char *path, char *out, size_t n);

#endif
