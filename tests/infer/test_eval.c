/* test_eval.c — evaluation tables on the small committed decode set
 * (tests/fixtures/infer/eval_small): Table 1 numbers worked out by hand, the weighted average
 * against the mean of set WERs, Markdown and JSON output, column mapping, duplicates.
 *
 * The fixture (references, counts written by hand; test_fixture_consistent re-derives them):
 *   id   set        ref words | BASE               | +CoT             | +CoT+RL
 *   s1   single     5         | S1          (1)    | 0                | 0
 *   s2   single     5         | format err  D5 (5) | D1 (1)           | 0
 *   m2a  libri2mix  8         | D1 I1       (2)    | 0                | 0
 *   m2b  libri2mix  8         | 0                  | S1 (1)           | 0 (after a cut line)
 *   m3a  libri3mix  6         | S3 D3 wrong (6)    | format err D6    | D1 (1)
 *   m3b  libri3mix  5         | I1          (1)    | 0                | 0
 * Words: single 10, libri2mix 16, libri3mix 11, all 37.
 *   BASE:    single 6/10 = 60.00 %, 2mix 2/16 = 12.50 %, 3mix 7/11 = 63.636 % -> 63.64,
 *            avg (6+2+7)/37 = 15/37 = 40.5405 % -> 40.54
 *            (the mean of the set WERs would be (60 + 12.5 + 63.636)/3 = 45.38 %)
 *   +CoT:    1/10 = 10.00, 1/16 = 6.25, 6/11 = 54.545 -> 54.55, avg 8/37 = 21.6216 -> 21.62
 *   +CoT+RL: 0/10 = 0.00, 0/16 = 0.00, 1/11 = 9.0909 -> 9.09, avg 1/37 = 2.7027 -> 2.70
 *            (pooled from rl_single.jsonl and rl_mix.jsonl; one bad line skipped) */
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

#include "base/log.h"
#include "infer/decode_rec.h"
#include "infer/eval.h"

#define FX TS_FIXTURES "/infer/eval_small/"

static void load_paper_table(eval_table *t) {
  ts_err e = {0};
  eval_init(t);
  assert_int_equal(eval_default_columns(t, &e), TS_OK);
  eval_sys *s;
  log_level old = log_get_level();
  log_set_level(LOG_ERROR); /* rl_mix.jsonl has one cut line on purpose */
  assert_int_equal(eval_system(t, "BASE", &s, &e), TS_OK);
  assert_int_equal(eval_sys_load(s, FX "base.jsonl", &e), TS_OK);
  assert_int_equal(eval_system(t, "+CoT", &s, &e), TS_OK);
  assert_int_equal(eval_sys_load(s, FX "cot.jsonl", &e), TS_OK);
  assert_int_equal(eval_system(t, "+CoT+RL", &s, &e), TS_OK);
  assert_int_equal(eval_sys_load(s, FX "rl_single.jsonl", &e), TS_OK);
  assert_int_equal(eval_system(t, "+CoT+RL", &s, &e), TS_OK); /* same system: pooled */
  assert_int_equal(eval_sys_load(s, FX "rl_mix.jsonl", &e), TS_OK);
  log_set_level(old);
  assert_int_equal(t->n_sys, 3);
}

/* The hand-written counts agree with scoring the raw outputs afresh. */
static void test_fixture_consistent(void **st) {
  (void)st;
  const char *files[] = {"base.jsonl", "cot.jsonl", "rl_single.jsonl", "rl_mix.jsonl"};
  size_t total = 0;
  for (size_t f = 0; f < 4; f++) {
    char path[512];
    snprintf(path, sizeof path, FX "%s", files[f]);
    drec *v = NULL;
    size_t n = 0;
    log_level old = log_get_level();
    log_set_level(LOG_ERROR);
    assert_int_equal(drec_read_all(path, &v, &n, NULL, NULL), TS_OK);
    log_set_level(old);
    for (size_t i = 0; i < n; i++) {
      drec r;
      assert_int_equal(drec_from_output(v[i].id, v[i].set, v[i].ref, v[i].raw, strlen(v[i].raw), &r, NULL),
                       TS_OK);
      if (r.format_ok != v[i].format_ok || strcmp(r.hyp, v[i].hyp) || r.sub != v[i].sub ||
          r.del != v[i].del || r.ins != v[i].ins || r.n != v[i].n)
        fail_msg("%s %s: stored %d \"%s\" S%lld D%lld I%lld N%lld, scored %d \"%s\" S%lld D%lld I%lld N%lld",
                 files[f], v[i].id, v[i].format_ok, v[i].hyp, (long long)v[i].sub, (long long)v[i].del,
                 (long long)v[i].ins, (long long)v[i].n, r.format_ok, r.hyp, (long long)r.sub,
                 (long long)r.del, (long long)r.ins, (long long)r.n);
      drec_free(&r);
    }
    total += n;
    drec_free_all(v, n);
  }
  assert_int_equal(total, 6 + 6 + 2 + 4);
}

static void expect_cell(const eval_table *t, size_t sys, size_t col, int64_t errors, int64_t words) {
  wer_stats w;
  assert_true(eval_cell(&t->sys[sys], &t->cols[col], &w) > 0);
  if (wer_stats_errors(&w) != errors || w.n_ref != words)
    fail_msg("%s / %s: %lld/%lld, expected %lld/%lld", t->sys[sys].name, t->cols[col].label,
             (long long)wer_stats_errors(&w), (long long)w.n_ref, (long long)errors, (long long)words);
  assert_true(fabs(wer_stats_rate(&w) - (double)errors / (double)words) < 1e-12);
}

static const eval_set *find_set(const eval_sys *s, const char *name) {
  for (size_t i = 0; i < s->n_sets; i++)
    if (!strcmp(s->sets[i].name, name)) return &s->sets[i];
  fail_msg("%s: no set %s", s->name, name);
  return NULL;
}

static void test_table1_numbers(void **st) {
  (void)st;
  eval_table t;
  load_paper_table(&t);
  assert_int_equal(t.n_cols, 3);
  /* BASE, +CoT, +CoT+RL x Single, Libri2Mix, Libri3Mix (errors / words, see the top) */
  expect_cell(&t, 0, 0, 6, 10);
  expect_cell(&t, 0, 1, 2, 16);
  expect_cell(&t, 0, 2, 7, 11);
  expect_cell(&t, 1, 0, 1, 10);
  expect_cell(&t, 1, 1, 1, 16);
  expect_cell(&t, 1, 2, 6, 11);
  expect_cell(&t, 2, 0, 0, 10);
  expect_cell(&t, 2, 1, 0, 16);
  expect_cell(&t, 2, 2, 1, 11);
  int64_t avg_err[3] = {15, 8, 1};
  for (size_t i = 0; i < 3; i++) {
    wer_stats a;
    assert_int_equal(eval_avg(&t, &t.sys[i], &a), 1);
    assert_int_equal(wer_stats_errors(&a), avg_err[i]);
    assert_int_equal(a.n_ref, 37);
  }
  /* S/D/I, format errors, wrong speaker, CoT checks, repetition per set */
  const eval_set *x = find_set(&t.sys[0], "single");
  assert_int_equal(x->utts, 2);
  assert_int_equal(x->st.sub, 1);
  assert_int_equal(x->st.del, 5);
  assert_int_equal(x->st.ins, 0);
  assert_int_equal(x->fmt_err, 1);
  assert_int_equal(x->ws_known, 0);
  x = find_set(&t.sys[0], "libri2mix");
  assert_int_equal(x->st.sub + 10 * x->st.del + 100 * x->st.ins, 0 + 10 + 100);
  assert_int_equal(x->ws_known, 1);
  assert_int_equal(x->ws, 0);
  x = find_set(&t.sys[0], "libri3mix");
  assert_int_equal(x->st.sub + 10 * x->st.del + 100 * x->st.ins, 3 + 30 + 100);
  assert_int_equal(x->ws_known, 2);
  assert_int_equal(x->ws, 1);
  x = find_set(&t.sys[1], "libri2mix");
  assert_int_equal(x->think_known, 2);
  assert_int_equal(x->think_ok, 1);
  x = find_set(&t.sys[1], "libri3mix");
  assert_int_equal(x->fmt_err, 1);
  assert_int_equal(x->repetition, 1);
  assert_int_equal(t.sys[2].skipped, 1);
  assert_int_equal(t.sys[2].dups, 0);
  assert_int_equal(t.sys[0].skipped, 0);
  eval_free(&t);
}

/* Σ errors / Σ words differs from the mean of the three set WERs. */
static void test_weighted_not_mean(void **st) {
  (void)st;
  eval_table t;
  load_paper_table(&t);
  wer_stats a;
  assert_int_equal(eval_avg(&t, &t.sys[0], &a), 1);
  double avg = wer_stats_rate(&a);
  double mean = (6.0 / 10 + 2.0 / 16 + 7.0 / 11) / 3;
  assert_true(fabs(avg - 15.0 / 37) < 1e-12);
  assert_true(fabs(avg - mean) > 0.04); /* 0.4054 vs 0.4538 */
  eval_free(&t);
}

static void test_markdown(void **st) {
  (void)st;
  eval_table t;
  load_paper_table(&t);
  char *md = NULL;
  assert_int_equal(eval_markdown(&t, &md, NULL), TS_OK);
  const char *table1 =
      "## Table 1: WER (%)\n\n"
      "| System | Single | Libri2Mix | Libri3Mix | Avg |\n"
      "|:--|--:|--:|--:|--:|\n"
      "| BASE | 60.00 | 12.50 | 63.64 | 40.54 |\n"
      "| +CoT | 10.00 | 6.25 | 54.55 | 21.62 |\n"
      "| +CoT+RL | 0.00 | 0.00 | 9.09 | 2.70 |\n";
  if (strncmp(md, table1, strlen(table1))) fail_msg("Table 1 differs:\n%s\nexpected:\n%s", md, table1);
  const char *lines[] = {
      "| System | Set | Utts | Words | Sub | Del | Ins | Errors | WER (%) | Format errors | Wrong speaker "
      "| CoT correct | Repetition |\n",
      "| BASE | single | 2 | 10 | 1 | 5 | 0 | 6 | 60.00 | 1 (50.00%) | - | - | 0 |\n"
      "| BASE | libri2mix | 2 | 16 | 0 | 1 | 1 | 2 | 12.50 | 0 (0.00%) | 0/1 (0.00%) | - | 0 |\n"
      "| BASE | libri3mix | 2 | 11 | 3 | 3 | 1 | 7 | 63.64 | 0 (0.00%) | 1/2 (50.00%) | - | 0 |\n",
      "| +CoT | libri2mix | 2 | 16 | 1 | 0 | 0 | 1 | 6.25 | 0 (0.00%) | - | 1/2 (50.00%) | 0 |\n"
      "| +CoT | libri3mix | 2 | 11 | 0 | 6 | 0 | 6 | 54.55 | 1 (50.00%) | - | - | 1 |\n",
      "| +CoT+RL | libri3mix | 2 | 11 | 0 | 1 | 0 | 1 | 9.09 | 0 (0.00%) | - | - | 0 |\n",
      "| 0 |\n\n+CoT+RL: 1 bad line(s) skipped, 0 duplicate record(s) ignored\n", /* after a blank line */
  };
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
    if (!strstr(md, lines[i])) fail_msg("missing:\n%s\nin:\n%s", lines[i], md);
  free(md);
  eval_free(&t);
}

static const cJSON *jget(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!v) fail_msg("JSON: no key %s", k);
  return v;
}

static void test_json(void **st) {
  (void)st;
  eval_table t;
  load_paper_table(&t);
  char *js = NULL;
  assert_int_equal(eval_json(&t, &js, NULL), TS_OK);
  cJSON *root = cJSON_Parse(js);
  assert_non_null(root);
  const cJSON *cols = jget(root, "columns");
  assert_int_equal(cJSON_GetArraySize(cols), 3);
  assert_string_equal(jget(cJSON_GetArrayItem(cols, 1), "label")->valuestring, "Libri2Mix");
  assert_string_equal(cJSON_GetArrayItem(jget(cJSON_GetArrayItem(cols, 0), "sets"), 0)->valuestring, "single");
  const cJSON *sys = jget(root, "systems");
  assert_int_equal(cJSON_GetArraySize(sys), 3);
  const cJSON *base = cJSON_GetArrayItem(sys, 0);
  assert_string_equal(jget(base, "name")->valuestring, "BASE");
  const cJSON *t1 = jget(base, "table1");
  const cJSON *single = jget(jget(t1, "cells"), "Single");
  assert_int_equal(jget(single, "errors")->valueint, 6);
  assert_int_equal(jget(single, "words")->valueint, 10);
  assert_true(fabs(jget(single, "wer")->valuedouble - 0.6) < 1e-12);
  const cJSON *avg = jget(t1, "avg");
  assert_int_equal(jget(avg, "errors")->valueint, 15);
  assert_int_equal(jget(avg, "words")->valueint, 37);
  assert_true(fabs(jget(avg, "wer")->valuedouble - 15.0 / 37) < 1e-12);
  const cJSON *sets = jget(base, "sets");
  assert_int_equal(cJSON_GetArraySize(sets), 3);
  const cJSON *s0 = cJSON_GetArrayItem(sets, 0), *s2 = cJSON_GetArrayItem(sets, 2);
  assert_string_equal(jget(s0, "set")->valuestring, "single");
  assert_int_equal(jget(s0, "format_errors")->valueint, 1);
  assert_true(fabs(jget(s0, "format_error_rate")->valuedouble - 0.5) < 1e-12);
  assert_true(cJSON_IsNull(jget(s0, "wrong_speaker_rate")));
  assert_string_equal(jget(s2, "set")->valuestring, "libri3mix");
  assert_int_equal(jget(s2, "sub")->valueint, 3);
  assert_int_equal(jget(s2, "del")->valueint, 3);
  assert_int_equal(jget(s2, "ins")->valueint, 1);
  assert_true(fabs(jget(s2, "wrong_speaker_rate")->valuedouble - 0.5) < 1e-12);
  const cJSON *rl = cJSON_GetArrayItem(sys, 2);
  assert_int_equal(jget(rl, "skipped_lines")->valueint, 1);
  assert_true(fabs(jget(jget(jget(rl, "table1"), "avg"), "wer")->valuedouble - 1.0 / 37) < 1e-12);
  cJSON_Delete(root);
  free(js);
  eval_free(&t);
}

static void test_columns(void **st) {
  (void)st;
  eval_table t;
  ts_err e = {0};
  eval_init(&t);
  assert_int_equal(eval_add_column_spec(&t, "1spk=single", &e), TS_OK);
  assert_int_equal(eval_add_column_spec(&t, "2spk=LIBRI2MIX,other", &e), TS_OK); /* case-blind */
  assert_int_equal(t.cols[1].n_sets, 2);
  /* malformed specs and overlaps are refused */
  assert_int_equal(eval_add_column_spec(&t, "nolabel", &e), TS_EARG);
  assert_int_equal(eval_add_column_spec(&t, "=x", &e), TS_EARG);
  assert_int_equal(eval_add_column_spec(&t, "A=", &e), TS_EARG);
  assert_int_equal(eval_add_column_spec(&t, "A=,,", &e), TS_EARG);
  assert_int_equal(eval_add_column_spec(&t, "1spk=libri3mix", &e), TS_EARG);
  assert_int_equal(eval_add_column_spec(&t, "3spk=Single", &e), TS_EARG);
  assert_non_null(strstr(e.msg, "already in column"));
  assert_int_equal(t.n_cols, 2);
  eval_sys *s;
  assert_int_equal(eval_system(&t, "BASE", &s, &e), TS_OK);
  assert_int_equal(eval_sys_load(s, FX "base.jsonl", &e), TS_OK);
  assert_int_equal(eval_system(&t, "half", &s, &e), TS_OK);
  assert_int_equal(eval_sys_load(s, FX "rl_single.jsonl", &e), TS_OK);
  /* BASE over single + libri2mix: (6 + 2) / (10 + 16) = 8/26 = 30.769 % -> 30.77;
   * "half" has no libri2mix: the cell and the average are "-" */
  wer_stats a;
  assert_int_equal(eval_avg(&t, &t.sys[0], &a), 1);
  assert_int_equal(wer_stats_errors(&a), 8);
  assert_int_equal(a.n_ref, 26);
  assert_int_equal(eval_avg(&t, &t.sys[1], &a), 0);
  char *md = NULL;
  assert_int_equal(eval_markdown(&t, &md, &e), TS_OK);
  assert_non_null(strstr(md, "| System | 1spk | 2spk | Avg |\n|:--|--:|--:|--:|\n"));
  assert_non_null(strstr(md, "| BASE | 60.00 | 12.50 | 30.77 |\n"));
  assert_non_null(strstr(md, "| half | 0.00 | - | - |\n"));
  /* libri3mix is in no column: listed last in the per-set table */
  const char *l2 = strstr(md, "| BASE | libri2mix |"), *l3 = strstr(md, "| BASE | libri3mix |");
  assert_non_null(l2);
  assert_non_null(l3);
  assert_true(l2 < l3);
  free(md);
  char *js = NULL;
  assert_int_equal(eval_json(&t, &js, &e), TS_OK);
  cJSON *root = cJSON_Parse(js);
  const cJSON *half = cJSON_GetArrayItem(jget(root, "systems"), 1);
  assert_true(cJSON_IsNull(jget(jget(jget(half, "table1"), "cells"), "2spk")));
  assert_true(cJSON_IsNull(jget(jget(half, "table1"), "avg")));
  cJSON_Delete(root);
  free(js);
  eval_free(&t);
}

static void test_duplicates_and_names(void **st) {
  (void)st;
  eval_table t;
  ts_err e = {0};
  eval_init(&t);
  assert_int_equal(eval_default_columns(&t, &e), TS_OK);
  eval_sys *s;
  assert_int_equal(eval_system(&t, "a|b", &s, &e), TS_OK);
  log_level old = log_get_level();
  log_set_level(LOG_ERROR);
  assert_int_equal(eval_sys_load(s, FX "base.jsonl", &e), TS_OK);
  assert_int_equal(eval_sys_load(s, FX "base.jsonl", &e), TS_OK); /* every record again */
  log_set_level(old);
  assert_int_equal(s->dups, 6);
  expect_cell(&t, 0, 0, 6, 10); /* counted once */
  expect_cell(&t, 0, 2, 7, 11);
  char *md = NULL;
  assert_int_equal(eval_markdown(&t, &md, &e), TS_OK);
  assert_non_null(strstr(md, "| a\\|b | 60.00 |")); /* '|' escaped in a cell */
  assert_non_null(strstr(md, "0 bad line(s) skipped, 6 duplicate record(s) ignored"));
  free(md);
  /* an unreadable file is an error naming it */
  assert_int_equal(eval_sys_load(s, FX "absent.jsonl", &e), TS_EIO);
  assert_non_null(strstr(e.msg, "absent.jsonl"));
  eval_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture_consistent), cmocka_unit_test(test_table1_numbers),
      cmocka_unit_test(test_weighted_not_mean),  cmocka_unit_test(test_markdown),
      cmocka_unit_test(test_json),               cmocka_unit_test(test_columns),
      cmocka_unit_test(test_duplicates_and_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
