/* cli_select.c — `tsasr select`: choose the RL training subset from a decode of the training
 * set (error-only, balanced or random) and write its ids or the matching manifest lines. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "train/select.h"

static void select_usage(FILE *f) {
  fprintf(f,
          "usage: tsasr select DECODE.jsonl... --out OUT.jsonl [--mode error-only|balanced|random]\n"
          "                    [--size N] [--seed S] [--manifest M.jsonl]\n"
          "  --mode      error-only (default): every format error, then wrong transcripts;\n"
          "              balanced: correct : error = 1 : 5; random: any sample\n"
          "  --size      how many to choose (default 20000)\n"
          "  --seed      seed of the random choices (default 0)\n"
          "  --manifest  write the selected lines of this manifest instead of the ids\n");
}

static int select_num(const char *opt, const char *s, unsigned long long *out) {
  char *end = NULL;
  errno = 0;
  if (!s[0] || s[0] == '-') goto bad;
  *out = strtoull(s, &end, 10);
  if (errno || *end) goto bad;
  return 0;
bad:
  fprintf(stderr, "tsasr select: %s wants a non-negative integer, got \"%s\"\n", opt, s);
  return 2;
}

int cli_select(int argc, char **argv) {
  const char *out = NULL, *manifest = NULL, *mode_s = "error-only";
  unsigned long long size = 20000, seed = 0;
  const char **files = calloc((size_t)argc, sizeof *files);
  int n_files = 0, rc = 0;
  if (!files) return 1;
  for (int i = 1; i < argc && !rc; i++) {
    const char *a = argv[i];
    int has_val = i + 1 < argc;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      select_usage(stdout);
      free(files);
      return 0;
    } else if (!strcmp(a, "--out") && has_val) {
      out = argv[++i];
    } else if (!strcmp(a, "--manifest") && has_val) {
      manifest = argv[++i];
    } else if (!strcmp(a, "--mode") && has_val) {
      mode_s = argv[++i];
    } else if (!strcmp(a, "--size") && has_val) {
      rc = select_num("--size", argv[++i], &size);
    } else if (!strcmp(a, "--seed") && has_val) {
      rc = select_num("--seed", argv[++i], &seed);
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "tsasr select: unknown option or missing value: %s\n", a);
      rc = 2;
    } else {
      files[n_files++] = a;
    }
  }
  if (!rc && (n_files == 0 || !out)) {
    select_usage(stderr);
    rc = 2;
  }
  ts_err e = {0};
  sel_mode mode = SEL_ERROR_ONLY;
  if (!rc && sel_mode_parse(mode_s, &mode, &e) != TS_OK) {
    fprintf(stderr, "tsasr select: %s\n", e.msg);
    rc = 2;
  }
  if (!rc && size > (unsigned long long)INT64_MAX) {
    fprintf(stderr, "tsasr select: --size too large\n");
    rc = 2;
  }
  if (rc) {
    free(files);
    return rc;
  }
  sel_pool p;
  sel_result r = {0};
  int err = sel_pool_init(&p, &e);
  for (int i = 0; !err && i < n_files; i++) err = sel_pool_load(&p, files[i], &e);
  if (!err) err = sel_choose(&p, mode, (int64_t)size, (uint64_t)seed, &r, &e);
  int64_t written = 0, missing = 0, bad = 0;
  if (!err) {
    if (manifest)
      err = sel_write_manifest(&p, &r, manifest, out, &written, &missing, &bad, &e);
    else
      err = sel_write_ids(&p, &r, out, &e);
  }
  char *rep = NULL;
  if (!err) err = sel_report(&p, &r, &rep, &e);
  if (!err) {
    fputs(rep, stdout);
    if (manifest)
      printf("wrote %lld manifest line(s) to %s (%lld selected id(s) not in %s, %lld bad line(s))\n",
             (long long)written, out, (long long)missing, manifest, (long long)bad);
    else
      printf("wrote %zu id(s) to %s\n", r.n, out);
    if (missing) fprintf(stderr, "tsasr select: %lld selected id(s) are not in %s\n", (long long)missing, manifest);
    if (fflush(stdout) != 0) rc = 1;
  } else {
    fprintf(stderr, "tsasr select: %s\n", e.msg);
    rc = 1;
  }
  free(rep);
  sel_result_free(&r);
  sel_pool_free(&p);
  free(files);
  return rc;
}
