/* fuzz_cot.c — libFuzzer target for the CoT output parser (what a model writes is untrusted
 * text): any bytes give a parse whose offsets lie inside the input, a format check that agrees
 * with the parse, an answer that is the parse's answer span (or "" on a format error), and
 * values in their ranges. Built and run by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "infer/cot_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data; /* not NUL-terminated: the parser must keep to n bytes */
  cot_parsed *p = malloc(sizeof *p);
  ts_err e = {0};
  if (!p) return 0;
  if (cot_parse(s, size, p, &e) != TS_OK) __builtin_trap(); /* only allocation can fail */
  size_t ao = 1, al = 1, to = 1, tl = 1;
  cot_fmt_err f = cot_format_check(s, size, &ao, &al, &to, &tl);
  if (f != p->fmt || p->format_ok != (f == COT_FMT_OK)) __builtin_trap();
  if (p->format_ok) {
    if (ao != p->answer_off || al != p->answer_len || to != p->think_off || tl != p->think_len) __builtin_trap();
    if (ao > size || al > size - ao || to > size || tl > size - to) __builtin_trap();
  } else if (p->answer_off || p->answer_len) {
    __builtin_trap();
  }
  if (p->n_blocks < 0 || p->n_blocks > COT_PARSE_MAX_SPK || p->rank_n < 0 || p->rank_n > COT_PARSE_MAX_SPK)
    __builtin_trap();
  if (p->target < -1 || p->target >= COT_PARSE_MAX_SPK) __builtin_trap();
  for (int i = 0; i < p->rank_n; i++)
    if (p->rank_spk[i] < -1 || p->rank_spk[i] >= COT_PARSE_MAX_SPK) __builtin_trap();
  char *ans = NULL;
  if (cot_answer(s, size, &ans, &e) != TS_OK || !ans) __builtin_trap();
  if (strlen(ans) != (p->format_ok ? p->answer_len : 0)) __builtin_trap();
  if (p->format_ok && memcmp(ans, s + p->answer_off, p->answer_len)) __builtin_trap();
  free(ans);
  free(p);
  return 0;
}
