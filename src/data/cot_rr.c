/* cot_rr.c — random reasoning: full or empty think per sample, seeded by the sample id. */
#include "data/cot_rr.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/philox.h"

static int is_sp(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int cot_rr_words_differ(const char *ref, const char *hyp) {
  const char *a = ref ? ref : "", *b = hyp ? hyp : "";
  for (;;) {
    while (is_sp(*a)) a++;
    while (is_sp(*b)) b++;
    if (!*a || !*b) return *a != *b;
    const char *ea = a, *eb = b;
    while (*ea && !is_sp(*ea)) ea++;
    while (*eb && !is_sp(*eb)) eb++;
    if (ea - a != eb - b || memcmp(a, b, (size_t)(ea - a))) return 1;
    a = ea;
    b = eb;
  }
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ull;
  }
  return h;
}

#define COT_RR_STREAM 0x636f742d7272ull /* "cot-rr": keeps these draws apart from others */

cot_think cot_rr_choose(const char *id, int is_error, uint64_t seed, double p_empty) {
  if (is_error) return COT_THINK_FULL;
  philox_rng r;
  philox_init(&r, seed, philox_stream_id(fnv1a(id ? id : ""), COT_RR_STREAM, 0));
  return philox_uniform_d(&r) < p_empty ? COT_THINK_EMPTY : COT_THINK_FULL;
}

/* Decides for a parsed line; *id points into j. */
static int decide(const cJSON *j, const char *what, uint64_t seed, double p_empty,
                  const char **id, int *is_error, cot_think *choice, ts_err *e) {
  if (!cJSON_IsObject(j)) return err_set(e, TS_EFORMAT, "%s: not a JSON object", what);
  const char *sid = jsonx_str(j, "id", 0, NULL, what, e);
  if (!sid) return e ? e->code : TS_EFORMAT;
  const char *ref = jsonx_str(j, "ref", 0, NULL, what, e);
  if (!ref) return e ? e->code : TS_EFORMAT;
  const char *hyp = jsonx_str(j, "hyp", 0, NULL, what, e);
  if (!hyp) return e ? e->code : TS_EFORMAT;
  int fok = 0;
  int rc = jsonx_bool(j, "format_ok", &fok, 0, 0, what, e);
  if (rc) return rc;
  *id = sid;
  *is_error = !fok || cot_rr_words_differ(ref, hyp);
  *choice = cot_rr_choose(sid, *is_error, seed, p_empty);
  return TS_OK;
}

int cot_rr_line(const char *line, size_t n, const char *what, uint64_t seed, double p_empty,
                char *id_out, size_t id_cap, int *is_error, cot_think *choice, ts_err *e) {
  cJSON *j = NULL;
  int rc = jsonx_parse(line, n, what, &j, e);
  if (rc) return rc;
  const char *id = NULL;
  rc = decide(j, what, seed, p_empty, &id, is_error, choice, e);
  if (!rc && id_out && id_cap) snprintf(id_out, id_cap, "%s", id);
  cJSON_Delete(j);
  return rc;
}

int cot_rr_file(const char *decode_path, const char *out_path, uint64_t seed, double p_empty,
                cot_rr_stats *st, ts_err *e) {
  cot_rr_stats s = {0};
  if (!(p_empty >= 0.0 && p_empty <= 1.0))
    return err_set(e, TS_EARG, "random reasoning: p_empty %g is not in [0, 1]", p_empty);
  char *buf = NULL;
  size_t n = 0;
  int rc = afile_read(decode_path, &buf, &n, e);
  if (rc) return rc;
  afile f;
  if ((rc = afile_open(&f, out_path, e))) {
    free(buf);
    return rc;
  }
  size_t pos = 0;
  long lineno = 0;
  while (pos < n) {
    size_t end = pos;
    while (end < n && buf[end] != '\n') end++;
    lineno++;
    size_t a = pos, z = end;
    pos = end + 1;
    while (a < z && is_sp(buf[a])) a++;
    if (a == z) continue;
    s.lines++;
    char what[4200];
    snprintf(what, sizeof what, "%s: line %ld", decode_path, lineno);
    ts_err le = {0};
    int iserr = 0;
    cot_think ch = COT_THINK_FULL;
    cJSON *j = NULL;
    const char *id = NULL;
    if (jsonx_parse(buf + a, z - a, what, &j, &le) ||
        decide(j, what, seed, p_empty, &id, &iserr, &ch, &le)) {
      log_warn("random reasoning: skipping %s", le.msg);
      cJSON_Delete(j);
      s.skipped++;
      continue;
    }
    cJSON *o = cJSON_CreateObject();
    char *txt = NULL;
    if (o && cJSON_AddStringToObject(o, "id", id) &&
        cJSON_AddStringToObject(o, "think", ch == COT_THINK_FULL ? "full" : "empty") &&
        cJSON_AddBoolToObject(o, "error", iserr))
      txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    cJSON_Delete(j);
    if (!txt) {
      rc = err_set(e, TS_ENOMEM, "%s: out of memory", out_path);
      break;
    }
    rc = afile_put(&f, txt, strlen(txt), e);
    if (!rc) rc = afile_put(&f, "\n", 1, e);
    cJSON_free(txt);
    if (rc) break;
    if (iserr) s.errors++;
    else {
      s.correct++;
      if (ch == COT_THINK_EMPTY) s.empty++;
    }
  }
  free(buf);
  if (rc) {
    afile_abort(&f);
    return rc;
  }
  if ((rc = afile_commit(&f, e))) return rc;
  if (st) *st = s;
  return TS_OK;
}
