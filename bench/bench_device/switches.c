/* switches.c — bench_device's variants: the CUDA backend's switches by name, set from a table
 * (defaults first), and the counters printed after a variant's run. */
#include "switches.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "tensor/cuda_ctl.h"

typedef struct bdsw_name {
  const char *name;
  int (*set)(int on);
  int on; /* the value the name sets; for the defaults' table, the default */
} bdsw_name;

/* the encoder's conv layout (enc_cl_on reads TSASR_ENC_CL at each forward): channels-last (the
 * default) or, for "ct", channel-first */
static int bdsw_enc_cl(int on) { return setenv("TSASR_ENC_CL", on ? "1" : "0", 1) ? TS_EARG : TS_OK; }

/* the backend's defaults; one this build lacks (TS_EUNSUP: cuDNN, its frontend) stays absent */
static const bdsw_name k_defaults[] = {
    {"flash", cuda_set_flash_attention, 1}, {"dec2", cuda_set_decode_kernels, 2},
    {"graphs", cuda_set_graphs, 1},         {"fuse", cuda_set_fuse_round, 1},
    {"train_copy", cuda_set_train_copy, 0}, {"bf16_acts", cuda_set_bf16_acts, 1},
    {"split", cuda_set_sample_split, 1},    {"dec_attn", cuda_set_decode_attention, 1},
    {"wcopy", cuda_set_weight_copy, 1},     {"lt", cuda_set_lt, 1},
    {"cudnn", cuda_set_cudnn, 2},           {"sdpa", cuda_set_cudnn_sdpa, 1},
    {"bwd16", cuda_set_bwd16, 1},           {"elem", cuda_set_elem_blocks, 0},
    {"vec", cuda_set_elem_vec, 0},          {"dnn16", cuda_set_cudnn_bf16, 0},
    {"enc_cl", bdsw_enc_cl, 1},             {"adamw_runs", cuda_set_adamw_runs, 1},
    {"keep", cuda_set_attn_keep, 1},        {"wsync", cuda_set_wcopy_sync, 1},
    {"mres", cuda_set_matmul_res, 1},       {"cset", cuda_set_conv_set, 1},
    {"det", cuda_set_deterministic, 0},
};

static const bdsw_name k_names[] = {
    {"flash", cuda_set_flash_attention, 1}, {"no_flash", cuda_set_flash_attention, 0},
    {"train_copy", cuda_set_train_copy, 1}, {"bf16_acts", cuda_set_bf16_acts, 1},
    {"no_bf16_acts", cuda_set_bf16_acts, 0}, {"dec2", cuda_set_decode_kernels, 1},
    {"dec2s", cuda_set_decode_kernels, 2},  {"no_dec2", cuda_set_decode_kernels, 0},
    {"graphs", cuda_set_graphs, 1},         {"fuse", cuda_set_fuse_round, 1},
    {"no_fuse", cuda_set_fuse_round, 0},    {"lt", cuda_set_lt, 1},
    {"no_lt", cuda_set_lt, 0},              {"cudnn", cuda_set_cudnn, 2},
    {"no_cudnn", cuda_set_cudnn, 0},        {"cudnn_all", cuda_set_cudnn, 1},
    {"cudnn_ng1", cuda_set_cudnn, 3},        {"no_graphs", cuda_set_graphs, 0},
    {"no_split", cuda_set_sample_split, 0}, {"no_dec_attn", cuda_set_decode_attention, 0},
    {"no_wcopy", cuda_set_weight_copy, 0},  {"sdpa", cuda_set_cudnn_sdpa, 1},
    {"no_sdpa", cuda_set_cudnn_sdpa, 0},    {"bwd16", cuda_set_bwd16, 1},
    {"no_bwd16", cuda_set_bwd16, 0},       {"elem4", cuda_set_elem_blocks, 4},
    {"elem8", cuda_set_elem_blocks, 8},     {"elem16", cuda_set_elem_blocks, 16},
    {"vec", cuda_set_elem_vec, 1},          {"dnn16", cuda_set_cudnn_bf16, 1},
    {"dec_attn2", cuda_set_decode_attention, 2}, {"ct", bdsw_enc_cl, 0},
    {"no_adamw_runs", cuda_set_adamw_runs, 0}, {"no_keep", cuda_set_attn_keep, 0},
    {"no_wsync", cuda_set_wcopy_sync, 0},   {"no_res", cuda_set_matmul_res, 0},
    {"no_cset", cuda_set_conv_set, 0},      {"det", cuda_set_deterministic, 1},
};

#define BDSW_N(t) (sizeof(t) / sizeof((t)[0]))

int bdsw_apply(const char *v) {
  for (size_t i = 0; i < BDSW_N(k_defaults); i++) {
    int rc = k_defaults[i].set(k_defaults[i].on);
    if (rc && rc != TS_EUNSUP) return 1;
  }
  char buf[128];
  snprintf(buf, sizeof buf, "%s", v);
  for (char *save = NULL, *n = strtok_r(buf, "+", &save); n; n = strtok_r(NULL, "+", &save)) {
    if (!strcmp(n, "default")) continue;
    size_t i = 0;
    while (i < BDSW_N(k_names) && strcmp(n, k_names[i].name)) i++;
    if (i == BDSW_N(k_names) || k_names[i].set(k_names[i].on)) return 1; /* unknown, or not in this build */
  }
  return 0;
}

/* whether the '+'-joined variant v names n */
static int bdsw_has(const char *v, const char *n) {
  size_t l = strlen(n);
  for (const char *p = v; (p = strstr(p, n)) != NULL; p += l)
    if ((p == v || p[-1] == '+') && (p[l] == '\0' || p[l] == '+')) return 1;
  return 0;
}

void bdsw_snapshot(bdsw_counts *c) {
  c->graphs = cuda_graph_launches();
  c->replays = cuda_graph_replays();
  cuda_lt_counts(&c->lt, &c->lt_fb);
  cuda_cudnn_counts(&c->dnn, &c->dnn_fb);
  cuda_sdpa_counts(&c->sdpa, &c->sdpa_fb);
  cuda_wcopy_counts(&c->wskip, &c->wbad);
}

void bdsw_report(const char *v, const bdsw_counts *before) {
  bdsw_counts now;
  bdsw_snapshot(&now);
  /* graphs can stay off without an error: a timing is theirs only when steps ran so */
  if (!bdsw_has(v, "no_graphs"))
    printf("   (%ld decoding steps launched as CUDA graphs, %ld of them replays)\n", now.graphs - before->graphs,
           now.replays - before->replays);
  if (bdsw_has(v, "cudnn") || now.dnn > before->dnn || now.dnn_fb > before->dnn_fb)
    printf("   (cuDNN: %ld convolutions, %ld by im2col instead)\n", now.dnn - before->dnn, now.dnn_fb - before->dnn_fb);
  if (!bdsw_has(v, "no_lt"))
    printf("   (cuBLASLt: %ld GEMMs, %ld on cuBLAS instead)\n", now.lt - before->lt, now.lt_fb - before->lt_fb);
  if (bdsw_has(v, "sdpa") || now.sdpa > before->sdpa || now.sdpa_fb > before->sdpa_fb)
    printf("   (cuDNN SDPA: %ld attention calls, %ld shapes it refused)\n", now.sdpa - before->sdpa,
           now.sdpa_fb - before->sdpa_fb);
  if (now.wskip > before->wskip || now.wbad > before->wbad)
    printf("   (the weights' bf16 copy kept current by AdamW: %ld roundings skipped, %ld values found wrong)\n",
           now.wskip - before->wskip, now.wbad - before->wbad);
}
