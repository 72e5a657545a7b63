/* test_spk_train.c — a tiny encoder trained for a moment on generated voices (harmonic sources
 * with a speaker-specific pitch and formants, utterances varying in melody, syllables and
 * vowels) must score held-out same-speaker pairs above different-speaker pairs; then the
 * manifest scorer end to end: cache reuse, import equivalence, and the manifest round trip. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audio/audio_io.h"
#include "base/afile.h"
#include "base/log.h"
#include "base/philox.h"
#include "speaker/spk_data.h"
#include "speaker/spk_embed.h"
#include "speaker/spk_eval.h"
#include "speaker/spk_score.h"
#include "speaker/spk_train.h"
#include "testutil.h"

#define NSPK 6
#define NUTT 10   /* per speaker; the last 2 are held out */
#define NTRAIN 8
#define RATE 16000
#define ULEN 19200 /* 1.2 s */

static ts_err err;
static char tmp[256];
static float *wav[NSPK][NUTT];
static char paths[NSPK][NUTT][300];

/* One utterance of speaker k: pitch and formants belong to the speaker; melody, syllable timing
 * and vowel shifts to the utterance. */
static void gen_utt(int k, int u, float *x) {
  philox_rng r;
  philox_init(&r, 77, (uint64_t)(k * 100 + u));
  double f0 = 95.0 * pow(1.22, k), F[3] = {380.0 + 95.0 * k, 1150.0 + 210.0 * k, 2400.0 + 160.0 * (k % 3)};
  double vib = 2 + 4 * philox_uniform_d(&r), ph0 = 6.28 * philox_uniform_d(&r);
  int nsyl = 3 + (int)philox_below(&r, 3);
  double shift[6];
  for (int s = 0; s < nsyl; s++) shift[s] = 0.85 + 0.3 * philox_uniform_d(&r);
  double phase = 0, amp[64];
  int nh = 0;
  for (int64_t t = 0; t < ULEN; t++) {
    double ts = (double)t / RATE;
    double f = f0 * (1 + 0.07 * sin(6.2832 * vib * ts + ph0));
    int syl = (int)(ts / 1.2 * nsyl);
    if (t % 160 == 0) { /* harmonic amplitudes from the formant envelope, every 10 ms */
      nh = (int)(3800 / f);
      if (nh > 64) nh = 64;
      for (int h = 1; h <= nh; h++) {
        double a = 0.02;
        for (int q = 0; q < 3; q++) {
          double d = (h * f - F[q] * (q < 2 ? shift[syl] : 1.0)) / 130.0;
          a += exp(-0.5 * d * d) / (q + 1);
        }
        amp[h - 1] = a;
      }
    }
    phase += 6.283185307 * f / RATE;
    double v = 0;
    for (int h = 1; h <= nh; h++) v += amp[h - 1] * sin(h * phase);
    double pos = ts / 1.2 * nsyl - syl, env = sin(3.14159 * pos);
    x[t] = (float)(0.05 * env * env * v + 0.001 * philox_normal(&r));
  }
}

static int setup(void **state) {
  (void)state;
  snprintf(tmp, sizeof tmp, "/tmp/tsasr-spktrain-XXXXXX");
  if (!mkdtemp(tmp)) return -1;
  log_set_level(LOG_ERROR);
  ts_err e;
  for (int k = 0; k < NSPK; k++)
    for (int u = 0; u < NUTT; u++) {
      wav[k][u] = malloc(sizeof(float) * ULEN);
      gen_utt(k, u, wav[k][u]);
      snprintf(paths[k][u], sizeof paths[k][u], "%s/%d-1-%04d.f32.wav", tmp, 100 + k, u);
      if (audio_write(paths[k][u], wav[k][u], ULEN, RATE, &e)) return -1;
    }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  for (int k = 0; k < NSPK; k++)
    for (int u = 0; u < NUTT; u++) free(wav[k][u]);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  return system(cmd) == 0 ? 0 : -1;
}

/* A set of utterances u0 <= u < u1 of every speaker. */
static void make_set(spk_set *s, const spk_cfg *c, int u0, int u1) {
  memset(s, 0, sizeof *s);
  int n = NSPK * (u1 - u0);
  s->feats = calloc((size_t)n, sizeof(float *));
  s->T = calloc((size_t)n, sizeof(int64_t));
  s->label = calloc((size_t)n, sizeof(int));
  s->path = calloc((size_t)n, sizeof(char *));
  s->cls_id = calloc(NSPK, sizeof(char *));
  s->cls_gender = calloc(NSPK, 1);
  s->n_cls = NSPK;
  for (int k = 0; k < NSPK; k++) {
    char id[16];
    snprintf(id, sizeof id, "%d", 100 + k);
    s->cls_id[k] = strdup(id);
    s->cls_gender[k] = '?';
    for (int u = u0; u < u1; u++) {
      int i = s->n++;
      assert_int_equal(spk_features(c, wav[k][u], ULEN, &s->feats[i], &s->T[i], &err), 0);
      s->label[i] = k;
      s->path[i] = strdup(paths[k][u]);
    }
  }
}

static spk_model model;
static char model_dir[300];

static void test_train_separates_speakers(void **state) {
  (void)state;
  spk_train_opts o;
  spk_train_opts_default(&o);
  o.cfg.n_layers = 2, o.cfg.channels[0] = 24, o.cfg.channels[1] = 48, o.cfg.kernels[0] = 5, o.cfg.kernels[1] = 1;
  o.cfg.emb_dim = 16;
  o.steps = 60, o.batch = 12, o.crop = 60, o.lr = 5e-3, o.quiet = 1, o.seed = 3;
  snprintf(model_dir, sizeof model_dir, "%s/model", tmp);
  o.out_dir = model_dir;
  spk_set tr, ho;
  make_set(&tr, &o.cfg, 0, NTRAIN);
  make_set(&ho, &o.cfg, NTRAIN, NUTT);
  /* before training (random weights) the held-out pairs are not separated well */
  spk_model m0;
  spk_cfg c0 = o.cfg;
  assert_int_equal(spk_model_init(&m0, &c0, be_cpu(), 0, 0, &err), 0);
  spk_model_init_weights(&m0, o.seed);
  spk_eval_out ev0, ev;
  assert_int_equal(spk_eval_set(&m0, &ho, &ev0, &err), 0);
  spk_model_free(&m0);
  spk_train_report r;
  assert_int_equal(spk_train_set(&o, &tr, &model, &r, &err), 0);
  assert_int_equal(r.steps, 60);
  assert_true(r.acc > 0.5); /* it learned the training speakers */
  assert_int_equal(spk_eval_set(&model, &ho, &ev, &err), 0);
  print_message("held-out pairs: untrained EER %.3f (same %.3f, diff %.3f); trained EER %.3f (same %.3f, diff %.3f)\n",
                ev0.eer, ev0.mean_same, ev0.mean_diff, ev.eer, ev.mean_same, ev.mean_diff);
  assert_int_equal(ev.n_same, NSPK * 1);
  assert_int_equal(ev.n_diff, (NSPK * 2) * (NSPK * 2 - 1) / 2 - NSPK);
  assert_true(ev.mean_same > ev.mean_diff + 0.2);
  assert_true(ev.eer < 0.2);
  /* the run wrote a model directory and its metrics */
  char p[400];
  snprintf(p, sizeof p, "%s/metrics.jsonl", model_dir);
  char *buf;
  size_t n;
  assert_int_equal(afile_read(p, &buf, &n, &err), 0);
  assert_non_null(strstr(buf, "\"loss\""));
  free(buf);
  spk_model m2;
  assert_int_equal(spk_model_load(&m2, model_dir, be_cpu(), &err), 0);
  assert_int_equal(m2.c.n_classes, NSPK);
  spk_model_free(&m2);
  spk_set_free(&tr);
  spk_set_free(&ho);
}

static man_entry mk_entry(man_source *src) {
  /* sources: speaker 0 utterance 8 and speaker 1 utterance 9 (offset 0.3 s); enrollment: a
   * 0.8 s crop of speaker 0 utterance 9 */
  memset(src, 0, 2 * sizeof *src);
  src[0] = (man_source){.path = paths[0][8], .speaker = "100", .gender = 'M', .text = "A", .gain = NAN, .lufs = -25, .duration = NAN};
  src[1] = (man_source){.path = paths[1][9], .speaker = "101", .gender = 'F', .text = "B", .gain = NAN, .lufs = -30,
                        .offset = 0.3, .duration = NAN};
  man_entry x = {.id = "mixA", .set = "", .src = src, .n_src = 2, .target = 0, .mode = MAN_MODE_MAX, .duration = NAN};
  x.enroll = (man_enroll){.path = paths[0][9], .start = 0.2, .duration = 0.8, .gain = NAN, .lufs = NAN};
  return x;
}

static void test_score_entry(void **state) {
  (void)state;
  assert_non_null(model.ps.w); /* from the previous test */
  char cache[300];
  snprintf(cache, sizeof cache, "%s/cache", tmp);
  man_source src[2];
  man_entry x = mk_entry(src);
  spk_scorer s;
  assert_int_equal(spk_scorer_open_model(&s, model_dir, cache, &err), 0);
  double sim[2], sim2[2];
  assert_int_equal(spk_entry_similarity(&s, &x, sim, &err), 0);
  assert_int_equal(s.n_embedded, 3);
  assert_true(sim[0] > sim[1]);
  assert_true(sim[0] <= 1.0 && sim[1] >= -1.0);
  /* the same entry again: all from the cache */
  assert_int_equal(spk_entry_similarity(&s, &x, sim2, &err), 0);
  assert_int_equal(s.n_embedded, 3);
  assert_int_equal(s.n_reused, 3);
  assert_true(sim[0] == sim2[0] && sim[1] == sim2[1]);
  assert_int_equal(spk_scorer_close(&s, &err), 0);
  /* a new scorer reads the cache file: no audio is embedded */
  assert_int_equal(spk_scorer_open_model(&s, model_dir, cache, &err), 0);
  assert_int_equal(spk_entry_similarity(&s, &x, sim2, &err), 0);
  assert_int_equal(s.n_embedded, 0);
  assert_true(sim[0] == sim2[0] && sim[1] == sim2[1]);
  /* the cached value is what the encoder gives on the file segment itself (gain-invariant
   * features): check against a direct embedding of the enrollment crop */
  float ee[16], se[16];
  assert_int_equal(spk_embed_file(&s.model, paths[0][9], 3200, 12800, ee, &err), 0);
  assert_int_equal(spk_embed_file(&s.model, paths[0][8], 0, 0, se, &err), 0);
  assert_true(fabs(spk_cosine(ee, se, 16) - sim[0]) < 2e-3);
  spk_scorer_close(&s, NULL);

  /* import: the same embeddings from a JSONL file give the same similarities */
  char jp[300];
  snprintf(jp, sizeof jp, "%s/emb.jsonl", tmp);
  FILE *f = fopen(jp, "w");
  assert_non_null(f);
  float v[16];
  const char *utt[3] = {"100-1-0009", "100-1-0008", "101-1-0009"};
  for (int i = 0; i < 3; i++) {
    int k = i == 2, u = i == 1 ? 8 : 9;
    spk_model *mm = &model;
    if (i == 0) fprintf(f, "{\"utt\": \"%s\", \"start\": 0.2, \"duration\": 0.8, \"emb\": [", utt[i]);
    else fprintf(f, "{\"utt\": \"%s\", \"emb\": [", utt[i]);
    assert_int_equal(spk_embed_file(mm, paths[k][u], i == 0 ? 3200 : 0, i == 0 ? 12800 : 0, v, &err), 0);
    for (int d = 0; d < 16; d++) fprintf(f, "%s%.9g", d ? ", " : "", (double)v[d]);
    fprintf(f, "]}\n");
  }
  fclose(f);
  assert_int_equal(spk_scorer_open_import(&s, jp, &err), 0);
  assert_int_equal(spk_entry_similarity(&s, &x, sim2, &err), 0);
  print_message("model %.6f %.6f import %.6f %.6f\n", sim[0], sim[1], sim2[0], sim2[1]);
  assert_true(fabs(sim2[0] - sim[0]) < 2e-3);
  assert_true(fabs(sim2[1] - sim[1]) < 2e-3);
  spk_scorer_close(&s, NULL);
}

static void test_score_manifest(void **state) {
  (void)state;
  man_source src[2];
  man_entry x = mk_entry(src);
  manifest m;
  man_init(&m);
  assert_int_equal(man_add(&m, &x, &err), 0);
  /* a second entry whose source file does not exist: counted, named, not fatal */
  x.id = "mixB";
  src[1].path = "/nonexistent/xyz.wav";
  assert_int_equal(man_add(&m, &x, &err), 0);
  spk_scorer s;
  assert_int_equal(spk_scorer_open_model(&s, model_dir, NULL, &err), 0);
  int64_t bad = -1;
  assert_int_equal(spk_manifest_score(&s, &m, &bad, &err), 0);
  assert_int_equal(bad, 1);
  assert_non_null(m.e[0].similarity);
  assert_null(m.e[1].similarity);
  double want = m.e[0].similarity[0];
  ts_err le;
  assert_int_not_equal(spk_entry_similarity(&s, &m.e[1], m.e[0].similarity, &le), 0);
  assert_non_null(strstr(le.msg, "mixB"));
  assert_non_null(strstr(le.msg, "/nonexistent/xyz.wav"));
  m.e[0].similarity[0] = want;
  spk_scorer_close(&s, NULL);
  char mp[300];
  snprintf(mp, sizeof mp, "%s/scored.jsonl", tmp);
  assert_int_equal(man_write(mp, &m, &err), 0);
  manifest r;
  man_init(&r);
  assert_int_equal(man_read(mp, &r, &err), 0);
  assert_int_equal(r.n, 2);
  assert_non_null(r.e[0].similarity);
  assert_true(fabs(r.e[0].similarity[0] - want) < 1e-6);
  man_free(&r);
  man_free(&m);
  spk_model_free(&model);
  /* a missing model directory is a clear error */
  char nd[300];
  snprintf(nd, sizeof nd, "%s/no-model", tmp);
  assert_int_equal(spk_scorer_open_model(&s, nd, NULL, &err), TS_EIO);
  assert_non_null(strstr(err.msg, "no-model: no such directory"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_train_separates_speakers),
      cmocka_unit_test(test_score_entry),
      cmocka_unit_test(test_score_manifest),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
