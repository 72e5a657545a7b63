/* test_tok_formats.c — every tokenizer file form the loader reads (tokenizer.json with pair or
 * string merges, vocab.json + merges.txt + added_tokens.json, GPT-2 ByteLevel regex with
 * ignore_merges) gives the ids Hugging Face `tokenizers` gives (tools/gen_text_format_fixtures.py);
 * malformed files fail with messages that name the file and the problem; concurrent encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "text/tokenizer.h"

#define FX TS_FIXTURES "/text/"

static void check_form(tok *t, const char *key) {
  cJSON *j;
  ts_err e = {0};
  assert_int_equal(jsonx_load(FX "tiny_cases.json", &j, &e), 0);
  int n = 0;
  tok_ids ids = {0};
  for (const cJSON *c = cJSON_GetObjectItem(j, "cases")->child; c; c = c->next, n++) {
    const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
    const cJSON *want = cJSON_GetObjectItem(c, key);
    ids.n = 0;
    assert_int_equal(tok_encode(t, text, strlen(text), 0, &ids, &e), 0);
    if (ids.n != (size_t)cJSON_GetArraySize(want)) fprintf(stderr, "%s case %d: %zu ids, want %d\n", key, n, ids.n, cJSON_GetArraySize(want));
    assert_int_equal(ids.n, (size_t)cJSON_GetArraySize(want));
    size_t i = 0;
    for (const cJSON *x = want->child; x; x = x->next, i++) assert_int_equal(ids.v[i], x->valueint);
  }
  assert_int_equal(n, 5);
  tok_ids_free(&ids);
  cJSON_Delete(j);
}

static void test_forms(void **state) {
  const char *paths[] = {FX "tiny_pairs.json", FX "tiny_strings.json", FX "tiny_vm"};
  for (int k = 0; k < 3; k++) {
    tok *t;
    ts_err e = {0};
    int rc = tok_load(paths[k], &t, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_true(tok_n_merges(t) > 100);
    assert_true(tok_is_added(t, tok_find(t, "<tool>")));
    check_form(t, "ids");
    tok_free(t);
  }
  tok *g;
  ts_err e = {0};
  assert_int_equal(tok_load_json(FX "tiny_gpt2.json", &g, &e), 0);
  check_form(g, "gpt2_ids");
  tok_free(g);
}

/* Writes text to a file in the build dir and loads it as tokenizer.json. */
static int load_text(const char *name, const char *json, ts_err *e) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", TS_BUILD_DIR, name);
  assert_int_equal(afile_write(path, json, strlen(json), e), 0);
  tok *t = NULL;
  int rc = tok_load_json(path, &t, e);
  tok_free(t);
  return rc;
}

static void test_errors(void **state) {
  ts_err e = {0};
  /* a merge whose right token is not in the vocabulary */
  assert_int_equal(load_text("bad1.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},"
                                           "\"merges\":[\"a b\",\"ab c\"]}}", &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "bad1.json"));
  assert_non_null(strstr(e.msg, "merge 1"));
  assert_non_null(strstr(e.msg, "right"));
  /* an unsupported model */
  assert_int_equal(load_text("bad2.json", "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", &e), TS_EUNSUP);
  assert_non_null(strstr(e.msg, "WordPiece"));
  /* a vocabulary entry outside the byte-level alphabet */
  assert_int_equal(load_text("bad3.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"\xE2\x82\xAC\":0},\"merges\":[]}}", &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "U+20AC"));
  /* broken JSON */
  assert_int_equal(load_text("bad4.json", "{\"model\":", &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "bad4.json"));
  /* merge that is not two tokens */
  assert_int_equal(load_text("bad5.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a\"]}}", &e), TS_EFORMAT);
  assert_non_null(strstr(e.msg, "merge 0"));
  /* a pre-tokenizer regex PCRE2 rejects: the message names the file, not only the regex */
  assert_int_equal(load_text("bad6.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                                          "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(((\"}}}", &e),
                   TS_EFORMAT);
  assert_non_null(strstr(e.msg, "bad6.json"));
  assert_non_null(strstr(e.msg, "pre-tokenizer regex"));
  /* a Sequence whose list is not a list (was taken as no pre-tokenizer at all) */
  assert_int_equal(load_text("bad7.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                                          "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":5}}", &e),
                   TS_EFORMAT);
  assert_non_null(strstr(e.msg, "bad7.json"));
  assert_non_null(strstr(e.msg, "\"pretokenizers\" must be a list"));
  /* a minimal valid one: no merges, no pre-tokenizer */
  assert_int_equal(load_text("ok.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},"
                                        "\"merges\":[[\"a\",\"b\"]]}}", &e), 0);
  assert_int_equal(tok_load(TS_FIXTURES "/text/no-such-dir", &(tok *){NULL}, &e), TS_EIO);
}

typedef struct job {
  tok *t;
  const cJSON *cases;
  int failures;
} job;

static void *worker(void *arg) {
  job *j = arg;
  tok_ids ids = {0};
  ts_err e = {0};
  for (int round = 0; round < 20; round++)
    for (const cJSON *c = j->cases->child; c; c = c->next) {
      const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
      const cJSON *want = cJSON_GetObjectItem(c, "ids");
      ids.n = 0;
      if (tok_encode(j->t, text, strlen(text), 0, &ids, &e) || ids.n != (size_t)cJSON_GetArraySize(want)) {
        j->failures++;
        continue;
      }
      size_t i = 0;
      for (const cJSON *x = want->child; x; x = x->next, i++) j->failures += ids.v[i] != x->valueint;
    }
  tok_ids_free(&ids);
  return NULL;
}

static void test_threads(void **state) {
  tok *t;
  ts_err e = {0};
  assert_int_equal(tok_load(FX "tiny_pairs.json", &t, &e), 0);
  cJSON *j;
  assert_int_equal(jsonx_load(FX "tiny_cases.json", &j, &e), 0);
  job jobs[4];
  pthread_t th[4];
  for (int k = 0; k < 4; k++) {
    jobs[k] = (job){t, cJSON_GetObjectItem(j, "cases"), 0};
    assert_int_equal(pthread_create(&th[k], NULL, worker, &jobs[k]), 0);
  }
  for (int k = 0; k < 4; k++) {
    pthread_join(th[k], NULL);
    assert_int_equal(jobs[k].failures, 0);
  }
  cJSON_Delete(j);
  tok_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forms),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
