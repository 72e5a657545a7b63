/* eval.h — evaluation tables from decode JSONL files: per-set totals (WER with S/D/I, format
 * errors, wrong-speaker and CoT-check rates where known) and the paper's Table 1 layout:
 * rows = systems (BASE, +CoT, +CoT+RL, ...), columns = labels each mapped to one or more set
 * names (default Single / Libri2Mix / Libri3Mix), and the weighted average over the columns'
 * sets, Σ errors / Σ reference words (paper §3.3: weighted by size, not the mean of the set
 * WERs). Output as Markdown (Table 1 + a per-set breakdown) and as JSON.
 *
 * A system pools every record added to it; a (set, id) pair seen twice in one system counts
 * once (the later record is ignored with a warning and counted in dups). Set names match
 * column sets without regard to ASCII case. */
#ifndef TS_EVAL_H
#define TS_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "infer/decode_rec.h"
#include "text/wer.h"

typedef struct eval_set {
  char *name;
  int64_t utts;
  wer_stats st;            /* summed S/D/I, hits, reference and hypothesis words */
  int64_t fmt_err;         /* records with format_ok == 0 */
  int64_t ws_known, ws;    /* records with wrong_speaker known; of them wrong */
  int64_t think_known, think_ok;
  int64_t repetition;      /* records where the repetition guard fired */
} eval_set;

typedef struct eval_sys {
  char *name;
  eval_set *sets; /* (n_sets) in order of first appearance */
  size_t n_sets, cap;
  int64_t skipped; /* bad lines skipped while loading */
  int64_t dups;    /* duplicate (set, id) records ignored */
  drec_ids *seen;  /* "set\tid" */
} eval_sys;

typedef struct eval_col {
  char *label;
  char **sets; /* (n_sets) */
  size_t n_sets;
} eval_col;

typedef struct eval_table {
  eval_sys *sys; /* (n_sys) rows in order of creation */
  size_t n_sys;
  eval_col *cols; /* (n_cols) */
  size_t n_cols;
} eval_table;

/* An empty table (no columns, no systems). */
void eval_init(eval_table *t);
void eval_free(eval_table *t);

/* Adds a column label mapped to n set names. */
int eval_add_column(eval_table *t, const char *label, const char *const *sets, size_t n, ts_err *e);
/* Adds a column from "LABEL=SET[,SET...]" (e.g. "Single=single,test-clean"). */
int eval_add_column_spec(eval_table *t, const char *spec, ts_err *e);
/* The paper's columns: Single = single|librispeech|test-clean, Libri2Mix = libri2mix,
 * Libri3Mix = libri3mix. */
int eval_default_columns(eval_table *t, ts_err *e);

/* The system named name, created (empty) when new; *out points into t (valid until the next
 * system is created). */
int eval_system(eval_table *t, const char *name, eval_sys **out, ts_err *e);
/* Adds one record's counts to its set. */
int eval_sys_add(eval_sys *s, const drec *r, ts_err *e);
/* Adds every good record of a decode JSONL file (bad lines are skipped and counted). */
int eval_sys_load(eval_sys *s, const char *path, ts_err *e);

/* Totals of a column's sets for a system; returns the number of the column's sets the system
 * has records for (0: no data, the cell is "-"). */
size_t eval_cell(const eval_sys *s, const eval_col *c, wer_stats *out);
/* Σ errors / Σ words over every column's sets; returns 1 when every column has data, else 0
 * (then the average is not comparable and is shown as "-"). */
int eval_avg(const eval_table *t, const eval_sys *s, wer_stats *out);

/* Markdown: "## Table 1" (WER %, 2 decimals) and "## Per set" (utts, words, S, D, I, errors,
 * WER %, format errors, wrong speaker, CoT correct, repetition), sets in column order then by
 * name. *out is malloc'd. */
int eval_markdown(const eval_table *t, char **out, ts_err *e);
/* JSON (pretty-printed, malloc'd): {"columns": [{"label", "sets"}], "systems": [{"name",
 * "skipped_lines", "duplicates", "table1": {"cells": {LABEL: {errors, words, wer} | null},
 * "avg": {...} | null}, "sets": [{"set", "utts", "words", "sub", "del", "ins", "errors",
 * "wer", "format_errors", "format_error_rate", "wrong_speaker", "wrong_speaker_known",
 * "wrong_speaker_rate" | null, "think_ok", "think_known", "repetition"}]}]}. WERs and rates
 * are fractions (0.0525 = 5.25 %). */
int eval_json(const eval_table *t, char **out, ts_err *e);

#endif
