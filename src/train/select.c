/* select.c — RL data selection: the candidate pool from a decode, the three modes with
 * seed-and-id keyed draws, and the report. */
#include "train/select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/philox.h"
#include "text/hash.h"

sel_cat sel_category(const drec *r) {
  if (!r->format_ok) return SEL_FORMAT;
  return drec_errors(r) > 0 ? SEL_WRONG : SEL_CORRECT;
}

int sel_pool_init(sel_pool *p, ts_err *e) {
  memset(p, 0, sizeof *p);
  return drec_ids_new(&p->ix, e);
}

void sel_pool_free(sel_pool *p) {
  for (size_t i = 0; i < p->n; i++) {
    free(p->v[i].id);
    free(p->v[i].set);
  }
  free(p->v);
  drec_ids_free(p->ix);
  memset(p, 0, sizeof *p);
}

int sel_pool_add(sel_pool *p, const drec *r, ts_err *e) {
  sel_cat c = sel_category(r);
  int found = 0;
  int64_t old = 0;
  int rc = drec_ids_add(p->ix, r->id, (int64_t)p->n, &found, &old, e);
  if (rc) return rc;
  if (found) { /* keep the most severe category */
    p->dups++;
    sel_item *it = &p->v[old];
    log_warn("select: sample \"%s\" appears again (%s, before %s); the more severe counts", r->id,
             sel_cat_name(c), sel_cat_name(it->cat));
    if (c < it->cat) {
      it->cat = c;
      it->errors = drec_errors(r);
      it->n = r->n;
    }
    return TS_OK;
  }
  if (p->n == p->cap) {
    size_t nc = p->cap ? p->cap * 2 : 256;
    sel_item *nv = realloc(p->v, nc * sizeof *nv);
    if (!nv) return err_set(e, TS_ENOMEM, "select: out of memory");
    p->v = nv;
    p->cap = nc;
  }
  sel_item *it = &p->v[p->n];
  it->id = strdup(r->id);
  it->set = strdup(r->set);
  if (!it->id || !it->set) {
    free(it->id);
    free(it->set);
    return err_set(e, TS_ENOMEM, "select: out of memory");
  }
  it->cat = c;
  it->errors = drec_errors(r);
  it->n = r->n;
  p->n++;
  return TS_OK;
}

static int sel_add_cb(const drec *r, void *user, ts_err *e) { return sel_pool_add(user, r, e); }

int sel_pool_load(sel_pool *p, const char *path, ts_err *e) {
  int64_t skipped = 0;
  int rc = drec_read_each(path, sel_add_cb, p, &skipped, e);
  p->skipped += skipped;
  return rc;
}

/* A candidate with its draw, for ranking. */
typedef struct sel_key {
  uint64_t draw;
  const char *id;
  size_t idx;
} sel_key;

static int sel_key_cmp(const void *a, const void *b) {
  const sel_key *x = a, *y = b;
  if (x->draw != y->draw) return x->draw < y->draw ? -1 : 1;
  return strcmp(x->id, y->id);
}

static uint64_t sel_draw(uint64_t seed, const char *id) {
  philox_rng r;
  philox_init(&r, seed, philox_stream_id(txh_bytes(id, strlen(id)), 0x73656c656374ULL, 0));
  return philox_u64(&r);
}

/* Takes up to k from the ranked keys of one category. */
static void sel_take(sel_result *r, const sel_key *k, size_t n, int64_t want, sel_cat c) {
  for (size_t i = 0; i < n && (int64_t)i < want; i++) {
    r->idx[r->n++] = k[i].idx;
    r->chosen[c]++;
  }
}

int sel_choose(const sel_pool *p, sel_mode mode, int64_t size, uint64_t seed, sel_result *out,
               ts_err *e) {
  memset(out, 0, sizeof *out);
  out->mode = mode;
  out->seed = seed;
  out->size = size;
  if (size < 0) return err_set(e, TS_EARG, "select: size must not be negative (got %lld)", (long long)size);
  if (mode != SEL_ERROR_ONLY && mode != SEL_BALANCED && mode != SEL_RANDOM)
    return err_set(e, TS_EARG, "select: unknown mode %d", (int)mode);
  size_t n = p->n;
  sel_key *k = malloc((n ? n : 1) * sizeof *k);
  out->idx = malloc((n ? n : 1) * sizeof *out->idx);
  if (!k || !out->idx) {
    free(k);
    sel_result_free(out);
    return err_set(e, TS_ENOMEM, "select: out of memory");
  }
  /* keys grouped by category (random mode: one group), each group ranked by (draw, id) */
  size_t start[SEL_NCAT + 1] = {0}, fill[SEL_NCAT] = {0};
  for (size_t i = 0; i < n; i++) out->avail[p->v[i].cat]++;
  for (int c = 0; c < SEL_NCAT; c++) start[c + 1] = start[c] + (size_t)out->avail[c];
  for (size_t i = 0; i < n; i++) {
    sel_cat c = mode == SEL_RANDOM ? SEL_FORMAT : p->v[i].cat;
    size_t at = mode == SEL_RANDOM ? i : start[c] + fill[c]++;
    k[at] = (sel_key){sel_draw(seed, p->v[i].id), p->v[i].id, i};
  }
  if (mode == SEL_RANDOM) {
    qsort(k, n, sizeof *k, sel_key_cmp);
    for (size_t i = 0; i < n && (int64_t)i < size; i++) {
      out->idx[out->n++] = k[i].idx;
      out->chosen[p->v[k[i].idx].cat]++;
    }
    free(k);
    return TS_OK;
  }
  for (int c = 0; c < SEL_NCAT; c++) qsort(k + start[c], start[c + 1] - start[c], sizeof *k, sel_key_cmp);
  int64_t n_err = out->avail[SEL_FORMAT] + out->avail[SEL_WRONG], n_ok = out->avail[SEL_CORRECT];
  int64_t want_err = size, want_ok = 0;
  if (mode == SEL_BALANCED) {
    /* the largest T <= size with round(T/6) correct and the rest errors both available */
    int64_t t = size < n_err + n_ok ? size : n_err + n_ok;
    for (; t > 0; t--) {
      int64_t c = (t + 3) / 6;
      if (c <= n_ok && t - c <= n_err) break;
    }
    want_ok = (t + 3) / 6;
    want_err = t - want_ok;
  }
  sel_take(out, k + start[SEL_FORMAT], (size_t)out->avail[SEL_FORMAT], want_err, SEL_FORMAT);
  sel_take(out, k + start[SEL_WRONG], (size_t)out->avail[SEL_WRONG], want_err - out->chosen[SEL_FORMAT],
           SEL_WRONG);
  sel_take(out, k + start[SEL_CORRECT], (size_t)out->avail[SEL_CORRECT], want_ok, SEL_CORRECT);
  free(k);
  return TS_OK;
}

void sel_result_free(sel_result *r) {
  free(r->idx);
  r->idx = NULL;
  r->n = 0;
}

int sel_mode_parse(const char *s, sel_mode *m, ts_err *e) {
  if (s && !strcmp(s, "error-only")) *m = SEL_ERROR_ONLY;
  else if (s && !strcmp(s, "balanced")) *m = SEL_BALANCED;
  else if (s && !strcmp(s, "random")) *m = SEL_RANDOM;
  else
    return err_set(e, TS_EARG, "select: unknown mode \"%s\" (error-only, balanced or random)",
                   s ? s : "(null)");
  return TS_OK;
}

const char *sel_mode_name(sel_mode m) {
  switch (m) {
    case SEL_ERROR_ONLY: return "error-only";
    case SEL_BALANCED: return "balanced";
    case SEL_RANDOM: return "random";
  }
  return "unknown";
}

const char *sel_cat_name(sel_cat c) {
  switch (c) {
    case SEL_FORMAT: return "format_error";
    case SEL_WRONG: return "wrong";
    case SEL_CORRECT: return "correct";
    case SEL_NCAT: break;
  }
  return "unknown";
}

int sel_report(const sel_pool *p, const sel_result *r, char **out, ts_err *e) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf,
                   "select %s (seed %llu): %zu chosen of %lld asked from %zu samples\n"
                   "  format errors %lld of %lld\n  wrong         %lld of %lld\n"
                   "  correct       %lld of %lld\n",
                   sel_mode_name(r->mode), (unsigned long long)r->seed, r->n, (long long)r->size, p->n,
                   (long long)r->chosen[SEL_FORMAT], (long long)r->avail[SEL_FORMAT],
                   (long long)r->chosen[SEL_WRONG], (long long)r->avail[SEL_WRONG],
                   (long long)r->chosen[SEL_CORRECT], (long long)r->avail[SEL_CORRECT]);
  if ((p->skipped || p->dups) && n > 0 && (size_t)n < sizeof buf)
    snprintf(buf + n, sizeof buf - (size_t)n, "  %lld bad decode line(s) skipped, %lld repeated id(s)\n",
             (long long)p->skipped, (long long)p->dups);
  *out = strdup(buf);
  return *out ? TS_OK : err_set(e, TS_ENOMEM, "select: out of memory");
}
