/* librimix_export.c — a manifest's mixtures as a LibriMix CSV and a SpeakerBeam enrollment list
 * (the inverse of lmx_import in librimix.c). Entries with the same sources are one mixture;
 * mixtures and enrollment sources are looked up through sorted arrays, not pairwise scans. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "data/librimix.h"

/* An entry's mixture key: its sources' utterance ids joined by '_' (malloc'd, any length). */
static char *ex_key(const man_entry *x) {
  size_t len = 0;
  const char *id[MAN_MAX_SRC];
  size_t n[MAN_MAX_SRC];
  for (int k = 0; k < x->n_src; k++) {
    if (x->src[k].utt) {
      id[k] = x->src[k].utt;
      n[k] = strlen(id[k]);
    } else { /* the file name without its extension */
      const char *b = strrchr(x->src[k].path, '/');
      id[k] = b ? b + 1 : x->src[k].path;
      const char *dot = strrchr(id[k], '.');
      n[k] = dot ? (size_t)(dot - id[k]) : strlen(id[k]);
    }
    len += n[k] + 1;
  }
  char *s = malloc(len + 1), *w = s;
  if (!s) return NULL;
  for (int k = 0; k < x->n_src; k++) {
    if (k) *w++ = '_';
    memcpy(w, id[k], n[k]);
    w += n[k];
  }
  *w = 0;
  return s;
}

/* sorting entries by (key, index) and enrollment sources by (utterance, mixture, source) */
typedef struct ex_ent {
  const char *key;
  int64_t i;
} ex_ent;
typedef struct ex_src {
  const char *utt;
  double gain;
  int64_t j;
  int k;
} ex_src;

static int ex_cmp_ent(const void *a, const void *b) {
  const ex_ent *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->i > y->i) - (x->i < y->i);
}
static int ex_cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}
static int ex_cmp_src(const void *a, const void *b) {
  const ex_src *x = a, *y = b;
  int c = strcmp(x->utt, y->utt);
  if (c) return c;
  if (x->j != y->j) return (x->j > y->j) - (x->j < y->j);
  return x->k - y->k;
}

/* One CSV field: in double quotes (inner quotes doubled) when it holds a comma, a quote, a
 * line break or edge spaces, which the reader would split, end or trim. */
static int ex_put_field(afile *f, const char *s, ts_err *e) {
  size_t n = strlen(s);
  int quote = n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t');
  for (size_t i = 0; i < n && !quote; i++) quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
  if (!quote) return afile_put(f, s, n, e);
  int rc = afile_put(f, "\"", 1, e);
  for (const char *p = s; !rc && *p;) {
    const char *q = strchr(p, '"');
    size_t m = q ? (size_t)(q - p) + 1 : strlen(p); /* through the quote, which is then doubled */
    rc = afile_put(f, p, m, e);
    p += m;
    if (!rc && q) rc = afile_put(f, "\"", 1, e);
  }
  return rc ? rc : afile_put(f, "\"", 1, e);
}

/* Every entry has K sources with fixed gains, offset 0 and a known duration. */
static int ex_check(const manifest *m, int K, ts_err *e) {
  for (int64_t i = 0; i < m->n; i++) {
    const man_entry *x = &m->e[i];
    if (x->n_src != K)
      return err_set(e, TS_EARG, "%s: %d sources, %s has %d: one CSV holds one speaker count", x->id, x->n_src,
                     m->e[0].id, K);
    for (int k = 0; k < K; k++)
      if (isnan(x->src[k].gain) || x->src[k].offset != 0 || isnan(x->src[k].duration))
        return err_set(e, TS_EARG, "%s: source %d needs a fixed gain, offset 0 and a known duration "
                       "(see sample_bake_gains)", x->id, k + 1);
  }
  return TS_OK;
}

/* Groups the entries into mixtures numbered by first appearance: mix_of (n) gets each entry's
 * mixture, first (>= nm) each mixture's first entry. Entries of one mixture must agree on
 * the gains (the earliest entry that does not is named). */
static int ex_group(const manifest *m, char **keys, int64_t *mix_of, int64_t *first, int64_t *nm_out, ts_err *e) {
  int64_t n = m->n, nm = 0, bad = -1, bad_first = -1;
  ex_ent *ord = malloc(sizeof *ord * (size_t)n);
  if (!ord) return err_set(e, TS_ENOMEM, "export: out of memory");
  for (int64_t i = 0; i < n; i++) ord[i] = (ex_ent){keys[i], i};
  qsort(ord, (size_t)n, sizeof *ord, ex_cmp_ent);
  /* a run of equal keys is one mixture; its first entry is the run's lowest index */
  for (int64_t s = 0; s < n;) {
    int64_t t = s + 1, f0 = ord[s].i;
    for (; t < n && !strcmp(ord[t].key, ord[s].key); t++) {
      const man_entry *x = &m->e[ord[t].i], *y = &m->e[f0];
      for (int k = 0; k < x->n_src; k++)
        if (x->src[k].gain != y->src[k].gain && (bad < 0 || ord[t].i < bad)) bad = ord[t].i, bad_first = f0;
    }
    first[nm++] = f0;
    s = t;
  }
  if (bad >= 0) {
    free(ord);
    return err_set(e, TS_EARG, "%s: same sources as %s but other gains", m->e[bad].id, m->e[bad_first].id);
  }
  qsort(first, (size_t)nm, sizeof *first, ex_cmp_i64); /* mixture j = the j-th first appearance */
  for (int64_t s = 0; s < n;) {
    int64_t t = s + 1;
    while (t < n && !strcmp(ord[t].key, ord[s].key)) t++;
    const int64_t *jp = bsearch(&ord[s].i, first, (size_t)nm, sizeof *first, ex_cmp_i64);
    for (int64_t u = s; u < t; u++) mix_of[ord[u].i] = jp - first;
    s = t;
  }
  free(ord);
  *nm_out = nm;
  return TS_OK;
}

static int ex_write_csv(const manifest *m, int rate, const char *csv, char **keys, const int64_t *first, int64_t nm,
                        int K, ts_err *e) {
  afile f;
  int rc = afile_open(&f, csv, e);
  if (rc) return rc;
  char num[64];
  rc = afile_put(&f, "mixture_ID", 10, e);
  for (int k = 0; k < K && !rc; k++) {
    int len = snprintf(num, sizeof num, ",source_%d_path,source_%d_gain", k + 1, k + 1);
    rc = afile_put(&f, num, (size_t)len, e);
  }
  if (!rc) rc = afile_put(&f, ",length\n", 8, e);
  for (int64_t j = 0; j < nm && !rc; j++) {
    const man_entry *x = &m->e[first[j]];
    rc = ex_put_field(&f, keys[first[j]], e);
    int64_t L = 0;
    for (int k = 0; k < K && !rc; k++) {
      rc = afile_put(&f, ",", 1, e);
      if (!rc) rc = ex_put_field(&f, x->src[k].path, e);
      int len = snprintf(num, sizeof num, ",%.17g", x->src[k].gain);
      if (!rc) rc = afile_put(&f, num, (size_t)len, e);
      int64_t fr = llround(x->src[k].duration * rate);
      if (fr > L) L = fr;
    }
    int len = snprintf(num, sizeof num, ",%lld\n", (long long)L);
    if (!rc) rc = afile_put(&f, num, (size_t)len, e);
  }
  if (rc) {
    afile_abort(&f);
    return rc;
  }
  return afile_commit(&f, e);
}

/* The enrollment list: per entry "mixture target_utt sK/other_mixture", where source K of the
 * other mixture (the lowest-numbered one, then the lowest K) is the entry's enrollment. */
static int ex_write_map(const manifest *m, const char *map, char **keys, const int64_t *first, const int64_t *mix_of,
                        int64_t nm, int K, ts_err *e) {
  ex_src *tab = malloc(sizeof *tab * (size_t)(nm * K + 1));
  if (!tab) return err_set(e, TS_ENOMEM, "%s: out of memory", map);
  int64_t nt = 0;
  for (int64_t j = 0; j < nm; j++)
    for (int k = 0; k < K; k++) {
      const man_entry *y = &m->e[first[j]];
      if (y->src[k].utt) tab[nt++] = (ex_src){y->src[k].utt, y->src[k].gain, j, k};
    }
  qsort(tab, (size_t)nt, sizeof *tab, ex_cmp_src);
  afile g;
  int rc = afile_open(&g, map, e);
  int opened = rc == TS_OK;
  for (int64_t i = 0; i < m->n && !rc; i++) {
    const man_entry *x = &m->e[i];
    const ex_src *hit = NULL;
    if (x->enroll.utt) {
      int64_t lo = 0, hi = nt; /* the first source of this utterance */
      while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (strcmp(tab[mid].utt, x->enroll.utt) < 0) lo = mid + 1;
        else hi = mid;
      }
      for (int64_t t = lo; t < nt && !strcmp(tab[t].utt, x->enroll.utt) && !hit; t++)
        if (tab[t].j != mix_of[i] && tab[t].gain == x->enroll.gain) hit = &tab[t];
    }
    if (!hit) {
      rc = err_set(e, TS_EARG, "%s: its enrollment (%s) is not a source of another mixture", x->id,
                   x->enroll.utt ? x->enroll.utt : x->enroll.path);
      break;
    }
    const char *tu = x->src[x->target].utt ? x->src[x->target].utt : "";
    const char *mk = keys[first[mix_of[i]]], *ok = keys[first[hit->j]];
    char num[32];
    int len = snprintf(num, sizeof num, " s%d/", hit->k + 1);
    rc = afile_put(&g, mk, strlen(mk), e);
    if (!rc) rc = afile_put(&g, " ", 1, e);
    if (!rc) rc = afile_put(&g, tu, strlen(tu), e);
    if (!rc) rc = afile_put(&g, num, (size_t)len, e);
    if (!rc) rc = afile_put(&g, ok, strlen(ok), e);
    if (!rc) rc = afile_put(&g, "\n", 1, e);
  }
  free(tab);
  if (rc && opened)
    afile_abort(&g);
  else if (opened)
    rc = afile_commit(&g, e);
  return rc;
}

int lmx_export(const manifest *m, int rate, const char *csv, const char *map, ts_err *e) {
  if (m->n == 0) return err_set(e, TS_EARG, "%s: nothing to export", csv);
  int K = m->e[0].n_src;
  int rc = ex_check(m, K, e);
  if (rc) return rc;
  int64_t *first = malloc(sizeof *first * (size_t)m->n), *mix_of = malloc(sizeof *mix_of * (size_t)m->n), nm = 0;
  char **keys = calloc((size_t)m->n, sizeof *keys);
  if (!first || !mix_of || !keys) rc = err_set(e, TS_ENOMEM, "%s: out of memory", csv);
  for (int64_t i = 0; i < m->n && !rc; i++)
    if (!(keys[i] = ex_key(&m->e[i]))) rc = err_set(e, TS_ENOMEM, "%s: out of memory", csv);
  if (!rc) rc = ex_group(m, keys, mix_of, first, &nm, e);
  if (!rc) rc = ex_write_csv(m, rate, csv, keys, first, nm, K, e);
  if (!rc && map) rc = ex_write_map(m, map, keys, first, mix_of, nm, K, e);
  if (keys)
    for (int64_t i = 0; i < m->n; i++) free(keys[i]);
  free(keys);
  free(first);
  free(mix_of);
  return rc;
}
