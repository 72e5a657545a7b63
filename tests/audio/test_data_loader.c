/* test_data_loader.c — loader: every good entry once per epoch, the same order whatever the
 * thread count, bad entries (missing, corrupt, wrong-rate audio, callback errors) skipped,
 * counted and named, length bucketing narrows batches, early close frees what is queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data/corpus.h"
#include "data/loader.h"
#include "data/mixspec.h"
#include "data_fixture.h"

static corpus C;
static manifest M;      /* good entries, then 3 bad ones */
static int64_t n_good;

static int setup(void **state) {
  if (fx_mkdtemp("data_loader")) return -1;
  char root[512];
  snprintf(root, sizeof root, "%s/corpus", fx_dir);
  if (fx_corpus(root, 5, 4)) return -1;
  corpus_opts o;
  corpus_opts_default(&o);
  o.no_cache = 1;
  ts_err e = {0};
  if (corpus_open(root, &o, &C, &e)) return -1;
  mix_opts mo;
  mix_opts_default(&mo);
  mo.p_spk[0] = 0.3;
  mo.p_spk[1] = 0.7;
  man_init(&M);
  if (mix_make(&C, &mo, 14, &M, NULL, &e)) return -1;
  n_good = M.n;
  /* bad entries: a missing source, a corrupt source, an 8 kHz enrollment */
  char p[512];
  const char *what[3] = {"missing.flac", "corrupt.flac", "rate8k.wav"};
  snprintf(p, sizeof p, "%s/corrupt.flac", fx_dir);
  FILE *f = fopen(p, "w");
  fprintf(f, "not audio at all");
  fclose(f);
  snprintf(p, sizeof p, "%s/rate8k.wav", fx_dir);
  if (fx_write_voice(p, 3.0, 8000, 150, 0.1, 1)) return -1;
  for (int k = 0; k < 3; k++) {
    man_entry x;
    if (man_entry_copy(&x, &M.e[k], &e)) return -1;
    snprintf(p, sizeof p, "%s/%s", fx_dir, what[k]);
    char id[64];
    snprintf(id, sizeof id, "bad-%d", k);
    free(x.id);
    x.id = strdup(id);
    if (k < 2) {
      free(x.src[0].path);
      x.src[0].path = strdup(p);
    } else {
      free(x.enroll.path);
      x.enroll.path = strdup(p);
    }
    if (man_take(&M, &x, &e)) return -1;
  }
  return 0;
}
static int teardown(void **state) {
  man_free(&M);
  corpus_free(&C);
  return fx_rmdir();
}

/* Runs a loader over M and records the entry order; returns the count. */
static int64_t run(int threads, int queue, int batch, int bucket, int64_t epochs, uint64_t seed,
                   int64_t *order, loader_stats *st, double *spread) {
  loader_opts o;
  loader_opts_default(&o);
  o.threads = threads;
  o.queue = queue;
  o.batch = batch;
  o.bucket = bucket;
  o.epochs = epochs;
  o.seed = seed;
  loader *L;
  ts_err e = {0};
  assert_int_equal(loader_open(&M, &o, &L, &e), TS_OK);
  int64_t n = 0;
  double sp = 0;
  int nb = 0;
  for (;;) {
    loader_batch b;
    assert_int_equal(loader_next(L, &b, &e), TS_OK);
    if (!b.n) {
      loader_batch_free(L, &b);
      break;
    }
    assert_true(b.n <= batch);
    double lo = 1e9, hi = 0;
    for (int i = 0; i < b.n; i++) {
      const sample *s = b.items[i];
      assert_non_null(s->wave);
      assert_ptr_equal(s->entry, b.entries[i]);
      order[n++] = b.entries[i] - M.e;
      lo = fmin(lo, b.entries[i]->duration);
      hi = fmax(hi, b.entries[i]->duration);
    }
    if (b.n == batch) {
      sp += hi - lo;
      nb++;
    }
    loader_batch_free(L, &b);
  }
  loader_stats_get(L, st);
  loader_close(L);
  if (spread) *spread = nb ? sp / nb : 0;
  return n;
}

static void test_order_and_skips(void **state) {
  int64_t a[256], b[256];
  loader_stats sa, sb;
  fx_log_start();
  int64_t na = run(1, 4, 3, 0, 2, 7, a, &sa, NULL);
  fx_log_stop();
  log_set_level(LOG_ERROR);
  int64_t nb = run(3, 5, 3, 0, 2, 7, b, &sb, NULL);
  log_set_level(LOG_WARN);
  assert_int_equal(na, 2 * n_good);
  assert_int_equal(nb, na);
  assert_memory_equal(a, b, sizeof(int64_t) * (size_t)na); /* thread count does not matter */
  assert_int_equal(sa.n_ok, na);
  assert_int_equal(sa.n_skipped, 6); /* 3 bad entries x 2 epochs */
  assert_int_equal(sa.n_names, 6);
  /* each epoch: every good entry once */
  for (int ep = 0; ep < 2; ep++) {
    int seen[256] = {0};
    for (int64_t i = 0; i < n_good; i++) seen[a[ep * n_good + i]]++;
    for (int64_t i = 0; i < n_good; i++) assert_int_equal(seen[i], 1);
  }
  assert_true(memcmp(a, a + n_good, sizeof(int64_t) * (size_t)n_good) != 0); /* reshuffled */
  /* the skipped ones are named with their files */
  const char *files[3] = {"missing.flac", "corrupt.flac", "rate8k.wav"};
  for (int k = 0; k < 3; k++) {
    char id[32];
    snprintf(id, sizeof id, "bad-%d", k);
    int found = 0;
    for (int i = 0; i < sa.n_names; i++) found |= strstr(sa.names[i], id) && strstr(sa.names[i], files[k]);
    if (!found) fail_msg("%s (%s) not among the skipped", id, files[k]);
    assert_non_null(strstr(fx_log, files[k]));
  }
  /* another seed, another order */
  int64_t c[256];
  loader_stats sc;
  log_set_level(LOG_ERROR);
  run(2, 4, 3, 0, 1, 8, c, &sc, NULL);
  log_set_level(LOG_WARN);
  assert_true(memcmp(a, c, sizeof(int64_t) * (size_t)n_good) != 0);
}

static void test_bucketing(void **state) {
  int64_t a[256];
  loader_stats s;
  double plain, bucketed;
  log_set_level(LOG_ERROR);
  run(2, 8, 4, 0, 3, 1, a, &s, &plain);
  run(2, 8, 4, 8, 3, 1, a, &s, &bucketed);
  log_set_level(LOG_WARN);
  printf("mean duration spread in a batch: %.3f s plain, %.3f s bucketed\n", plain, bucketed);
  assert_true(bucketed < plain);
}

typedef struct cbstate {
  int calls;
} cbstate;

static int to_len(sample *s, const man_entry *x, void *user, void **item, ts_err *e) {
  (void)user;
  if (x->n_src == 1) return err_set(e, TS_EARG, "single-speaker entries are refused here");
  int64_t *v = malloc(sizeof *v);
  *v = s->n;
  *item = v;
  return TS_OK;
}
static void free_len(void *item, void *user) { free(item); }

static void test_callback_and_close(void **state) {
  loader_opts o;
  loader_opts_default(&o);
  o.fn = to_len;
  o.free_fn = free_len;
  o.batch = 4;
  o.threads = 2;
  o.shuffle = 0;
  loader *L;
  ts_err e = {0};
  log_set_level(LOG_ERROR);
  assert_int_equal(loader_open(&M, &o, &L, &e), TS_OK);
  int64_t n = 0, single = 0;
  for (int64_t i = 0; i < n_good; i++) single += M.e[i].n_src == 1;
  for (;;) {
    loader_batch b;
    assert_int_equal(loader_next(L, &b, &e), TS_OK);
    if (!b.n) {
      loader_batch_free(L, &b);
      break;
    }
    for (int i = 0; i < b.n; i++) {
      int64_t v = *(int64_t *)b.items[i];
      double want = b.entries[i]->duration + b.entries[i]->enroll.duration + 3.0;
      assert_true(fabs(v / 16000.0 - want) < 1e-3);
      assert_true(b.entries[i]->n_src > 1);
    }
    n += b.n;
    loader_batch_free(L, &b);
  }
  loader_stats st;
  loader_stats_get(L, &st);
  loader_close(L);
  assert_int_equal(n, n_good - single);
  assert_int_equal(st.n_skipped, single + 3);
  assert_true(single > 0);
  /* endless loader closed after two batches: queued items are freed (ASan checks) */
  loader_opts_default(&o);
  o.epochs = 0;
  o.queue = 6;
  o.batch = 2;
  assert_int_equal(loader_open(&M, &o, &L, &e), TS_OK);
  for (int k = 0; k < 2; k++) {
    loader_batch b;
    assert_int_equal(loader_next(L, &b, &e), TS_OK);
    assert_int_equal(b.n, 2);
    loader_batch_free(L, &b);
  }
  loader_close(L);
  log_set_level(LOG_WARN);
  /* an empty manifest is an error */
  manifest empty;
  man_init(&empty);
  assert_int_equal(loader_open(&empty, NULL, &L, &e), TS_EARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_and_skips),
      cmocka_unit_test(test_bucketing),
      cmocka_unit_test(test_callback_and_close),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
