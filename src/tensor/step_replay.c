/* step_replay.c — the record of a captured decoding step's staging copies and their rules
 * (step_replay.h). */
#include "tensor/step_replay.h"

#include <stdlib.h>
#include <string.h>

static void sr_refuse(sr_rec *r, const char *why) {
  if (r->ok) r->why = why;
  r->ok = 0;
}

void sr_clear(sr_rec *r) {
  free(r->nnew);
  memset(r, 0, sizeof *r);
  r->why = "nothing recorded";
}

int sr_begin(sr_rec *r, const int32_t *ids, const int32_t *n_new, int64_t B) {
  sr_clear(r);
  if (B <= 0 || !ids || !n_new) {
    r->why = "no step rows declared";
    return 0;
  }
  r->nnew = malloc(sizeof(int32_t) * (size_t)B);
  if (!r->nnew) {
    r->why = "out of memory";
    return -1;
  }
  memcpy(r->nnew, n_new, sizeof(int32_t) * (size_t)B);
  r->B = B, r->ids = ids, r->ok = 1, r->why = NULL;
  return 0;
}

void sr_add(sr_rec *r, void *pin, const void *host, size_t bytes, sr_kind kind) {
  if (!r->nnew) return; /* no step begun: nothing to record into */
  size_t row = sizeof(int32_t) * (size_t)r->B;
  if (r->n == SR_MAX) return sr_refuse(r, "more staging copies than a record holds");
  if (kind == SR_NONE) return sr_refuse(r, "a staged array without a replay rule");
  if (kind == SR_ADVANCE && bytes != row) return sr_refuse(r, "an advancing array of other than one int32 per row");
  if (kind == SR_IDS && (host != r->ids || bytes != row)) return sr_refuse(r, "token ids from another array than the step's");
  if (kind != SR_CONST && kind != SR_ADVANCE && kind != SR_IDS) return sr_refuse(r, "an unknown replay rule");
  r->c[r->n++] = (sr_copy){pin, host, bytes, kind};
}

int sr_matches(const sr_rec *r, const int32_t *ids, const int32_t *n_new, int64_t B) {
  return r->ok && r->nnew && B == r->B && ids == r->ids && n_new &&
         !memcmp(n_new, r->nnew, sizeof(int32_t) * (size_t)B);
}

void sr_apply(sr_rec *r) {
  for (int i = 0; i < r->n; i++) {
    sr_copy *c = &r->c[i];
    if (c->kind == SR_IDS) {
      memcpy(c->pin, r->ids, c->bytes);
    } else if (c->kind == SR_ADVANCE) {
      unsigned char *p = c->pin;
      for (int64_t b = 0; b < r->B; b++) { /* pinned bytes: no alignment assumed */
        int32_t v;
        memcpy(&v, p + 4 * b, 4);
        v += r->nnew[b];
        memcpy(p + 4 * b, &v, 4);
      }
    }
  }
}
