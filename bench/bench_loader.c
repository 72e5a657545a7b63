/* bench_loader.c — loader throughput: 2-speaker samples (3 s enrollment ‖ 3 s silence ‖ max-mode
 * mixture, LibriMix loudness and peak guard) assembled per second, for 1..N threads.
 *
 * usage: bench_loader [CORPUS_DIR] [--samples N] [--threads T] [--make DIR] [--manifest PATH]
 * Without CORPUS_DIR a corpus of speech-like synthetic audio (16 speakers x 8 utterances of
 * 4-15 s, about LibriSpeech's lengths) is written to a temp folder first (or to DIR with
 * --make, where it is kept). With one, e.g. the output of `tsasr synth` or a LibriSpeech subset,
 * its utterances are used. --manifest writes the samples' manifest (for bench/ref_loader.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/afile.h"
#include "base/log.h"
#include "base/philox.h"
#include "data/corpus.h"
#include "data/loader.h"
#include "data/mixspec.h"

#ifdef TS_HAVE_AUDIO
#include "audio/audio_io.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int make_corpus(const char *root) {
  ts_err e = {0};
  philox_rng r;
  philox_init(&r, 1, 1);
  for (int s = 0; s < 16; s++) {
    char d[1024], p[1200];
    snprintf(d, sizeof d, "%s/%d/1", root, 200 + s);
    if (afile_mkdirs(d, &e)) return -1;
    snprintf(p, sizeof p, "%s/%d-1.trans.txt", d, 200 + s);
    FILE *tf = fopen(p, "w");
    if (!tf) return -1;
    for (int k = 0; k < 8; k++) {
      double sec = 4.0 + 11.0 * philox_uniform_d(&r);
      int64_t n = (int64_t)(sec * 16000);
      float *x = malloc(sizeof(float) * (size_t)n);
      double f0 = s % 2 ? 110 + 5 * s : 190 + 5 * s, ph = 0;
      for (int64_t i = 0; i < n; i++) {
        double t = (double)i / 16000;
        ph += 2 * M_PI * f0 * (1 + 0.05 * sin(4.4 * t)) / 16000;
        double v = 0;
        for (int h = 1; h <= 6; h++) v += sin(h * ph) / h;
        x[i] = (float)(0.08 * v * 0.5 * (1 - cos(2 * M_PI * 3.7 * t)) + 0.002 * philox_normal(&r));
      }
      snprintf(p, sizeof p, "%s/%d-1-%04d.flac", d, 200 + s, k);
      int rc = audio_write(p, x, n, 16000, &e);
      free(x);
      if (rc) {
        fprintf(stderr, "%s\n", e.msg);
        fclose(tf);
        return -1;
      }
      fprintf(tf, "%d-1-%04d SOME WORDS %d %d\n", 200 + s, k, s, k);
    }
    fclose(tf);
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *dir = NULL, *make = NULL, *man_path = NULL;
  int n_samples = 200, max_threads = 2;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--make") && i + 1 < argc)
      make = argv[++i];
    else if (!strcmp(argv[i], "--manifest") && i + 1 < argc)
      man_path = argv[++i];
    else if (!strcmp(argv[i], "--samples") && i + 1 < argc)
      n_samples = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      max_threads = atoi(argv[++i]);
    else
      dir = argv[i];
  }
  char tmp[256] = "";
  if (!dir && make) {
    double t0 = now();
    if (make_corpus(make)) return 1;
    printf("bench_loader: synthetic corpus (16 speakers x 8 utterances, 4-15 s) written to %s in %.1f s\n", make,
           now() - t0);
    dir = make;
  } else if (!dir) {
    snprintf(tmp, sizeof tmp, "/tmp/tsasr_bench_loader_XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    double t0 = now();
    if (make_corpus(tmp)) return 1;
    printf("bench_loader: synthetic corpus (16 speakers x 8 utterances, 4-15 s) written in %.1f s\n", now() - t0);
    dir = tmp;
  }
  log_set_level(LOG_ERROR);
  corpus c;
  corpus_opts co;
  corpus_opts_default(&co);
  co.no_cache = tmp[0] != 0;
  ts_err e = {0};
  if (corpus_open(dir, &co, &c, &e)) {
    fprintf(stderr, "bench_loader: %s\n", e.msg);
    return 1;
  }
  mix_opts mo;
  mix_opts_default(&mo); /* 2 speakers, [-33, -25] LUFS, 3 s enrollment */
  manifest m;
  man_init(&m);
  if (mix_make(&c, &mo, (n_samples + 1) / 2, &m, NULL, &e)) {
    fprintf(stderr, "bench_loader: %s\n", e.msg);
    return 1;
  }
  if (man_path && man_write(man_path, &m, &e)) {
    fprintf(stderr, "bench_loader: %s\n", e.msg);
    return 1;
  }
  double audio = 0;
  for (int64_t i = 0; i < m.n; i++) audio += m.e[i].duration + 6.0;
  printf("bench_loader: %lld 2-speaker samples from %s (%lld utterances), mean input %.1f s\n",
         (long long)m.n, dir, (long long)c.n_utts, audio / (double)m.n);
  for (int t = 1; t <= max_threads; t *= 2) {
    loader_opts lo;
    loader_opts_default(&lo);
    lo.threads = t;
    lo.batch = 8;
    lo.queue = 32;
    loader *L;
    if (loader_open(&m, &lo, &L, &e)) {
      fprintf(stderr, "bench_loader: %s\n", e.msg);
      return 1;
    }
    double t0 = now();
    int64_t got = 0;
    for (;;) {
      loader_batch b;
      if (loader_next(L, &b, &e) || !b.n) {
        loader_batch_free(L, &b);
        break;
      }
      got += b.n;
      loader_batch_free(L, &b);
    }
    double dt = now() - t0;
    loader_stats st;
    loader_stats_get(L, &st);
    loader_close(L);
    printf("bench_loader: threads %d: %lld samples in %.2f s = %.1f samples/s (%.0f s of input audio/s), %lld skipped\n",
           t, (long long)got, dt, (double)got / dt, audio * (double)got / (double)m.n / dt,
           (long long)st.n_skipped);
  }
  man_free(&m);
  corpus_free(&c);
  if (tmp[0]) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) return 1;
  }
  return 0;
}

#else
int main(void) {
  printf("bench_loader: built without audio (TSASR_AUDIO=OFF): nothing to measure\n");
  return 0;
}
#endif
