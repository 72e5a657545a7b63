/* ckpt.h — checkpoints of a training run, written so that a crash at any moment leaves the
 * previous one intact: everything goes into RUN/checkpoint-STEP/, then the file RUN/latest
 * is replaced atomically with that name, then older checkpoints are removed (keeping `keep`).
 * A checkpoint holds the model (saved by the caller's function), the trainer state
 * (trainer_state.safetensors: AdamW moments m and v; trainer_state.json: step, data
 * position, RNG state and anything else the trainer puts there). */
#ifndef TS_CKPT_H
#define TS_CKPT_H

#include <cjson/cJSON.h>

#include "tensor/params.h"

typedef int (*ckpt_save_model_fn)(void *user, const char *dir, ts_err *e);

/* Writes checkpoint `step`; state is the trainer_state.json object. */
int ckpt_save(const char *run_dir, long long step, const pset *ps, const cJSON *state, ckpt_save_model_fn save_model,
              void *user, int keep, ts_err *e);
/* Path of the checkpoint to resume from into dir (size n). *found = 0 when the run has none
 * (no run directory, or neither `latest` nor a complete checkpoint-N). When `latest` is
 * missing, the newest complete checkpoint-N (one with trainer_state.json, written last) is
 * taken. A `latest` that is damaged or names a missing directory, or a run path that is not a
 * directory, is an error naming it: a trainer must not start over past good checkpoints. */
int ckpt_find(const char *run_dir, char *dir, size_t n, int *found, ts_err *e);
/* ckpt_find, with TS_EIO when there is no checkpoint. */
int ckpt_latest(const char *run_dir, char *dir, size_t n, ts_err *e);
/* Restores AdamW moments into ps (same layout) and returns trainer_state.json (caller deletes;
 * state NULL: not read, for a caller that read and checked it already). */
int ckpt_load_state(const char *ckpt_dir, pset *ps, cJSON **state, ts_err *e);

#endif
