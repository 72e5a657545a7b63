/* test_data_mixref.c — sample assembly against an independent reference: mixtures made the
 * LibriMix way with pyloudnorm (tools/gen_data_mix.py: loudness targets, the per-source clip
 * rule, the 0.9 mixture guard, enrollment crop) give the same gains and the same input wave
 * as sample_build, within the loudness meters' agreement (0.02 LU ~ 0.25 % in gain). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/jsonx.h"
#include "data/manifest.h"
#include "data/sample.h"

static void test_against_reference(void **state) {
  manifest m;
  man_init(&m);
  ts_err e = {0};
  assert_int_equal(man_read(TS_FIXTURES "/data/mixref.jsonl", &m, &e), TS_OK);
  assert_int_equal(m.n_bad, 0);
  assert_int_equal(m.n, 3);
  cJSON *ref;
  assert_int_equal(jsonx_load(TS_FIXTURES "/data/mixref_expected.json", &ref, &e), TS_OK);
  double worst_gain = 0, worst_wave = 0;
  int guard_seen = 0, clip_seen = 0;
  for (int64_t i = 0; i < m.n; i++) {
    const man_entry *x = &m.e[i];
    const cJSON *r = cJSON_GetObjectItem(ref, x->id);
    assert_non_null(r);
    sample_opts so;
    sample_opts_default(&so);
    so.silence = cJSON_GetObjectItem(r, "silence")->valuedouble;
    sample s;
    if (sample_build(x, &so, &s, &e)) fail_msg("%s", e.msg);
    assert_int_equal(s.n, (int64_t)cJSON_GetObjectItem(r, "n")->valuedouble);
    const cJSON *g = cJSON_GetObjectItem(r, "gains");
    for (int k = 0; k < x->n_src; k++) {
      double want = cJSON_GetArrayItem(g, k)->valuedouble;
      double rel = fabs(s.gain[k] / want - 1);
      if (rel > worst_gain) worst_gain = rel;
    }
    double guard = cJSON_GetObjectItem(r, "guard")->valuedouble;
    assert_true(fabs(s.guard / guard - 1) < 3e-3);
    guard_seen += guard < 1;
    double eg = cJSON_GetObjectItem(r, "enroll_gain")->valuedouble;
    assert_true(fabs(s.enroll_gain / eg - 1) < 3e-3);
    for (int k = 0; k < x->n_src; k++) /* the clip rule: gain = 0.9 / peak, exact */
      if (x->src[k].lufs > -5) clip_seen++;
    const cJSON *w = cJSON_GetObjectItem(r, "every37");
    int nw = cJSON_GetArraySize(w);
    assert_int_equal(nw, (int)((s.n + 36) / 37));
    for (int q = 0; q < nw; q++) {
      double d = fabs(s.wave[(int64_t)q * 37] - cJSON_GetArrayItem(w, q)->valuedouble);
      if (d > worst_wave) worst_wave = d;
    }
    sample_free(&s);
  }
  printf("vs pyloudnorm/LibriMix reference: worst gain error %.4f %%, worst sample error %.2e\n",
         100 * worst_gain, worst_wave);
  assert_true(guard_seen >= 2);
  assert_true(clip_seen >= 1);
  assert_true(worst_gain < 3e-3);   /* 0.026 dB */
  assert_true(worst_wave < 2.5e-3); /* peaks are <= 0.9 */
  cJSON_Delete(ref);
  man_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_against_reference)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
