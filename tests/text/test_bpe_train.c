/* test_bpe_train.c — the BPE trainer: its merges equal a naive recount-every-step trainer's,
 * its output is the committed tokenizer.json, and that file encodes test texts to the same ids
 * in our tokenizer as in Hugging Face `tokenizers` (tools/gen_text_bpe_fixture.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "text/bpe_train.h"
#include "text/bytemap.h"
#include "text/pretok.h"
#include "text/tokenizer.h"

#define CORPUS TS_FIXTURES "/text/bpe_corpus.txt"
#define TRAINED TS_FIXTURES "/text/bpe_trained.json"
#define N_MERGES 400

static void train(const char *out, int n_merges, ts_err *e) {
  bpetrain_cfg cfg = {n_merges, 2, NULL};
  bpetrain *b;
  assert_int_equal(bpetrain_new(&cfg, &b, e), 0);
  assert_int_equal(bpetrain_feed_file(b, CORPUS, e), 0);
  assert_int_equal(bpetrain_run(b, e), 0);
  assert_int_equal(bpetrain_n_merges(b), n_merges);
  assert_int_equal(bpetrain_save(b, out, e), 0);
  bpetrain_free(b);
}

/* The trainer's output today is the committed file (which HF checked). */
static void test_output_matches_committed(void **state) {
  ts_err e = {0};
  const char *out = TS_BUILD_DIR "/text_bpe_trained.json";
  train(out, N_MERGES, &e);
  char *a, *b;
  size_t na, nb;
  assert_int_equal(afile_read(out, &a, &na, &e), 0);
  assert_int_equal(afile_read(TRAINED, &b, &nb, &e), 0);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  free(a);
  free(b);
}

/* ---- naive reference trainer: recount every pair at every step ---- */
typedef struct nv_word {
  int32_t *sym;
  int n;
  int64_t count;
} nv_word;

typedef struct nv_pair {
  uint64_t key;
  int64_t count;
} nv_pair;

static int nv_cmp(const void *x, const void *y) {
  uint64_t a = ((const nv_pair *)x)->key, b = ((const nv_pair *)y)->key;
  return a < b ? -1 : a > b;
}

#define NAIVE_STEPS 120

static void test_against_naive(void **state) {
  ts_err e = {0};
  tok *t;
  assert_int_equal(tok_load_json(TRAINED, &t, &e), 0);
  char *text;
  size_t n;
  assert_int_equal(afile_read(CORPUS, &text, &n, &e), 0);
  /* the corpus has no character that NFC changes; the special tokens split it into segments */
  const char *sp[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio|>"};
  /* words: distinct pre-tokens (split at the special tokens) with their counts */
  pretok pt;
  assert_int_equal(pretok_init(&pt, PRETOK_QWEN2_PATTERN, &e), 0);
  nv_word *w = calloc(8192, sizeof *w);
  int nw = 0;
  size_t seg = 0;
  for (size_t i = 0; i <= n; i++) {
    size_t l = 0;
    for (int k = 0; k < 4 && i < n; k++)
      if (!strncmp(text + i, sp[k], strlen(sp[k]))) l = strlen(sp[k]);
    if (i < n && !l) continue;
    pretok_iter it;
    assert_int_equal(pretok_iter_init(&it, &pt, text + seg, i - seg, &e), 0);
    for (;;) {
      size_t off, len;
      assert_int_equal(pretok_next(&it, &off, &len, &e), 0);
      if (!len) break;
      const char *p = text + seg + off;
      int32_t sym[1024];
      assert_true(len <= 1024);
      for (size_t q = 0; q < len; q++) {
        char c[2] = {p[q], 0};
        sym[q] = tok_find(t, c); /* single bytes: the vocabulary's byte tokens */
        assert_true(sym[q] >= 0 && sym[q] < 256);
      }
      int found = -1;
      for (int x = 0; x < nw && found < 0; x++)
        if ((size_t)w[x].n == len && !memcmp(w[x].sym, sym, len * sizeof *sym)) found = x;
      if (found >= 0) {
        w[found].count++;
        continue;
      }
      assert_true(nw < 8192);
      w[nw].sym = malloc(len * sizeof(int32_t));
      memcpy(w[nw].sym, sym, len * sizeof *sym);
      w[nw].n = (int)len;
      w[nw++].count = 1;
    }
    pretok_iter_free(&it);
    i += l ? l - 1 : 0;
    seg = i + 1;
  }
  assert_true(nw > 500);
  cJSON *j;
  assert_int_equal(jsonx_load(TRAINED, &j, &e), 0);
  const cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "model"), "merges")->child;
  nv_pair *pairs = malloc(200000 * sizeof *pairs);
  txbuf ra = {0}, rb = {0};
  for (int step = 0; step < NAIVE_STEPS; step++, m = m->next) {
    size_t np = 0;
    for (int x = 0; x < nw; x++)
      for (int q = 0; q + 1 < w[x].n; q++) {
        /* every adjacent position counts (so "a a a" gives (a, a) twice) */
        pairs[np].key = ((uint64_t)(uint32_t)w[x].sym[q] << 32) | (uint32_t)w[x].sym[q + 1];
        pairs[np++].count = w[x].count;
      }
    qsort(pairs, np, sizeof *pairs, nv_cmp);
    uint64_t best_key = 0;
    int64_t best = 0;
    for (size_t i = 0; i < np;) {
      size_t k = i;
      int64_t c = 0;
      while (k < np && pairs[k].key == pairs[i].key) c += pairs[k++].count;
      if (c > best) { /* ties: the first (smallest) key wins */
        best = c;
        best_key = pairs[i].key;
      }
      i = k;
    }
    int32_t bl = (int32_t)(best_key >> 32), br = (int32_t)(uint32_t)best_key;
    /* the trainer's merge, as ids */
    ra.n = rb.n = 0;
    const char *a = cJSON_GetArrayItem(m, 0)->valuestring, *b = cJSON_GetArrayItem(m, 1)->valuestring;
    assert_int_equal(bytemap_decode(a, strlen(a), &ra, &e), 0);
    assert_int_equal(bytemap_decode(b, strlen(b), &rb, &e), 0);
    char cat[256];
    snprintf(cat, sizeof cat, "%s%s", ra.p, rb.p);
    int32_t rl = tok_find(t, ra.p), rr = tok_find(t, rb.p), mid = tok_find(t, cat);
    if (rl != bl || rr != br)
      fprintf(stderr, "merge %d: trainer (%d,%d) naive (%d,%d) count %lld\n", step, rl, rr, bl, br,
              (long long)best);
    assert_int_equal(rl, bl);
    assert_int_equal(rr, br);
    assert_true(mid >= 256);
    for (int x = 0; x < nw; x++) {
      int k = 0;
      for (int q = 0; q < w[x].n; q++) {
        if (q + 1 < w[x].n && w[x].sym[q] == bl && w[x].sym[q + 1] == br) {
          w[x].sym[k++] = mid;
          q++;
        } else {
          w[x].sym[k++] = w[x].sym[q];
        }
      }
      w[x].n = k;
    }
  }
  txbuf_free(&ra);
  txbuf_free(&rb);
  free(pairs);
  for (int x = 0; x < nw; x++) free(w[x].sym);
  free(w);
  pretok_free(&pt);
  free(text);
  cJSON_Delete(j);
  tok_free(t);
}

static void test_hf_ids(void **state) {
  ts_err e = {0};
  tok *t;
  assert_int_equal(tok_load_json(TRAINED, &t, &e), 0);
  assert_int_equal(tok_n_merges(t), N_MERGES);
  assert_int_equal(tok_find(t, "<|endoftext|>"), 256 + N_MERGES);
  assert_int_equal(tok_audio_id(t), 256 + N_MERGES + 3);
  assert_int_equal(tok_n_ids(t), 256 + N_MERGES + 4);
  cJSON *j;
  assert_int_equal(jsonx_load(TS_FIXTURES "/text/bpe_hf_ids.json", &j, &e), 0);
  int n = 0;
  tok_ids ids = {0};
  for (const cJSON *c = cJSON_GetObjectItem(j, "cases")->child; c; c = c->next, n++) {
    const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
    const cJSON *want = cJSON_GetObjectItem(c, "ids");
    ids.n = 0;
    assert_int_equal(tok_encode(t, text, strlen(text), 0, &ids, &e), 0);
    assert_int_equal(ids.n, (size_t)cJSON_GetArraySize(want));
    size_t i = 0;
    for (const cJSON *x = want->child; x; x = x->next, i++) assert_int_equal(ids.v[i], x->valueint);
    char *back;
    assert_int_equal(tok_decode(t, ids.v, ids.n, 0, &back, NULL, &e), 0);
    assert_string_equal(back, cJSON_GetObjectItem(c, "decoded")->valuestring);
    free(back);
  }
  assert_true(n >= 5);
  tok_ids_free(&ids);
  cJSON_Delete(j);
  tok_free(t);
}

static void test_errors(void **state) {
  ts_err e = {0};
  bpetrain_cfg bad = {10, 0, NULL};
  bpetrain *b;
  assert_int_equal(bpetrain_new(&bad, &b, &e), TS_EARG);
  bpetrain_cfg cfg = {10, 2, NULL};
  assert_int_equal(bpetrain_new(&cfg, &b, &e), 0);
  assert_int_equal(bpetrain_feed(b, "a\xFF", 2, &e), TS_EFORMAT);
  assert_int_equal(bpetrain_save(b, TS_BUILD_DIR "/x.json", &e), TS_EARG);
  /* a tiny corpus runs out of pairs with count >= 2 before 10 merges */
  assert_int_equal(bpetrain_feed(b, "abab abab xyz", 13, &e), 0);
  assert_int_equal(bpetrain_run(b, &e), 0);
  assert_true(bpetrain_n_merges(b) < 10);
  assert_true(bpetrain_n_merges(b) >= 2);
  bpetrain_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_output_matches_committed),
      cmocka_unit_test(test_against_naive),
      cmocka_unit_test(test_hf_ids),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
