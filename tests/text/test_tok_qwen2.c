/* test_tok_qwen2.c — the tokenizer against the real Qwen2 vocabulary: llama.cpp and
 * transformers golden cases, random text vs Hugging Face `tokenizers` (fixture), round trips
 * on a philox-generated random-Unicode corpus, added tokens, <|audio|>, streaming decode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "base/philox.h"
#include "text/tokenizer.h"

#define QDIR TS_SHARED "/data/qwen2-tokenizer"

static tok *T;

static int setup(void **state) {
  ts_err e = {0};
  int rc = tok_load_files(QDIR "/vocab.json", QDIR "/merges.txt", QDIR "/added_tokens.json", &T, &e);
  if (rc) fprintf(stderr, "load: %s\n", e.msg);
  return rc;
}

static int teardown(void **state) {
  tok_free(T);
  return 0;
}

static void encode_ok(const char *s, size_t n, int flags, tok_ids *ids) {
  ts_err e = {0};
  ids->n = 0;
  int rc = tok_encode(T, s, n, flags, ids, &e);
  if (rc) fprintf(stderr, "encode: %s\n", e.msg);
  assert_int_equal(rc, 0);
}

static void assert_ids(const tok_ids *got, const int32_t *want, size_t n, const char *what) {
  int same = got->n == n && (n == 0 || memcmp(got->v, want, n * sizeof *want) == 0);
  if (!same) {
    fprintf(stderr, "mismatch for %s\n got:", what);
    for (size_t i = 0; i < got->n; i++) fprintf(stderr, " %d", got->v[i]);
    fprintf(stderr, "\nwant:");
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", want[i]);
    fprintf(stderr, "\n");
  }
  assert_true(same);
}

static void test_sizes(void **state) {
  assert_int_equal(tok_n_merges(T), 151387);
  assert_int_equal(tok_find(T, "<|endoftext|>"), 151643);
  assert_int_equal(tok_find(T, "<|file_sep|>"), 151664);
  /* <|audio|> takes the next free id */
  assert_int_equal(tok_audio_id(T), 151665);
  assert_int_equal(tok_n_ids(T), 151666);
  assert_true(tok_is_special(T, 151644));
  assert_false(tok_is_special(T, 151657)); /* <tool_call> is added but not special */
  assert_true(tok_is_special(T, tok_audio_id(T)));
  /* our reasoning tags are not tokens */
  assert_int_equal(tok_find(T, "<think>"), -1);
  assert_int_equal(tok_find(T, "</answer>"), -1);
}

static void test_golden_llamacpp(void **state) {
  char *inp, *outp;
  size_t ni, no;
  ts_err e = {0};
  assert_int_equal(afile_read(QDIR "/golden-llamacpp.inp", &inp, &ni, &e), 0);
  assert_int_equal(afile_read(QDIR "/golden-llamacpp.out", &outp, &no, &e), 0);
  const char *sep = "\n__ggml_vocab_test__\n";
  char *p = inp, *q = outp;
  int cases = 0;
  tok_ids ids = {0};
  int32_t want[1024];
  for (;;) {
    char *end = strstr(p, sep);
    if (!end) break;
    char *nl = strchr(q, '\n');
    assert_non_null(nl);
    *nl = 0;
    size_t nw = 0;
    for (char *tk = strtok(q, " "); tk; tk = strtok(NULL, " ")) want[nw++] = atoi(tk);
    encode_ok(p, (size_t)(end - p), 0, &ids);
    char what[64];
    snprintf(what, sizeof what, "llama.cpp case %d", cases);
    assert_ids(&ids, want, nw, what);
    /* and back */
    char *txt;
    assert_int_equal(tok_decode(T, ids.v, ids.n, 0, &txt, NULL, &e), 0);
    assert_memory_equal(txt, p, (size_t)(end - p));
    free(txt);
    cases++;
    p = end + strlen(sep);
    q = nl + 1;
  }
  assert_int_equal(cases, 46);
  tok_ids_free(&ids);
  free(inp);
  free(outp);
}

/* Fixture with {"text", "ids"} cases; returns the number checked. */
static int check_cases(const cJSON *arr) {
  tok_ids ids = {0};
  int n = 0;
  int32_t *want = NULL;
  for (const cJSON *c = arr->child; c; c = c->next, n++) {
    const cJSON *text = cJSON_GetObjectItem(c, "text"), *wid = cJSON_GetObjectItem(c, "ids");
    int nw = cJSON_GetArraySize(wid);
    want = realloc(want, (size_t)(nw + 1) * sizeof *want);
    int k = 0;
    for (const cJSON *x = wid->child; x; x = x->next) want[k++] = (int32_t)x->valuedouble;
    encode_ok(text->valuestring, strlen(text->valuestring), 0, &ids);
    char what[64];
    snprintf(what, sizeof what, "case %d", n);
    assert_ids(&ids, want, (size_t)nw, what);
    /* the uncached path gives the same ids */
    tok_ids ids2 = {0};
    ts_err e = {0};
    assert_int_equal(tok_encode(T, text->valuestring, strlen(text->valuestring), TOK_ENC_NO_CACHE, &ids2, &e), 0);
    assert_ids(&ids2, want, (size_t)nw, what);
    tok_ids_free(&ids2);
  }
  free(want);
  tok_ids_free(&ids);
  return n;
}

static void test_golden_transformers(void **state) {
  cJSON *j;
  ts_err e = {0};
  assert_int_equal(jsonx_load(QDIR "/golden-transformers.json", &j, &e), 0);
  assert_int_equal(check_cases(j), 3);
  cJSON_Delete(j);
}

static void test_random_vs_hf(void **state) {
  cJSON *j;
  ts_err e = {0};
  assert_int_equal(jsonx_load(TS_FIXTURES "/text/qwen2_random_hf.json", &j, &e), 0);
  assert_true(check_cases(cJSON_GetObjectItem(j, "cases")) >= 400);
  cJSON_Delete(j);
}

/* A random string of scalar values drawn from mixed ranges. */
static size_t rand_utf8(philox_rng *r, char *out, size_t max_cp) {
  size_t n = 0, k = 1 + philox_below(r, max_cp);
  for (size_t i = 0; i < k; i++) {
    uint32_t cp;
    switch (philox_below(r, 8)) {
      case 0: cp = (uint32_t)philox_below(r, 0x110000); break;
      case 1: cp = (uint32_t)philox_below(r, 0x3000); break;
      case 2: cp = (uint32_t)(0x300 + philox_below(r, 0x70)); break; /* combining marks */
      case 3: cp = (uint32_t)(0x1F300 + philox_below(r, 0x300)); break; /* emoji */
      case 4: cp = (uint32_t)(0x4E00 + philox_below(r, 0x5200)); break; /* CJK */
      case 5: cp = " \n\t\r"[philox_below(r, 4)]; break;
      case 6: cp = (uint32_t)(0xAC00 + philox_below(r, 0x2BA4)); break; /* Hangul (NFC composes jamo) */
      default: cp = (uint32_t)(0x20 + philox_below(r, 0x5F));
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
    n += (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)out + n);
  }
  out[n] = 0;
  return n;
}

static void test_roundtrip_random_unicode(void **state) {
  philox_rng r;
  philox_init(&r, 1234, philox_stream_id(7, 0, 0));
  char *buf = malloc(4 * 256 + 1);
  tok_ids ids = {0};
  size_t total = 0;
  for (int it = 0; it < 3000; it++) {
    size_t n = rand_utf8(&r, buf, 256);
    total += n;
    encode_ok(buf, n, 0, &ids);
    char *txt;
    size_t tl;
    ts_err e = {0};
    assert_int_equal(tok_decode(T, ids.v, ids.n, 0, &txt, &tl, &e), 0);
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t nl = utf8proc_map((const utf8proc_uint8_t *)buf, (utf8proc_ssize_t)n, &nfc,
                                       UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    assert_true(nl >= 0);
    if ((size_t)nl != tl || memcmp(nfc, txt, tl) != 0) fprintf(stderr, "round trip failed at item %d\n", it);
    assert_int_equal((size_t)nl, tl);
    assert_memory_equal(nfc, txt, tl);
    free(nfc);
    free(txt);
  }
  assert_true(total > 500000); /* about 0.5 MB of random Unicode */
  free(buf);
  tok_ids_free(&ids);
}

static void test_added_tokens(void **state) {
  tok_ids ids = {0};
  const char *s = "<|im_start|>user\nhi<|im_end|><|audio|><think>x</think>";
  encode_ok(s, strlen(s), 0, &ids);
  assert_int_equal(ids.v[0], 151644);
  assert_int_equal(ids.v[1], 872);
  int n_audio = 0, n_end = 0;
  for (size_t i = 0; i < ids.n; i++) {
    n_audio += ids.v[i] == tok_audio_id(T);
    n_end += ids.v[i] == 151645;
    assert_true(ids.v[i] < 151643 || ids.v[i] == 151644 || ids.v[i] == 151645 ||
                ids.v[i] == tok_audio_id(T));
  }
  assert_int_equal(n_audio, 1);
  assert_int_equal(n_end, 1);
  char *txt;
  ts_err e = {0};
  assert_int_equal(tok_decode(T, ids.v, ids.n, 0, &txt, NULL, &e), 0);
  assert_string_equal(txt, s);
  free(txt);
  assert_int_equal(tok_decode(T, ids.v, ids.n, TOK_DEC_SKIP_SPECIAL, &txt, NULL, &e), 0);
  assert_string_equal(txt, "user\nhi<think>x</think>");
  free(txt);
  /* split_special: the markup is plain text */
  encode_ok(s, strlen(s), TOK_ENC_SPLIT_SPECIAL, &ids);
  for (size_t i = 0; i < ids.n; i++) assert_true(ids.v[i] < 151643);
  /* longest match first: a token that is a prefix of another would lose */
  int32_t a, b;
  assert_int_equal(tok_add_token(T, "<|x|>", 1, &a, &e), 0);
  assert_int_equal(tok_add_token(T, "<|x|>y", 1, &b, &e), 0);
  assert_int_equal(b, a + 1);
  encode_ok("<|x|>y<|x|>", 11, 0, &ids);
  assert_int_equal(ids.n, 2);
  assert_int_equal(ids.v[0], b);
  assert_int_equal(ids.v[1], a);
  /* adding again keeps the id */
  int32_t c;
  assert_int_equal(tok_add_token(T, TOK_AUDIO, 1, &c, &e), 0);
  assert_int_equal(c, tok_audio_id(T));
  tok_ids_free(&ids);
}

static void test_stream_decode(void **state) {
  philox_rng r;
  philox_init(&r, 99, 1);
  ts_err e = {0};
  for (int it = 0; it < 300; it++) {
    int32_t ids[40];
    size_t n = 1 + philox_below(&r, 40);
    for (size_t i = 0; i < n; i++) {
      /* byte tokens (broken UTF-8 pieces), specials and ordinary tokens */
      uint64_t k = philox_below(&r, 4);
      ids[i] = k == 0 ? (int32_t)philox_below(&r, 256)
             : k == 1 ? (int32_t)(151643 + philox_below(&r, 23))
                      : (int32_t)philox_below(&r, 151643);
    }
    for (int flags = 0; flags < 2; flags++) {
      char *want;
      size_t wl;
      assert_int_equal(tok_decode(T, ids, n, flags, &want, &wl, &e), 0);
      tok_stream st;
      tok_stream_init(&st, T, flags);
      char got[8192];
      size_t gl = 0;
      for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t l;
        assert_int_equal(tok_stream_push(&st, ids[i], &p, &l, &e), 0);
        /* every piece handed out is valid UTF-8 on its own */
        assert_true(utf8proc_decompose((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)l, NULL, 0, 0) >= 0);
        memcpy(got + gl, p, l);
        gl += l;
      }
      const char *p;
      size_t l;
      assert_int_equal(tok_stream_finish(&st, &p, &l, &e), 0);
      memcpy(got + gl, p, l);
      gl += l;
      assert_int_equal(gl, wl);
      assert_memory_equal(got, want, wl);
      tok_stream_free(&st);
      free(want);
    }
  }
  /* an emoji split over byte tokens comes out whole, once complete */
  tok_ids ids = {0};
  encode_ok(" \xF0\x9F\xA6\x99", 5, 0, &ids); /* " 🦙": 11162 99 247, the emoji cut in three */
  assert_int_equal(ids.n, 3);
  tok_stream st;
  tok_stream_init(&st, T, 0);
  const char *p;
  size_t l;
  assert_int_equal(tok_stream_push(&st, ids.v[0], &p, &l, &e), 0);
  assert_string_equal(p, " ");
  assert_int_equal(tok_stream_push(&st, ids.v[1], &p, &l, &e), 0);
  assert_int_equal(l, 0);
  assert_int_equal(tok_stream_push(&st, ids.v[2], &p, &l, &e), 0);
  assert_string_equal(p, "\xF0\x9F\xA6\x99");
  /* a sequence that never completes becomes U+FFFD at the end */
  assert_int_equal(tok_stream_push(&st, ids.v[0], &p, &l, &e), 0);
  assert_string_equal(p, " ");
  assert_int_equal(tok_stream_finish(&st, &p, &l, &e), 0);
  assert_string_equal(p, "\xEF\xBF\xBD");
  tok_stream_free(&st);
  tok_ids_free(&ids);
}

static void test_errors(void **state) {
  tok_ids ids = {0};
  ts_err e = {0};
  assert_int_equal(tok_encode(T, "ab\xC3(", 4, 0, &ids, &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "byte 2"));
  int32_t bad = 999999;
  char *txt;
  assert_int_equal(tok_decode(T, &bad, 1, 0, &txt, NULL, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "999999"));
  /* HF-style: unknown ids (here an unused embedding row) are dropped */
  int32_t some[3] = {9707, 151700, 1879};
  assert_int_equal(tok_decode(T, some, 3, TOK_DEC_SKIP_UNKNOWN, &txt, NULL, &e), 0);
  assert_string_equal(txt, "Hello world");
  free(txt);
  /* random bytes: either a clean error (invalid UTF-8) or a round trip */
  philox_rng r;
  philox_init(&r, 77, 3);
  int bad_utf8 = 0;
  for (int it = 0; it < 2000; it++) {
    char buf[32];
    size_t n = philox_below(&r, sizeof buf);
    for (size_t i = 0; i < n; i++) buf[i] = (char)philox_u32(&r);
    ids.n = 0;
    int rc = tok_encode(T, buf, n, 0, &ids, &e);
    if (rc) {
      assert_int_equal(rc, TS_EFORMAT);
      assert_non_null(strstr(e.msg, "invalid UTF-8"));
      bad_utf8++;
      continue;
    }
    size_t tl;
    assert_int_equal(tok_decode(T, ids.v, ids.n, 0, &txt, &tl, &e), 0);
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t nl = utf8proc_map((const utf8proc_uint8_t *)buf, (utf8proc_ssize_t)n, &nfc,
                                       UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    assert_int_equal((size_t)nl, tl);
    assert_memory_equal(nfc, txt, tl);
    free(nfc);
    free(txt);
  }
  assert_true(bad_utf8 > 1000 && bad_utf8 < 2000);
  tok *t2;
  assert_int_equal(tok_load_files(QDIR "/nonexistent.json", QDIR "/merges.txt", NULL, &t2, &e), TS_EIO);
  assert_non_null(strstr(e.msg, "nonexistent.json"));
  tok_ids_free(&ids);
}

static void test_long_pretoken(void **state) {
  /* one 200,000-letter word: the heap merge loop stays fast (no quadratic rescans) */
  size_t n = 200000;
  char *s = malloc(n + 1);
  philox_rng r;
  philox_init(&r, 5, 5);
  for (size_t i = 0; i < n; i++) s[i] = (char)('a' + philox_below(&r, 26));
  s[n] = 0;
  tok_ids ids = {0};
  clock_t c0 = clock();
  encode_ok(s, n, 0, &ids);
  double sec = (double)(clock() - c0) / CLOCKS_PER_SEC;
  assert_true(ids.n > 1000 && ids.n < n);
  assert_true(sec < 5.0);
  char *txt;
  ts_err e = {0};
  assert_int_equal(tok_decode(T, ids.v, ids.n, 0, &txt, NULL, &e), 0);
  assert_string_equal(txt, s);
  free(txt);
  /* long runs for the regex: spaces then a letter, newlines, punctuation */
  const char fill[] = {' ', '\n', '!', '\t'};
  for (int k = 0; k < 4; k++) {
    memset(s, fill[k], n);
    s[n - 1] = 'x';
    encode_ok(s, n, 0, &ids);
    assert_int_equal(tok_decode(T, ids.v, ids.n, 0, &txt, NULL, &e), 0);
    assert_string_equal(txt, s);
    free(txt);
  }
  free(s);
  tok_ids_free(&ids);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizes),
      cmocka_unit_test(test_golden_llamacpp),
      cmocka_unit_test(test_golden_transformers),
      cmocka_unit_test(test_random_vs_hf),
      cmocka_unit_test(test_roundtrip_random_unicode),
      cmocka_unit_test(test_stream_decode),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_long_pretoken),
      cmocka_unit_test(test_added_tokens),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
