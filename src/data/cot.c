/* cot.c — similarity levels, the canonical number format and the Figure 2 CoT builder. */
#include "data/cot.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/philox.h"

/* ---- a small growable string ---- */

typedef struct sbuf {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (k < 0) {
    b->oom = 1;
    return;
  }
  sb_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

static void sb_num(sbuf *b, double x) {
  char t[COT_NUM_MAX];
  cot_fmt_num(x, t);
  sb_str(b, t);
}

/* ---- numbers, levels, genders ---- */

double cot_clamp01(double score) {
  if (!(score > 0.0)) return 0.0; /* also NaN */
  if (score > 1.0) return 1.0;
  return score;
}

int cot_level(double score) {
  double s = cot_clamp01(score);
  int lv = (int)floor(s * 5.0) + 1;
  return lv > 5 ? 5 : lv;
}

void cot_facts_set_levels(cot_facts *f) {
  int n = f->n_speakers;
  if (n < 0) n = 0;
  if (n > COT_MAX_SPEAKERS) n = COT_MAX_SPEAKERS;
  for (int k = 0; k < n; k++) f->spk[k].level = cot_level(f->spk[k].score);
}

double cot_round2(double x) { return (double)llround(x * 100.0) / 100.0; }

void cot_fmt_num(double x, char out[COT_NUM_MAX]) {
  if (!isfinite(x) || fabs(x) > 1e15) {
    snprintf(out, COT_NUM_MAX, "0");
    return;
  }
  long long c = llround(x * 100.0);
  const char *sign = c < 0 ? "-" : "";
  long long a = c < 0 ? -c : c;
  long long ip = a / 100, fr = a % 100;
  if (fr == 0)
    snprintf(out, COT_NUM_MAX, "%s%lld", a ? sign : "", ip);
  else if (fr % 10 == 0)
    snprintf(out, COT_NUM_MAX, "%s%lld.%lld", sign, ip, fr / 10);
  else
    snprintf(out, COT_NUM_MAX, "%s%lld.%02lld", sign, ip, fr);
}

const char *cot_gender_name(cot_gender g) {
  switch (g) {
    case COT_MALE: return "male";
    case COT_FEMALE: return "female";
    default: return "unknown";
  }
}

cot_gender cot_gender_from(const char *s) {
  if (!s) return COT_GENDER_NONE;
  if (!strcasecmp(s, "male") || !strcasecmp(s, "m")) return COT_MALE;
  if (!strcasecmp(s, "female") || !strcasecmp(s, "f")) return COT_FEMALE;
  return COT_GENDER_NONE;
}

const char *cot_reason_name(cot_reason r) {
  switch (r) {
    case COT_REASON_SINGLE: return "single speaker";
    case COT_REASON_TOP: return "highest similarity";
    case COT_REASON_ONLY_GENDER: return "only speaker of the gender";
    case COT_REASON_TOP_GENDER: return "highest similarity among the gender";
    case COT_REASON_NOT_TOP: return "not the highest similarity";
    default: return "none";
  }
}

/* ---- ranking ---- */

double cot_written_sim(const cot_facts *f, int k, int continuous) {
  if (continuous) return cot_round2(cot_clamp01(f->spk[k].score));
  return (double)f->spk[k].level;
}

int cot_sim_cmp(const cot_facts *f, int a, int b, int continuous) {
  double va = cot_written_sim(f, a, continuous), vb = cot_written_sim(f, b, continuous);
  if (va != vb) return va > vb ? 1 : -1;
  double sa = f->spk[a].score, sb = f->spk[b].score;
  if (sa != sb) return sa > sb ? 1 : -1;
  return 0;
}

int cot_is_top(const cot_facts *f, int t, unsigned mask, int continuous) {
  if (t < 0 || t >= f->n_speakers || !(mask & (1u << t))) return 0;
  for (int k = 0; k < f->n_speakers; k++)
    if (k != t && (mask & (1u << k)) && cot_sim_cmp(f, t, k, continuous) <= 0) return 0;
  return 1;
}

static unsigned gender_mask(const cot_facts *f, cot_gender g) {
  unsigned m = 0;
  for (int k = 0; k < f->n_speakers; k++)
    if (f->spk[k].gender == g) m |= 1u << k;
  return m;
}

static int popcount3(unsigned m) {
  int c = 0;
  for (; m; m &= m - 1) c++;
  return c;
}

cot_reason cot_reason_for(const cot_facts *f, int continuous) {
  int n = f->n_speakers, t = f->target;
  if (n == 1) return COT_REASON_SINGLE;
  unsigned all = (1u << n) - 1, g = gender_mask(f, f->enroll_gender);
  int t_in_g = (g >> t) & 1u;
  if (cot_is_top(f, t, all, continuous)) return COT_REASON_TOP;
  if (t_in_g && popcount3(g) == 1) return COT_REASON_ONLY_GENDER;
  if (t_in_g && cot_is_top(f, t, g, continuous)) return COT_REASON_TOP_GENDER;
  return COT_REASON_NOT_TOP;
}

/* ---- random facts ---- */

void cot_facts_random(cot_facts *f, uint64_t seed, uint64_t index) {
  static const double edges[6] = {0.0, 0.2, 0.4, 0.6, 0.8, 1.0};
  philox_rng r;
  philox_init(&r, seed, philox_stream_id(index, 0x636f742d66616374ull, 1));
  memset(f, 0, sizeof *f);
  int n = 1 + (int)philox_below(&r, COT_MAX_SPEAKERS);
  f->n_speakers = n;
  f->enroll_dur = philox_below(&r, 2) ? 3.0 : 0.5 + 4.5 * philox_uniform_d(&r);
  f->silence_dur = philox_below(&r, 2) ? 3.0 : 4.0 * philox_uniform_d(&r);
  f->mix_dur = 0.5 + 24.5 * philox_uniform_d(&r);
  f->total_dur = f->enroll_dur + f->silence_dur + f->mix_dur;
  if (philox_below(&r, 8) == 0) f->total_dur += 0.008 * (philox_uniform_d(&r) - 0.5);
  f->target = (int)philox_below(&r, (uint64_t)n);
  double mix0 = f->enroll_dur + f->silence_dur, end = mix0 + f->mix_dur;
  for (int k = 0; k < n; k++) {
    cot_speaker *s = &f->spk[k];
    s->gender = philox_below(&r, 2) ? COT_MALE : COT_FEMALE;
    s->start = philox_below(&r, 2) ? mix0 : mix0 + 0.6 * f->mix_dur * philox_uniform_d(&r);
    s->end = philox_below(&r, 3) ? end : s->start + (end - s->start) * philox_uniform_d(&r);
    uint64_t kind = philox_below(&r, 10);
    if (kind < 2) s->score = edges[philox_below(&r, 6)];
    else if (kind < 4 && k > 0) s->score = f->spk[philox_below(&r, (uint64_t)k)].score;
    else s->score = -0.3 + 1.5 * philox_uniform_d(&r);
    s->level = philox_below(&r, 10) ? cot_level(s->score) : 1 + (int)philox_below(&r, 5);
  }
  f->enroll_gender = philox_below(&r, 10) ? f->spk[f->target].gender
                                          : (philox_below(&r, 2) ? COT_MALE : COT_FEMALE);
}

/* ---- validation ---- */

#define COT_EPS_S 0.01

static int bad_num(double x) { return !isfinite(x) || fabs(x) > 1e6; }

int cot_facts_validate(const cot_facts *f, const cot_opts *o, ts_err *e) {
  int cont = o && o->continuous;
  if (!f) return err_set(e, TS_EARG, "cot: no facts");
  if (bad_num(f->enroll_dur) || bad_num(f->silence_dur) || bad_num(f->mix_dur) ||
      bad_num(f->total_dur))
    return err_set(e, TS_EARG, "cot: durations must be finite numbers");
  if (f->enroll_dur < 0 || f->silence_dur < 0 || !(f->mix_dur > 0))
    return err_set(e, TS_EARG, "cot: durations must be >= 0 and the mixture's > 0 (got %g, %g, %g)",
                   f->enroll_dur, f->silence_dur, f->mix_dur);
  double sum = f->enroll_dur + f->silence_dur + f->mix_dur;
  if (fabs(f->total_dur - sum) > COT_EPS_S)
    return err_set(e, TS_EARG, "cot: total duration %g is not enrollment + silence + mixture = %g",
                   f->total_dur, sum);
  if (f->n_speakers < 1 || f->n_speakers > COT_MAX_SPEAKERS)
    return err_set(e, TS_EARG, "cot: %d speakers (1..%d supported)", f->n_speakers,
                   COT_MAX_SPEAKERS);
  if (f->enroll_gender != COT_MALE && f->enroll_gender != COT_FEMALE)
    return err_set(e, TS_EARG, "cot: enrollment gender unknown");
  if (f->target < 0 || f->target >= f->n_speakers)
    return err_set(e, TS_EARG, "cot: target %d out of range 0..%d", f->target, f->n_speakers - 1);
  double mix0 = f->enroll_dur + f->silence_dur;
  for (int k = 0; k < f->n_speakers; k++) {
    const cot_speaker *s = &f->spk[k];
    if (s->gender != COT_MALE && s->gender != COT_FEMALE)
      return err_set(e, TS_EARG, "cot: speaker %d: gender unknown", k + 1);
    if (bad_num(s->start) || bad_num(s->end) || !isfinite(s->score))
      return err_set(e, TS_EARG, "cot: speaker %d: span and score must be finite", k + 1);
    if (s->start > s->end)
      return err_set(e, TS_EARG, "cot: speaker %d: span %g..%g is reversed", k + 1, s->start,
                     s->end);
    if (s->start < mix0 - COT_EPS_S || s->end > f->total_dur + COT_EPS_S)
      return err_set(e, TS_EARG, "cot: speaker %d: span %g..%g is outside the mixture %g..%g",
                     k + 1, s->start, s->end, mix0, f->total_dur);
    if (!cont && (s->level < 1 || s->level > 5))
      return err_set(e, TS_EARG, "cot: speaker %d: level %d is not in 1..5", k + 1, s->level);
  }
  return TS_OK;
}

/* ---- builder ---- */

static void write_think(sbuf *b, const cot_facts *f, int cont) {
  int n = f->n_speakers, t = f->target;
  double e0 = f->enroll_dur, s1 = e0 + f->silence_dur, m1 = s1 + f->mix_dur;
  sb_str(b, "Audio information: 0-");
  sb_num(b, e0);
  sb_str(b, "s is enrollment speech; ");
  sb_num(b, e0);
  sb_str(b, "-");
  sb_num(b, s1);
  sb_str(b, "s is silence; ");
  sb_num(b, s1);
  sb_str(b, "-");
  sb_num(b, m1);
  if (n == 1)
    sb_str(b, "s is single-speaker audio; ");
  else
    sb_printf(b, "s is %d-speaker mixture audio; ", n);
  sb_str(b, "total duration ");
  sb_num(b, f->total_dur);
  sb_printf(b, "s. Enrollment speech: %s.", cot_gender_name(f->enroll_gender));
  for (int k = 0; k < n; k++) {
    const cot_speaker *s = &f->spk[k];
    sb_printf(b, " Speaker%d information: %s; from ", k + 1, cot_gender_name(s->gender));
    sb_num(b, s->start);
    sb_str(b, " to ");
    sb_num(b, s->end);
    sb_str(b, "s; similarity to the enrollment speech is ");
    sb_num(b, cot_written_sim(f, k, cont));
    sb_str(b, ".");
  }
  sb_str(b, " Target speaker: ");
  if (n == 1) {
    sb_str(b, "Since this is a single-speaker audio, the Speaker1 must be the target speaker.");
  } else {
    const char *gw = cot_gender_name(f->enroll_gender);
    unsigned g = gender_mask(f, f->enroll_gender);
    int ng = popcount3(g);
    /* 1. gender clause */
    if (ng == 0) {
      sb_str(b, "No speaker has the same gender as the enrollment speech; ");
    } else {
      int seen = 0;
      for (int k = 0; k < n; k++) {
        if (!(g & (1u << k))) continue;
        if (seen) sb_str(b, ", ");
        sb_printf(b, "Speaker%d", k + 1);
        seen++;
      }
      sb_printf(b, " and the enrollment speech are %s %s; ", ng == 1 ? "both" : "all", gw);
    }
    /* 2. ranking chain over all speakers, best first (insertion sort: n <= 3) */
    int ord[COT_MAX_SPEAKERS];
    for (int k = 0; k < n; k++) {
      int j = k;
      while (j > 0 && cot_sim_cmp(f, k, ord[j - 1], cont) > 0) {
        ord[j] = ord[j - 1];
        j--;
      }
      ord[j] = k;
    }
    for (int i = 0; i < n; i++) {
      if (i) {
        double a = cot_written_sim(f, ord[i - 1], cont), c = cot_written_sim(f, ord[i], cont);
        sb_str(b, a == c ? " = " : " > ");
      }
      sb_num(b, cot_written_sim(f, ord[i], cont));
      sb_printf(b, "(Speaker%d)", ord[i] + 1);
    }
    sb_str(b, "; ");
    /* 3. conclusion */
    switch (cot_reason_for(f, cont)) {
      case COT_REASON_TOP:
        sb_printf(b, "Speaker%d has the highest similarity score to the enrollment speech and is "
                     "the target speaker.", t + 1);
        break;
      case COT_REASON_ONLY_GENDER:
        sb_printf(b, "Speaker%d is the only %s speaker and is the target speaker.", t + 1, gw);
        break;
      case COT_REASON_TOP_GENDER:
        sb_printf(b, "Speaker%d has the highest similarity score among the %s speakers and is the "
                     "target speaker.", t + 1, gw);
        break;
      default:
        sb_printf(b, "Speaker%d does not have the highest similarity score, but it is the target "
                     "speaker.", t + 1);
        break;
    }
  }
  sb_str(b, " Final output:");
}

static const char *const COT_TAGS[4] = {"<think>", "</think>", "<answer>", "</answer>"};

static int check_transcript(const char *tr, ts_err *e) {
  if (!tr) return err_set(e, TS_EARG, "cot: no transcript");
  for (int i = 0; i < 4; i++)
    if (strstr(tr, COT_TAGS[i]))
      return err_set(e, TS_EARG, "cot: transcript contains the tag %s", COT_TAGS[i]);
  return TS_OK;
}

static int finish(sbuf *b, char **out, ts_err *e) {
  if (b->oom) {
    free(b->p);
    return err_set(e, TS_ENOMEM, "cot: out of memory");
  }
  *out = b->p;
  return TS_OK;
}

int cot_build_think(const cot_facts *f, const cot_opts *o, char **out, ts_err *e) {
  *out = NULL;
  int rc = cot_facts_validate(f, o, e);
  if (rc) return rc;
  sbuf b = {0};
  write_think(&b, f, o && o->continuous);
  return finish(&b, out, e);
}

int cot_build(const cot_facts *f, const cot_opts *o, const char *transcript, char **out,
              ts_err *e) {
  *out = NULL;
  int rc = cot_facts_validate(f, o, e);
  if (rc) return rc;
  if ((rc = check_transcript(transcript, e))) return rc;
  sbuf b = {0};
  sb_str(&b, "<think>");
  write_think(&b, f, o && o->continuous);
  sb_str(&b, "</think><answer>");
  sb_str(&b, transcript);
  sb_str(&b, "</answer>");
  return finish(&b, out, e);
}

int cot_build_empty(const char *transcript, char **out, ts_err *e) {
  *out = NULL;
  int rc = check_transcript(transcript, e);
  if (rc) return rc;
  sbuf b = {0};
  sb_str(&b, "<think></think><answer>");
  sb_str(&b, transcript);
  sb_str(&b, "</answer>");
  return finish(&b, out, e);
}
