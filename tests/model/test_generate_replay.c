/* test_generate_replay.c — generate's side of replayed decoding steps (op_step_replay): on a
 * backend that says it replayed a step and asks for the check (mode 2), generate reruns the
 * step's ops and compares the KV cache and the logits bit for bit, so a replay that did not
 * compute the step is reported with the step and the first cache row it missed; a backend
 * that never replays decodes as before. The backend here is the CPU's op table with only
 * step_replay replaced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "infer/generate.h"
#include "testutil.h"

static be_ops g_ops;
static backend g_be;
static int g_calls, g_from; /* step_replay calls so far; the first call answered with mode 2 */

/* says "replayed, check it" from call g_from on, having computed nothing: the logits buffer
 * still holds the last step's */
static int lazy_replay(backend *be, const int32_t *ids, const int32_t *n_new, int64_t B, int *mode) {
  (void)be, (void)ids, (void)n_new, (void)B;
  *mode = ++g_calls >= g_from ? 2 : 0;
  return TS_OK;
}

static int decode(tsm *m, int from, gen_output *outs, ts_err *e) {
  g_calls = 0, g_from = from;
  int32_t *prompt, np;
  if (tsm_prompt_ids(m, &prompt, &np, e)) return -1;
  float *wav = tu_zeros(16000);
  for (int i = 0; i < 16000; i++) wav[i] = 0.1f * (float)((i * 7919) % 201 - 100) / 100.0f;
  const int32_t *ids[1] = {prompt};
  int32_t n_ids[1] = {np};
  int64_t len[1] = {16000};
  gen_input in = {1, wav, 16000, len, ids, n_ids, NULL};
  gen_cfg c;
  memset(&c, 0, sizeof c);
  c.max_new = 8;
  c.min_new = 8; /* no early stop: every step has a token to feed */
  c.G = 2;
  c.guard.min_span = 1000;
  arena ar;
  arena_init(&ar, 1 << 22);
  int rc = tsm_generate(m, &in, &c, outs, &ar, e);
  arena_free(&ar);
  free(wav);
  free(prompt);
  return rc;
}

static void test_check_catches_lazy_replay(void **s) {
  (void)s;
  g_ops = *be_cpu()->ops;
  g_ops.step_replay = lazy_replay;
  g_be = *be_cpu();
  g_be.ops = &g_ops;
  char dir[512];
  ts_err e;
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny", TS_FIXTURES);
  tsm *m;
  if (tsm_load(dir, &g_be, 0, 0, &m, &e)) fail_msg("%s", e.msg);
  /* never replayed: decodes, and asks before every fed step */
  gen_output ref[2];
  memset(ref, 0, sizeof ref);
  assert_int_equal(decode(m, 1000, ref, &e), TS_OK);
  assert_int_equal(ref[0].n, 8);
  assert_true(g_calls >= 7);
  /* "replayed" from the third step on without computing it: the check names the step and the
   * first cache row the step should have written (layer 0's keys of sequence 0, at the
   * position its length had before the step) */
  gen_output outs[2];
  memset(outs, 0, sizeof outs);
  assert_int_equal(decode(m, 3, outs, &e), TS_EDEVICE);
  print_message("%s\n", e.msg);
  long long pos = -1;
  int len = -2;
  const char *at = strstr(e.msg, "decoding step 2 replayed leaves key cache layer 0, sequence 0, position ");
  assert_non_null(at);
  assert_int_equal(sscanf(at, "decoding step 2 replayed leaves key cache layer 0, sequence 0, position %lld (its length "
                              "before the step %d)",
                          &pos, &len),
                   2);
  assert_true(pos > 2);
  assert_int_equal(pos, len);
  assert_int_equal(g_calls, 3); /* it stopped at the first check */
  for (int r = 0; r < 2; r++) {
    assert_null(outs[r].text); /* a failed call leaves no outputs behind */
    gen_output_free(&ref[r]);
  }
  tsm_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_check_catches_lazy_replay)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
