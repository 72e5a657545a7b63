/* fuzz_manifest.c — libFuzzer target for a manifest line (JSONL written by people and tools):
 * any bytes are either refused with a message naming the line, or give an entry that passes
 * its own check and writes back to JSON that parses to the same JSON again (a fixed point).
 * Built and run by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  man_entry x, y;
  ts_err e = {0};
  memset(&x, 0, sizeof x);
  memset(&y, 0, sizeof y);
  if (man_entry_from_json((const char *)data, size, "fuzz:1", "/base", &x, &e) != TS_OK) {
    if (!e.msg[0] || !strstr(e.msg, "fuzz:1")) __builtin_trap();
    man_entry_free(&x);
    return 0;
  }
  if (man_entry_check(&x, &e) != TS_OK) __builtin_trap();
  char *j1 = NULL, *j2 = NULL;
  if (man_entry_to_json(&x, &j1, &e) != TS_OK) __builtin_trap();
  if (man_entry_from_json(j1, strlen(j1), "fuzz:2", "/base", &y, &e) != TS_OK) __builtin_trap();
  if (man_entry_to_json(&y, &j2, &e) != TS_OK || strcmp(j1, j2)) __builtin_trap();
  free(j1);
  free(j2);
  man_entry_free(&x);
  man_entry_free(&y);
  return 0;
}
