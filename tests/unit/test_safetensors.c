/* test_safetensors.c — safetensors reader/writer: round trips, dtype conversion on load, lookup,
 * the committed malformed files, truncated and corrupted inputs, and a file written by the
 * reference library (tools/gen_st_ref.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "tensor/safetensors.h"

/* ---- helpers ---- */

static char tmpdir[256];

static int setup_dir(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/tsasr_st_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state) {
  (void)state;
  DIR *d = opendir(tmpdir);
  if (d) {
    struct dirent *de;
    char p[600];
    while ((de = readdir(d)))
      if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
        unlink(p);
      }
    closedir(d);
  }
  rmdir(tmpdir);
  return 0;
}

static int count_dir_entries(const char *dir) {
  int n = 0;
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *de;
  while ((de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
  closedir(d);
  return n;
}

static void check_in_bounds(const st_file *f) {
  for (int i = 0; i < f->n_tensors; i++) {
    const st_tensor *t = &f->tensors[i];
    const uint8_t *p = t->data;
    assert_true(p >= f->base + 8 + f->header_len);
    assert_true(p + t->nbytes <= f->base + f->size);
  }
}

/* ---- round trip ---- */

static void test_roundtrip(void **state) {
  (void)state;
  float a[12], sc = -7.25f, h_src[3] = {1.5f, -0.0009765625f, 65504.0f}, bf_src[5];
  for (int i = 0; i < 12; i++) a[i] = (float)i * 0.37f - 2.0f;
  uint16_t bf[5], h[3];
  for (int i = 0; i < 5; i++) {
    bf_src[i] = 1.0f / (float)(i + 3) - 0.1f * (float)i;
    bf[i] = f32_to_bf16(bf_src[i]);
  }
  for (int i = 0; i < 3; i++) h[i] = f32_to_f16(h_src[i]);
  int32_t ids[2] = {-7, 123456};
  st_entry es[] = {
      {"bf16.odd", DT_BF16, 1, {5}, bf},      /* odd byte count, written before an f32 */
      {"w.f32", DT_F32, 2, {3, 4}, a},
      {"scalar", DT_F32, 0, {0}, &sc},
      {"empty", DT_F32, 1, {0}, NULL},
      {"empty2d", DT_BF16, 2, {2, 0}, NULL},
      {"h", DT_F16, 1, {3}, h},
      {"ids", DT_I32, 1, {2}, ids},
  };
  const int n = (int)(sizeof es / sizeof es[0]);
  st_kv meta[] = {{"format", "pt"}, {"step", "42"}, {"odd \"key\"\\", "line\nbreak \xc3\xbc"}};
  char path[512];
  snprintf(path, sizeof path, "%s/rt.safetensors", tmpdir);
  ts_err e = {0};
  assert_int_equal(st_write(path, es, n, meta, 3, &e), TS_OK);
  assert_int_equal(count_dir_entries(tmpdir), 1); /* no temp file left behind */

  st_file *f = NULL;
  int rc = st_open(path, &f, &e);
  if (rc) fail_msg("%s", e.msg);
  assert_non_null(f);
  assert_int_equal(f->n_tensors, n);
  assert_int_equal((8 + f->header_len) % 8, 0);
  assert_int_equal(st_total_params(f), 12 + 1 + 5 + 3 + 2);
  assert_int_equal(st_total_bytes(f), 48 + 4 + 10 + 6 + 8);
  check_in_bounds(f);
  for (int i = 0; i < n; i++) {
    const st_tensor *t = st_find(f, es[i].name);
    assert_non_null(t);
    assert_string_equal(t->name, es[i].name);
    ts_dtype d;
    assert_int_equal(st_dtype_to_ts(t->dtype, &d), 0);
    assert_int_equal(d, es[i].dtype);
    assert_int_equal(t->ndim, es[i].ndim);
    int64_t numel = 1;
    for (int k = 0; k < t->ndim; k++) {
      assert_int_equal(t->shape[k], es[i].shape[k]);
      numel *= es[i].shape[k];
    }
    assert_int_equal(t->numel, numel);
    assert_int_equal(t->nbytes, (size_t)numel * dtype_size(es[i].dtype));
    if (numel) assert_memory_equal(t->data, es[i].data, t->nbytes);
    /* widest dtype first: every tensor is aligned to its element size */
    assert_int_equal((uintptr_t)t->data % dtype_size(es[i].dtype), 0);
  }
  for (int i = 0; i < 3; i++) {
    const char *v = st_meta(f, meta[i].key);
    assert_non_null(v);
    assert_string_equal(v, meta[i].val);
  }
  assert_null(st_meta(f, "missing"));

  /* f32 back exactly; bf16 and f16 within half an ulp of the source values */
  float out[12];
  assert_int_equal(st_read_f32(f, st_find(f, "w.f32"), out, 12, &e), TS_OK);
  assert_memory_equal(out, a, sizeof a);
  assert_int_equal(st_read_f32(f, st_find(f, "scalar"), out, 1, &e), TS_OK);
  assert_true(out[0] == sc);
  assert_int_equal(st_read_f32(f, st_find(f, "bf16.odd"), out, 5, &e), TS_OK);
  for (int i = 0; i < 5; i++) assert_true(fabsf(out[i] - bf_src[i]) <= fabsf(bf_src[i]) * 0x1p-8f);
  assert_int_equal(st_read_f32(f, st_find(f, "h"), out, 3, &e), TS_OK);
  for (int i = 0; i < 3; i++) assert_true(out[i] == h_src[i]); /* exactly representable */
  assert_int_equal(st_read_f32(f, st_find(f, "empty2d"), out, 0, &e), TS_OK);

  /* I32 is listed but does not convert; a wrong element count is a shape error */
  rc = st_read_f32(f, st_find(f, "ids"), out, 2, &e);
  assert_int_equal(rc, TS_EUNSUP);
  assert_non_null(strstr(e.msg, "\"ids\""));
  assert_non_null(strstr(e.msg, "I32"));
  rc = st_read_f32(f, st_find(f, "w.f32"), out, 11, &e);
  assert_int_equal(rc, TS_ESHAPE);
  assert_non_null(strstr(e.msg, "w.f32"));
  st_close(f);

  /* overwriting is atomic too and replaces the content */
  assert_int_equal(st_write(path, es + 1, 1, NULL, 0, &e), TS_OK);
  assert_int_equal(st_open(path, &f, &e), TS_OK);
  assert_int_equal(f->n_tensors, 1);
  assert_int_equal(f->n_meta, 0);
  assert_null(st_find(f, "bf16.odd"));
  st_close(f);
  assert_int_equal(count_dir_entries(tmpdir), 1);
  unlink(path);
}

/* ---- lookup among many tensors ---- */

static void test_lookup_many(void **state) {
  (void)state;
  enum { N = 700 };
  static float vals[N];
  static char names[N][48];
  static st_entry es[N];
  for (int i = 0; i < N; i++) {
    /* written in a shuffled order, so lookup cannot rely on file order */
    int k = (int)(((unsigned)i * 337u) % N);
    snprintf(names[i], sizeof names[i], "llm.model.layers.%d.self_attn.q_proj.weight", k);
    vals[i] = (float)k;
    es[i] = (st_entry){names[i], DT_F32, 1, {1}, &vals[i]};
  }
  char path[512];
  snprintf(path, sizeof path, "%s/many.safetensors", tmpdir);
  ts_err e = {0};
  assert_int_equal(st_write(path, es, N, NULL, 0, &e), TS_OK);
  st_file *f = NULL;
  assert_int_equal(st_open(path, &f, &e), TS_OK);
  assert_int_equal(f->n_tensors, N);
  for (int k = 0; k < N; k++) {
    char nm[64];
    snprintf(nm, sizeof nm, "llm.model.layers.%d.self_attn.q_proj.weight", k);
    const st_tensor *t = st_find(f, nm);
    assert_non_null(t);
    float v;
    assert_int_equal(st_read_f32(f, t, &v, 1, &e), TS_OK);
    assert_true(v == (float)k);
  }
  assert_null(st_find(f, "llm.model.layers.700.self_attn.q_proj.weight"));
  assert_null(st_find(f, "llm.model.layers.1"));
  assert_null(st_find(f, ""));
  const st_tensor *t = NULL;
  assert_int_equal(st_get(f, "llm.missing.weight", &t, &e), TS_EFORMAT);
  assert_null(t);
  assert_non_null(strstr(e.msg, "llm.missing.weight"));
  assert_non_null(strstr(e.msg, path));
  st_close(f);
  unlink(path);
}

/* ---- the reference library's file ---- */

static void test_reference_fixture(void **state) {
  (void)state;
  const char *path = TS_FIXTURES "/st/ref/ref.safetensors";
  ts_err e = {0};
  cJSON *exp = NULL;
  if (jsonx_load(TS_FIXTURES "/st/ref/ref_expected.json", &exp, &e)) fail_msg("%s", e.msg);
  st_file *f = NULL;
  if (st_open(path, &f, &e)) fail_msg("%s", e.msg);
  check_in_bounds(f);

  const cJSON *tens = cJSON_GetObjectItemCaseSensitive(exp, "tensors");
  assert_int_equal(f->n_tensors, cJSON_GetArraySize(tens));
  int n_float = 0, n_other = 0, n_empty = 0, n_scalar = 0;
  for (const cJSON *it = tens->child; it; it = it->next) {
    const st_tensor *t = st_find(f, it->string);
    if (!t) fail_msg("tensor %s not found", it->string);
    assert_string_equal(st_dtype_name(t->dtype),
                        cJSON_GetObjectItemCaseSensitive(it, "dtype")->valuestring);
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
    assert_int_equal(t->ndim, cJSON_GetArraySize(shape));
    int k = 0;
    for (const cJSON *d = shape->child; d; d = d->next, k++)
      assert_int_equal(t->shape[k], (int64_t)d->valuedouble);
    if (t->ndim == 0) n_scalar++;
    if (t->numel == 0) n_empty++;
    const cJSON *bits = cJSON_GetObjectItemCaseSensitive(it, "f32_bits");
    float *v = malloc((size_t)(t->numel + 1) * sizeof *v);
    assert_non_null(v);
    int rc = st_read_f32(f, t, v, t->numel, &e);
    if (cJSON_IsNull(bits)) {
      assert_int_equal(rc, TS_EUNSUP);
      assert_non_null(strstr(e.msg, it->string));
      n_other++;
    } else {
      if (rc) fail_msg("%s", e.msg);
      assert_int_equal(cJSON_GetArraySize(bits), t->numel);
      int64_t i = 0;
      for (const cJSON *b = bits->child; b; b = b->next, i++) {
        uint32_t want = (uint32_t)b->valuedouble, got;
        memcpy(&got, &v[i], 4);
        float wf;
        memcpy(&wf, &want, 4);
        if (isnan(wf)) {
          assert_true(isnan(v[i]));
        } else if (got != want) {
          fail_msg("%s[%lld]: got %a (0x%08x), want %a (0x%08x)", it->string, (long long)i,
                   (double)v[i], got, (double)wf, want);
        }
      }
      n_float++;
    }
    free(v);
  }
  /* the fixture covers what it says it covers */
  assert_true(n_float >= 8);
  assert_true(n_other >= 2);
  assert_true(n_empty >= 2);
  assert_true(n_scalar >= 1);

  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(exp, "metadata");
  assert_int_equal(f->n_meta, cJSON_GetArraySize(meta));
  for (const cJSON *m = meta->child; m; m = m->next) {
    const char *v = st_meta(f, m->string);
    if (!v) fail_msg("metadata %s missing", m->string);
    assert_string_equal(v, m->valuestring);
  }
  st_close(f);
  cJSON_Delete(exp);
}

/* ---- malformed files ---- */

static void test_bad_fixtures(void **state) {
  (void)state;
  const char *dir = TS_FIXTURES "/st/bad";
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *de;
  int n_files = 0, n_expect = 0;
  while ((de = readdir(d))) {
    size_t len = strlen(de->d_name);
    if (len > 4 && !strcmp(de->d_name + len - 4, ".txt")) n_expect++;
    const char *ext = ".safetensors";
    if (len <= strlen(ext) || strcmp(de->d_name + len - strlen(ext), ext)) continue;
    char path[1024], xpath[1024];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    snprintf(xpath, sizeof xpath, "%s/%.*s.txt", dir, (int)(len - strlen(ext)), de->d_name);
    char *want = NULL;
    size_t wn = 0;
    ts_err e = {0};
    if (afile_read(xpath, &want, &wn, &e)) fail_msg("%s", e.msg);
    while (wn && (want[wn - 1] == '\n' || want[wn - 1] == '\r')) want[--wn] = 0;
    assert_true(wn > 0);

    st_file *f = (st_file *)1;
    int rc = st_open(path, &f, &e);
    if (rc == TS_OK) fail_msg("%s was accepted", path);
    assert_null(f);
    if (!strstr(e.msg, want)) fail_msg("%s: message \"%s\" lacks \"%s\"", path, e.msg, want);
    if (!strstr(e.msg, path)) fail_msg("%s: message \"%s\" does not name the file", path, e.msg);

    /* the in-memory entry point gives the same verdict */
    char *buf = NULL;
    size_t n = 0;
    assert_int_equal(afile_read(path, &buf, &n, &e), TS_OK);
    ts_err e2 = {0};
    assert_int_not_equal(st_open_memory(buf, n, de->d_name, &f, &e2), TS_OK);
    assert_null(f);
    if (!strstr(e2.msg, want)) fail_msg("memory %s: \"%s\" lacks \"%s\"", path, e2.msg, want);
    assert_non_null(strstr(e2.msg, de->d_name));
    free(buf);
    free(want);
    n_files++;
  }
  closedir(d);
  assert_int_equal(n_files, n_expect);
  assert_true(n_files >= 40);
}

/* Every strict prefix of a valid file is rejected; single-byte corruptions never yield a
 * tensor outside the buffer. */
static void test_truncated_and_corrupted(void **state) {
  (void)state;
  char *buf = NULL;
  size_t n = 0;
  ts_err e = {0};
  assert_int_equal(afile_read(TS_FIXTURES "/st/ref/ref.safetensors", &buf, &n, &e), TS_OK);
  st_file *f = NULL;
  assert_int_equal(st_open_memory(buf, n, "ref", &f, &e), TS_OK);
  const uint64_t data_start = 8 + f->header_len;
  st_close(f);
  for (size_t len = 0; len < n; len++) {
    /* a fresh copy of exactly len bytes, so ASan sees any over-read */
    uint8_t *c = malloc(len ? len : 1);
    memcpy(c, buf, len);
    if (st_open_memory(c, len, "prefix", &f, &e) == TS_OK) fail_msg("prefix of %zu bytes accepted", len);
    assert_null(f);
    free(c);
  }
  int accepted = 0;
  uint8_t *c = malloc(n);
  for (size_t i = 0; i < data_start; i++) {
    static const uint8_t subs[] = {0x00, '"', '}', '9', 0xff, '-', ' '};
    for (size_t s = 0; s < sizeof subs; s++) {
      memcpy(c, buf, n);
      c[i] = subs[s];
      if (st_open_memory(c, n, "flip", &f, &e) == TS_OK) {
        check_in_bounds(f);
        float tmp[64];
        for (int k = 0; k < f->n_tensors; k++)
          if (f->tensors[k].numel <= 64) st_read_f32(f, &f->tensors[k], tmp, f->tensors[k].numel, NULL);
        st_close(f);
        accepted++;
      } else {
        assert_null(f);
        assert_true(e.msg[0] != 0);
      }
    }
  }
  assert_true(accepted > 0); /* e.g. a changed letter in a name: still a valid file */
  free(c);
  free(buf);
}

/* BF16/F16 data at odd addresses (allowed by the format) converts like aligned data. */
static void test_unaligned(void **state) {
  (void)state;
  const char *hdr = "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                    "\"h\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[1,7]},"
                    "\"g\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[7,9]},"
                    "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[9,13]},"
                    "\"z\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[13,13]}}";
  size_t hl = strlen(hdr), n = 8 + hl + 13;
  uint8_t *b = malloc(n);
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
  memcpy(b + 8, hdr, hl);
  /* bf16 1.0 = 0x3f80, -2.5 = 0xc020, 3.140625 = 0x4049; f16 -5.0 = 0xc500; f32 0.1 */
  const uint8_t data[13] = {7, 0x80, 0x3f, 0x20, 0xc0, 0x49, 0x40, 0x00, 0xc5,
                            0xcd, 0xcc, 0xcc, 0x3d};
  memcpy(b + 8 + hl, data, 13);
  st_file *f = NULL;
  ts_err e = {0};
  if (st_open_memory(b, n, "unaligned", &f, &e)) fail_msg("%s", e.msg);
  float v[3];
  assert_int_equal(st_read_f32(f, st_find(f, "h"), v, 3, &e), TS_OK);
  assert_true(v[0] == 1.0f && v[1] == -2.5f && v[2] == 3.140625f);
  assert_int_equal(st_read_f32(f, st_find(f, "g"), v, 1, &e), TS_OK);
  assert_true(v[0] == -5.0f);
  assert_int_equal(st_read_f32(f, st_find(f, "f"), v, 1, &e), TS_OK);
  assert_true(v[0] == 0.1f);
  assert_int_equal(st_read_f32(f, st_find(f, "b"), v, 1, &e), TS_EUNSUP);
  /* the verdict depends on the dtype, not on the size (found by the fuzzer) */
  assert_int_equal(st_read_f32(f, st_find(f, "z"), v, 0, &e), TS_EUNSUP);
  /* listing order is data order */
  assert_string_equal(f->tensors[0].name, "b");
  assert_string_equal(f->tensors[3].name, "f");
  st_close(f);
  free(b);
}

/* ---- writer argument checks and I/O errors ---- */

static void test_writer_rejects(void **state) {
  (void)state;
  float x[2] = {1, 2};
  char path[512];
  snprintf(path, sizeof path, "%s/w.safetensors", tmpdir);
  ts_err e = {0};
  struct {
    st_entry es[2];
    int n;
    const char *want;
  } cases[] = {
      {{{"a", DT_F32, 1, {2}, x}, {"a", DT_F32, 1, {2}, x}}, 2, "duplicate tensor name \"a\""},
      {{{"", DT_F32, 1, {2}, x}}, 1, "empty name"},
      {{{"__metadata__", DT_F32, 1, {2}, x}}, 1, "__metadata__"},
      {{{"a", DT_F32, 1, {-2}, x}}, 1, "negative dimension"},
      {{{"a", DT_F32, 1, {2}, NULL}}, 1, "NULL data"},
      {{{"a", DT_COUNT, 1, {2}, x}}, 1, "cannot be written"},
      {{{"a", DT_F32, ST_MAX_DIMS + 1, {2}, x}}, 1, "dimensions"},
      {{{"a\xff", DT_F32, 1, {2}, x}}, 1, "UTF-8"},
      {{{"a", DT_F32, 3, {INT64_MAX, INT64_MAX, 2}, x}}, 1, "overflows"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = st_write(path, cases[i].es, cases[i].n, NULL, 0, &e);
    assert_int_equal(rc, TS_EARG);
    if (!strstr(e.msg, cases[i].want)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].want);
  }
  st_entry ok = {"a", DT_F32, 1, {2}, x};
  st_kv dup[] = {{"k", "1"}, {"k", "2"}};
  assert_int_equal(st_write(path, &ok, 1, dup, 2, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "duplicate metadata key"));
  assert_int_equal(count_dir_entries(tmpdir), 0); /* nothing written by a rejected call */

  char bad[600];
  snprintf(bad, sizeof bad, "%s/no/such/dir/x.safetensors", tmpdir);
  assert_int_equal(st_write(bad, &ok, 1, NULL, 0, &e), TS_EIO);
  assert_non_null(strstr(e.msg, "no/such/dir"));

  /* an empty file list is a valid file: header "{}" padded, no data */
  assert_int_equal(st_write(path, NULL, 0, NULL, 0, &e), TS_OK);
  st_file *f = NULL;
  assert_int_equal(st_open(path, &f, &e), TS_OK);
  assert_int_equal(f->n_tensors, 0);
  assert_int_equal(f->size, 16);
  st_close(f);
  unlink(path);
}

static void test_open_errors(void **state) {
  (void)state;
  st_file *f = (st_file *)1;
  ts_err e = {0};
  assert_int_equal(st_open("/nonexistent/x.safetensors", &f, &e), TS_EIO);
  assert_null(f);
  assert_non_null(strstr(e.msg, "/nonexistent/x.safetensors"));
  assert_int_equal(st_open(tmpdir, &f, &e), TS_EIO);
  assert_non_null(strstr(e.msg, "not a regular file"));
  /* errors with a NULL ts_err are still reported by the return code */
  assert_int_equal(st_open_memory("12345678", 8, NULL, &f, NULL), TS_EFORMAT);
  /* dtype names round-trip */
  for (int d = 0; d < ST_DTYPE_COUNT; d++) {
    st_dtype back;
    assert_int_equal(st_dtype_parse(st_dtype_name((st_dtype)d), &back), 0);
    assert_int_equal(back, d);
    assert_true(st_dtype_bits((st_dtype)d) > 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_lookup_many),
      cmocka_unit_test(test_reference_fixture),
      cmocka_unit_test(test_bad_fixtures),
      cmocka_unit_test(test_truncated_and_corrupted),
      cmocka_unit_test(test_unaligned),
      cmocka_unit_test(test_writer_rejects),
      cmocka_unit_test(test_open_errors),
  };
  return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
