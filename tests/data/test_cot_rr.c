/* test_cot_rr.c — random reasoning: error detection, the 0.5 proportion among correct samples,
 * determinism for a seed, independence of order, and the JSONL map writer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/afile.h"
#include "base/philox.h"
#include "data/cot_rr.h"

static void test_words_differ(void **st) {
  (void)st;
  assert_int_equal(cot_rr_words_differ("A B C", "A B C"), 0);
  assert_int_equal(cot_rr_words_differ("  A  B\tC\n", "A B C"), 0);
  assert_int_equal(cot_rr_words_differ("", "   "), 0);
  assert_int_equal(cot_rr_words_differ(NULL, ""), 0);
  assert_int_equal(cot_rr_words_differ("A B C", "A B"), 1);
  assert_int_equal(cot_rr_words_differ("A B", "A B C"), 1);
  assert_int_equal(cot_rr_words_differ("A B C", "A BC"), 1);
  assert_int_equal(cot_rr_words_differ("A B C", "A B D"), 1);
  assert_int_equal(cot_rr_words_differ("A", ""), 1);
  assert_int_equal(cot_rr_words_differ("", "A"), 1);
  assert_int_equal(cot_rr_words_differ("IT'S", "ITS"), 1);
}

static void test_proportions(void **st) {
  (void)st;
  enum { N = 4000 };
  int correct = 0, empty = 0, errors = 0, changed_by_seed = 0;
  for (int i = 0; i < N; i++) {
    char id[64];
    snprintf(id, sizeof id, "train-%d-%05d", i % 7, i);
    int is_error = (i % 3) == 0;
    cot_think c = cot_rr_choose(id, is_error, 1234, COT_RR_P_EMPTY);
    if (is_error) {
      errors++;
      assert_int_equal(c, COT_THINK_FULL); /* every wrong sample gets the full CoT */
    } else {
      correct++;
      empty += c == COT_THINK_EMPTY;
    }
    /* deterministic, and another seed gives other choices */
    assert_int_equal(cot_rr_choose(id, is_error, 1234, COT_RR_P_EMPTY), c);
    if (!is_error && cot_rr_choose(id, 0, 1235, COT_RR_P_EMPTY) != c) changed_by_seed++;
    /* p_empty at its ends */
    assert_int_equal(cot_rr_choose(id, 0, 1234, 0.0), COT_THINK_FULL);
    assert_int_equal(cot_rr_choose(id, 0, 1234, 1.0), COT_THINK_EMPTY);
  }
  double frac = (double)empty / correct; /* 2666 draws: sd 0.0097, bound at 4.1 sd */
  print_message("empty among correct: %d / %d = %.3f\n", empty, correct, frac);
  assert_true(frac > 0.46 && frac < 0.54);
  assert_true(changed_by_seed > correct / 4);
  /* another probability is honoured too */
  int e2 = 0;
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof id, "u%d", i);
    e2 += cot_rr_choose(id, 0, 9, 0.2) == COT_THINK_EMPTY;
  }
  assert_true(e2 > N * 0.17 && e2 < N * 0.23);
}

static void test_line(void **st) {
  (void)st;
  ts_err e = {0};
  char id[16];
  int err = -1;
  cot_think c;
  const char *l1 = "{\"id\":\"s1\",\"ref\":\"A B\",\"hyp\":\"A B\",\"format_ok\":true,\"n\":2}";
  assert_int_equal(cot_rr_line(l1, strlen(l1), "t", 5, 0.5, id, sizeof id, &err, &c, &e), TS_OK);
  assert_string_equal(id, "s1");
  assert_int_equal(err, 0);
  assert_int_equal(c, cot_rr_choose("s1", 0, 5, 0.5));
  /* a format error is an error even when hyp matches */
  const char *l2 = "{\"id\":\"s2\",\"ref\":\"A B\",\"hyp\":\"A B\",\"format_ok\":false}";
  assert_int_equal(cot_rr_line(l2, strlen(l2), "t", 5, 0.5, NULL, 0, &err, &c, &e), TS_OK);
  assert_int_equal(err, 1);
  assert_int_equal(c, COT_THINK_FULL);
  const char *l3 = "{\"id\":\"s3\",\"ref\":\"A B\",\"hyp\":\"A C\",\"format_ok\":true}";
  assert_int_equal(cot_rr_line(l3, strlen(l3), "t", 5, 0.5, NULL, 0, &err, &c, &e), TS_OK);
  assert_int_equal(err, 1);
  assert_int_equal(c, COT_THINK_FULL);
  const char *bad[] = {"{\"id\":\"s4\",\"ref\":\"A\",\"hyp\":\"A\"}",
                       "{\"id\":4,\"ref\":\"A\",\"hyp\":\"A\",\"format_ok\":true}",
                       "{\"id\":\"s5\",\"hyp\":\"A\",\"format_ok\":true}",
                       "{\"id\":\"s6\",\"ref\":\"A\",\"hyp\":\"A\",\"format_ok\":1}",
                       "[1,2]", "{\"id\":", "not json"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err_clear(&e);
    if (cot_rr_line(bad[i], strlen(bad[i]), "line 7", 5, 0.5, NULL, 0, &err, &c, &e) != TS_EFORMAT)
      fail_msg("accepted: %s", bad[i]);
    assert_non_null(strstr(e.msg, "line 7"));
  }
}

/* Reads the map file into parallel arrays; returns the count. */
static int read_map(const char *path, char ids[][32], int *full, int *error, int cap) {
  char *buf = NULL;
  size_t n = 0;
  ts_err e = {0};
  if (afile_read(path, &buf, &n, &e)) fail_msg("%s", e.msg);
  int k = 0;
  char *save = NULL;
  for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    assert_true(k < cap);
    cJSON *j = cJSON_Parse(line);
    assert_non_null(j);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(j, "think");
    const cJSON *er = cJSON_GetObjectItemCaseSensitive(j, "error");
    assert_true(cJSON_IsString(id) && cJSON_IsString(th) && cJSON_IsBool(er));
    snprintf(ids[k], 32, "%s", id->valuestring);
    assert_true(!strcmp(th->valuestring, "full") || !strcmp(th->valuestring, "empty"));
    full[k] = !strcmp(th->valuestring, "full");
    error[k] = cJSON_IsTrue(er);
    cJSON_Delete(j);
    k++;
  }
  free(buf);
  return k;
}

static void test_file(void **st) {
  (void)st;
  enum { N = 600 };
  char dir[] = "/tmp/tsasr_cot_rr_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char in1[128], in2[128], out1[128], out2[128];
  snprintf(in1, sizeof in1, "%s/decode.jsonl", dir);
  snprintf(in2, sizeof in2, "%s/decode_rev.jsonl", dir);
  snprintf(out1, sizeof out1, "%s/map.jsonl", dir);
  snprintf(out2, sizeof out2, "%s/map_rev.jsonl", dir);
  /* N samples: every 4th has a wrong word, every 9th a format error; plus 3 bad lines */
  char *lines[N];
  int truth_err[N];
  for (int i = 0; i < N; i++) {
    int wrong = i % 4 == 0, fmt_bad = i % 9 == 0;
    truth_err[i] = wrong || fmt_bad;
    char hyp[64], buf[256];
    if (wrong) snprintf(hyp, sizeof hyp, "HELLO WORD %d", i);
    else snprintf(hyp, sizeof hyp, "HELLO  WORLD %d ", i); /* same words */
    snprintf(buf, sizeof buf,
             "{\"id\":\"utt-%04d\",\"set\":\"train\",\"ref\":\"HELLO WORLD %d\",\"hyp\":\"%s\","
             "\"raw\":\"\",\"format_ok\":%s}",
             i, i, hyp, fmt_bad ? "false" : "true");
    lines[i] = strdup(buf);
  }
  for (int pass = 0; pass < 2; pass++) {
    FILE *fp = fopen(pass ? in2 : in1, "w");
    assert_non_null(fp);
    for (int k = 0; k < N; k++) {
      int i = pass ? N - 1 - k : k;
      fprintf(fp, "%s\n", lines[i]);
      if (k == 10) fprintf(fp, "{\"id\":\"broken\"\n\n   \n");
      if (k == 20) fprintf(fp, "{\"id\":\"nofmt\",\"ref\":\"A\",\"hyp\":\"A\"}\n");
      if (k == 30) fprintf(fp, "[]\n");
    }
    fclose(fp);
  }
  cot_rr_stats s1, s2;
  ts_err e = {0};
  assert_int_equal(cot_rr_file(in1, out1, 77, 0.5, &s1, &e), TS_OK);
  assert_int_equal(cot_rr_file(in2, out2, 77, 0.5, &s2, &e), TS_OK);
  assert_int_equal(s1.lines, N + 3);
  assert_int_equal(s1.skipped, 3);
  static char ids1[N][32], ids2[N][32];
  static int full1[N], err1[N], full2[N], err2[N];
  assert_int_equal(read_map(out1, ids1, full1, err1, N), N);
  assert_int_equal(read_map(out2, ids2, full2, err2, N), N);
  long errors = 0, empty = 0;
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof id, "utt-%04d", i);
    assert_string_equal(ids1[i], id); /* input order */
    assert_int_equal(err1[i], truth_err[i]);
    if (truth_err[i]) assert_int_equal(full1[i], 1);
    assert_int_equal(full1[i], cot_rr_choose(id, truth_err[i], 77, 0.5) == COT_THINK_FULL);
    /* the reversed file gives the same choice for each id */
    assert_string_equal(ids2[N - 1 - i], id);
    assert_int_equal(full2[N - 1 - i], full1[i]);
    errors += truth_err[i];
    empty += !full1[i];
  }
  assert_int_equal(s1.errors, errors);
  assert_int_equal(s1.correct, N - errors);
  assert_int_equal(s1.empty, empty);
  assert_true(empty > 0 && empty < N - errors);
  /* a missing input is an I/O error naming the file; nothing is written */
  char missing[160];
  snprintf(missing, sizeof missing, "%s/none.jsonl", dir);
  err_clear(&e);
  assert_int_equal(cot_rr_file(missing, out1, 77, 0.5, NULL, &e), TS_EIO);
  assert_non_null(strstr(e.msg, "none.jsonl"));
  assert_int_equal(cot_rr_file(in1, out1, 77, 1.5, NULL, &e), TS_EARG);
  for (int i = 0; i < N; i++) free(lines[i]);
  unlink(in1);
  unlink(in2);
  unlink(out1);
  unlink(out2);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_words_differ),
      cmocka_unit_test(test_proportions),
      cmocka_unit_test(test_line),
      cmocka_unit_test(test_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
