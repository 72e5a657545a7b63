/* test_wb_data.c — the workbench's data layer without curses: opening a manifest and a decode
 * JSONL (join by id, bad lines skipped, kind detection), the timeline truth from audio and from
 * manifest durations, scoring of raw outputs (format, WER counts, chosen target), filters and
 * sort, and the export of marked lines (exact bytes, atomic, refusals); decode records whose
 * counts are not whole numbers a double holds exactly are bad lines. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/afile.h"
#include "ui/wb_state.h"
#ifdef TS_HAVE_AUDIO
#include "audio/audio_io.h"
#endif

static char g_dir[256];

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_dir, name); }

static void write_text(const char *name, const char *text) {
  char p[512];
  path_in(p, sizeof p, name);
  ts_err e;
  if (afile_write(p, text, strlen(text), &e)) fail_msg("%s", e.msg);
}

/* s1: two speakers with similarities and durations; s2: one speaker, durations only through
 * the manifest (its file does not exist); s3: a bad line; s4: three speakers. */
static const char *k_manifest =
    "{\"id\":\"s1\",\"set\":\"a\",\"sources\":[{\"path\":\"a.wav\",\"speaker\":\"1\",\"gender\":\"M\",\"text\":\"HELLO "
    "WORLD\",\"gain\":0.5,\"offset\":0,\"duration\":1.5},{\"path\":\"b.wav\",\"speaker\":\"2\",\"gender\":\"F\","
    "\"text\":\"GOOD MORNING\",\"gain\":0.5,\"offset\":0.5,\"duration\":2}],\"target\":0,\"enroll\":{\"path\":\"e.wav\","
    "\"start\":0,\"duration\":1},\"similarity\":[0.75,0.3]}\n"
    "\n"
    "{\"id\":\"s2\",\"set\":\"b\",\"sources\":[{\"path\":\"gone.wav\",\"speaker\":\"3\",\"gender\":\"F\",\"text\":\"ONE "
    "VOICE\",\"gain\":1,\"offset\":0,\"duration\":1.25}],\"target\":0,\"enroll\":{\"path\":\"e.wav\",\"start\":0,"
    "\"duration\":1}}\n"
    "{\"id\":\"s3\",\"sources\":[]}\n"
    "{\"id\":\"s4\",\"set\":\"c\",\"sources\":[{\"path\":\"a.wav\",\"speaker\":\"1\",\"gender\":\"M\",\"text\":\"X\","
    "\"gain\":1,\"offset\":0},{\"path\":\"b.wav\",\"speaker\":\"2\",\"gender\":\"F\",\"text\":\"Y\",\"gain\":1,"
    "\"offset\":0},{\"path\":\"b.wav\",\"speaker\":\"5\",\"gender\":\"M\",\"text\":\"Z\",\"gain\":1,\"offset\":0}],"
    "\"target\":2,\"enroll\":{\"path\":\"e.wav\",\"start\":0,\"duration\":1},\"similarity\":[0.5,0.1,0.85]}\n";

static int setup(void **st) {
  (void)st;
  snprintf(g_dir, sizeof g_dir, "/tmp/tswbXXXXXX");
  if (!mkdtemp(g_dir)) return 1;
#ifdef TS_HAVE_AUDIO
  const int rate = 16000;
  static float x[32000];
  for (int i = 0; i < 32000; i++) x[i] = 0.3f * sinf(0.05f * (float)i);
  const struct {
    const char *name;
    double sec;
  } files[] = {{"a.wav", 1.5}, {"b.wav", 2.0}, {"e.wav", 1.0}};
  for (int k = 0; k < 3; k++) {
    char p[512];
    path_in(p, sizeof p, files[k].name);
    ts_err e;
    if (audio_write(p, x, (int64_t)(files[k].sec * rate), rate, &e)) return 1;
  }
#endif
  write_text("m.jsonl", k_manifest);
  return 0;
}

static int teardown(void **st) {
  (void)st;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : 1;
}

static void open_manifest(wb *w) {
  char p[512];
  path_in(p, sizeof p, "m.jsonl");
  const char *kind = NULL;
  ts_err e;
  if (wb_open_file(w, p, &kind, &e)) fail_msg("%s", e.msg);
  assert_string_equal(kind, "manifest");
}

static void test_manifest(void **st) {
  (void)st;
  wb w;
  wb_init(&w);
  open_manifest(&w);
  assert_int_equal(w.n, 3); /* the bad line is skipped */
  assert_int_equal(w.n_vis, 3);
  assert_string_equal(w.it[0].id, "s1");
  assert_int_equal(w.it[0].speakers, 2);
  assert_int_equal(w.it[2].target, 2);
  assert_string_equal(w.it[1].ref_text, "ONE VOICE");
  /* the original line is kept byte for byte (for export) */
  assert_memory_equal(w.it[1].line, "{\"id\":\"s2\"", 10);
  assert_null(strchr(w.it[1].line, '\n'));
  int lv;
  assert_non_null(strstr(wb_last_msg(&w, &lv), "1 bad lines skipped"));
  assert_int_equal(lv, 1);
  wb_free(&w);
}

static void test_facts(void **st) {
  (void)st;
  wb w;
  wb_init(&w);
  open_manifest(&w);
  ts_err e;
  /* s2's audio is missing: the timeline comes from the manifest durations */
  wb_item *x = &w.it[1];
  assert_int_equal(wb_item_facts(x, &e), TS_OK);
  assert_true(fabs(x->facts.enroll_dur - 1.0) < 1e-9);
  assert_true(fabs(x->facts.silence_dur - 3.0) < 1e-9);
  assert_true(fabs(x->facts.mix_dur - 1.25) < 1e-9);
  assert_true(fabs(x->facts.spk[0].start - 4.0) < 1e-9 && fabs(x->facts.spk[0].end - 5.25) < 1e-9);
  assert_int_equal(x->facts.enroll_gender, COT_FEMALE);
  assert_int_equal(x->has_sim, 0);
#ifdef TS_HAVE_AUDIO
  /* s1 from the audio: mixture = max(1.5, 0.5 + 2) */
  x = &w.it[0];
  assert_int_equal(wb_item_facts(x, &e), TS_OK);
  assert_true(fabs(x->facts.mix_dur - 2.5) < 1e-3);
  assert_true(fabs(x->facts.total_dur - 6.5) < 1e-3);
  assert_true(fabs(x->facts.spk[1].start - 4.5) < 1e-3 && fabs(x->facts.spk[1].end - 6.5) < 1e-3);
  assert_int_equal(x->facts.spk[0].level, 4);
  assert_int_equal(x->facts.spk[1].level, 2);
  assert_int_equal(x->has_sim, 1);
  /* the CoT built from these facts checks out step by step with no wrong step */
  char *cot = NULL;
  assert_int_equal(cot_build(&x->facts, NULL, "HELLO WORLD", &cot, &e), TS_OK);
  wb_out o;
  assert_int_equal(wb_score(x, cot, &o, &e), TS_OK);
  cot_parsed p;
  cot_check c;
  assert_int_equal(wb_check_cot(x, &o, 0, &p, &c, &e), TS_OK);
  assert_int_equal(c.n_wrong, 0);
  assert_int_equal(c.n_missing, 0);
  assert_true(c.n_ok > 10);
  assert_int_equal(o.wrong_target, 0);
  wb_out_free(&o);
  free(cot);
#endif
  wb_free(&w);
}

static void test_score(void **st) {
  (void)st;
  wb w;
  wb_init(&w);
  open_manifest(&w);
  ts_err e;
  wb_item *x = &w.it[0]; /* ref HELLO WORLD, target 0 */
  wb_out o;
  assert_int_equal(wb_score(x, "<think></think><answer>hello, there world!</answer>", &o, &e), TS_OK);
  assert_int_equal(o.format_ok, 1);
  assert_string_equal(o.hyp, "HELLO THERE WORLD");
  assert_int_equal(o.sub, 0);
  assert_int_equal(o.ins, 1);
  assert_int_equal(o.del, 0);
  assert_int_equal(o.n, 2);
  assert_true(fabs(wb_out_wer(&o) - 0.5) < 1e-12);
  wb_out_free(&o);
  /* a format error scores as an empty hypothesis */
  assert_int_equal(wb_score(x, "<answer>HELLO WORLD</answer>", &o, &e), TS_OK);
  assert_int_equal(o.format_ok, 0);
  assert_int_equal(o.fmt, COT_FMT_NO_THINK);
  assert_string_equal(o.hyp, "");
  assert_int_equal(o.del, 2);
  wb_out_free(&o);
  /* a CoT naming Speaker2 picked the wrong target */
  assert_int_equal(wb_score(x,
                            "<think>Target speaker: Speaker2 has the highest similarity score to the enrollment speech "
                            "and is the target speaker. Final output:</think><answer>GOOD MORNING</answer>",
                            &o, &e),
                   TS_OK);
  assert_int_equal(o.wrong_target, 1);
  assert_int_equal(o.sub, 2);
  wb_out_free(&o);
  wb_free(&w);
}

static void test_decode_join_filters_export(void **st) {
  (void)st;
  wb w;
  wb_init(&w);
  open_manifest(&w);
  write_text("d.jsonl",
             "{\"id\":\"s1\",\"set\":\"a\",\"ref\":\"HELLO WORLD\",\"hyp\":\"HELLO\",\"format_ok\":true,\"sub\":0,"
             "\"del\":1,\"ins\":0,\"n\":2,\"raw\":\"<think></think><answer>HELLO</answer>\"}\n"
             "{\"id\":\"s2\",\"set\":\"b\",\"ref\":\"ONE VOICE\",\"hyp\":\"\",\"format_ok\":false,\"sub\":0,\"del\":2,"
             "\"ins\":0,\"n\":2,\"raw\":\"oops\"}\n"
             "{\"id\":\"s4\",\"set\":\"c\",\"ref\":\"Z\",\"hyp\":\"Z\",\"format_ok\":true,\"sub\":0,\"del\":0,\"ins\":0,"
             "\"n\":1,\"wrong_speaker\":true}\n"
             "{\"id\":\"s9\",\"set\":\"x\",\"ref\":\"A B\",\"hyp\":\"A\",\"format_ok\":true,\"sub\":0,\"del\":3,\"ins\":0,"
             "\"n\":2}\n"
             "{\"id\":\"s8\",\"set\":\"x\",\"ref\":\"A B\",\"hyp\":\"A B\",\"format_ok\":true,\"sub\":0,\"del\":0,"
             "\"ins\":0,\"n\":2}\n");
  char p[512];
  path_in(p, sizeof p, "d.jsonl");
  const char *kind;
  ts_err e;
  assert_int_equal(wb_open_file(&w, p, &kind, &e), TS_OK);
  assert_string_equal(kind, "decode");
  assert_int_equal(w.n, 4); /* s9 rejected (del > n), s8 new and text-only */
  assert_int_equal(w.it[0].has_out, 1);
  assert_int_equal(w.it[0].out.del, 1);
  assert_int_equal(w.it[1].out.format_ok, 0);
  assert_int_equal(w.it[1].out.fmt, COT_FMT_NO_THINK);
  assert_int_equal(w.it[2].out.wrong_target, 1);
  assert_int_equal(w.it[3].has_ent, 0);
  assert_null(w.it[3].line);

  w.filt = WB_F_FMT;
  wb_refilter(&w);
  assert_int_equal(w.n_vis, 1);
  assert_string_equal(w.it[w.vis[0]].id, "s2");
  w.filt = WB_F_WER;
  wb_refilter(&w);
  assert_int_equal(w.n_vis, 2); /* s1, s2 */
  w.filt = WB_F_TARGET;
  wb_refilter(&w);
  assert_int_equal(w.n_vis, 1);
  assert_string_equal(w.it[w.vis[0]].id, "s4");
  w.filt = WB_F_SPK;
  w.filt_spk = 3;
  wb_refilter(&w);
  assert_int_equal(w.n_vis, 1);
  w.filt = 0;
  w.sort_key = WB_SORT_WER;
  w.sort_desc = 1;
  wb_refilter(&w);
  assert_int_equal(w.n_vis, 4);
  assert_string_equal(w.it[w.vis[0]].id, "s2"); /* WER 1, then 0.5, then 0, 0 */
  assert_string_equal(w.it[w.vis[1]].id, "s1");

  /* export: nothing marked, then s4 and s1 (written in manifest order), then a text-only one */
  char out[512];
  path_in(out, sizeof out, "sel.jsonl");
  int nw, nm;
  assert_int_equal(wb_export_marks(&w, out, &nw, &nm, &e), TS_EARG);
  assert_int_equal(access(out, F_OK), -1);
  w.it[2].marked = w.it[0].marked = w.it[3].marked = 1;
  assert_int_equal(wb_export_marks(&w, out, &nw, &nm, &e), TS_OK);
  assert_int_equal(nw, 2);
  assert_int_equal(nm, 1);
  char *got;
  size_t n;
  assert_int_equal(afile_read(out, &got, &n, &e), TS_OK);
  char want[4096];
  snprintf(want, sizeof want, "%s\n%s\n", w.it[0].line, w.it[2].line);
  assert_string_equal(got, want);
  free(got);
  /* only text-only samples marked: refused with a reason, nothing written */
  w.it[2].marked = w.it[0].marked = 0;
  path_in(out, sizeof out, "sel2.jsonl");
  assert_int_equal(wb_export_marks(&w, out, &nw, &nm, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "no manifest line"));
  assert_int_equal(access(out, F_OK), -1);
  wb_free(&w);
}

static void test_open_errors(void **st) {
  (void)st;
  wb w;
  wb_init(&w);
  const char *kind;
  ts_err e;
  assert_int_not_equal(wb_open_file(&w, "/nonexistent/x.jsonl", &kind, &e), TS_OK);
  assert_non_null(strstr(e.msg, "/nonexistent/x.jsonl"));
  write_text("junk.jsonl", "not json\n{\"a\":1}\n");
  char p[512];
  path_in(p, sizeof p, "junk.jsonl");
  assert_int_equal(wb_open_file(&w, p, &kind, &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "junk.jsonl"));
  assert_int_equal(w.n, 0);
  wb_free(&w);
}

/* counts past 2^53, fractions and huge values are bad lines (no overflow in the sums) */
static void test_decode_counts(void **st) {
  (void)st;
  wb w;
  wb_init(&w);
  const char *kind;
  ts_err e;
  write_text("counts.jsonl",
             "{\"id\":\"ok\",\"ref\":\"A B\",\"hyp\":\"A\",\"format_ok\":true,\"sub\":0,\"del\":1,\"ins\":0,\"n\":2}\n"
             "{\"id\":\"big\",\"ref\":\"A\",\"hyp\":\"A\",\"format_ok\":true,\"sub\":9e18,\"del\":9e18,\"ins\":0,"
             "\"n\":9.2e18}\n"
             "{\"id\":\"huge\",\"ref\":\"A\",\"hyp\":\"A\",\"format_ok\":true,\"sub\":1e300,\"del\":0,\"ins\":0,"
             "\"n\":1e300}\n"
             "{\"id\":\"frac\",\"ref\":\"A\",\"hyp\":\"A\",\"format_ok\":true,\"sub\":0.5,\"del\":0,\"ins\":0,"
             "\"n\":1.5}\n");
  char p[512];
  path_in(p, sizeof p, "counts.jsonl");
  assert_int_equal(wb_open_file(&w, p, &kind, &e), TS_OK);
  assert_int_equal(w.n, 1);
  assert_true(wb_find(&w, "ok") >= 0);
  assert_true(wb_find(&w, "big") < 0 && wb_find(&w, "huge") < 0 && wb_find(&w, "frac") < 0);
  wb_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_manifest), cmocka_unit_test(test_facts), cmocka_unit_test(test_score),
      cmocka_unit_test(test_decode_join_filters_export), cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_decode_counts)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
