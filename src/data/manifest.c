/* manifest.c — JSONL manifest of target-speaker samples: write, read (skipping bad lines). */
#include "data/manifest.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "base/log.h"

static char *dupz(const char *s) { return s ? strdup(s) : NULL; }

void man_init(manifest *m) { memset(m, 0, sizeof *m); }

void man_entry_free(man_entry *x) {
  if (!x) return;
  free(x->id);
  free(x->set);
  for (int i = 0; i < x->n_src; i++) {
    free(x->src[i].path);
    free(x->src[i].speaker);
    free(x->src[i].text);
    free(x->src[i].utt);
  }
  free(x->src);
  free(x->enroll.path);
  free(x->enroll.utt);
  free(x->enroll.speaker);
  free(x->cot);
  free(x->similarity);
  memset(x, 0, sizeof *x);
}

void man_free(manifest *m) {
  for (int64_t i = 0; i < m->n; i++) man_entry_free(&m->e[i]);
  free(m->e);
  man_init(m);
}

int man_entry_copy(man_entry *d, const man_entry *s, ts_err *e) {
  memset(d, 0, sizeof *d);
  *d = *s;
  d->id = dupz(s->id);
  d->set = dupz(s->set ? s->set : "");
  d->src = calloc(s->n_src > 0 ? (size_t)s->n_src : 1, sizeof *d->src);
  d->enroll.path = dupz(s->enroll.path);
  d->enroll.utt = dupz(s->enroll.utt);
  d->enroll.speaker = dupz(s->enroll.speaker);
  d->cot = dupz(s->cot);
  d->similarity = NULL;
  if (s->similarity) {
    d->similarity = malloc(sizeof(double) * (size_t)s->n_src);
    if (d->similarity) memcpy(d->similarity, s->similarity, sizeof(double) * (size_t)s->n_src);
  }
  if (!d->src) {
    d->n_src = 0;
    man_entry_free(d);
    return err_set(e, TS_ENOMEM, "manifest: out of memory");
  }
  for (int i = 0; i < s->n_src; i++) {
    d->src[i] = s->src[i];
    d->src[i].path = dupz(s->src[i].path);
    d->src[i].speaker = dupz(s->src[i].speaker);
    d->src[i].text = dupz(s->src[i].text);
    d->src[i].utt = dupz(s->src[i].utt);
  }
  return TS_OK;
}

static int man_grow(manifest *m, ts_err *e) {
  if (m->n < m->cap) return TS_OK;
  int64_t nc = m->cap ? m->cap * 2 : 64;
  man_entry *ne = realloc(m->e, sizeof *ne * (size_t)nc);
  if (!ne) return err_set(e, TS_ENOMEM, "manifest: out of memory for %lld entries", (long long)nc);
  m->e = ne;
  m->cap = nc;
  return TS_OK;
}

int man_add(manifest *m, const man_entry *x, ts_err *e) {
  int rc = man_grow(m, e);
  if (rc) return rc;
  rc = man_entry_copy(&m->e[m->n], x, e);
  if (rc) return rc;
  m->n++;
  return TS_OK;
}

int man_take(manifest *m, man_entry *x, ts_err *e) {
  int rc = man_grow(m, e);
  if (rc) return rc;
  m->e[m->n++] = *x;
  memset(x, 0, sizeof *x);
  return TS_OK;
}

char man_gender_parse(const char *s) {
  if (!s) return '?';
  if (!strcasecmp(s, "m") || !strcasecmp(s, "male")) return 'M';
  if (!strcasecmp(s, "f") || !strcasecmp(s, "female")) return 'F';
  return '?';
}

int man_entry_check(const man_entry *x, ts_err *e) {
  const char *id = x->id ? x->id : "?";
  if (!x->id || !x->id[0]) return err_set(e, TS_EFORMAT, "empty \"id\"");
  if (x->n_src < 1 || x->n_src > MAN_MAX_SRC)
    return err_set(e, TS_EFORMAT, "%s: %d sources (1..%d allowed)", id, x->n_src, MAN_MAX_SRC);
  if (x->target < 0 || x->target >= x->n_src)
    return err_set(e, TS_EFORMAT, "%s: target %d out of range [0, %d)", id, x->target, x->n_src);
  for (int i = 0; i < x->n_src; i++) {
    const man_source *s = &x->src[i];
    if (!s->path || !s->path[0]) return err_set(e, TS_EFORMAT, "%s: source %d: empty path", id, i);
    if (!s->speaker || !s->speaker[0])
      return err_set(e, TS_EFORMAT, "%s: source %d: empty speaker", id, i);
    if (!s->text) return err_set(e, TS_EFORMAT, "%s: source %d: no text", id, i);
    if (!isnan(s->gain) && !(s->gain > 0 && s->gain <= MAN_MAX_GAIN))
      return err_set(e, TS_EFORMAT, "%s: source %d: gain %g must be in (0, %g]", id, i, s->gain, MAN_MAX_GAIN);
    if (!isnan(s->lufs) && !(s->lufs >= MAN_MIN_LUFS && s->lufs <= MAN_MAX_LUFS))
      return err_set(e, TS_EFORMAT, "%s: source %d: lufs %g must be in [%g, %g]", id, i, s->lufs, MAN_MIN_LUFS,
                     MAN_MAX_LUFS);
    if (!(s->offset >= 0 && s->offset <= MAN_MAX_OFFSET))
      return err_set(e, TS_EFORMAT, "%s: source %d: offset %g s must be in [0, %g]", id, i, s->offset,
                     MAN_MAX_OFFSET);
    if (!isnan(s->duration) && !(s->duration >= 0 && s->duration <= MAN_MAX_SECONDS))
      return err_set(e, TS_EFORMAT, "%s: source %d: duration %g s must be in [0, %g]", id, i, s->duration,
                     MAN_MAX_SECONDS);
  }
  const man_enroll *en = &x->enroll;
  if (!en->path || !en->path[0]) return err_set(e, TS_EFORMAT, "%s: enroll: empty path", id);
  if (!(en->start >= 0 && en->start <= MAN_MAX_OFFSET))
    return err_set(e, TS_EFORMAT, "%s: enroll: start %g s must be in [0, %g]", id, en->start, MAN_MAX_OFFSET);
  if (!(en->duration >= 0 && en->duration <= MAN_MAX_SECONDS))
    return err_set(e, TS_EFORMAT, "%s: enroll: duration %g s must be in [0, %g]", id, en->duration,
                   MAN_MAX_SECONDS);
  if (!isnan(en->lufs) && !(en->lufs >= MAN_MIN_LUFS && en->lufs <= MAN_MAX_LUFS))
    return err_set(e, TS_EFORMAT, "%s: enroll: lufs %g must be in [%g, %g]", id, en->lufs, MAN_MIN_LUFS, MAN_MAX_LUFS);
  if (!isnan(en->gain) && !(en->gain > 0 && en->gain <= MAN_MAX_GAIN))
    return err_set(e, TS_EFORMAT, "%s: enroll: gain %g must be in (0, %g]", id, en->gain, MAN_MAX_GAIN);
  if (!isnan(x->duration) && !(x->duration >= 0 && x->duration <= 2 * MAN_MAX_SECONDS))
    return err_set(e, TS_EFORMAT, "%s: duration %g s must be in [0, %g]", id, x->duration, 2 * MAN_MAX_SECONDS);
  if (x->mode != MAN_MODE_MAX && x->mode != MAN_MODE_MIN)
    return err_set(e, TS_EFORMAT, "%s: unknown mode %d", id, x->mode);
  if (x->similarity)
    for (int i = 0; i < x->n_src; i++)
      if (!isfinite(x->similarity[i]))
        return err_set(e, TS_EFORMAT, "%s: similarity %d is not finite", id, i);
  return TS_OK;
}

/* ---- writing ---- */

static void add_num(cJSON *o, const char *k, double v) {
  if (!isnan(v)) cJSON_AddNumberToObject(o, k, v);
}
static void add_str(cJSON *o, const char *k, const char *v) {
  if (v) cJSON_AddStringToObject(o, k, v);
}

int man_entry_to_json(const man_entry *x, char **out, ts_err *e) {
  *out = NULL;
  int rc = man_entry_check(x, e);
  if (rc) return rc;
  cJSON *o = cJSON_CreateObject();
  if (!o) return err_set(e, TS_ENOMEM, "manifest: out of memory");
  add_str(o, "id", x->id);
  add_str(o, "set", x->set ? x->set : "");
  cJSON *arr = cJSON_AddArrayToObject(o, "sources");
  for (int i = 0; arr && i < x->n_src; i++) {
    const man_source *s = &x->src[i];
    cJSON *so = cJSON_CreateObject();
    if (!so) break;
    add_str(so, "path", s->path);
    add_str(so, "speaker", s->speaker);
    char g[2] = {s->gender ? s->gender : '?', 0};
    add_str(so, "gender", g);
    add_str(so, "text", s->text);
    add_num(so, "gain", s->gain);
    add_num(so, "offset", s->offset);
    add_str(so, "utt", s->utt);
    add_num(so, "lufs", s->lufs);
    add_num(so, "duration", s->duration);
    cJSON_AddItemToArray(arr, so);
  }
  cJSON_AddNumberToObject(o, "target", x->target);
  cJSON *en = cJSON_AddObjectToObject(o, "enroll");
  if (en) {
    add_str(en, "path", x->enroll.path);
    add_num(en, "start", x->enroll.start);
    add_num(en, "duration", x->enroll.duration);
    add_str(en, "utt", x->enroll.utt);
    add_str(en, "speaker", x->enroll.speaker);
    add_num(en, "gain", x->enroll.gain);
    add_num(en, "lufs", x->enroll.lufs);
  }
  if (x->mode == MAN_MODE_MIN) add_str(o, "mode", "min");
  add_num(o, "duration", x->duration);
  add_str(o, "cot", x->cot);
  if (x->similarity) {
    cJSON *sa = cJSON_AddArrayToObject(o, "similarity");
    for (int i = 0; sa && i < x->n_src; i++) cJSON_AddItemToArray(sa, cJSON_CreateNumber(x->similarity[i]));
  }
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!s) return err_set(e, TS_ENOMEM, "%s: cannot serialise", x->id);
  *out = strdup(s);
  cJSON_free(s);
  if (!*out) return err_set(e, TS_ENOMEM, "manifest: out of memory");
  return TS_OK;
}

int man_write(const char *path, const manifest *m, ts_err *e) {
  afile f;
  int rc = afile_open(&f, path, e);
  if (rc) return rc;
  for (int64_t i = 0; i < m->n; i++) {
    char *line;
    rc = man_entry_to_json(&m->e[i], &line, e);
    if (rc) {
      err_prefix(e, "%s: entry %lld", path, (long long)i);
      break;
    }
    rc = afile_put(&f, line, strlen(line), e);
    if (!rc) rc = afile_put(&f, "\n", 1, e);
    free(line);
    if (rc) break;
  }
  if (rc) {
    afile_abort(&f);
    return rc;
  }
  return afile_commit(&f, e);
}

/* ---- reading ---- */

/* Optional string: NULL when absent; error when present but not a string. */
static int get_str(const cJSON *o, const char *k, int required, char **out, const char *what,
                   ts_err *e) {
  *out = NULL;
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!it || cJSON_IsNull(it)) {
    if (required) return err_set(e, TS_EFORMAT, "%s: missing \"%s\"", what, k);
    return TS_OK;
  }
  if (cJSON_IsNumber(it)) { /* speaker ids are sometimes written as numbers */
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", it->valuedouble);
    *out = strdup(buf);
  } else if (cJSON_IsString(it)) {
    *out = strdup(it->valuestring);
  } else {
    return err_set(e, TS_EFORMAT, "%s: \"%s\" must be a string", what, k);
  }
  if (!*out) return err_set(e, TS_ENOMEM, "%s: out of memory", what);
  return TS_OK;
}

static int get_num(const cJSON *o, const char *k, double def, double *out, const char *what,
                   ts_err *e) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!it || cJSON_IsNull(it)) {
    *out = def;
    return TS_OK;
  }
  if (!cJSON_IsNumber(it)) return err_set(e, TS_EFORMAT, "%s: \"%s\" must be a number", what, k);
  *out = it->valuedouble;
  return TS_OK;
}

static int resolve(char **p, const char *base_dir, ts_err *e) {
  if (!*p || !base_dir || !base_dir[0] || (*p)[0] == '/') return TS_OK;
  size_t n = strlen(base_dir) + strlen(*p) + 2;
  char *r = malloc(n);
  if (!r) return err_set(e, TS_ENOMEM, "manifest: out of memory");
  snprintf(r, n, "%s/%s", base_dir, *p);
  free(*p);
  *p = r;
  return TS_OK;
}

int man_entry_from_json(const char *text, size_t n, const char *what, const char *base_dir,
                        man_entry *x, ts_err *e) {
  memset(x, 0, sizeof *x);
  const char *end = NULL;
  cJSON *o = cJSON_ParseWithLengthOpts(text, n, &end, 0);
  if (!o) {
    return err_set(e, TS_EFORMAT, "%s: invalid JSON near byte %ld", what,
                   end ? (long)(end - text) : -1L);
  }
  int rc = TS_OK;
  if (!cJSON_IsObject(o)) {
    rc = err_set(e, TS_EFORMAT, "%s: not a JSON object", what);
    goto done;
  }
  if ((rc = get_str(o, "id", 1, &x->id, what, e))) goto done;
  if ((rc = get_str(o, "set", 0, &x->set, what, e))) goto done;
  if (!x->set && !(x->set = strdup(""))) {
    rc = err_set(e, TS_ENOMEM, "%s: out of memory", what);
    goto done;
  }
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "sources");
  if (!cJSON_IsArray(arr)) {
    rc = err_set(e, TS_EFORMAT, "%s: \"sources\" missing or not an array", what);
    goto done;
  }
  int ns = cJSON_GetArraySize(arr);
  if (ns < 1 || ns > MAN_MAX_SRC) {
    rc = err_set(e, TS_EFORMAT, "%s: %d sources (1..%d allowed)", what, ns, MAN_MAX_SRC);
    goto done;
  }
  x->src = calloc((size_t)ns, sizeof *x->src);
  if (!x->src) {
    rc = err_set(e, TS_ENOMEM, "%s: out of memory", what);
    goto done;
  }
  x->n_src = ns;
  for (int i = 0; i < ns; i++) {
    const cJSON *so = cJSON_GetArrayItem(arr, i);
    man_source *s = &x->src[i];
    s->gain = s->lufs = s->duration = NAN;
    char w[600];
    snprintf(w, sizeof w, "%s: source %d", what, i);
    if (!cJSON_IsObject(so)) {
      rc = err_set(e, TS_EFORMAT, "%s: not an object", w);
      goto done;
    }
    char *g = NULL;
    if ((rc = get_str(so, "path", 1, &s->path, w, e))) goto done;
    if ((rc = get_str(so, "speaker", 1, &s->speaker, w, e))) goto done;
    if ((rc = get_str(so, "text", 1, &s->text, w, e))) goto done;
    if ((rc = get_str(so, "utt", 0, &s->utt, w, e))) goto done;
    if ((rc = get_str(so, "gender", 0, &g, w, e))) goto done;
    s->gender = man_gender_parse(g);
    free(g);
    if ((rc = get_num(so, "gain", NAN, &s->gain, w, e))) goto done;
    if ((rc = get_num(so, "lufs", NAN, &s->lufs, w, e))) goto done;
    if ((rc = get_num(so, "offset", 0, &s->offset, w, e))) goto done;
    if ((rc = get_num(so, "duration", NAN, &s->duration, w, e))) goto done;
    if ((rc = resolve(&s->path, base_dir, e))) goto done;
  }
  const cJSON *ti = cJSON_GetObjectItemCaseSensitive(o, "target");
  double t = cJSON_IsNumber(ti) ? ti->valuedouble : NAN;
  if (!cJSON_IsNumber(ti) || t != floor(t)) {
    rc = err_set(e, TS_EFORMAT, "%s: \"target\" missing or not an integer", what);
    goto done;
  }
  if (t < 0 || t >= ns) {
    rc = err_set(e, TS_EFORMAT, "%s: target %g out of range [0, %d)", what, t, ns);
    goto done;
  }
  x->target = (int)t;
  const cJSON *en = cJSON_GetObjectItemCaseSensitive(o, "enroll");
  if (!cJSON_IsObject(en)) {
    rc = err_set(e, TS_EFORMAT, "%s: \"enroll\" missing or not an object", what);
    goto done;
  }
  {
    char w[600];
    snprintf(w, sizeof w, "%s: enroll", what);
    x->enroll.gain = x->enroll.lufs = NAN;
    if ((rc = get_str(en, "path", 1, &x->enroll.path, w, e))) goto done;
    if ((rc = get_str(en, "utt", 0, &x->enroll.utt, w, e))) goto done;
    if ((rc = get_str(en, "speaker", 0, &x->enroll.speaker, w, e))) goto done;
    if ((rc = get_num(en, "start", 0, &x->enroll.start, w, e))) goto done;
    if ((rc = get_num(en, "duration", 0, &x->enroll.duration, w, e))) goto done;
    if ((rc = get_num(en, "gain", NAN, &x->enroll.gain, w, e))) goto done;
    if ((rc = get_num(en, "lufs", NAN, &x->enroll.lufs, w, e))) goto done;
    if ((rc = resolve(&x->enroll.path, base_dir, e))) goto done;
  }
  char *mode = NULL;
  if ((rc = get_str(o, "mode", 0, &mode, what, e))) goto done;
  if (mode && strcmp(mode, "max") && strcmp(mode, "min")) {
    rc = err_set(e, TS_EFORMAT, "%s: mode \"%s\" (max or min)", what, mode);
    free(mode);
    goto done;
  }
  x->mode = (mode && !strcmp(mode, "min")) ? MAN_MODE_MIN : MAN_MODE_MAX;
  free(mode);
  if ((rc = get_num(o, "duration", NAN, &x->duration, what, e))) goto done;
  if ((rc = get_str(o, "cot", 0, &x->cot, what, e))) goto done;
  const cJSON *sim = cJSON_GetObjectItemCaseSensitive(o, "similarity");
  if (sim && !cJSON_IsNull(sim)) {
    if (!cJSON_IsArray(sim) || cJSON_GetArraySize(sim) != ns) {
      rc = err_set(e, TS_EFORMAT, "%s: \"similarity\" must be an array of %d numbers", what, ns);
      goto done;
    }
    x->similarity = malloc(sizeof(double) * (size_t)ns);
    if (!x->similarity) {
      rc = err_set(e, TS_ENOMEM, "%s: out of memory", what);
      goto done;
    }
    for (int i = 0; i < ns; i++) {
      const cJSON *v = cJSON_GetArrayItem(sim, i);
      if (!cJSON_IsNumber(v)) {
        rc = err_set(e, TS_EFORMAT, "%s: similarity %d is not a number", what, i);
        goto done;
      }
      x->similarity[i] = v->valuedouble;
    }
  }
  rc = man_entry_check(x, e);
  if (rc) err_prefix(e, "%s", what);
done:
  cJSON_Delete(o);
  if (rc) man_entry_free(x);
  return rc;
}

int man_read(const char *path, manifest *m, ts_err *e) {
  char *buf;
  size_t n;
  int rc = afile_read(path, &buf, &n, e);
  if (rc) return rc;
  char base[4096];
  snprintf(base, sizeof base, "%s", path);
  char *sl = strrchr(base, '/');
  if (sl)
    *sl = 0;
  else
    base[0] = 0;
  size_t pos = 0;
  int line = 0;
  while (pos < n) {
    line++;
    size_t a = pos;
    while (pos < n && buf[pos] != '\n') pos++;
    size_t b = pos;
    pos++; /* past the newline */
    while (a < b && isspace((unsigned char)buf[a])) a++;
    while (b > a && isspace((unsigned char)buf[b - 1])) b--;
    if (a == b) continue;
    char what[4200];
    snprintf(what, sizeof what, "%s:%d", path, line);
    man_entry x;
    ts_err le = {0};
    rc = man_entry_from_json(buf + a, b - a, what, base[0] ? base : NULL, &x, &le);
    if (rc == TS_ENOMEM) {
      free(buf);
      return err_set(e, rc, "%s", le.msg);
    }
    if (rc) {
      log_warn("%s (line skipped)", le.msg);
      if (!m->n_bad) snprintf(m->first_bad, sizeof m->first_bad, "%s", le.msg);
      m->n_bad++;
      continue;
    }
    rc = man_take(m, &x, e);
    if (rc) {
      man_entry_free(&x);
      free(buf);
      return rc;
    }
  }
  free(buf);
  return TS_OK;
}
