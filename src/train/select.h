/* select.h — RL data selection (paper §2.3.1, Table 3) from a decode of the training set.
 *
 * Each decoded sample falls in one category: a format error (format_ok false), a wrong
 * transcript (well-formed, S + D + I > 0) or a correct one. Modes:
 *   error-only (default): every format error first, then wrong transcripts at random, up to
 *                size; never a correct one (fewer than size when errors run out).
 *   balanced:   correct : error = 1 : 5 — the largest total T <= size (and within what is
 *                available) with c = round(T / 6) correct and T - c errors; the errors are
 *                taken as in error-only (format errors first).
 *   random:     a uniform random subset of every sample, up to size.
 * "At random" is deterministic for a seed: each sample's draw comes from Philox keyed by the
 * seed with a stream derived from the sample id, and samples are ranked by (draw, id), so the
 * order of the decode file does not matter. An id seen twice keeps its most severe category
 * (format error > wrong > correct). */
#ifndef TS_SELECT_H
#define TS_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "infer/decode_rec.h"

typedef enum sel_mode { SEL_ERROR_ONLY = 0, SEL_BALANCED, SEL_RANDOM } sel_mode;
typedef enum sel_cat { SEL_FORMAT = 0, SEL_WRONG, SEL_CORRECT, SEL_NCAT } sel_cat;

typedef struct sel_item {
  char *id;
  char *set;
  sel_cat cat;
  int64_t errors, n; /* S + D + I and reference words of the decode */
} sel_item;

/* The candidates: one item per distinct id. */
typedef struct sel_pool {
  sel_item *v; /* (n) in order of first appearance */
  size_t n, cap;
  drec_ids *ix;    /* id -> index into v */
  int64_t skipped; /* bad decode lines */
  int64_t dups;    /* repeated ids */
} sel_pool;

int sel_pool_init(sel_pool *p, ts_err *e);
void sel_pool_free(sel_pool *p);
int sel_pool_add(sel_pool *p, const drec *r, ts_err *e);
/* Adds every good record of a decode JSONL (bad lines skipped with a message, counted). */
int sel_pool_load(sel_pool *p, const char *path, ts_err *e);
sel_cat sel_category(const drec *r);

typedef struct sel_result {
  size_t *idx; /* (n) indices into the pool's items, in selection order */
  size_t n;
  sel_mode mode;
  uint64_t seed;
  int64_t size;             /* asked for */
  int64_t avail[SEL_NCAT];  /* in the pool */
  int64_t chosen[SEL_NCAT];
} sel_result;

/* Chooses from p (see the top of this file). size >= 0. Free with sel_result_free. */
int sel_choose(const sel_pool *p, sel_mode mode, int64_t size, uint64_t seed, sel_result *out,
               ts_err *e);
void sel_result_free(sel_result *r);

/* "error-only" | "balanced" | "random"; TS_EARG for anything else. */
int sel_mode_parse(const char *s, sel_mode *m, ts_err *e);
const char *sel_mode_name(sel_mode m);
/* "format_error" | "wrong" | "correct" */
const char *sel_cat_name(sel_cat c);
/* A one-paragraph report (what was asked, chosen and available per category); malloc'd. */
int sel_report(const sel_pool *p, const sel_result *r, char **out, ts_err *e);

/* Writes the selection as JSONL, one {"id", "set", "category", "errors", "n"} a line, in
 * selection order (atomically). */
int sel_write_ids(const sel_pool *p, const sel_result *r, const char *path, ts_err *e);
/* Copies the lines of manifest (JSONL) whose "id" was selected to path (atomically), streaming
 * and byte for byte, in manifest order; a repeated id is written once. Bad manifest lines are
 * skipped with a message naming file and line. *written, *missing (selected ids not in the
 * manifest) and *bad may be NULL. */
int sel_write_manifest(const sel_pool *p, const sel_result *r, const char *manifest, const char *path,
                       int64_t *written, int64_t *missing, int64_t *bad, ts_err *e);

#endif
