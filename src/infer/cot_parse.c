/* cot_parse.c — format check, answer extraction, structured CoT parse and the step check. */
#include "infer/cot_parse.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- format check ---- */

static const char *const TAGS[4] = {"<think>", "</think>", "<answer>", "</answer>"};
static const size_t TAG_LEN[4] = {7, 8, 8, 9};

static int is_ws(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Index 0..3 of the tag starting at s[i], or -1. */
static int tag_at(const char *s, size_t n, size_t i) {
  if (i >= n || s[i] != '<') return -1;
  for (int k = 0; k < 4; k++)
    if (n - i >= TAG_LEN[k] && !memcmp(s + i, TAGS[k], TAG_LEN[k])) return k;
  return -1;
}

/* Position of the next tag at or after from (n when none); *which = its index. */
static size_t next_tag(const char *s, size_t n, size_t from, int *which) {
  size_t i = from;
  while (i < n) {
    const char *q = memchr(s + i, '<', n - i);
    if (!q) break;
    i = (size_t)(q - s);
    int k = tag_at(s, n, i);
    if (k >= 0) {
      *which = k;
      return i;
    }
    i++;
  }
  *which = -1;
  return n;
}

static size_t skip_ws(const char *s, size_t n, size_t i) {
  while (i < n && is_ws((unsigned char)s[i])) i++;
  return i;
}

cot_fmt_err cot_format_check(const char *s, size_t n, size_t *answer_off, size_t *answer_len,
                             size_t *think_off, size_t *think_len) {
  size_t ao = 0, al = 0, to = 0, tl = 0;
  cot_fmt_err r = COT_FMT_OK;
  int w;
  size_t i = s ? skip_ws(s, n, 0) : 0;
  if (!s || i == n) {
    r = COT_FMT_EMPTY;
    goto done;
  }
  if (memchr(s, 0, n)) {
    r = COT_FMT_NUL;
    goto done;
  }
  if (tag_at(s, n, i) != 0) {
    r = COT_FMT_NO_THINK;
    goto done;
  }
  size_t b0 = i + TAG_LEN[0];
  size_t j = next_tag(s, n, b0, &w);
  if (j == n) {
    r = COT_FMT_NO_THINK_CLOSE;
    goto done;
  }
  if (w != 1) {
    r = COT_FMT_TAG_IN_THINK;
    goto done;
  }
  size_t t0 = b0, t1 = j;
  i = skip_ws(s, n, j + TAG_LEN[1]);
  if (tag_at(s, n, i) != 2) {
    r = COT_FMT_NO_ANSWER;
    goto done;
  }
  size_t a0 = i + TAG_LEN[2];
  j = next_tag(s, n, a0, &w);
  if (j == n) {
    r = COT_FMT_NO_ANSWER_CLOSE;
    goto done;
  }
  if (w != 3) {
    r = COT_FMT_TAG_IN_ANSWER;
    goto done;
  }
  size_t a1 = j;
  if (skip_ws(s, n, j + TAG_LEN[3]) != n) {
    r = COT_FMT_TRAILING;
    goto done;
  }
  a0 = skip_ws(s, a1, a0);
  while (a1 > a0 && is_ws((unsigned char)s[a1 - 1])) a1--;
  ao = a0;
  al = a1 - a0;
  to = t0;
  tl = t1 - t0;
done:
  if (answer_off) *answer_off = ao;
  if (answer_len) *answer_len = al;
  if (think_off) *think_off = to;
  if (think_len) *think_len = tl;
  return r;
}

const char *cot_fmt_err_name(cot_fmt_err f) {
  switch (f) {
    case COT_FMT_OK: return "ok";
    case COT_FMT_EMPTY: return "empty output";
    case COT_FMT_NUL: return "NUL byte in output";
    case COT_FMT_NO_THINK: return "does not start with <think>";
    case COT_FMT_NO_THINK_CLOSE: return "no </think>";
    case COT_FMT_TAG_IN_THINK: return "tag inside <think>";
    case COT_FMT_NO_ANSWER: return "no <answer> after </think>";
    case COT_FMT_NO_ANSWER_CLOSE: return "no </answer>";
    case COT_FMT_TAG_IN_ANSWER: return "tag inside <answer>";
    case COT_FMT_TRAILING: return "text after </answer>";
  }
  return "unknown";
}

int cot_answer(const char *s, size_t n, char **out, ts_err *e) {
  size_t ao, al;
  *out = NULL;
  cot_fmt_err f = cot_format_check(s, n, &ao, &al, NULL, NULL);
  if (f != COT_FMT_OK) al = 0;
  char *a = malloc(al + 1);
  if (!a) return err_set(e, TS_ENOMEM, "cot_answer: out of memory");
  if (al) memcpy(a, s + ao, al);
  a[al] = 0;
  *out = a;
  return TS_OK;
}

/* ---- matching on normalised text (lower case, single spaces) ---- */

typedef struct cur {
  const char *t;
  size_t n; /* end of the region */
  size_t i;
  int ok;
} cur;

static int is_an(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static int is_dig(char c) { return c >= '0' && c <= '9'; }
static int is_letter(char c) { return c >= 'a' && c <= 'z'; }

/* Matches pat at the cursor. A space in pat matches an optional space; a space in the text is
 * also skipped before or after punctuation, never inside a word. */
static void c_lit(cur *c, const char *pat) {
  if (!c->ok) return;
  size_t i = c->i;
  char prev = 0;
  for (const char *q = pat; *q; q++) {
    if (*q == ' ') {
      if (i < c->n && c->t[i] == ' ') i++;
      prev = ' ';
      continue;
    }
    if (i < c->n && c->t[i] == ' ' && (!is_an(*q) || !is_an(prev))) i++;
    if (i >= c->n || c->t[i] != *q) {
      c->ok = 0;
      return;
    }
    i++;
    prev = *q;
  }
  c->i = i;
}

static void c_sp(cur *c) {
  if (c->ok && c->i < c->n && c->t[c->i] == ' ') c->i++;
}

/* An unsigned decimal: digits, optionally '.' and digits (at most 12 of each). */
static double c_num(cur *c) {
  if (!c->ok) return 0;
  c_sp(c);
  size_t i = c->i, j = i;
  while (j < c->n && is_dig(c->t[j]) && j - i < 12) j++;
  if (j == i || (j < c->n && is_dig(c->t[j]))) {
    c->ok = 0;
    return 0;
  }
  if (j + 1 < c->n && c->t[j] == '.' && is_dig(c->t[j + 1])) {
    size_t k = j + 1;
    while (k < c->n && is_dig(c->t[k]) && k - j <= 12) k++;
    if (k < c->n && is_dig(c->t[k])) {
      c->ok = 0;
      return 0;
    }
    j = k;
  }
  char buf[32];
  memcpy(buf, c->t + i, j - i);
  buf[j - i] = 0;
  c->i = j;
  return strtod(buf, NULL);
}

/* "speaker" + 1..3 digits; returns the number or -1. */
static int c_spk(cur *c) {
  c_lit(c, "speaker");
  if (!c->ok) return -1;
  c_sp(c);
  size_t i = c->i, j = i;
  while (j < c->n && is_dig(c->t[j]) && j - i < 3) j++;
  if (j == i || (j < c->n && is_dig(c->t[j]))) {
    c->ok = 0;
    return -1;
  }
  int k = 0;
  for (size_t q = i; q < j; q++) k = k * 10 + (c->t[q] - '0');
  c->i = j;
  return k;
}

static cot_gender c_gender(cur *c) {
  if (!c->ok) return COT_GENDER_NONE;
  cur a = *c;
  c_lit(&a, "female");
  if (a.ok && (a.i >= a.n || !is_letter(a.t[a.i]))) {
    *c = a;
    return COT_FEMALE;
  }
  a = *c;
  c_lit(&a, "male");
  if (a.ok && (a.i >= a.n || !is_letter(a.t[a.i]))) {
    *c = a;
    return COT_MALE;
  }
  c->ok = 0;
  return COT_GENDER_NONE;
}

#define NPOS SIZE_MAX

/* First position p in [from, to) where pat matches inside [.., to); *end = after the match. */
static size_t find(const char *t, size_t from, size_t to, const char *pat, size_t *end) {
  if (end) *end = from;
  for (size_t p = from; p < to; p++) {
    if (t[p] != pat[0]) continue;
    cur c = {t, to, p, 1};
    c_lit(&c, pat);
    if (c.ok) {
      if (end) *end = c.i;
      return p;
    }
  }
  return NPOS;
}

/* A speaker token at p: "speaker" not preceded by a letter, then a number. */
static int spk_token_at(const char *t, size_t to, size_t p, size_t *end) {
  if (t[p] != 's' || (p > 0 && is_letter(t[p - 1]))) return -1;
  cur c = {t, to, p, 1};
  int k = c_spk(&c);
  if (!c.ok) return -1;
  *end = c.i;
  return k;
}

/* ---- structured parse ---- */

static void parse_audio(const char *t, size_t a, size_t z, cot_parsed *p) {
  size_t c0 = a;
  while (c0 < z) {
    size_t c1 = c0;
    while (c1 < z && t[c1] != ';') c1++;
    cur c = {t, c1, c0, 1};
    size_t e = 0;
    if (find(t, c0, c1, "total duration", &e) != NPOS) {
      c.i = e;
      double v = c_num(&c);
      c_lit(&c, "s");
      if (c.ok && !p->has_total) {
        p->has_total = 1;
        p->total = v;
      }
    } else if (find(t, c0, c1, "enrollment speech", NULL) != NPOS) {
      double x = c_num(&c);
      c_lit(&c, "-");
      double y = c_num(&c);
      c_lit(&c, "s is enrollment speech");
      if (c.ok && !p->has_enroll) {
        p->has_enroll = 1;
        p->enroll_start = x;
        p->enroll_end = y;
      }
    } else if (find(t, c0, c1, "silence", NULL) != NPOS) {
      double x = c_num(&c);
      c_lit(&c, "-");
      double y = c_num(&c);
      c_lit(&c, "s is silence");
      if (c.ok && !p->has_silence) {
        p->has_silence = 1;
        p->silence_start = x;
        p->silence_end = y;
      }
    } else if (find(t, c0, c1, "speaker", NULL) != NPOS) {
      double x = c_num(&c);
      c_lit(&c, "-");
      double y = c_num(&c);
      c_lit(&c, "s is");
      int nspk = 0;
      if (c.ok) {
        cur d = c;
        c_lit(&d, "single-speaker audio");
        if (d.ok) {
          nspk = 1;
        } else {
          double k = c_num(&c);
          c_lit(&c, "-speaker mixture audio");
          if (c.ok && k >= 1 && k <= 99 && k == floor(k)) nspk = (int)k;
          else c.ok = 0;
        }
      }
      if (c.ok && !p->has_mixture) {
        p->has_mixture = 1;
        p->mix_start = x;
        p->mix_end = y;
        p->n_speakers = nspk;
      }
    }
    c0 = c1 + 1;
  }
}

#define MAX_HEADERS 64

static void parse_blocks(const char *t, size_t a, size_t z, cot_parsed *p) {
  size_t hs[MAX_HEADERS], he[MAX_HEADERS];
  int hk[MAX_HEADERS], nh = 0;
  for (size_t q = a; q < z; q++) {
    size_t e;
    int k = spk_token_at(t, z, q, &e);
    if (k < 0) continue;
    cur c = {t, z, e, 1};
    c_lit(&c, " information:");
    if (!c.ok) continue;
    if (nh == MAX_HEADERS) {
      p->extra_blocks++;
      continue;
    }
    hs[nh] = q;
    he[nh] = c.i;
    hk[nh] = k;
    nh++;
    q = c.i - 1;
  }
  for (int h = 0; h < nh; h++) {
    size_t b0 = he[h], b1 = h + 1 < nh ? hs[h + 1] : z;
    int k = hk[h];
    if (k < 1 || k > COT_PARSE_MAX_SPK || p->spk[k - 1].present) {
      p->extra_blocks++;
      continue;
    }
    cot_parsed_spk *s = &p->spk[k - 1];
    s->present = 1;
    p->n_blocks++;
    cur c = {t, b1, b0, 1};
    s->gender = c_gender(&c);
    size_t f = find(t, b0, b1, "from", NULL);
    if (f != NPOS) {
      cur d = {t, b1, f, 1};
      c_lit(&d, "from");
      double x = c_num(&d);
      c_lit(&d, "to");
      double y = c_num(&d);
      c_lit(&d, "s");
      if (d.ok) {
        s->has_span = 1;
        s->start = x;
        s->end = y;
      }
    }
    size_t e;
    if (find(t, b0, b1, "similarity to the enrollment speech is", &e) != NPOS) {
      cur d = {t, b1, e, 1};
      double v = c_num(&d);
      if (d.ok) {
        s->has_sim = 1;
        s->sim = v;
      }
    }
  }
}

static int first_spk_in(const char *t, size_t a, size_t z) {
  for (size_t q = a; q < z; q++) {
    size_t e;
    int k = spk_token_at(t, z, q, &e);
    if (k >= 0) return k;
  }
  return -1;
}

static void parse_conclusion(const char *t, size_t a, size_t z, cot_parsed *p) {
  int k = first_spk_in(t, a, z);
  p->target = (k >= 1 && k <= COT_PARSE_MAX_SPK) ? k - 1 : -1;
  size_t e;
  if (find(t, a, z, "must be the target speaker", NULL) != NPOS) {
    p->reason = COT_REASON_SINGLE;
  } else if (find(t, a, z, "does not have the highest similarity score", NULL) != NPOS) {
    p->reason = COT_REASON_NOT_TOP;
  } else if (find(t, a, z, "has the highest similarity score to the enrollment speech", NULL) !=
             NPOS) {
    p->reason = COT_REASON_TOP;
  } else if (find(t, a, z, "has the highest similarity score among the", &e) != NPOS) {
    cur c = {t, z, e, 1};
    p->reason_gender = c_gender(&c);
    c_lit(&c, " speakers");
    if (c.ok) p->reason = COT_REASON_TOP_GENDER;
  } else if (find(t, a, z, "is the only", &e) != NPOS) {
    cur c = {t, z, e, 1};
    p->reason_gender = c_gender(&c);
    c_lit(&c, " speaker");
    if (c.ok) p->reason = COT_REASON_ONLY_GENDER;
  }
}

static void parse_gender_clause(const char *t, size_t a, size_t z, size_t q, size_t qe,
                                cot_parsed *p) {
  p->has_gender_clause = 1;
  for (size_t i = a; i < q; i++) {
    size_t e;
    int k = spk_token_at(t, q, i, &e);
    if (k < 0) continue;
    if (k >= 1 && k <= COT_PARSE_MAX_SPK) p->gender_clause_mask |= 1u << (k - 1);
    else p->gender_clause_bad = 1;
    i = e - 1;
  }
  cur c = {t, z, qe, 1};
  cur d = c;
  c_lit(&d, " both");
  if (!d.ok) {
    d = c;
    c_lit(&d, " all");
  }
  p->gender_clause_gender = c_gender(&d);
}

static void parse_ranking(const char *t, size_t a, size_t z, cot_parsed *p) {
  cur c = {t, z, a, 1};
  int n = 0;
  for (;;) {
    double v = c_num(&c);
    c_lit(&c, "(");
    int k = c_spk(&c);
    c_lit(&c, ")");
    if (!c.ok) break;
    p->rank_spk[n] = (k >= 1 && k <= COT_PARSE_MAX_SPK) ? k - 1 : -1;
    p->rank_val[n] = v;
    n++;
    c_sp(&c);
    if (c.i >= z || n == COT_PARSE_MAX_SPK) break;
    char r = t[c.i];
    if (r != '>' && r != '=') {
      c.ok = 0;
      break;
    }
    p->rank_rel[n - 1] = r;
    c.i++;
  }
  p->has_ranking = 1;
  p->rank_n = n;
  c_sp(&c);
  p->rank_complete = c.ok && c.i >= z;
}

static void parse_target(const char *t, size_t a, size_t z, cot_parsed *p) {
  size_t c0 = a;
  while (c0 < z) {
    size_t c1 = c0;
    while (c1 < z && t[c1] != ';') c1++;
    size_t s0 = c0 < c1 && t[c0] == ' ' ? c0 + 1 : c0;
    size_t q, qe;
    if (find(t, s0, c1, "the target speaker", NULL) != NPOS) {
      if (p->reason == COT_REASON_NONE && p->target < 0) parse_conclusion(t, s0, c1, p);
    } else if (find(t, s0, c1, "no speaker has the same gender", NULL) != NPOS) {
      if (!p->has_gender_clause) {
        p->has_gender_clause = 1;
        p->gender_clause_none = 1;
      }
    } else if ((q = find(t, s0, c1, "and the enrollment speech are", &qe)) != NPOS) {
      if (!p->has_gender_clause) parse_gender_clause(t, s0, c1, q, qe, p);
    } else if (s0 < c1 && is_dig(t[s0])) {
      if (!p->has_ranking) parse_ranking(t, s0, c1, p);
    }
    c0 = c1 + 1;
  }
}

static size_t min_pos(size_t a, size_t b) { return a < b ? a : b; }

static void parse_steps(const char *t, size_t L, cot_parsed *p) {
  size_t e;
  size_t tgt = find(t, 0, L, "target speaker:", &e);
  size_t tgt_end = e;
  size_t blocks_end = tgt == NPOS ? L : tgt;
  size_t aud = find(t, 0, L, "audio information:", &e);
  if (aud != NPOS) {
    size_t z = L, x;
    x = find(t, e, L, "enrollment speech:", NULL);
    z = min_pos(z, x);
    x = find(t, e, L, "information:", NULL);
    z = min_pos(z, x);
    if (tgt != NPOS && tgt > e) z = min_pos(z, tgt);
    parse_audio(t, e, z, p);
  }
  if (find(t, 0, L, "enrollment speech:", &e) != NPOS) {
    cur c = {t, L, e, 1};
    p->enroll_gender = c_gender(&c);
  }
  parse_blocks(t, 0, blocks_end, p);
  if (tgt != NPOS) {
    size_t fo = find(t, tgt_end, L, "final output", NULL);
    parse_target(t, tgt_end, fo == NPOS ? L : fo, p);
  }
}

int cot_parse(const char *s, size_t n, cot_parsed *p, ts_err *e) {
  memset(p, 0, sizeof *p);
  p->target = -1;
  p->fmt = cot_format_check(s, n, &p->answer_off, &p->answer_len, &p->think_off, &p->think_len);
  p->format_ok = p->fmt == COT_FMT_OK;
  if (!s) return TS_OK;
  const char *src = s;
  size_t len = n;
  if (p->format_ok) {
    src = s + p->think_off;
    len = p->think_len;
    p->think_empty = skip_ws(src, len, 0) == len;
    if (p->think_empty) return TS_OK;
  }
  char *t = malloc(len + 1);
  if (!t) return err_set(e, TS_ENOMEM, "cot_parse: out of memory (%zu bytes)", len + 1);
  size_t L = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)src[i];
    if (is_ws(ch) || ch == 0) {
      if (L > 0 && t[L - 1] != ' ') t[L++] = ' ';
    } else {
      t[L++] = (char)((ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch);
    }
  }
  while (L > 0 && t[L - 1] == ' ') L--;
  t[L] = 0;
  parse_steps(t, L, p);
  free(t);
  return TS_OK;
}

/* ---- step check ---- */

const char *cot_step_status_name(cot_step_status s) {
  switch (s) {
    case COT_STEP_OK: return "ok";
    case COT_STEP_WRONG: return "wrong";
    case COT_STEP_MISSING: return "missing";
  }
  return "unknown";
}

static void add_step(cot_check *c, const char *name, cot_step_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add_step(cot_check *c, const char *name, cot_step_status st, const char *fmt, ...) {
  if (c->n_steps >= COT_CHECK_MAX_STEPS) return;
  cot_step *s = &c->step[c->n_steps++];
  snprintf(s->name, sizeof s->name, "%s", name);
  s->status = st;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->detail, sizeof s->detail, fmt, ap);
  va_end(ap);
  if (st == COT_STEP_OK) c->n_ok++;
  else if (st == COT_STEP_WRONG) c->n_wrong++;
  else c->n_missing++;
}

static int near(double read, double fact, double tol) {
  return fabs(read - cot_round2(fact)) <= tol + 1e-9;
}

static void range_step(cot_check *c, const char *name, int has, double r0, double r1, double f0,
                       double f1, double tol) {
  char a[COT_NUM_MAX], b[COT_NUM_MAX], x[COT_NUM_MAX], y[COT_NUM_MAX];
  cot_fmt_num(f0, a);
  cot_fmt_num(f1, b);
  if (!has) {
    add_step(c, name, COT_STEP_MISSING, "expected %s-%ss, not found", a, b);
    return;
  }
  cot_fmt_num(r0, x);
  cot_fmt_num(r1, y);
  int ok = near(r0, f0, tol) && near(r1, f1, tol);
  add_step(c, name, ok ? COT_STEP_OK : COT_STEP_WRONG, "expected %s-%ss, read %s-%ss", a, b, x, y);
}

static unsigned mask_of(const cot_facts *f, cot_gender g) {
  unsigned m = 0;
  for (int k = 0; k < f->n_speakers; k++)
    if (f->spk[k].gender == g) m |= 1u << k;
  return m;
}

static int sim_ok(const cot_facts *f, int k, double v, int cont, double tol_score) {
  if (cont) return fabs(v - cot_written_sim(f, k, 1)) <= tol_score + 1e-9;
  return v == (double)f->spk[k].level;
}

/* "Speaker1, Speaker3" or "none" */
static void mask_names(unsigned m, char *out, size_t cap) {
  size_t n = 0;
  out[0] = 0;
  for (int k = 0; k < COT_PARSE_MAX_SPK && n < cap; k++)
    if (m & (1u << k)) n += (size_t)snprintf(out + n, cap - n, "%sSpeaker%d", n ? ", " : "", k + 1);
  if (!m) snprintf(out, cap, "none");
}

static void check_gender_clause(cot_check *c, const cot_parsed *p, const cot_facts *f) {
  unsigned g = mask_of(f, f->enroll_gender);
  if (!p->has_gender_clause) {
    add_step(c, "target.gender", COT_STEP_MISSING, "no gender comparison found");
    return;
  }
  int ok;
  if (p->gender_clause_none) ok = g == 0;
  else
    ok = !p->gender_clause_bad && p->gender_clause_gender == f->enroll_gender &&
         p->gender_clause_mask == g && g != 0;
  char want[64], got[64];
  mask_names(g, want, sizeof want);
  mask_names(p->gender_clause_none ? 0 : p->gender_clause_mask, got, sizeof got);
  add_step(c, "target.gender", ok ? COT_STEP_OK : COT_STEP_WRONG,
           "%s speakers like the enrollment: %s; read %s%s%s", cot_gender_name(f->enroll_gender),
           want, got, p->gender_clause_none ? "" : " as ",
           p->gender_clause_none ? "" : cot_gender_name(p->gender_clause_gender));
}

static void check_ranking(cot_check *c, const cot_parsed *p, const cot_facts *f, int cont,
                          double tol_score) {
  int n = f->n_speakers;
  if (!p->has_ranking || p->rank_n == 0) {
    add_step(c, "target.ranking", COT_STEP_MISSING, "no similarity ranking found");
    return;
  }
  char why[128] = "";
  unsigned seen = 0;
  if (!p->rank_complete) snprintf(why, sizeof why, "not readable to its end");
  else if (p->rank_n != n) snprintf(why, sizeof why, "lists %d speakers, not %d", p->rank_n, n);
  for (int i = 0; !why[0] && i < p->rank_n; i++) {
    int k = p->rank_spk[i];
    if (k < 0 || k >= n || (seen & (1u << k))) {
      snprintf(why, sizeof why, "entry %d names a speaker twice or out of range", i + 1);
      break;
    }
    seen |= 1u << k;
    if (!sim_ok(f, k, p->rank_val[i], cont, tol_score)) {
      char a[COT_NUM_MAX], b[COT_NUM_MAX];
      cot_fmt_num(cot_written_sim(f, k, cont), a);
      cot_fmt_num(p->rank_val[i], b);
      snprintf(why, sizeof why, "Speaker%d is %s, written %s", k + 1, a, b);
      break;
    }
    if (i > 0) {
      int k0 = p->rank_spk[i - 1];
      double x = cot_written_sim(f, k0, cont), y = cot_written_sim(f, k, cont);
      char r = p->rank_rel[i - 1];
      if ((r == '>' && !(x > y)) || (r == '=' && !(x == y)))
        snprintf(why, sizeof why, "Speaker%d %c Speaker%d is false", k0 + 1, r, k + 1);
    }
  }
  add_step(c, "target.ranking", why[0] ? COT_STEP_WRONG : COT_STEP_OK, "%s",
           why[0] ? why : "every comparison is true");
}

static void check_reason(cot_check *c, const cot_parsed *p, const cot_facts *f, int cont) {
  int n = f->n_speakers, t = p->target;
  unsigned all = (1u << n) - 1;
  if (p->reason == COT_REASON_NONE) {
    add_step(c, "target.reason", COT_STEP_MISSING, "no recognised conclusion");
    return;
  }
  int ok = 0, in = t >= 0 && t < n;
  switch (p->reason) {
    case COT_REASON_SINGLE: ok = n == 1; break;
    case COT_REASON_TOP: ok = in && cot_is_top(f, t, all, cont); break;
    case COT_REASON_ONLY_GENDER: {
      unsigned g = mask_of(f, p->reason_gender);
      ok = in && p->reason_gender != COT_GENDER_NONE && g == (1u << t);
      break;
    }
    case COT_REASON_TOP_GENDER: {
      unsigned g = mask_of(f, p->reason_gender);
      ok = in && p->reason_gender != COT_GENDER_NONE && cot_is_top(f, t, g, cont);
      break;
    }
    case COT_REASON_NOT_TOP: ok = in && !cot_is_top(f, t, all, cont); break;
    default: break;
  }
  add_step(c, "target.reason", ok ? COT_STEP_OK : COT_STEP_WRONG,
           "claim \"%s\" about Speaker%d is %s",
           cot_reason_name(p->reason), t + 1, ok ? "true" : "false");
}

int cot_check_run(const cot_parsed *p, const cot_facts *f, const cot_check_opts *o, cot_check *out,
                  ts_err *e) {
  memset(out, 0, sizeof *out);
  cot_opts bo = {o ? o->continuous : 0};
  int rc = cot_facts_validate(f, &bo, e);
  if (rc) {
    err_prefix(e, "cot_check");
    return rc;
  }
  int cont = bo.continuous;
  double tol = o && o->tol_s > 0 ? o->tol_s : 0.05;
  double tol_score = o && o->tol_score > 0 ? o->tol_score : 0.05;
  int n = f->n_speakers;
  cot_check *c = out;
  char a[COT_NUM_MAX], b[COT_NUM_MAX];

  add_step(c, "format", p->format_ok ? COT_STEP_OK : COT_STEP_WRONG, "%s",
           cot_fmt_err_name(p->fmt));
  double e0 = f->enroll_dur, s1 = e0 + f->silence_dur, m1 = s1 + f->mix_dur;
  range_step(c, "audio.enrollment", p->has_enroll, p->enroll_start, p->enroll_end, 0, e0, tol);
  range_step(c, "audio.silence", p->has_silence, p->silence_start, p->silence_end, e0, s1, tol);
  range_step(c, "audio.mixture", p->has_mixture, p->mix_start, p->mix_end, s1, m1, tol);
  cot_fmt_num(f->total_dur, a);
  if (!p->has_total) {
    add_step(c, "audio.total", COT_STEP_MISSING, "expected %ss, not found", a);
  } else {
    cot_fmt_num(p->total, b);
    add_step(c, "audio.total", near(p->total, f->total_dur, tol) ? COT_STEP_OK : COT_STEP_WRONG,
             "expected %ss, read %ss", a, b);
  }
  if (!p->has_mixture || p->n_speakers == 0)
    add_step(c, "audio.count", COT_STEP_MISSING, "expected %d speakers, not found", n);
  else
    add_step(c, "audio.count", p->n_speakers == n ? COT_STEP_OK : COT_STEP_WRONG,
             "expected %d speakers, read %d", n, p->n_speakers);
  if (p->enroll_gender == COT_GENDER_NONE)
    add_step(c, "enrollment.gender", COT_STEP_MISSING, "expected %s, not found",
             cot_gender_name(f->enroll_gender));
  else
    add_step(c, "enrollment.gender",
             p->enroll_gender == f->enroll_gender ? COT_STEP_OK : COT_STEP_WRONG,
             "expected %s, read %s", cot_gender_name(f->enroll_gender),
             cot_gender_name(p->enroll_gender));

  for (int k = 0; k < n; k++) {
    const cot_speaker *fs = &f->spk[k];
    const cot_parsed_spk *ps = &p->spk[k];
    char name[32];
    snprintf(name, sizeof name, "speaker%d.gender", k + 1);
    if (!ps->present || ps->gender == COT_GENDER_NONE)
      add_step(c, name, COT_STEP_MISSING, "expected %s, not found", cot_gender_name(fs->gender));
    else
      add_step(c, name, ps->gender == fs->gender ? COT_STEP_OK : COT_STEP_WRONG,
               "expected %s, read %s", cot_gender_name(fs->gender), cot_gender_name(ps->gender));
    snprintf(name, sizeof name, "speaker%d.span", k + 1);
    range_step(c, name, ps->present && ps->has_span, ps->start, ps->end, fs->start, fs->end, tol);
    snprintf(name, sizeof name, "speaker%d.similarity", k + 1);
    cot_fmt_num(cot_written_sim(f, k, cont), a);
    if (!ps->present || !ps->has_sim) {
      add_step(c, name, COT_STEP_MISSING, "expected %s, not found", a);
    } else {
      cot_fmt_num(ps->sim, b);
      add_step(c, name, sim_ok(f, k, ps->sim, cont, tol_score) ? COT_STEP_OK : COT_STEP_WRONG,
               "expected %s, read %s", a, b);
    }
  }
  int beyond = 0;
  for (int k = n; k < COT_PARSE_MAX_SPK; k++) beyond += p->spk[k].present;
  if (p->n_blocks == 0 && p->extra_blocks == 0)
    add_step(c, "speakers.count", COT_STEP_MISSING, "expected %d speaker blocks, none found", n);
  else
    add_step(c, "speakers.count",
             (p->n_blocks == n && beyond == 0 && p->extra_blocks == 0) ? COT_STEP_OK
                                                                      : COT_STEP_WRONG,
             "expected %d speaker blocks, read %d (+%d extra)", n, p->n_blocks,
             p->extra_blocks + beyond);

  if (n >= 2 || p->has_gender_clause) check_gender_clause(c, p, f);
  if (n >= 2 || p->has_ranking) check_ranking(c, p, f, cont, tol_score);
  check_reason(c, p, f, cont);
  if (p->target < 0)
    add_step(c, "target", COT_STEP_MISSING, "expected Speaker%d, not found", f->target + 1);
  else
    add_step(c, "target", p->target == f->target ? COT_STEP_OK : COT_STEP_WRONG,
             "expected Speaker%d, read Speaker%d", f->target + 1, p->target + 1);
  return TS_OK;
}
