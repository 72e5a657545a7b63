/* test_cot.c — CoT builder: levels, number format, the paper's Figure 2 samples, the wording of
 * the 1/2/3-speaker and gender-mismatch cases, and 10,000 random facts that parse back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/cot.h"
#include "infer/cot_parse.h"

static void test_levels(void **st) {
  (void)st;
  /* rule: clamp to [0,1], level = min(5, floor(5 s) + 1); an edge belongs to the upper level */
  struct { double s; int lv; } cases[] = {
      {-0.7, 1}, {-0.0, 1}, {0.0, 1}, {0.1, 1}, {0.19999, 1}, {0.2, 2}, {0.3999, 2}, {0.4, 3},
      {0.5, 3}, {0.6, 4}, {0.7999, 4}, {0.8, 5}, {0.95, 5}, {1.0, 5}, {1.3, 5}, {NAN, 1},
      {INFINITY, 5}, {-INFINITY, 1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (cot_level(cases[i].s) != cases[i].lv)
      fail_msg("cot_level(%g) = %d, expected %d", cases[i].s, cot_level(cases[i].s), cases[i].lv);
  }
  /* monotone over a fine grid, and each level covers a width-0.2 interval */
  int prev = 1, count[6] = {0};
  for (int i = 0; i <= 1000; i++) {
    int lv = cot_level(i / 1000.0);
    assert_true(lv >= prev);
    prev = lv;
    count[lv]++;
  }
  for (int lv = 1; lv <= 4; lv++) assert_int_equal(count[lv], 200);
  assert_int_equal(count[5], 201);
}

static void test_number_format(void **st) {
  (void)st;
  struct { double x; const char *s; } cases[] = {
      {6, "6"},        {6.0, "6"},          {9.04, "9.04"},  {9.1, "9.1"},   {9.10, "9.1"},
      {20.95, "20.95"}, {0.004, "0"},       {-0.001, "0"},   {2.999, "3"},   {0.125, "0.13"},
      {-1.5, "-1.5"},  {100.07, "100.07"},  {0.5, "0.5"},    {0.05, "0.05"}, {3.0000001, "3"},
      {14.949, "14.95"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char b[COT_NUM_MAX];
    cot_fmt_num(cases[i].x, b);
    if (strcmp(b, cases[i].s)) fail_msg("cot_fmt_num(%.10g) = \"%s\", expected \"%s\"", cases[i].x, b, cases[i].s);
  }
}

/* Figure 2, left: the single-speaker sample. Metadata transcribed from the paper: enrollment
 * 0-3 s, silence 3-6 s, single speaker 6-9.04 s, total 9.04 s, enrollment male, Speaker1 male
 * from 6 to 9.04 s with similarity level 4. The paper gives levels only; the score 0.7 is a
 * value inside level 4. The PDF text reads "RUI N" (a line-break artifact of RUIN). */
static cot_facts fig2_single(void) {
  cot_facts f = {0};
  f.enroll_dur = 3;
  f.silence_dur = 3;
  f.mix_dur = 3.04;
  f.total_dur = 9.04;
  f.enroll_gender = COT_MALE;
  f.n_speakers = 1;
  f.spk[0] = (cot_speaker){COT_MALE, 6, 9.04, 0.7, 4};
  f.target = 0;
  return f;
}

/* Figure 2, right: 2-speaker mixture 6-20.95 s, enrollment male, Speaker1 male 6.0-9.04 s
 * level 4, Speaker2 female 6.0-20.95 s level 2, target Speaker1 (scores 0.7 / 0.3 in level). */
static cot_facts fig2_two(void) {
  cot_facts f = {0};
  f.enroll_dur = 3;
  f.silence_dur = 3;
  f.mix_dur = 14.95;
  f.total_dur = 20.95;
  f.enroll_gender = COT_MALE;
  f.n_speakers = 2;
  f.spk[0] = (cot_speaker){COT_MALE, 6.0, 9.04, 0.7, 4};
  f.spk[1] = (cot_speaker){COT_FEMALE, 6.0, 20.95, 0.3, 2};
  f.target = 0;
  return f;
}

/* The paper's text of Figure 2 as extracted from the PDF (verbatim: with the literal "\n" the
 * extraction shows, the spaces around the tags and the paper's "6.0"). */
static const char *PAPER_SINGLE =
    "<think> Audio information: 0-3s is enrollment speech; 3-6s is silence; 6-9.04s is "
    "single-speaker audio; total duration 9.04s. Enrollment speech: male. Speaker1 information: "
    "male; from 6 to 9.04s; similarity to the enrollment speech is 4. Target speaker: Since this "
    "is a single-speaker audio, the Speaker1 must be the target speaker. Final output:\\n "
    "</think> <answer>IT'S GONE TO RUI N AND DECAY THE LAST FEW YEARS</answer>";
static const char *PAPER_TWO =
    "<think> Audio information: 0-3s is enrollment speech; 3-6s is silence; 6-20.95s is "
    "2-speaker mixture audio; total duration 20.95s. Enrollment speech: male. Speaker1 "
    "information: male; from 6.0 to 9.04s; similarity to the enrollment speech is 4. Speaker2 "
    "information: female; from 6.0 to 20.95s; similarity to the enrollment speech is 2. Target "
    "speaker: Speaker1 and the enrollment speech are both male; 4(Speaker1) > 2(Speaker2); "
    "Speaker1 has the highest similarity score to the enrollment speech and is the target "
    "speaker. Final output: </think> <answer>THIRTY OR FORTY MILES EASTWARD FROM "
    "SEATTLE</answer>";

/* Our canonical form of the same: no space after <think> or around the tags, "6" for "6.0". */
static const char *CANON_SINGLE =
    "<think>Audio information: 0-3s is enrollment speech; 3-6s is silence; 6-9.04s is "
    "single-speaker audio; total duration 9.04s. Enrollment speech: male. Speaker1 information: "
    "male; from 6 to 9.04s; similarity to the enrollment speech is 4. Target speaker: Since this "
    "is a single-speaker audio, the Speaker1 must be the target speaker. Final output:</think>"
    "<answer>IT'S GONE TO RUIN AND DECAY THE LAST FEW YEARS</answer>";
static const char *CANON_TWO =
    "<think>Audio information: 0-3s is enrollment speech; 3-6s is silence; 6-20.95s is "
    "2-speaker mixture audio; total duration 20.95s. Enrollment speech: male. Speaker1 "
    "information: male; from 6 to 9.04s; similarity to the enrollment speech is 4. Speaker2 "
    "information: female; from 6 to 20.95s; similarity to the enrollment speech is 2. Target "
    "speaker: Speaker1 and the enrollment speech are both male; 4(Speaker1) > 2(Speaker2); "
    "Speaker1 has the highest similarity score to the enrollment speech and is the target "
    "speaker. Final output:</think><answer>THIRTY OR FORTY MILES EASTWARD FROM SEATTLE</answer>";

static void expect_all_ok(const char *text, const cot_facts *f, int continuous, double tol_s) {
  cot_parsed p;
  ts_err e = {0};
  assert_int_equal(cot_parse(text, strlen(text), &p, &e), TS_OK);
  cot_check_opts o = {continuous, tol_s > 0 ? tol_s : 1e-6, 1e-6}; /* exact */
  cot_check c;
  if (cot_check_run(&p, f, &o, &c, &e)) fail_msg("check: %s", e.msg);
  for (int i = 0; i < c.n_steps; i++)
    if (c.step[i].status != COT_STEP_OK)
      fail_msg("step %s is %s (%s)\ntext: %s", c.step[i].name,
               cot_step_status_name(c.step[i].status), c.step[i].detail, text);
  int expect_steps = 7 + 3 * f->n_speakers + 1 + (f->n_speakers >= 2 ? 2 : 0) + 2;
  assert_int_equal(c.n_steps, expect_steps);
  assert_int_equal(p.target, f->target);
}

static void test_figure2(void **st) {
  (void)st;
  ts_err e = {0};
  char *s = NULL;
  cot_facts f1 = fig2_single(), f2 = fig2_two();
  assert_int_equal(cot_build(&f1, NULL, "IT'S GONE TO RUIN AND DECAY THE LAST FEW YEARS", &s, &e), TS_OK);
  assert_string_equal(s, CANON_SINGLE);
  free(s);
  assert_int_equal(cot_build(&f2, NULL, "THIRTY OR FORTY MILES EASTWARD FROM SEATTLE", &s, &e), TS_OK);
  assert_string_equal(s, CANON_TWO);
  free(s);
  /* the design's text (DESIGN.md §7) is the same think body */
  assert_int_equal(cot_build_think(&f2, NULL, &s, &e), TS_OK);
  assert_non_null(strstr(CANON_TWO, s));
  free(s);
  /* the paper's own text parses and every step checks against the transcribed metadata */
  expect_all_ok(PAPER_SINGLE, &f1, 0, 0);
  expect_all_ok(PAPER_TWO, &f2, 0, 0);
  expect_all_ok(CANON_SINGLE, &f1, 0, 0);
  expect_all_ok(CANON_TWO, &f2, 0, 0);
  char *ans = NULL;
  assert_int_equal(cot_answer(PAPER_TWO, strlen(PAPER_TWO), &ans, &e), TS_OK);
  assert_string_equal(ans, "THIRTY OR FORTY MILES EASTWARD FROM SEATTLE");
  free(ans);
}

static void test_empty_form(void **st) {
  (void)st;
  char *s = NULL;
  ts_err e = {0};
  assert_int_equal(cot_build_empty("HELLO WORLD", &s, &e), TS_OK);
  assert_string_equal(s, "<think></think><answer>HELLO WORLD</answer>");
  cot_parsed p;
  assert_int_equal(cot_parse(s, strlen(s), &p, &e), TS_OK);
  assert_true(p.format_ok);
  assert_true(p.think_empty);
  assert_int_equal(p.target, -1);
  free(s);
  assert_int_equal(cot_build_empty("A </answer> B", &s, &e), TS_EARG);
  assert_null(s);
}

static __attribute__((noinline)) char *think_of(const cot_facts *f, int continuous) {
  cot_opts o = {continuous};
  char *s = NULL;
  ts_err e = {0};
  if (cot_build_think(f, &o, &s, &e)) fail_msg("build: %s", e.msg);
  return s;
}

static cot_facts three(cot_gender eg, cot_gender g1, double s1, cot_gender g2, double s2,
                       cot_gender g3, double s3, int target) {
  cot_facts f = {0};
  f.enroll_dur = 3;
  f.silence_dur = 3;
  f.mix_dur = 10;
  f.total_dur = 16;
  f.enroll_gender = eg;
  f.n_speakers = 3;
  f.spk[0] = (cot_speaker){g1, 6, 16, s1, 0};
  f.spk[1] = (cot_speaker){g2, 6, 12.5, s2, 0};
  f.spk[2] = (cot_speaker){g3, 7.25, 16, s3, 0};
  f.target = target;
  cot_facts_set_levels(&f);
  return f;
}

static void expect_target_text(const cot_facts *f, int continuous, const char *want) {
  char *s = think_of(f, continuous);
  char full[2048];
  snprintf(full, sizeof full, "%s Final output:", want);
  const char *tp = strstr(s, "Target speaker: ");
  if (!tp) fail_msg("no target statement in %s", s);
  tp += strlen("Target speaker: ");
  if (strcmp(tp, full)) fail_msg("target statement\n got: %s\nwant: %s", tp, full);
  /* and it checks out */
  char *txt = NULL;
  ts_err e = {0};
  cot_opts o = {continuous};
  assert_int_equal(cot_build(f, &o, "X", &txt, &e), TS_OK);
  expect_all_ok(txt, f, continuous, 0);
  free(txt);
  free(s);
}

static void test_wording(void **st) {
  (void)st;
  const cot_gender M = COT_MALE, F = COT_FEMALE;
  /* two male candidates, the target first among all */
  cot_facts f = three(M, M, 0.85, F, 0.45, M, 0.62, 0);
  expect_target_text(&f, 0,
                     "Speaker1, Speaker3 and the enrollment speech are all male; 5(Speaker1) > "
                     "4(Speaker3) > 3(Speaker2); Speaker1 has the highest similarity score to the "
                     "enrollment speech and is the target speaker.");
  assert_int_equal(cot_reason_for(&f, 0), COT_REASON_TOP);
  /* a female interferer scores higher, but the target is the only male */
  f = three(M, F, 0.9, M, 0.5, F, 0.1, 1);
  expect_target_text(&f, 0,
                     "Speaker2 and the enrollment speech are both male; 5(Speaker1) > 3(Speaker2) > "
                     "1(Speaker3); Speaker2 is the only male speaker and is the target speaker.");
  /* highest among the female speakers only */
  f = three(F, F, 0.3, M, 0.95, F, 0.5, 2);
  expect_target_text(&f, 0,
                     "Speaker1, Speaker3 and the enrollment speech are all female; 5(Speaker2) > "
                     "3(Speaker3) > 2(Speaker1); Speaker3 has the highest similarity score among "
                     "the female speakers and is the target speaker.");
  /* equal levels: ties written with "=", broken by the continuous score */
  f = three(M, M, 0.61, M, 0.79, F, 0.2, 1);
  expect_target_text(&f, 0,
                     "Speaker1, Speaker2 and the enrollment speech are all male; 4(Speaker2) = "
                     "4(Speaker1) > 2(Speaker3); Speaker2 has the highest similarity score to the "
                     "enrollment speech and is the target speaker.");
  /* the encoder disagrees with the truth: a same-gender interferer has the higher level; the
   * true target is named with a true sentence */
  f = three(M, M, 0.9, M, 0.3, F, 0.5, 1);
  expect_target_text(&f, 0,
                     "Speaker1, Speaker2 and the enrollment speech are all male; 5(Speaker1) > "
                     "3(Speaker3) > 2(Speaker2); Speaker2 does not have the highest similarity "
                     "score, but it is the target speaker.");
  /* gender mismatch: no speaker shares the enrollment's gender */
  f = three(F, M, 0.4, M, 0.7, M, 0.1, 1);
  expect_target_text(&f, 0,
                     "No speaker has the same gender as the enrollment speech; 4(Speaker2) > "
                     "3(Speaker1) > 1(Speaker3); Speaker2 has the highest similarity score to the "
                     "enrollment speech and is the target speaker.");
  /* continuous mode writes scores, clamped to [0, 1], in the canonical format */
  f = three(M, M, 0.834, F, -0.2, M, 1.2, 2);
  expect_target_text(&f, 1,
                     "Speaker1, Speaker3 and the enrollment speech are all male; 1(Speaker3) > "
                     "0.83(Speaker1) > 0(Speaker2); Speaker3 has the highest similarity score to "
                     "the enrollment speech and is the target speaker.");
  char *s = think_of(&f, 1);
  assert_non_null(strstr(s, "Speaker1 information: male; from 6 to 16s; similarity to the "
                            "enrollment speech is 0.83. Speaker2 information: female; from 6 to "
                            "12.5s; similarity to the enrollment speech is 0. Speaker3 "
                            "information: male; from 7.25 to 16s; similarity to the enrollment "
                            "speech is 1."));
  assert_non_null(strstr(s, "6-16s is 3-speaker mixture audio; total duration 16s."));
  free(s);
  /* a 2-speaker tie in continuous mode after rounding: "=", decided by the raw score */
  cot_facts g = fig2_two();
  g.spk[0].score = 0.451;
  g.spk[1].score = 0.449;
  g.spk[1].gender = COT_MALE;
  expect_target_text(&g, 1,
                     "Speaker1, Speaker2 and the enrollment speech are all male; 0.45(Speaker1) = "
                     "0.45(Speaker2); Speaker1 has the highest similarity score to the enrollment "
                     "speech and is the target speaker.");
}

static void test_validation(void **st) {
  (void)st;
  ts_err e = {0};
  char *s = (char *)1;
  cot_facts f = fig2_two();
  assert_int_equal(cot_build(&f, NULL, "OK", &s, &e), TS_OK);
  free(s);
  cot_facts b;
#define BAD(stmt)                                                          \
  do {                                                                     \
    b = fig2_two();                                                        \
    stmt;                                                                  \
    s = (char *)1;                                                         \
    if (cot_build(&b, NULL, "OK", &s, &e) != TS_EARG) fail_msg("accepted: %s", #stmt); \
    assert_null(s);                                                        \
  } while (0)
  BAD(b.n_speakers = 0);
  BAD(b.n_speakers = 4);
  BAD(b.target = 2);
  BAD(b.target = -1);
  BAD(b.total_dur = 25);
  BAD(b.mix_dur = 0);
  BAD(b.enroll_dur = NAN);
  BAD(b.enroll_gender = COT_GENDER_NONE);
  BAD(b.spk[1].gender = 7);
  BAD(b.spk[0].start = 10; b.spk[0].end = 9);
  BAD(b.spk[0].start = 2);
  BAD(b.spk[1].end = 30);
  BAD(b.spk[0].level = 0);
  BAD(b.spk[0].level = 6);
  BAD(b.spk[0].score = NAN);
#undef BAD
  assert_int_equal(cot_build(&f, NULL, "A <think> B", &s, &e), TS_EARG);
  assert_int_equal(cot_build(&f, NULL, NULL, &s, &e), TS_EARG);
  /* continuous mode does not need levels */
  cot_opts co = {1};
  f.spk[0].level = 0;
  assert_int_equal(cot_build(&f, &co, "OK", &s, &e), TS_OK);
  free(s);
}

/* An independent reading of the claims: rank by written value, then raw score. */
static double written(const cot_facts *f, int k, int cont) {
  if (!cont) return f->spk[k].level;
  double s = f->spk[k].score;
  s = s < 0 ? 0 : s > 1 ? 1 : s;
  return round(s * 100) / 100;
}
static int above(const cot_facts *f, int a, int b, int cont) {
  double x = written(f, a, cont), y = written(f, b, cont);
  return x > y || (x == y && f->spk[a].score > f->spk[b].score);
}

static void test_random_roundtrip(void **st) {
  (void)st;
  int reasons[6] = {0}, rule_names_other = 0;
  for (uint64_t i = 0; i < 10000; i++) {
    cot_facts f;
    cot_facts_random(&f, 20251126, i);
    int cont = (int)(i % 4 == 3);
    cot_opts o = {cont};
    char *s = NULL;
    ts_err e = {0};
    if (cot_build(&f, &o, "SOME WORDS HERE", &s, &e)) fail_msg("facts %llu: %s", (unsigned long long)i, e.msg);
    expect_all_ok(s, &f, cont, 0);
    cot_parsed p;
    assert_int_equal(cot_parse(s, strlen(s), &p, &e), TS_OK);
    assert_int_equal(p.reason, cot_reason_for(&f, cont));
    assert_int_equal(p.n_speakers, f.n_speakers);
    assert_int_equal(p.n_blocks, f.n_speakers);
    reasons[p.reason]++;
    /* independent truth of the conclusion */
    int t = f.target, n = f.n_speakers, top_all = 1;
    for (int k = 0; k < n; k++)
      if (k != t && !above(&f, t, k, cont)) top_all = 0;
    if (p.reason == COT_REASON_TOP) assert_true(top_all);
    if (p.reason == COT_REASON_NOT_TOP) assert_false(top_all);
    if (p.reason == COT_REASON_ONLY_GENDER || p.reason == COT_REASON_TOP_GENDER) {
      assert_int_equal(f.spk[t].gender, f.enroll_gender);
      for (int k = 0; k < n; k++)
        if (k != t && f.spk[k].gender == f.enroll_gender) {
          assert_int_equal(p.reason, COT_REASON_TOP_GENDER);
          assert_true(above(&f, t, k, cont));
        }
    }
    /* the paper's rule: candidates of the enrollment's gender (else all), best first */
    int best = -1;
    unsigned cand = 0;
    for (int k = 0; k < n; k++)
      if (f.spk[k].gender == f.enroll_gender) cand |= 1u << k;
    if (!cand) cand = (1u << n) - 1;
    for (int k = 0; k < n; k++) {
      if (!(cand & (1u << k))) continue;
      if (best < 0 || above(&f, k, best, cont)) best = k;
    }
    int unique = 1;
    for (int k = 0; k < n; k++)
      if ((cand & (1u << k)) && k != best && !above(&f, best, k, cont)) unique = 0;
    if (n >= 2 && unique && best == t && f.spk[t].gender == f.enroll_gender)
      assert_true(p.reason == COT_REASON_TOP || p.reason == COT_REASON_ONLY_GENDER ||
                  p.reason == COT_REASON_TOP_GENDER);
    if (n >= 2 && best != t) rule_names_other++;
    free(s);
  }
  /* the random facts exercise every form */
  print_message("reasons: single %d, top %d, only-gender %d, top-in-gender %d, not-top %d; "
                "rule would name another speaker: %d\n", reasons[1], reasons[2], reasons[3],
                reasons[4], reasons[5], rule_names_other);
  for (int r = COT_REASON_SINGLE; r <= COT_REASON_NOT_TOP; r++)
    if (reasons[r] < 50) fail_msg("reason %s occurred %d times only", cot_reason_name(r), reasons[r]);
  assert_true(rule_names_other > 100);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_levels),     cmocka_unit_test(test_number_format),
      cmocka_unit_test(test_figure2),    cmocka_unit_test(test_empty_form),
      cmocka_unit_test(test_wording),    cmocka_unit_test(test_validation),
      cmocka_unit_test(test_random_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
