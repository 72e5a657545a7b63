/* wer.h — word error rate: word-level Levenshtein with substitution/deletion/insertion counts
 * and the alignment itself, plus corpus and cross-set aggregation.
 *
 * Tie-breaking between alignments of equal cost follows rapidfuzz's Levenshtein.editops (used
 * by jiwer): the common prefix and suffix are matched first, then the backtrace from the end
 * prefers deletion, then insertion, then substitution/match. So S, D and I equal jiwer's.
 * Words are separated by white space (space, tab, newline, CR, VT, FF). */
#ifndef TS_TEXT_WER_H
#define TS_TEXT_WER_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum wer_op_type { WER_EQUAL = 0, WER_SUB, WER_DEL, WER_INS } wer_op_type;

typedef struct wer_op {
  wer_op_type type;
  int32_t ref_idx;  /* index into the reference words, -1 for WER_INS */
  int32_t hyp_idx;  /* index into the hypothesis words, -1 for WER_DEL */
  const char *ref;  /* the reference word (owned by the result) or NULL */
  const char *hyp;  /* the hypothesis word (owned by the result) or NULL */
} wer_op;

/* Counts for one utterance or summed over many. */
typedef struct wer_stats {
  int64_t hit, sub, del, ins;
  int64_t n_ref, n_hyp; /* words */
} wer_stats;

typedef struct wer_result {
  wer_stats st;
  wer_op *ops;    /* (n_ops) in reference/hypothesis order */
  size_t n_ops;
  char *words;    /* storage of the words the ops point to */
} wer_result;

/* Aligns two transcripts (UTF-8, split on white space). Free with wer_result_free. */
int wer_align(const char *ref, const char *hyp, wer_result *out, ts_err *e);
/* Same on word arrays; the ops point into copies owned by the result. */
int wer_align_words(const char *const *ref, size_t nr, const char *const *hyp, size_t nh,
                    wer_result *out, ts_err *e);
void wer_result_free(wer_result *r);

/* acc += x */
void wer_stats_add(wer_stats *acc, const wer_stats *x);
/* Errors (S + D + I). */
int64_t wer_stats_errors(const wer_stats *s);
/* (S + D + I) / N_ref; with N_ref == 0 the denominator is 1 (so k inserted words give k, and
 * empty vs empty gives 0), as jiwer 4 does. */
double wer_stats_rate(const wer_stats *s);
/* Weighted WER across sets: Σ errors / Σ reference words (not the mean of the set WERs). */
double wer_weighted(const wer_stats *sets, size_t n);

#endif
