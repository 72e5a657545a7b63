/* trainer.h — what the SFT and GRPO trainers share: freezing by name prefix, resuming from
 * a run's latest checkpoint (weights, AdamW moments, step, data position), and writing a
 * checkpoint with the trainer state. */
#ifndef TS_TRAINER_H
#define TS_TRAINER_H

#include "tensor/params.h"
#include "train/ckpt.h"

/* Freezes every tensor under each prefix (NULL-terminated list of up to n); a prefix that
 * matches nothing is an error naming it. */
int trainer_freeze(pset *ps, const char *const *prefixes, int n, const char *who, ts_err *e);
/* When rdir has a checkpoint: loads its weights and moments into ps and returns its step
 * and data position (else both 0). */
int trainer_resume(pset *ps, const char *rdir, const char *who, int64_t *step, int64_t *data_pos, ts_err *e);
/* Writes checkpoint `step` with trainer_state.json {step, data_pos, seed, stage}. */
int trainer_checkpoint(const char *rdir, int64_t step, int64_t data_pos, uint64_t seed, const char *stage,
                       const pset *ps, ckpt_save_model_fn save_model, void *user, int keep, ts_err *e);

/* The end of a training step: a stop asked by the step callback (user_stop) or by Ctrl-C sets
 * *stop; then a checkpoint is written when stopping, at the last step, or every ckpt_every
 * steps. Returns the checkpoint's status. */
int trainer_step_end(const char *rdir, const char *stage, int64_t step, int64_t steps, int ckpt_every,
                     int user_stop, int *stop, int64_t data_pos, uint64_t seed, const pset *ps,
                     ckpt_save_model_fn save_model, void *user, int keep, ts_err *e);

#endif
