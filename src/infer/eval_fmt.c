/* eval_fmt.c — evaluation tables written out: Table 1 and the per-set breakdown as Markdown,
 * and the same numbers as JSON. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "infer/eval.h"
#include "text/txbuf.h"

static int ef_printf(txbuf *b, ts_err *e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int ef_printf(txbuf *b, ts_err *e, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return err_set(e, TS_EINTERNAL, "eval: formatting failed");
  if ((size_t)n < sizeof small) return txbuf_put(b, small, (size_t)n, e);
  char *big = malloc((size_t)n + 1);
  if (!big) return err_set(e, TS_ENOMEM, "eval: out of memory");
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  int rc = txbuf_put(b, big, (size_t)n, e);
  free(big);
  return rc;
}

/* A table cell: '|' escaped, line breaks as spaces. */
static int ef_cell(txbuf *b, const char *s, ts_err *e) {
  int rc = txbuf_put(b, "| ", 2, e);
  for (; !rc && *s; s++) {
    if (*s == '|')
      rc = txbuf_put(b, "\\|", 2, e);
    else if (*s == '\n' || *s == '\r')
      rc = txbuf_put(b, " ", 1, e);
    else
      rc = txbuf_put(b, s, 1, e);
  }
  if (!rc) rc = txbuf_put(b, " ", 1, e);
  return rc;
}

/* The column a set belongs to, n_cols when none. */
static size_t ef_col_of(const eval_table *t, const char *set) {
  for (size_t c = 0; c < t->n_cols; c++)
    for (size_t j = 0; j < t->cols[c].n_sets; j++)
      if (!strcasecmp(t->cols[c].sets[j], set)) return c;
  return t->n_cols;
}

/* Set indices of s in report order: by column, then by name. *out malloc'd (n_sets). */
static int ef_order(const eval_table *t, const eval_sys *s, size_t **out, ts_err *e) {
  size_t *ix = malloc((s->n_sets ? s->n_sets : 1) * sizeof *ix);
  if (!ix) return err_set(e, TS_ENOMEM, "eval: out of memory");
  for (size_t i = 0; i < s->n_sets; i++) {
    size_t j = i;
    size_t ci = ef_col_of(t, s->sets[i].name);
    while (j > 0) {
      size_t cp = ef_col_of(t, s->sets[ix[j - 1]].name);
      if (cp < ci || (cp == ci && strcmp(s->sets[ix[j - 1]].name, s->sets[i].name) <= 0)) break;
      ix[j] = ix[j - 1];
      j--;
    }
    ix[j] = i;
  }
  *out = ix;
  return TS_OK;
}

static double ef_pct(int64_t a, int64_t b) { return b > 0 ? 100.0 * (double)a / (double)b : 0.0; }

static int ef_table1(const eval_table *t, txbuf *b, ts_err *e) {
  int rc = ef_printf(b, e, "## Table 1: WER (%%)\n\n| System ");
  for (size_t c = 0; !rc && c < t->n_cols; c++) rc = ef_cell(b, t->cols[c].label, e);
  if (!rc) rc = ef_printf(b, e, "| Avg |\n|:--");
  for (size_t c = 0; !rc && c < t->n_cols; c++) rc = ef_printf(b, e, "|--:");
  if (!rc) rc = ef_printf(b, e, "|--:|\n");
  for (size_t i = 0; !rc && i < t->n_sys; i++) {
    const eval_sys *s = &t->sys[i];
    rc = ef_cell(b, s->name, e);
    for (size_t c = 0; !rc && c < t->n_cols; c++) {
      wer_stats w;
      if (eval_cell(s, &t->cols[c], &w))
        rc = ef_printf(b, e, "| %.2f ", 100.0 * wer_stats_rate(&w));
      else
        rc = ef_printf(b, e, "| - ");
    }
    wer_stats a;
    if (!rc) {
      if (eval_avg(t, s, &a))
        rc = ef_printf(b, e, "| %.2f |\n", 100.0 * wer_weighted(&a, 1));
      else
        rc = ef_printf(b, e, "| - |\n");
    }
  }
  return rc;
}

static int ef_per_set(const eval_table *t, txbuf *b, ts_err *e) {
  int rc = ef_printf(b, e,
                     "\n## Per set\n\n| System | Set | Utts | Words | Sub | Del | Ins | Errors | "
                     "WER (%%) | Format errors | Wrong speaker | CoT correct | Repetition |\n"
                     "|:--|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  for (size_t i = 0; !rc && i < t->n_sys; i++) {
    const eval_sys *s = &t->sys[i];
    size_t *ix = NULL;
    rc = ef_order(t, s, &ix, e);
    for (size_t k = 0; !rc && k < s->n_sets; k++) {
      const eval_set *x = &s->sets[ix[k]];
      rc = ef_cell(b, s->name, e);
      if (!rc) rc = ef_cell(b, x->name, e);
      if (!rc)
        rc = ef_printf(b, e, "| %lld | %lld | %lld | %lld | %lld | %lld | %.2f | %lld (%.2f%%) ",
                       (long long)x->utts, (long long)x->st.n_ref, (long long)x->st.sub,
                       (long long)x->st.del, (long long)x->st.ins,
                       (long long)wer_stats_errors(&x->st), 100.0 * wer_stats_rate(&x->st),
                       (long long)x->fmt_err, ef_pct(x->fmt_err, x->utts));
      if (!rc && x->ws_known)
        rc = ef_printf(b, e, "| %lld/%lld (%.2f%%) ", (long long)x->ws, (long long)x->ws_known,
                       ef_pct(x->ws, x->ws_known));
      else if (!rc)
        rc = ef_printf(b, e, "| - ");
      if (!rc && x->think_known)
        rc = ef_printf(b, e, "| %lld/%lld (%.2f%%) ", (long long)x->think_ok,
                       (long long)x->think_known, ef_pct(x->think_ok, x->think_known));
      else if (!rc)
        rc = ef_printf(b, e, "| - ");
      if (!rc) rc = ef_printf(b, e, "| %lld |\n", (long long)x->repetition);
    }
    free(ix);
  }
  return rc;
}

int eval_markdown(const eval_table *t, char **out, ts_err *e) {
  *out = NULL;
  txbuf b = {0};
  int rc = ef_table1(t, &b, e);
  if (!rc) rc = ef_per_set(t, &b, e);
  int noted = 0; /* footnotes, after a blank line so they are not table rows */
  for (size_t i = 0; !rc && i < t->n_sys; i++) {
    const eval_sys *s = &t->sys[i];
    if (s->skipped || s->dups)
      rc = ef_printf(&b, e, "%s%s: %lld bad line(s) skipped, %lld duplicate record(s) ignored\n",
                     noted++ ? "" : "\n", s->name, (long long)s->skipped, (long long)s->dups);
  }
  if (rc) {
    txbuf_free(&b);
    return rc;
  }
  *out = txbuf_take(&b, NULL);
  return *out ? TS_OK : err_set(e, TS_ENOMEM, "eval: out of memory");
}

/* {errors, words, wer} */
static cJSON *ej_wer(const wer_stats *w) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  if (!cJSON_AddNumberToObject(o, "errors", (double)wer_stats_errors(w)) ||
      !cJSON_AddNumberToObject(o, "words", (double)w->n_ref) ||
      !cJSON_AddNumberToObject(o, "wer", wer_stats_rate(w))) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static int ej_num(cJSON *o, const char *k, double v) { return cJSON_AddNumberToObject(o, k, v) != NULL; }

static cJSON *ej_set(const eval_set *x) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  int ok = cJSON_AddStringToObject(o, "set", x->name) != NULL && ej_num(o, "utts", (double)x->utts) &&
           ej_num(o, "words", (double)x->st.n_ref) && ej_num(o, "sub", (double)x->st.sub) &&
           ej_num(o, "del", (double)x->st.del) && ej_num(o, "ins", (double)x->st.ins) &&
           ej_num(o, "errors", (double)wer_stats_errors(&x->st)) &&
           ej_num(o, "wer", wer_stats_rate(&x->st)) && ej_num(o, "format_errors", (double)x->fmt_err) &&
           ej_num(o, "format_error_rate", x->utts ? (double)x->fmt_err / (double)x->utts : 0.0) &&
           ej_num(o, "wrong_speaker", (double)x->ws) && ej_num(o, "wrong_speaker_known", (double)x->ws_known);
  if (ok)
    ok = x->ws_known ? ej_num(o, "wrong_speaker_rate", (double)x->ws / (double)x->ws_known)
                     : cJSON_AddNullToObject(o, "wrong_speaker_rate") != NULL;
  ok = ok && ej_num(o, "think_ok", (double)x->think_ok) && ej_num(o, "think_known", (double)x->think_known) &&
       ej_num(o, "repetition", (double)x->repetition);
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static cJSON *ej_sys(const eval_table *t, const eval_sys *s, ts_err *e) {
  cJSON *o = cJSON_CreateObject(), *t1 = cJSON_CreateObject(), *cells = cJSON_CreateObject(),
        *sets = cJSON_CreateArray();
  int ok = o && t1 && cells && sets;
  if (!ok) {
    cJSON_Delete(o);
    cJSON_Delete(t1);
    cJSON_Delete(cells);
    cJSON_Delete(sets);
    return NULL;
  }
  cJSON_AddItemToObject(t1, "cells", cells);
  ok = cJSON_AddStringToObject(o, "name", s->name) && ej_num(o, "skipped_lines", (double)s->skipped) &&
       ej_num(o, "duplicates", (double)s->dups);
  cJSON_AddItemToObject(o, "table1", t1);
  for (size_t c = 0; ok && c < t->n_cols; c++) {
    wer_stats w;
    cJSON *v = eval_cell(s, &t->cols[c], &w) ? ej_wer(&w) : cJSON_CreateNull();
    ok = v && cJSON_AddItemToObject(cells, t->cols[c].label, v);
  }
  if (ok) {
    wer_stats a;
    cJSON *v = eval_avg(t, s, &a) ? ej_wer(&a) : cJSON_CreateNull();
    ok = v && cJSON_AddItemToObject(t1, "avg", v);
  }
  cJSON_AddItemToObject(o, "sets", sets);
  size_t *ix = NULL;
  if (ok && ef_order(t, s, &ix, e) != TS_OK) {
    cJSON_Delete(o);
    return NULL;
  }
  for (size_t k = 0; ok && k < s->n_sets; k++) {
    cJSON *v = ej_set(&s->sets[ix[k]]);
    ok = v && cJSON_AddItemToArray(sets, v);
  }
  free(ix);
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

int eval_json(const eval_table *t, char **out, ts_err *e) {
  *out = NULL;
  cJSON *root = cJSON_CreateObject(), *cols = cJSON_CreateArray(), *sys = cJSON_CreateArray();
  int ok = root && cols && sys;
  if (ok) {
    cJSON_AddItemToObject(root, "columns", cols);
    cJSON_AddItemToObject(root, "systems", sys);
  } else {
    cJSON_Delete(cols);
    cJSON_Delete(sys);
  }
  for (size_t c = 0; ok && c < t->n_cols; c++) {
    cJSON *o = cJSON_CreateObject(), *names = cJSON_CreateArray();
    ok = o && names && cJSON_AddStringToObject(o, "label", t->cols[c].label);
    for (size_t j = 0; ok && j < t->cols[c].n_sets; j++) {
      cJSON *sname = cJSON_CreateString(t->cols[c].sets[j]);
      ok = sname && cJSON_AddItemToArray(names, sname);
    }
    if (ok) {
      cJSON_AddItemToObject(o, "sets", names);
      cJSON_AddItemToArray(cols, o);
    } else {
      cJSON_Delete(o);
      cJSON_Delete(names);
    }
  }
  for (size_t i = 0; ok && i < t->n_sys; i++) {
    cJSON *s = ej_sys(t, &t->sys[i], e);
    ok = s && cJSON_AddItemToArray(sys, s);
  }
  char *txt = ok ? cJSON_Print(root) : NULL;
  cJSON_Delete(root);
  if (!txt) return err_set(e, TS_ENOMEM, "eval: cannot build the JSON report (out of memory)");
  *out = strdup(txt);
  cJSON_free(txt);
  return *out ? TS_OK : err_set(e, TS_ENOMEM, "eval: out of memory");
}
