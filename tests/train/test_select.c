/* test_select.c — RL data selection: error-only takes every format error first, then wrong
 * transcripts, never correct ones; balanced keeps correct : error = 1 : 5; random; the same
 * seed gives the same choice, another seed another; the order of the decode file does not
 * matter; ids and manifest subsets are written as chosen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "infer/decode_rec.h"
#include "train/select.h"

/* The synthetic decode: ids utt-0000..utt-0629; id i is a format error when i % 21 == 0,
 * else wrong when i % 3 == 0, else correct. Counted: multiples of 21 (0, 21, ..., 609): 30. Of the other 600, those with
 * i % 3 == 0 are wrong: multiples of 3 below 630 are 210, minus the 30 multiples of 21 = 180
 * wrong; the remaining 600 - 180 = 420 are correct. */
#define N_ALL 630
#define N_FMT 30
#define N_WRONG 180
#define N_OK 420

static char g_dir[64];

static int setup_dir(void **st) {
  (void)st;
  snprintf(g_dir, sizeof g_dir, "/tmp/tsasr_sel_XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown_dir(void **st) {
  (void)st;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

static sel_cat want_cat(int i) {
  if (i % 21 == 0) return SEL_FORMAT;
  return i % 3 == 0 ? SEL_WRONG : SEL_CORRECT;
}

static void make_rec(int i, drec *r) {
  char id[32];
  snprintf(id, sizeof id, "utt-%04d", i);
  const char *raw;
  sel_cat c = want_cat(i);
  if (c == SEL_FORMAT) raw = "<think>cut off";
  else if (c == SEL_WRONG) raw = "<think></think><answer>a b x</answer>";
  else raw = "<think></think><answer>a b c</answer>";
  assert_int_equal(drec_from_output(id, i % 2 ? "train-2mix" : "train-3mix", "a b c", raw, strlen(raw), r, NULL),
                   TS_OK);
}

/* Writes the decode in forward or reverse order. */
static void write_decode(const char *path, int reverse) {
  drec_writer w;
  assert_int_equal(drec_writer_open(&w, path, 0, NULL), TS_OK);
  for (int k = 0; k < N_ALL; k++) {
    drec r;
    make_rec(reverse ? N_ALL - 1 - k : k, &r);
    assert_int_equal(drec_writer_put(&w, &r, NULL), TS_OK);
    drec_free(&r);
  }
  assert_int_equal(drec_writer_close(&w, NULL), TS_OK);
}

static void make_pool(sel_pool *p) {
  assert_int_equal(sel_pool_init(p, NULL), TS_OK);
  for (int i = 0; i < N_ALL; i++) {
    drec r;
    make_rec(i, &r);
    assert_int_equal(sel_pool_add(p, &r, NULL), TS_OK);
    drec_free(&r);
  }
}

static int id_num(const char *id) { return atoi(id + 4); }

/* Checks that the chosen items have the category the report says and no id twice. */
static void check_result(const sel_pool *p, const sel_result *r) {
  int64_t cnt[SEL_NCAT] = {0};
  char seen[N_ALL] = {0};
  for (size_t i = 0; i < r->n; i++) {
    const sel_item *it = &p->v[r->idx[i]];
    int k = id_num(it->id);
    assert_int_equal(it->cat, want_cat(k));
    assert_int_equal(seen[k], 0);
    seen[k] = 1;
    cnt[it->cat]++;
  }
  for (int c = 0; c < SEL_NCAT; c++) assert_int_equal(cnt[c], r->chosen[c]);
  assert_int_equal(r->avail[SEL_FORMAT], N_FMT);
  assert_int_equal(r->avail[SEL_WRONG], N_WRONG);
  assert_int_equal(r->avail[SEL_CORRECT], N_OK);
}

static void test_categories(void **st) {
  (void)st;
  sel_pool p;
  make_pool(&p);
  assert_int_equal(p.n, N_ALL);
  int64_t cnt[SEL_NCAT] = {0};
  for (size_t i = 0; i < p.n; i++) cnt[p.v[i].cat]++;
  assert_int_equal(cnt[SEL_FORMAT], N_FMT);
  assert_int_equal(cnt[SEL_WRONG], N_WRONG);
  assert_int_equal(cnt[SEL_CORRECT], N_OK);
  sel_pool_free(&p);
}

static void test_error_only(void **st) {
  (void)st;
  sel_pool p;
  make_pool(&p);
  sel_result r;
  /* size 100: all 30 format errors, then 70 wrong, no correct */
  assert_int_equal(sel_choose(&p, SEL_ERROR_ONLY, 100, 7, &r, NULL), TS_OK);
  check_result(&p, &r);
  assert_int_equal(r.n, 100);
  assert_int_equal(r.chosen[SEL_FORMAT], 30);
  assert_int_equal(r.chosen[SEL_WRONG], 70);
  assert_int_equal(r.chosen[SEL_CORRECT], 0);
  for (size_t i = 0; i < 30; i++) assert_int_equal(p.v[r.idx[i]].cat, SEL_FORMAT); /* first */
  sel_result_free(&r);
  /* size 20 < 30 format errors: only format errors */
  assert_int_equal(sel_choose(&p, SEL_ERROR_ONLY, 20, 7, &r, NULL), TS_OK);
  check_result(&p, &r);
  assert_int_equal(r.n, 20);
  assert_int_equal(r.chosen[SEL_FORMAT], 20);
  sel_result_free(&r);
  /* size beyond the errors: every error (30 + 180), still no correct one */
  assert_int_equal(sel_choose(&p, SEL_ERROR_ONLY, 1000, 7, &r, NULL), TS_OK);
  check_result(&p, &r);
  assert_int_equal(r.n, 210);
  assert_int_equal(r.chosen[SEL_CORRECT], 0);
  sel_result_free(&r);
  /* size 0 */
  assert_int_equal(sel_choose(&p, SEL_ERROR_ONLY, 0, 7, &r, NULL), TS_OK);
  assert_int_equal(r.n, 0);
  sel_result_free(&r);
  ts_err e = {0};
  assert_int_equal(sel_choose(&p, SEL_ERROR_ONLY, -1, 7, &r, &e), TS_EARG);
  sel_pool_free(&p);
}

static void test_balanced(void **st) {
  (void)st;
  sel_pool p;
  make_pool(&p);
  /* for sizes the pool can fill, c = round(N/6) correct and N - c errors */
  int64_t sizes[] = {6, 60, 100, 119, 120, 121, 200, 250};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    int64_t n = sizes[k];
    sel_result r;
    assert_int_equal(sel_choose(&p, SEL_BALANCED, n, 3, &r, NULL), TS_OK);
    check_result(&p, &r);
    int64_t c = r.chosen[SEL_CORRECT], err = r.chosen[SEL_FORMAT] + r.chosen[SEL_WRONG];
    assert_int_equal((int64_t)r.n, n);
    assert_int_equal(c + err, n);
    if (fabs((double)c - (double)n / 6.0) > 1.0)
      fail_msg("size %lld: %lld correct, %lld errors is not 1:5 within 1", (long long)n, (long long)c,
               (long long)err);
    /* errors: format errors first */
    assert_int_equal(r.chosen[SEL_FORMAT], err < N_FMT ? err : N_FMT);
    sel_result_free(&r);
  }
  /* size 600 but only 210 errors: the largest T with T - round(T/6) <= 210 is T = 252
   * (c = round(252/6) = 42, 210 errors; T = 253 would need c = 42 and 211 errors) */
  sel_result r;
  assert_int_equal(sel_choose(&p, SEL_BALANCED, 600, 3, &r, NULL), TS_OK);
  check_result(&p, &r);
  assert_int_equal(r.n, 252);
  assert_int_equal(r.chosen[SEL_CORRECT], 42);
  assert_int_equal(r.chosen[SEL_FORMAT] + r.chosen[SEL_WRONG], 210);
  sel_result_free(&r);
  sel_pool_free(&p);
}

static void test_random(void **st) {
  (void)st;
  sel_pool p;
  make_pool(&p);
  sel_result r;
  assert_int_equal(sel_choose(&p, SEL_RANDOM, 63, 11, &r, NULL), TS_OK);
  check_result(&p, &r);
  assert_int_equal(r.n, 63);
  sel_result_free(&r);
  /* over 200 seeds, a uniform draw of 63 of 630 holds on average 63 * 420/630 = 42 correct,
   * 18 wrong and 3 format errors; the mean over 200 draws is within +-2 of that (the
   * standard error of the correct count's mean is about sqrt(63*(2/3)*(1/3)*0.9/200) = 0.25) */
  double mean[SEL_NCAT] = {0};
  for (uint64_t seed = 1; seed <= 200; seed++) {
    assert_int_equal(sel_choose(&p, SEL_RANDOM, 63, seed, &r, NULL), TS_OK);
    for (int c = 0; c < SEL_NCAT; c++) mean[c] += (double)r.chosen[c] / 200.0;
    sel_result_free(&r);
  }
  assert_true(fabs(mean[SEL_CORRECT] - 42.0) < 2.0);
  assert_true(fabs(mean[SEL_WRONG] - 18.0) < 2.0);
  assert_true(fabs(mean[SEL_FORMAT] - 3.0) < 1.0);
  /* more than the pool: everything */
  assert_int_equal(sel_choose(&p, SEL_RANDOM, 5000, 11, &r, NULL), TS_OK);
  assert_int_equal(r.n, N_ALL);
  sel_result_free(&r);
  sel_pool_free(&p);
}

/* The ids chosen, joined, for comparing selections. */
static char *joined(const sel_pool *p, const sel_result *r) {
  size_t cap = r->n * 12 + 1;
  char *s = calloc(cap, 1);
  assert_non_null(s);
  for (size_t i = 0; i < r->n; i++) {
    strcat(s, p->v[r->idx[i]].id);
    strcat(s, ",");
  }
  return s;
}

static void test_seed_and_order(void **st) {
  (void)st;
  char fwd[128], rev[128];
  snprintf(fwd, sizeof fwd, "%s/fwd.jsonl", g_dir);
  snprintf(rev, sizeof rev, "%s/rev.jsonl", g_dir);
  write_decode(fwd, 0);
  write_decode(rev, 1);
  sel_pool a, b;
  ts_err e = {0};
  assert_int_equal(sel_pool_init(&a, &e), TS_OK);
  assert_int_equal(sel_pool_init(&b, &e), TS_OK);
  assert_int_equal(sel_pool_load(&a, fwd, &e), TS_OK);
  assert_int_equal(sel_pool_load(&b, rev, &e), TS_OK);
  assert_string_equal(a.v[0].id, "utt-0000");
  assert_string_equal(b.v[0].id, "utt-0629");
  sel_mode modes[] = {SEL_ERROR_ONLY, SEL_BALANCED, SEL_RANDOM};
  for (int m = 0; m < 3; m++) {
    sel_result r1, r2, r3, r4;
    assert_int_equal(sel_choose(&a, modes[m], 100, 42, &r1, &e), TS_OK);
    assert_int_equal(sel_choose(&a, modes[m], 100, 42, &r2, &e), TS_OK);
    assert_int_equal(sel_choose(&a, modes[m], 100, 43, &r3, &e), TS_OK);
    assert_int_equal(sel_choose(&b, modes[m], 100, 42, &r4, &e), TS_OK);
    char *s1 = joined(&a, &r1), *s2 = joined(&a, &r2), *s3 = joined(&a, &r3), *s4 = joined(&b, &r4);
    assert_string_equal(s1, s2);                /* same seed: the same */
    if (!strcmp(s1, s3)) fail_msg("%s: seeds 42 and 43 chose the same", sel_mode_name(modes[m]));
    assert_string_equal(s1, s4);                /* reversed file: the same, in the same order */
    free(s1);
    free(s2);
    free(s3);
    free(s4);
    sel_result_free(&r1);
    sel_result_free(&r2);
    sel_result_free(&r3);
    sel_result_free(&r4);
  }
  sel_pool_free(&a);
  sel_pool_free(&b);
}

static void test_duplicates(void **st) {
  (void)st;
  sel_pool p;
  assert_int_equal(sel_pool_init(&p, NULL), TS_OK);
  const char *ok = "<think></think><answer>a</answer>";
  drec r;
  log_level old = log_get_level();
  log_set_level(LOG_ERROR);
  /* x: correct, then a format error -> format error; y: format error, then correct -> format */
  assert_int_equal(drec_from_output("x", "s", "a", ok, strlen(ok), &r, NULL), TS_OK);
  assert_int_equal(sel_pool_add(&p, &r, NULL), TS_OK);
  drec_free(&r);
  assert_int_equal(drec_from_output("x", "s", "a", "bad", 3, &r, NULL), TS_OK);
  assert_int_equal(sel_pool_add(&p, &r, NULL), TS_OK);
  drec_free(&r);
  assert_int_equal(drec_from_output("y", "s", "a", "bad", 3, &r, NULL), TS_OK);
  assert_int_equal(sel_pool_add(&p, &r, NULL), TS_OK);
  drec_free(&r);
  assert_int_equal(drec_from_output("y", "s", "a", ok, strlen(ok), &r, NULL), TS_OK);
  assert_int_equal(sel_pool_add(&p, &r, NULL), TS_OK);
  drec_free(&r);
  log_set_level(old);
  assert_int_equal(p.n, 2);
  assert_int_equal(p.dups, 2);
  assert_int_equal(p.v[0].cat, SEL_FORMAT);
  assert_int_equal(p.v[1].cat, SEL_FORMAT);
  sel_pool_free(&p);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  return strdup(buf);
}

static void test_write_ids_and_manifest(void **st) {
  (void)st;
  sel_pool p;
  make_pool(&p);
  sel_result r;
  ts_err e = {0};
  assert_int_equal(sel_choose(&p, SEL_ERROR_ONLY, 40, 5, &r, &e), TS_OK);
  char ids[128], man[128], sub[128];
  snprintf(ids, sizeof ids, "%s/ids.jsonl", g_dir);
  snprintf(man, sizeof man, "%s/manifest.jsonl", g_dir);
  snprintf(sub, sizeof sub, "%s/subset.jsonl", g_dir);
  assert_int_equal(sel_write_ids(&p, &r, ids, &e), TS_OK);
  char *text = slurp(ids);
  int lines = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
    cJSON *o = cJSON_Parse(line);
    assert_non_null(o);
    const char *id = cJSON_GetObjectItem(o, "id")->valuestring;
    assert_string_equal(id, p.v[r.idx[lines]].id); /* selection order */
    assert_string_equal(cJSON_GetObjectItem(o, "category")->valuestring,
                        sel_cat_name(want_cat(id_num(id))));
    cJSON_Delete(o);
  }
  assert_int_equal(lines, 40);
  free(text);

  /* a manifest holding every id but utt-0021 (a format error, so always chosen), with odd
   * spacing kept byte for byte, one bad line, one repeated line */
  FILE *f = fopen(man, "wb");
  assert_non_null(f);
  for (int i = N_ALL - 1; i >= 0; i--) {
    if (i == 21) continue;
    fprintf(f, "{ \"id\" : \"utt-%04d\",  \"sources\": [{\"text\": \"x %d\"}] }\n", i, i);
    if (i == 300) fprintf(f, "{broken\n\n{\"noid\": 1}\n");
  }
  fprintf(f, "{ \"id\" : \"utt-0000\",  \"sources\": [{\"text\": \"x 0\"}] }\n");
  fclose(f);
  int64_t written = -1, missing = -1, bad = -1;
  log_level old = log_get_level();
  log_set_level(LOG_ERROR);
  assert_int_equal(sel_write_manifest(&p, &r, man, sub, &written, &missing, &bad, &e), TS_OK);
  log_set_level(old);
  assert_int_equal(written, 39);
  assert_int_equal(missing, 1);
  assert_int_equal(bad, 2);
  text = slurp(sub);
  int prev = N_ALL;
  lines = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
    int k = -1;
    assert_int_equal(sscanf(line, "{ \"id\" : \"utt-%d\"", &k), 1);
    char want[128];
    snprintf(want, sizeof want, "{ \"id\" : \"utt-%04d\",  \"sources\": [{\"text\": \"x %d\"}] }", k, k);
    assert_string_equal(line, want);
    assert_true(k < prev); /* manifest order (descending), utt-0000 once */
    prev = k;
    int chosen = 0;
    for (size_t i = 0; i < r.n; i++) chosen |= id_num(p.v[r.idx[i]].id) == k;
    assert_true(chosen);
  }
  assert_int_equal(lines, 39);
  free(text);
  /* a missing manifest names itself */
  char nofile[128];
  snprintf(nofile, sizeof nofile, "%s/none.jsonl", g_dir);
  assert_int_equal(sel_write_manifest(&p, &r, nofile, sub, NULL, NULL, NULL, &e), TS_EIO);
  assert_non_null(strstr(e.msg, nofile));
  sel_result_free(&r);
  sel_pool_free(&p);
}

static void test_modes_and_report(void **st) {
  (void)st;
  sel_mode m;
  ts_err e = {0};
  assert_int_equal(sel_mode_parse("error-only", &m, &e), TS_OK);
  assert_int_equal(m, SEL_ERROR_ONLY);
  assert_int_equal(sel_mode_parse("balanced", &m, &e), TS_OK);
  assert_int_equal(m, SEL_BALANCED);
  assert_int_equal(sel_mode_parse("random", &m, &e), TS_OK);
  assert_int_equal(m, SEL_RANDOM);
  assert_int_equal(sel_mode_parse("errors", &m, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "errors"));
  sel_pool p;
  make_pool(&p);
  sel_result r;
  assert_int_equal(sel_choose(&p, SEL_ERROR_ONLY, 100, 1, &r, &e), TS_OK);
  char *rep = NULL;
  assert_int_equal(sel_report(&p, &r, &rep, &e), TS_OK);
  assert_non_null(strstr(rep, "select error-only (seed 1): 100 chosen of 100 asked from 630 samples"));
  assert_non_null(strstr(rep, "format errors 30 of 30"));
  assert_non_null(strstr(rep, "wrong         70 of 180"));
  assert_non_null(strstr(rep, "correct       0 of 420"));
  free(rep);
  sel_result_free(&r);
  sel_pool_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_categories),      cmocka_unit_test(test_error_only),
      cmocka_unit_test(test_balanced),        cmocka_unit_test(test_random),
      cmocka_unit_test(test_seed_and_order),  cmocka_unit_test(test_duplicates),
      cmocka_unit_test(test_write_ids_and_manifest), cmocka_unit_test(test_modes_and_report),
  };
  return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
