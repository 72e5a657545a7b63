/* test_step_replay.c — the replay record of a captured decoding step (step_replay.h): each
 * staged array's next bytes follow its rule (positions advance by the rows' new tokens, ids
 * are read again, the rest stays), a step of other rows does not match, and any copy without
 * a fitting rule makes the record not replayable, with the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tensor/step_replay.h"

static int32_t rd(const unsigned char *p, int i) {
  int32_t v;
  memcpy(&v, p + 4 * i, 4);
  return v;
}

static void test_rules(void **s) {
  (void)s;
  int32_t ids[4] = {11, 12, 13, 14}, nn[4] = {1, 1, 0, 1}, pos[4] = {40, 41, 7, 43};
  float inv[3] = {1.0f, 0.5f, 0.25f};
  /* the pinned bytes as a capture leaves them; the advancing array at an odd offset */
  unsigned char pin[256];
  memset(pin, 0, sizeof pin);
  memcpy(pin, inv, sizeof inv);
  memcpy(pin + 65, pos, sizeof pos);
  memcpy(pin + 128, ids, sizeof ids);
  sr_rec r;
  memset(&r, 0, sizeof r);
  assert_int_equal(sr_begin(&r, ids, nn, 4), 0);
  sr_add(&r, pin, inv, sizeof inv, SR_CONST);
  sr_add(&r, pin + 65, pos, sizeof pos, SR_ADVANCE);
  sr_add(&r, pin + 128, ids, sizeof ids, SR_IDS);
  assert_true(r.ok);
  assert_int_equal(r.n, 3);
  assert_true(sr_matches(&r, ids, nn, 4));
  /* the next step: new tokens in the caller's array */
  ids[0] = 21, ids[1] = 22, ids[3] = 24;
  sr_apply(&r);
  assert_int_equal(rd(pin + 65, 0), 41);
  assert_int_equal(rd(pin + 65, 1), 42);
  assert_int_equal(rd(pin + 65, 2), 7); /* the row that took no token stays */
  assert_int_equal(rd(pin + 65, 3), 44);
  assert_int_equal(rd(pin + 128, 0), 21);
  assert_int_equal(rd(pin + 128, 3), 24);
  assert_memory_equal(pin, inv, sizeof inv);
  sr_apply(&r);
  assert_int_equal(rd(pin + 65, 0), 42);
  assert_int_equal(rd(pin + 65, 2), 7);
  assert_int_equal(rd(pin + 65, 3), 45);
  /* the record keeps the captured rows: a caller whose n_new changed does not match */
  int32_t nn2[4] = {1, 0, 0, 1};
  assert_false(sr_matches(&r, ids, nn2, 4));
  assert_false(sr_matches(&r, ids, nn, 3));
  int32_t other[4];
  memcpy(other, ids, sizeof other);
  assert_false(sr_matches(&r, other, nn, 4));
  nn[1] = 0; /* the record copied n_new: the caller's later change does not alter it */
  assert_false(sr_matches(&r, ids, nn, 4));
  nn[1] = 1;
  assert_true(sr_matches(&r, ids, nn, 4));
  sr_clear(&r);
  assert_false(sr_matches(&r, ids, nn, 4));
}

/* each misfit refuses the record and says why; nothing is applied from a record not begun */
static void test_refusals(void **s) {
  (void)s;
  int32_t ids[2] = {1, 2}, nn[2] = {1, 1}, three[3] = {0, 0, 0};
  unsigned char pin[64];
  sr_rec r;
  memset(&r, 0, sizeof r);
  struct {
    const void *host;
    size_t bytes;
    sr_kind kind;
    const char *why;
  } bad[] = {
      {three, sizeof three, SR_NONE, "without a replay rule"},
      {three, sizeof three, SR_ADVANCE, "other than one int32 per row"},
      {three, 8, SR_IDS, "another array"},
      {ids, 4, SR_IDS, "another array"},
      {ids, 8, (sr_kind)9, "unknown replay rule"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(sr_begin(&r, ids, nn, 2), 0);
    sr_add(&r, pin, ids, 8, SR_IDS);
    assert_true(r.ok);
    sr_add(&r, pin + 8, bad[i].host, bad[i].bytes, bad[i].kind);
    assert_false(r.ok);
    assert_non_null(r.why);
    assert_non_null(strstr(r.why, bad[i].why));
    assert_false(sr_matches(&r, ids, nn, 2));
    /* a later fitting copy does not make it replayable again, nor change the reason */
    const char *why = r.why;
    sr_add(&r, pin + 16, ids, 8, SR_ADVANCE);
    assert_false(r.ok);
    assert_ptr_equal(r.why, why);
  }
  /* more copies than a record holds */
  assert_int_equal(sr_begin(&r, ids, nn, 2), 0);
  for (int i = 0; i < SR_MAX; i++) sr_add(&r, pin, ids, 8, SR_CONST);
  assert_true(r.ok);
  sr_add(&r, pin, ids, 8, SR_CONST);
  assert_false(r.ok);
  assert_non_null(strstr(r.why, "more staging copies"));
  /* no rows declared: nothing is replayable */
  assert_int_equal(sr_begin(&r, ids, nn, 0), 0);
  assert_false(r.ok);
  sr_add(&r, pin, ids, 8, SR_CONST);
  assert_int_equal(r.n, 0);
  assert_false(sr_matches(&r, ids, nn, 0));
  assert_int_equal(sr_begin(&r, NULL, nn, 2), 0);
  assert_false(r.ok);
  sr_clear(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_rules), cmocka_unit_test(test_refusals)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
