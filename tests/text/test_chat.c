/* test_chat.c — the Qwen2.5 chat template against a fixture rendered with the template in
 * jinja2 and encoded with Hugging Face `tokenizers` (tools/gen_text_tok_fixtures.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonx.h"
#include "text/chat.h"
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

static const char *str_or_null(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItem(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_chat_fixture(void **state) {
  cJSON *j;
  ts_err e = {0};
  assert_int_equal(jsonx_load(TS_FIXTURES "/text/qwen2_chat_hf.json", &j, &e), 0);
  int n = 0;
  for (const cJSON *c = cJSON_GetObjectItem(j, "chats")->child; c; c = c->next, n++) {
    chat_cfg cfg = {str_or_null(c, "system"), str_or_null(c, "instruction"),
                    cJSON_GetObjectItem(c, "audio")->valueint};
    const char *resp = str_or_null(c, "response");
    chat_prompt p;
    assert_int_equal(chat_build(T, &cfg, resp, &p, &e), 0);
    assert_string_equal(p.text, cJSON_GetObjectItem(c, "text")->valuestring);
    const cJSON *ids = cJSON_GetObjectItem(c, "ids");
    assert_int_equal(p.ids.n, (size_t)cJSON_GetArraySize(ids));
    size_t i = 0;
    int n_audio = 0;
    for (const cJSON *x = ids->child; x; x = x->next, i++) {
      assert_int_equal(p.ids.v[i], x->valueint);
      n_audio += p.ids.v[i] == tok_audio_id(T);
    }
    assert_int_equal(n_audio, cfg.n_audio);
    /* the response starts right after the prompt ids HF gives for the prompt alone */
    size_t np = (size_t)cJSON_GetObjectItem(c, "prompt_ids")->valueint;
    assert_int_equal(p.resp_start, np);
    if (resp) {
      /* the loss span decodes to the response and its <|im_end|> */
      char *txt;
      assert_int_equal(tok_decode(T, p.ids.v + p.resp_start, p.resp_end - p.resp_start, 0, &txt, NULL, &e), 0);
      char want[1024];
      snprintf(want, sizeof want, "%s<|im_end|>", resp);
      assert_string_equal(txt, want);
      free(txt);
      assert_int_equal(p.ids.v[p.resp_end - 1], tok_find(T, "<|im_end|>"));
      assert_int_equal(p.resp_end + 1, p.ids.n); /* then only the final "\n" */
      uint8_t mask[1024];
      chat_loss_mask(&p, mask);
      size_t on = 0;
      for (size_t k = 0; k < p.ids.n; k++) on += mask[k];
      assert_int_equal(on, p.resp_end - p.resp_start);
      assert_int_equal(mask[p.resp_start], 1);
      assert_int_equal(mask[p.resp_start - 1], 0);
    } else {
      assert_int_equal(p.resp_start, p.ids.n);
    }
    assert_memory_equal(p.text + p.resp_text_off - 22, "<|im_start|>assistant\n", 22);
    chat_prompt_free(&p);
  }
  assert_int_equal(n, 4);
  cJSON_Delete(j);
}

static void test_render(void **state) {
  chat_msg m[] = {{"user", "hi"}, {"assistant", "hello"}, {"user", "again"}};
  char *s;
  ts_err e = {0};
  assert_int_equal(chat_render(m, 3, 1, &s, &e), 0);
  assert_string_equal(s, "<|im_start|>system\n" CHAT_QWEN25_SYSTEM "<|im_end|>\n"
                         "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n"
                         "<|im_start|>user\nagain<|im_end|>\n<|im_start|>assistant\n");
  free(s);
  chat_msg bad[] = {{"robot", "x"}};
  assert_int_equal(chat_render(bad, 1, 0, &s, &e), TS_EARG);
  assert_non_null(strstr(e.msg, "robot"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chat_fixture),
      cmocka_unit_test(test_render),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
