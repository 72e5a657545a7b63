/* cot.h — the facts of one sample and the chain-of-thought text built from them (paper §2.2,
 * Figure 2): similarity levels, the canonical number format and the target statement.
 *
 * Template (one line in reality; speakers in mixture-source order, K = 1..n):
 *
 *   <think>Audio information: 0-E s is enrollment speech; E-(E+S) s is silence;
 *   (E+S)-(E+S+M) s is {single-speaker audio | n-speaker mixture audio}; total duration T s.
 *   Enrollment speech: {male|female}. SpeakerK information: {male|female}; from A to B s;
 *   similarity to the enrollment speech is V. ... Target speaker: STATEMENT Final
 *   output:</think><answer>TRANSCRIPT</answer>
 *
 * where numbers are written "0-3s", "from 6 to 9.04s", "total duration 9.04s" (unit glued to the
 * number). The BASE / random-reasoning empty form is <think></think><answer>TRANSCRIPT</answer>.
 * No whitespace is written between the tags; the parser (src/infer/cot_parse.h) tolerates it.
 *
 * Canonical number format (every number in the text): round to 2 decimals (llround(x * 100),
 * halves away from zero), then write the integer part alone when the hundredths are 0 ("6",
 * not "6.0"), otherwise up to 2 decimals with trailing zeros stripped ("9.1", "9.04"). -0 is "0".
 * The paper's "6.0" therefore reads "6" here; the parser accepts either.
 *
 * Similarity: V is the level (1..5) or, in continuous mode (Table 2 ablation,
 * cot_opts.continuous), the score clamped to [0, 1] in the number format above ("0.83", "1").
 * Level rule (cot_level): s = clamp(score, 0, 1) (NaN counts as 0), level = min(5, floor(5s) + 1)
 * in double arithmetic. So [0, 0.2) -> 1, [0.2, 0.4) -> 2, [0.4, 0.6) -> 3, [0.6, 0.8) -> 4,
 * [0.8, 1] -> 5: an edge belongs to the upper level, negatives are level 1, 1.0 is level 5.
 * The facts carry both level and score: the level written is cot_facts.spk[k].level (normally
 * cot_level(score), see cot_facts_set_levels); the score breaks ties and is written in
 * continuous mode.
 *
 * Ranking of speakers (cot_sim_cmp): by the written value V (level, or rounded clamped score),
 * then by the raw continuous score. "X has the highest similarity score" among a set means X
 * ranks strictly above every other member of the set in that order.
 *
 * Target statement, n = 1 (paper, verbatim):
 *   "Since this is a single-speaker audio, the Speaker1 must be the target speaker."
 * n >= 2: three clauses separated by "; ", the last ending with ".":
 *  1. gender clause, G = the speakers (index order) whose gender equals the enrollment's:
 *       |G| = 1:  "Speaker1 and the enrollment speech are both male"            (paper)
 *       |G| >= 2: "Speaker1, Speaker3 and the enrollment speech are all male"
 *       |G| = 0:  "No speaker has the same gender as the enrollment speech"
 *  2. ranking chain over ALL speakers (as the paper's "4(Speaker1) > 2(Speaker2)" lists the
 *     female Speaker2 too), sorted by cot_sim_cmp, best first, with ties by index; adjacent
 *     entries are joined by " > " when their written values differ and " = " when equal:
 *       "4(Speaker1) > 3(Speaker3) = 3(Speaker2)"
 *  3. conclusion about the true target T (cot_facts.target), the first that is true:
 *     a. T ranks strictly first among all speakers:
 *        "SpeakerT has the highest similarity score to the enrollment speech and is the target
 *        speaker."                                                              (paper)
 *     b. T is the only speaker of the enrollment's gender:
 *        "SpeakerT is the only male speaker and is the target speaker."
 *     c. T has the enrollment's gender and ranks strictly first among G:
 *        "SpeakerT has the highest similarity score among the male speakers and is the target
 *        speaker."
 *     d. otherwise: "SpeakerT does not have the highest similarity score, but it is the target
 *        speaker."
 * The selection rule of the paper (candidates = G, or all speakers when G is empty; the highest
 * level among them; ties by the higher continuous score) names T exactly in cases a-c whenever
 * T has the enrollment's gender. Levels come from a real speaker encoder and can disagree with
 * the truth (an interferer of the same gender may score higher; gender labels may disagree with
 * the enrollment): the CoT is built from ground truth, so the builder never names the rule's
 * pick in that case. It names the true target, reports the true ordering in the chain and uses
 * the truthful sentence d (or a/b when those happen to hold). Every statement is therefore true
 * of the facts and the stated target is always cot_facts.target.
 *
 * Ownership: builders return malloc'd NUL-terminated strings the caller frees with free(). */
#ifndef TS_COT_H
#define TS_COT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define COT_MAX_SPEAKERS 3
#define COT_NUM_MAX 32 /* buffer size for one formatted number */

typedef enum cot_gender { COT_GENDER_NONE = 0, COT_MALE = 1, COT_FEMALE = 2 } cot_gender;

typedef struct cot_speaker {
  cot_gender gender;
  double start, end; /* span in input time, seconds (inside the mixture part) */
  double score;      /* cosine(enrollment, this source); finite */
  int level;         /* 1..5, normally cot_level(score) */
} cot_speaker;

typedef struct cot_facts {
  double enroll_dur;   /* seconds: enrollment speech at [0, enroll_dur) */
  double silence_dur;  /* then silence */
  double mix_dur;      /* then the mixture */
  double total_dur;    /* = enroll + silence + mix (within 0.01 s) */
  cot_gender enroll_gender;
  int n_speakers;      /* 1..COT_MAX_SPEAKERS */
  cot_speaker spk[COT_MAX_SPEAKERS]; /* mixture-source order */
  int target;          /* 0-based index of the true target in spk */
} cot_facts;

typedef struct cot_opts {
  int continuous; /* 1: write scores (Table 2 "similarity score"), 0: levels (default) */
} cot_opts;

/* The conclusion forms of the target statement (also what the parser recognises). */
typedef enum cot_reason {
  COT_REASON_NONE = 0,    /* not found / not recognised */
  COT_REASON_SINGLE,      /* n = 1: "must be the target speaker" */
  COT_REASON_TOP,         /* a */
  COT_REASON_ONLY_GENDER, /* b */
  COT_REASON_TOP_GENDER,  /* c */
  COT_REASON_NOT_TOP      /* d */
} cot_reason;

/* Level 1..5 of a cosine score (rule above). */
int cot_level(double score);
/* Sets spk[k].level = cot_level(spk[k].score) for every speaker. */
void cot_facts_set_levels(cot_facts *f);
/* Score clamped to [0, 1] (NaN -> 0). */
double cot_clamp01(double score);
/* x rounded to 2 decimals, as written. */
double cot_round2(double x);
/* Writes x in the canonical number format into out (COT_NUM_MAX bytes). */
void cot_fmt_num(double x, char out[COT_NUM_MAX]);
/* "male" / "female" / "unknown". */
const char *cot_gender_name(cot_gender g);
/* Reads "male"/"female" (also "m"/"f", any case); COT_GENDER_NONE otherwise. */
cot_gender cot_gender_from(const char *s);

/* The similarity value written for speaker k: its level, or cot_round2(cot_clamp01(score)). */
double cot_written_sim(const cot_facts *f, int k, int continuous);
/* Ranking order: > 0 when speaker a ranks above b (written value, then raw score), 0 on a
 * full tie, < 0 otherwise. */
int cot_sim_cmp(const cot_facts *f, int a, int b, int continuous);
/* 1 when speaker t is in mask (bit k = speaker k) and ranks strictly above every other
 * speaker in mask. */
int cot_is_top(const cot_facts *f, int t, unsigned mask, int continuous);
/* The reason form the builder writes for these facts (n = 1: COT_REASON_SINGLE). */
cot_reason cot_reason_for(const cot_facts *f, int continuous);
const char *cot_reason_name(cot_reason r);

/* Fills f with random valid facts (1..3 speakers, random genders, spans, scores including
 * level edges and ties, the enrollment's gender mostly the target's, levels mostly
 * cot_level(score)), drawn from Philox (seed, index): for tests, fuzzing and demos. */
void cot_facts_random(cot_facts *f, uint64_t seed, uint64_t index);

/* Checks that the facts can be written truthfully: finite numbers, durations >= 0 with
 * mix_dur > 0, total = sum within 0.01 s, 1..3 speakers, known genders, 0 <= start <= end,
 * spans inside [enroll+silence, total] within 0.01 s, levels 1..5, target in range.
 * o may be NULL (level mode). */
int cot_facts_validate(const cot_facts *f, const cot_opts *o, ts_err *e);

/* The think body (text between <think> and </think>, ending in "Final output:"). */
int cot_build_think(const cot_facts *f, const cot_opts *o, char **out, ts_err *e);
/* The full response <think>BODY</think><answer>TRANSCRIPT</answer>. The transcript must not
 * contain any of the four tags. */
int cot_build(const cot_facts *f, const cot_opts *o, const char *transcript, char **out,
              ts_err *e);
/* The empty-think form <think></think><answer>TRANSCRIPT</answer> (BASE stage, random
 * reasoning). */
int cot_build_empty(const char *transcript, char **out, ts_err *e);

#endif
