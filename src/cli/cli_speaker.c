/* cli_speaker.c — `tsasr speaker train|score|eval`: the built-in speaker encoder (src/speaker). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "speaker/spk_train.h"
#include "train/run.h"

static void speaker_usage(FILE *f) {
  fprintf(f,
          "usage: tsasr speaker train CORPUS_DIR --out DIR [--split train] [--steps N] [--batch N]\n"
          "                     [--crop FRAMES] [--lr X] [--channels C,C,C,C] [--kernels K,K,K,K]\n"
          "                     [--emb N] [--margin M] [--scale S] [--max-utts-per-spk N] [--seed N]\n"
          "                     [--max-seconds S] [--quiet]\n"
          "       tsasr speaker score MANIFEST (--model DIR | --import FILE.jsonl) --out MANIFEST\n"
          "                     [--cache DIR | --no-cache]\n"
          "       tsasr speaker eval CORPUS_DIR --model DIR [--split test-unseen] [--out FILE.json]\n\n"
          "train  trains the TDNN speaker encoder with the AAM softmax on the speakers of a split\n"
          "       (e.g. a `tsasr synth` corpus) and writes DIR/config.json + DIR/model.safetensors.\n"
          "score  adds \"similarity\" (cosine of the enrollment crop and each source) to every entry;\n"
          "       the CoT level is cot_level(similarity). Embeddings are cached on disk (model mode)\n"
          "       or imported: one JSON object a line {\"utt\",\"start\",\"duration\",\"emb\":[...]}.\n"
          "eval   equal error rate and similarity-level histograms over all utterance pairs of a split.\n");
}

static int parse_list(const char *s, int *out, int max) {
  int n = 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    char *end;
    long v = strtol(t, &end, 10);
    if (*end || n >= max || v < 1) return -1;
    out[n++] = (int)v;
  }
  return n;
}

static int num_arg(const char *a, const char *v, double *out) {
  char *end;
  *out = strtod(v, &end);
  if (*end || !v[0]) {
    fprintf(stderr, "tsasr speaker: %s takes a number, not \"%s\"\n", a, v);
    return 0;
  }
  return 1;
}

static int cmd_train(int argc, char **argv) {
  spk_train_opts o;
  spk_train_opts_default(&o);
  int nch = 0, nk = 0, ch[SPK_MAX_LAYERS], kk[SPK_MAX_LAYERS];
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    double d;
    if (!strcmp(a, "--quiet")) {
      o.quiet = 1;
      continue;
    }
    if (a[0] != '-') {
      if (o.corpus_dir) {
        fprintf(stderr, "tsasr speaker train: one corpus directory, not \"%s\" too\n", a);
        return 2;
      }
      o.corpus_dir = a;
      continue;
    }
    if (!v) {
      fprintf(stderr, "tsasr speaker train: %s needs a value\n", a);
      return 2;
    }
    i++;
    if (!strcmp(a, "--out")) o.out_dir = v;
    else if (!strcmp(a, "--split")) o.split = v;
    else if (!strcmp(a, "--channels")) {
      if ((nch = parse_list(v, ch, SPK_MAX_LAYERS)) < 1) {
        fprintf(stderr, "tsasr speaker train: --channels takes up to %d positive integers\n", SPK_MAX_LAYERS);
        return 2;
      }
    } else if (!strcmp(a, "--kernels")) {
      if ((nk = parse_list(v, kk, SPK_MAX_LAYERS)) < 1) {
        fprintf(stderr, "tsasr speaker train: --kernels takes up to %d positive integers\n", SPK_MAX_LAYERS);
        return 2;
      }
    } else if (!num_arg(a, v, &d)) return 2;
    else if (!strcmp(a, "--steps")) o.steps = (int)d;
    else if (!strcmp(a, "--batch")) o.batch = (int)d;
    else if (!strcmp(a, "--crop")) o.crop = (int)d;
    else if (!strcmp(a, "--lr")) o.lr = d;
    else if (!strcmp(a, "--emb")) o.cfg.emb_dim = (int)d;
    else if (!strcmp(a, "--margin")) o.margin = (float)d;
    else if (!strcmp(a, "--scale")) o.scale = (float)d;
    else if (!strcmp(a, "--max-utts-per-spk")) o.max_per_spk = (int)d;
    else if (!strcmp(a, "--seed")) o.seed = (uint64_t)d;
    else if (!strcmp(a, "--max-seconds")) o.max_seconds = d;
    else {
      fprintf(stderr, "tsasr speaker train: unknown option %s\n", a);
      return 2;
    }
  }
  if (!o.corpus_dir || !o.out_dir) {
    speaker_usage(stderr);
    return 2;
  }
  if (nch || nk) {
    if (nch != nk) {
      fprintf(stderr, "tsasr speaker train: --channels and --kernels need the same number of layers\n");
      return 2;
    }
    o.cfg.n_layers = nch;
    for (int l = 0; l < nch; l++) o.cfg.channels[l] = ch[l], o.cfg.kernels[l] = kk[l];
  }
  if (!o.quiet && log_get_level() > LOG_INFO) log_set_level(LOG_INFO);
  run_catch_signals();
  ts_err e = {0};
  spk_train_report r;
  int rc = spk_train(&o, &r, &e);
  run_release_signals();
  if (rc) {
    fprintf(stderr, "tsasr speaker train: %s\n", e.msg);
    return 1;
  }
  printf("speaker train: %d speakers, %d utterances, %lld steps in %.1f s; loss %.4f, train accuracy %.3f;"
         " %lld parameters; model in %s\n",
         r.n_cls, r.n_utts, (long long)r.steps, r.wall_sec, r.loss, r.acc, (long long)r.n_params, o.out_dir);
  return 0;
}

int cli_speaker(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    speaker_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
  fprintf(stderr, "tsasr speaker: unknown subcommand \"%s\" (train, score, eval)\n", argv[1]);
  return 2;
}
