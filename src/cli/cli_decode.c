/* cli_decode.c — `tsasr decode MODEL MANIFEST --out DECODE.jsonl`: batched greedy or sampled
 * decoding of a manifest, scored and written as decode JSONL (resumable). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "base/progress.h"
#include "cli/cli.h"
#include "cli/cli_args.h"
#include "infer/decode.h"

static int dec_progress(void *user, int64_t done, int64_t total, double wer) {
  char m[64];
  ((progress *)user)->total = total;
  snprintf(m, sizeof m, "WER %.2f%%", 100 * wer);
  progress_update(user, done, m);
  return 0;
}

int cli_decode(int argc, char **argv) {
  decode_cfg c;
  decode_cfg_default(&c);
  const char *out = NULL, *device = "cpu", *gemm = NULL, *prefix = NULL;
  int64_t batch = c.batch, max_new = c.gen.max_new, limit = 0, G = 1, seed = 1, topk = 0;
  double temp = 0, topp = 1, silence = -1;
  int fresh = 0;
  ca_opt o[] = {{"--out", CA_STR, &out, 0, "decode JSONL to write (required)"},
                {"--batch", CA_INT, &batch, 0, "inputs per batch"},
                {"--max-new", CA_INT, &max_new, 0, "max new tokens"},
                {"--temperature", CA_DBL, &temp, 0, "0 = greedy"},
                {"--top-p", CA_DBL, &topp, 0, "nucleus sampling: keep the smallest set of top tokens holding this much probability (0 < X < 1; 1 = off)"},
                {"--top-k", CA_INT, &topk, 0, "top-k sampling: keep the N most likely tokens (0 = off; applied before --top-p)"},
                {"--samples", CA_INT, &G, 0, "outputs per input"},
                {"--prefix", CA_STR, &prefix, 0, "response prefix forced after the prompt, e.g. '<think></think><answer>' (no reasoning)"},
                {"--limit", CA_INT, &limit, 0, "decode at most N entries"},
                {"--silence", CA_DBL, &silence, 0, "seconds between enrollment and mixture (default: the model's)"},
                {"--seed", CA_I64, &seed, 0, "sampling seed"},
                {"--device", CA_STR, &device, 0, CA_DEVICE_HELP},
                {"--gemm", CA_STR, &gemm, 0, CA_GEMM_HELP},
                {"--fresh", CA_FLAG, &fresh, 0, "overwrite instead of resuming"}};
  int no = (int)(sizeof o / sizeof o[0]);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help")) {
      ca_usage("tsasr decode MODEL_DIR MANIFEST --out DECODE.jsonl [options]", o, no);
      return 0;
    }
  const char *pos[2];
  int np;
  if (ca_parse("decode", argc, argv, o, no, pos, 2, &np)) return 2;
  if (np != 2 || !out) {
    fprintf(stderr, "usage: tsasr decode MODEL_DIR MANIFEST --out DECODE.jsonl [options] (see --help)\n");
    return 2;
  }
  if (topk < 0 || topk > INT_MAX) {
    fprintf(stderr, "tsasr decode: --top-k %lld is outside 0..%d\n", (long long)topk, INT_MAX);
    return 2;
  }
  if (fresh) remove(out);
  c.manifest = pos[1];
  c.out = out;
  c.batch = (int)batch, c.limit = limit, c.gen.max_new = (int)max_new, c.gen.G = (int)G, c.gen.seed = (uint64_t)seed;
  c.gen.samp.temperature = (float)temp, c.gen.samp.top_p = (float)topp, c.gen.samp.top_k = (int)topk;
  c.sample.silence = silence;
  c.prefix = prefix;
  ts_err e;
  tsm *m;
  backend *be = ca_device("decode", device, gemm);
  if (!be) return 2;
  if (tsm_load(pos[0], be, 0, 0, &m, &e)) {
    fprintf(stderr, "tsasr decode: %s\n", e.msg);
    return 1;
  }
  progress p;
  progress_start(&p, "decode", 0);
  c.on_progress = dec_progress;
  c.user = &p;
  decode_summary s;
  int rc = decode_run(m, &c, &s, &e);
  if (rc) {
    fprintf(stderr, "tsasr decode: %s\n", e.msg);
  } else {
    printf("%s: %lld outputs, WER %.2f%% (S %lld D %lld I %lld / %lld words), %lld format errors, %lld stopped by the "
           "repetition guard, %.1f tokens/s\n",
           out, (long long)s.n, 100 * s.wer, (long long)s.sub, (long long)s.del, (long long)s.ins, (long long)s.words,
           (long long)s.format_errors, (long long)s.repetition, s.tokens_per_s);
  }
  tsm_free(m);
  return rc ? 1 : 0;
}
