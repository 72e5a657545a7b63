/* spk_train.h — training the speaker encoder with the AAM softmax on the speakers of one corpus
 * split: random fixed-length crops of the utterances' features (shorter ones are repeated),
 * AdamW, linear warm-up + cosine learning rate, margin warm-up, gradient clipping. Writes a
 * model directory (config.json with the training settings, model.safetensors) and
 * metrics.jsonl beside them. Deterministic for a seed (Philox draws per step). */
#ifndef TS_SPK_TRAIN_H
#define TS_SPK_TRAIN_H

#include <stdint.h>

#include "speaker/spk_model.h"

typedef struct spk_train_opts {
  const char *corpus_dir;
  const char *split;     /* "train" */
  const char *out_dir;
  spk_cfg cfg;           /* n_classes is set from the data */
  int steps;             /* optimizer steps (600) */
  int batch;             /* crops per step (32) */
  int crop;              /* frames per crop (200 = 2 s) */
  int max_per_spk;       /* utterances per speaker used (0 = all) */
  double lr, lr_min;     /* peak and final learning rate (2e-3, 2e-5) */
  int warmup;            /* warm-up steps (steps / 20) */
  double wd;             /* AdamW decoupled weight decay (0.01) */
  double clip;           /* global gradient-norm clip (5; 0 = off) */
  float margin, scale;   /* AAM margin (0.2) and scale (30) */
  int margin_warmup;     /* steps over which the margin ramps up from 0 (steps / 5) */
  uint64_t seed;
  int log_every;         /* steps between log lines / metrics (20) */
  double max_seconds;    /* stop (and save) after this much wall time; 0 = no limit */
  int quiet;             /* no progress lines on stderr */
} spk_train_opts;

typedef struct spk_train_report {
  int n_cls, n_utts;
  int64_t steps;
  double loss, acc;      /* mean over the last log interval */
  double wall_sec;
  int64_t n_params;
} spk_train_report;

void spk_train_opts_default(spk_train_opts *o);
int spk_train(const spk_train_opts *o, spk_train_report *r, ts_err *e);
/* Same, on a set already loaded (tests); out_dir may be NULL (no files written), m receives
 * the trained model (caller frees with spk_model_free). */
struct spk_set;
int spk_train_set(const spk_train_opts *o, const struct spk_set *s, spk_model *m, spk_train_report *r, ts_err *e);

#endif
