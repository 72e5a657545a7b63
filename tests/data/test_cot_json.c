/* test_cot_json.c — cot_facts to and from JSON: exact round trip, defaults, and errors that
 * name the key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/cot.h"
#include "data/cot_json.h"

static void test_roundtrip(void **st) {
  (void)st;
  for (uint64_t i = 0; i < 2000; i++) {
    cot_facts f, g, h;
    cot_facts_random(&f, 11, i);
    cJSON *j = cot_facts_to_json(&f);
    assert_non_null(j);
    ts_err e = {0};
    if (cot_facts_from_json(j, "rt", &g, &e)) fail_msg("%s", e.msg);
    /* through text too: the same facts to 15 significant digits */
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    cJSON *k = cJSON_Parse(txt);
    assert_non_null(k);
    if (cot_facts_from_json(k, "rt", &h, &e)) fail_msg("%s\n%s", e.msg, txt);
    cJSON_Delete(k);
    cJSON_free(txt);
    assert_true(fabs(h.total_dur - f.total_dur) <= 1e-12 * f.total_dur);
    for (int s = 0; s < f.n_speakers; s++)
      assert_true(fabs(h.spk[s].score - f.spk[s].score) <= 1e-12 &&
                  fabs(h.spk[s].end - f.spk[s].end) <= 1e-12 * f.spk[s].end);
    /* in memory every field comes back exactly, so the same CoT is built */
    assert_int_equal(g.n_speakers, f.n_speakers);
    assert_int_equal(g.target, f.target);
    assert_int_equal(g.enroll_gender, f.enroll_gender);
    assert_true(g.enroll_dur == f.enroll_dur && g.silence_dur == f.silence_dur &&
                g.mix_dur == f.mix_dur && g.total_dur == f.total_dur);
    for (int s = 0; s < f.n_speakers; s++) {
      assert_int_equal(g.spk[s].gender, f.spk[s].gender);
      assert_int_equal(g.spk[s].level, f.spk[s].level);
      assert_true(g.spk[s].start == f.spk[s].start && g.spk[s].end == f.spk[s].end &&
                  g.spk[s].score == f.spk[s].score);
    }
    char *a = NULL, *b = NULL;
    assert_int_equal(cot_build(&f, NULL, "W", &a, &e), TS_OK);
    assert_int_equal(cot_build(&g, NULL, "W", &b, &e), TS_OK);
    assert_string_equal(a, b);
    free(a);
    free(b);
  }
}

static void test_defaults_and_errors(void **st) {
  (void)st;
  /* the paper's Figure 2 right-hand sample, levels only, total left out */
  const char *fig2 =
      "{\"enroll_dur\":3,\"silence_dur\":3,\"mix_dur\":14.95,\"enroll_gender\":\"male\",\"target\":0,"
      "\"speakers\":[{\"gender\":\"male\",\"start\":6,\"end\":9.04,\"level\":4},"
      "{\"gender\":\"F\",\"start\":6,\"end\":20.95,\"score\":0.3}]}";
  cJSON *j = cJSON_Parse(fig2);
  cot_facts f;
  ts_err e = {0};
  assert_int_equal(cot_facts_from_json(j, "fig2", &f, &e), TS_OK);
  cJSON_Delete(j);
  assert_true(f.total_dur == 3 + 3 + 14.95);
  assert_int_equal(f.spk[0].level, 4);
  assert_true(f.spk[0].score == 0.7); /* middle of level 4 */
  assert_int_equal(f.spk[1].level, 2); /* from the score */
  assert_int_equal(f.spk[1].gender, COT_FEMALE);
  char *s = NULL;
  assert_int_equal(cot_build_think(&f, NULL, &s, &e), TS_OK);
  assert_non_null(strstr(s, "4(Speaker1) > 2(Speaker2); Speaker1 has the highest"));
  free(s);

  struct { const char *json, *needle; } bad[] = {
      {"[]", "object"},
      {"{\"silence_dur\":3,\"mix_dur\":1,\"enroll_gender\":\"male\",\"target\":0,\"speakers\":[]}", "enroll_dur"},
      {"{\"enroll_dur\":3,\"silence_dur\":3,\"mix_dur\":1,\"enroll_gender\":\"x\",\"target\":0}", "enroll_gender"},
      {"{\"enroll_dur\":3,\"silence_dur\":3,\"mix_dur\":1,\"enroll_gender\":\"male\",\"target\":0}", "speakers"},
      {"{\"enroll_dur\":3,\"silence_dur\":3,\"mix_dur\":1,\"enroll_gender\":\"male\",\"target\":0,\"speakers\":[]}", "0 speakers"},
      {"{\"enroll_dur\":3,\"silence_dur\":3,\"mix_dur\":1,\"enroll_gender\":\"male\",\"target\":1,"
       "\"speakers\":[{\"gender\":\"male\",\"start\":6,\"end\":7,\"score\":0.5}]}", "target"},
      {"{\"enroll_dur\":3,\"silence_dur\":3,\"mix_dur\":1,\"enroll_gender\":\"male\",\"target\":0,"
       "\"speakers\":[{\"gender\":\"male\",\"start\":6,\"end\":7}]}", "speakers[0]: needs"},
      {"{\"enroll_dur\":3,\"silence_dur\":3,\"mix_dur\":1,\"enroll_gender\":\"male\",\"target\":0,"
       "\"speakers\":[{\"gender\":\"male\",\"start\":6,\"end\":7,\"level\":9}]}", "level 9"},
      {"{\"enroll_dur\":3,\"silence_dur\":3,\"mix_dur\":1,\"enroll_gender\":\"male\",\"target\":0,"
       "\"speakers\":[{\"gender\":\"male\",\"start\":\"6\",\"end\":7,\"level\":2}]}", "start"},
      {"{\"enroll_dur\":3,\"silence_dur\":3,\"mix_dur\":1,\"enroll_gender\":\"male\",\"target\":0,"
       "\"speakers\":[{\"gender\":\"male\",\"start\":1,\"end\":7,\"level\":2}]}", "outside the mixture"},
      {"{\"enroll_dur\":3,\"silence_dur\":3,\"mix_dur\":1,\"total_dur\":9,\"enroll_gender\":\"male\","
       "\"target\":0,\"speakers\":[{\"gender\":\"male\",\"start\":6,\"end\":7,\"level\":2}]}", "total duration"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *b = cJSON_Parse(bad[i].json);
    assert_non_null(b);
    err_clear(&e);
    if (cot_facts_from_json(b, "in.json: line 3", &f, &e) != TS_EFORMAT) fail_msg("accepted %s", bad[i].json);
    if (!strstr(e.msg, bad[i].needle) || !strstr(e.msg, "in.json: line 3"))
      fail_msg("message \"%s\" lacks \"%s\"", e.msg, bad[i].needle);
    /* and without an error struct the code is still returned */
    assert_int_equal(cot_facts_from_json(b, "x", &f, NULL), TS_EFORMAT);
    cJSON_Delete(b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_defaults_and_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
