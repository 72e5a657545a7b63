/* test_mixspec.c — seeded mixture specs on a hand-built corpus index: determinism, every
 * speaker the target in turn, distinct speakers, enrollment from another utterance of the
 * target, crops inside the file, loudness and offset ranges, 1/2/3-speaker proportions, and
 * single-utterance speakers left out with a warning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "data/corpus.h"
#include "data/mixspec.h"

static char logbuf[1 << 14];
static int nlog;
static void sink(log_level lv, const char *msg, void *user) {
  (void)user;
  if (lv < LOG_WARN) return;
  size_t l = strlen(logbuf);
  snprintf(logbuf + l, sizeof logbuf - l, "%s\n", msg);
  nlog++;
}

/* n_spk speakers with n_utt utterances, plus speaker "lonely" with one. */
static void build(corpus *c, int n_spk, int n_utt) {
  ts_err e = {0};
  corpus_init(c, "/corpus");
  for (int s = 0; s < n_spk; s++) {
    char id[32];
    snprintf(id, sizeof id, "%d", 200 + s);
    assert_int_equal(corpus_add_speaker(c, id, s % 2 ? 'M' : 'F', "train", &e), TS_OK);
    for (int k = 0; k < n_utt; k++) {
      char u[64], p[128], t[64];
      snprintf(u, sizeof u, "%d-7-%04d", 200 + s, k);
      snprintf(p, sizeof p, "/corpus/%d/7/%s.flac", 200 + s, u);
      snprintf(t, sizeof t, "WORD %d %d", s, k);
      int64_t frames = 16000 * 2 + 4000 * k + 100 * s; /* 2.0 s and up */
      assert_int_equal(corpus_add_utt(c, u, id, p, t, frames, 16000, &e), TS_OK);
    }
  }
  assert_int_equal(corpus_add_speaker(c, "lonely", 'M', NULL, &e), TS_OK);
  assert_int_equal(corpus_add_utt(c, "lonely-1-0000", "lonely", "/corpus/lonely.flac", "ALONE",
                                  48000, 16000, &e),
                   TS_OK);
  assert_int_equal(corpus_finish(c, &e), TS_OK);
}

static char *dump(const manifest *m) {
  size_t cap = 1 << 20, len = 0;
  char *s = malloc(cap);
  s[0] = 0;
  for (int64_t i = 0; i < m->n; i++) {
    char *line;
    ts_err e = {0};
    assert_int_equal(man_entry_to_json(&m->e[i], &line, &e), TS_OK);
    size_t l = strlen(line);
    if (len + l + 2 > cap) {
      cap = 2 * (len + l + 2);
      s = realloc(s, cap);
    }
    memcpy(s + len, line, l);
    len += l;
    s[len++] = '\n';
    s[len] = 0;
    free(line);
  }
  return s;
}

static void test_determinism(void **state) {
  corpus c;
  build(&c, 6, 5);
  mix_opts o;
  mix_opts_default(&o);
  o.seed = 42;
  o.p_spk[0] = 0.2;
  o.p_spk[1] = 0.5;
  o.p_spk[2] = 0.3;
  o.set = "train";
  ts_err e = {0};
  manifest a, b, p, d;
  man_init(&a);
  man_init(&b);
  man_init(&p);
  man_init(&d);
  log_set_level(LOG_ERROR);
  assert_int_equal(mix_make(&c, &o, 40, &a, NULL, &e), TS_OK);
  assert_int_equal(mix_make(&c, &o, 40, &b, NULL, &e), TS_OK);
  assert_int_equal(mix_make(&c, &o, 10, &p, NULL, &e), TS_OK);
  o.seed = 43;
  assert_int_equal(mix_make(&c, &o, 40, &d, NULL, &e), TS_OK);
  log_set_level(LOG_WARN);
  char *sa = dump(&a), *sb = dump(&b), *sp = dump(&p), *sd = dump(&d);
  assert_string_equal(sa, sb);                          /* same seed: same bytes */
  assert_int_equal(strncmp(sa, sp, strlen(sp)), 0);     /* first mixtures do not depend on n */
  assert_true(strcmp(sa, sd) != 0);                     /* another seed: other mixtures */
  free(sa);
  free(sb);
  free(sp);
  free(sd);
  man_free(&a);
  man_free(&b);
  man_free(&p);
  man_free(&d);
  corpus_free(&c);
}

static void test_properties(void **state) {
  corpus c;
  build(&c, 8, 6);
  mix_opts o;
  mix_opts_default(&o);
  o.seed = 7;
  o.p_spk[0] = 1;
  o.p_spk[1] = 2;
  o.p_spk[2] = 1;
  o.offset_lo = 0.5;
  o.offset_hi = 1.5;
  o.enroll_dur = 3.0;
  ts_err e = {0};
  manifest m;
  man_init(&m);
  mix_stats st;
  logbuf[0] = 0;
  nlog = 0;
  log_set_sink(sink, NULL);
  const int64_t N = 400;
  assert_int_equal(mix_make(&c, &o, N, &m, &st, &e), TS_OK);
  log_set_sink(NULL, NULL);
  /* the single-utterance speaker is named, with where its utterance came from */
  assert_int_equal(st.n_single, 1);
  assert_int_equal(nlog, 1);
  assert_non_null(strstr(logbuf, "lonely"));
  assert_non_null(strstr(logbuf, "/corpus/lonely.flac"));
  assert_int_equal(st.n_mix, N);
  assert_int_equal(st.n_entries, m.n);
  int count[4] = {0};
  int64_t i = 0;
  while (i < m.n) {
    const man_entry *x = &m.e[i];
    int k = x->n_src;
    count[k]++;
    /* k consecutive entries: the same sources, targets 0..k-1 */
    for (int t = 0; t < k; t++) {
      const man_entry *y = &m.e[i + t];
      assert_int_equal(y->target, t);
      assert_int_equal(y->n_src, k);
      for (int j = 0; j < k; j++) {
        assert_string_equal(y->src[j].path, x->src[j].path);
        assert_true(y->src[j].lufs == x->src[j].lufs);
        assert_true(y->src[j].offset == x->src[j].offset);
      }
      /* enrollment: same speaker as the target, another utterance, crop inside the file */
      const man_source *ts = &y->src[t];
      assert_string_equal(y->enroll.speaker, ts->speaker);
      assert_string_not_equal(y->enroll.utt, ts->utt);
      int64_t eu = corpus_find_utt(&c, y->enroll.utt);
      assert_true(eu >= 0);
      double edur = c.utts[eu].dur;
      assert_true(y->enroll.start >= 0);
      assert_true(y->enroll.start + y->enroll.duration <= edur + 1e-9);
      assert_true(fabs(y->enroll.duration - fmin(3.0, edur)) < 1e-9);
      assert_true(y->enroll.lufs >= -33 && y->enroll.lufs <= -25);
      /* the id says mixture and target */
      char suf[16];
      snprintf(suf, sizeof suf, "-s%d", t + 1);
      assert_non_null(strstr(y->id, suf));
    }
    double dur = 0;
    for (int j = 0; j < k; j++) {
      assert_true(x->src[j].lufs >= -33 && x->src[j].lufs <= -25);
      if (j == 0)
        assert_true(x->src[j].offset == 0);
      else
        assert_true(x->src[j].offset >= 0.5 && x->src[j].offset <= 1.5);
      for (int q = 0; q < j; q++) assert_string_not_equal(x->src[j].speaker, x->src[q].speaker);
      assert_string_not_equal(x->src[j].speaker, "lonely");
      int64_t u = corpus_find_utt(&c, x->src[j].utt);
      assert_true(u >= 0);
      assert_int_equal(x->src[j].gender, c.spks[c.utts[u].spk].gender);
      assert_string_equal(x->src[j].text, c.utts[u].text);
      dur = fmax(dur, x->src[j].offset + c.utts[u].dur);
    }
    assert_true(fabs(x->duration - dur) < 1e-12);
    i += k;
  }
  assert_int_equal(i, m.n);
  /* proportions 1:2:1 within a generous band */
  assert_in_range(count[1], N / 4 - 50, N / 4 + 50);
  assert_in_range(count[2], N / 2 - 60, N / 2 + 60);
  assert_in_range(count[3], N / 4 - 50, N / 4 + 50);
  man_free(&m);
  corpus_free(&c);
}

static void test_one_target(void **state) {
  corpus c;
  build(&c, 4, 3);
  mix_opts o;
  mix_opts_default(&o);
  o.all_targets = 0;
  ts_err e = {0};
  manifest m;
  man_init(&m);
  log_set_level(LOG_ERROR);
  assert_int_equal(mix_make(&c, &o, 50, &m, NULL, &e), TS_OK);
  assert_int_equal(m.n, 50);
  int seen[2] = {0};
  for (int64_t i = 0; i < m.n; i++) seen[m.e[i].target]++;
  assert_true(seen[0] > 5 && seen[1] > 5);
  man_free(&m);
  /* not enough speakers for 3-speaker mixtures: a clear error */
  corpus small;
  build(&small, 2, 3);
  mix_opts_default(&o);
  o.p_spk[1] = 0;
  o.p_spk[2] = 1;
  man_init(&m);
  assert_int_equal(mix_make(&small, &o, 5, &m, NULL, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "3-speaker"));
  log_set_level(LOG_WARN);
  man_free(&m);
  corpus_free(&small);
  corpus_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_properties),
      cmocka_unit_test(test_one_target),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
