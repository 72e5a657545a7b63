/* spk_score.h — similarity of each source of a manifest entry to its enrollment (paper §2.2):
 * cosine between the embedding of the enrollment crop and of each source's own clean signal
 * (the scaled source from the sample assembly, cut to its span in the mixture, as the paper
 * builds CoT from the simulation metadata). The CoT level is cot_level(similarity); the
 * continuous-score mode writes the score itself (cot_opts.continuous).
 *
 * Embeddings come from the built-in encoder (with an on-disk cache keyed by file, size, mtime,
 * first sample and length: a repeated run reads no audio) or from an imported table
 * (spk_import.h: looked up by utterance id and segment seconds). */
#ifndef TS_SPK_SCORE_H
#define TS_SPK_SCORE_H

#include <stdint.h>

#include "data/manifest.h"
#include "data/sample.h"
#include "speaker/spk_cache.h"
#include "speaker/spk_import.h"
#include "speaker/spk_model.h"

enum { SPK_FROM_MODEL = 0, SPK_FROM_IMPORT = 1 };

typedef struct spk_scorer {
  int from;              /* SPK_FROM_* */
  spk_model model;       /* SPK_FROM_MODEL */
  spk_cache cache;       /* SPK_FROM_MODEL (memory only without a cache dir) */
  spk_table table;       /* SPK_FROM_IMPORT */
  sample_opts so;        /* how entries are assembled (rate must be the model's) */
  int dim;
  int64_t n_embedded;    /* segments run through the encoder */
  int64_t n_reused;      /* segments found in the cache or the table */
} spk_scorer;

/* A scorer over a model directory; cache_dir NULL keeps the cache in memory only. */
int spk_scorer_open_model(spk_scorer *s, const char *model_dir, const char *cache_dir, ts_err *e);
/* A scorer over imported embeddings (JSONL, spk_import.h). */
int spk_scorer_open_import(spk_scorer *s, const char *path, ts_err *e);
/* Writes the cache (when there is one) and releases everything. */
int spk_scorer_close(spk_scorer *s, ts_err *e);

/* sim (n_src): cosine similarity of each source to the enrollment, in [-1, 1]. The message of
 * an error names the entry (and the file or missing embedding). */
int spk_entry_similarity(spk_scorer *s, const man_entry *m, double *sim, ts_err *e);
/* Sets every entry's "similarity". Entries that fail are logged (entry and reason), left
 * without similarity and counted in *n_bad (may be NULL). */
int spk_manifest_score(spk_scorer *s, manifest *m, int64_t *n_bad, ts_err *e);

/* The similarity value the CoT writes for a cosine: the level 1..5 (cot_level: uniform
 * quantisation of [0, 1]) or, with continuous = 1 (Table 2 ablation), the score clamped to
 * [0, 1] and rounded to 2 decimals. */
double spk_sim_value(double cosine, int continuous);

/* The default cache folder: $TSASR_CACHE, else $XDG_CACHE_HOME/tsasr, else ~/.cache/tsasr,
 * with "/speaker" appended. */
void spk_default_cache_dir(char *buf, size_t n);

#endif
