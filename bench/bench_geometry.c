/* bench_geometry.c — the paper's geometry (data2vec-audio large encoder, k=5 MLP adapter,
 * Qwen2.5-0.5B) with random weights: parameter counts, then the encoder's audio-seconds/s
 * on a 20 s input, the LLM's forward tokens/s (each timed on a second run, after one that
 * first touches the memory, as the PyTorch side does), and one full training step (forward +
 * backward through all three parts). bench/run_geometry.sh runs the same shapes in
 * PyTorch + transformers and prints ratios. Usage: bench_geometry [SECONDS [TOKENS]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/philox.h"
#include "model/tsmodel.h"
#include "paper_geometry.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* the encoder forward (infer: the inference one) timed twice: a first run (memory first
 * touched, thread pools started), then the timed one */
static int enc_time(tsm *m, int infer, int64_t L, const float *wav, enc_acts *ea, arena *ar, double *first,
                    double *second, ts_err *e) {
  for (int k = 0; k < 2; k++) {
    arena_reset(ar);
    double t0 = now_s();
    int rc = infer ? enc_forward_infer(&m->enc, 1, L, wav, &L, ea, ar, e) : enc_forward(&m->enc, 1, L, wav, &L, ea, ar, e);
    if (rc) return rc;
    *(k ? second : first) = now_s() - t0;
  }
  return 0;
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 20.0;
  int64_t T = argc > 2 ? atoll(argv[2]) : 300;
  const char *tokdir = getenv("TSASR_QWEN2_TOKENIZER") ? getenv("TSASR_QWEN2_TOKENIZER")
                                                        : TSASR_SOURCE_DIR "/../shared/data/qwen2-tokenizer";
  ts_err e;
  const char *gm = getenv("BENCH_GEMM"); /* bf16: the bf16 GEMM precision (docs/precision.md) */
  if (gm && be_set_gemm(be_cpu(), gm, &e)) {
    fprintf(stderr, "BENCH_GEMM=%s: %s\n", gm, e.msg);
    return 1;
  }
  cJSON *cfg = cJSON_Parse(paper_geometry_json);
  tsm *m;
  double t0 = now_s();
  if (tsm_new(cfg, tokdir, 1, 0.02f, be_cpu(), 1, 0, &m, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  cJSON_Delete(cfg);
  int64_t pe = pset_count(&m->ps, "encoder."), pa = pset_count(&m->ps, "adapter."), pl = pset_count(&m->ps, "llm.");
  printf("params encoder %.1fM adapter %.1fM llm %.1fM total %.1fM (built in %.1f s)\n", pe / 1e6, pa / 1e6,
         pl / 1e6, (pe + pa + pl) / 1e6, now_s() - t0);
  int64_t L = (int64_t)(secs * 16000);
  float *wav = malloc(sizeof(float) * (size_t)L);
  philox_rng r;
  philox_init(&r, 7, 0);
  for (int64_t i = 0; i < L; i++) wav[i] = 0.1f * philox_normal(&r);
  arena ar;
  arena_init(&ar, 256 << 20);
  /* encoder forward, the training one (keeps what backward needs), then the inference one
   * (decoding; what PyTorch's no_grad forward does) in an arena of its own */
  enc_acts ea;
  double first, te;
  if (enc_time(m, 0, L, wav, &ea, &ar, &first, &te, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
  printf("encoder_fwd_first_%.0fs %.3f s\n", secs, first);
  printf("encoder_fwd_%.0fs %.3f s  %.2f audio-s/s  (%lld frames; training forward, arena peak %.0f MiB)\n", secs, te,
         secs / te, (long long)ea.T, ar.peak / 1048576.0);
  arena ai;
  arena_init(&ai, 256 << 20);
  if (enc_time(m, 1, L, wav, &ea, &ai, &first, &te, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
  printf("encoder_infer_first_%.0fs %.3f s\n", secs, first);
  printf("encoder_infer_%.0fs %.3f s  %.2f audio-s/s  (arena peak %.0f MiB)\n", secs, te, secs / te, ai.peak / 1048576.0);
  arena_free(&ai);
  arena_reset(&ar);
  /* LLM forward over T tokens (hidden states; the head on the last token only) */
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)T), *pos = malloc(sizeof(int32_t) * (size_t)T);
  for (int64_t i = 0; i < T; i++) ids[i] = (int32_t)(philox_below(&r, 150000)), pos[i] = (int32_t)i;
  float *x = malloc(sizeof(float) * (size_t)(T * 896)), *lg = malloc(sizeof(float) * 151936);
  qwen2_acts la;
  attn_cfg mask;
  memset(&mask, 0, sizeof mask);
  double tl = 0;
  for (int k = 0; k < 2; k++) { /* likewise a first run, then the timed one */
    arena_reset(&ar);
    t0 = now_s();
    qwen2_embed(&m->llm, ids, T, x, &e);
    if (qwen2_forward(&m->llm, 1, T, x, pos, &mask, &la, &ar, &e) ||
        qwen2_head(&m->llm, la.hid + (T - 1) * 896, 1, lg, &e)) {
      fprintf(stderr, "%s\n", e.msg);
      return 1;
    }
    tl = now_s() - t0;
  }
  printf("llm_fwd_T%lld %.3f s  %.1f tokens/s\n", (long long)T, tl, T / tl);
  arena_reset(&ar);
  /* one training step: prompt with <|audio|>, 40 response tokens */
  int32_t n_ids = 60 + 40, rs = 60, re = 100;
  int32_t *seq = malloc(sizeof(int32_t) * (size_t)n_ids);
  for (int32_t i = 0; i < n_ids; i++) seq[i] = (int32_t)philox_below(&r, 150000);
  seq[30] = m->audio_id;
  const int32_t *sp[1] = {seq};
  tsm_batch b;
  memset(&b, 0, sizeof b);
  b.B = 1, b.wav = wav, b.L = L, b.wav_len = &L, b.ids = sp, b.n_ids = &n_ids, b.resp_start = &rs, b.resp_end = &re;
  tsm_loss lo;
  t0 = now_s();
  if (tsm_train_step(m, &b, 1.0f / 40, &lo, &ar, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  double tt = now_s() - t0;
  printf("train_step_%.0fs %.3f s  loss %.3f  (arena peak %.0f MiB)\n", secs, tt, lo.loss_sum / lo.tokens,
         ar.peak / 1048576.0);
  free(wav), free(ids), free(pos), free(x), free(lg), free(seq);
  arena_free(&ar);
  tsm_free(m);
  return 0;
}
