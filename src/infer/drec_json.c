/* drec_json.c — a decode record as one JSON line (stable key order) and back, with the
 * reader's checks on types and count consistency. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonx.h"
#include "infer/decode_rec.h"

/* Adds s as a valid-UTF-8 string (cleaned copy). */
static int dj_str(cJSON *o, const char *key, const char *s, ts_err *e) {
  char *c = NULL;
  int rc = drec_clean_text(s ? s : "", s ? strlen(s) : 0, &c, e);
  if (rc) return rc;
  cJSON *it = cJSON_AddStringToObject(o, key, c);
  free(c);
  return it ? TS_OK : err_set(e, TS_ENOMEM, "decode record: out of memory");
}

static int dj_num(cJSON *o, const char *key, double v, ts_err *e) {
  return cJSON_AddNumberToObject(o, key, v) ? TS_OK
                                            : err_set(e, TS_ENOMEM, "decode record: out of memory");
}

static int dj_bool(cJSON *o, const char *key, int v, ts_err *e) {
  return cJSON_AddBoolToObject(o, key, v != 0) ? TS_OK
                                               : err_set(e, TS_ENOMEM, "decode record: out of memory");
}

int drec_to_json(const drec *r, char **line, ts_err *e) {
  *line = NULL;
  if (!isfinite(r->logp) && r->has_logp)
    return err_set(e, TS_EARG, "decode record \"%s\": logp is not finite", r->id ? r->id : "");
  if (!isfinite(r->reward) && r->has_reward)
    return err_set(e, TS_EARG, "decode record \"%s\": reward is not finite", r->id ? r->id : "");
  cJSON *o = cJSON_CreateObject();
  if (!o) return err_set(e, TS_ENOMEM, "decode record: out of memory");
  int rc = dj_str(o, "id", r->id, e);
  if (!rc) rc = dj_str(o, "set", r->set, e);
  if (!rc && r->speakers > 0) rc = dj_num(o, "speakers", r->speakers, e);
  if (!rc && r->target >= 0) rc = dj_num(o, "target", r->target, e);
  if (!rc && r->sample >= 0) rc = dj_num(o, "sample", r->sample, e);
  if (!rc) rc = dj_str(o, "ref", r->ref, e);
  if (!rc) rc = dj_str(o, "hyp", r->hyp, e);
  if (!rc) rc = dj_bool(o, "format_ok", r->format_ok, e);
  if (!rc && !r->format_ok && r->fmt) rc = dj_str(o, "fmt", r->fmt, e);
  if (!rc) rc = dj_num(o, "sub", (double)r->sub, e);
  if (!rc) rc = dj_num(o, "del", (double)r->del, e);
  if (!rc) rc = dj_num(o, "ins", (double)r->ins, e);
  if (!rc) rc = dj_num(o, "n", (double)r->n, e);
  if (!rc && r->wrong_speaker >= 0) rc = dj_bool(o, "wrong_speaker", r->wrong_speaker, e);
  if (!rc && r->think_ok >= 0) rc = dj_bool(o, "think_ok", r->think_ok, e);
  if (!rc && r->repetition >= 0) rc = dj_bool(o, "repetition", r->repetition, e);
  if (!rc && r->tokens >= 0) rc = dj_num(o, "tokens", (double)r->tokens, e);
  if (!rc && r->has_logp) rc = dj_num(o, "logp", r->logp, e);
  if (!rc && r->has_reward) rc = dj_num(o, "reward", r->reward, e);
  if (!rc && r->think) rc = dj_str(o, "think", r->think, e);
  if (!rc) rc = dj_str(o, "raw", r->raw, e);
  if (!rc) {
    char *s = cJSON_PrintUnformatted(o);
    if (!s) {
      rc = err_set(e, TS_ENOMEM, "decode record: out of memory");
    } else {
      *line = strdup(s);
      cJSON_free(s);
      if (!*line) rc = err_set(e, TS_ENOMEM, "decode record: out of memory");
    }
  }
  cJSON_Delete(o);
  return rc;
}

/* Optional string: NULL when absent or null. */
static int dj_get_str(const cJSON *o, const char *key, int required, char **out, const char *what,
                      ts_err *e) {
  *out = NULL;
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!it || cJSON_IsNull(it)) {
    if (required) return err_set(e, TS_EFORMAT, "%s: missing key \"%s\"", what, key);
    return TS_OK;
  }
  if (!cJSON_IsString(it)) return err_set(e, TS_EFORMAT, "%s: key \"%s\" must be a string", what, key);
  *out = strdup(it->valuestring);
  return *out ? TS_OK : err_set(e, TS_ENOMEM, "%s: out of memory", what);
}

/* A flag: true/false or 0/1; def when absent. */
static int dj_get_flag(const cJSON *o, const char *key, int *out, int has_def, int def,
                       const char *what, ts_err *e) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
  if (it && cJSON_IsNumber(it)) {
    if (it->valuedouble != 0 && it->valuedouble != 1)
      return err_set(e, TS_EFORMAT, "%s: key \"%s\" must be true/false or 0/1", what, key);
    *out = it->valuedouble != 0;
    return TS_OK;
  }
  return jsonx_bool(o, key, out, has_def, def, what, e);
}

/* A word count: 0..DJ_MAX_COUNT, so that sums over a record and over a whole decode cannot
 * overflow. */
#define DJ_MAX_COUNT 1000000000
static int dj_get_count(const cJSON *o, const char *key, int64_t *out, const char *what, ts_err *e) {
  int rc = jsonx_int(o, key, out, 0, 0, what, e);
  if (rc) return rc;
  if (*out < 0) return err_set(e, TS_EFORMAT, "%s: key \"%s\" must not be negative", what, key);
  if (*out > DJ_MAX_COUNT)
    return err_set(e, TS_EFORMAT, "%s: key \"%s\" = %lld is out of range (at most %d words)", what, key,
                   (long long)*out, DJ_MAX_COUNT);
  return TS_OK;
}

static int dj_get_small(const cJSON *o, const char *key, int *out, int def, const char *what,
                        ts_err *e) {
  int64_t v;
  int rc = jsonx_int(o, key, &v, 1, def, what, e);
  if (rc) return rc;
  if (v < -1 || v > 1000000000)
    return err_set(e, TS_EFORMAT, "%s: key \"%s\" out of range", what, key);
  *out = (int)v;
  return TS_OK;
}

int drec_from_json(const char *line, size_t n, const char *what, drec *out, ts_err *e) {
  drec_init(out);
  cJSON *o = NULL;
  int rc = jsonx_parse(line, n, what, &o, e);
  if (rc) return rc;
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    return err_set(e, TS_EFORMAT, "%s: not a JSON object", what);
  }
  rc = dj_get_str(o, "id", 1, &out->id, what, e);
  if (!rc) rc = dj_get_str(o, "set", 1, &out->set, what, e);
  if (!rc) rc = dj_get_str(o, "ref", 1, &out->ref, what, e);
  if (!rc) rc = dj_get_str(o, "hyp", 1, &out->hyp, what, e);
  if (!rc) rc = dj_get_str(o, "raw", 0, &out->raw, what, e);
  if (!rc && !out->raw && !(out->raw = strdup("")))
    rc = err_set(e, TS_ENOMEM, "%s: out of memory", what);
  if (!rc) rc = dj_get_str(o, "fmt", 0, &out->fmt, what, e);
  if (!rc) rc = dj_get_str(o, "think", 0, &out->think, what, e);
  if (!rc) rc = dj_get_flag(o, "format_ok", &out->format_ok, 0, 0, what, e);
  if (!rc) rc = dj_get_count(o, "sub", &out->sub, what, e);
  if (!rc) rc = dj_get_count(o, "del", &out->del, what, e);
  if (!rc) rc = dj_get_count(o, "ins", &out->ins, what, e);
  if (!rc) rc = dj_get_count(o, "n", &out->n, what, e);
  if (!rc) rc = dj_get_small(o, "speakers", &out->speakers, 0, what, e);
  if (!rc) rc = dj_get_small(o, "target", &out->target, -1, what, e);
  if (!rc) rc = dj_get_small(o, "sample", &out->sample, -1, what, e);
  if (!rc) rc = dj_get_flag(o, "wrong_speaker", &out->wrong_speaker, 1, -1, what, e);
  if (!rc) rc = dj_get_flag(o, "think_ok", &out->think_ok, 1, -1, what, e);
  if (!rc) rc = dj_get_flag(o, "repetition", &out->repetition, 1, -1, what, e);
  if (!rc) rc = jsonx_int(o, "tokens", &out->tokens, 1, -1, what, e);
  if (!rc && cJSON_GetObjectItemCaseSensitive(o, "logp")) {
    rc = jsonx_num(o, "logp", &out->logp, 0, 0, what, e);
    out->has_logp = 1;
  }
  if (!rc && cJSON_GetObjectItemCaseSensitive(o, "reward")) {
    rc = jsonx_num(o, "reward", &out->reward, 0, 0, what, e);
    out->has_reward = 1;
  }
  cJSON_Delete(o);
  if (!rc && out->sub + out->del > out->n)
    rc = err_set(e, TS_EFORMAT, "%s: sub + del (%lld) exceeds n (%lld)", what,
                 (long long)(out->sub + out->del), (long long)out->n);
  if (!rc && !out->format_ok && out->hyp[0])
    rc = err_set(e, TS_EFORMAT, "%s: a format error must have an empty hyp", what);
  if (rc) drec_free(out);
  return rc;
}
