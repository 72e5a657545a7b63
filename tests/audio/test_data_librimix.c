/* test_data_librimix.c — LibriMix CSV + SpeakerBeam enrollment list import: a small sample in
 * LibriMix format made from a synthetic corpus gives exactly the mixtures and enrollments that
 * LibriMix/SpeakerBeam define (computed independently here from the files and gains); mixtures
 * exported from seeded specs come back the same (also with paths longer than any line buffer);
 * bad CSV and list lines are named and counted; a NUL byte is an error naming its line; quoted
 * fields (RFC 4180) are read and written; mixture keys of any length stay distinct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data/corpus.h"
#include "data/librimix.h"
#include "data/mixspec.h"
#include "data/sample.h"
#include "data_fixture.h"

static corpus C;

static int setup(void **state) {
  if (fx_mkdtemp("data_librimix")) return -1;
  char root[512];
  snprintf(root, sizeof root, "%s/LibriSpeech/test-clean", fx_dir);
  if (fx_corpus(root, 6, 3)) return -1;
  corpus_opts o;
  corpus_opts_default(&o);
  o.no_cache = 1;
  ts_err e = {0};
  return corpus_open(root, &o, &C, &e) ? -1 : 0;
}
static int teardown(void **state) {
  corpus_free(&C);
  return fx_rmdir();
}

static float *read_all(const char *path, int64_t *n) {
  audio_buf b;
  ts_err e = {0};
  assert_int_equal(audio_read(path, 0, &b, &e), TS_OK);
  *n = b.n;
  return b.samples;
}

/* mixture j: speaker j (utterance 0) and speaker j+1 (utterance 1) */
static void mixture_utts(int j, char u[2][32]) {
  snprintf(u[0], 32, "%d-1-%04d", 100 + j, 0);
  snprintf(u[1], 32, "%d-1-%04d", 100 + (j + 1) % 6, 1);
}

static void test_exact_reproduction(void **state) {
  char csv[512], map[512];
  snprintf(csv, sizeof csv, "%s/libri2mix_test-clean.csv", fx_dir);
  snprintf(map, sizeof map, "%s/map_mixture2enrollment", fx_dir);
  double gain[6][2];
  philox_rng r;
  philox_init(&r, 2024, 1);
  FILE *f = fopen(csv, "w");
  fprintf(f, "mixture_ID,source_1_path,source_1_gain,source_2_path,source_2_gain,noise_path,noise_gain,length\n");
  for (int j = 0; j < 6; j++) {
    char u[2][32];
    mixture_utts(j, u);
    int64_t L = 0;
    for (int k = 0; k < 2; k++) {
      gain[j][k] = 0.3 + 2.2 * philox_uniform_d(&r);
      int64_t fr = C.utts[corpus_find_utt(&C, u[k])].frames;
      if (fr > L) L = fr;
    }
    fprintf(f, "%s_%s,test-clean/%.3s/1/%s.flac,%.17g,test-clean/%.3s/1/%s.flac,%.17g,wham/noise%d.wav,0.5,%lld\n",
            u[0], u[1], u[0], u[0], gain[j][0], u[1], u[1], gain[j][1], j, (long long)L);
  }
  fclose(f);
  f = fopen(map, "w");
  for (int j = 0; j < 6; j++) {
    char u[2][32], p[2][32], q[2][32];
    mixture_utts(j, u);
    mixture_utts((j + 5) % 6, p); /* source 2 of mixture j-1 is speaker j */
    mixture_utts((j + 1) % 6, q); /* source 1 of mixture j+1 is speaker j+1 */
    fprintf(f, "%s_%s %s s2/%s_%s\n", u[0], u[1], u[0], p[0], p[1]);
    fprintf(f, "%s_%s %s s1/%s_%s\n", u[0], u[1], u[1], q[0], q[1]);
  }
  fclose(f);

  lmx_opts o;
  lmx_opts_default(&o);
  manifest m;
  man_init(&m);
  lmx_stats st;
  ts_err e = {0};
  fx_log_start();
  assert_int_equal(lmx_import(csv, map, &C, &o, &m, &st, &e), TS_OK);
  fx_log_stop();
  assert_int_equal(fx_nlog, 0);
  assert_int_equal(st.n_rows, 6);
  assert_int_equal(st.n_bad_rows, 0);
  assert_int_equal(st.n_trials, 12);
  assert_int_equal(st.n_length_mismatch, 0);
  assert_int_equal(m.n, 12);
  assert_string_equal(m.e[0].set, "libri2mix_test-clean");

  sample_opts so;
  sample_opts_default(&so);
  for (int64_t i = 0; i < m.n; i++) {
    int j = (int)(i / 2), t = (int)(i % 2);
    const man_entry *x = &m.e[i];
    char u[2][32];
    mixture_utts(j, u);
    assert_int_equal(x->target, t);
    assert_string_equal(x->src[t].utt, u[t]);
    /* expected mixture: sum of gain * source, zero-padded to the longest (max mode) */
    int64_t n0, n1;
    float *s0 = read_all(C.utts[corpus_find_utt(&C, u[0])].path, &n0);
    float *s1 = read_all(C.utts[corpus_find_utt(&C, u[1])].path, &n1);
    int64_t L = n0 > n1 ? n0 : n1;
    /* expected enrollment: source k of the other mixture times its gain, min-mode length, 3 s */
    int oj = t == 0 ? (j + 5) % 6 : (j + 1) % 6, ok = t == 0 ? 1 : 0;
    char ou[2][32];
    mixture_utts(oj, ou);
    int64_t a0 = C.utts[corpus_find_utt(&C, ou[0])].frames, a1 = C.utts[corpus_find_utt(&C, ou[1])].frames;
    int64_t minlen = a0 < a1 ? a0 : a1;
    int64_t en_n = minlen < 48000 ? minlen : 48000;
    int64_t ne;
    float *es = read_all(C.utts[corpus_find_utt(&C, ou[ok])].path, &ne);
    assert_string_equal(x->enroll.utt, ou[ok]);
    assert_true(x->enroll.gain == gain[oj][ok]);

    sample s;
    assert_int_equal(sample_build(x, &so, &s, &e), TS_OK);
    assert_true(s.guard == 1.0);
    assert_int_equal(s.mix_n, L);
    assert_int_equal(s.enroll_n, en_n);
    for (int64_t q = 0; q < L; q++) {
      float want = (q < n0 ? (float)gain[j][0] * s0[q] : 0.0f) + (q < n1 ? (float)gain[j][1] * s1[q] : 0.0f);
      if (fabsf(s.wave[s.mix_off + q] - want) > 1e-6f) fail_msg("%s: sample %lld differs", x->id, (long long)q);
    }
    for (int64_t q = 0; q < en_n; q++) assert_true(s.wave[q] == (float)gain[oj][ok] * es[q]);
    sample_free(&s);
    free(s0);
    free(s1);
    free(es);
  }
  man_free(&m);
}

/* n seeded mixtures from mo with fixed gains (what the export needs) */
static void baked_mixtures(const mix_opts *mo, int n, manifest *a) {
  man_init(a);
  ts_err e = {0};
  assert_int_equal(mix_make(&C, mo, n, a, NULL, &e), TS_OK);
  sample_opts so;
  sample_opts_default(&so);
  int64_t nb;
  assert_int_equal(sample_bake_gains(a, &so, &nb, &e), TS_OK);
}

/* text written to path */
static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* a CSV lmx_import refuses with a message naming want ("file:line") */
static void expect_refused(const char *csv, const char *want) {
  lmx_opts o;
  lmx_opts_default(&o);
  manifest m;
  man_init(&m);
  lmx_stats st;
  ts_err e = {0};
  assert_int_equal(lmx_import(csv, NULL, &C, &o, &m, &st, &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, want));
  man_free(&m);
}

static void roundtrip(int nspk) {
  mix_opts mo;
  mix_opts_default(&mo);
  mo.seed = 31 + nspk;
  mo.p_spk[1] = nspk == 2;
  mo.p_spk[2] = nspk == 3;
  manifest a;
  baked_mixtures(&mo, 5, &a);
  ts_err e = {0};
  sample_opts so;
  sample_opts_default(&so);
  char csv[512];
  snprintf(csv, sizeof csv, "%s/libri%dmix_export.csv", fx_dir, nspk);
  assert_int_equal(lmx_export(&a, 16000, csv, NULL, &e), TS_OK);
  manifest b;
  man_init(&b);
  lmx_opts lo;
  lmx_opts_default(&lo);
  lmx_stats st;
  assert_int_equal(lmx_import(csv, NULL, &C, &lo, &b, &st, &e), TS_OK);
  assert_int_equal(st.n_bad_rows, 0);
  assert_int_equal(st.n_length_mismatch, 0);
  assert_int_equal(b.n, a.n);
  for (int64_t i = 0; i < a.n; i++) {
    assert_string_equal(a.e[i].id, b.e[i].id);
    assert_int_equal(a.e[i].target, b.e[i].target);
    assert_int_equal(b.e[i].n_src, nspk);
    for (int k = 0; k < nspk; k++) {
      assert_string_equal(a.e[i].src[k].path, b.e[i].src[k].path);
      assert_true(a.e[i].src[k].gain == b.e[i].src[k].gain);
      assert_string_equal(a.e[i].src[k].text, b.e[i].src[k].text);
      assert_int_equal(a.e[i].src[k].gender, b.e[i].src[k].gender);
    }
    /* enrollment: another utterance of the target speaker */
    assert_string_equal(b.e[i].enroll.speaker, b.e[i].src[b.e[i].target].speaker);
    assert_string_not_equal(b.e[i].enroll.utt, b.e[i].src[b.e[i].target].utt);
    sample sa, sb;
    assert_int_equal(sample_build(&a.e[i], &so, &sa, &e), TS_OK);
    assert_int_equal(sample_build(&b.e[i], &so, &sb, &e), TS_OK);
    assert_int_equal(sa.mix_n, sb.mix_n);
    assert_memory_equal(sa.wave + sa.mix_off, sb.wave + sb.mix_off, sizeof(float) * (size_t)sa.mix_n);
    sample_free(&sa);
    sample_free(&sb);
  }
  man_free(&a);
  man_free(&b);
}

static void test_roundtrip(void **state) {
  roundtrip(2);
  roundtrip(3);
}

static void expect_line(const char *file, int line) {
  char want[700];
  snprintf(want, sizeof want, "%s:%d:", file, line);
  if (!strstr(fx_log, want)) fail_msg("no \"%s\" in the log:\n%s", want, fx_log);
}

static void test_bad_lines(void **state) {
  char csv[512], map[512];
  snprintf(csv, sizeof csv, "%s/bad.csv", fx_dir);
  snprintf(map, sizeof map, "%s/bad_map", fx_dir);
  FILE *f = fopen(csv, "w");
  fprintf(f, "mixture_ID,source_1_path,source_1_gain,source_2_path,source_2_gain\n");
  fprintf(f, "100-1-0000_101-1-0001,a/100-1-0000.flac,1.0,a/101-1-0001.flac,0.5\n"); /* 2 good */
  fprintf(f, "101-1-0000_102-1-0001,a/101-1-0000.flac,1.0,a/102-1-0001.flac\n");     /* 3 fields */
  fprintf(f, "109-1-0000_102-1-0001,a/109-1-0000.flac,1.0,a/102-1-0001.flac,0.5\n"); /* 4 unknown */
  fprintf(f, "102-1-0000_103-1-0001,a/102-1-0000.flac,abc,a/103-1-0001.flac,0.5\n"); /* 5 gain */
  fprintf(f, "103-1-0000_104-1-0001,a/103-1-0000.flac,1.0,a/104-1-0001.flac,-2\n");  /* 6 gain */
  fprintf(f, "100-1-0000_101-1-0001,a/100-1-0002.flac,1.0,a/101-1-0002.flac,0.5\n"); /* 7 dup id */
  fprintf(f, "101-1-0002_100-1-0001,a/101-1-0002.flac,0.7,a/100-1-0001.flac,0.9\n"); /* 8 good */
  fclose(f);
  f = fopen(map, "w");
  fprintf(f, "100-1-0000_101-1-0001 100-1-0000 s2/101-1-0002_100-1-0001\n"); /* 1 good */
  fprintf(f, "100-1-0000_101-1-0001 100-1-0000\n");                          /* 2 fields */
  fprintf(f, "nosuch 100-1-0000 s1/101-1-0002_100-1-0001\n");                /* 3 mixture */
  fprintf(f, "100-1-0000_101-1-0001 105-1-0000 s2/101-1-0002_100-1-0001\n"); /* 4 target */
  fprintf(f, "100-1-0000_101-1-0001 101-1-0001 x/abc\n");                    /* 5 enroll */
  fprintf(f, "100-1-0000_101-1-0001 101-1-0001 s2/101-1-0002_100-1-0001\n"); /* 6 other spk */
  fprintf(f, "100-1-0000_101-1-0001 100-1-0000 s2/101-1-0002_100-1-0001\n"); /* 7 twice */
  fprintf(f, "100-1-0000_101-1-0001 101-1-0001 s1/101-1-0002_100-1-0001\n"); /* 8 good */
  fprintf(f, "100-1-0000_101-1-0001 101-1-0001 s3/101-1-0002_100-1-0001\n"); /* 9 no s3 */
  fclose(f);
  lmx_opts o;
  lmx_opts_default(&o);
  manifest m;
  man_init(&m);
  lmx_stats st;
  ts_err e = {0};
  fx_log_start();
  assert_int_equal(lmx_import(csv, map, &C, &o, &m, &st, &e), TS_OK);
  fx_log_stop();
  for (int l = 3; l <= 7; l++) expect_line(csv, l);
  for (int l = 2; l <= 7; l++) expect_line(map, l);
  expect_line(map, 9);
  assert_int_equal(st.n_rows, 7);
  assert_int_equal(st.n_bad_rows, 5);
  assert_int_equal(st.n_bad_trials, 7);
  assert_int_equal(st.n_trials, 2);
  assert_int_equal(m.n, 2);
  assert_true(m.e[0].enroll.gain == 0.9);
  assert_true(m.e[1].enroll.gain == 0.7);
  man_free(&m);
  /* a CSV without the required columns is an error naming it */
  write_text(csv, "id,path\nx,y\n");
  expect_refused(csv, "bad.csv:1");
}

/* a source path far longer than a line: exported whole, no buffer overrun */
static void test_export_long_path(void **state) {
  mix_opts mo;
  mix_opts_default(&mo);
  mo.seed = 7;
  manifest a;
  baked_mixtures(&mo, 2, &a);
  ts_err e = {0};
  size_t L = 40000;
  char *lp = malloc(L + 16);
  memset(lp, 'd', L);
  snprintf(lp + L - 20, 36, "/100-1-0000.flac");
  free(a.e[0].src[0].path);
  a.e[0].src[0].path = lp;
  char csv[512];
  snprintf(csv, sizeof csv, "%s/long_path.csv", fx_dir);
  assert_int_equal(lmx_export(&a, 16000, csv, NULL, &e), TS_OK);
  FILE *f = fopen(csv, "r");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  assert_true(ftell(f) > (long)L);
  fclose(f);
  man_free(&a);
}

static void test_nul_byte(void **state) {
  char csv[512];
  snprintf(csv, sizeof csv, "%s/nul.csv", fx_dir);
  FILE *f = fopen(csv, "w");
  fprintf(f, "mixture_ID,source_1_path\nm1,100-1-0000.flac\nm2,x%cy\nm3,101-1-0001.flac\n", 0);
  fclose(f);
  manifest m;
  man_init(&m);
  ts_err e = {0};
  assert_int_equal(lmx_import(csv, NULL, &C, NULL, &m, NULL, &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "nul.csv:3"));
  man_free(&m);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = 0;
  fclose(f);
  return s;
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

/* quoted fields: commas and doubled quotes inside, spaces kept; unclosed quotes and text after
 * a closing quote are bad lines, named and counted (they used to be split at the comma and
 * skipped as a field-count mismatch) */
static void test_quoted_fields(void **state) {
  char csv[512];
  snprintf(csv, sizeof csv, "%s/quoted.csv", fx_dir);
  FILE *f = fopen(csv, "w");
  fprintf(f, "mixture_ID,\"source_1_path\",source_1_gain,source_2_path,source_2_gain\n");
  fprintf(f, "\"100-1-0000_101-1-0001\",\"a, b/100-1-0000.flac\",1.0,a/101-1-0001.flac,0.5\n"); /* 2 good */
  fprintf(f, "101-1-0000_102-1-0001, \"x\"\"y/101-1-0000.flac\" ,0.25,a/102-1-0001.flac,0.5\n");  /* 3 good */
  fprintf(f, "102-1-0000_103-1-0001,\"a/102-1-0000.flac,1.0,a/103-1-0001.flac,0.5\n");            /* 4 unclosed */
  fprintf(f, "103-1-0000_104-1-0001,\"a/103-1-0000.flac\"x,1.0,a/104-1-0001.flac,0.5\n");       /* 5 text after */
  fprintf(f, "104-1-0000_105-1-0001,a/104-1-0000.flac,1.0,a/105-1-0001.flac,0.5,extra\n");     /* 6 fields */
  fclose(f);
  lmx_opts o;
  lmx_opts_default(&o);
  manifest m;
  man_init(&m);
  lmx_stats st;
  ts_err e = {0};
  fx_log_start();
  assert_int_equal(lmx_import(csv, NULL, &C, &o, &m, &st, &e), TS_OK);
  fx_log_stop();
  for (int l = 4; l <= 6; l++) expect_line(csv, l);
  assert_int_equal(st.n_rows, 5);
  assert_int_equal(st.n_bad_rows, 3);
  assert_int_equal(m.n, 4); /* two mixtures, each speaker the target in turn */
  int seen = 0;
  for (int64_t i = 0; i < m.n; i++)
    if (strstr(m.e[i].id, "101-1-0000_102-1-0001")) {
      assert_true(m.e[i].src[0].gain == 0.25);
      seen++;
    }
  assert_int_equal(seen, 2);
  man_free(&m);
  /* a header whose quote is not closed is an error naming it */
  write_text(csv, "mixture_ID,\"source_1_path\n");
  expect_refused(csv, "quoted.csv:1");
}

/* export: a path with a comma and quotes is written quoted and reads back; keys longer than any
 * buffer stay distinct (they were cut at 4,096 bytes, so mixtures sharing that much merged) */
static void test_export_quoting_and_keys(void **state) {
  mix_opts mo;
  mix_opts_default(&mo);
  mo.seed = 11;
  manifest a;
  baked_mixtures(&mo, 6, &a);
  ts_err e = {0};
  char csv[512], csv2[512];
  snprintf(csv, sizeof csv, "%s/plain.csv", fx_dir);
  snprintf(csv2, sizeof csv2, "%s/odd.csv", fx_dir);
  assert_int_equal(lmx_export(&a, 16000, csv, NULL, &e), TS_OK);
  char *plain = slurp(csv);
  int rows = count_lines(plain);
  free(plain);
  /* the same mixtures with a comma and a quote in one path (every entry holding that source),
   * and 5,000-byte utterance ids that differ only at their end */
  char *old = strdup(a.e[0].src[0].path), *np = malloc(strlen(old) + 16);
  snprintf(np, strlen(old) + 16, "d, \"q\"/%s", strrchr(old, '/') ? strrchr(old, '/') + 1 : old);
  for (int64_t i = 0; i < a.n; i++)
    for (int k = 0; k < a.e[i].n_src; k++)
      if (!strcmp(a.e[i].src[k].path, old)) {
        free(a.e[i].src[k].path);
        a.e[i].src[k].path = strdup(np);
      }
  free(old);
  free(np);
  for (int64_t i = 0; i < a.n; i++)
    for (int k = 0; k < a.e[i].n_src; k++) {
      char *u = a.e[i].src[k].utt, *lu = malloc(5000 + strlen(u) + 1);
      memset(lu, 'u', 5000);
      strcpy(lu + 5000, u);
      a.e[i].src[k].utt = lu;
      free(u);
    }
  assert_int_equal(lmx_export(&a, 16000, csv2, NULL, &e), TS_OK);
  char *odd = slurp(csv2);
  assert_int_equal(count_lines(odd), rows); /* as many mixtures as before */
  assert_non_null(strstr(odd, ",\"d, \"\"q\"\"/"));
  free(odd);
  /* both read back to the same entries: the quoted path's file name finds its utterance (the
   * mixture_ID column names entries only) */
  manifest b, c;
  man_init(&b);
  man_init(&c);
  lmx_opts lo;
  lmx_opts_default(&lo);
  lmx_stats st;
  assert_int_equal(lmx_import(csv, NULL, &C, &lo, &b, &st, &e), TS_OK);
  assert_int_equal(lmx_import(csv2, NULL, &C, &lo, &c, &st, &e), TS_OK);
  assert_int_equal(st.n_bad_rows, 0);
  assert_int_equal(c.n, b.n);
  for (int64_t i = 0; i < b.n; i++)
    for (int k = 0; k < b.e[i].n_src; k++) {
      assert_string_equal(c.e[i].src[k].utt, b.e[i].src[k].utt);
      assert_true(c.e[i].src[k].gain == b.e[i].src[k].gain);
    }
  man_free(&b);
  man_free(&c);
  man_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_reproduction),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_bad_lines),
      cmocka_unit_test(test_export_long_path),
      cmocka_unit_test(test_nul_byte),
      cmocka_unit_test(test_quoted_fields),
      cmocka_unit_test(test_export_quoting_and_keys),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
