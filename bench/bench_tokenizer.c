/* bench_tokenizer.c — encoding throughput of our tokenizer on a text file, single thread.
 * Usage: bench_tokenizer TOKENIZER TEXT [--lines|--doc] [--repeat N] [--no-cache]
 *   TOKENIZER: tokenizer.json, or a directory (tokenizer.json or vocab.json + merges.txt)
 *   --lines: encode each line as its own call (default); --doc: the whole file in one call.
 * Prints MB/s, the token count and a checksum of the ids (to compare with the reference). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/afile.h"
#include "text/tokenizer.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Encodes everything once; returns tokens, adds the ids into *sum. */
static int run(tok *t, const char *buf, size_t n, int lines, int flags, size_t *ntok,
               uint64_t *sum) {
  tok_ids ids = {0};
  ts_err e = {0};
  *ntok = 0;
  *sum = 0;
  size_t i = 0;
  while (i < n) {
    size_t j = n;
    if (lines) {
      const char *nl = memchr(buf + i, '\n', n - i);
      j = nl ? (size_t)(nl - buf) + 1 : n; /* the newline stays with its line */
    }
    ids.n = 0;
    if (tok_encode(t, buf + i, j - i, flags, &ids, &e)) {
      fprintf(stderr, "encode: %s\n", e.msg);
      return 1;
    }
    *ntok += ids.n;
    for (size_t k = 0; k < ids.n; k++) *sum = *sum * 1000003u + (uint64_t)ids.v[k];
    i = j;
  }
  tok_ids_free(&ids);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s TOKENIZER TEXT [--lines|--doc] [--repeat N] [--no-cache]\n", argv[0]);
    return 2;
  }
  int lines = 1, repeat = 3, flags = 0;
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--doc")) lines = 0;
    else if (!strcmp(argv[i], "--lines")) lines = 1;
    else if (!strcmp(argv[i], "--no-cache")) flags |= TOK_ENC_NO_CACHE;
    else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
  }
  ts_err e = {0};
  double t0 = now();
  tok *t;
  if (tok_load(argv[1], &t, &e)) {
    fprintf(stderr, "load: %s\n", e.msg);
    return 1;
  }
  double load_s = now() - t0;
  char *buf;
  size_t n;
  if (afile_read(argv[2], &buf, &n, &e)) {
    fprintf(stderr, "read: %s\n", e.msg);
    return 1;
  }
  size_t ntok;
  uint64_t sum;
  if (run(t, buf, n, lines, flags, &ntok, &sum)) return 1; /* warm-up (fills the cache) */
  double best = 1e30;
  for (int r = 0; r < repeat; r++) {
    double a = now();
    if (run(t, buf, n, lines, flags, &ntok, &sum)) return 1;
    double s = now() - a;
    if (s < best) best = s;
  }
  printf("ours: %.2f MB/s  (%zu bytes, %zu tokens, mode %s%s, best of %d: %.3f s, load %.2f s, checksum %016llx)\n",
         (double)n / best / 1e6, n, ntok, lines ? "lines" : "doc",
         (flags & TOK_ENC_NO_CACHE) ? ", no cache" : "", repeat, best, load_s,
         (unsigned long long)sum);
  free(buf);
  tok_free(t);
  return 0;
}
