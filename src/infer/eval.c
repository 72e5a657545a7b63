/* eval.c — evaluation totals: systems, their per-set counts from decode records, the column
 * mapping of Table 1 and the weighted average. */
#include "infer/eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"

void eval_init(eval_table *t) { memset(t, 0, sizeof *t); }

static void eval_col_free(eval_col *c) {
  free(c->label);
  for (size_t i = 0; i < c->n_sets; i++) free(c->sets[i]);
  free(c->sets);
}

static void eval_sys_free(eval_sys *s) {
  free(s->name);
  for (size_t i = 0; i < s->n_sets; i++) free(s->sets[i].name);
  free(s->sets);
  drec_ids_free(s->seen);
}

void eval_free(eval_table *t) {
  for (size_t i = 0; i < t->n_cols; i++) eval_col_free(&t->cols[i]);
  for (size_t i = 0; i < t->n_sys; i++) eval_sys_free(&t->sys[i]);
  free(t->cols);
  free(t->sys);
  eval_init(t);
}

int eval_add_column(eval_table *t, const char *label, const char *const *sets, size_t n, ts_err *e) {
  if (!label || !label[0] || n == 0)
    return err_set(e, TS_EARG, "eval column: a label and at least one set are needed");
  for (size_t i = 0; i < t->n_cols; i++) {
    if (!strcmp(t->cols[i].label, label))
      return err_set(e, TS_EARG, "eval column \"%s\": given twice", label);
    for (size_t j = 0; j < t->cols[i].n_sets; j++)
      for (size_t k = 0; k < n; k++)
        if (sets[k] && !strcasecmp(sets[k], t->cols[i].sets[j]))
          return err_set(e, TS_EARG, "eval column \"%s\": set \"%s\" is already in column \"%s\"",
                         label, sets[k], t->cols[i].label);
  }
  eval_col *nc = realloc(t->cols, (t->n_cols + 1) * sizeof *nc);
  if (!nc) return err_set(e, TS_ENOMEM, "eval column: out of memory");
  t->cols = nc;
  eval_col *c = &t->cols[t->n_cols];
  memset(c, 0, sizeof *c);
  c->label = strdup(label);
  c->sets = calloc(n, sizeof *c->sets);
  int bad = !c->label || !c->sets;
  for (size_t i = 0; !bad && i < n; i++) {
    if (!sets[i] || !sets[i][0]) {
      eval_col_free(c);
      return err_set(e, TS_EARG, "eval column \"%s\": empty set name", label);
    }
    c->sets[i] = strdup(sets[i]);
    bad = !c->sets[i];
    c->n_sets = i + 1;
  }
  if (bad) {
    eval_col_free(c);
    return err_set(e, TS_ENOMEM, "eval column: out of memory");
  }
  t->n_cols++;
  return TS_OK;
}

int eval_add_column_spec(eval_table *t, const char *spec, ts_err *e) {
  const char *eq = strchr(spec, '=');
  if (!eq || eq == spec || !eq[1])
    return err_set(e, TS_EARG, "eval column \"%s\": expected LABEL=SET[,SET...]", spec);
  char *copy = strdup(spec);
  const char *names[64];
  size_t n = 0;
  if (!copy) return err_set(e, TS_ENOMEM, "eval column: out of memory");
  copy[eq - spec] = 0;
  char *save = NULL;
  for (char *tok = strtok_r(copy + (eq - spec) + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (n == 64) {
      free(copy);
      return err_set(e, TS_EARG, "eval column \"%s\": more than 64 sets", spec);
    }
    names[n++] = tok;
  }
  int rc = n ? eval_add_column(t, copy, names, n, e)
             : err_set(e, TS_EARG, "eval column \"%s\": no set names", spec);
  free(copy);
  return rc;
}

int eval_default_columns(eval_table *t, ts_err *e) {
  static const char *const single[] = {"single", "librispeech", "test-clean"};
  static const char *const mix2[] = {"libri2mix"};
  static const char *const mix3[] = {"libri3mix"};
  int rc = eval_add_column(t, "Single", single, 3, e);
  if (!rc) rc = eval_add_column(t, "Libri2Mix", mix2, 1, e);
  if (!rc) rc = eval_add_column(t, "Libri3Mix", mix3, 1, e);
  return rc;
}

int eval_system(eval_table *t, const char *name, eval_sys **out, ts_err *e) {
  for (size_t i = 0; i < t->n_sys; i++)
    if (!strcmp(t->sys[i].name, name)) {
      *out = &t->sys[i];
      return TS_OK;
    }
  eval_sys *ns = realloc(t->sys, (t->n_sys + 1) * sizeof *ns);
  if (!ns) return err_set(e, TS_ENOMEM, "eval: out of memory");
  t->sys = ns;
  eval_sys *s = &t->sys[t->n_sys];
  memset(s, 0, sizeof *s);
  s->name = strdup(name);
  if (!s->name) return err_set(e, TS_ENOMEM, "eval: out of memory");
  int rc = drec_ids_new(&s->seen, e);
  if (rc) {
    free(s->name);
    return rc;
  }
  t->n_sys++;
  *out = s;
  return TS_OK;
}

static int eval_find_set(eval_sys *s, const char *name, eval_set **out, ts_err *e) {
  for (size_t i = 0; i < s->n_sets; i++)
    if (!strcmp(s->sets[i].name, name)) {
      *out = &s->sets[i];
      return TS_OK;
    }
  if (s->n_sets == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 4;
    eval_set *nv = realloc(s->sets, nc * sizeof *nv);
    if (!nv) return err_set(e, TS_ENOMEM, "eval: out of memory");
    s->sets = nv;
    s->cap = nc;
  }
  eval_set *x = &s->sets[s->n_sets];
  memset(x, 0, sizeof *x);
  x->name = strdup(name);
  if (!x->name) return err_set(e, TS_ENOMEM, "eval: out of memory");
  s->n_sets++;
  *out = x;
  return TS_OK;
}

int eval_sys_add(eval_sys *s, const drec *r, ts_err *e) {
  size_t nk = strlen(r->set) + strlen(r->id) + 2;
  char *key = malloc(nk);
  if (!key) return err_set(e, TS_ENOMEM, "eval: out of memory");
  snprintf(key, nk, "%s\t%s", r->set, r->id);
  int found = 0;
  int rc = drec_ids_add(s->seen, key, 0, &found, NULL, e);
  free(key);
  if (rc) return rc;
  if (found) {
    log_warn("eval %s: sample \"%s\" of set \"%s\" seen again; the later record is ignored", s->name,
             r->id, r->set);
    s->dups++;
    return TS_OK;
  }
  eval_set *x = NULL;
  rc = eval_find_set(s, r->set, &x, e);
  if (rc) return rc;
  x->utts++;
  wer_stats w = {0};
  w.sub = r->sub;
  w.del = r->del;
  w.ins = r->ins;
  w.n_ref = r->n;
  w.hit = r->n - r->sub - r->del;
  w.n_hyp = w.hit + r->sub + r->ins;
  wer_stats_add(&x->st, &w);
  x->fmt_err += !r->format_ok;
  if (r->wrong_speaker >= 0) {
    x->ws_known++;
    x->ws += r->wrong_speaker;
  }
  if (r->think_ok >= 0) {
    x->think_known++;
    x->think_ok += r->think_ok;
  }
  x->repetition += r->repetition > 0;
  return TS_OK;
}

static int eval_add_cb(const drec *r, void *user, ts_err *e) { return eval_sys_add(user, r, e); }

int eval_sys_load(eval_sys *s, const char *path, ts_err *e) {
  int64_t skipped = 0;
  int rc = drec_read_each(path, eval_add_cb, s, &skipped, e);
  s->skipped += skipped;
  return rc;
}

size_t eval_cell(const eval_sys *s, const eval_col *c, wer_stats *out) {
  memset(out, 0, sizeof *out);
  size_t found = 0;
  for (size_t j = 0; j < c->n_sets; j++)
    for (size_t i = 0; i < s->n_sets; i++)
      if (!strcasecmp(s->sets[i].name, c->sets[j]) && s->sets[i].utts > 0) {
        wer_stats_add(out, &s->sets[i].st);
        found++;
      }
  return found;
}

int eval_avg(const eval_table *t, const eval_sys *s, wer_stats *out) {
  memset(out, 0, sizeof *out);
  int all = t->n_cols > 0;
  for (size_t c = 0; c < t->n_cols; c++) {
    wer_stats w;
    if (!eval_cell(s, &t->cols[c], &w)) all = 0;
    wer_stats_add(out, &w);
  }
  return all;
}
