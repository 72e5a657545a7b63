/* fixture.h — reads the parity fixtures written by the tools/ scripts: NAME.json indexes float32
 * tensors stored in NAME.bin and holds scalar values. */
#ifndef TS_FIXTURE_H
#define TS_FIXTURE_H

#include <cjson/cJSON.h>
#include <stdint.h>

typedef struct fixture {
  cJSON *index;
  float *data;
  int64_t n;
} fixture;

/* Loads TS_FIXTURES/<group>/<name>.{json,bin}; returns 0 on success (message on stderr). */
int fx_load(fixture *fx, const char *group, const char *name);
/* Tensor by name, its element count in *n (may be NULL); NULL when absent. */
const float *fx_tensor(const fixture *fx, const char *name, int64_t *n);
/* Scalar / list values by name ("value" field); NULL when absent. */
const cJSON *fx_value(const fixture *fx, const char *name);
double fx_num(const fixture *fx, const char *name);
void fx_free(fixture *fx);

#endif
