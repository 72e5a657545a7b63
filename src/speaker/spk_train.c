/* spk_train.c — AAM-softmax training of the speaker encoder (spk_train.h). */
#include "speaker/spk_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/philox.h"
#include "speaker/spk_aam.h"
#include "speaker/spk_data.h"
#include "train/lr.h"
#include "train/run.h"

void spk_train_opts_default(spk_train_opts *o) {
  memset(o, 0, sizeof *o);
  o->split = "train";
  spk_cfg_default(&o->cfg);
  o->steps = 600;
  o->batch = 32;
  o->crop = 200;
  o->lr = 2e-3;
  o->lr_min = 2e-5;
  o->warmup = -1;
  o->wd = 0.01;
  o->clip = 5.0;
  o->margin = 0.2f;
  o->scale = 30.0f;
  o->margin_warmup = -1;
  o->seed = 1;
  o->log_every = 20;
}

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Crop b of a step: `crop` frames of utterance u from a random start, repeated when shorter. */
static void fill_crop(const spk_set *s, int u, int crop, int M, philox_rng *r, float *dst) {
  int64_t T = s->T[u];
  int64_t st = T > crop ? (int64_t)philox_below(r, (uint64_t)(T - crop + 1)) : 0;
  const float *f = s->feats[u];
  for (int t = 0; t < crop; t++) memcpy(dst + (int64_t)t * M, f + ((st + t) % T) * M, sizeof(float) * (size_t)M);
}

static int log_metrics(run_dir *rd, int64_t step, double lr, double loss, double acc, double cosv, double gn,
                       double margin, double sec, ts_err *e) {
  if (!rd) return TS_OK;
  cJSON *j = cJSON_CreateObject();
  if (!j) return err_set(e, TS_ENOMEM, "metrics: out of memory");
  cJSON_AddNumberToObject(j, "step", (double)step);
  cJSON_AddNumberToObject(j, "lr", lr);
  cJSON_AddNumberToObject(j, "loss", loss);
  cJSON_AddNumberToObject(j, "acc", acc);
  cJSON_AddNumberToObject(j, "target_cos", cosv);
  cJSON_AddNumberToObject(j, "grad_norm", gn);
  cJSON_AddNumberToObject(j, "margin", margin);
  cJSON_AddNumberToObject(j, "sec", sec);
  int rc = run_log(rd, j, e);
  cJSON_Delete(j);
  return rc;
}

static cJSON *train_settings(const spk_train_opts *o, const spk_set *s) {
  cJSON *j = cJSON_CreateObject();
  if (!j) return NULL;
  cJSON_AddStringToObject(j, "corpus", o->corpus_dir ? o->corpus_dir : "");
  cJSON_AddStringToObject(j, "split", o->split ? o->split : "");
  cJSON_AddNumberToObject(j, "speakers", s->n_cls);
  cJSON_AddNumberToObject(j, "utterances", s->n);
  cJSON_AddNumberToObject(j, "steps", o->steps);
  cJSON_AddNumberToObject(j, "batch", o->batch);
  cJSON_AddNumberToObject(j, "crop_frames", o->crop);
  cJSON_AddNumberToObject(j, "lr", o->lr);
  cJSON_AddNumberToObject(j, "lr_min", o->lr_min);
  cJSON_AddNumberToObject(j, "weight_decay", o->wd);
  cJSON_AddNumberToObject(j, "clip", o->clip);
  cJSON_AddNumberToObject(j, "aam_margin", o->margin);
  cJSON_AddNumberToObject(j, "aam_scale", o->scale);
  cJSON_AddNumberToObject(j, "seed", (double)o->seed);
  cJSON *ids = cJSON_AddArrayToObject(j, "speaker_ids");
  for (int i = 0; ids && i < s->n_cls; i++) cJSON_AddItemToArray(ids, cJSON_CreateString(s->cls_id[i]));
  return j;
}

int spk_train_set(const spk_train_opts *o, const spk_set *s, spk_model *m, spk_train_report *r, ts_err *e) {
  memset(m, 0, sizeof *m);
  if (o->steps < 1 || o->batch < 1 || o->crop < 1)
    return err_set(e, TS_EARG, "speaker train: steps %d, batch %d and crop %d must be positive", o->steps, o->batch,
                   o->crop);
  if (s->n_cls < 2) return err_set(e, TS_EARG, "speaker train: %d speakers; at least 2 are needed", s->n_cls);
  spk_cfg c = o->cfg;
  c.n_classes = s->n_cls;
  backend *be = be_cpu();
  int rc = spk_model_init(m, &c, be, 1, 1, e);
  if (rc) return rc;
  spk_model_init_weights(m, o->seed);
  const int B = o->batch, T = o->crop, M = c.n_mels, E = c.emb_dim;
  float *x = malloc(sizeof(float) * (size_t)B * (size_t)T * (size_t)M);
  float *emb = malloc(sizeof(float) * (size_t)B * (size_t)E), *demb = malloc(sizeof(float) * (size_t)B * (size_t)E);
  int32_t *lab = malloc(sizeof(int32_t) * (size_t)B);
  arena ar;
  arena_init(&ar, (size_t)64 << 20);
  run_dir rd;
  run_dir *rdp = NULL;
  cJSON *settings = train_settings(o, s);
  if (!x || !emb || !demb || !lab || !settings) {
    rc = err_set(e, TS_ENOMEM, "speaker train: out of memory");
    goto done;
  }
  if (o->out_dir) {
    if ((rc = run_open(&rd, o->out_dir, NULL, -1, e))) goto done;
    rdp = &rd;
  }
  int warm = o->warmup >= 0 ? o->warmup : o->steps / 20;
  int mwarm = o->margin_warmup >= 0 ? o->margin_warmup : o->steps / 5;
  lr_sched ls = {o->lr * 0.01, o->lr, o->lr_min, warm, o->steps};
  double t0 = now_sec(), sl = 0, sa = 0, sc = 0, sg = 0;
  int nl = 0;
  int64_t step = 0;
  int i_head = m->i_head;
  for (step = 0; step < o->steps; step++) {
    philox_rng pr;
    philox_init(&pr, o->seed, philox_stream_id(0x5b4, (uint64_t)step, 0));
    for (int b = 0; b < B; b++) {
      int u = (int)philox_below(&pr, (uint64_t)s->n);
      lab[b] = s->label[u];
      fill_crop(s, u, T, M, &pr, x + (size_t)b * T * M);
    }
    pset_zero_grad(&m->ps);
    arena_reset(&ar);
    spk_acts acts;
    if ((rc = spk_forward(m, B, T, x, NULL, emb, &acts, &ar, e))) goto done;
    memset(demb, 0, sizeof(float) * (size_t)B * (size_t)E);
    float margin = mwarm > 0 && step < mwarm ? o->margin * (float)step / (float)mwarm : o->margin;
    spk_aam_out ao;
    if ((rc = spk_aam_loss(be, emb, pset_wp(&m->ps, i_head), lab, B, E, s->n_cls, margin, o->scale, demb,
                           pset_gp(&m->ps, i_head), &ao, &ar, e)))
      goto done;
    if ((rc = spk_backward(m, &acts, demb, &ar, e))) goto done;
    double gn = pset_grad_norm(&m->ps);
    if (!isfinite(gn) || !isfinite(ao.loss)) {
      rc = err_set(e, TS_EINTERNAL, "speaker train: step %lld: loss %g, gradient norm %g (diverged)", (long long)step,
                   ao.loss, gn);
      goto done;
    }
    if (o->clip > 0 && gn > o->clip) pset_scale_grad(&m->ps, (float)(o->clip / gn));
    double lr = lr_at(&ls, step);
    if ((rc = pset_adamw(&m->ps, (float)lr, 0.9f, 0.999f, 1e-8f, (float)o->wd, step + 1, e))) goto done;
    sl += ao.loss, sa += ao.acc, sc += ao.mean_cos, sg += gn, nl++;
    int last = step + 1 == o->steps || (o->max_seconds > 0 && now_sec() - t0 > o->max_seconds) || run_interrupted();
    if ((o->log_every > 0 && (step + 1) % o->log_every == 0) || last) {
      double sec = now_sec() - t0;
      if (!o->quiet)
        log_info("speaker train: step %lld/%d loss %.4f acc %.3f target cos %.3f |g| %.3g lr %.2e margin %.2f (%.0f s)",
                 (long long)step + 1, o->steps, sl / nl, sa / nl, sc / nl, sg / nl, lr, margin, sec);
      if ((rc = log_metrics(rdp, step + 1, lr, sl / nl, sa / nl, sc / nl, sg / nl, margin, sec, e))) goto done;
      if (r) r->loss = sl / nl, r->acc = sa / nl;
      sl = sa = sc = sg = 0, nl = 0;
    }
    if (last) {
      step++;
      break;
    }
  }
  if (r) {
    r->n_cls = s->n_cls, r->n_utts = s->n, r->steps = step, r->wall_sec = now_sec() - t0;
    r->n_params = spk_model_n_params(m, 0);
  }
  if (o->out_dir) {
    cJSON_AddNumberToObject(settings, "steps_done", (double)step);
    cJSON_AddNumberToObject(settings, "wall_sec", now_sec() - t0);
    rc = spk_model_save(m, o->out_dir, settings, e);
  }
done:
  if (rdp) run_close(rdp);
  cJSON_Delete(settings);
  arena_free(&ar);
  free(x), free(emb), free(demb), free(lab);
  if (rc) spk_model_free(m);
  return rc;
}

int spk_train(const spk_train_opts *o, spk_train_report *r, ts_err *e) {
  if (!o->corpus_dir || !o->out_dir) return err_set(e, TS_EARG, "speaker train: corpus and output directory are needed");
  spk_set s;
  double t0 = now_sec();
  int rc = spk_set_load(o->corpus_dir, o->split, &o->cfg, o->max_per_spk, 0, &s, e);
  if (rc) return rc;
  if (!o->quiet)
    log_info("speaker train: %d utterances of %d speakers from %s/%s (features in %.1f s)", s.n, s.n_cls,
             o->corpus_dir, o->split ? o->split : "", now_sec() - t0);
  spk_model m;
  rc = spk_train_set(o, &s, &m, r, e);
  if (!rc) spk_model_free(&m);
  spk_set_free(&s);
  return rc;
}
