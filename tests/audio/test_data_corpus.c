/* test_data_corpus.c — corpus index of a LibriSpeech-layout tree: speakers and genders from
 * SPEAKERS.TXT (comments, "|" columns), durations from the headers, the on-disk cache and its
 * invalidation, and each bad input (missing audio, corrupt audio, wrong sample rate, bad
 * transcript line, bad SPEAKERS.TXT line, single-utterance speaker) named with file and line,
 * counted, skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data/corpus.h"
#include "data/mixspec.h"
#include "data_fixture.h"

static int setup(void **state) { return fx_mkdtemp("data_corpus"); }
static int teardown(void **state) { return fx_rmdir(); }

static void opts_for(corpus_opts *o, const char *cache) {
  corpus_opts_default(o);
  o->cache_dir = cache;
}

static void test_index_and_cache(void **state) {
  char root[512], cache[512];
  snprintf(root, sizeof root, "%s/good", fx_dir);
  snprintf(cache, sizeof cache, "%s/cache", fx_dir);
  assert_int_equal(fx_corpus(root, 3, 3), 0);
  corpus_opts o;
  opts_for(&o, cache);
  corpus c;
  ts_err e = {0};
  fx_log_start();
  assert_int_equal(corpus_open(root, &o, &c, &e), TS_OK);
  fx_log_stop();
  assert_int_equal(fx_nlog, 0);
  assert_int_equal(c.n_skipped, 0);
  assert_int_equal(c.n_spks, 3);
  assert_int_equal(c.n_utts, 9);
  assert_int_equal(c.n_probed, 9);
  assert_true(c.cache_written);
  for (int s = 0; s < 3; s++) {
    char id[16];
    snprintf(id, sizeof id, "%d", 100 + s);
    int k = corpus_find_spk(&c, id);
    assert_true(k >= 0);
    assert_int_equal(c.spks[k].gender, s % 2 ? 'M' : 'F');
    assert_string_equal(c.spks[k].subset, "test");
    assert_int_equal(strncmp(c.spks[k].name, "Voice ", 6), 0);
    assert_int_equal(c.spks[k].n_utts, 3);
    for (int u = 0; u < 3; u++) {
      char uid[32];
      snprintf(uid, sizeof uid, "%d-1-%04d", 100 + s, u);
      int64_t i = corpus_find_utt(&c, uid);
      assert_true(i >= 0);
      assert_int_equal(c.utts[i].rate, 16000);
      assert_int_equal(c.utts[i].frames, llround(fx_utt_sec(s, u) * 16000));
      assert_true(fabs(c.utts[i].dur - fx_utt_sec(s, u)) < 1e-4);
      assert_int_equal(c.utts[i].line, u + 1);
      assert_non_null(strstr(c.utts[i].text, " "));
    }
  }
  corpus_free(&c);

  /* second open: everything from the cache, nothing rewritten */
  assert_int_equal(corpus_open(root, &o, &c, &e), TS_OK);
  assert_int_equal(c.n_probed, 0);
  assert_int_equal(c.cache_written, 0);
  assert_int_equal(c.n_utts, 9);
  corpus_free(&c);

  /* change one file (another length) and add an utterance: only those are probed */
  char p[1024];
  snprintf(p, sizeof p, "%s/101/1/101-1-0001.flac", root);
  assert_int_equal(fx_write_voice(p, 5.5, 16000, 120, 0.05, 9), 0);
  snprintf(p, sizeof p, "%s/102/1/102-1-0003.flac", root);
  assert_int_equal(fx_write_voice(p, 2.25, 16000, 200, 0.05, 10), 0);
  snprintf(p, sizeof p, "%s/102/1/102-1.trans.txt", root);
  FILE *f = fopen(p, "a");
  fprintf(f, "102-1-0003 A NEW LINE\n");
  fclose(f);
  assert_int_equal(corpus_open(root, &o, &c, &e), TS_OK);
  assert_int_equal(c.n_probed, 2);
  assert_true(c.cache_written);
  assert_int_equal(c.n_utts, 10);
  int64_t i = corpus_find_utt(&c, "101-1-0001");
  assert_int_equal(c.utts[i].frames, 5 * 16000 + 8000);
  i = corpus_find_utt(&c, "102-1-0003");
  assert_int_equal(c.utts[i].frames, 36000);
  assert_string_equal(c.utts[i].text, "A NEW LINE");
  corpus_free(&c);

  /* remove a file: the cache is rewritten without it; the transcript line is reported */
  snprintf(p, sizeof p, "%s/100/1/100-1-0002.flac", root);
  assert_int_equal(unlink(p), 0);
  fx_log_start();
  assert_int_equal(corpus_open(root, &o, &c, &e), TS_OK);
  fx_log_stop();
  assert_int_equal(c.n_probed, 0);
  assert_true(c.cache_written);
  assert_int_equal(c.n_utts, 9);
  assert_int_equal(c.n_skipped, 1);
  snprintf(p, sizeof p, "%s/100/1/100-1.trans.txt:3:", c.root);
  assert_non_null(strstr(fx_log, p));
  corpus_free(&c);

  /* min_dur leaves short utterances out (LibriMix drops < 3 s) */
  o.min_dur = 3.0;
  assert_int_equal(corpus_open(root, &o, &c, &e), TS_OK);
  for (int64_t k = 0; k < c.n_utts; k++) assert_true(c.utts[k].dur >= 3.0);
  assert_true(c.n_short > 0);
  corpus_free(&c);

  /* a folder that does not exist */
  snprintf(p, sizeof p, "%s/absent", fx_dir);
  assert_int_not_equal(corpus_open(p, &o, &c, &e), TS_OK);
  assert_non_null(strstr(e.msg, "absent"));
}

static void expect_log(const char *file_rel_root, const char *root, int line) {
  char want[1200];
  snprintf(want, sizeof want, "%s/%s:%d:", root, file_rel_root, line);
  if (!strstr(fx_log, want)) fail_msg("no \"%s\" in the log:\n%s", want, fx_log);
}

static void test_bad_inputs(void **state) {
  char root[512], cache[512];
  snprintf(root, sizeof root, "%s/bad", fx_dir);
  snprintf(cache, sizeof cache, "%s/cache", fx_dir);
  assert_int_equal(fx_corpus(root, 4, 3), 0);
  char p[1024];
  /* missing audio: a transcript line whose file is not there */
  snprintf(p, sizeof p, "%s/100/1/100-1.trans.txt", root);
  FILE *f = fopen(p, "a");
  fprintf(f, "100-1-0009 NO SUCH AUDIO\n");         /* line 4 */
  fprintf(f, "999-1-0001 WRONG SPEAKER IN ID\n");    /* line 5 */
  fprintf(f, "100-1-0010\n");                        /* line 6: no text */
  fclose(f);
  /* corrupt audio */
  snprintf(p, sizeof p, "%s/101/1/101-1-0001.flac", root);
  f = fopen(p, "w");
  fprintf(f, "fLaC this is not really a flac file at all");
  fclose(f);
  /* wrong sample rate */
  snprintf(p, sizeof p, "%s/102/1/102-1-0002.flac", root);
  assert_int_equal(fx_write_voice(p, 2.0, 8000, 200, 0.05, 3), 0);
  /* bad SPEAKERS.TXT lines */
  snprintf(p, sizeof p, "%s/SPEAKERS.TXT", root);
  f = fopen(p, "a");
  fprintf(f, "this line has no bars\n");  /* line 7 */
  fprintf(f, "555 | X | test | 1 | Nobody\n"); /* line 8 */
  fclose(f);
  /* a speaker with a single utterance */
  snprintf(p, sizeof p, "%s/107/1", root);
  ts_err e = {0};
  assert_int_equal(afile_mkdirs(p, &e), TS_OK);
  snprintf(p, sizeof p, "%s/107/1/107-1-0000.flac", root);
  assert_int_equal(fx_write_voice(p, 3.0, 16000, 110, 0.05, 4), 0);
  snprintf(p, sizeof p, "%s/107/1/107-1.trans.txt", root);
  f = fopen(p, "w");
  fprintf(f, "107-1-0000 ONLY ONE\n");
  fclose(f);

  corpus_opts o;
  opts_for(&o, cache);
  corpus c;
  fx_log_start();
  assert_int_equal(corpus_open(root, &o, &c, &e), TS_OK);
  fx_log_stop();
  expect_log("100/1/100-1.trans.txt", c.root, 4);
  expect_log("100/1/100-1.trans.txt", c.root, 5);
  expect_log("100/1/100-1.trans.txt", c.root, 6);
  expect_log("101/1/101-1.trans.txt", c.root, 2); /* corrupt 101-1-0001 */
  expect_log("102/1/102-1.trans.txt", c.root, 3); /* 8 kHz 102-1-0002 */
  assert_non_null(strstr(fx_log, "sample rate 8000 Hz, expected 16000 Hz"));
  expect_log("SPEAKERS.TXT", c.root, 7);
  expect_log("SPEAKERS.TXT", c.root, 8);
  assert_int_equal(c.n_skipped, 7);
  assert_int_equal(c.n_utts, 4 * 3 - 2 + 1);
  assert_int_equal(corpus_find_utt(&c, "101-1-0001"), -1);
  assert_int_equal(corpus_find_utt(&c, "102-1-0002"), -1);
  /* speaker 107 is not in SPEAKERS.TXT: gender unknown (warned, not skipped) */
  assert_non_null(strstr(fx_log, "speaker 107"));
  assert_int_equal(c.spks[corpus_find_spk(&c, "107")].gender, '?');

  /* the single-utterance speaker: mixtures leave it out and say where it came from */
  mix_opts mo;
  mix_opts_default(&mo);
  manifest m;
  man_init(&m);
  mix_stats st;
  fx_log_start();
  assert_int_equal(mix_make(&c, &mo, 20, &m, &st, &e), TS_OK);
  fx_log_stop();
  assert_int_equal(st.n_single, 1);
  expect_log("107/1/107-1.trans.txt", c.root, 1);
  for (int64_t i = 0; i < m.n; i++)
    for (int k = 0; k < m.e[i].n_src; k++) assert_string_not_equal(m.e[i].src[k].speaker, "107");
  man_free(&m);
  corpus_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_index_and_cache),
      cmocka_unit_test(test_bad_inputs),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
