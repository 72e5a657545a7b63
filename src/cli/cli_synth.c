/* cli_synth.c — `tsasr synth OUT_DIR`: writes the synthetic TTS corpus (see src/data/synth.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "data/synth.h"
#include "data/synth_text.h"

static void synth_usage(FILE *f) {
  fprintf(f,
          "usage: tsasr synth OUT_DIR [--seed N] [--voices N] [--utts-per-voice N]\n"
          "                   [--source grid|book] [--book FILE] [--jobs N]\n"
          "                   [--engines espeak,flite,festival] [--unseen FRACTION] [--force] [--quiet]\n\n"
          "Writes a LibriSpeech-layout corpus (16 kHz FLAC, SPEAKER-CHAPTER.trans.txt, SPEAKERS.TXT,\n"
          "synth.json) read by TTS voices: splits train, dev-seen, test-seen (seen voices, held-out\n"
          "sentences), dev-unseen and test-unseen (held-out voices). Same seed, same bytes.\n"
          "  --source grid   GRID-style commands (small vocabulary, short, for CPU training; default)\n"
          "  --source book   sentences of a public-domain book (default: %s)\n"
          "  --voices N      first N voices of the table among installed engines (default: all)\n"
          "  --utts-per-voice N  train utterances per seen voice (default 100)\n",
          SYNTH_BOOK_DEFAULT);
}

static int parse_u64(const char *s, unsigned long long *out) {
  char *end;
  *out = strtoull(s, &end, 10);
  return s[0] && !*end;
}

int cli_synth(int argc, char **argv) {
  synth_opts o;
  synth_opts_default(&o);
  const char *out = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    unsigned long long u;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      synth_usage(stdout);
      return 0;
    } else if (!strcmp(a, "--force")) {
      o.force = 1;
    } else if (!strcmp(a, "--quiet")) {
      o.quiet = 1;
    } else if (a[0] == '-' && a[1] == '-') {
      if (!val) {
        fprintf(stderr, "tsasr synth: %s needs a value\n", a);
        return 2;
      }
      i++;
      if (!strcmp(a, "--seed") && parse_u64(val, &u)) {
        o.seed = u;
      } else if (!strcmp(a, "--voices") && parse_u64(val, &u) && u < 100000) {
        o.voices = (int)u;
      } else if (!strcmp(a, "--utts-per-voice") && parse_u64(val, &u) && u >= 1 && u < 10000000) {
        o.utts_per_voice = (int)u;
      } else if (!strcmp(a, "--jobs") && parse_u64(val, &u) && u >= 1 && u <= 256) {
        o.jobs = (int)u;
      } else if (!strcmp(a, "--source") && (!strcmp(val, "grid") || !strcmp(val, "book"))) {
        o.source = !strcmp(val, "book") ? SYNTH_BOOK : SYNTH_GRID;
      } else if (!strcmp(a, "--book")) {
        o.book = val;
        o.source = SYNTH_BOOK;
      } else if (!strcmp(a, "--unseen")) {
        char *end;
        o.unseen_frac = strtod(val, &end);
        if (*end || o.unseen_frac < 0 || o.unseen_frac >= 1) {
          fprintf(stderr, "tsasr synth: --unseen takes a fraction in [0, 1)\n");
          return 2;
        }
      } else if (!strcmp(a, "--engines")) {
        o.engines = 0;
        char buf[256];
        snprintf(buf, sizeof buf, "%s", val);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
          if (!strcmp(t, "espeak") || !strcmp(t, "espeak-ng"))
            o.engines |= 1u << SYNTH_ESPEAK;
          else if (!strcmp(t, "flite"))
            o.engines |= 1u << SYNTH_FLITE;
          else if (!strcmp(t, "festival"))
            o.engines |= 1u << SYNTH_FESTIVAL;
          else {
            fprintf(stderr, "tsasr synth: unknown engine \"%s\" (espeak, flite, festival)\n", t);
            return 2;
          }
        }
      } else {
        fprintf(stderr, "tsasr synth: bad option %s %s\n", a, val);
        synth_usage(stderr);
        return 2;
      }
    } else if (!out) {
      out = a;
    } else {
      fprintf(stderr, "tsasr synth: unexpected argument \"%s\"\n", a);
      return 2;
    }
  }
  if (!out) {
    synth_usage(stderr);
    return 2;
  }
  if (!o.quiet && log_get_level() > LOG_INFO) log_set_level(LOG_INFO);
  synth_report r;
  ts_err e = {0};
  if (synth_run(out, &o, &r, &e)) {
    fprintf(stderr, "tsasr: %s\n", e.msg);
    return 1;
  }
  printf("synth: %d voices (%d held out), %lld utterances, %.1f s of audio in %.1f s: "
         "%.1f utterances/s, %.0fx real time\n",
         r.n_voices, r.n_unseen, (long long)r.n_utts, r.audio_sec, r.wall_sec, r.utts_per_sec,
         r.wall_sec > 0 ? r.audio_sec / r.wall_sec : 0.0);
  printf("synth: source %s: vocabulary %d words, %d distinct sentences (train %d, dev %d, test %d)\n",
         o.source == SYNTH_BOOK ? "book" : "grid", r.vocab, r.n_sentences, r.class_sentences[0],
         r.class_sentences[1], r.class_sentences[2]);
  printf("synth: train %lld, dev-seen %lld, test-seen %lld, dev-unseen %lld, test-unseen %lld utterances\n",
         (long long)r.per_split[0], (long long)r.per_split[1], (long long)r.per_split[2],
         (long long)r.per_split[3], (long long)r.per_split[4]);
  return 0;
}
