/* trainer.c — freeze, resume and checkpoint for the trainers (see trainer.h). */
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/jsonx.h"
#include "base/log.h"
#include "tensor/params_io.h"
#include "train/run.h"

int trainer_freeze(pset *ps, const char *const *prefixes, int n, const char *who, ts_err *e) {
  for (int i = 0; i < n && prefixes[i]; i++)
    if (!pset_freeze(ps, prefixes[i], 1))
      return err_set(e, TS_EARG, "%s: freeze \"%s\" matches no tensor", who, prefixes[i]);
  return TS_OK;
}

/* step and data_pos of a checkpoint's trainer_state.json, checked (whole numbers >= 0, the stage
 * `who` when it names one) before anything is loaded from it */
static int trainer_read_state(const char *ck, const char *who, int64_t *step, int64_t *data_pos, ts_err *e) {
  char p[4500];
  snprintf(p, sizeof p, "%s/trainer_state.json", ck);
  cJSON *st = NULL;
  int rc = jsonx_load(p, &st, e);
  if (rc) return rc;
  const cJSON *js = cJSON_GetObjectItem(st, "step"), *jp = cJSON_GetObjectItem(st, "data_pos"),
              *jg = cJSON_GetObjectItem(st, "stage");
  double s = cJSON_IsNumber(js) ? js->valuedouble : -1, d = cJSON_IsNumber(jp) ? jp->valuedouble : -1;
  if (!(s >= 0 && s <= 9e15 && s == floor(s)) || !(d >= 0 && d <= 9e15 && d == floor(d))) {
    rc = err_set(e, TS_EFORMAT, "%s: step and data_pos must be whole numbers >= 0", p);
  } else if (cJSON_IsString(jg) && strcmp(jg->valuestring, who)) {
    rc = err_set(e, TS_EARG, "%s: a checkpoint of stage %s, not %s: give this stage a run directory of its own "
                 "(or pass --fresh to start over there)", p, jg->valuestring, who);
  } else {
    *step = (int64_t)s;
    *data_pos = (int64_t)d;
  }
  cJSON_Delete(st);
  return rc;
}

int trainer_resume(pset *ps, const char *rdir, const char *who, int64_t *step, int64_t *data_pos, ts_err *e) {
  *step = *data_pos = 0;
  char ck[4400], p[4500];
  int found = 0, rc = ckpt_find(rdir, ck, sizeof ck, &found, e);
  if (rc || !found) return rc; /* !found: a new run */
  int64_t s = 0, d = 0;
  rc = trainer_read_state(ck, who, &s, &d, e); /* the weights stay untouched when it is refused */
  if (rc) return rc;
  snprintf(p, sizeof p, "%s/model.safetensors", ck);
  rc = pset_load_file(ps, p, "", "", e);
  if (!rc) rc = ckpt_load_state(ck, ps, NULL, e); /* the moments; the state was read above */
  if (rc) return rc;
  *step = s, *data_pos = d;
  log_info("%s: resuming %s at step %lld", who, ck, (long long)s);
  return TS_OK;
}

int trainer_checkpoint(const char *rdir, int64_t step, int64_t data_pos, uint64_t seed, const char *stage,
                       const pset *ps, ckpt_save_model_fn save_model, void *user, int keep, ts_err *e) {
  cJSON *st = cJSON_CreateObject();
  if (!st) return err_set(e, TS_ENOMEM, "%s: out of memory", rdir);
  cJSON_AddNumberToObject(st, "step", (double)step);
  cJSON_AddNumberToObject(st, "data_pos", (double)data_pos);
  cJSON_AddNumberToObject(st, "seed", (double)seed);
  cJSON_AddStringToObject(st, "stage", stage);
  int rc = ckpt_save(rdir, step, ps, st, save_model, user, keep, e);
  cJSON_Delete(st);
  return rc;
}

int trainer_step_end(const char *rdir, const char *stage, int64_t step, int64_t steps, int ckpt_every,
                     int user_stop, int *stop, int64_t data_pos, uint64_t seed, const pset *ps,
                     ckpt_save_model_fn save_model, void *user, int keep, ts_err *e) {
  if (user_stop) *stop = 1;
  if (run_interrupted()) {
    log_warn("%s: interrupted at step %lld: saving a checkpoint", stage, (long long)step);
    *stop = 1;
  }
  if (*stop || step == steps || (ckpt_every > 0 && step % ckpt_every == 0))
    return trainer_checkpoint(rdir, step, data_pos, seed, stage, ps, save_model, user, keep, e);
  return TS_OK;
}
