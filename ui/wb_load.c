/* wb_load.c — opening a manifest JSONL (entries + their original lines, for export) or a
 * decode JSONL (records per DESIGN.md §9, read here with cJSON) into the workbench. */
#include <cjson/cJSON.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "wb_state.h"

static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

static char *dup_s(const char *s) { return s ? strdup(s) : NULL; }

/* -1 unknown, 0 manifest, 1 decode */
static int line_kind(const char *s, size_t n) {
  cJSON *j = cJSON_ParseWithLength(s, n);
  if (!j) return -1;
  int k = -1;
  if (cJSON_IsObject(j)) {
    if (cJSON_GetObjectItemCaseSensitive(j, "sources")) k = 0;
    else if (cJSON_GetObjectItemCaseSensitive(j, "hyp") || cJSON_GetObjectItemCaseSensitive(j, "raw")) k = 1;
  }
  cJSON_Delete(j);
  return k;
}

static int blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
  return 1;
}

static int add_manifest_line(wb *w, const char *s, size_t n, const char *what, const char *base, ts_err *e) {
  man_entry x;
  memset(&x, 0, sizeof x);
  if (man_entry_from_json(s, n, what, base, &x, e)) return e->code;
  if (wb_find(w, x.id) >= 0) {
    err_set(e, TS_EFORMAT, "%s: duplicate id \"%s\"", what, x.id);
    man_entry_free(&x);
    return TS_EFORMAT;
  }
  wb_item *it = wb_add_item(w, e);
  if (!it) {
    man_entry_free(&x);
    return TS_ENOMEM;
  }
  it->ent = x;
  it->has_ent = 1;
  it->id = strdup(x.id);
  it->set = strdup(x.set ? x.set : "");
  it->line = dup_n(s, n);
  it->ref_text = dup_s(x.src[x.target].text);
  it->speakers = x.n_src;
  it->target = x.target;
  if (!it->id || !it->set || !it->line || !it->ref_text) return err_set(e, TS_ENOMEM, "%s: out of memory", what);
  return TS_OK;
}

/* a whole number of at most 2^53 in size (exact in a double; sums of a few cannot overflow) */
static int get_int(const cJSON *j, const char *k, int64_t *v) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
  if (!cJSON_IsNumber(x) || !(fabs(x->valuedouble) <= 9007199254740992.0) || x->valuedouble != floor(x->valuedouble))
    return 0;
  *v = (int64_t)x->valuedouble;
  return 1;
}

/* true/false or 0/1 -> 1/0; -1 when absent */
static int get_bool(const cJSON *j, const char *k) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
  if (cJSON_IsBool(x)) return cJSON_IsTrue(x) ? 1 : 0;
  if (cJSON_IsNumber(x)) return x->valuedouble != 0;
  return -1;
}

static const char *get_str(const cJSON *j, const char *k) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
  return cJSON_IsString(x) ? x->valuestring : NULL;
}

static int add_decode_line(wb *w, const char *s, size_t n, const char *what, int *dup, ts_err *e) {
  cJSON *j = cJSON_ParseWithLength(s, n);
  if (!j || !cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return err_set(e, TS_EFORMAT, "%s: not a JSON object", what);
  }
  int rc = TS_OK;
  const char *id = get_str(j, "id"), *ref = get_str(j, "ref"), *hyp = get_str(j, "hyp");
  int fok = get_bool(j, "format_ok");
  int64_t sub, del, ins, nn;
  if (!id || !ref || !hyp || fok < 0) {
    rc = err_set(e, TS_EFORMAT, "%s: missing id, ref, hyp or format_ok", what);
    goto done;
  }
  if (!get_int(j, "sub", &sub) || !get_int(j, "del", &del) || !get_int(j, "ins", &ins) || !get_int(j, "n", &nn) ||
      sub < 0 || del < 0 || ins < 0 || nn < 0 || sub + del > nn) {
    rc = err_set(e, TS_EFORMAT, "%s: bad or missing sub/del/ins/n", what);
    goto done;
  }
  int k = wb_find(w, id);
  wb_item *it;
  if (k >= 0) {
    it = &w->it[k];
    if (it->has_out && !strcmp(it->out.origin, "decode file")) {
      (*dup)++;
      goto done;
    }
  } else {
    it = wb_add_item(w, e);
    if (!it) {
      rc = TS_ENOMEM;
      goto done;
    }
    it->id = strdup(id);
    it->set = strdup(get_str(j, "set") ? get_str(j, "set") : "");
    it->ref_text = strdup(ref);
    int64_t v;
    if (get_int(j, "speakers", &v) && v > 0 && v <= MAN_MAX_SRC) it->speakers = (int)v;
    if (get_int(j, "target", &v) && v >= 0 && v < MAN_MAX_SRC) it->target = (int)v;
  }
  wb_out_free(&it->out);
  wb_out *o = &it->out;
  const char *raw = get_str(j, "raw");
  o->raw = strdup(raw ? raw : "");
  o->hyp = strdup(hyp);
  o->ref = strdup(ref);
  o->format_ok = fok;
  o->fmt = -1;
  if (raw && *raw) {
    size_t a, b, c, d;
    o->fmt = (int)cot_format_check(raw, strlen(raw), &a, &b, &c, &d);
  }
  o->sub = sub;
  o->del = del;
  o->ins = ins;
  o->n = nn;
  o->repetition = get_bool(j, "repetition");
  o->wrong_target = get_bool(j, "wrong_speaker");
  if (raw && *raw && it->target >= 0) {
    cot_parsed p;
    if (cot_parse(raw, strlen(raw), &p, NULL) == TS_OK && p.target >= 0 && p.target != it->target) o->wrong_target = 1;
    else if (o->wrong_target < 0 && p.target >= 0) o->wrong_target = 0;
  }
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "reward");
  if (cJSON_IsNumber(r)) {
    o->has_reward = 1;
    o->reward = r->valuedouble;
  }
  snprintf(o->origin, sizeof o->origin, "decode file");
  it->has_out = 1;
  if (!it->id || !it->set || !it->ref_text || !o->raw || !o->hyp || !o->ref)
    rc = err_set(e, TS_ENOMEM, "%s: out of memory", what);
done:
  cJSON_Delete(j);
  return rc;
}

int wb_open_file(wb *w, const char *path, const char **kind, ts_err *e) {
  char *buf;
  size_t len;
  if (afile_read(path, &buf, &len, e)) return e->code;
  /* the kind comes from the first line that parses */
  int k = -1;
  for (size_t p = 0; p < len && k < 0;) {
    const char *nl = memchr(buf + p, '\n', len - p);
    size_t q = nl ? (size_t)(nl - buf) : len;
    if (!blank(buf + p, q - p)) k = line_kind(buf + p, q - p);
    p = q + 1;
  }
  if (k < 0) {
    free(buf);
    return err_set(e, TS_EFORMAT, "%s: no line is a manifest entry (\"sources\") or a decode record (\"hyp\")", path);
  }
  char dirbuf[4096];
  snprintf(dirbuf, sizeof dirbuf, "%s", path);
  const char *base = dirname(dirbuf);
  if (k == 0) {
    wb_clear_items(w);
    snprintf(w->manifest_path, sizeof w->manifest_path, "%s", path);
  } else {
    snprintf(w->decode_path, sizeof w->decode_path, "%s", path);
  }
  int lineno = 0, n_bad = 0, n_ok = 0, n_dup = 0, rc = TS_OK;
  for (size_t p = 0; p < len;) {
    const char *nl = memchr(buf + p, '\n', len - p);
    size_t q = nl ? (size_t)(nl - buf) : len;
    lineno++;
    size_t m = q - p;
    if (m && buf[p + m - 1] == '\r') m--;
    if (!blank(buf + p, m)) {
      char what[4200];
      snprintf(what, sizeof what, "%s:%d", path, lineno);
      ts_err le;
      err_clear(&le);
      int r = k == 0 ? add_manifest_line(w, buf + p, m, what, base, &le) : add_decode_line(w, buf + p, m, what, &n_dup, &le);
      if (r == TS_ENOMEM) {
        rc = err_set(e, TS_ENOMEM, "%s", le.msg);
        break;
      }
      if (r) {
        if (n_bad == 0) wb_msg(w, 1, "skipped %s", le.msg);
        n_bad++;
      } else {
        n_ok++;
      }
    }
    p = q + 1;
  }
  free(buf);
  if (rc) return rc;
  *kind = k == 0 ? "manifest" : "decode";
  if (n_bad) wb_msg(w, 1, "%s: %d good lines, %d bad lines skipped (first: see log)", path, n_ok, n_bad);
  if (n_dup) wb_msg(w, 1, "%s: %d repeated ids kept their first record", path, n_dup);
  wb_refilter(w);
  return TS_OK;
}
