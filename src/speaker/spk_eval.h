/* spk_eval.h — speaker-verification evaluation: equal error rate over scored trials and the
 * CoT similarity-level histograms (cot_level) of same-speaker and different-speaker pairs. */
#ifndef TS_SPK_EVAL_H
#define TS_SPK_EVAL_H

#include <stdint.h>

#include "speaker/spk_data.h"
#include "speaker/spk_model.h"

typedef struct spk_eval_out {
  int n_utts, n_spk;
  int64_t n_same, n_diff;          /* trials */
  double eer;                      /* equal error rate in [0, 1] */
  double thr;                      /* the cosine threshold where it is reached */
  double mean_same, mean_diff;     /* mean cosine */
  int64_t hist_same[5], hist_diff[5]; /* trials per level 1..5 */
  int close_pair[3][2];            /* the 3 most similar speaker pairs (class indices) */
  double close_cos[3];             /* their mean cosine (-2 when fewer pairs exist) */
} spk_eval_out;

/* EER of n trials (score, is_target): the point of the threshold sweep where the false-accept
 * and false-reject rates are closest, reported as their mean. Needs both kinds of trials. */
int spk_eer(const double *score, const unsigned char *is_target, int64_t n, double *eer, double *thr, ts_err *e);
/* Embeds every utterance of s whole and scores all pairs (i < j). */
int spk_eval_set(spk_model *m, const spk_set *s, spk_eval_out *o, ts_err *e);

#endif

/* ---- similarity levels in simulated mixtures (what the CoT builder will see) ---- */
struct spk_scorer;
typedef struct spk_mixeval_out {
  int64_t n_entries, n_bad;
  int64_t hist_target[5], hist_other[5]; /* sources per level 1..5 */
  double mean_target, mean_other;        /* mean cosine */
  int64_t n_top_score;  /* entries whose target has the strictly highest cosine */
  int64_t n_top_level;  /* entries whose target has the strictly highest level */
} spk_mixeval_out;

/* Makes n_mix seeded 2-speaker mixtures (mixspec.h: every speaker the target in turn, 3 s
 * enrollment crop from another utterance) from the utterances under CORPUS_DIR/SPLIT and scores
 * every entry with s. When keep is not NULL the entries (with "similarity") are appended to it. */
struct manifest;
int spk_eval_mixtures(struct spk_scorer *s, const char *corpus_dir, const char *split, int64_t n_mix, uint64_t seed,
                      spk_mixeval_out *o, struct manifest *keep, ts_err *e);
