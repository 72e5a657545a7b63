/* test_manifest.c — manifest JSONL: write/read round trip, byte-identical rewrites, and each kind
 * of bad line skipped with a message naming file and line, counted, never fatal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/afile.h"
#include "base/log.h"
#include "data/manifest.h"

static char dir[256];
static char logbuf[1 << 15];
static int nlog;

static void sink(log_level lv, const char *msg, void *user) {
  (void)user;
  if (lv < LOG_WARN) return;
  size_t l = strlen(logbuf);
  snprintf(logbuf + l, sizeof logbuf - l, "%s\n", msg);
  nlog++;
}

static int setup(void **state) {
  snprintf(dir, sizeof dir, "/tmp/tsasr_manifest_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}
static int teardown(void **state) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void make_entry(man_entry *x, int k, int with_extras) {
  memset(x, 0, sizeof *x);
  char buf[256];
  snprintf(buf, sizeof buf, "mix%d-s1", k);
  x->id = strdup(buf);
  x->set = strdup("dev");
  x->n_src = 2;
  x->src = calloc(2, sizeof *x->src);
  for (int i = 0; i < 2; i++) {
    snprintf(buf, sizeof buf, "/data/%d/%d/%d-%d-%04d.flac", 10 + i, 2, 10 + i, 2, k);
    x->src[i].path = strdup(buf);
    snprintf(buf, sizeof buf, "%d", 10 + i);
    x->src[i].speaker = strdup(buf);
    x->src[i].gender = i ? 'F' : 'M';
    x->src[i].text = strdup(i ? "HELLO THERE" : "IT'S A \"QUOTED\" LINE");
    x->src[i].utt = strdup("u");
    x->src[i].gain = i ? NAN : 0.1234567890123;
    x->src[i].lufs = -25.0 - 0.3 * k - i;
    x->src[i].offset = i * 1.25;
    x->src[i].duration = 3.5 + i;
  }
  x->target = k % 2;
  x->enroll.path = strdup("/data/10/3/10-3-0000.flac");
  x->enroll.start = 0.5;
  x->enroll.duration = 3.0;
  x->enroll.gain = NAN;
  x->enroll.lufs = -30;
  x->duration = 4.5 + 1.25;
  if (with_extras) {
    x->cot = strdup("<think>two speakers</think>");
    x->similarity = malloc(2 * sizeof(double));
    x->similarity[0] = 0.8;
    x->similarity[1] = 0.25;
    x->mode = MAN_MODE_MIN;
  }
}

static void expect_equal(const man_entry *a, const man_entry *b) {
  assert_string_equal(a->id, b->id);
  assert_string_equal(a->set, b->set);
  assert_int_equal(a->n_src, b->n_src);
  assert_int_equal(a->target, b->target);
  assert_int_equal(a->mode, b->mode);
  for (int i = 0; i < a->n_src; i++) {
    assert_string_equal(a->src[i].path, b->src[i].path);
    assert_string_equal(a->src[i].speaker, b->src[i].speaker);
    assert_string_equal(a->src[i].text, b->src[i].text);
    assert_int_equal(a->src[i].gender, b->src[i].gender);
    assert_true(isnan(a->src[i].gain) ? isnan(b->src[i].gain) : a->src[i].gain == b->src[i].gain);
    assert_true(a->src[i].lufs == b->src[i].lufs);
    assert_true(a->src[i].offset == b->src[i].offset);
  }
  assert_string_equal(a->enroll.path, b->enroll.path);
  assert_true(a->enroll.start == b->enroll.start);
  assert_true(a->enroll.duration == b->enroll.duration);
  assert_true((a->cot == NULL) == (b->cot == NULL));
  if (a->cot) assert_string_equal(a->cot, b->cot);
  assert_true((a->similarity == NULL) == (b->similarity == NULL));
  if (a->similarity)
    for (int i = 0; i < a->n_src; i++) assert_true(a->similarity[i] == b->similarity[i]);
}

static void test_roundtrip(void **state) {
  manifest m;
  man_init(&m);
  ts_err e = {0};
  for (int k = 0; k < 5; k++) {
    man_entry x;
    make_entry(&x, k, k == 3);
    assert_int_equal(man_take(&m, &x, &e), TS_OK);
  }
  char p1[512], p2[512];
  snprintf(p1, sizeof p1, "%s/a.jsonl", dir);
  snprintf(p2, sizeof p2, "%s/b.jsonl", dir);
  assert_int_equal(man_write(p1, &m, &e), TS_OK);
  manifest r;
  man_init(&r);
  assert_int_equal(man_read(p1, &r, &e), TS_OK);
  assert_int_equal(r.n, 5);
  assert_int_equal(r.n_bad, 0);
  for (int k = 0; k < 5; k++) expect_equal(&m.e[k], &r.e[k]);
  /* rewriting what was read gives the same bytes */
  assert_int_equal(man_write(p2, &r, &e), TS_OK);
  char *a, *b;
  size_t na, nb;
  assert_int_equal(afile_read(p1, &a, &na, &e), TS_OK);
  assert_int_equal(afile_read(p2, &b, &nb, &e), TS_OK);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  /* one line per entry */
  int lines = 0;
  for (size_t i = 0; i < na; i++) lines += a[i] == '\n';
  assert_int_equal(lines, 5);
  free(a);
  free(b);
  man_free(&m);
  man_free(&r);
}

/* Each bad line is skipped with "file:line" in the message; the good ones survive. */
static void test_bad_lines(void **state) {
  const char *good =
      "{\"id\":\"g%d\",\"set\":\"t\",\"sources\":[{\"path\":\"a.flac\",\"speaker\":\"1\",\"gender\":\"M\","
      "\"text\":\"HI\",\"gain\":1,\"offset\":0}],\"target\":0,\"enroll\":{\"path\":\"b.flac\",\"start\":0,"
      "\"duration\":3}}\n";
  const char *bad[] = {
      "{not json\n",
      "[1,2,3]\n",
      "{\"id\":\"b\",\"sources\":[],\"target\":0,\"enroll\":{\"path\":\"b\"}}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\"}],\"target\":1,\"enroll\":{\"path\":\"b\"}}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\",\"gain\":-2}],\"target\":0,\"enroll\":{\"path\":\"b\"}}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\"}],\"target\":0}\n",
      "{\"id\":\"b\",\"sources\":[{\"speaker\":\"1\",\"text\":\"X\"}],\"target\":0,\"enroll\":{\"path\":\"b\"}}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\"}],\"target\":0,\"enroll\":{\"path\":\"b\"},\"similarity\":[1,2]}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\",\"offset\":-1}],\"target\":0.5,\"enroll\":{\"path\":\"b\"}}\n",
      /* absurd times and gains: they used to overflow the sample counts (an out-of-range llround
       * wrapped to the start of the buffer, a huge calloc aborted) or make the mixture NaN */
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\",\"offset\":1e300}],\"target\":0,\"enroll\":{\"path\":\"b\"}}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\",\"offset\":1e12}],\"target\":0,\"enroll\":{\"path\":\"b\"}}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\"}],\"target\":0,\"enroll\":{\"path\":\"b\",\"start\":1e15}}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\"}],\"target\":0,\"enroll\":{\"path\":\"b\",\"duration\":1e300}}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\",\"gain\":1e300}],\"target\":0,\"enroll\":{\"path\":\"b\"}}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\"}],\"target\":0,\"enroll\":{\"path\":\"b\",\"gain\":1e300}}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\",\"duration\":-5}],\"target\":0,\"enroll\":{\"path\":\"b\"}}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\"}],\"target\":0,\"enroll\":{\"path\":\"b\"},\"duration\":-3}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\",\"lufs\":-1e300}],\"target\":0,\"enroll\":{\"path\":\"b\"}}\n",
      "{\"id\":\"b\",\"sources\":[{\"path\":\"a\",\"speaker\":\"1\",\"text\":\"X\"}],\"target\":0,\"enroll\":{\"path\":\"b\",\"lufs\":1e5}}\n",
  };
  int nbad = (int)(sizeof bad / sizeof *bad);
  char p[512];
  snprintf(p, sizeof p, "%s/bad.jsonl", dir);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  int line = 0, bad_lines[32];
  for (int i = 0; i < nbad; i++) {
    fprintf(f, good, i);
    line++;
    fputs(bad[i], f);
    bad_lines[i] = ++line;
  }
  fprintf(f, "\n   \n"); /* blank lines are not errors */
  fprintf(f, good, 99);
  fprintf(f, "%s", "{\"id\":\"truncated\",\"sources\":[{\"pa"); /* no newline at the end */
  fclose(f);
  logbuf[0] = 0;
  nlog = 0;
  log_set_sink(sink, NULL);
  manifest m;
  man_init(&m);
  ts_err e = {0};
  assert_int_equal(man_read(p, &m, &e), TS_OK);
  log_set_sink(NULL, NULL);
  assert_int_equal(m.n, nbad + 1);
  assert_int_equal(m.n_bad, nbad + 1);
  assert_int_equal(nlog, nbad + 1);
  for (int i = 0; i < nbad; i++) {
    char want[600];
    snprintf(want, sizeof want, "%s:%d:", p, bad_lines[i]);
    assert_non_null(strstr(logbuf, want));
  }
  assert_non_null(strstr(logbuf, "offset 1e+300 s must be in [0, 86400]"));
  assert_non_null(strstr(logbuf, "enroll: start 1e+15 s must be in [0, 86400]"));
  assert_non_null(strstr(logbuf, "source 0: gain 1e+300 must be in (0, 1e+06]"));
  assert_non_null(strstr(logbuf, "duration -3 s must be in [0, 7200]"));
  assert_non_null(strstr(logbuf, "source 0: lufs -1e+300 must be in [-120, 20]"));
  assert_non_null(strstr(logbuf, "enroll: lufs 100000 must be in [-120, 20]"));
  char want[600];
  snprintf(want, sizeof want, "%s:%d:", p, 2 * nbad + 4);
  assert_non_null(strstr(logbuf, want));
  assert_non_null(strstr(m.first_bad, p));
  /* relative paths are resolved against the manifest's folder */
  char abs[600];
  snprintf(abs, sizeof abs, "%s/a.flac", dir);
  assert_string_equal(m.e[0].src[0].path, abs);
  man_free(&m);
  /* a missing file is an error naming it */
  man_init(&m);
  snprintf(p, sizeof p, "%s/nope.jsonl", dir);
  assert_int_not_equal(man_read(p, &m, &e), TS_OK);
  assert_non_null(strstr(e.msg, "nope.jsonl"));
  man_free(&m);
}

static void test_write_rejects_invalid(void **state) {
  manifest m;
  man_init(&m);
  man_entry x;
  make_entry(&x, 1, 0);
  x.target = 7;
  ts_err e = {0};
  assert_int_equal(man_take(&m, &x, &e), TS_OK);
  char p[512];
  snprintf(p, sizeof p, "%s/inv.jsonl", dir);
  assert_int_not_equal(man_write(p, &m, &e), TS_OK);
  assert_non_null(strstr(e.msg, "target 7"));
  assert_int_not_equal(access(p, F_OK), 0); /* nothing half-written */
  man_free(&m);
}

/* Every truncation and many byte flips of a valid line: an error or an entry, never a crash. */
static void test_mangled_lines(void **state) {
  man_entry x;
  make_entry(&x, 2, 1);
  char *line;
  ts_err e = {0};
  assert_int_equal(man_entry_to_json(&x, &line, &e), TS_OK);
  man_entry_free(&x);
  size_t n = strlen(line);
  int ok = 0, bad = 0;
  for (size_t cut = 0; cut < n; cut++) {
    man_entry y;
    if (man_entry_from_json(line, cut, "cut", NULL, &y, &e) == TS_OK) {
      ok++;
      man_entry_free(&y);
    } else {
      bad++;
    }
  }
  assert_int_equal(ok, 0); /* a truncated object never parses */
  char *m = malloc(n + 1);
  uint32_t h = 12345;
  for (int k = 0; k < 3000; k++) {
    memcpy(m, line, n + 1);
    for (int f = 0; f < 3; f++) {
      h = h * 1103515245u + 12345u;
      size_t pos = (h >> 8) % n;
      h = h * 1103515245u + 12345u;
      m[pos] = (char)(h >> 16);
    }
    man_entry y;
    if (man_entry_from_json(m, n, "flip", NULL, &y, &e) == TS_OK) {
      assert_int_equal(man_entry_check(&y, &e), TS_OK);
      man_entry_free(&y);
    }
  }
  free(m);
  free(line);
  assert_true(bad > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_bad_lines),
      cmocka_unit_test(test_write_rejects_invalid),
      cmocka_unit_test(test_mangled_lines),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
