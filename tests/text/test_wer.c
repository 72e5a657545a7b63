/* test_wer.c — WER against jiwer 4.0.0 (fixture of 1,200 random pairs incl. empty
 * references/hypotheses): S/D/I/H counts, the per-word alignment, per-set and corpus WER. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/jsonx.h"
#include "text/wer.h"

static void test_jiwer_fixture(void **state) {
  cJSON *j;
  ts_err e = {0};
  assert_int_equal(jsonx_load(TS_FIXTURES "/text/wer_jiwer.json", &j, &e), 0);
  const cJSON *pairs = cJSON_GetObjectItem(j, "pairs");
  const cJSON *sets = cJSON_GetObjectItem(j, "sets");
  const cJSON *set_wer = cJSON_GetObjectItem(j, "set_wer");
  int n = 0, empty_ref = 0, empty_hyp = 0, set = 0, in_set = 0;
  wer_stats per_set[3] = {{0}};
  for (const cJSON *p = pairs->child; p; p = p->next, n++) {
    const char *ref = cJSON_GetObjectItem(p, "ref")->valuestring;
    const char *hyp = cJSON_GetObjectItem(p, "hyp")->valuestring;
    wer_result r;
    assert_int_equal(wer_align(ref, hyp, &r, &e), 0);
    int S = cJSON_GetObjectItem(p, "S")->valueint, D = cJSON_GetObjectItem(p, "D")->valueint;
    int I = cJSON_GetObjectItem(p, "I")->valueint, H = cJSON_GetObjectItem(p, "H")->valueint;
    if (r.st.sub != S || r.st.del != D || r.st.ins != I || r.st.hit != H)
      fprintf(stderr, "pair %d: ref \"%s\" hyp \"%s\": got S%lld D%lld I%lld H%lld want S%d D%d I%d H%d\n",
              n, ref, hyp, (long long)r.st.sub, (long long)r.st.del, (long long)r.st.ins,
              (long long)r.st.hit, S, D, I, H);
    assert_int_equal(r.st.sub, S);
    assert_int_equal(r.st.del, D);
    assert_int_equal(r.st.ins, I);
    assert_int_equal(r.st.hit, H);
    /* the alignment itself, one letter per op */
    char ops[512];
    size_t k = 0;
    for (size_t i = 0; i < r.n_ops; i++) ops[k++] = "ESDI"[r.ops[i].type];
    ops[k] = 0;
    assert_string_equal(ops, cJSON_GetObjectItem(p, "ops")->valuestring);
    double w = cJSON_GetObjectItem(p, "wer")->valuedouble;
    assert_true(fabs(wer_stats_rate(&r.st) - w) < 1e-12);
    empty_ref += r.st.n_ref == 0;
    empty_hyp += r.st.n_hyp == 0;
    wer_stats_add(&per_set[set], &r.st);
    if (++in_set == cJSON_GetArrayItem(sets, set)->valueint) {
      set++;
      in_set = 0;
    }
    wer_result_free(&r);
  }
  assert_true(n >= 1000);
  assert_true(empty_ref >= 10);
  assert_true(empty_hyp >= 10);
  assert_int_equal(set, 3);
  for (int s = 0; s < 3; s++)
    assert_true(fabs(wer_stats_rate(&per_set[s]) - cJSON_GetArrayItem(set_wer, s)->valuedouble) < 1e-12);
  double corpus = cJSON_GetObjectItem(j, "corpus_wer")->valuedouble;
  assert_true(fabs(wer_weighted(per_set, 3) - corpus) < 1e-12);
  /* the weighted average is not the mean of the set WERs */
  double mean = (wer_stats_rate(&per_set[0]) + wer_stats_rate(&per_set[1]) + wer_stats_rate(&per_set[2])) / 3;
  assert_true(fabs(mean - corpus) > 1e-6);
  cJSON_Delete(j);
}

static void test_alignment_words(void **state) {
  wer_result r;
  ts_err e = {0};
  /* ties: any minimal alignment; the ops spell out both word sequences */
  assert_int_equal(wer_align("THIRTY OR FORTY MILES", " THIRTY  FOURTY MILES AWAY\n", &r, &e), 0);
  assert_int_equal(r.st.n_ref, 4);
  assert_int_equal(r.st.n_hyp, 4);
  assert_int_equal(wer_stats_errors(&r.st), 3);
  char refs[128] = "", hyps[128] = "";
  for (size_t i = 0; i < r.n_ops; i++) {
    if (r.ops[i].ref) strcat(strcat(refs, r.ops[i].ref), " ");
    if (r.ops[i].hyp) strcat(strcat(hyps, r.ops[i].hyp), " ");
  }
  assert_string_equal(refs, "THIRTY OR FORTY MILES ");
  assert_string_equal(hyps, "THIRTY FOURTY MILES AWAY ");
  wer_result_free(&r);
  /* a unique alignment: A= B->X C= D= +E */
  assert_int_equal(wer_align("A B C D", "A X C D E", &r, &e), 0);
  assert_int_equal(r.n_ops, 5);
  assert_int_equal(r.ops[0].type, WER_EQUAL);
  assert_string_equal(r.ops[0].ref, "A");
  assert_string_equal(r.ops[0].hyp, "A");
  int subs = 0;
  for (size_t i = 0; i < r.n_ops; i++) {
    if (r.ops[i].type == WER_SUB) {
      subs++;
      assert_string_equal(r.ops[i].ref, "B");
      assert_string_equal(r.ops[i].hyp, "X");
    }
    assert_int_not_equal(r.ops[i].type, WER_DEL);
    if (r.ops[i].type == WER_INS) {
      assert_string_equal(r.ops[i].hyp, "E");
      assert_int_equal(r.ops[i].ref_idx, -1);
      assert_int_equal(r.ops[i].hyp_idx, 4);
    }
  }
  assert_int_equal(subs, 1);
  wer_result_free(&r);
  /* empty reference: WER = number of hypothesis words (denominator 1), like jiwer 4 */
  assert_int_equal(wer_align("", "A B C", &r, &e), 0);
  assert_int_equal(r.st.ins, 3);
  assert_true(fabs(wer_stats_rate(&r.st) - 3.0) < 1e-12);
  wer_result_free(&r);
  assert_int_equal(wer_align("  ", "", &r, &e), 0);
  assert_int_equal(r.n_ops, 0);
  assert_true(wer_stats_rate(&r.st) == 0.0);
  wer_result_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jiwer_fixture),
      cmocka_unit_test(test_alignment_words),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
