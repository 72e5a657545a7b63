/* fuzz_safetensors.c — libFuzzer target for the safetensors reader: any bytes either are
 * rejected with a message or give tensors that lie inside the input and convert without
 * reading past it. Built and run by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  st_file *f = NULL;
  ts_err e = {0};
  if (st_open_memory(data, size, "fuzz-input", &f, &e) != TS_OK) {
    /* a rejection leaves nothing open and says what and where */
    if (f || !e.msg[0] || !strstr(e.msg, "fuzz-input")) __builtin_trap();
    return 0;
  }
  const uint8_t *lo = data + 8 + f->header_len, *hi = data + size;
  uint64_t covered = 0;
  for (int i = 0; i < f->n_tensors; i++) {
    const st_tensor *t = &f->tensors[i];
    const uint8_t *p = t->data;
    if (p < lo || p > hi || t->nbytes > (size_t)(hi - p)) __builtin_trap();
    if (st_find(f, t->name) != t) __builtin_trap();
    if (!t->name[0] || t->ndim < 0 || t->ndim > ST_MAX_DIMS) __builtin_trap();
    covered += t->nbytes;
    if (t->numel <= (1 << 16)) {
      float *dst = malloc((size_t)t->numel * sizeof *dst + 1);
      if (dst) {
        int rc = st_read_f32(f, t, dst, t->numel, &e);
        ts_dtype d;
        int convertible = t->dtype == ST_F64 || (st_dtype_to_ts(t->dtype, &d) == 0 && d != DT_I32);
        if ((rc == TS_OK) != convertible) __builtin_trap();
        free(dst);
      }
    }
  }
  if (covered != (uint64_t)(hi - lo)) __builtin_trap(); /* tensors tile the data section */
  for (int i = 0; i < f->n_meta; i++)
    if (st_meta(f, f->meta[i].key) == NULL) __builtin_trap();
  (void)st_total_params(f);
  st_close(f);
  return 0;
}
