/* bench_encoder.c — times the speech encoder (data2vec-audio base geometry: 7 conv layers of
 * 512, hidden 768, 12 blocks, 12 heads, FFN 3072, 5 pos convs k19 g16; random weights) on one
 * utterance: forward, and forward + backward (all parameter gradients). Prints per case:
 * name, median ms, audio seconds per second. bench/run_encoder.sh runs it beside the same HF
 * model in PyTorch and prints the ratios.
 * Usage: bench_encoder [SECONDS [REPS]]   (threads: TSASR_THREADS) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/philox.h"
#include "model/encoder.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static const char *base_cfg =
    "{\"model_type\": \"data2vec-audio\", \"hidden_size\": 768, \"num_hidden_layers\": 12,"
    " \"num_attention_heads\": 12, \"intermediate_size\": 3072, \"num_conv_pos_embeddings\": 5,"
    " \"conv_pos_kernel_size\": 19, \"num_conv_pos_embedding_groups\": 16}";

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 10.0;
  int reps = argc > 2 ? atoi(argv[2]) : 3;
  if (reps < 1 || reps > 64 || secs <= 0) {
    fprintf(stderr, "usage: bench_encoder [SECONDS [REPS<=64]]\n");
    return 2;
  }
  ts_err e;
  cJSON *j = cJSON_Parse(base_cfg);
  enc_cfg c;
  if (enc_config_from_json(j, "bench config", &c, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  cJSON_Delete(j);
  pset ps;
  pset_init(&ps, be_cpu());
  enc_model m;
  if (enc_declare(&ps, "encoder.", &c, &e) || pset_alloc(&ps, 1, 0, &e) || enc_bind(&m, &ps, "encoder.", &c, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  pset_init_normal(&ps, 0.02f, 1, &e);
  int64_t L = (int64_t)(secs * 16000), len[1] = {L};
  float *wav = malloc(sizeof(float) * (size_t)L);
  philox_rng r;
  philox_init(&r, 7, 0);
  for (int64_t i = 0; i < L; i++) wav[i] = philox_uniform(&r) - 0.5f;
  arena ar;
  arena_init(&ar, (size_t)64 << 20);
  float *dout = NULL;
  for (int bwd = 0; bwd < 2; bwd++) {
    double t[64];
    for (int k = -1; k < reps; k++) { /* k = -1: warm-up */
      arena_reset(&ar);
      enc_acts a;
      double t0 = now_ms();
      if (enc_forward(&m, 1, L, wav, len, &a, &ar, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
      }
      if (bwd) {
        if (!dout) {
          dout = malloc(sizeof(float) * (size_t)(a.T * c.C));
          for (int64_t i = 0; i < a.T * c.C; i++) dout[i] = philox_uniform(&r) - 0.5f;
        }
        if (enc_backward(&m, &a, dout, &ar, &e)) {
          fprintf(stderr, "%s\n", e.msg);
          return 1;
        }
      }
      if (k >= 0) t[k] = now_ms() - t0;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_d);
    double ms = t[reps / 2];
    printf("encoder_%s_%gs %.1f %.3f\n", bwd ? "fwd+bwd" : "fwd", secs, ms, secs / (ms / 1e3));
    fflush(stdout);
  }
  fprintf(stderr, "arena peak %.0f MB\n", ar.peak / 1048576.0);
  free(dout), free(wav);
  arena_free(&ar);
  pset_free(&ps);
  return 0;
}
