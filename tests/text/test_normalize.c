/* test_normalize.c — LibriSpeech normalisation of model output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "text/normalize.h"

static void check(const char *in, const char *want) {
  char *out;
  size_t n;
  ts_err e = {0};
  assert_int_equal(norm_librispeech(in, strlen(in), &out, &n, &e), 0);
  assert_string_equal(out, want);
  assert_int_equal(n, strlen(want));
  free(out);
}

static void test_cases(void **state) {
  check("Thirty or forty miles eastward, from Seattle.", "THIRTY OR FORTY MILES EASTWARD FROM SEATTLE");
  check("  Don't   stop!  ", "DON'T STOP");
  check("He said: \xE2\x80\x9CIt\xE2\x80\x99s John\xE2\x80\x99s.\xE2\x80\x9D", "HE SAID IT'S JOHN'S");
  check("'Tis the boys' hats -- 'quoted'", "TIS THE BOYS HATS QUOTED");
  check("Caf\xC3\xA9 na\xC3\xAFve \xEF\xAC\x81ne Stra\xC3\x9F" "e", "CAFE NAIVE FINE STRASSE");
  check("Room 101, tab\there\nnewline", "ROOM 101 TAB HERE NEWLINE");
  check("\xE6\x88\x91\xE6\x83\xB3 hello", "HELLO");
  check("", "");
  check(" ... !!! ", "");
  check("rock'n'roll", "ROCK'N'ROLL");
  check("don''t", "DON T");
  check("bad \xFF\xFE bytes", "BAD BYTES");
  check("<think>x</think><answer>ok</answer>", "THINK X THINK ANSWER OK ANSWER");
  /* idempotent on its own output */
  check("THIRTY OR FORTY MILES EASTWARD FROM SEATTLE", "THIRTY OR FORTY MILES EASTWARD FROM SEATTLE");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
