/* data_fixture.h — helpers for the data tests that need audio: a temp folder, a log catcher,
 * and a tiny LibriSpeech-layout corpus of speech-like synthetic audio (harmonic tones with a
 * syllable-rate envelope and a little noise, pitch set by the speaker's gender). Included by
 * tests/audio/test_data_*.c only (header-only so other test groups don't link it). */
#ifndef TS_TEST_DATA_FIXTURE_H
#define TS_TEST_DATA_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio/audio_io.h"
#include "base/afile.h"
#include "base/log.h"
#include "base/philox.h"

static char fx_dir[256];

static int fx_mkdtemp(const char *tag) {
  snprintf(fx_dir, sizeof fx_dir, "/tmp/tsasr_%s_XXXXXX", tag);
  return mkdtemp(fx_dir) ? 0 : -1;
}

static int fx_rmdir(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx_dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* ---- log catcher ---- */
static char fx_log[1 << 16];
static int fx_nlog;
static void fx_sink(log_level lv, const char *msg, void *user) {
  (void)user;
  if (lv < LOG_WARN) return;
  size_t l = strlen(fx_log);
  snprintf(fx_log + l, sizeof fx_log - l, "%s\n", msg);
  fx_nlog++;
}
__attribute__((unused)) static void fx_log_start(void) {
  fx_log[0] = 0;
  fx_nlog = 0;
  log_set_sink(fx_sink, NULL);
}
__attribute__((unused)) static void fx_log_stop(void) { log_set_sink(NULL, NULL); }

/* ---- synthetic speech-like signal ---- */
__attribute__((unused)) static float *fx_voice(int64_t n, int rate, double f0, double level, uint64_t seed) {
  float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
  philox_rng r;
  philox_init(&r, seed, 7);
  double ph = 0, syl = 3.0 + 2.0 * philox_uniform_d(&r);
  for (int64_t i = 0; i < n; i++) {
    double t = (double)i / rate;
    double f = f0 * (1.0 + 0.05 * sin(2 * M_PI * 0.7 * t));
    ph += 2 * M_PI * f / rate;
    double v = 0;
    for (int h = 1; h <= 8; h++) v += sin(h * ph) / h;
    double env = 0.5 * (1 - cos(2 * M_PI * syl * t));
    v = v * env * 0.4 + 0.01 * philox_normal(&r);
    x[i] = (float)(level * v);
  }
  return x;
}

__attribute__((unused)) static int fx_write_voice(const char *path, double sec, int rate, double f0, double level,
                          uint64_t seed) {
  int64_t n = (int64_t)llround(sec * rate);
  float *x = fx_voice(n, rate, f0, level, seed);
  ts_err e = {0};
  int rc = audio_write(path, x, n, rate, &e);
  if (rc) fprintf(stderr, "fixture: %s\n", e.msg);
  free(x);
  return rc;
}

/* A corpus: n_spk speakers (ids 100, 101, ...; even = F, odd = M), n_utt utterances each of
 * lengths 2.0 + 0.37*k + 0.11*s seconds, in ROOT/SPK/1/SPK-1-000K.flac with transcripts and a
 * SPEAKERS.TXT with comment lines. Returns 0 on success. */
static const char *fx_words[] = {"PLACE", "BLUE", "AT", "F", "TWO", "NOW", "SET", "RED", "BY",
                                 "G", "NINE", "AGAIN", "LAY", "WHITE", "WITH", "SOON"};

__attribute__((unused)) static double fx_utt_sec(int s, int k) { return 2.0 + 0.37 * k + 0.11 * s; }

__attribute__((unused)) static int fx_corpus(const char *root, int n_spk, int n_utt) {
  ts_err e = {0};
  if (afile_mkdirs(root, &e)) return -1;
  char path[1024];
  snprintf(path, sizeof path, "%s/SPEAKERS.TXT", root);
  FILE *sf = fopen(path, "w");
  if (!sf) return -1;
  fprintf(sf, "; Speakers of the test corpus\n;ID  |SEX| SUBSET  |MINUTES| NAME\n");
  for (int s = 0; s < n_spk; s++)
    fprintf(sf, "%d   | %c | test     |  1.00 | Voice %d\n", 100 + s, s % 2 ? 'M' : 'F', s);
  fclose(sf);
  for (int s = 0; s < n_spk; s++) {
    char d[1024];
    snprintf(d, sizeof d, "%s/%d/1", root, 100 + s);
    if (afile_mkdirs(d, &e)) return -1;
    snprintf(path, sizeof path, "%s/%d-1.trans.txt", d, 100 + s);
    FILE *tf = fopen(path, "w");
    if (!tf) return -1;
    for (int k = 0; k < n_utt; k++) {
      char a[1200];
      snprintf(a, sizeof a, "%s/%d-1-%04d.flac", d, 100 + s, k);
      double f0 = s % 2 ? 105.0 + 9 * s : 190.0 + 7 * s;
      if (fx_write_voice(a, fx_utt_sec(s, k), 16000, f0, 0.05 + 0.02 * k, 1000u * s + k)) {
        fclose(tf);
        return -1;
      }
      fprintf(tf, "%d-1-%04d %s %s %s\n", 100 + s, k, fx_words[(s + k) % 16], fx_words[(3 * s + k + 1) % 16],
              fx_words[(s + 5 * k + 2) % 16]);
    }
    fclose(tf);
  }
  return 0;
}

__attribute__((unused)) static int fx_files_equal(const char *a, const char *b) {
  char *x, *y;
  size_t nx, ny;
  ts_err e = {0};
  if (afile_read(a, &x, &nx, &e)) return 0;
  if (afile_read(b, &y, &ny, &e)) {
    free(x);
    return 0;
  }
  int eq = nx == ny && !memcmp(x, y, nx);
  free(x);
  free(y);
  return eq;
}

#endif
