/* cli_model.c — `tsasr model new|assemble`: a model directory from a config (trained from
 * scratch), or from a Hugging Face Qwen2 directory plus an HF encoder directory with a new
 * adapter (the paper's starting point). */
#include <stdio.h>
#include <string.h>

#include "base/jsonx.h"
#include "cli/cli.h"
#include "cli/cli_args.h"
#include "model/tsmodel.h"

static int model_new(int argc, char **argv) {
  const char *tokp = NULL, *out = NULL;
  int64_t seed = 1;
  double std = 0.02;
  ca_opt o[] = {{"--tokenizer", CA_STR, &tokp, 0, "tokenizer.json (required)"},
                {"--out", CA_STR, &out, 0, "model directory to write (required)"},
                {"--seed", CA_I64, &seed, 0, "initialisation seed"},
                {"--init-std", CA_DBL, &std, 0, "std of the normal initialisation of matrices"}};
  int no = (int)(sizeof o / sizeof o[0]);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help")) {
      ca_usage("tsasr model new CONFIG.json --tokenizer tokenizer.json --out DIR", o, no);
      return 0;
    }
  const char *pos[1];
  int np;
  if (ca_parse("model new", argc, argv, o, no, pos, 1, &np)) return 2;
  if (np != 1 || !tokp || !out) {
    fprintf(stderr, "usage: tsasr model new CONFIG.json --tokenizer tokenizer.json --out DIR\n");
    return 2;
  }
  ts_err e;
  cJSON *cfg;
  tsm *m = NULL;
  int rc = jsonx_load(pos[0], &cfg, &e);
  if (!rc) {
    rc = tsm_new(cfg, tokp, (uint64_t)seed, (float)std, be_cpu(), 0, 0, &m, &e);
    if (rc) err_prefix(&e, "%s", pos[0]);
    cJSON_Delete(cfg);
  }
  if (!rc) rc = tsm_save(m, out, 0, &e);
  if (rc) {
    fprintf(stderr, "tsasr model new: %s\n", e.msg);
  } else {
    char buf[4096];
    tsm_describe(m, 8, 10.0, buf, sizeof buf);
    printf("wrote %s\n%s", out, buf);
  }
  tsm_free(m);
  return rc ? 1 : 0;
}

static int model_assemble(int argc, char **argv) {
  const char *out = NULL;
  int64_t k = 5, hidden = 2048, seed = 1;
  int linear = 0;
  ca_opt o[] = {{"--out", CA_STR, &out, 0, "model directory to write (required)"},
                {"--downsample", CA_INT, &k, 0, "encoder frames concatenated by the adapter (5)"},
                {"--hidden", CA_INT, &hidden, 0, "adapter hidden width (2048)"},
                {"--linear", CA_FLAG, &linear, 0, "a single Linear adapter"},
                {"--seed", CA_I64, &seed, 0, "adapter initialisation seed"}};
  int no = (int)(sizeof o / sizeof o[0]);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help")) {
      ca_usage("tsasr model assemble HF_QWEN2_DIR HF_ENCODER_DIR --out DIR", o, no);
      return 0;
    }
  const char *pos[2];
  int np;
  if (ca_parse("model assemble", argc, argv, o, no, pos, 2, &np)) return 2;
  if (np != 2 || !out) {
    fprintf(stderr, "usage: tsasr model assemble HF_QWEN2_DIR HF_ENCODER_DIR --out DIR\n");
    return 2;
  }
  adapter_cfg ac = {linear ? ADAPTER_LINEAR : ADAPTER_MLP, (int)k, 0, hidden, 0};
  ts_err e;
  tsm *m = NULL;
  int rc = tsm_assemble(pos[0], pos[1], &ac, (uint64_t)seed, be_cpu(), 0, 0, &m, &e);
  if (!rc) rc = tsm_save(m, out, 0, &e);
  if (rc)
    fprintf(stderr, "tsasr model assemble: %s\n", e.msg);
  else
    printf("wrote %s\n", out);
  tsm_free(m);
  return rc ? 1 : 0;
}

int cli_model(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    printf("usage: tsasr model new|assemble ... (tsasr model new --help)\n");
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "new")) return model_new(argc - 1, argv + 1);
  if (!strcmp(argv[1], "assemble")) return model_assemble(argc - 1, argv + 1);
  fprintf(stderr, "tsasr model: unknown command \"%s\" (new or assemble)\n", argv[1]);
  return 2;
}
