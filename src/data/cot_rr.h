/* cot_rr.h — random reasoning (paper §2.2.2): which training samples get the full CoT and which
 * an empty <think></think>, decided from a decode of the training set by the BASE model.
 *
 * Rule: a sample the model got wrong (format error, or WER > 0) gets the full CoT; a correct one
 * gets the empty think with probability p_empty (paper: 0.5), else the full CoT.
 * "WER > 0" is decided without a WER module: the word error count is 0 exactly when the
 * whitespace-separated word sequences of ref and hyp are equal, compared byte for byte (the
 * decode JSONL's hyp is already normalised, DESIGN.md §9). format_ok = false is an error
 * whatever hyp holds.
 * Randomness: one Philox draw keyed by (seed, FNV-1a hash of the sample id), so a sample's
 * choice depends only on the seed and its id — not on line order, threads or other samples. */
#ifndef TS_COT_RR_H
#define TS_COT_RR_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum cot_think { COT_THINK_EMPTY = 0, COT_THINK_FULL = 1 } cot_think;

#define COT_RR_P_EMPTY 0.5 /* the paper's probability */

/* 1 when the word sequences of ref and hyp differ (WER > 0), 0 when equal. */
int cot_rr_words_differ(const char *ref, const char *hyp);
/* The choice for one sample: FULL when is_error, else EMPTY with probability p_empty (0..1). */
cot_think cot_rr_choose(const char *id, int is_error, uint64_t seed, double p_empty);

/* One decode JSONL line {"id","ref","hyp","format_ok",...}: fills *is_error and *choice.
 * TS_EFORMAT (message naming what and the key) on a malformed line; id is copied into
 * id_out (id_cap bytes, truncated) when id_out is not NULL. */
int cot_rr_line(const char *line, size_t n, const char *what, uint64_t seed, double p_empty,
                char *id_out, size_t id_cap, int *is_error, cot_think *choice, ts_err *e);

typedef struct cot_rr_stats {
  long lines;    /* non-blank lines read */
  long skipped;  /* malformed lines skipped (each logged with its line number) */
  long errors;   /* samples with an error -> full */
  long correct;  /* correct samples */
  long empty;    /* correct samples given the empty think */
} cot_rr_stats;

/* Reads a decode JSONL and writes (atomically) a JSON lines map, one line per sample in input
 * order: {"id":"...","think":"full"|"empty","error":true|false}. Malformed lines are skipped
 * with a warning and counted (duplicate ids are written again, with the same choice).
 * TS_EARG when p_empty is not in [0, 1]. st may be NULL. */
int cot_rr_file(const char *decode_path, const char *out_path, uint64_t seed, double p_empty,
                cot_rr_stats *st, ts_err *e);

#endif
