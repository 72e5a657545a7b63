/* test_base.c — the base module: Philox4x32-10 against the Random123 known-answer vectors,
 * draws and shuffles, the arena (alignment, growth, marks, reuse), atomic file writes (no
 * temp file left, old content kept on failure), error formatting, bf16/f16 rounding. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/afile.h"
#include "base/arena.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/philox.h"
#include "base/progress.h"
#include "tensor/tensor.h"

static void test_philox_kat(void **s) {
  (void)s;
  /* known-answer vectors of Random123's philox4x32_10 (kat_vectors) */
  struct {
    uint32_t ctr[4], key[2], out[4];
  } kat[3] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (int i = 0; i < 3; i++) {
    uint32_t out[4];
    philox4x32_10(kat[i].ctr, kat[i].key, out);
    assert_memory_equal(out, kat[i].out, sizeof out);
  }
}

static void test_philox_draws(void **s) {
  (void)s;
  philox_rng a, b;
  philox_init(&a, 42, philox_stream_id(1, 2, 3));
  philox_init(&b, 42, philox_stream_id(1, 2, 3));
  double sum = 0, sq = 0;
  int n = 20000;
  for (int i = 0; i < n; i++) {
    float u = philox_uniform(&a);
    assert_true(u >= 0.0f && u < 1.0f);
    assert_true(u == philox_uniform(&b)); /* same (seed, stream): same draws */
    float z = philox_normal(&a);
    (void)philox_normal(&b);
    sum += z;
    sq += (double)z * z;
  }
  assert_true(fabs(sum / n) < 0.05);        /* mean 0 within ~7 sigma */
  assert_true(fabs(sq / n - 1.0) < 0.06);   /* variance 1 */
  assert_true(philox_stream_id(1, 2, 3) != philox_stream_id(1, 3, 2));
  int64_t idx[50], seen[50] = {0};
  for (int i = 0; i < 50; i++) idx[i] = i;
  philox_shuffle(&a, idx, 50);
  for (int i = 0; i < 50; i++) seen[idx[i]]++;
  for (int i = 0; i < 50; i++) assert_int_equal(seen[i], 1);
  for (int i = 0; i < 1000; i++) assert_true(philox_below(&a, 7) < 7);
}

static void test_arena(void **s) {
  (void)s;
  arena a;
  arena_init(&a, 1024);
  void *p1 = arena_alloc(&a, 10);
  assert_true(((uintptr_t)p1 & 63) == 0);
  arena_mark m = arena_get_mark(&a);
  void *p2 = arena_alloc(&a, 5000); /* bigger than a chunk */
  assert_non_null(p2);
  assert_true(((uintptr_t)p2 & 63) == 0);
  memset(p2, 1, 5000);
  void *p3 = arena_alloc(&a, 100);
  arena_rewind(&a, m);
  void *p4 = arena_alloc(&a, 100);
  assert_ptr_equal(p4, (char *)p1 + 64); /* rewound: the same place again */
  (void)p3;
  size_t peak = a.peak;
  arena_reset(&a);
  assert_int_equal(a.used, 0);
  for (int i = 0; i < 100; i++) assert_non_null(arena_alloc(&a, 300));
  assert_true(a.peak >= peak);
  char *z = arena_calloc(&a, 77);
  for (int i = 0; i < 77; i++) assert_int_equal(z[i], 0);
  arena_free(&a);
}

/* a device arena: chunks from the hook (counted), host arrays from the twin; marks, rewinds,
 * resets and free cover both */
typedef struct cnt_mem {
  int allocs, releases, fresh;
  size_t fresh_bytes;
} cnt_mem;
static void *cnt_alloc(void *u, size_t n) {
  ((cnt_mem *)u)->allocs++;
  return aligned_alloc(64, n);
}
static void cnt_release(void *u, void *p) {
  ((cnt_mem *)u)->releases++;
  free(p);
}
static void cnt_fresh(void *u, void *p, size_t n) { /* marks the block, as a checking device's NaN */
  ((cnt_mem *)u)->fresh++;
  ((cnt_mem *)u)->fresh_bytes += n;
  memset(p, 0xab, n);
}

static void test_arena_device(void **s) {
  (void)s;
  cnt_mem c = {0, 0, 0, 0};
  arena a;
  assert_int_equal(arena_init_device(&a, 4096, (arena_mem){cnt_alloc, cnt_release, &c, cnt_fresh}, 1024), 0);
  char *d1 = arena_alloc(&a, 100);
  int *h1 = arena_host_alloc(&a, 16 * sizeof(int));
  assert_non_null(d1);
  assert_non_null(h1);
  assert_int_equal(c.allocs, 1); /* the host array did not come from the device hook */
  assert_int_equal(c.fresh, 1);  /* each device block passes the fresh hook, rounded to 64 bytes */
  assert_int_equal(c.fresh_bytes, 128);
  assert_int_equal((unsigned char)d1[99], 0xab);
  assert_int_equal(a.host->used, 64);
  arena_mark m = arena_get_mark(&a);
  char *d2 = arena_alloc(&a, 10000); /* a second, larger device chunk */
  int *h2 = arena_host_alloc(&a, 2000);
  assert_int_equal(c.allocs, 2);
  assert_true(a.host->used > 64);
  arena_rewind(&a, m);
  assert_int_equal(a.host->used, 64);
  assert_ptr_equal(arena_host_alloc(&a, 2000), h2); /* the twin rewound to the mark too */
  (void)d2;
  arena_reset(&a);
  assert_int_equal(a.used, 0);
  assert_int_equal(a.host->used, 0);
  d1[5] = 1;
  assert_ptr_equal(arena_alloc(&a, 100), d1);
  assert_int_equal((unsigned char)d1[5], 0xab); /* a reused block is fresh again */
  assert_int_equal(c.fresh, 3);
  arena_free(&a);
  assert_int_equal(c.releases, 2);
  assert_null(a.host);
  /* a plain arena serves host allocations itself */
  arena_init(&a, 1024);
  assert_non_null(arena_host_alloc(&a, 10));
  assert_int_equal(a.used, 64);
  arena_free(&a);
}

/* ETA of a resumed job: from the counts done in this process, not from 0 */
static void test_progress_eta(void **s) {
  (void)s;
  progress p;
  progress_start(&p, "t", 1000);
  progress_update(&p, 1, NULL);
  assert_float_equal(progress_eta(&p, 100, 10.0), 10.0 * 900 / 100, 1e-9);
  progress_start(&p, "t", 1000);
  progress_update(&p, 501, NULL); /* resumed after step 500 */
  assert_float_equal(progress_eta(&p, 600, 10.0), 10.0 * 400 / 100, 1e-9);
  assert_float_equal(progress_eta(&p, 500, 10.0), -1.0, 0); /* nothing done here yet */
}

static void test_afile_and_errors(void **s) {
  (void)s;
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/test_base.%d/a/b", TS_BUILD_DIR, (int)getpid());
  ts_err e;
  assert_int_equal(afile_mkdirs(dir, &e), 0);
  snprintf(path, sizeof path, "%s/f.json", dir);
  assert_int_equal(afile_write(path, "{\"x\": 1}", 8, &e), 0);
  char *buf;
  size_t n;
  assert_int_equal(afile_read(path, &buf, &n, &e), 0);
  assert_int_equal(n, 8);
  assert_string_equal(buf, "{\"x\": 1}");
  free(buf);
  /* a write that is aborted leaves the old file and no temp file */
  afile f;
  assert_int_equal(afile_open(&f, path, &e), 0);
  assert_int_equal(afile_put(&f, "garbage", 7, &e), 0);
  afile_abort(&f);
  assert_int_equal(afile_read(path, &buf, &n, &e), 0);
  assert_string_equal(buf, "{\"x\": 1}");
  free(buf);
  assert_int_not_equal(access(f.tmp, F_OK), 0);
  /* JSON with a clear error */
  cJSON *j;
  assert_int_equal(afile_write(path, "{\"x\": }", 7, &e), 0);
  assert_int_equal(jsonx_load(path, &j, &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "f.json"));
  assert_int_equal(afile_read("/nonexistent/zz", &buf, &n, &e), TS_EIO);
  assert_non_null(strstr(e.msg, "/nonexistent/zz"));
  err_set(&e, TS_EFORMAT, "line %d: bad", 3);
  err_prefix(&e, "%s", "m.jsonl");
  assert_string_equal(e.msg, "m.jsonl: line 3: bad");
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s/test_base.%d'", TS_BUILD_DIR, (int)getpid());
  assert_int_equal(system(cmd), 0);
}

static void test_half_precision(void **s) {
  (void)s;
  /* bf16 rounds to nearest even on the 16 dropped bits */
  assert_int_equal(f32_to_bf16(1.0f), 0x3f80);
  float x;
  uint32_t u = 0x3f808000; /* exactly half way: ties to even (0x3f80) */
  memcpy(&x, &u, 4);
  assert_int_equal(f32_to_bf16(x), 0x3f80);
  u = 0x3f818000; /* half way with an odd lower bit: up to 0x3f82 */
  memcpy(&x, &u, 4);
  assert_int_equal(f32_to_bf16(x), 0x3f82);
  assert_true(bf16_to_f32(f32_to_bf16(-2.5f)) == -2.5f);
  /* f16: exact values, subnormals, overflow to infinity */
  assert_int_equal(f32_to_f16(1.0f), 0x3c00);
  assert_int_equal(f32_to_f16(65504.0f), 0x7bff);
  assert_int_equal(f32_to_f16(1e6f), 0x7c00);
  assert_true(f16_to_f32(0x0001) == ldexpf(1.0f, -24));
  assert_int_equal(f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
  for (int h = 0; h < 0x7c00; h += 7) assert_int_equal(f32_to_f16(f16_to_f32((uint16_t)h)), h);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_philox_kat), cmocka_unit_test(test_philox_draws),
                                     cmocka_unit_test(test_arena), cmocka_unit_test(test_arena_device),
                                     cmocka_unit_test(test_progress_eta), cmocka_unit_test(test_afile_and_errors),
                                     cmocka_unit_test(test_half_precision)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
