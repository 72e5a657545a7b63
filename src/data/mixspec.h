/* mixspec.h — seeded LibriMix-style mixture specs from a corpus index, as manifest entries.
 *
 * Each mixture has 1..3 speakers (probabilities p_spk), one utterance each; every source gets
 * a target loudness drawn uniformly from [lufs_lo, lufs_hi] (LibriMix: [-33, -25] LUFS; the
 * gain is resolved at assembly, see sample.h); the first source starts at 0, the others at 0
 * too unless an offset range is given; "max" mode (pad to the longest). Every speaker of a
 * mixture is the target in turn (one entry each, id "<MIXID>-s<k>", MIXID the utterance ids
 * joined by "_" as in LibriMix), with an enrollment crop of enroll_dur seconds from another
 * utterance of that speaker. Speakers with a single utterance cannot be enrolled: they are
 * left out with a warning naming their transcript line, and counted.
 * Mixture m depends only on (seed, m): the first n mixtures of a larger run are the same. */
#ifndef TS_MIXSPEC_H
#define TS_MIXSPEC_H

#include <stdint.h>

#include "base/err.h"
#include "data/corpus.h"
#include "data/manifest.h"

typedef struct mix_opts {
  uint64_t seed;
  double p_spk[3];     /* probability of 1, 2, 3 speakers (normalised); default {0, 1, 0} */
  double lufs_lo, lufs_hi;     /* source loudness range (LUFS): -33, -25 */
  double offset_lo, offset_hi; /* start of sources 2.. (s); 0, 0 = all start at 0 */
  double enroll_dur;   /* enrollment crop (s): 3 */
  int all_targets;     /* 1 (default): every speaker is the target in turn; 0: one at random */
  const char *set;     /* "set" of the entries; default "" */
} mix_opts;

typedef struct mix_stats {
  int64_t n_mix;        /* mixtures made */
  int64_t n_entries;    /* manifest entries added */
  int n_single;         /* speakers left out: a single utterance, no enrollment possible */
  int n_eligible_spk;   /* speakers that can be used */
} mix_stats;

void mix_opts_default(mix_opts *o);

/* Appends the entries of n_mix mixtures to out. stats may be NULL. */
int mix_make(const corpus *c, const mix_opts *o, int64_t n_mix, manifest *out, mix_stats *stats,
             ts_err *e);

/* The enrollment for target utterance tu (index into c->utts): another utterance of the same
 * speaker (those at least enroll_dur long preferred), a crop of enroll_dur seconds at a random
 * whole-sample start, a loudness from [lufs_lo, lufs_hi]; drawn from (seed, stream).
 * Fills en (malloc'd strings). TS_EARG when the speaker has no other utterance. */
int mix_pick_enroll(const corpus *c, int64_t tu, double enroll_dur, double lufs_lo, double lufs_hi,
                    uint64_t seed, uint64_t stream, man_enroll *en, ts_err *e);

#endif
