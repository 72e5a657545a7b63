/* test_data_sample.c — sample assembly: each mixed source lands within 0.1 LU of its target
 * loudness (measured with loud_lufs), the 0.9 peak guard scales all sources together, max/min
 * mode lengths and the timeline are exact to the sample, the enrollment is the crop times its
 * gain, the same seed gives byte-identical manifests and audio, and missing, corrupt and
 * wrong-rate files are errors that name the entry and the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "audio/loudness.h"
#include "data/corpus.h"
#include "data/mixspec.h"
#include "data/sample.h"
#include "data_fixture.h"

static corpus C;
static char root[512];

static int setup(void **state) {
  if (fx_mkdtemp("data_sample")) return -1;
  snprintf(root, sizeof root, "%s/corpus", fx_dir);
  if (fx_corpus(root, 5, 4)) return -1;
  corpus_opts o;
  corpus_opts_default(&o);
  o.no_cache = 1;
  ts_err e = {0};
  return corpus_open(root, &o, &C, &e) ? -1 : 0;
}
static int teardown(void **state) {
  corpus_free(&C);
  return fx_rmdir();
}

static void make(manifest *m, uint64_t seed, int n, double p1, double p2, double p3, double lo,
                 double hi, double off_lo, double off_hi) {
  mix_opts o;
  mix_opts_default(&o);
  o.seed = seed;
  o.p_spk[0] = p1;
  o.p_spk[1] = p2;
  o.p_spk[2] = p3;
  o.lufs_lo = lo;
  o.lufs_hi = hi;
  o.offset_lo = off_lo;
  o.offset_hi = off_hi;
  o.set = "test";
  man_init(m);
  ts_err e = {0};
  assert_int_equal(mix_make(&C, &o, n, m, NULL, &e), TS_OK);
}

static void test_loudness(void **state) {
  manifest m;
  make(&m, 11, 12, 0, 1, 1, -33, -25, 0, 0);
  sample_opts so;
  sample_opts_default(&so);
  so.keep_sources = 1;
  double worst = 0;
  int n_checked = 0;
  for (int64_t i = 0; i < m.n; i++) {
    sample s;
    ts_err e = {0};
    assert_int_equal(sample_build(&m.e[i], &so, &s, &e), TS_OK);
    if (s.guard != 1.0) { /* quiet sources: the guard should not fire here */
      fail_msg("guard fired at %.3f for %s", s.guard, m.e[i].id);
    }
    for (int k = 0; k < s.n_src; k++) {
      int64_t a = (int64_t)llround(m.e[i].src[k].offset * 16000);
      int64_t len = (int64_t)llround(m.e[i].src[k].duration * 16000);
      double l;
      assert_int_equal(loud_lufs(s.src[k] + a, len, 16000, &l, &e), TS_OK);
      double err = fabs(l - m.e[i].src[k].lufs);
      if (err > worst) worst = err;
      n_checked++;
    }
    /* the enrollment too */
    double le;
    assert_int_equal(loud_lufs(s.wave, s.enroll_n, 16000, &le, &e), TS_OK);
    if (fabs(le - m.e[i].enroll.lufs) > worst) worst = fabs(le - m.e[i].enroll.lufs);
    sample_free(&s);
  }
  printf("loudness: %d sources, worst |measured - target| = %.4f LU\n", n_checked, worst);
  assert_true(n_checked >= 24);
  assert_true(worst < 0.1);
  man_free(&m);
}

static void test_peak_guard(void **state) {
  manifest m;
  make(&m, 5, 6, 0, 0, 1, -6, -4, 0, 0); /* loud 3-speaker mixtures: the guard must fire */
  sample_opts so;
  sample_opts_default(&so);
  so.keep_sources = 1;
  int fired = 0;
  for (int64_t i = 0; i < m.n; i++) {
    sample s;
    ts_err e = {0};
    assert_int_equal(sample_build(&m.e[i], &so, &s, &e), TS_OK);
    float pk = (float)loud_peak(s.wave + s.mix_off, s.mix_n);
    assert_true(pk <= 0.9f * (1 + 1e-6f));
    if (s.guard < 1.0) {
      fired++;
      assert_true(fabsf(pk - 0.9f) < 1e-5f);
      /* every source moved by the same amount: 20 log10(guard) */
      double shift = 20 * log10(s.guard);
      for (int k = 0; k < s.n_src; k++) {
        double l;
        int64_t len = (int64_t)llround(m.e[i].src[k].duration * 16000);
        assert_int_equal(loud_lufs(s.src[k], len, 16000, &l, &e), TS_OK);
        if (isnan(s.in_lufs[k])) continue;
        double unguarded = s.in_lufs[k] + 20 * log10(s.gain[k] / s.guard);
        /* before the guard the source was at its target unless the clip rule fired */
        if (fabs(unguarded - m.e[i].src[k].lufs) < 1e-9)
          assert_true(fabs(l - (m.e[i].src[k].lufs + shift)) < 0.1);
      }
    }
    sample_free(&s);
  }
  assert_true(fired > 0);
  man_free(&m);
}

static void test_lengths_and_timeline(void **state) {
  manifest m;
  make(&m, 3, 8, 0, 1, 1, -33, -25, 0.5, 1.5);
  sample_opts so;
  sample_opts_default(&so);
  so.silence = 1.25;
  so.keep_sources = 1;
  for (int64_t i = 0; i < m.n; i++) {
    const man_entry *x = &m.e[i];
    sample s;
    ts_err e = {0};
    assert_int_equal(sample_build(x, &so, &s, &e), TS_OK);
    int64_t mix_n = 0;
    for (int k = 0; k < x->n_src; k++) {
      int64_t u = corpus_find_utt(&C, x->src[k].utt);
      int64_t off = (int64_t)llround(x->src[k].offset * 16000);
      assert_true(fabs(off / 16000.0 - x->src[k].offset) < 1e-12); /* offsets are whole samples */
      if (off + C.utts[u].frames > mix_n) mix_n = off + C.utts[u].frames;
      const sample_span *sp = &s.spans[3 + k];
      assert_int_equal(sp->kind, SPAN_SOURCE);
      assert_true(sp->start == (double)(s.mix_off + off) / 16000);
      assert_true(sp->end == (double)(s.mix_off + off + C.utts[u].frames) / 16000);
      assert_string_equal(sp->speaker, x->src[k].speaker);
      assert_string_equal(sp->text, x->src[k].text);
      assert_int_equal(sp->gender, x->src[k].gender);
    }
    int64_t en = (int64_t)llround(x->enroll.duration * 16000);
    assert_int_equal(s.mix_n, mix_n);
    assert_int_equal(s.enroll_n, en);
    assert_int_equal(s.silence_n, 20000);
    assert_int_equal(s.n, en + 20000 + mix_n);
    assert_true(fabs(s.total - x->duration - (en + 20000) / 16000.0) < 1e-9);
    assert_int_equal(s.n_spans, 3 + x->n_src);
    assert_true(s.spans[0].kind == SPAN_ENROLL && s.spans[0].start == 0 &&
                s.spans[0].end == en / 16000.0);
    assert_true(s.spans[1].kind == SPAN_SILENCE && s.spans[1].start == en / 16000.0 &&
                s.spans[1].end == (en + 20000) / 16000.0);
    assert_true(s.spans[2].kind == SPAN_MIXTURE && s.spans[2].end == s.total);
    assert_int_equal(s.spans[0].gender, x->src[x->target].gender);
    /* silence is silent; the mixture is the sum of the kept sources */
    for (int64_t t = en; t < en + 20000; t++) assert_true(s.wave[t] == 0.0f);
    for (int64_t t = 0; t < mix_n; t += 7) {
      float sum = 0;
      for (int k = 0; k < x->n_src; k++) sum += s.src[k][t];
      assert_true(fabsf(sum - s.wave[s.mix_off + t]) < 1e-6f);
    }
    /* the enrollment is the crop of its file times its gain */
    audio_buf b;
    assert_int_equal(audio_read(x->enroll.path, 0, &b, &e), TS_OK);
    int64_t e0 = (int64_t)llround(x->enroll.start * 16000);
    for (int64_t t = 0; t < en; t += 5)
      assert_true(s.wave[t] == (float)s.enroll_gain * b.samples[e0 + t]);
    audio_free(&b);
    sample_free(&s);
  }
  /* min mode: cut to the shortest */
  man_entry y;
  ts_err e = {0};
  assert_int_equal(man_entry_copy(&y, &m.e[0], &e), TS_OK);
  y.mode = MAN_MODE_MIN;
  sample s;
  assert_int_equal(sample_build(&y, &so, &s, &e), TS_OK);
  int64_t mn = INT64_MAX;
  for (int k = 0; k < y.n_src; k++) {
    int64_t end = llround(y.src[k].offset * 16000) + C.utts[corpus_find_utt(&C, y.src[k].utt)].frames;
    if (end < mn) mn = end;
  }
  assert_int_equal(s.mix_n, mn);
  sample_free(&s);
  /* a shorter enrollment setting crops it */
  so.enroll_max = 1.5;
  assert_int_equal(sample_build(&y, &so, &s, &e), TS_OK);
  assert_int_equal(s.enroll_n, 24000);
  sample_free(&s);
  man_entry_free(&y);
  man_free(&m);
}

static void test_determinism(void **state) {
  char p1[512], p2[512], w1[512], w2[512];
  snprintf(p1, sizeof p1, "%s/m1.jsonl", fx_dir);
  snprintf(p2, sizeof p2, "%s/m2.jsonl", fx_dir);
  snprintf(w1, sizeof w1, "%s/w1.flac", fx_dir);
  snprintf(w2, sizeof w2, "%s/w2.flac", fx_dir);
  manifest a, b;
  make(&a, 99, 6, 0.3, 0.4, 0.3, -33, -25, 0, 1);
  make(&b, 99, 6, 0.3, 0.4, 0.3, -33, -25, 0, 1);
  ts_err e = {0};
  assert_int_equal(man_write(p1, &a, &e), TS_OK);
  assert_int_equal(man_write(p2, &b, &e), TS_OK);
  assert_true(fx_files_equal(p1, p2));
  /* audio from the first run vs audio from the second manifest, read back from disk */
  manifest r;
  man_init(&r);
  assert_int_equal(man_read(p2, &r, &e), TS_OK);
  assert_int_equal(r.n, a.n);
  sample_opts so;
  sample_opts_default(&so);
  for (int64_t i = 0; i < a.n; i++) {
    sample s1, s2;
    assert_int_equal(sample_build(&a.e[i], &so, &s1, &e), TS_OK);
    assert_int_equal(sample_build(&r.e[i], &so, &s2, &e), TS_OK);
    assert_int_equal(s1.n, s2.n);
    assert_memory_equal(s1.wave, s2.wave, sizeof(float) * (size_t)s1.n);
    if (i == 0) {
      assert_int_equal(audio_write(w1, s1.wave, s1.n, 16000, &e), TS_OK);
      assert_int_equal(audio_write(w2, s2.wave, s2.n, 16000, &e), TS_OK);
      assert_true(fx_files_equal(w1, w2));
    }
    sample_free(&s1);
    sample_free(&s2);
  }
  /* another seed gives other mixtures */
  manifest d;
  make(&d, 100, 6, 0.3, 0.4, 0.3, -33, -25, 0, 1);
  assert_int_equal(man_write(p2, &d, &e), TS_OK);
  assert_false(fx_files_equal(p1, p2));
  /* baking the gains reproduces the same audio without loudness measurement */
  manifest k;
  man_init(&k);
  for (int64_t i = 0; i < a.n; i++) assert_int_equal(man_add(&k, &a.e[i], &e), TS_OK);
  int64_t nb;
  assert_int_equal(sample_bake_gains(&k, &so, &nb, &e), TS_OK);
  assert_int_equal(nb, 0);
  for (int64_t i = 0; i < a.n; i++) {
    sample s1, s2;
    assert_int_equal(sample_build(&a.e[i], &so, &s1, &e), TS_OK);
    assert_int_equal(sample_build(&k.e[i], &so, &s2, &e), TS_OK);
    for (int q = 0; q < k.e[i].n_src; q++) assert_false(isnan(k.e[i].src[q].gain));
    assert_int_equal(s1.n, s2.n);
    for (int64_t t = 0; t < s1.n; t++) assert_true(fabsf(s1.wave[t] - s2.wave[t]) < 1e-6f);
    sample_free(&s1);
    sample_free(&s2);
  }
  man_free(&k);
  man_free(&a);
  man_free(&b);
  man_free(&r);
  man_free(&d);
}

static void expect_fail(man_entry *x, const char *path, const char *what) {
  sample s;
  ts_err e = {0};
  sample_opts so;
  sample_opts_default(&so);
  int rc = sample_build(x, &so, &s, &e);
  if (rc == TS_OK) fail_msg("%s: expected an error", what);
  if (!strstr(e.msg, path) || !strstr(e.msg, x->id)) fail_msg("%s: message \"%s\" lacks file or id", what, e.msg);
  assert_null(s.wave);
}

static void test_bad_audio(void **state) {
  manifest m;
  make(&m, 1, 1, 0, 1, 0, -33, -25, 0, 0);
  char p[512];
  ts_err e = {0};
  man_entry x;
  /* missing source */
  assert_int_equal(man_entry_copy(&x, &m.e[0], &e), TS_OK);
  snprintf(p, sizeof p, "%s/missing.flac", fx_dir);
  free(x.src[1].path);
  x.src[1].path = strdup(p);
  expect_fail(&x, p, "missing source");
  man_entry_free(&x);
  /* corrupt source */
  snprintf(p, sizeof p, "%s/corrupt.flac", fx_dir);
  FILE *f = fopen(p, "w");
  fprintf(f, "fLaC garbage garbage garbage");
  fclose(f);
  assert_int_equal(man_entry_copy(&x, &m.e[0], &e), TS_OK);
  free(x.src[0].path);
  x.src[0].path = strdup(p);
  expect_fail(&x, p, "corrupt source");
  man_entry_free(&x);
  /* wrong sample rate (enrollment) */
  snprintf(p, sizeof p, "%s/rate8k.wav", fx_dir);
  assert_int_equal(fx_write_voice(p, 3.0, 8000, 150, 0.1, 1), 0);
  assert_int_equal(man_entry_copy(&x, &m.e[0], &e), TS_OK);
  free(x.enroll.path);
  x.enroll.path = strdup(p);
  expect_fail(&x, p, "8 kHz enrollment");
  /* an enrollment crop past the end of its file */
  free(x.enroll.path);
  x.enroll.path = strdup(m.e[0].src[0].path);
  x.enroll.start = 100;
  expect_fail(&x, m.e[0].src[0].path, "crop past the end");
  man_entry_free(&x);
  man_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_loudness),
      cmocka_unit_test(test_peak_guard),
      cmocka_unit_test(test_lengths_and_timeline),
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_bad_audio),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
