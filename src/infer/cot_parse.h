/* cot_parse.h — reading model outputs: the paper's format check, answer extraction, a
 * structured parse of the CoT steps (template in src/data/cot.h) and a step-by-step check of a
 * parsed CoT against the sample's facts (what the workbench shows).
 *
 * Format (paper eq. 3 and §3.3). An output is well-formed when it is exactly
 *     WS <think> BODY </think> WS <answer> ANSWER </answer> WS
 * where WS is any run (possibly empty) of space, \t, \n, \v, \f, \r, the tags are written
 * exactly so (lower case, no inner spaces), and neither BODY nor ANSWER contains any of the
 * four tags <think> </think> <answer> </answer>. Everything else is a format error, with the
 * first failure reported (cot_fmt_err): empty output, a NUL byte, text before <think> or no
 * <think>, no </think> (truncated), a tag nested in the think body (a second <think>, an early
 * <answer>), text other than whitespace between </think> and <answer> or no <answer>, no
 * </answer> (truncated), a tag inside the answer, and anything but whitespace after </answer>
 * (a second block, a stray stop token). Tokens such as <|im_end|> are expected to be removed
 * by the decoder before parsing. A format error scores as an empty hypothesis: the answer is
 * "" then. On success the answer is ANSWER with surrounding whitespace removed; the empty
 * think <think></think> (whitespace only) is well-formed (BASE stage, random reasoning).
 *
 * Structured parse: the steps are read from the think body (or, when the format is broken,
 * from the whole text, best effort) after folding ASCII case and collapsing whitespace runs, so
 * "speaker1   INFORMATION :" reads as "Speaker1 information:". Numbers are plain decimals
 * ("6", "6.0", "9.04"). Each step is found by its own anchor phrase and read independently, so
 * one garbled step does not hide the others; what is not found stays marked absent. Work is
 * linear in the length times a small constant (no recursion, no backtracking); any input,
 * including random bytes, is safe.
 *
 * Check: cot_check compares a parsed output with the facts step by step. */
#ifndef TS_COT_PARSE_H
#define TS_COT_PARSE_H

#include <stddef.h>

#include "base/err.h"
#include "data/cot.h"

#define COT_PARSE_MAX_SPK 9 /* Speaker1..Speaker9 are read; higher numbers count as extra */

typedef enum cot_fmt_err {
  COT_FMT_OK = 0,
  COT_FMT_EMPTY,           /* nothing but whitespace */
  COT_FMT_NUL,             /* contains a NUL byte */
  COT_FMT_NO_THINK,        /* does not start with <think> (after whitespace) */
  COT_FMT_NO_THINK_CLOSE,  /* no </think> */
  COT_FMT_TAG_IN_THINK,    /* <think>, <answer> or </answer> inside the think body */
  COT_FMT_NO_ANSWER,       /* no <answer> right after </think> (whitespace allowed) */
  COT_FMT_NO_ANSWER_CLOSE, /* no </answer> */
  COT_FMT_TAG_IN_ANSWER,   /* <think>, </think> or <answer> inside the answer */
  COT_FMT_TRAILING         /* text after </answer> */
} cot_fmt_err;

typedef struct cot_parsed_spk {
  int present;       /* a "SpeakerK information:" block was found */
  cot_gender gender; /* COT_GENDER_NONE when not read */
  int has_span;
  double start, end;
  int has_sim;
  double sim;        /* the number written: a level or a score */
} cot_parsed_spk;

typedef struct cot_parsed {
  cot_fmt_err fmt;
  int format_ok;
  size_t think_off, think_len;   /* the think body in the input (format_ok only) */
  size_t answer_off, answer_len; /* the trimmed answer in the input; 0, 0 on a format error */
  int think_empty;               /* well-formed with a whitespace-only think body */

  /* Audio information */
  int has_enroll;
  double enroll_start, enroll_end;
  int has_silence;
  double silence_start, silence_end;
  int has_mixture;
  double mix_start, mix_end;
  int n_speakers; /* from "single-speaker" (1) or "N-speaker mixture" (N); 0 = not read */
  int has_total;
  double total;
  /* Enrollment speech */
  cot_gender enroll_gender;
  /* Speaker blocks, index k = SpeakerK+1 */
  cot_parsed_spk spk[COT_PARSE_MAX_SPK];
  int n_blocks;     /* blocks found with K in 1..COT_PARSE_MAX_SPK */
  int extra_blocks; /* duplicate blocks, or K = 0 or > COT_PARSE_MAX_SPK */
  /* Target speaker: gender clause */
  int has_gender_clause;
  int gender_clause_none;          /* "No speaker has the same gender ..." */
  cot_gender gender_clause_gender; /* "... are both/all GENDER" */
  unsigned gender_clause_mask;     /* bit k = SpeakerK+1 named */
  int gender_clause_bad;           /* a speaker number out of range */
  /* ranking chain "4(Speaker1) > 2(Speaker2)" */
  int has_ranking;
  int rank_n;
  int rank_spk[COT_PARSE_MAX_SPK];    /* 0-based, -1 when out of range */
  double rank_val[COT_PARSE_MAX_SPK];
  char rank_rel[COT_PARSE_MAX_SPK];   /* rank_rel[i] joins entries i and i+1: '>' or '=' */
  int rank_complete;                  /* the clause was read to its end */
  /* conclusion */
  cot_reason reason;
  cot_gender reason_gender; /* for COT_REASON_ONLY_GENDER / TOP_GENDER */
  int target;               /* 0-based chosen target, -1 when none was read */
} cot_parsed;

/* Parses n bytes of s (need not be NUL-terminated). Format problems are results, not errors:
 * the only error is TS_ENOMEM (then *p still holds the format check and answer). */
int cot_parse(const char *s, size_t n, cot_parsed *p, ts_err *e);
/* Format check only (no allocation); answer offsets as in cot_parsed. */
cot_fmt_err cot_format_check(const char *s, size_t n, size_t *answer_off, size_t *answer_len,
                             size_t *think_off, size_t *think_len);
/* The answer as a malloc'd string: "" on a format error (scored as an empty hypothesis). */
int cot_answer(const char *s, size_t n, char **out, ts_err *e);
const char *cot_fmt_err_name(cot_fmt_err f);

/* ---- step-by-step check against the facts ---- */

typedef enum cot_step_status { COT_STEP_OK = 0, COT_STEP_WRONG, COT_STEP_MISSING } cot_step_status;

typedef struct cot_step {
  char name[32];   /* e.g. "audio.total", "speaker2.span", "target.ranking", "target" */
  cot_step_status status;
  char detail[160]; /* what was expected and what was read */
} cot_step;

#define COT_CHECK_MAX_STEPS 40

typedef struct cot_check_opts {
  int continuous;   /* similarities are scores (compare with the rounded clamped score) */
  double tol_s;     /* time tolerance (s) around the fact rounded to 2 decimals; <= 0: 0.05 */
  double tol_score; /* score tolerance (continuous mode) likewise; <= 0: 0.05. Pass e.g.
                     * 1e-6 to demand exactly the written value. Levels compare exactly. */
} cot_check_opts;

typedef struct cot_check {
  int n_steps;
  cot_step step[COT_CHECK_MAX_STEPS];
  int n_ok, n_wrong, n_missing;
} cot_check;

/* Steps, in order: audio.enrollment, audio.silence, audio.mixture, audio.total, audio.count,
 * enrollment.gender, then per true speaker K: speakerK.gender, speakerK.span,
 * speakerK.similarity; speakers.count (blocks = speakers, none extra); for n >= 2 (or when
 * present) target.gender (the gender clause names exactly the speakers of the enrollment's
 * gender) and target.ranking (the chain lists every speaker once with its written value and
 * every > and = is true); target.reason (the conclusion's claim is true of the facts); target
 * (the chosen speaker is the true target). o may be NULL (level mode, default tolerances).
 * An empty think yields every step MISSING. Numbers are compared with the facts rounded as the
 * builder writes them. Errors: TS_EARG for invalid facts. */
int cot_check_run(const cot_parsed *p, const cot_facts *f, const cot_check_opts *o, cot_check *out,
                  ts_err *e);
const char *cot_step_status_name(cot_step_status s);

#endif
