/* bench_small.c — training and decoding throughput of a small model of the paper's family
 * (data2vec-style encoder, MLP adapter, Qwen2-style LLM) on a batch of synthetic inputs —
 * "waveform": the raw-waveform conv stack; "fbank": the shipped small model's architecture
 * (80-bin fbank computed in the forward, 2 stride-2 convs, adapter k=2):
 * training samples/s and LLM tokens/s (forward + backward + AdamW), and greedy decoding
 * tokens/s with the KV cache. bench/run_small.sh runs the same model in PyTorch +
 * transformers in the same run and prints ratios.
 * Usage: bench_small [BATCH [SECONDS [waveform|fbank]]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/philox.h"
#include "infer/generate.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* the same shapes as bench_small_torch.py */
static const char *small_json =
    "{\"encoder\": {\"model_type\": \"data2vec-audio\", \"hidden_size\": 192, \"num_hidden_layers\": 4,"
    " \"num_attention_heads\": 4, \"intermediate_size\": 768, \"hidden_act\": \"gelu\","
    " \"conv_dim\": [128, 128, 128, 128, 128, 128, 128], \"conv_kernel\": [10, 3, 3, 3, 3, 2, 2],"
    " \"conv_stride\": [5, 2, 2, 2, 2, 2, 2], \"conv_bias\": true, \"feat_extract_activation\": \"gelu\","
    " \"num_conv_pos_embeddings\": 2, \"conv_pos_kernel_size\": 19, \"num_conv_pos_embedding_groups\": 16,"
    " \"layer_norm_eps\": 1e-5, \"do_normalize\": true},"
    " \"adapter\": {\"kind\": \"mlp\", \"downsample\": 4, \"input_size\": 192, \"hidden_size\": 512,"
    " \"output_size\": 256},"
    " \"llm\": {\"model_type\": \"qwen2\", \"vocab_size\": 672, \"hidden_size\": 256, \"num_hidden_layers\": 4,"
    " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"intermediate_size\": 768, \"rms_norm_eps\": 1e-6,"
    " \"rope_theta\": 10000.0, \"tie_word_embeddings\": true}}";

/* models/small's architecture (the same shapes as bench_small_torch.py's fbank mode) */
static const char *fbank_json =
    "{\"encoder\": {\"model_type\": \"data2vec-audio\", \"feature_type\": \"fbank\", \"num_mel_bins\": 80,"
    " \"hidden_size\": 192, \"num_hidden_layers\": 4, \"num_attention_heads\": 4, \"intermediate_size\": 512,"
    " \"hidden_act\": \"gelu\", \"conv_dim\": [192, 192], \"conv_kernel\": [3, 3], \"conv_stride\": [2, 2],"
    " \"conv_bias\": false, \"feat_extract_activation\": \"gelu\", \"num_conv_pos_embeddings\": 3,"
    " \"conv_pos_kernel_size\": 5, \"num_conv_pos_embedding_groups\": 4, \"layer_norm_eps\": 1e-5,"
    " \"do_normalize\": true},"
    " \"adapter\": {\"kind\": \"mlp\", \"downsample\": 2, \"input_size\": 192, \"hidden_size\": 256,"
    " \"output_size\": 256},"
    " \"llm\": {\"model_type\": \"qwen2\", \"vocab_size\": 672, \"hidden_size\": 256, \"num_hidden_layers\": 4,"
    " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"intermediate_size\": 768, \"rms_norm_eps\": 1e-6,"
    " \"rope_theta\": 10000.0, \"tie_word_embeddings\": true}}";

int main(int argc, char **argv) {
  int B = argc > 1 ? atoi(argv[1]) : 8;
  double secs = argc > 2 ? atof(argv[2]) : 5.0;
  int fbank = argc > 3 && !strcmp(argv[3], "fbank");
  int reps = 3, P = 40, Rn = 30, NEW = 30;
  ts_err e;
  cJSON *cfg = cJSON_Parse(fbank ? fbank_json : small_json);
  tsm *m;
  const char *tokp = TSASR_SOURCE_DIR "/tests/fixtures/text/bpe_trained.json";
  if (tsm_new(cfg, tokp, 1, 0.02f, be_cpu(), 1, 1, &m, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  cJSON_Delete(cfg);
  int64_t L = (int64_t)(secs * 16000), *len = malloc(sizeof(int64_t) * (size_t)B);
  float *wav = malloc(sizeof(float) * (size_t)(B * L));
  philox_rng r;
  philox_init(&r, 3, 0);
  for (int64_t i = 0; i < B * L; i++) wav[i] = 0.1f * philox_normal(&r);
  int32_t **ids = malloc(sizeof(int32_t *) * (size_t)B), *n = malloc(sizeof(int32_t) * (size_t)B * 3);
  for (int b = 0; b < B; b++) {
    len[b] = L;
    ids[b] = malloc(sizeof(int32_t) * (size_t)(P + Rn));
    for (int i = 0; i < P + Rn; i++) ids[b][i] = (int32_t)philox_below(&r, 650);
    ids[b][P / 2] = m->audio_id;
    n[b] = P + Rn, n[B + b] = P, n[2 * B + b] = P + Rn;
  }
  tsm_batch bt;
  memset(&bt, 0, sizeof bt);
  bt.B = B, bt.wav = wav, bt.L = L, bt.wav_len = len, bt.ids = (const int32_t *const *)ids, bt.n_ids = n;
  bt.resp_start = n + B, bt.resp_end = n + 2 * B;
  arena ar;
  arena_init(&ar, 128 << 20);
  tsm_loss lo;
  double best = 1e30;
  int64_t llm_tokens = 0;
  for (int k = 0; k <= reps; k++) { /* first run is warm-up */
    arena_reset(&ar);
    pset_zero_grad(&m->ps);
    double t0 = now_s();
    if (tsm_train_step(m, &bt, 1.0f / (float)(B * Rn), &lo, &ar, &e) ||
        pset_adamw(&m->ps, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, k + 1, &e)) {
      fprintf(stderr, "%s\n", e.msg);
      return 1;
    }
    double t = now_s() - t0;
    if (k && t < best) best = t;
  }
  int64_t frames = enc_frames(&m->ecfg, L), na = frames / m->acfg.k;
  llm_tokens = (int64_t)B * (P + Rn - 1 + na);
  printf("train_step %.4f s  %.1f samples/s  %.0f llm-tokens/s  (%lld audio tokens per sample)\n", best, B / best,
         llm_tokens / best, (long long)na);
  /* greedy decoding of NEW tokens per input */
  int32_t *prompt, np;
  tsm_prompt_ids(m, &prompt, &np, &e);
  const int32_t **pp = malloc(sizeof(int32_t *) * (size_t)B);
  int32_t *pn = malloc(sizeof(int32_t) * (size_t)B);
  for (int b = 0; b < B; b++) pp[b] = prompt, pn[b] = np;
  gen_input gi = {B, wav, L, len, pp, pn, NULL};
  gen_cfg gc;
  memset(&gc, 0, sizeof gc);
  gc.max_new = NEW, gc.min_new = NEW, gc.G = 1, gc.guard.min_span = 100000;
  gen_output *outs = calloc((size_t)B, sizeof(gen_output));
  best = 1e30;
  for (int k = 0; k <= reps; k++) {
    arena_reset(&ar);
    double t0 = now_s();
    if (tsm_generate(m, &gi, &gc, outs, &ar, &e)) {
      fprintf(stderr, "%s\n", e.msg);
      return 1;
    }
    double t = now_s() - t0;
    if (k && t < best) best = t;
    for (int b = 0; b < B; b++) gen_output_free(&outs[b]);
  }
  printf("decode %.4f s  %.1f new-tokens/s  (batch %d, %d new tokens each, prompt %d + %lld audio)\n", best,
         B * NEW / best, B, NEW, np - 1, (long long)na);
  return 0;
}
