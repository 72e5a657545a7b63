/* wb_model.h — the workbench's model: load a model directory and generate outputs for one
 * manifest entry (greedy, or G sampled outputs as a GRPO group would get them). */
#ifndef TS_WB_MODEL_H
#define TS_WB_MODEL_H

#include <stdint.h>

#include "base/err.h"
#include "data/manifest.h"

typedef struct wb_model wb_model;

/* Loads dir (tsm_load on the CPU backend). *out is freed with wb_model_free. */
int wb_model_open(const char *dir, wb_model **out, ts_err *e);
void wb_model_free(wb_model *m);
const char *wb_model_dir(const wb_model *m);
/* One-line description (parameters, vocabulary) into buf. */
void wb_model_brief(const wb_model *m, char *buf, size_t n);
/* Seconds of silence between enrollment and mixture the model was trained with. */
double wb_model_silence(const wb_model *m);

/* Generates G outputs for the entry's input (enrollment ‖ silence ‖ mixture, sample.h
 * defaults). temp 0 = greedy (then G must be 1); top_k (0: off) and top_p (1: off) cut the
 * sampled distribution. raws receives G malloc'd strings (caller frees each and the array);
 * rep (G, may be NULL) the repetition-guard flags. */
int wb_model_generate(wb_model *m, const man_entry *ent, double temp, int top_k, double top_p, int G, int max_new,
                      uint64_t seed, char ***raws, int *rep, ts_err *e);

#endif
