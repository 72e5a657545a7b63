/* test_cot_parse.c — the output parser: format rules case by case, tolerance of whitespace and
 * case in the CoT steps, the step checker finding each kind of wrong step, and a fuzz run
 * against an independent PCRE2 oracle of the format. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/philox.h"
#include "data/cot.h"
#include "infer/cot_parse.h"

/* ---- format rules ---- */

typedef struct fcase {
  const char *s;
  size_t n; /* 0: strlen */
  cot_fmt_err want;
  const char *answer; /* expected answer when OK */
} fcase;

static void test_format_cases(void **st) {
  (void)st;
  static const char nul_in[] = "<think>a\0b</think><answer>c</answer>";
  fcase cases[] = {
      {"<think>a</think><answer>B</answer>", 0, COT_FMT_OK, "B"},
      {" \n\t<think></think>\r\n <answer>  HELLO THERE \n</answer>\n\n", 0, COT_FMT_OK, "HELLO THERE"},
      {"<think>a < b, x<y>z, <thinking></think><answer>x<y </ans</answer>", 0, COT_FMT_OK, "x<y </ans"},
      {"<think>a</think><answer></answer>", 0, COT_FMT_OK, ""},
      {"", 0, COT_FMT_EMPTY, NULL},
      {" \n\t ", 0, COT_FMT_EMPTY, NULL},
      {nul_in, sizeof nul_in - 1, COT_FMT_NUL, NULL},
      {"x<think>a</think><answer>B</answer>", 0, COT_FMT_NO_THINK, NULL},
      {"<answer>B</answer>", 0, COT_FMT_NO_THINK, NULL},
      {"HELLO", 0, COT_FMT_NO_THINK, NULL},
      {"<Think>a</Think><answer>B</answer>", 0, COT_FMT_NO_THINK, NULL},
      {"< think >a</think><answer>B</answer>", 0, COT_FMT_NO_THINK, NULL},
      {"<think>abc", 0, COT_FMT_NO_THINK_CLOSE, NULL},
      {"<think>a<think>b</think><answer>c</answer>", 0, COT_FMT_TAG_IN_THINK, NULL},
      {"<think>a<answer>b</answer></think><answer>c</answer>", 0, COT_FMT_TAG_IN_THINK, NULL},
      {"<think>a</answer></think><answer>c</answer>", 0, COT_FMT_TAG_IN_THINK, NULL},
      {"<think>a</think>", 0, COT_FMT_NO_ANSWER, NULL},
      {"<think>a</think> so <answer>c</answer>", 0, COT_FMT_NO_ANSWER, NULL},
      {"<think>a</think></think><answer>c</answer>", 0, COT_FMT_NO_ANSWER, NULL},
      {"<think>a</think><answer>c", 0, COT_FMT_NO_ANSWER_CLOSE, NULL},
      {"<think>a</think><answer>c</answer", 0, COT_FMT_NO_ANSWER_CLOSE, NULL},
      {"<think>a</think><answer>c<answer>d</answer>", 0, COT_FMT_TAG_IN_ANSWER, NULL},
      {"<think>a</think><answer>c</think></answer>", 0, COT_FMT_TAG_IN_ANSWER, NULL},
      {"<think>a</think><answer>c<think></answer>", 0, COT_FMT_TAG_IN_ANSWER, NULL},
      {"<think>a</think><answer>c</answer>x", 0, COT_FMT_TRAILING, NULL},
      {"<think>a</think><answer>c</answer> <answer>d</answer>", 0, COT_FMT_TRAILING, NULL},
      {"<think>a</think><answer>c</answer><|im_end|>", 0, COT_FMT_TRAILING, NULL},
      {"<think>a</think><answer>c</answer><think>b</think><answer>c</answer>", 0, COT_FMT_TRAILING, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const fcase *c = &cases[i];
    size_t n = c->n ? c->n : strlen(c->s);
    cot_parsed p;
    ts_err e = {0};
    assert_int_equal(cot_parse(c->s, n, &p, &e), TS_OK);
    if (p.fmt != c->want)
      fail_msg("case %zu \"%s\": got %s, expected %s", i, c->s, cot_fmt_err_name(p.fmt),
               cot_fmt_err_name(c->want));
    assert_int_equal(p.format_ok, c->want == COT_FMT_OK);
    char *a = NULL;
    assert_int_equal(cot_answer(c->s, n, &a, &e), TS_OK);
    assert_string_equal(a, c->want == COT_FMT_OK ? c->answer : "");
    free(a);
  }
  /* NULL input is an empty output, not a crash */
  cot_parsed p;
  assert_int_equal(cot_parse(NULL, 0, &p, NULL), TS_OK);
  assert_int_equal(p.fmt, COT_FMT_EMPTY);
}

/* ---- helpers ---- */

static __attribute__((noinline)) char *build(const cot_facts *f, int cont, const char *tr) {
  cot_opts o = {cont};
  char *s = NULL;
  ts_err e = {0};
  if (cot_build(f, &o, tr, &s, &e)) fail_msg("build: %s", e.msg);
  return s;
}

/* Status of each step, compared with a list of "name=status" exceptions; all others OK. */
static void expect_steps(const char *text, const cot_facts *f, const cot_check_opts *o,
                         const char *const *except) {
  cot_parsed p;
  ts_err e = {0};
  assert_int_equal(cot_parse(text, strlen(text), &p, &e), TS_OK);
  cot_check c;
  if (cot_check_run(&p, f, o, &c, &e)) fail_msg("check: %s", e.msg);
  int used = 0;
  for (int i = 0; i < c.n_steps; i++) {
    cot_step_status want = COT_STEP_OK;
    for (const char *const *x = except; x && *x; x++) {
      size_t l = strlen(c.step[i].name);
      if (!strncmp(*x, c.step[i].name, l) && (*x)[l] == '=') {
        want = !strcmp(*x + l + 1, "wrong") ? COT_STEP_WRONG : COT_STEP_MISSING;
        used++;
      }
    }
    if (c.step[i].status != want)
      fail_msg("step %s: %s (%s), expected %s\ntext: %s", c.step[i].name,
               cot_step_status_name(c.step[i].status), c.step[i].detail,
               cot_step_status_name(want), text);
  }
  int listed = 0;
  for (const char *const *x = except; x && *x; x++) listed++;
  assert_int_equal(used, listed); /* every exception named a step that exists */
}

/* Replaces the first occurrence of from by to; the result is malloc'd. */
static char *replace1(const char *s, const char *from, const char *to) {
  const char *q = strstr(s, from);
  if (!q) fail_msg("\"%s\" not in %s", from, s);
  size_t a = (size_t)(q - s), lf = strlen(from), lt = strlen(to), n = strlen(s);
  char *r = malloc(n - lf + lt + 1);
  memcpy(r, s, a);
  memcpy(r + a, to, lt);
  memcpy(r + a + lt, q + lf, n - a - lf + 1);
  return r;
}

static cot_facts two_facts(void) {
  cot_facts f = {0};
  f.enroll_dur = 3;
  f.silence_dur = 3;
  f.mix_dur = 14.95;
  f.total_dur = 20.95;
  f.enroll_gender = COT_MALE;
  f.n_speakers = 2;
  f.spk[0] = (cot_speaker){COT_MALE, 6, 9.04, 0.7, 4};
  f.spk[1] = (cot_speaker){COT_FEMALE, 6, 20.95, 0.3, 2};
  f.target = 0;
  return f;
}

/* ---- the checker names the wrong step ---- */

static void test_checker_steps(void **st) {
  (void)st;
  cot_facts f = two_facts();
  char *s = build(&f, 0, "THIRTY OR FORTY MILES");
  expect_steps(s, &f, NULL, NULL);
  struct { const char *from, *to; const char *except[6]; } edits[] = {
      {"Speaker2 information: female", "Speaker2 information: male", {"speaker2.gender=wrong"}},
      {"from 6 to 20.95s", "from 6 to 21.95s", {"speaker2.span=wrong"}},
      {"from 6 to 20.95s", "from 6 to 21.01s", {"speaker2.span=wrong"}},
      {"from 6 to 20.95s", "from 6 to 20.98s", {NULL}}, /* within the default 0.05 s */
      {"speech is 2.", "speech is 3.", {"speaker2.similarity=wrong"}},
      {"Speaker1 has the highest", "Speaker2 has the highest", {"target.reason=wrong", "target=wrong"}},
      {"4(Speaker1) > 2(Speaker2)", "2(Speaker2) > 4(Speaker1)", {"target.ranking=wrong"}},
      {"4(Speaker1) > 2(Speaker2)", "4(Speaker1) = 2(Speaker2)", {"target.ranking=wrong"}},
      {"4(Speaker1) > 2(Speaker2)", "4(Speaker1)", {"target.ranking=wrong"}},
      {"4(Speaker1) > 2(Speaker2)", "4(Speaker1) > 3(Speaker2)", {"target.ranking=wrong"}},
      {"Speaker1 and the enrollment speech are both male",
       "Speaker1, Speaker2 and the enrollment speech are all male", {"target.gender=wrong"}},
      {"Speaker1 and the enrollment speech are both male",
       "No speaker has the same gender as the enrollment speech", {"target.gender=wrong"}},
      {"Speaker1 and the enrollment speech are both male; ", "", {"target.gender=missing"}},
      {"has the highest similarity score to the enrollment speech and is",
       "is the only male speaker and is", {NULL}},
      {"has the highest similarity score to the enrollment speech and is",
       "does not have the highest similarity score, but it is", {"target.reason=wrong"}},
      {"has the highest similarity score to the enrollment speech and is",
       "is the only female speaker and is", {"target.reason=wrong"}},
      {"total duration 20.95s", "total duration 20s", {"audio.total=wrong"}},
      {"2-speaker mixture", "3-speaker mixture", {"audio.count=wrong"}},
      {"0-3s is enrollment", "0-2.5s is enrollment", {"audio.enrollment=wrong"}},
      {"3-6s is silence", "3-7s is silence", {"audio.silence=wrong"}},
      {"6-20.95s is 2", "6.5-20.95s is 2", {"audio.mixture=wrong"}},
      {"Enrollment speech: male", "Enrollment speech: female", {"enrollment.gender=wrong"}},
      {"Enrollment speech: male", "Enrollment speech: unknown", {"enrollment.gender=missing"}},
      {" Speaker2 information: female; from 6 to 20.95s; similarity to the enrollment speech is 2.",
       "", {"speaker2.gender=missing", "speaker2.span=missing", "speaker2.similarity=missing",
            "speakers.count=wrong"}},
      {"Target speaker:", "Speaker3 information: male; from 6 to 7s; similarity to the enrollment "
                          "speech is 1. Target speaker:", {"speakers.count=wrong"}},
      {"Target speaker:", "Speaker1 information: female. Target speaker:", {"speakers.count=wrong"}},
      {"</answer>", "", {"format=wrong"}},
  };
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
    char *t = replace1(s, edits[i].from, edits[i].to);
    expect_steps(t, &f, NULL, edits[i].except);
    free(t);
  }
  free(s);
  /* an empty think: every step is missing, the format is fine */
  static const char *const all_missing[] = {
      "audio.enrollment=missing", "audio.silence=missing", "audio.mixture=missing",
      "audio.total=missing", "audio.count=missing", "enrollment.gender=missing",
      "speaker1.gender=missing", "speaker1.span=missing", "speaker1.similarity=missing",
      "speaker2.gender=missing", "speaker2.span=missing", "speaker2.similarity=missing",
      "speakers.count=missing", "target.gender=missing", "target.ranking=missing",
      "target.reason=missing", "target=missing", NULL};
  expect_steps("<think></think><answer>THIRTY</answer>", &f, NULL, all_missing);
  /* continuous mode: score tolerance */
  s = build(&f, 1, "X");
  assert_non_null(strstr(s, "similarity to the enrollment speech is 0.7."));
  char *t = replace1(s, "speech is 0.7.", "speech is 0.72.");
  cot_check_opts strict = {1, 1e-6, 1e-6}, loose = {1, 0, 0}; /* exact / defaults */
  static const char *const sim_wrong[] = {"speaker1.similarity=wrong", NULL};
  expect_steps(t, &f, &strict, sim_wrong);
  expect_steps(t, &f, &loose, NULL);
  /* level mode reading a continuous CoT: every similarity is wrong */
  static const char *const lv_wrong[] = {"speaker1.similarity=wrong", "speaker2.similarity=wrong",
                                         "target.ranking=wrong", NULL};
  expect_steps(s, &f, NULL, lv_wrong);
  free(t);
  free(s);
}

/* ---- whitespace and case ---- */

static void test_whitespace_tolerance(void **st) {
  (void)st;
  static const char ws[] = " \t\n\r";
  philox_rng r;
  philox_init(&r, 7, 1);
  for (uint64_t i = 0; i < 500; i++) {
    cot_facts f;
    cot_facts_random(&f, 99, i);
    int cont = (int)(i & 1);
    char *s = build(&f, cont, "A B C");
    size_t n = strlen(s);
    char *t = malloc(n * 8 + 64);
    size_t m = 0;
    const char *b0 = strstr(s, "<think>") + 7, *b1 = strstr(s, "</think>");
    for (const char *q = s; *q; q++) {
      char c = *q;
      int in = q >= b0 && q < b1;
      if (in && c == ' ') {
        int k = 1 + (int)philox_below(&r, 3);
        for (int j = 0; j < k; j++) t[m++] = ws[philox_below(&r, 4)];
        continue;
      }
      int punct = in && strchr(";:,()>=-", c) != NULL;
      if (punct && philox_below(&r, 2)) t[m++] = ws[philox_below(&r, 4)];
      if (in && c >= 'a' && c <= 'z' && philox_below(&r, 3) == 0) c = (char)(c - 'a' + 'A');
      if (in && c >= 'A' && c <= 'Z' && philox_below(&r, 3) == 0) c = (char)(c - 'A' + 'a');
      t[m++] = c;
      if (punct && philox_below(&r, 2)) t[m++] = ws[philox_below(&r, 4)];
    }
    t[m] = 0;
    cot_check_opts o = {cont, 1e-6, 1e-6};
    expect_steps(t, &f, &o, NULL);
    free(t);
    free(s);
  }
}

/* ---- fuzz ---- */

typedef struct oracle {
  pcre2_code *re;
  pcre2_match_data *md;
} oracle;

/* The format as a regular expression, independent of the parser's code. */
static void oracle_init(oracle *o) {
  const char *pat =
      "\\A\\s*<think>((?:(?!</?think>|</?answer>)[\\s\\S])*)</think>\\s*"
      "<answer>((?:(?!</?think>|</?answer>)[\\s\\S])*)</answer>\\s*\\z";
  int err;
  PCRE2_SIZE off;
  o->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
  assert_non_null(o->re);
  o->md = pcre2_match_data_create_from_pattern(o->re, NULL);
  assert_non_null(o->md);
}

static void oracle_free(oracle *o) {
  pcre2_match_data_free(o->md);
  pcre2_code_free(o->re);
}

/* 1 when well-formed; the trimmed answer goes to *a0, *a1. */
static int oracle_ok(oracle *o, const char *s, size_t n, size_t *a0, size_t *a1) {
  if (memchr(s, 0, n)) return 0;
  int rc = pcre2_match(o->re, (PCRE2_SPTR)s, n, 0, 0, o->md, NULL);
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc < 0) fail_msg("pcre2_match error %d", rc);
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(o->md);
  size_t x = ov[4], y = ov[5];
  while (x < y && strchr(" \t\n\v\f\r", s[x])) x++;
  while (y > x && strchr(" \t\n\v\f\r", s[y - 1])) y--;
  *a0 = x;
  *a1 = y;
  return 1;
}

static const char *const PIECES[] = {"<think>", "</think>", "<answer>", "</answer>", "<thi", "</answer",
                                     " ", "\n", "Speaker1", "Speaker12", "information:", "4(Speaker2)",
                                     " > ", ";", "male", "from 6 to 9.04s", "Target speaker:",
                                     "99999999999999999999", ".", "-", "is the target speaker",
                                     "similarity to the enrollment speech is"};
#define NPIECES (sizeof PIECES / sizeof PIECES[0])

/* Applies one random mutation to buf (length *n, capacity cap). */
static void mutate(philox_rng *r, char *buf, size_t *n, size_t cap) {
  size_t len = *n;
  switch (philox_below(r, 8)) {
    case 0: /* flip a byte */
      if (len) buf[philox_below(r, len)] = (char)philox_u32(r);
      break;
    case 1: { /* delete a range */
      if (!len) break;
      size_t a = philox_below(r, len), l = 1 + philox_below(r, len - a < 20 ? len - a : 20);
      memmove(buf + a, buf + a + l, len - a - l);
      len -= l;
      break;
    }
    case 2: case 3: { /* insert a piece or a random byte */
      const char *p = PIECES[philox_below(r, NPIECES)];
      char one[1] = {(char)philox_u32(r)};
      size_t l = philox_below(r, 4) ? strlen(p) : 1;
      const char *src = l == 1 && !philox_below(r, 2) ? one : p;
      if (len + l > cap) break;
      size_t a = philox_below(r, len + 1);
      memmove(buf + a + l, buf + a, len - a);
      memcpy(buf + a, src, l);
      len += l;
      break;
    }
    case 4: /* truncate */
      if (len) len = philox_below(r, len);
      break;
    case 5: { /* duplicate a range */
      if (!len) break;
      size_t a = philox_below(r, len), l = 1 + philox_below(r, len - a < 60 ? len - a : 60);
      if (len + l > cap) break;
      memmove(buf + a + l, buf + a, len - a);
      memcpy(buf + a + l, buf + a, l);
      len += l;
      break;
    }
    case 6: /* change a digit */
      for (int tries = 0; tries < 8 && len; tries++) {
        size_t a = philox_below(r, len);
        if (buf[a] >= '0' && buf[a] <= '9') {
          buf[a] = (char)('0' + philox_below(r, 10));
          break;
        }
      }
      break;
    default: /* whitespace somewhere */
      if (len < cap) {
        size_t a = philox_below(r, len + 1);
        memmove(buf + a + 1, buf + a, len - a);
        buf[a] = " \t\n\r"[philox_below(r, 4)];
        len++;
      }
      break;
  }
  *n = len;
}

static long fmt_count[COT_FMT_TRAILING + 1];

static void check_one(oracle *o, const char *buf, size_t n, const cot_facts *f, long *n_ok) {
  cot_parsed p;
  ts_err e = {0};
  assert_int_equal(cot_parse(buf, n, &p, &e), TS_OK);
  fmt_count[p.fmt]++;
  size_t a0 = 0, a1 = 0;
  int ok = oracle_ok(o, buf, n, &a0, &a1);
  if (ok != p.format_ok) fail_msg("format: parser %s, oracle %s, on %.*s", cot_fmt_err_name(p.fmt), ok ? "ok" : "error", (int)n, buf);
  if (ok) {
    (*n_ok)++;
    assert_int_equal(p.answer_off, a0);
    assert_int_equal(p.answer_len, a1 - a0);
  } else {
    assert_int_equal(p.answer_len, 0);
  }
  char *ans = NULL;
  assert_int_equal(cot_answer(buf, n, &ans, &e), TS_OK);
  assert_int_equal(strlen(ans), ok ? a1 - a0 : 0);
  free(ans);
  /* the structured parse stays in range */
  assert_true(p.target >= -1 && p.target < COT_PARSE_MAX_SPK);
  assert_true(p.n_blocks >= 0 && p.n_blocks <= COT_PARSE_MAX_SPK);
  assert_true(p.rank_n >= 0 && p.rank_n <= COT_PARSE_MAX_SPK);
  assert_true(p.n_speakers >= 0 && p.n_speakers <= 99);
  cot_check c;
  assert_int_equal(cot_check_run(&p, f, NULL, &c, &e), TS_OK);
  assert_int_equal(c.n_ok + c.n_wrong + c.n_missing, c.n_steps);
  assert_int_equal(c.step[0].status == COT_STEP_OK, ok);
}

static void test_fuzz(void **st) {
  (void)st;
  oracle o;
  oracle_init(&o);
  philox_rng r;
  philox_init(&r, 4242, 0);
  enum { CAP = 4096 };
  char *buf = malloc(CAP + 1);
  long n_ok = 0, iters = 0;
  for (uint64_t i = 0; i < 40000; i++) {
    cot_facts f;
    cot_facts_random(&f, 5, i);
    size_t n;
    uint64_t kind = philox_below(&r, 10);
    if (kind == 0) { /* random bytes */
      n = philox_below(&r, 300);
      for (size_t j = 0; j < n; j++) buf[j] = (char)philox_u32(&r);
    } else if (kind == 1) { /* a soup of pieces */
      n = 0;
      int k = (int)philox_below(&r, 12);
      for (int j = 0; j < k; j++) {
        const char *p = PIECES[philox_below(&r, NPIECES)];
        size_t l = strlen(p);
        if (n + l > CAP) break;
        memcpy(buf + n, p, l);
        n += l;
      }
    } else { /* mutations of a valid output (CoT or empty think) */
      char *s = NULL;
      ts_err e = {0};
      cot_opts co = {(int)(i & 1)};
      if (kind == 2) assert_int_equal(cot_build_empty("SOME WORDS", &s, &e), TS_OK);
      else assert_int_equal(cot_build(&f, &co, "SOME WORDS", &s, &e), TS_OK);
      n = strlen(s);
      assert_true(n < CAP);
      memcpy(buf, s, n);
      free(s);
      int k = 1 + (int)philox_below(&r, 4);
      for (int j = 0; j < k; j++) mutate(&r, buf, &n, CAP);
    }
    check_one(&o, buf, n, &f, &n_ok);
    iters++;
  }
  /* sensible errors for the usual breakages of a valid output */
  cot_facts f;
  cot_facts_random(&f, 5, 1);
  char *s = build(&f, 0, "SOME WORDS");
  size_t n = strlen(s);
  for (size_t cut = 0; cut < n; cut++) { /* every truncation is a format error */
    cot_parsed p;
    cot_parse(s, cut, &p, NULL);
    assert_false(p.format_ok);
    cot_fmt_err want = cut == 0 ? COT_FMT_EMPTY
                       : cut < 7 ? COT_FMT_NO_THINK
                       : cut < (size_t)(strstr(s, "</think>") - s) + 8 ? COT_FMT_NO_THINK_CLOSE
                       : cut < (size_t)(strstr(s, "<answer>") - s) + 8 ? COT_FMT_NO_ANSWER
                                                                        : COT_FMT_NO_ANSWER_CLOSE;
    if (p.fmt != want) fail_msg("cut at %zu: %s, expected %s", cut, cot_fmt_err_name(p.fmt), cot_fmt_err_name(want));
  }
  memcpy(buf, s, n);
  memcpy(buf + n, "\n<|im_end|>", 11);
  cot_parsed p;
  cot_parse(buf, n + 11, &p, NULL);
  assert_int_equal(p.fmt, COT_FMT_TRAILING);
  memcpy(buf, "Sure! ", 6);
  memcpy(buf + 6, s, n);
  cot_parse(buf, n + 6, &p, NULL);
  assert_int_equal(p.fmt, COT_FMT_NO_THINK);
  /* a format error keeps the structured parse, best effort (the workbench still shows steps) */
  cot_parse(s, n - 1, &p, NULL);
  assert_false(p.format_ok);
  assert_int_equal(p.target, f.target);
  free(s);
  free(buf);
  oracle_free(&o);
  /* the run saw both outcomes in numbers, and every kind of format error */
  print_message("fuzz: %ld inputs, %ld well-formed\n", iters, n_ok);
  for (int k = 0; k <= COT_FMT_TRAILING; k++) {
    print_message("  %-28s %ld\n", cot_fmt_err_name((cot_fmt_err)k), fmt_count[k]);
    assert_true(fmt_count[k] > 0);
  }
  assert_true(n_ok > 1000);
  assert_true(iters - n_ok > 10000);
}

/* Large adversarial inputs: the work stays linear (each would take minutes if it were not). */
static void test_large_inputs(void **st) {
  (void)st;
  static const char *const units[] = {
      "<", " ", "<think>", "speaker1 information: ", "speaker", "audio information: 0-",
      "4(Speaker1) > ", "target speaker: ;", "Speaker1 and ", "from 6 to ", "0.00000000001",
      "enrollment speech: enrollment speech", "total duration total duration "};
  enum { N = 1 << 18 };
  char *buf = malloc(N + 64);
  clock_t t0 = clock();
  for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
    for (int variant = 0; variant < 2; variant++) {
      size_t n = 0;
      if (variant) {
        memcpy(buf, "<think>Target speaker: ", 23);
        n = 23;
      }
      size_t l = strlen(units[u]);
      while (n + l <= N) {
        memcpy(buf + n, units[u], l);
        n += l;
      }
      if (variant) {
        memcpy(buf + n, "</think><answer>x</answer>", 26);
        n += 26;
      }
      cot_parsed p;
      ts_err e = {0};
      assert_int_equal(cot_parse(buf, n, &p, &e), TS_OK);
      assert_int_equal(p.format_ok, variant && u != 2);
    }
  }
  double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
  print_message("large inputs: %.2f s\n", secs);
  assert_true(secs < 20);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_format_cases),
      cmocka_unit_test(test_checker_steps),
      cmocka_unit_test(test_whitespace_tolerance),
      cmocka_unit_test(test_fuzz),
      cmocka_unit_test(test_large_inputs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
