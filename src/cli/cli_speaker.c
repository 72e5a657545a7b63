/* cli_speaker.c — `tsasr speaker train|score|eval`: the built-in speaker encoder (src/speaker). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "base/jsonx.h"
#include "data/cot.h"
#include "speaker/spk_embed.h"
#include "speaker/spk_eval.h"
#include "speaker/spk_score.h"
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
          "       tsasr speaker eval CORPUS_DIR --model DIR [--split test-unseen] [--by-person]\n"
          "                     [--mixtures N [--mixtures-out MANIFEST]] [--out FILE.json]\n"
          "       tsasr speaker embed --model DIR [--start S] [--duration D] AUDIO...\n\n"
          "train  trains the TDNN speaker encoder with the AAM softmax on the speakers of a split\n"
          "       (e.g. a `tsasr synth` corpus) and writes DIR/config.json + DIR/model.safetensors.\n"
          "score  adds \"similarity\" (cosine of the enrollment crop and each source) to every entry;\n"
          "       the CoT level is cot_level(similarity). Embeddings are cached on disk (model mode)\n"
          "       or imported: one JSON object a line {\"utt\",\"start\",\"duration\",\"emb\":[...]}.\n"
          "eval   equal error rate and similarity-level histograms over all utterance pairs of a split\n"
          "       (--by-person: voices synth.json groups as one person, e.g. flite kal16 and festival\n"
          "       kal_diphone, count as one speaker);\n"
          "       --mixtures N also scores N seeded 2-speaker mixtures of the split (target vs interferer).\n"
          "embed  prints one line per file in the import format (utt = file name without extension).\n");
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

static int cmd_score(int argc, char **argv) {
  const char *in = NULL, *model = NULL, *imp = NULL, *out = NULL, *cache = NULL;
  int no_cache = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--no-cache")) {
      no_cache = 1;
      continue;
    }
    if (a[0] != '-') {
      in = a;
      continue;
    }
    if (!v) {
      fprintf(stderr, "tsasr speaker score: %s needs a value\n", a);
      return 2;
    }
    i++;
    if (!strcmp(a, "--model")) model = v;
    else if (!strcmp(a, "--import")) imp = v;
    else if (!strcmp(a, "--out")) out = v;
    else if (!strcmp(a, "--cache")) cache = v;
    else {
      fprintf(stderr, "tsasr speaker score: unknown option %s\n", a);
      return 2;
    }
  }
  if (!in || !out || (!model == !imp)) {
    fprintf(stderr, "tsasr speaker score: needs MANIFEST, --out and one of --model or --import\n");
    return 2;
  }
  ts_err e = {0};
  spk_scorer sc;
  char cdir[4096];
  if (!cache) spk_default_cache_dir(cdir, sizeof cdir), cache = cdir;
  int rc = model ? spk_scorer_open_model(&sc, model, no_cache ? NULL : cache, &e) : spk_scorer_open_import(&sc, imp, &e);
  if (rc) {
    fprintf(stderr, "tsasr speaker score: %s\n", e.msg);
    return 1;
  }
  manifest m;
  man_init(&m);
  int64_t bad = 0;
  if ((rc = man_read(in, &m, &e)) || (rc = spk_manifest_score(&sc, &m, &bad, &e)) || (rc = man_write(out, &m, &e))) {
    fprintf(stderr, "tsasr speaker score: %s\n", e.msg);
    man_free(&m);
    spk_scorer_close(&sc, NULL);
    return 1;
  }
  int64_t ht[5] = {0}, hi[5] = {0};
  for (int64_t i = 0; i < m.n; i++)
    for (int k = 0; m.e[i].similarity && k < m.e[i].n_src; k++)
      (k == m.e[i].target ? ht : hi)[cot_level(m.e[i].similarity[k]) - 1]++;
  printf("speaker score: %lld entries scored, %lld failed; %lld segments embedded, %lld reused (cache/import)\n",
         (long long)(m.n - bad), (long long)bad, (long long)sc.n_embedded, (long long)sc.n_reused);
  printf("levels 1..5  target sources: %lld %lld %lld %lld %lld; other sources: %lld %lld %lld %lld %lld\n",
         (long long)ht[0], (long long)ht[1], (long long)ht[2], (long long)ht[3], (long long)ht[4], (long long)hi[0],
         (long long)hi[1], (long long)hi[2], (long long)hi[3], (long long)hi[4]);
  rc = spk_scorer_close(&sc, &e);
  if (rc) fprintf(stderr, "tsasr speaker score: %s\n", e.msg);
  int all_bad = m.n > 0 && bad == m.n;
  man_free(&m);
  return rc || all_bad ? 1 : 0;
}

static int cmd_eval(int argc, char **argv) {
  const char *corpus = NULL, *model = NULL, *split = "test-unseen", *out = NULL, *mix_out = NULL;
  long long n_mix = 0;
  int by_person = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--by-person")) {
      by_person = 1;
      continue;
    }
    if (a[0] != '-') {
      corpus = a;
      continue;
    }
    if (!v) {
      fprintf(stderr, "tsasr speaker eval: %s needs a value\n", a);
      return 2;
    }
    i++;
    if (!strcmp(a, "--model")) model = v;
    else if (!strcmp(a, "--split")) split = v;
    else if (!strcmp(a, "--out")) out = v;
    else if (!strcmp(a, "--mixtures")) n_mix = atoll(v);
    else if (!strcmp(a, "--mixtures-out")) mix_out = v;
    else {
      fprintf(stderr, "tsasr speaker eval: unknown option %s\n", a);
      return 2;
    }
  }
  if (!corpus || !model) {
    fprintf(stderr, "tsasr speaker eval: needs CORPUS_DIR and --model DIR\n");
    return 2;
  }
  ts_err e = {0};
  spk_model m;
  spk_set s;
  spk_eval_out o;
  int rc = spk_model_load(&m, model, be_cpu(), &e);
  if (rc) {
    fprintf(stderr, "tsasr speaker eval: %s\n", e.msg);
    return 1;
  }
  if ((rc = spk_set_load(corpus, split, &m.c, 0, by_person, &s, &e))) {
    fprintf(stderr, "tsasr speaker eval: %s\n", e.msg);
    spk_model_free(&m);
    return 1;
  }
  rc = spk_eval_set(&m, &s, &o, &e);
  char close[3][64];
  for (int q = 0; q < 3; q++)
    if (!rc && o.close_pair[q][0] >= 0)
      snprintf(close[q], sizeof close[q], "%s-%s %.3f", s.cls_id[o.close_pair[q][0]], s.cls_id[o.close_pair[q][1]],
               o.close_cos[q]);
    else
      snprintf(close[q], sizeof close[q], "-");
  spk_set_free(&s);
  spk_model_free(&m);
  if (rc) {
    fprintf(stderr, "tsasr speaker eval: %s\n", e.msg);
    return 1;
  }
  printf("speaker eval %s/%s: %d utterances of %d speakers; %lld same-speaker and %lld different-speaker pairs\n",
         corpus, split, o.n_utts, o.n_spk, (long long)o.n_same, (long long)o.n_diff);
  printf("EER %.2f%% at cosine %.3f; mean cosine same %.3f, different %.3f\n", 100 * o.eer, o.thr, o.mean_same,
         o.mean_diff);
  printf("level      1       2       3       4       5\n");
  printf("same  %7.2f %7.2f %7.2f %7.2f %7.2f  (%% of pairs)\n", 100.0 * o.hist_same[0] / o.n_same,
         100.0 * o.hist_same[1] / o.n_same, 100.0 * o.hist_same[2] / o.n_same, 100.0 * o.hist_same[3] / o.n_same,
         100.0 * o.hist_same[4] / o.n_same);
  printf("diff  %7.2f %7.2f %7.2f %7.2f %7.2f\n", 100.0 * o.hist_diff[0] / o.n_diff, 100.0 * o.hist_diff[1] / o.n_diff,
         100.0 * o.hist_diff[2] / o.n_diff, 100.0 * o.hist_diff[3] / o.n_diff, 100.0 * o.hist_diff[4] / o.n_diff);
  spk_mixeval_out mo;
  memset(&mo, 0, sizeof mo);
  printf("closest speaker pairs (mean cosine): %s; %s; %s\n", close[0], close[1], close[2]);
  if (n_mix > 0) {
    spk_scorer sc;
    manifest keep;
    man_init(&keep);
    if ((rc = spk_scorer_open_model(&sc, model, NULL, &e)) ||
        (rc = spk_eval_mixtures(&sc, corpus, split, n_mix, 1, &mo, mix_out ? &keep : NULL, &e)) ||
        (mix_out && (rc = man_write(mix_out, &keep, &e)))) {
      fprintf(stderr, "tsasr speaker eval: %s\n", e.msg);
      if (sc.dim) spk_scorer_close(&sc, NULL);
      man_free(&keep);
      return 1;
    }
    man_free(&keep);
    spk_scorer_close(&sc, NULL);
    printf("mixtures: %lld entries (%lld failed); target ranked first by cosine %.2f%%, by level %.2f%%\n",
           (long long)mo.n_entries, (long long)mo.n_bad, 100.0 * mo.n_top_score / (mo.n_entries ? mo.n_entries : 1),
           100.0 * mo.n_top_level / (mo.n_entries ? mo.n_entries : 1));
    printf("levels 1..5 target sources: %lld %lld %lld %lld %lld (mean cos %.3f); interferers: %lld %lld %lld %lld %lld"
           " (mean cos %.3f)\n",
           (long long)mo.hist_target[0], (long long)mo.hist_target[1], (long long)mo.hist_target[2],
           (long long)mo.hist_target[3], (long long)mo.hist_target[4], mo.mean_target, (long long)mo.hist_other[0],
           (long long)mo.hist_other[1], (long long)mo.hist_other[2], (long long)mo.hist_other[3],
           (long long)mo.hist_other[4], mo.mean_other);
  }
  if (out) {
    cJSON *j = cJSON_CreateObject(), *hs = cJSON_CreateArray(), *hd = cJSON_CreateArray();
    for (int k = 0; k < 5 && hs && hd; k++) {
      cJSON_AddItemToArray(hs, cJSON_CreateNumber((double)o.hist_same[k]));
      cJSON_AddItemToArray(hd, cJSON_CreateNumber((double)o.hist_diff[k]));
    }
    cJSON_AddStringToObject(j, "corpus", corpus);
    cJSON_AddStringToObject(j, "split", split);
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddBoolToObject(j, "by_person", by_person);
    cJSON_AddNumberToObject(j, "utterances", o.n_utts);
    cJSON_AddNumberToObject(j, "speakers", o.n_spk);
    cJSON_AddNumberToObject(j, "same_pairs", (double)o.n_same);
    cJSON_AddNumberToObject(j, "diff_pairs", (double)o.n_diff);
    cJSON_AddNumberToObject(j, "eer", o.eer);
    cJSON_AddNumberToObject(j, "eer_threshold", o.thr);
    cJSON_AddNumberToObject(j, "mean_cos_same", o.mean_same);
    cJSON_AddNumberToObject(j, "mean_cos_diff", o.mean_diff);
    cJSON_AddItemToObject(j, "levels_same", hs);
    cJSON_AddItemToObject(j, "levels_diff", hd);
    if (n_mix > 0) {
      cJSON *mx = cJSON_AddObjectToObject(j, "mixtures"), *t = cJSON_CreateArray(), *x = cJSON_CreateArray();
      for (int k = 0; k < 5 && t && x; k++) {
        cJSON_AddItemToArray(t, cJSON_CreateNumber((double)mo.hist_target[k]));
        cJSON_AddItemToArray(x, cJSON_CreateNumber((double)mo.hist_other[k]));
      }
      cJSON_AddNumberToObject(mx, "entries", (double)mo.n_entries);
      cJSON_AddNumberToObject(mx, "target_top_by_cosine", (double)mo.n_top_score);
      cJSON_AddNumberToObject(mx, "target_top_by_level", (double)mo.n_top_level);
      cJSON_AddNumberToObject(mx, "mean_cos_target", mo.mean_target);
      cJSON_AddNumberToObject(mx, "mean_cos_interferer", mo.mean_other);
      cJSON_AddItemToObject(mx, "levels_target", t);
      cJSON_AddItemToObject(mx, "levels_interferer", x);
    }
    rc = jsonx_save(out, j, &e);
    cJSON_Delete(j);
    if (rc) {
      fprintf(stderr, "tsasr speaker eval: %s\n", e.msg);
      return 1;
    }
  }
  return 0;
}

static int cmd_embed(int argc, char **argv) {
  const char *model = NULL;
  double start = 0, dur = 0;
  int n_files = 0, bad = 0;
  for (int i = 1; i < argc; i++) { /* options first, so that files may follow in any order */
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (a[0] != '-') {
      n_files++;
      continue;
    }
    if (!v) {
      fprintf(stderr, "tsasr speaker embed: %s needs a value\n", a);
      return 2;
    }
    i++;
    if (!strcmp(a, "--model")) model = v;
    else if (!strcmp(a, "--start")) {
      if (!num_arg(a, v, &start)) return 2;
    } else if (!strcmp(a, "--duration")) {
      if (!num_arg(a, v, &dur)) return 2;
    } else {
      fprintf(stderr, "tsasr speaker embed: unknown option %s\n", a);
      return 2;
    }
  }
  if (!model || !n_files) {
    fprintf(stderr, "tsasr speaker embed: needs --model DIR and audio files\n");
    return 2;
  }
  ts_err e = {0};
  spk_model m;
  if (spk_model_load(&m, model, be_cpu(), &e)) {
    fprintf(stderr, "tsasr speaker embed: %s\n", e.msg);
    return 1;
  }
  float *emb = malloc(sizeof(float) * (size_t)m.c.emb_dim);
  for (int i = 1; emb && i < argc; i++) {
    if (argv[i][0] == '-') {
      i++;
      continue;
    }
    if (spk_embed_segment(&m, argv[i], start, dur, emb, &e)) {
      fprintf(stderr, "tsasr speaker embed: %s\n", e.msg);
      bad++;
      continue;
    }
    const char *b = strrchr(argv[i], '/');
    char utt[512];
    snprintf(utt, sizeof utt, "%s", b ? b + 1 : argv[i]);
    char *dot = strchr(utt, '.');
    if (dot) *dot = 0;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "utt", utt);
    cJSON_AddNumberToObject(j, "start", start);
    cJSON_AddNumberToObject(j, "duration", dur);
    cJSON *a = cJSON_AddArrayToObject(j, "emb");
    for (int d = 0; a && d < m.c.emb_dim; d++) cJSON_AddItemToArray(a, cJSON_CreateNumber(emb[d]));
    char *txt = cJSON_PrintUnformatted(j);
    if (txt) printf("%s\n", txt);
    free(txt);
    cJSON_Delete(j);
  }
  free(emb);
  spk_model_free(&m);
  return bad ? 1 : 0;
}

int cli_speaker(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    speaker_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
  if (!strcmp(argv[1], "score")) return cmd_score(argc - 1, argv + 1);
  if (!strcmp(argv[1], "eval")) return cmd_eval(argc - 1, argv + 1);
  if (!strcmp(argv[1], "embed")) return cmd_embed(argc - 1, argv + 1);
  fprintf(stderr, "tsasr speaker: unknown subcommand \"%s\" (train, score, eval, embed)\n", argv[1]);
  return 2;
}
