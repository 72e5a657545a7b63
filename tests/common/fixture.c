/* fixture.c — fixture reader (see fixture.h). */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "base/jsonx.h"

int fx_load(fixture *fx, const char *group, const char *name) {
  memset(fx, 0, sizeof *fx);
  char path[1024];
  ts_err e;
  snprintf(path, sizeof path, "%s/%s/%s.json", TS_FIXTURES, group, name);
  if (jsonx_load(path, &fx->index, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  snprintf(path, sizeof path, "%s/%s/%s.bin", TS_FIXTURES, group, name);
  char *buf;
  size_t n;
  if (afile_read(path, &buf, &n, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  fx->data = (float *)buf; /* malloc'd, suitably aligned for float */
  fx->n = (int64_t)(n / 4);
  return 0;
}

const float *fx_tensor(const fixture *fx, const char *name, int64_t *n) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(fx->index, name);
  if (!it) return NULL;
  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "offset");
  if (!sh || !off) return NULL;
  int64_t cnt = 1;
  const cJSON *d;
  cJSON_ArrayForEach(d, sh) cnt *= (int64_t)d->valuedouble;
  if ((int64_t)off->valuedouble + cnt > fx->n) return NULL;
  if (n) *n = cnt;
  return fx->data + (int64_t)off->valuedouble;
}

const cJSON *fx_value(const fixture *fx, const char *name) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(fx->index, name);
  return it ? cJSON_GetObjectItemCaseSensitive(it, "value") : NULL;
}

double fx_num(const fixture *fx, const char *name) {
  const cJSON *v = fx_value(fx, name);
  return v && cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

void fx_free(fixture *fx) {
  cJSON_Delete(fx->index);
  free(fx->data);
  memset(fx, 0, sizeof *fx);
}
