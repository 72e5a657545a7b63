/* cli_mix.c — `tsasr mix CORPUS_DIR --n N --out M.jsonl`: LibriMix-style mixture specs
 * (1/2/3 speakers, loudness in [-33, -25] LUFS, every speaker the target in turn, an
 * enrollment crop from another utterance of the target) from a LibriSpeech-layout corpus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_args.h"
#include "data/corpus.h"
#include "data/manifest.h"
#include "data/mixspec.h"

int cli_mix(int argc, char **argv) {
  const char *out = NULL, *set = "", *speakers = "0,1,0";
  int64_t n = 1000, seed = 1;
  double enroll = 3.0, lo = -33, hi = -25, off_hi = 0, min_dur = 0, max_dur = 0;
  int one_target = 0;
  ca_opt o[] = {{"--out", CA_STR, &out, 0, "manifest JSONL to write (required)"},
                {"--n", CA_INT, &n, 0, "mixtures to make (each gives one entry per speaker)"},
                {"--speakers", CA_STR, &speakers, 0, "probabilities of 1,2,3 speakers, e.g. 0.2,0.5,0.3"},
                {"--set", CA_STR, &set, 0, "the entries' set name"},
                {"--seed", CA_I64, &seed, 0, "seed"},
                {"--enroll", CA_DBL, &enroll, 0, "enrollment crop seconds (3)"},
                {"--lufs-lo", CA_DBL, &lo, 0, "loudness range low (-33)"},
                {"--lufs-hi", CA_DBL, &hi, 0, "loudness range high (-25)"},
                {"--offset", CA_DBL, &off_hi, 0, "sources 2.. start at a random offset up to this (s)"},
                {"--min-dur", CA_DBL, &min_dur, 0, "leave out shorter utterances (s)"},
                {"--max-dur", CA_DBL, &max_dur, 0, "leave out longer utterances (s)"},
                {"--one-target", CA_FLAG, &one_target, 0, "one random target per mixture (default: each in turn)"}};
  int no = (int)(sizeof o / sizeof o[0]);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help")) {
      ca_usage("tsasr mix CORPUS_DIR --out MANIFEST.jsonl [options]", o, no);
      return 0;
    }
  const char *pos[1];
  int np;
  if (ca_parse("mix", argc, argv, o, no, pos, 1, &np)) return 2;
  if (np != 1 || !out) {
    fprintf(stderr, "usage: tsasr mix CORPUS_DIR --out MANIFEST.jsonl [options] (see --help)\n");
    return 2;
  }
  mix_opts mo;
  mix_opts_default(&mo);
  if (sscanf(speakers, "%lf,%lf,%lf", &mo.p_spk[0], &mo.p_spk[1], &mo.p_spk[2]) != 3 ||
      mo.p_spk[0] + mo.p_spk[1] + mo.p_spk[2] <= 0) {
    fprintf(stderr, "tsasr mix: --speakers expects three probabilities like 0.2,0.5,0.3, got \"%s\"\n", speakers);
    return 2;
  }
  mo.seed = (uint64_t)seed, mo.lufs_lo = lo, mo.lufs_hi = hi, mo.offset_hi = off_hi, mo.enroll_dur = enroll;
  mo.all_targets = !one_target, mo.set = set;
  corpus_opts co;
  corpus_opts_default(&co);
  co.rate = 16000;
  co.min_dur = min_dur;
  co.max_dur = max_dur;
  corpus c;
  manifest m;
  man_init(&m);
  ts_err e;
  mix_stats st;
  int rc = corpus_open(pos[0], &co, &c, &e);
  if (!rc) {
    rc = mix_make(&c, &mo, n, &m, &st, &e);
    if (!rc) rc = man_write(out, &m, &e);
    corpus_free(&c);
  }
  if (rc)
    fprintf(stderr, "tsasr mix: %s\n", e.msg);
  else
    printf("%s: %lld entries from %lld mixtures (%d speakers usable, %d left out with a single utterance)\n", out,
           (long long)st.n_entries, (long long)st.n_mix, st.n_eligible_spk, st.n_single);
  man_free(&m);
  return rc ? 1 : 0;
}
