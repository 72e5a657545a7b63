/* cli_info.c — `tsasr info FILE`: what a safetensors file (or a model directory's
 * model.safetensors) holds: metadata, each tensor's name, dtype and shape, and the totals. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "base/jsonx.h"
#include "model/tsmodel.h"
#include "nn/ctc.h"
#include "tensor/safetensors.h"

/* Prints s with control characters shown as '?' (names come from untrusted files). */
static void info_put(FILE *o, const char *s, size_t max, int width) {
  size_t i = 0;
  for (; s[i] && i < max; i++) {
    unsigned char c = (unsigned char)s[i];
    fputc(c < 0x20 || c == 0x7f ? '?' : c, o);
  }
  if (s[i]) {
    fputs("...", o);
    i += 3;
  }
  for (; (int)i < width; i++) fputc(' ', o);
}

static const char *info_human(double v, const char *const *units, double step, char *buf, size_t n) {
  int u = 0;
  while (v >= step && units[u + 1]) {
    v /= step;
    u++;
  }
  if (u)
    snprintf(buf, n, " (%.1f %s)", v, units[u]);
  else
    buf[0] = 0;
  return buf;
}

/* 1 for a tsasr model directory (config.json with an llm section, or encoder and adapter ones:
 * a missing one is reported when loading it), 0 for another directory (no config.json, or one
 * without them, e.g. a Hugging Face model's), -1 with a message when its config.json is
 * unreadable, not JSON or not an object (that used to be ignored and the tensors listed). */
static int info_is_tsasr_model(const char *dir) {
  char p[4200];
  snprintf(p, sizeof p, "%s/config.json", dir);
  struct stat sb;
  if (stat(p, &sb) != 0) return 0;
  cJSON *j = NULL;
  ts_err e = {0};
  if (jsonx_load(p, &j, &e)) {
    fprintf(stderr, "tsasr info: %s\n", e.msg);
    return -1;
  }
  if (!cJSON_IsObject(j)) {
    fprintf(stderr, "tsasr info: %s: not a JSON object\n", p);
    cJSON_Delete(j);
    return -1;
  }
  /* "llm", or "encoder" with "adapter" (an encoder-decoder of Hugging Face's has "encoder" alone) */
  int yes = cJSON_GetObjectItem(j, "llm") || (cJSON_GetObjectItem(j, "encoder") && cJSON_GetObjectItem(j, "adapter"));
  cJSON_Delete(j);
  return yes;
}

static int info_model(const char *dir) {
  ts_err e;
  tsm *m;
  if (tsm_load(dir, be_cpu(), 0, 0, &m, &e)) {
    fprintf(stderr, "tsasr info: %s\n", e.msg);
    return 1;
  }
  char buf[4096];
  tsm_describe(m, 8, 20.0, buf, sizeof buf);
  printf("model: %s\n%s", dir, buf);
  if (m->ctc) printf("ctc head: %d characters, loss weight %.2f\n", CTC_CHAR_VOCAB, m->ctc_weight);
  printf("tokenizer: %d ids (<|audio|> %d, <|im_end|> %d)\n", tok_n_ids(m->tok), m->audio_id, m->im_end_id);
  printf("prompt: %s\n", m->instruction ? m->instruction : "");
  tsm_free(m);
  return 0;
}

int cli_info(int argc, char **argv) {
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(stderr, "usage: tsasr info FILE.safetensors | MODEL_DIR\n");
    return 2;
  }
  char path[4096];
  struct stat sb;
  if (stat(argv[1], &sb) == 0 && S_ISDIR(sb.st_mode)) {
    int kind = info_is_tsasr_model(argv[1]);
    if (kind < 0) return 1;
    if (kind) return info_model(argv[1]);
    snprintf(path, sizeof path, "%s/model.safetensors", argv[1]);
  } else
    snprintf(path, sizeof path, "%s", argv[1]);

  st_file *f = NULL;
  ts_err e = {0};
  if (st_open(path, &f, &e) != TS_OK) {
    fprintf(stderr, "tsasr info: %s\n", e.msg);
    return 1;
  }
  FILE *o = stdout;
  fprintf(o, "file: %s\n", path);
  fprintf(o, "header: %llu bytes, data: %llu bytes\n", (unsigned long long)f->header_len,
          (unsigned long long)(f->size - 8 - f->header_len));
  for (int i = 0; i < f->n_meta; i++) {
    fputs("metadata: ", o);
    info_put(o, f->meta[i].key, 80, 0);
    fputs(" = ", o);
    info_put(o, f->meta[i].val, 200, 0);
    fputc('\n', o);
  }
  int w = 4;
  for (int i = 0; i < f->n_tensors; i++) {
    int l = (int)strlen(f->tensors[i].name);
    if (l > w) w = l;
  }
  if (w > 72) w = 72;
  if (f->n_tensors > 0) {
    info_put(o, "name", 4, w);
    fprintf(o, "  %-11s  %s\n", "dtype", "shape");
  }
  for (int i = 0; i < f->n_tensors; i++) {
    const st_tensor *t = &f->tensors[i];
    info_put(o, t->name, (size_t)w, w);
    fprintf(o, "  %-11s  [", st_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++) fprintf(o, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    fputs("]\n", o);
  }
  static const char *const pu[] = {"", "K", "M", "G", "T", NULL};
  static const char *const bu[] = {" B", "KiB", "MiB", "GiB", "TiB", NULL};
  char hp[32], hb[32];
  int64_t params = st_total_params(f);
  uint64_t bytes = st_total_bytes(f);
  fprintf(o, "total: %d tensors, %lld parameters%s, %llu bytes%s\n", f->n_tensors,
          (long long)params, info_human((double)params, pu, 1000.0, hp, sizeof hp),
          (unsigned long long)bytes, info_human((double)bytes, bu, 1024.0, hb, sizeof hb));
  st_close(f);
  if (fflush(o) != 0) return 1;
  return 0;
}
