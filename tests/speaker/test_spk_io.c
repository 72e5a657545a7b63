/* test_spk_io.c — speaker model directories, the embedding import format, the embedding cache
 * and the EER: round trips and the messages of bad inputs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/afile.h"
#include "base/log.h"
#include "speaker/spk_cache.h"
#include "speaker/spk_embed.h"
#include "speaker/spk_eval.h"
#include "speaker/spk_import.h"
#include "speaker/spk_model.h"
#include "speaker/spk_score.h"
#include "testutil.h"

static ts_err err;
static char tmp[256];

static int setup(void **state) {
  (void)state;
  snprintf(tmp, sizeof tmp, "/tmp/tsasr-spkio-XXXXXX");
  if (!mkdtemp(tmp)) return -1;
  log_set_level(LOG_ERROR);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  return system(cmd) == 0 ? 0 : -1;
}

static void write_text(const char *path, const char *text) {
  assert_int_equal(afile_write(path, text, strlen(text), &err), 0);
}

static void small_cfg(spk_cfg *c) {
  spk_cfg_default(c);
  c->n_mels = 80, c->n_layers = 2, c->channels[0] = 8, c->channels[1] = 12, c->kernels[0] = 3, c->kernels[1] = 1;
  c->emb_dim = 6, c->n_classes = 3;
}

static void test_model_dir_roundtrip(void **state) {
  (void)state;
  spk_cfg c;
  small_cfg(&c);
  spk_model m, m2;
  assert_int_equal(spk_model_init(&m, &c, be_cpu(), 0, 0, &err), 0);
  spk_model_init_weights(&m, 5);
  char dir[300];
  snprintf(dir, sizeof dir, "%s/model", tmp);
  assert_int_equal(spk_model_save(&m, dir, NULL, &err), 0);
  assert_int_equal(spk_model_load(&m2, dir, be_cpu(), &err), 0);
  assert_int_equal(m2.c.n_layers, 2);
  assert_int_equal(m2.c.channels[1], 12);
  assert_int_equal(m2.c.emb_dim, 6);
  assert_int_equal(m2.c.n_classes, 3);
  float *x = tu_alloc_rand(16000, -0.3f, 0.3f, 9), e1[6], e2[6];
  assert_int_equal(spk_embed_wave(&m, x, 16000, e1, &err), 0);
  assert_int_equal(spk_embed_wave(&m2, x, 16000, e2, &err), 0);
  for (int i = 0; i < 6; i++) assert_true(e1[i] == e2[i]);
  /* a segment shorter than one frame is refused */
  assert_int_equal(spk_embed_wave(&m, x, 100, e1, &err), TS_EFORMAT);
  assert_non_null(strstr(err.msg, "shorter than one"));
  char id1[33], id2[33];
  assert_int_equal(spk_model_id(dir, id1, &err), 0);
  assert_int_equal(strlen(id1), 16);
  /* another model, another id */
  spk_model_init_weights(&m, 6);
  assert_int_equal(spk_model_save(&m, dir, NULL, &err), 0);
  assert_int_equal(spk_model_id(dir, id2, &err), 0);
  assert_string_not_equal(id1, id2);
  free(x);
  spk_model_free(&m);
  spk_model_free(&m2);
}

static void test_model_dir_errors(void **state) {
  (void)state;
  spk_model m;
  char dir[300], p[400];
  snprintf(dir, sizeof dir, "%s/nomodel", tmp);
  assert_int_equal(spk_model_load(&m, dir, be_cpu(), &err), TS_EIO);
  assert_non_null(strstr(err.msg, "no such directory"));
  assert_non_null(strstr(err.msg, dir));
  assert_int_equal(afile_mkdirs(dir, &err), 0);
  assert_int_equal(spk_model_load(&m, dir, be_cpu(), &err), TS_EIO);
  assert_non_null(strstr(err.msg, "config.json is missing"));
  snprintf(p, sizeof p, "%s/config.json", dir);
  write_text(p, "{\"model\": \"qwen2\"}");
  assert_int_equal(spk_model_load(&m, dir, be_cpu(), &err), TS_EFORMAT);
  assert_non_null(strstr(err.msg, "not a tsasr-spk-tdnn"));
  write_text(p, "{\"model\": \"tsasr-spk-tdnn\", \"channels\": [8, 8], \"kernels\": [3], \"embedding_dim\": 4}");
  assert_int_equal(spk_model_load(&m, dir, be_cpu(), &err), TS_EFORMAT);
  assert_non_null(strstr(err.msg, "2 channels but 1 kernels"));
  write_text(p, "{\"model\": \"tsasr-spk-tdnn\", \"channels\": [8], \"kernels\": [3], \"embedding_dim\": 4}");
  assert_int_equal(spk_model_load(&m, dir, be_cpu(), &err), TS_EIO);
  assert_non_null(strstr(err.msg, "model.safetensors is missing"));
  /* weights of another shape: the loader names the tensor */
  spk_cfg c;
  small_cfg(&c);
  c.n_classes = 0;
  assert_int_equal(spk_model_init(&m, &c, be_cpu(), 0, 0, &err), 0);
  char other[300];
  snprintf(other, sizeof other, "%s/other", tmp);
  assert_int_equal(spk_model_save(&m, other, NULL, &err), 0);
  spk_model_free(&m);
  char src[400];
  snprintf(src, sizeof src, "%s/model.safetensors", other);
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  char *buf;
  size_t n;
  assert_int_equal(afile_read(src, &buf, &n, &err), 0);
  assert_int_equal(afile_write(p, buf, n, &err), 0);
  free(buf);
  assert_int_not_equal(spk_model_load(&m, dir, be_cpu(), &err), 0);
  assert_non_null(strstr(err.msg, "embed.weight"));
}

static void test_import(void **state) {
  (void)state;
  char p[300];
  snprintf(p, sizeof p, "%s/emb.jsonl", tmp);
  write_text(p,
             "{\"utt\": \"a-1-0001\", \"start\": 0.5, \"duration\": 3, \"emb\": [1, 0, 0]}\n"
             "\n"
             "{\"utt\": \"a-1-0002\", \"emb\": [0, 1, 0]}\n"
             "{\"utt\": \"a-1-0001\", \"emb\": [0.5, 0.5, 0]}\n");
  spk_table t;
  assert_int_equal(spk_table_load(p, 0, &t, &err), 0);
  assert_int_equal(t.n, 3);
  assert_int_equal(t.dim, 3);
  const float *v = spk_table_find(&t, "a-1-0001", 0.501, 2.999);
  assert_non_null(v);
  assert_true(v[0] == 1.0f);
  v = spk_table_find(&t, "a-1-0001", 0, 0);
  assert_non_null(v);
  assert_true(v[0] == 0.5f);
  assert_null(spk_table_find(&t, "a-1-0001", 0.6, 3));
  assert_null(spk_table_find(&t, "a-1-0003", 0, 0));
  assert_non_null(spk_table_find(&t, "a-1-0002", 0, 0));
  spk_table_free(&t);
  /* the required dimension */
  assert_int_equal(spk_table_load(p, 4, &t, &err), TS_EFORMAT);
  assert_non_null(strstr(err.msg, ":1: embedding has 3 values, expected 4"));

  static const struct {
    const char *text, *want;
  } bad[] = {
      {"{\"utt\": \"x\", \"emb\": [1, 2]}\n{\"utt\": \"y\", \"emb\": [1, 2, 3]}\n", ":2: embedding has 3 values, expected 2"},
      {"{\"utt\": \"x\", \"emb\": [1, 2]}\n{\"utt\": \"y\", \"emb\": [1, 2\n", ":2: not a JSON object"},
      {"{\"emb\": [1, 2]}\n", ":1: \"utt\" is missing"},
      {"{\"utt\": \"x\", \"emb\": []}\n", ":1: \"emb\" must be a non-empty array"},
      {"{\"utt\": \"x\", \"emb\": [1, \"a\"]}\n", ":1: \"emb\"[1] is not a finite number"},
      {"{\"utt\": \"x\", \"start\": \"0\", \"emb\": [1]}\n", ":1: \"start\" and \"duration\" must be numbers"},
      {"{\"utt\": \"x\", \"start\": -1, \"emb\": [1]}\n", ":1: start -1"},
      {"{\"utt\": \"x\", \"emb\": [1]}\n{\"utt\": \"x\", \"duration\": 0, \"emb\": [2]}\n", ":2: segment x start 0 duration 0 is listed twice (first on line 1)"},
      {"\n\n", "no embeddings"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_text(p, bad[i].text);
    assert_int_equal(spk_table_load(p, 0, &t, &err), TS_EFORMAT);
    if (!strstr(err.msg, bad[i].want)) fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err.msg, bad[i].want);
    assert_non_null(strstr(err.msg, p));
  }
  char missing[300];
  snprintf(missing, sizeof missing, "%s/none.jsonl", tmp);
  assert_int_not_equal(spk_table_load(missing, 0, &t, &err), 0);
  assert_non_null(strstr(err.msg, "none.jsonl"));
  /* the import scorer reports a missing embedding with the entry and the utterance */
  write_text(p, "{\"utt\": \"e-1-0001\", \"start\": 1, \"duration\": 3, \"emb\": [1, 0]}\n"
                "{\"utt\": \"s-1-0001\", \"emb\": [1, 1]}\n{\"utt\": \"s-2-0001\", \"emb\": [-1, 0]}\n");
  spk_scorer sc;
  assert_int_equal(spk_scorer_open_import(&sc, p, &err), 0);
  man_source src[2] = {{.path = "/x/s-1-0001.flac", .gender = 'M', .gain = NAN, .lufs = NAN, .duration = NAN},
                       {.path = "/x/s-2-0001.flac", .utt = "s-2-0001", .gender = 'F', .gain = NAN, .lufs = NAN, .duration = NAN}};
  man_entry en = {.id = "mix1", .src = src, .n_src = 2, .target = 0, .duration = NAN,
                  .enroll = {.path = "/x/e-1-0001.flac", .start = 1, .duration = 3, .gain = NAN, .lufs = NAN}};
  double sim[2];
  assert_int_equal(spk_entry_similarity(&sc, &en, sim, &err), 0);
  assert_true(fabs(sim[0] - sqrt(0.5)) < 1e-6);
  assert_true(fabs(sim[1] + 1) < 1e-6);
  src[1].utt = "s-3-0001";
  assert_int_equal(spk_entry_similarity(&sc, &en, sim, &err), TS_EFORMAT);
  assert_non_null(strstr(err.msg, "mix1: no imported embedding for source 2 (utt s-3-0001"));
  en.enroll.start = 2;
  assert_int_equal(spk_entry_similarity(&sc, &en, sim, &err), TS_EFORMAT);
  assert_non_null(strstr(err.msg, "for the enrollment (utt e-1-0001, start 2"));
  spk_scorer_close(&sc, NULL);
}

static void test_cache(void **state) {
  (void)state;
  char dir[300], f[400], key[4400], key2[4400];
  snprintf(dir, sizeof dir, "%s/cache", tmp);
  snprintf(f, sizeof f, "%s/audio.bin", tmp);
  write_text(f, "not really audio");
  spk_cache c;
  assert_int_equal(spk_cache_open(&c, dir, "0123456789abcdef", 4, &err), 0);
  assert_int_equal(spk_cache_key(f, 16000, 48000, key, sizeof key, &err), 0);
  float a[4] = {1, 2, 3, 4}, b[4];
  assert_int_equal(spk_cache_get(&c, key, b), 0);
  assert_int_equal(spk_cache_put(&c, key, a, &err), 0);
  /* many keys: the table grows */
  for (int i = 0; i < 3000; i++) {
    char k[64];
    float v[4] = {(float)i, 0, 0, 0};
    snprintf(k, sizeof k, "k%d", i);
    assert_int_equal(spk_cache_put(&c, k, v, &err), 0);
  }
  assert_int_equal(spk_cache_save(&c, &err), 0);
  spk_cache_close(&c);
  assert_int_equal(spk_cache_open(&c, dir, "0123456789abcdef", 4, &err), 0);
  assert_int_equal(c.n, 3001);
  assert_int_equal(spk_cache_get(&c, key, b), 1);
  assert_memory_equal(a, b, sizeof a);
  assert_int_equal(spk_cache_get(&c, "k2999", b), 1);
  assert_true(b[0] == 2999.0f);
  spk_cache_close(&c);
  /* another model does not see these embeddings */
  assert_int_equal(spk_cache_open(&c, dir, "fedcba9876543210", 4, &err), 0);
  assert_int_equal(c.n, 0);
  spk_cache_close(&c);
  /* a changed file gives another key */
  sleep(0);
  write_text(f, "other contents, other size");
  assert_int_equal(spk_cache_key(f, 16000, 48000, key2, sizeof key2, &err), 0);
  assert_string_not_equal(key, key2);
  /* a damaged cache file is ignored (and rewritten), not an error */
  char cf[500];
  snprintf(cf, sizeof cf, "%s/spk-emb-0123456789abcdef.bin", dir);
  char *buf;
  size_t n;
  assert_int_equal(afile_read(cf, &buf, &n, &err), 0);
  assert_int_equal(afile_write(cf, buf, n / 2, &err), 0);
  free(buf);
  assert_int_equal(spk_cache_open(&c, dir, "0123456789abcdef", 4, &err), 0);
  assert_int_equal(c.n, 0);
  spk_cache_close(&c);
  /* a missing audio file cannot be keyed */
  char nf[400];
  snprintf(nf, sizeof nf, "%s/none.flac", tmp);
  assert_int_equal(spk_cache_key(nf, 0, 1, key, sizeof key, &err), TS_EIO);
  assert_non_null(strstr(err.msg, "none.flac"));
}

static void test_sim_value(void **state) {
  (void)state;
  assert_true(spk_sim_value(0.79, 0) == 4);
  assert_true(spk_sim_value(0.8, 0) == 5);
  assert_true(spk_sim_value(1.0, 0) == 5);
  assert_true(spk_sim_value(0.19999, 0) == 1);
  assert_true(spk_sim_value(0.2, 0) == 2);
  assert_true(spk_sim_value(-0.3, 0) == 1);
  assert_true(spk_sim_value(0.5, 0) == 3);
  assert_true(fabs(spk_sim_value(0.834, 1) - 0.83) < 1e-12);
  assert_true(spk_sim_value(1.2, 1) == 1.0);
  assert_true(spk_sim_value(-0.2, 1) == 0.0);
}

static void test_eer(void **state) {
  (void)state;
  /* perfectly separated */
  double s1[6] = {0.9, 0.8, 0.7, 0.1, 0.2, 0.3};
  unsigned char t1[6] = {1, 1, 1, 0, 0, 0};
  double eer, thr;
  assert_int_equal(spk_eer(s1, t1, 6, &eer, &thr, &err), 0);
  assert_true(eer == 0.0);
  assert_true(thr > 0.3 && thr <= 0.7);
  /* reversed: everything wrong */
  unsigned char t2[6] = {0, 0, 0, 1, 1, 1};
  assert_int_equal(spk_eer(s1, t2, 6, &eer, &thr, &err), 0);
  assert_true(eer == 1.0);
  /* one target below one non-target among 4 + 4: FRR = FAR = 1/4 at the crossing */
  double s3[8] = {0.9, 0.8, 0.7, 0.35, 0.4, 0.3, 0.2, 0.1};
  unsigned char t3[8] = {1, 1, 1, 1, 0, 0, 0, 0};
  assert_int_equal(spk_eer(s3, t3, 8, &eer, &thr, &err), 0);
  assert_true(fabs(eer - 0.25) < 1e-12);
  /* both kinds are needed */
  assert_int_equal(spk_eer(s1, t1, 3, &eer, &thr, &err), TS_EARG);
  assert_non_null(strstr(err.msg, "both kinds"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_model_dir_roundtrip),
      cmocka_unit_test(test_model_dir_errors),
      cmocka_unit_test(test_import),
      cmocka_unit_test(test_cache),
      cmocka_unit_test(test_sim_value),
      cmocka_unit_test(test_eer),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
