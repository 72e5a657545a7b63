/* tdata.c — tiny synthetic training data for trainer tests (see tdata.h). */
#include "tdata.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/afile.h"
#ifdef TS_HAVE_AUDIO
#include "audio/audio_io.h"
#endif

static int td_make(const char *dir, char *man, unsigned long n, int same) {
#ifndef TS_HAVE_AUDIO
  (void)dir, (void)man, (void)n, (void)same;
  return 1;
#else
  ts_err e;
  char p[700];
  if (afile_mkdirs(dir, &e)) return 1;
  const char *words[4] = {"BIN BLUE AT F TWO NOW", "LAY GREEN BY G FIVE AGAIN", "PLACE RED IN H ONE SOON",
                          "SET WHITE WITH J NINE PLEASE"};
  for (int i = 0; i < 8; i++) {
    int64_t len = 6400;
    float *x = malloc(sizeof(float) * (size_t)len);
    if (!x) return 1;
    for (int64_t t = 0; t < len; t++)
      x[t] = 0.2f * sinf(0.02f * (float)(i + 3) * (float)t) + 0.1f * sinf(0.13f * (float)(i % 3 + 1) * (float)t);
    snprintf(p, sizeof p, "%s/u%d.wav", dir, i);
    int rc = audio_write(p, x, len, 16000, &e);
    free(x);
    if (rc) return 1;
  }
  snprintf(man, n, "%s/train.jsonl", dir);
  FILE *f = fopen(man, "w");
  if (!f) return 1;
  for (int i = 0; i < 8; i++)
    fprintf(f,
            "{\"id\": \"s%d\", \"set\": \"train\", \"sources\": [{\"path\": \"u%d.wav\", \"speaker\": \"%d\", "
            "\"gender\": \"%s\", \"text\": \"%s\", \"gain\": 1.0, \"offset\": 0}], \"target\": 0, "
            "\"enroll\": {\"path\": \"u%d.wav\", \"start\": 0, \"duration\": 0.3, \"gain\": 1.0}}\n",
            i, i, i % 2, i % 2 ? "F" : "M", words[same ? 0 : i % 4], (i + 2) % 8);
  return fclose(f) ? 1 : 0;
#endif
}

int td_make_tiny(const char *dir, char *man, unsigned long n) { return td_make(dir, man, n, 0); }
int td_make_tiny_same(const char *dir, char *man, unsigned long n) { return td_make(dir, man, n, 1); }
