/* cot_json.c — reading and writing cot_facts as JSON. */
#include "data/cot_json.h"

#include <stdio.h>
#include <string.h>

#include "base/jsonx.h"

static int read_gender(const cJSON *obj, const char *key, const char *what, cot_gender *g,
                       ts_err *e) {
  const char *s = jsonx_str(obj, key, 0, NULL, what, e);
  if (!s) return e ? e->code : TS_EFORMAT;
  *g = cot_gender_from(s);
  if (*g == COT_GENDER_NONE)
    return err_set(e, TS_EFORMAT, "%s: key \"%s\": \"%s\" is not male or female", what, key, s);
  return TS_OK;
}

int cot_facts_from_json(const cJSON *j, const char *what, cot_facts *f, ts_err *e) {
  memset(f, 0, sizeof *f);
  if (!cJSON_IsObject(j)) return err_set(e, TS_EFORMAT, "%s: facts must be a JSON object", what);
  int rc;
  if ((rc = jsonx_num(j, "enroll_dur", &f->enroll_dur, 0, 0, what, e)) ||
      (rc = jsonx_num(j, "silence_dur", &f->silence_dur, 0, 0, what, e)) ||
      (rc = jsonx_num(j, "mix_dur", &f->mix_dur, 0, 0, what, e)) ||
      (rc = jsonx_num(j, "total_dur", &f->total_dur, 1,
                      f->enroll_dur + f->silence_dur + f->mix_dur, what, e)) ||
      (rc = read_gender(j, "enroll_gender", what, &f->enroll_gender, e)))
    return rc;
  int64_t target;
  if ((rc = jsonx_int(j, "target", &target, 0, 0, what, e))) return rc;
  const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "speakers");
  if (!cJSON_IsArray(sp))
    return err_set(e, TS_EFORMAT, "%s: key \"speakers\" must be an array", what);
  int n = cJSON_GetArraySize(sp);
  if (n < 1 || n > COT_MAX_SPEAKERS)
    return err_set(e, TS_EFORMAT, "%s: %d speakers (1..%d supported)", what, n, COT_MAX_SPEAKERS);
  if (target < 0 || target >= n)
    return err_set(e, TS_EFORMAT, "%s: target %lld is not a speaker index 0..%d", what,
                   (long long)target, n - 1);
  f->n_speakers = n;
  f->target = (int)target;
  for (int k = 0; k < n; k++) {
    const cJSON *s = cJSON_GetArrayItem(sp, k);
    char w[512];
    snprintf(w, sizeof w, "%s: speakers[%d]", what, k);
    cot_speaker *o = &f->spk[k];
    if (!cJSON_IsObject(s)) return err_set(e, TS_EFORMAT, "%s: must be an object", w);
    int has_score = cJSON_GetObjectItemCaseSensitive(s, "score") != NULL;
    int has_level = cJSON_GetObjectItemCaseSensitive(s, "level") != NULL;
    if (!has_score && !has_level)
      return err_set(e, TS_EFORMAT, "%s: needs \"score\" or \"level\"", w);
    int64_t lv = 0;
    if ((rc = read_gender(s, "gender", w, &o->gender, e)) ||
        (rc = jsonx_num(s, "start", &o->start, 0, 0, w, e)) ||
        (rc = jsonx_num(s, "end", &o->end, 0, 0, w, e)) ||
        (has_score && (rc = jsonx_num(s, "score", &o->score, 0, 0, w, e))) ||
        (has_level && (rc = jsonx_int(s, "level", &lv, 0, 0, w, e))))
      return rc;
    if (has_level && (lv < 1 || lv > 5))
      return err_set(e, TS_EFORMAT, "%s: level %lld is not in 1..5", w, (long long)lv);
    o->level = has_level ? (int)lv : cot_level(o->score);
    if (!has_score) o->score = (o->level - 0.5) / 5.0;
  }
  if ((rc = cot_facts_validate(f, NULL, e))) {
    if (e) e->code = TS_EFORMAT;
    err_prefix(e, "%s", what);
    return TS_EFORMAT;
  }
  return TS_OK;
}

cJSON *cot_facts_to_json(const cot_facts *f) {
  cJSON *j = cJSON_CreateObject();
  if (!j) return NULL;
  int ok = cJSON_AddNumberToObject(j, "enroll_dur", f->enroll_dur) &&
           cJSON_AddNumberToObject(j, "silence_dur", f->silence_dur) &&
           cJSON_AddNumberToObject(j, "mix_dur", f->mix_dur) &&
           cJSON_AddNumberToObject(j, "total_dur", f->total_dur) &&
           cJSON_AddStringToObject(j, "enroll_gender", cot_gender_name(f->enroll_gender)) &&
           cJSON_AddNumberToObject(j, "target", f->target);
  cJSON *sp = ok ? cJSON_AddArrayToObject(j, "speakers") : NULL;
  int n = f->n_speakers < 0 ? 0 : f->n_speakers;
  if (n > COT_MAX_SPEAKERS) n = COT_MAX_SPEAKERS;
  for (int k = 0; sp && k < n; k++) {
    const cot_speaker *s = &f->spk[k];
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(sp, o)) {
      cJSON_Delete(o);
      sp = NULL;
      break;
    }
    if (!(cJSON_AddStringToObject(o, "gender", cot_gender_name(s->gender)) &&
          cJSON_AddNumberToObject(o, "start", s->start) &&
          cJSON_AddNumberToObject(o, "end", s->end) &&
          cJSON_AddNumberToObject(o, "score", s->score) &&
          cJSON_AddNumberToObject(o, "level", s->level)))
      sp = NULL;
  }
  if (!sp) {
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}
