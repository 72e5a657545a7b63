/* librimix.c — LibriMix metadata CSV + SpeakerBeam enrollment list <-> manifest. */
#include "data/librimix.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "base/log.h"
#include "base/philox.h"
#include "data/mixspec.h"

#define LMX_TAG 0x6c6962726d6978ULL /* "librmix" */

void lmx_opts_default(lmx_opts *o) {
  memset(o, 0, sizeof *o);
  o->enroll_dur = 3.0;
  o->mode = MAN_MODE_MAX;
}

typedef struct lrow {
  char *id;
  int k;
  int64_t utt[MAN_MAX_SRC];
  double gain[MAN_MAX_SRC];
  int64_t length; /* -1 = none */
  int line;
  int bad;
} lrow;

static void bad_line(int64_t *counter, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad_line(int64_t *counter, const char *fmt, ...) {
  char msg[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_warn("%s (line skipped)", msg);
  (*counter)++;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *t = s + strlen(s);
  while (t > s && isspace((unsigned char)t[-1])) *--t = 0;
  return s;
}

/* A NUL byte would end the line scan early and drop the rest silently: an error naming its line. */
static int lmx_text_check(const char *path, const char *buf, size_t n, ts_err *e) {
  const char *z = memchr(buf, 0, n);
  if (!z) return TS_OK;
  int line = 1;
  for (const char *q = buf; q < z; q++) line += *q == '\n';
  return err_set(e, TS_EFORMAT, "%s:%d: a NUL byte: not a text file", path, line);
}

/* Splits one CSV line in place into at most max fields, trimmed. A field may be in double
 * quotes (RFC 4180, as pandas writes a path with a comma): commas inside do not split, a
 * doubled quote is one quote, and nothing is trimmed inside. Returns the field count, max + 1
 * when more fields follow, or -1 for an unterminated quote or text after a closing one. */
static int split_csv(char *s, char **f, int max) {
  int n = 0;
  char *p = s;
  for (;;) {
    if (n == max) return max + 1;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '"') {
      char *w = ++p; /* unquoted in place: w trails p */
      f[n++] = w;
      for (;;) {
        if (!*p) return -1;
        if (*p == '"' && p[1] != '"') break;
        if (*p == '"') p++;
        *w++ = *p++;
      }
      p++;
      while (*p == ' ' || *p == '\t') p++;
      char c = *p;
      *w = 0;
      if (c == ',') {
        p++;
        continue;
      }
      return c ? -1 : n;
    }
    f[n++] = p;
    char *q = strchr(p, ',');
    if (q) *q = 0;
    f[n - 1] = trim(p);
    if (!q) return n;
    p = q + 1;
  }
}

void lmx_utt_of_path(const char *path, char *out, size_t n) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  snprintf(out, n, "%s", b);
  char *dot = strrchr(out, '.');
  if (dot) *dot = 0;
}

static int cmp_row_id(const void *a, const void *b) {
  const lrow *x = *(const lrow *const *)a, *y = *(const lrow *const *)b;
  int r = strcmp(x->id, y->id);
  return r ? r : (x->line > y->line) - (x->line < y->line);
}

static const lrow *find_row(lrow **sorted, int64_t n, const char *id) {
  int64_t lo = 0, hi = n - 1;
  while (lo <= hi) {
    int64_t mid = (lo + hi) / 2;
    int r = strcmp(sorted[mid]->id, id);
    if (!r) {
      while (mid > 0 && !strcmp(sorted[mid - 1]->id, id)) mid--; /* the first (not a duplicate) */
      return sorted[mid];
    }
    if (r < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return NULL;
}

static int make_entry(const corpus *c, const lrow *w, int t, const char *set, int mode, man_entry *x,
                      ts_err *e) {
  memset(x, 0, sizeof *x);
  char id[1200];
  snprintf(id, sizeof id, "%s-s%d", w->id, t + 1);
  x->id = strdup(id);
  x->set = strdup(set);
  x->n_src = w->k;
  x->src = calloc((size_t)w->k, sizeof *x->src);
  x->target = t;
  x->mode = mode;
  if (!x->id || !x->set || !x->src) {
    man_entry_free(x);
    return err_set(e, TS_ENOMEM, "librimix: out of memory");
  }
  double dur = mode == MAN_MODE_MIN ? INFINITY : 0;
  for (int k = 0; k < w->k; k++) {
    const corpus_utt *u = &c->utts[w->utt[k]];
    const corpus_spk *sp = &c->spks[u->spk];
    man_source *s = &x->src[k];
    s->path = strdup(u->path);
    s->speaker = strdup(sp->id);
    s->gender = sp->gender;
    s->text = strdup(u->text);
    s->utt = strdup(u->id);
    s->gain = w->gain[k];
    s->lufs = NAN;
    s->offset = 0;
    s->duration = u->dur;
    dur = mode == MAN_MODE_MIN ? fmin(dur, u->dur) : fmax(dur, u->dur);
    if (!s->path || !s->speaker || !s->text || !s->utt) {
      man_entry_free(x);
      return err_set(e, TS_ENOMEM, "librimix: out of memory");
    }
  }
  x->duration = dur;
  x->enroll.gain = NAN;
  x->enroll.lufs = NAN;
  return TS_OK;
}

int lmx_import(const char *csv, const char *map, const corpus *c, const lmx_opts *opts, manifest *out,
               lmx_stats *st, ts_err *e) {
  lmx_opts dflt;
  if (!opts) {
    lmx_opts_default(&dflt);
    opts = &dflt;
  }
  lmx_stats tmp;
  if (!st) st = &tmp;
  memset(st, 0, sizeof *st);
  char setname[512];
  if (opts->set) {
    snprintf(setname, sizeof setname, "%s", opts->set);
  } else {
    const char *b = strrchr(csv, '/');
    snprintf(setname, sizeof setname, "%s", b ? b + 1 : csv);
    char *dot = strstr(setname, ".csv");
    if (dot) *dot = 0;
  }
  char *buf;
  size_t n;
  int rc = afile_read(csv, &buf, &n, e);
  if (rc) return rc;
  if ((rc = lmx_text_check(csv, buf, n, e))) {
    free(buf);
    return rc;
  }
  lrow *rows = NULL;
  int64_t nr = 0, cap = 0;
  int ncol = 0, id_col = -1, len_col = -1, K = 0;
  int path_col[MAN_MAX_SRC], gain_col[MAN_MAX_SRC];
  enum { MAXF = 64 };
  int line = 0;
  int64_t first_mismatch_line = 0;
  for (char *p = buf; p && rc == TS_OK;) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = 0;
    line++;
    char *l = trim(p);
    p = nl ? nl + 1 : NULL;
    if (!l[0]) continue;
    char *f[MAXF];
    int nf = split_csv(l, f, MAXF);
    if (nf < 0) {
      if (!ncol) {
        rc = err_set(e, TS_EFORMAT, "%s:%d: header: a quoted field is not closed, or text follows its closing quote",
                     csv, line);
        break;
      }
      st->n_rows++;
      bad_line(&st->n_bad_rows, "%s:%d: a quoted field is not closed, or text follows its closing quote", csv, line);
      continue;
    }
    if (!ncol) { /* header */
      if (nf > MAXF) {
        rc = err_set(e, TS_EFORMAT, "%s:%d: header: more than %d columns", csv, line, MAXF);
        break;
      }
      ncol = nf;
      for (int i = 0; i < nf; i++) {
        if (!strcmp(f[i], "mixture_ID")) id_col = i;
        if (!strcmp(f[i], "length")) len_col = i;
      }
      for (int k = 0; k < MAN_MAX_SRC; k++) {
        char pn[64], gn[64];
        snprintf(pn, sizeof pn, "source_%d_path", k + 1);
        snprintf(gn, sizeof gn, "source_%d_gain", k + 1);
        path_col[k] = gain_col[k] = -1;
        for (int i = 0; i < nf; i++) {
          if (!strcmp(f[i], pn)) path_col[k] = i;
          if (!strcmp(f[i], gn)) gain_col[k] = i;
        }
        if (path_col[k] < 0) break;
        K = k + 1;
      }
      if (id_col < 0 || K == 0) {
        rc = err_set(e, TS_EFORMAT, "%s:%d: header lacks mixture_ID or source_1_path", csv, line);
        break;
      }
      if (gain_col[0] < 0) log_warn("%s: no source_K_gain columns: sources keep their level", csv);
      continue;
    }
    st->n_rows++;
    if (nf != ncol) {
      bad_line(&st->n_bad_rows, "%s:%d: %d fields, the header has %d", csv, line, nf, ncol);
      continue;
    }
    lrow w;
    memset(&w, 0, sizeof w);
    w.k = K;
    w.line = line;
    w.length = -1;
    int ok = f[id_col][0] != 0;
    if (!ok) bad_line(&st->n_bad_rows, "%s:%d: empty mixture_ID", csv, line);
    for (int k = 0; k < K && ok; k++) {
      char uid[1024];
      lmx_utt_of_path(f[path_col[k]], uid, sizeof uid);
      w.utt[k] = corpus_find_utt(c, uid);
      if (w.utt[k] < 0) {
        bad_line(&st->n_bad_rows, "%s:%d: source_%d utterance %s (%s) is not in the corpus %s", csv, line,
                 k + 1, uid, f[path_col[k]], c->root);
        ok = 0;
        break;
      }
      w.gain[k] = NAN;
      if (gain_col[k] >= 0) {
        char *end;
        double g = strtod(f[gain_col[k]], &end);
        if (end == f[gain_col[k]] || *end || !(g > 0) || !isfinite(g)) {
          bad_line(&st->n_bad_rows, "%s:%d: source_%d_gain \"%s\" is not a positive number", csv, line, k + 1,
                   f[gain_col[k]]);
          ok = 0;
          break;
        }
        w.gain[k] = g;
      }
    }
    if (ok && len_col >= 0) {
      char *end;
      long long L = strtoll(f[len_col], &end, 10);
      if (end == f[len_col] || *end || L <= 0) {
        bad_line(&st->n_bad_rows, "%s:%d: length \"%s\" is not a positive integer", csv, line, f[len_col]);
        ok = 0;
      } else {
        w.length = L;
      }
    }
    if (!ok) continue;
    if (w.length > 0) { /* agrees with the corpus? (max or min mode, at the corpus rate) */
      int64_t mx = 0, mn = INT64_MAX;
      for (int k = 0; k < K; k++) {
        int64_t fr = c->utts[w.utt[k]].frames;
        if (fr > mx) mx = fr;
        if (fr < mn) mn = fr;
      }
      if (mx > 0 && w.length != (opts->mode == MAN_MODE_MIN ? mn : mx)) {
        if (!st->n_length_mismatch) first_mismatch_line = line;
        st->n_length_mismatch++;
      }
    }
    w.id = strdup(f[id_col]);
    if (nr == cap) {
      cap = cap ? cap * 2 : 256;
      lrow *nrw = realloc(rows, sizeof *nrw * (size_t)cap);
      if (!nrw) {
        free(w.id);
        rc = err_set(e, TS_ENOMEM, "librimix: out of memory");
        break;
      }
      rows = nrw;
    }
    rows[nr++] = w;
  }
  free(buf);
  if (!rc && !ncol) rc = err_set(e, TS_EFORMAT, "%s: empty file (no header)", csv);
  if (st->n_length_mismatch)
    log_warn("%s:%lld: %lld rows have a length other than the corpus gives (%s mode, %d Hz?): "
             "another LibriSpeech version or sample rate",
             csv, (long long)first_mismatch_line, (long long)st->n_length_mismatch,
             opts->mode == MAN_MODE_MIN ? "min" : "max", c->n_utts ? c->utts[0].rate : 0);
  lrow **sorted = NULL;
  if (!rc) {
    sorted = malloc(sizeof *sorted * (size_t)(nr ? nr : 1));
    if (!sorted) rc = err_set(e, TS_ENOMEM, "librimix: out of memory");
  }
  if (!rc) {
    for (int64_t i = 0; i < nr; i++) sorted[i] = &rows[i];
    qsort(sorted, (size_t)nr, sizeof *sorted, cmp_row_id);
    for (int64_t i = 1; i < nr; i++)
      if (!strcmp(sorted[i]->id, sorted[i - 1]->id)) {
        sorted[i]->bad = 1;
        bad_line(&st->n_bad_rows, "%s:%d: mixture_ID %s already on line %d", csv, sorted[i]->line,
                 sorted[i]->id, sorted[i - 1]->line);
      }
  }
  if (!rc && !map) {
    for (int64_t i = 0; i < nr && !rc; i++) {
      if (rows[i].bad) continue;
      for (int t = 0; t < rows[i].k && !rc; t++) {
        man_entry x;
        if ((rc = make_entry(c, &rows[i], t, setname, opts->mode, &x, e))) break;
        ts_err le = {0};
        int erc = mix_pick_enroll(c, rows[i].utt[t], opts->enroll_dur > 0 ? opts->enroll_dur : 1e9, -33, -25,
                                  opts->seed, philox_stream_id(LMX_TAG, (uint64_t)i, (uint64_t)t), &x.enroll, &le);
        if (erc == TS_ENOMEM) {
          man_entry_free(&x);
          rc = err_set(e, erc, "%s", le.msg);
          break;
        }
        if (erc) {
          bad_line(&st->n_bad_trials, "%s:%d: target %d: %s", csv, rows[i].line, t + 1, le.msg);
          man_entry_free(&x);
          continue;
        }
        if ((rc = man_take(out, &x, e))) man_entry_free(&x);
        st->n_trials++;
      }
    }
  }
  if (!rc && map) {
    char *mb;
    size_t mn;
    rc = afile_read(map, &mb, &mn, e);
    if (!rc && (rc = lmx_text_check(map, mb, mn, e))) free(mb);
    if (!rc) {
      /* trial ids already made: a repeated line is a bad line */
      char **made = NULL;
      int64_t n_made = 0, cap_made = 0;
      int ml = 0;
      for (char *p = mb; p && !rc;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        ml++;
        char *l = trim(p);
        p = nl ? nl + 1 : NULL;
        if (!l[0]) continue;
        char *tok[4];
        int nt = 0;
        for (char *s2 = NULL, *t = strtok_r(l, " \t", &s2); t && nt < 4; t = strtok_r(NULL, " \t", &s2))
          tok[nt++] = t;
        if (nt != 3) {
          bad_line(&st->n_bad_trials, "%s:%d: expected \"MIXTURE_ID TARGET_UTT sK/MIXTURE_ID\"", map, ml);
          continue;
        }
        const lrow *w = find_row(sorted, nr, tok[0]);
        if (!w || w->bad) {
          bad_line(&st->n_bad_trials, "%s:%d: mixture %s is not in %s", map, ml, tok[0], csv);
          continue;
        }
        int t = -1;
        for (int k = 0; k < w->k; k++)
          if (!strcmp(c->utts[w->utt[k]].id, tok[1])) t = k;
        if (t < 0) {
          bad_line(&st->n_bad_trials, "%s:%d: target %s is not a source of %s", map, ml, tok[1], tok[0]);
          continue;
        }
        int ek = 0;
        char other[1024];
        if (sscanf(tok[2], "s%d/%1023s", &ek, other) != 2) {
          bad_line(&st->n_bad_trials, "%s:%d: enrollment \"%s\" is not sK/MIXTURE_ID", map, ml, tok[2]);
          continue;
        }
        const lrow *o = find_row(sorted, nr, other);
        if (!o || o->bad || ek < 1 || ek > o->k) {
          bad_line(&st->n_bad_trials, "%s:%d: enrollment %s: no such mixture or source in %s", map, ml, tok[2], csv);
          continue;
        }
        const corpus_utt *eu = &c->utts[o->utt[ek - 1]];
        const corpus_utt *tu = &c->utts[w->utt[t]];
        if (eu->spk != tu->spk) {
          bad_line(&st->n_bad_trials, "%s:%d: enrollment %s is speaker %s, the target is speaker %s", map, ml,
                   tok[2], c->spks[eu->spk].id, c->spks[tu->spk].id);
          continue;
        }
        man_entry x;
        if ((rc = make_entry(c, w, t, setname, opts->mode, &x, e))) break;
        int dup = 0;
        for (int64_t q = 0; q < n_made && !dup; q++) dup = !strcmp(made[q], x.id);
        if (dup) {
          bad_line(&st->n_bad_trials, "%s:%d: trial %s %s listed twice", map, ml, tok[0], tok[1]);
          man_entry_free(&x);
          continue;
        }
        int64_t minlen = INT64_MAX;
        for (int k = 0; k < o->k; k++)
          if (c->utts[o->utt[k]].frames < minlen) minlen = c->utts[o->utt[k]].frames;
        x.enroll.path = strdup(eu->path);
        x.enroll.utt = strdup(eu->id);
        x.enroll.speaker = strdup(c->spks[eu->spk].id);
        x.enroll.gain = o->gain[ek - 1];
        x.enroll.start = 0;
        if (eu->rate > 0 && minlen > 0 && minlen < INT64_MAX) {
          double full = (double)minlen / eu->rate;
          x.enroll.duration = opts->enroll_dur > 0 && opts->enroll_dur < full ? opts->enroll_dur : full;
        } else {
          x.enroll.duration = opts->enroll_dur;
        }
        if (n_made == cap_made) {
          cap_made = cap_made ? cap_made * 2 : 256;
          char **nm = realloc(made, sizeof *nm * (size_t)cap_made);
          if (!nm) {
            man_entry_free(&x);
            rc = err_set(e, TS_ENOMEM, "librimix: out of memory");
            break;
          }
          made = nm;
        }
        made[n_made++] = strdup(x.id);
        if ((rc = man_take(out, &x, e))) man_entry_free(&x);
        st->n_trials++;
      }
      for (int64_t q = 0; q < n_made; q++) free(made[q]);
      free(made);
      free(mb);
    }
  }
  free(sorted);
  for (int64_t i = 0; i < nr; i++) free(rows[i].id);
  free(rows);
  return rc;
}
