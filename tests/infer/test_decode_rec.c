/* test_decode_rec.c — decode records: scoring raw outputs (CoT, BASE with an empty think, every
 * kind of format error), the JSONL round trip and key order, the tolerant reader (bad lines
 * skipped, counted and named file:line), the appending writer and resume, wrong-speaker. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "data/cot.h"
#include "infer/cot_parse.h"
#include "infer/decode_rec.h"
#include "text/utf8.h"

/* ---- helpers ---- */

static char g_dir[64];

static int setup_dir(void **st) {
  (void)st;
  snprintf(g_dir, sizeof g_dir, "/tmp/tsasr_drec_XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown_dir(void **st) {
  (void)st;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void tpath(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_dir, name); }

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  assert_int_equal(fclose(f), 0);
}

/* Captured warnings. */
typedef struct logcap {
  char text[8192];
  int n;
} logcap;

static void cap_sink(log_level lv, const char *msg, void *user) {
  logcap *c = user;
  (void)lv;
  size_t used = strlen(c->text);
  snprintf(c->text + used, sizeof c->text - used, "%s\n", msg);
  c->n++;
}

/* ---- scoring raw outputs ---- */

static void test_cot_output(void **st) {
  (void)st;
  const char *raw =
      "<think>Audio information: the enrollment speech spans 0.00 to 3.00 seconds.\n"
      "Speaker1 information: male.</think>\n<answer>Hello, world! It's fine.</answer>\n";
  drec r;
  ts_err e = {0};
  assert_int_equal(drec_from_output("s1", "libri2mix", "hello world it's fine", raw, strlen(raw), &r, &e),
                   TS_OK);
  assert_string_equal(r.id, "s1");
  assert_string_equal(r.set, "libri2mix");
  assert_int_equal(r.format_ok, 1);
  assert_null(r.fmt);
  /* normalised: upper case, punctuation gone, apostrophe inside a word kept */
  assert_string_equal(r.ref, "HELLO WORLD IT'S FINE");
  assert_string_equal(r.hyp, "HELLO WORLD IT'S FINE");
  assert_string_equal(r.raw, raw);
  assert_string_equal(r.think,
                      "Audio information: the enrollment speech spans 0.00 to 3.00 seconds.\n"
                      "Speaker1 information: male.");
  assert_int_equal(r.sub, 0);
  assert_int_equal(r.del, 0);
  assert_int_equal(r.ins, 0);
  assert_int_equal(r.n, 4);
  /* optional fields stay unknown */
  assert_int_equal(r.speakers, 0);
  assert_int_equal(r.target, -1);
  assert_int_equal(r.wrong_speaker, -1);
  assert_int_equal(r.think_ok, -1);
  assert_int_equal(r.repetition, -1);
  assert_int_equal(r.tokens, -1);
  assert_int_equal(r.sample, -1);
  assert_false(r.has_logp);
  assert_false(r.has_reward);
  drec_free(&r);

  /* ref THE CAT SAT ON THE MAT (6 words), hyp THE CAT SAT ON A MAT MAT (7):
   * THE->A is a substitution and one MAT is inserted: S = 1, D = 0, I = 1, n = 6 */
  const char *raw2 = "<think>x</think><answer>The cat sat on a mat mat.</answer>";
  assert_int_equal(drec_from_output("s2", "single", "the cat sat on the mat", raw2, strlen(raw2), &r, &e),
                   TS_OK);
  assert_int_equal(r.format_ok, 1);
  assert_int_equal(r.sub, 1);
  assert_int_equal(r.del, 0);
  assert_int_equal(r.ins, 1);
  assert_int_equal(r.n, 6);
  assert_int_equal(drec_errors(&r), 2);
  drec_free(&r);
}

static void test_base_empty_think(void **st) {
  (void)st;
  const char *outs[] = {"<think></think><answer>hello there</answer>",
                        "  <think>\n \n</think>\n<answer> Hello there. </answer>\n"};
  for (size_t i = 0; i < 2; i++) {
    drec r;
    assert_int_equal(drec_from_output("b", "single", "HELLO THERE", outs[i], strlen(outs[i]), &r, NULL),
                     TS_OK);
    assert_int_equal(r.format_ok, 1);
    assert_non_null(r.think);
    assert_string_equal(r.think, ""); /* empty think, not absent */
    assert_string_equal(r.hyp, "HELLO THERE");
    assert_int_equal(drec_errors(&r), 0);
    assert_int_equal(r.n, 2);
    drec_free(&r);
  }
}

static void test_format_errors(void **st) {
  (void)st;
  static const char nul_in[] = "<think>a\0b</think><answer>one two</answer>";
  struct {
    const char *s;
    size_t n;
    cot_fmt_err want;
  } cases[] = {
      {"", 0, COT_FMT_EMPTY},
      {" \n\t", 0, COT_FMT_EMPTY},
      {nul_in, sizeof nul_in - 1, COT_FMT_NUL},
      {"one two three four", 0, COT_FMT_NO_THINK},
      {"<answer>one two three four</answer>", 0, COT_FMT_NO_THINK},
      {"<think>Audio information: the enrollment", 0, COT_FMT_NO_THINK_CLOSE},
      {"<think>a<think>b</think><answer>one two three four</answer>", 0, COT_FMT_TAG_IN_THINK},
      {"<think>a</think>", 0, COT_FMT_NO_ANSWER},
      {"<think>a</think> so <answer>one two three four</answer>", 0, COT_FMT_NO_ANSWER},
      {"<think>a</think><answer>one two three", 0, COT_FMT_NO_ANSWER_CLOSE},
      {"<think>a</think><answer>one <answer>two</answer>", 0, COT_FMT_TAG_IN_ANSWER},
      {"<think>a</think><answer>one two three four</answer><|im_end|>", 0, COT_FMT_TRAILING},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = cases[i].n ? cases[i].n : strlen(cases[i].s);
    drec r;
    ts_err e = {0};
    assert_int_equal(drec_from_output("f", "libri3mix", "One two, three four!", cases[i].s, n, &r, &e), TS_OK);
    if (r.format_ok) fail_msg("case %zu: \"%s\" taken as well-formed", i, cases[i].s);
    assert_string_equal(r.hyp, ""); /* scored as an empty hypothesis */
    assert_non_null(r.fmt);
    assert_string_equal(r.fmt, cot_fmt_err_name(cases[i].want));
    assert_null(r.think);
    /* the reference has 4 words, all deleted */
    assert_int_equal(r.n, 4);
    assert_int_equal(r.del, 4);
    assert_int_equal(r.sub, 0);
    assert_int_equal(r.ins, 0);
    if (cases[i].want == COT_FMT_NUL)
      assert_string_equal(r.raw, "<think>a\xEF\xBF\xBD" "b</think><answer>one two</answer>");
    else
      assert_string_equal(r.raw, cases[i].s);
    drec_free(&r);
  }
  /* NULL raw is an empty output; NULL id is an argument error */
  drec r;
  assert_int_equal(drec_from_output("x", "single", "a b", NULL, 5, &r, NULL), TS_OK);
  assert_int_equal(r.format_ok, 0);
  assert_int_equal(r.del, 2);
  drec_free(&r);
  ts_err e = {0};
  assert_int_equal(drec_from_output(NULL, "single", "a", "x", 1, &r, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "NULL"));
}

static void test_invalid_utf8_raw(void **st) {
  (void)st;
  /* a decode cut in the middle of a 2-byte sequence, and a stray continuation byte */
  const char raw[] = "<think>caf\xC3</think><answer>caf\xC3\xA9 \x80ok</answer>";
  drec r;
  assert_int_equal(drec_from_output("u", "single", "cafe ok", raw, sizeof raw - 1, &r, NULL), TS_OK);
  assert_int_equal(r.format_ok, 1);
  assert_int_equal(txutf8_check((const unsigned char *)r.raw, strlen(r.raw)), strlen(r.raw));
  assert_int_equal(txutf8_check((const unsigned char *)r.think, strlen(r.think)), strlen(r.think));
  assert_string_equal(r.think, "caf\xEF\xBF\xBD");
  char *line = NULL;
  assert_int_equal(drec_to_json(&r, &line, NULL), TS_OK);
  assert_int_equal(txutf8_check((const unsigned char *)line, strlen(line)), strlen(line));
  free(line);
  drec_free(&r);
}

/* ---- JSONL ---- */

static void fill_full(drec *r) {
  drec_init(r);
  r->id = strdup("mix-001_t1");
  r->set = strdup("libri2mix");
  r->ref = strdup("A B C");
  r->hyp = strdup("A X C D");
  r->raw = strdup("<think>line1\n\"quoted\" \\ tab\t</think><answer>a x c d</answer>");
  r->format_ok = 1;
  r->sub = 1;
  r->del = 0;
  r->ins = 1;
  r->n = 3;
  r->speakers = 2;
  r->target = 1;
  r->think = strdup("line1\n\"quoted\" \\ tab");
  r->think_ok = 0;
  r->wrong_speaker = 1;
  r->repetition = 0;
  r->tokens = 137;
  r->has_logp = 1;
  r->logp = -12.375;
  r->sample = 5;
  r->has_reward = 1;
  r->reward = 0.25;
}

static void assert_same(const drec *a, const drec *b) {
  assert_string_equal(a->id, b->id);
  assert_string_equal(a->set, b->set);
  assert_string_equal(a->ref, b->ref);
  assert_string_equal(a->hyp, b->hyp);
  assert_string_equal(a->raw, b->raw);
  assert_int_equal(a->format_ok, b->format_ok);
  assert_int_equal(a->sub, b->sub);
  assert_int_equal(a->del, b->del);
  assert_int_equal(a->ins, b->ins);
  assert_int_equal(a->n, b->n);
  if (a->fmt || b->fmt) {
    assert_non_null(a->fmt);
    assert_non_null(b->fmt);
    assert_string_equal(a->fmt, b->fmt);
  }
  if (a->think || b->think) {
    assert_non_null(a->think);
    assert_non_null(b->think);
    assert_string_equal(a->think, b->think);
  }
  assert_int_equal(a->speakers, b->speakers);
  assert_int_equal(a->target, b->target);
  assert_int_equal(a->think_ok, b->think_ok);
  assert_int_equal(a->wrong_speaker, b->wrong_speaker);
  assert_int_equal(a->repetition, b->repetition);
  assert_int_equal(a->tokens, b->tokens);
  assert_int_equal(a->has_logp, b->has_logp);
  if (a->has_logp) assert_true(a->logp == b->logp);
  assert_int_equal(a->sample, b->sample);
  assert_int_equal(a->has_reward, b->has_reward);
  if (a->has_reward) assert_true(a->reward == b->reward);
}

static void test_json_key_order(void **st) {
  (void)st;
  drec r;
  fill_full(&r);
  char *line = NULL;
  assert_int_equal(drec_to_json(&r, &line, NULL), TS_OK);
  assert_null(strchr(line, '\n')); /* one line: the newline inside raw is escaped */
  const char *keys[] = {"\"id\":", "\"set\":", "\"speakers\":", "\"target\":", "\"sample\":", "\"ref\":",
                        "\"hyp\":", "\"format_ok\":", "\"sub\":", "\"del\":", "\"ins\":", "\"n\":",
                        "\"wrong_speaker\":", "\"think_ok\":", "\"repetition\":", "\"tokens\":",
                        "\"logp\":", "\"reward\":", "\"think\":", "\"raw\":"};
  const char *prev = line;
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *at = strstr(line, keys[i]);
    if (!at || at < prev) fail_msg("key %s missing or out of order in %s", keys[i], line);
    prev = at;
  }
  assert_non_null(strstr(line, "\"format_ok\":true"));
  assert_non_null(strstr(line, "\"wrong_speaker\":true"));
  assert_non_null(strstr(line, "\"think_ok\":false"));
  free(line);
  drec_free(&r);

  /* a minimal record writes only the required keys (and fmt for a format error) */
  const char *raw = "<think>a</think>";
  assert_int_equal(drec_from_output("m", "single", "x y", raw, strlen(raw), &r, NULL), TS_OK);
  assert_int_equal(drec_to_json(&r, &line, NULL), TS_OK);
  assert_string_equal(line,
                      "{\"id\":\"m\",\"set\":\"single\",\"ref\":\"X Y\",\"hyp\":\"\",\"format_ok\":false,"
                      "\"fmt\":\"no <answer> after </think>\",\"sub\":0,\"del\":2,\"ins\":0,\"n\":2,"
                      "\"raw\":\"<think>a</think>\"}");
  free(line);
  drec_free(&r);
}

static void test_roundtrip(void **st) {
  (void)st;
  char path[128];
  tpath(path, sizeof path, "rt.jsonl");
  drec in[3];
  fill_full(&in[0]);
  const char *raw = "<think></think><answer>one two</answer>";
  assert_int_equal(drec_from_output("b1", "single", "one two three", raw, strlen(raw), &in[1], NULL), TS_OK);
  assert_int_equal(drec_from_output("f1", "libri3mix", "four five", "<think>", 7, &in[2], NULL), TS_OK);
  in[2].has_reward = 1;
  in[2].reward = -1.5;
  drec_writer w;
  ts_err e = {0};
  assert_int_equal(drec_writer_open(&w, path, 0, &e), TS_OK);
  for (int i = 0; i < 3; i++) assert_int_equal(drec_writer_put(&w, &in[i], &e), TS_OK);
  assert_int_equal(w.n_written, 3);
  assert_int_equal(drec_writer_close(&w, &e), TS_OK);

  drec *out = NULL;
  size_t n = 0;
  int64_t skipped = -1;
  assert_int_equal(drec_read_all(path, &out, &n, &skipped, &e), TS_OK);
  assert_int_equal(n, 3);
  assert_int_equal(skipped, 0);
  for (int i = 0; i < 3; i++) assert_same(&in[i], &out[i]);
  drec_free_all(out, n);
  for (int i = 0; i < 3; i++) drec_free(&in[i]);

  /* the reader also takes 0/1 for flags */
  drec r;
  const char *l = "{\"id\":\"a\",\"set\":\"s\",\"ref\":\"A\",\"hyp\":\"\",\"format_ok\":0,\"sub\":0,"
                  "\"del\":1,\"ins\":0,\"n\":1,\"wrong_speaker\":1}";
  assert_int_equal(drec_from_json(l, strlen(l), "t", &r, &e), TS_OK);
  assert_int_equal(r.format_ok, 0);
  assert_int_equal(r.wrong_speaker, 1);
  assert_string_equal(r.raw, "");
  drec_free(&r);
}

static void test_bad_lines(void **st) {
  (void)st;
  char path[128];
  tpath(path, sizeof path, "bad.jsonl");
  const char *good = "{\"id\":\"g%d\",\"set\":\"s\",\"ref\":\"A B\",\"hyp\":\"A\",\"format_ok\":true,"
                     "\"sub\":0,\"del\":1,\"ins\":0,\"n\":2,\"raw\":\"r\"}";
  char g1[256], g2[256];
  snprintf(g1, sizeof g1, good, 1);
  snprintf(g2, sizeof g2, good, 2);
  char text[4096];
  snprintf(text, sizeof text,
           "%s\n"                                                     /* 1 good */
           "{not json\n"                                              /* 2 bad */
           "\n"                                                       /* 3 blank: ignored */
           "[1, 2]\n"                                                 /* 4 bad: not an object */
           "{\"id\":\"x\",\"set\":\"s\",\"ref\":\"A\",\"hyp\":\"A\",\"format_ok\":true,"
           "\"sub\":0,\"del\":0,\"ins\":0}\n"                         /* 5 bad: no n */
           "{\"id\":\"x\",\"set\":\"s\",\"ref\":\"A\",\"hyp\":\"A\",\"format_ok\":true,"
           "\"sub\":-1,\"del\":0,\"ins\":0,\"n\":1}\n"                /* 6 bad: negative */
           "{\"id\":\"x\",\"set\":\"s\",\"ref\":\"A\",\"hyp\":\"A\",\"format_ok\":false,"
           "\"sub\":0,\"del\":0,\"ins\":0,\"n\":1}\n"                 /* 7 bad: format error with hyp */
           "{\"id\":\"x\",\"set\":\"s\",\"ref\":\"A\",\"hyp\":\"B\",\"format_ok\":true,"
           "\"sub\":1,\"del\":1,\"ins\":0,\"n\":1}\r\n"               /* 8 bad: sub + del > n */
           "{\"id\":7,\"set\":\"s\",\"ref\":\"A\",\"hyp\":\"A\",\"format_ok\":true,"
           "\"sub\":0,\"del\":0,\"ins\":0,\"n\":1}\n"                 /* 9 bad: id not a string */
           "{\"id\":\"x\",\"set\":\"s\",\"ref\":\"A\",\"hyp\":\"B\",\"format_ok\":true,"
           "\"sub\":9000000000000000000,\"del\":9000000000000000000,\"ins\":0,\"n\":1}\n" /* 10 bad: sub + del overflowed */
           "{\"id\":\"x\",\"set\":\"s\",\"ref\":\"A\",\"hyp\":\"B\",\"format_ok\":true,"
           "\"sub\":1e300,\"del\":0,\"ins\":0,\"n\":1}\n"              /* 11 bad: not an int64 */
           "%s\r\n"                                                   /* 12 good (CRLF) */
           "{\"id\":\"x\",\"set\":\"s\",\"ref\":\"A\",\"hyp\":\"A\",\"format_ok\":true,"
           "\"sub\":0,\"del\":0,\"ins\":0,\"n\":1,\"logp\":-1e400}\n"       /* 13 bad: parsed as -inf */
           "{\"id\":\"cut\",\"set\":\"s\",\"ref\":\"A",               /* 14 bad: cut off */
           g1, g2);
  write_text(path, text);

  logcap cap = {{0}, 0};
  log_level old = log_get_level();
  log_set_level(LOG_WARN);
  log_set_sink(cap_sink, &cap);
  drec *out = NULL;
  size_t n = 0;
  int64_t skipped = 0;
  ts_err e = {0};
  int rc = drec_read_all(path, &out, &n, &skipped, &e);
  log_set_sink(NULL, NULL);
  log_set_level(old);
  assert_int_equal(rc, TS_OK);
  assert_int_equal(n, 2);
  assert_string_equal(out[0].id, "g1");
  assert_string_equal(out[1].id, "g2");
  assert_int_equal(skipped, 11);
  assert_int_equal(cap.n, 11);
  int bad_lines[] = {2, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14};
  for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++) {
    char want[160];
    snprintf(want, sizeof want, "%s:%d: ", path, bad_lines[i]);
    if (!strstr(cap.text, want)) fail_msg("no message for %s in:\n%s", want, cap.text);
  }
  assert_non_null(strstr(cap.text, "missing key \"n\""));
  assert_non_null(strstr(cap.text, "must not be negative"));
  assert_non_null(strstr(cap.text, "exceeds n"));
  assert_non_null(strstr(cap.text, "key \"sub\" = 9000000000000000000 is out of range"));
  assert_non_null(strstr(cap.text, "key \"sub\" = 1e+300 is out of range"));
  assert_non_null(strstr(cap.text, "key \"logp\" is out of range (not a finite number)"));
  drec_free_all(out, n);

  /* a missing file is an I/O error naming it */
  out = NULL;
  n = 0;
  char nofile[128];
  tpath(nofile, sizeof nofile, "nope.jsonl");
  assert_int_equal(drec_read_all(nofile, &out, &n, &skipped, &e), TS_EIO);
  assert_non_null(strstr(e.msg, nofile));
}

static void test_append_resume(void **st) {
  (void)st;
  char path[128];
  tpath(path, sizeof path, "resume.jsonl");
  unlink(path);
  ts_err e = {0};
  drec_ids *done = NULL;
  int64_t skipped = -1;
  /* nothing decoded yet: an empty set */
  assert_int_equal(drec_done_ids(path, &done, &skipped, &e), TS_OK);
  assert_int_equal(drec_ids_count(done), 0);
  assert_int_equal(skipped, 0);
  drec_ids_free(done);

  const char *ids[] = {"a", "b", "c", "d"};
  const char *raw = "<think></think><answer>x</answer>";
  drec_writer w;
  assert_int_equal(drec_writer_open(&w, path, 1, &e), TS_OK);
  for (int i = 0; i < 3; i++) {
    drec r;
    assert_int_equal(drec_from_output(ids[i], "single", "x", raw, strlen(raw), &r, &e), TS_OK);
    assert_int_equal(drec_writer_put(&w, &r, &e), TS_OK);
    drec_free(&r);
    /* flushed at once: the line is in the file while the writer is still open */
    drec_ids *now = NULL;
    assert_int_equal(drec_done_ids(path, &now, NULL, &e), TS_OK);
    assert_int_equal(drec_ids_count(now), (size_t)i + 1);
    drec_ids_free(now);
  }
  assert_int_equal(drec_writer_close(&w, &e), TS_OK);
  /* the run is killed in the middle of the next line */
  FILE *f = fopen(path, "ab");
  assert_non_null(f);
  fputs("{\"id\":\"d\",\"set\":\"sin", f);
  fclose(f);

  log_level lv = log_get_level();
  log_set_level(LOG_ERROR); /* the cut line is expected */
  assert_int_equal(drec_done_ids(path, &done, &skipped, &e), TS_OK);
  log_set_level(lv);
  assert_int_equal(drec_ids_count(done), 3);
  assert_int_equal(skipped, 1);
  assert_true(drec_ids_get(done, "a", NULL));
  assert_true(drec_ids_get(done, "c", NULL));
  assert_false(drec_ids_get(done, "d", NULL));
  /* resume: only what is not done, appended */
  assert_int_equal(drec_writer_open(&w, path, 1, &e), TS_OK);
  for (int i = 0; i < 4; i++) {
    if (drec_ids_get(done, ids[i], NULL)) continue;
    drec r;
    assert_int_equal(drec_from_output(ids[i], "single", "x", raw, strlen(raw), &r, &e), TS_OK);
    assert_int_equal(drec_writer_put(&w, &r, &e), TS_OK);
    drec_free(&r);
  }
  assert_int_equal(w.n_written, 1);
  assert_int_equal(drec_writer_close(&w, &e), TS_OK);
  drec_ids_free(done);

  drec *out = NULL;
  size_t n = 0;
  log_level old = log_get_level();
  log_set_level(LOG_ERROR); /* the cut line is expected */
  assert_int_equal(drec_read_all(path, &out, &n, &skipped, &e), TS_OK);
  log_set_level(old);
  assert_int_equal(n, 4);
  assert_int_equal(skipped, 1);
  for (int i = 0; i < 4; i++) assert_string_equal(out[i].id, ids[i]);
  drec_free_all(out, n);

  /* a writer on a directory that does not exist fails with the path */
  char bad[160];
  tpath(bad, sizeof bad, "no/such/dir/x.jsonl");
  assert_int_equal(drec_writer_open(&w, bad, 0, &e), TS_EIO);
  assert_non_null(strstr(e.msg, bad));
}

static void test_wrong_speaker(void **st) {
  (void)st;
  const char *others[] = {"Dogs bark loudly today.", "something else entirely"};
  drec r;
  /* hyp DOGS BARK LOUDLY: against the target THE CAT SAT, 3 substitutions of 3 words
   * (WER 1.0); against the first interferer 1 deletion of 4 words (WER 0.25) -> wrong */
  const char *raw = "<think></think><answer>dogs bark loudly</answer>";
  assert_int_equal(drec_from_output("w", "libri3mix", "the cat sat", raw, strlen(raw), &r, NULL), TS_OK);
  assert_int_equal(drec_set_wrong_speaker(&r, others, 2, NULL), TS_OK);
  assert_int_equal(r.wrong_speaker, 1);
  drec_free(&r);
  /* hyp THE CAT: 1 deletion of 3 (0.33) against the target, 2 subs + 2 dels of 4 (1.0) and
   * 2 subs + 1 del of 3 (1.0) against the others -> right speaker */
  raw = "<think></think><answer>the cat</answer>";
  assert_int_equal(drec_from_output("w", "libri3mix", "the cat sat", raw, strlen(raw), &r, NULL), TS_OK);
  assert_int_equal(drec_set_wrong_speaker(&r, others, 2, NULL), TS_OK);
  assert_int_equal(r.wrong_speaker, 0);
  drec_free(&r);
  /* a format error (empty hyp) is never "wrong speaker" */
  assert_int_equal(drec_from_output("w", "libri3mix", "the cat sat", "oops", 4, &r, NULL), TS_OK);
  assert_int_equal(drec_set_wrong_speaker(&r, others, 2, NULL), TS_OK);
  assert_int_equal(r.wrong_speaker, 0);
  drec_free(&r);
}

static void test_ids(void **st) {
  (void)st;
  drec_ids *s = NULL;
  ts_err e = {0};
  assert_int_equal(drec_ids_new(&s, &e), TS_OK);
  char id[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof id, "utt-%d", i);
    int found = 1;
    assert_int_equal(drec_ids_add(s, id, i * 3, &found, NULL, &e), TS_OK);
    assert_int_equal(found, 0);
  }
  assert_int_equal(drec_ids_count(s), 5000);
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof id, "utt-%d", i);
    int64_t v = -1;
    assert_true(drec_ids_get(s, id, &v));
    assert_int_equal(v, i * 3);
  }
  int found = 0;
  int64_t old = 0;
  assert_int_equal(drec_ids_add(s, "utt-17", 99, &found, &old, &e), TS_OK);
  assert_int_equal(found, 1);
  assert_int_equal(old, 51);
  assert_true(drec_ids_set(s, "utt-17", 7));
  int64_t v = 0;
  assert_true(drec_ids_get(s, "utt-17", &v));
  assert_int_equal(v, 7);
  assert_false(drec_ids_get(s, "utt-5000", NULL));
  assert_false(drec_ids_set(s, "utt-5000", 1));
  assert_int_equal(drec_ids_count(s), 5000);
  drec_ids_free(s);
}

/* think_ok: a CoT written by the builder from the facts checks out; the same output checked
 * against facts with another target does not; an empty think is unknown; a broken output 0. */
static void test_think_ok(void **st) {
  (void)st;
  int n_multi = 0;
  for (uint64_t i = 0; i < 40; i++) {
    cot_facts f;
    cot_facts_random(&f, 1234, i);
    char *out = NULL;
    ts_err e = {0};
    if (cot_build(&f, NULL, "some words here", &out, &e)) fail_msg("build: %s", e.msg);
    drec r;
    assert_int_equal(drec_from_output("t", "libri2mix", "some words here", out, strlen(out), &r, &e), TS_OK);
    assert_int_equal(r.format_ok, 1);
    assert_int_equal(drec_set_think_ok(&r, &f, NULL, &e), TS_OK);
    if (r.think_ok != 1) fail_msg("facts %llu: the builder's own CoT does not check", (unsigned long long)i);
    if (f.n_speakers > 1) {
      cot_facts g = f;
      g.target = (f.target + 1) % f.n_speakers;
      assert_int_equal(drec_set_think_ok(&r, &g, NULL, &e), TS_OK);
      assert_int_equal(r.think_ok, 0);
      n_multi++;
    }
    drec_free(&r);
    /* cut before </answer>: a format error, think_ok 0 */
    out[strlen(out) - 5] = 0;
    assert_int_equal(drec_from_output("t", "libri2mix", "some words here", out, strlen(out), &r, &e), TS_OK);
    assert_int_equal(r.format_ok, 0);
    assert_int_equal(drec_set_think_ok(&r, &f, NULL, &e), TS_OK);
    assert_int_equal(r.think_ok, 0);
    drec_free(&r);
    free(out);
    if (i == 0) {
      assert_int_equal(cot_build_empty("some words here", &out, &e), TS_OK);
      assert_int_equal(drec_from_output("t", "single", "some words here", out, strlen(out), &r, &e), TS_OK);
      r.think_ok = 5;
      assert_int_equal(drec_set_think_ok(&r, &f, NULL, &e), TS_OK);
      assert_int_equal(r.think_ok, -1);
      drec_free(&r);
      free(out);
    }
  }
  assert_true(n_multi > 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cot_output),      cmocka_unit_test(test_base_empty_think),
      cmocka_unit_test(test_format_errors),   cmocka_unit_test(test_invalid_utf8_raw),
      cmocka_unit_test(test_json_key_order),  cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_bad_lines),       cmocka_unit_test(test_append_resume),
      cmocka_unit_test(test_wrong_speaker),   cmocka_unit_test(test_ids),           cmocka_unit_test(test_think_ok),
  };
  return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
