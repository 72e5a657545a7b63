/* test_data_synth.c — synthetic corpus: text normalisation and book sentence extraction, and
 * (when espeak-ng is installed) a tiny corpus written twice with different --jobs is
 * byte-identical, reads back through the corpus index with the right genders and splits, keeps
 * dev/test sentences out of train and held-out voices out of the seen splits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>

#include "data/corpus.h"
#include "data/synth.h"
#include "data/synth_text.h"
#include "data_fixture.h"

static int setup(void **state) { return fx_mkdtemp("data_synth"); }
static int teardown(void **state) { return fx_rmdir(); }

static void test_normalise(void **state) {
  char o[256];
  assert_int_equal(stext_normalise("\"Hello, Tom's  friend--who's there?\" said 'Becky'.", o, sizeof o), 7);
  assert_string_equal(o, "HELLO TOM'S FRIEND WHO'S THERE SAID BECKY");
  assert_int_equal(stext_normalise("Ting-a-ling!", o, sizeof o), 3);
  assert_string_equal(o, "TING A LING");
  assert_int_equal(stext_normalise("in 1876 he", o, sizeof o), -1);   /* digits: not used */
  assert_int_equal(stext_normalise("caf\xc3\xa9 au lait", o, sizeof o), -1); /* non-ASCII */
  stext_for_tts("TOM'S HAT", o, sizeof o);
  assert_string_equal(o, "tom's hat.");
  philox_rng r;
  philox_init(&r, 1, 2);
  for (int i = 0; i < 200; i++) {
    char s[256], n[256];
    stext_grid(&r, s, sizeof s);
    int w = stext_normalise(s, n, sizeof n);
    assert_true(w == 6 || w == 7);
    assert_string_equal(s, n); /* grammar output is already a transcript */
  }
  assert_true(stext_grid_vocab() >= 50 && stext_grid_vocab() <= 300);
}

static void test_book(void **state) {
  char p[512];
  snprintf(p, sizeof p, "%s/book.txt", fx_dir);
  FILE *f = fopen(p, "w");
  fprintf(f, "Produced by Somebody for the Project Gutenberg EBook.\n\n"
             "CHAPTER I\n\n\"TOM!\" No answer. Mr. Smith went to the\nriver with his dog. "
             "She said she would come back soon!\nThere were 12 apples on the old table. "
             "Why did the boy run away so fast? The boy ran.\n\n"
             "She said she would come back soon! A short one here\nand there.\n");
  fclose(f);
  stext_pool pool;
  ts_err e = {0};
  assert_int_equal(stext_book(p, 4, 24, &pool, &e), TS_OK);
  const char *want[] = {"MR SMITH WENT TO THE RIVER WITH HIS DOG", "SHE SAID SHE WOULD COME BACK SOON",
                        "WHY DID THE BOY RUN AWAY SO FAST", "A SHORT ONE HERE AND THERE"};
  assert_int_equal(pool.n, 4);
  for (int i = 0; i < 4; i++) assert_string_equal(pool.s[i], want[i]);
  assert_int_equal(stext_vocab(pool.s, pool.n), 28);
  stext_pool_free(&pool);
  snprintf(p, sizeof p, "%s/nobook.txt", fx_dir);
  assert_int_not_equal(stext_book(p, 4, 24, &pool, &e), TS_OK);
  assert_non_null(strstr(e.msg, "nobook.txt"));
}

/* Compares two trees file by file (names and bytes); returns the number of files. */
static int same_tree(const char *a, const char *b) {
  DIR *d = opendir(a);
  assert_non_null(d);
  struct dirent *de;
  int n = 0;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char pa[1024], pb[1024];
    snprintf(pa, sizeof pa, "%s/%s", a, de->d_name);
    snprintf(pb, sizeof pb, "%s/%s", b, de->d_name);
    struct stat st;
    assert_int_equal(stat(pa, &st), 0);
    if (S_ISDIR(st.st_mode)) {
      n += same_tree(pa, pb);
    } else {
      if (!fx_files_equal(pa, pb)) fail_msg("%s and %s differ", pa, pb);
      n++;
    }
  }
  closedir(d);
  return n;
}

static void test_tiny_corpus(void **state) {
  if (!synth_engine_available(SYNTH_ESPEAK)) {
    printf("espeak-ng not installed: skipped\n");
    skip();
  }
  synth_opts o;
  synth_opts_default(&o);
  o.seed = 5;
  o.voices = 4;
  o.utts_per_voice = 3;
  o.engines = 1u << SYNTH_ESPEAK;
  o.quiet = 1;
  char a[512], b[512];
  snprintf(a, sizeof a, "%s/a", fx_dir);
  snprintf(b, sizeof b, "%s/b", fx_dir);
  synth_report r;
  ts_err e = {0};
  assert_int_equal(synth_run(a, &o, &r, &e), TS_OK);
  printf("synth: %lld utterances in %.2f s: %.1f utterances/s\n", (long long)r.n_utts, r.wall_sec, r.utts_per_sec);
  assert_int_equal(r.n_voices, 4);
  assert_int_equal(r.n_unseen, 1);
  /* seen voices: 3 train + 2 dev-seen + 2 test-seen; the held-out voice: 2 */
  assert_int_equal(r.n_utts, 3 * 7 + 2);
  o.jobs = 2;
  assert_int_equal(synth_run(b, &o, &r, &e), TS_OK);
  int files = same_tree(a, b);
  assert_true(files >= 23 + 2);
  /* writing into a non-empty folder needs force */
  assert_int_equal(synth_run(a, &o, &r, &e), TS_EARG);

  /* read it back as a corpus */
  corpus c;
  corpus_opts co;
  corpus_opts_default(&co);
  co.no_cache = 1;
  fx_log_start();
  assert_int_equal(corpus_open(a, &co, &c, &e), TS_OK);
  fx_log_stop();
  assert_int_equal(fx_nlog, 0);
  assert_int_equal(c.n_skipped, 0);
  assert_int_equal(c.n_utts, 23);
  assert_int_equal(c.n_spks, 4);
  int nv;
  const synth_voice *tab = synth_voice_table(&nv);
  assert_true(nv >= 40);
  int unseen_spk = -1;
  for (int s = 0; s < c.n_spks; s++) {
    int id = atoi(c.spks[s].id);
    assert_true(id >= 1000 && id < 1000 + nv);
    assert_int_equal(c.spks[s].gender, tab[id - 1000].gender);
    if (strstr(c.spks[s].subset, "unseen")) unseen_spk = s;
  }
  assert_true(unseen_spk >= 0);
  /* held-out voice only in unseen splits; dev/test sentences never in train */
  for (int64_t i = 0; i < c.n_utts; i++) {
    const char *path = c.utts[i].path;
    int in_train = strstr(path, "/train/") != NULL;
    if (c.utts[i].spk == unseen_spk) assert_null(strstr(path, "-seen/"));
    if (c.utts[i].spk == unseen_spk) assert_false(in_train);
    assert_true(c.utts[i].dur > 0.5 && c.utts[i].dur < 10);
    assert_int_equal(c.utts[i].rate, 16000);
    if (in_train) continue;
    for (int64_t j = 0; j < c.n_utts; j++)
      if (strstr(c.utts[j].path, "/train/")) assert_string_not_equal(c.utts[i].text, c.utts[j].text);
  }
  corpus_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normalise),
      cmocka_unit_test(test_book),
      cmocka_unit_test(test_tiny_corpus),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
