/* step_replay.h — the host side of replaying a recorded decoding step: the staging copies a
 * captured step made (host bytes a backend put in pinned memory for its graph's copy nodes),
 * each with a rule for how its bytes change from one step to the next, so that a later step
 * of the same shape is submitted again without running its host code (kernels/cuda_graph.cu).
 * Host-only C, so it is tested without a GPU (tests/unit/test_step_replay.c). */
#ifndef TS_STEP_REPLAY_H
#define TS_STEP_REPLAY_H

#include <stddef.h>
#include <stdint.h>

/* how a staged host array changes between decoding steps of one shape */
typedef enum sr_kind {
  SR_NONE = 0, /* not known: a step that stages it is not replayed */
  SR_CONST,    /* the same bytes every step (inverse frequencies, the rows the head reads) */
  SR_ADVANCE,  /* one int32 per sequence row, each advancing by that row's n_new per step
                  (positions, KV-cache rows, key lengths of a one-token step) */
  SR_IDS       /* the step's token ids: read again from the caller's array at each replay */
} sr_kind;

#define SR_MAX 64 /* staging copies a replayable step may make */

typedef struct sr_copy {
  void *pin;        /* where the graph's copy node reads (pinned host memory, kept) */
  const void *host; /* the array staged (SR_IDS: the step's ids) */
  size_t bytes;
  sr_kind kind;
} sr_copy;

typedef struct sr_rec {
  sr_copy c[SR_MAX];
  int n;
  int64_t B;        /* sequence rows of the step */
  int32_t *nnew;    /* (B) the rows' new tokens in the captured step: replays need the same */
  const int32_t *ids; /* (B) the step's token ids (the caller's array, the same every step) */
  int ok;           /* 1: replayable */
  const char *why;  /* when not: the first reason */
} sr_rec;

/* Starts a record for a step of B rows taking n_new[b] (0 or 1) tokens each, ids their
 * tokens. Returns 0, or -1 out of memory (the record then says not replayable). */
int sr_begin(sr_rec *r, const int32_t *ids, const int32_t *n_new, int64_t B);
/* Adds a staging copy the step made: its bytes at pin (already written), from host. A kind
 * that does not fit (SR_NONE, an SR_ADVANCE array of other than B int32, SR_IDS from another
 * array than the ids given to sr_begin) or more than SR_MAX copies make the record not
 * replayable. */
void sr_add(sr_rec *r, void *pin, const void *host, size_t bytes, sr_kind kind);
/* 1 when a step of B rows taking n_new from ids can replay this record. */
int sr_matches(const sr_rec *r, const int32_t *ids, const int32_t *n_new, int64_t B);
/* Writes the next step's bytes into the pinned copies: SR_ADVANCE arrays gain n_new, SR_IDS
 * arrays are copied again from the ids, SR_CONST stay. Call once per replayed step, after the
 * last replay's copies have been read. */
void sr_apply(sr_rec *r);
/* Empties the record (not replayable). */
void sr_clear(sr_rec *r);

#endif
