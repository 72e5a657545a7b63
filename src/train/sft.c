/* sft.c — the SFT trainer (see sft.h). */
#include "train/sft.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "data/cot_sample.h"
#include "infer/generate.h"
#include "tensor/be_mem.h"
#include "tensor/params_io.h"
#include "train/trainer.h"
#include "train/run.h"

void sft_cfg_default(sft_cfg *c) {
  memset(c, 0, sizeof *c);
  c->target = SFT_TARGET_BASE;
  c->micro_batch = 4;
  c->accum = 28; /* 4 x 28 = 112, the paper's global batch */
  c->steps = 10000;
  c->lr = (lr_sched){1e-7, 7e-5, 1e-6, 3000, 10000};
  c->clip = 1.0f;
  c->wd = 0.0f;
  c->beta1 = 0.9f;
  c->beta2 = 0.999f;
  c->eps = 1e-8f;
  c->max_text = 512;
  c->seed = 1;
  c->ckpt_every = 500;
  c->keep = 2;
  c->log_every = 1;
  c->threads = 2;
  c->resume = 1;
  c->ctc_weight = -1.0f;
  sample_opts_default(&c->sample);
}

/* One tokenised training item, built on a loader thread. */
typedef struct sft_item {
  float *wav;
  int64_t n;
  char *text;        /* the target's transcript (CTC) */
  int32_t *ids;
  int32_t n_ids, rs, re;
} sft_item;

typedef struct sft_ctx {
  tsm *m;
  const sft_cfg *c;
} sft_ctx;

static void sft_item_free(void *p, void *user) {
  (void)user;
  sft_item *it = p;
  if (!it) return;
  free(it->wav);
  free(it->ids);
  free(it->text);
  free(it);
}

/* The response the model is trained to produce for entry x: BASE, the entry's prepared
 * "cot" text, or (CoT without one) the full CoT built from the sample and its similarities. */
static int sft_response(const sft_cfg *c, const sample *smp, const man_entry *x, char **out, ts_err *e) {
  if (c->target == SFT_TARGET_COT && x->cot && *x->cot) {
    *out = strdup(x->cot);
  } else if (c->target == SFT_TARGET_COT) {
    cot_opts o;
    memset(&o, 0, sizeof o);
    o.continuous = c->cot_continuous;
    return cot_response_for(smp, NULL, &o, out, e);
  } else {
    const char *text = x->src[x->target].text ? x->src[x->target].text : "";
    size_t n = strlen(text) + 64;
    *out = malloc(n);
    if (*out) snprintf(*out, n, "<think></think><answer>%s</answer>", text);
  }
  return *out ? TS_OK : err_set(e, TS_ENOMEM, "sft: out of memory");
}

static int sft_make_item(sample *s, const man_entry *x, void *user, void **item, ts_err *e) {
  sft_ctx *cx = user;
  sft_item *it = calloc(1, sizeof *it);
  if (!it) return err_set(e, TS_ENOMEM, "sft: out of memory");
  char *resp = NULL;
  int rc = sft_response(cx->c, s, x, &resp, e);
  if (!rc) rc = tsm_train_ids(cx->m, resp, &it->ids, &it->n_ids, &it->rs, &it->re, e);
  free(resp);
  if (!rc && it->n_ids > cx->c->max_text)
    rc = err_set(e, TS_EARG, "%s: %d tokens exceed max_text %d", x->id, it->n_ids, cx->c->max_text);
  if (rc) {
    sft_item_free(it, NULL);
    sample_free(s);
    return rc;
  }
  it->text = strdup(x->src[x->target].text ? x->src[x->target].text : "");
  it->wav = s->wave; /* take the waveform */
  it->n = s->n;
  s->wave = NULL;
  sample_free(s);
  *item = it;
  return TS_OK;
}

static double sft_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Runs forward/backward on one micro-batch of items. */
static int sft_micro(tsm *m, sft_item **items, int n, float gs, float ctc_scale, tsm_loss *out, arena *ar,
                     ts_err *e) {
  int64_t L = 0;
  for (int i = 0; i < n; i++) L = items[i]->n > L ? items[i]->n : L;
  float *wav = calloc((size_t)(n * L), sizeof(float));
  int64_t *len = calloc((size_t)n, sizeof(int64_t));
  const int32_t **ids = calloc((size_t)n, sizeof(int32_t *));
  int32_t *nid = calloc((size_t)n * 3, sizeof(int32_t));
  const char **texts = calloc((size_t)n, sizeof(char *));
  int rc = (!wav || !len || !ids || !nid || !texts) ? err_set(e, TS_ENOMEM, "sft: out of memory") : TS_OK;
  if (!rc) {
    for (int i = 0; i < n; i++) {
      memcpy(wav + i * L, items[i]->wav, sizeof(float) * (size_t)items[i]->n);
      len[i] = items[i]->n;
      ids[i] = items[i]->ids;
      nid[i] = items[i]->n_ids;
      nid[n + i] = items[i]->rs;
      nid[2 * n + i] = items[i]->re;
      texts[i] = items[i]->text;
    }
    tsm_batch b;
    memset(&b, 0, sizeof b);
    b.B = n;
    b.wav = wav;
    b.L = L;
    b.wav_len = len;
    b.ids = ids;
    b.n_ids = nid;
    b.resp_start = nid + n;
    b.resp_end = nid + 2 * n;
    b.ctc_scale = ctc_scale;
    b.ctc_text = texts;
    b.pack = 1; /* no padding rows in the LLM (the encoder still pads the audio) */
    arena_reset(ar);
    rc = tsm_train_step(m, &b, gs, out, ar, e);
  }
  free(wav), free(len), free(ids), free(nid), free(texts);
  return rc;
}

static int sft_save_model(void *user, const char *dir, ts_err *e) {
  sft_ctx *cx = user;
  return tsm_save(cx->m, dir, cx->c->save_bf16, e);
}

static cJSON *sft_settings(const sft_cfg *c) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "stage", "sft");
  cJSON_AddStringToObject(j, "target", c->target == SFT_TARGET_COT ? "cot" : "base");
  cJSON_AddStringToObject(j, "manifest", c->manifest ? c->manifest : "");
  cJSON_AddNumberToObject(j, "micro_batch", c->micro_batch);
  cJSON_AddNumberToObject(j, "accum", c->accum);
  cJSON_AddNumberToObject(j, "global_batch", c->micro_batch * c->accum);
  cJSON_AddNumberToObject(j, "steps", (double)c->steps);
  cJSON_AddNumberToObject(j, "lr_start", c->lr.start);
  cJSON_AddNumberToObject(j, "lr_peak", c->lr.peak);
  cJSON_AddNumberToObject(j, "lr_min", c->lr.min);
  cJSON_AddNumberToObject(j, "warmup", (double)c->lr.warmup);
  cJSON_AddNumberToObject(j, "clip", c->clip);
  cJSON_AddNumberToObject(j, "weight_decay", c->wd);
  cJSON_AddNumberToObject(j, "beta1", c->beta1);
  cJSON_AddNumberToObject(j, "beta2", c->beta2);
  cJSON_AddNumberToObject(j, "eps", c->eps);
  cJSON_AddNumberToObject(j, "max_text", c->max_text);
  cJSON_AddNumberToObject(j, "seed", (double)c->seed);
  cJSON_AddNumberToObject(j, "silence", c->sample.silence);
  cJSON *fz = cJSON_AddArrayToObject(j, "freeze");
  for (int i = 0; i < 8 && c->freeze[i]; i++) cJSON_AddItemToArray(fz, cJSON_CreateString(c->freeze[i]));
  return j;
}

int sft_run(tsm *m, const sft_cfg *c_in, ts_err *e) {
  /* a negative silence means the model's own; the model then records what it is trained on */
  sft_cfg cc = *c_in;
  const sft_cfg *c = &cc;
  if (cc.sample.silence < 0) cc.sample.silence = m->silence;
  m->silence = cc.sample.silence;
  if (!m->ps.g || !m->ps.m) return err_set(e, TS_EARG, "sft: the model was loaded without gradients/optimizer state");
  if (c->micro_batch < 1 || c->accum < 1 || c->steps < 1)
    return err_set(e, TS_EARG, "sft: micro_batch %d, accumulation %d, steps %lld: each must be at least 1", c->micro_batch,
                   c->accum, (long long)c->steps);
  int frc = trainer_freeze(&m->ps, c->freeze, 8, "sft", e);
  if (frc) return frc;
  manifest man;
  man_init(&man);
  int rc = man_read(c->manifest, &man, e);
  if (rc) return rc;
  if (man.n == 0) {
    man_free(&man);
    return err_set(e, TS_EFORMAT, "%s: no usable entries (%lld bad lines)", c->manifest, (long long)man.n_bad);
  }
  /* resume */
  int64_t step = 0, start_pos = 0;
  if (c->resume && (rc = trainer_resume(&m->ps, c->run_dir, "sft", &step, &start_pos, e))) {
    man_free(&man);
    return rc;
  }
  run_dir rd;
  cJSON *settings = sft_settings(c);
  rc = run_open(&rd, c->run_dir, settings, step, e);
  cJSON_Delete(settings);
  if (rc) {
    man_free(&man);
    return rc;
  }
  sft_ctx cx = {m, c};
  loader_opts lo;
  loader_opts_default(&lo);
  lo.threads = c->threads > 0 ? c->threads : 1;
  lo.batch = c->micro_batch;
  lo.queue = c->micro_batch * c->accum + 2 * c->micro_batch;
  lo.bucket = c->bucket;
  lo.seed = c->seed;
  lo.epochs = 0; /* endless: the step count decides */
  lo.sample = c->sample;
  lo.fn = sft_make_item;
  lo.free_fn = sft_item_free;
  lo.user = &cx;
  lo.start_pos = start_pos;
  loader *L = NULL;
  if ((rc = loader_open(&man, &lo, &L, e))) {
    run_close(&rd);
    man_free(&man);
    return rc;
  }
  lr_sched sched = c->lr;
  sched.total = c->steps;
  arena ar;
  if ((rc = be_arena_init(&ar, m->be, 64 << 20, e))) arena_init(&ar, 1 << 16); /* freed below */
  loader_batch *bs = calloc((size_t)c->accum, sizeof(loader_batch));
  if (!bs) rc = err_set(e, TS_ENOMEM, "sft: out of memory");
  run_catch_signals();
  int stop = 0;
  while (!rc && step < c->steps && !stop) {
    double t0 = sft_now();
    /* fetch the whole global batch first: the loss is a mean over all its response tokens */
    int64_t tokens = 0, samples = 0;
    for (int a = 0; a < c->accum && !rc; a++) {
      rc = loader_next(L, &bs[a], e);
      for (int i = 0; !rc && i < bs[a].n; i++) {
        sft_item *it = bs[a].items[i];
        tokens += it->re - it->rs;
        samples++;
      }
    }
    if (rc) {
      for (int a = 0; a < c->accum; a++) loader_batch_free(L, &bs[a]);
      break;
    }
    if (!tokens) {
      for (int a = 0; a < c->accum; a++) loader_batch_free(L, &bs[a]);
      rc = err_set(e, TS_EFORMAT, "%s: no usable samples (see the loader's warnings)", c->manifest);
      break;
    }
    pset_zero_grad(&m->ps);
    tsm_loss tot;
    memset(&tot, 0, sizeof tot);
    for (int a = 0; a < c->accum && !rc; a++) {
      tsm_loss lo1;
      if (!bs[a].n) continue;
      float cw = !m->ctc ? 0.0f : c->ctc_weight < 0 ? m->ctc_weight : c->ctc_weight;
      rc = sft_micro(m, (sft_item **)bs[a].items, bs[a].n, (float)(1.0 / (double)tokens), cw / (float)samples, &lo1,
                     &ar, e);
      tot.ctc_sum += lo1.ctc_sum;
      tot.ctc_n += lo1.ctc_n;
      tot.loss_sum += lo1.loss_sum;
      tot.tokens += lo1.tokens;
      tot.correct += lo1.correct;
    }
    for (int a = 0; a < c->accum; a++) loader_batch_free(L, &bs[a]);
    if (rc) break;
    double gn = pset_grad_norm(&m->ps);
    if (!isfinite(gn)) { /* a device fault also reads as NaN: ask the device first */
      if (m->be->ops->sync(m->be, e)) rc = err_prefix(e, "sft: step %lld: device error", (long long)step + 1);
      else rc = err_set(e, TS_EINTERNAL, "sft: gradient norm is %f at step %lld (diverged)", gn, (long long)step + 1);
      break;
    }
    if (c->clip > 0 && gn > c->clip) pset_scale_grad(&m->ps, (float)(c->clip / gn));
    double lr = lr_at(&sched, step);
    if ((rc = pset_adamw(&m->ps, (float)lr, c->beta1, c->beta2, c->eps, c->wd, step + 1, e))) break;
    step++;
    double dt = sft_now() - t0;
    loader_stats ls;
    loader_stats_get(L, &ls);
    sft_step_info info = {step,
                          c->steps,
                          tot.loss_sum / (double)tot.tokens,
                          (double)tot.correct / (double)tot.tokens,
                          tot.ctc_n ? tot.ctc_sum / (double)tot.ctc_n : 0.0,
                          lr,
                          gn,
                          tot.tokens,
                          samples,
                          ls.n_skipped,
                          dt,
                          samples / dt,
                          tot.tokens / dt};
    if (c->log_every > 0 && (step % c->log_every == 0 || step == c->steps)) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddNumberToObject(o, "step", (double)step);
      cJSON_AddNumberToObject(o, "loss", info.loss);
      cJSON_AddNumberToObject(o, "acc", info.acc);
      if (tot.ctc_n) cJSON_AddNumberToObject(o, "ctc", info.ctc);
      cJSON_AddNumberToObject(o, "lr", lr);
      cJSON_AddNumberToObject(o, "grad_norm", gn);
      cJSON_AddNumberToObject(o, "tokens", (double)tot.tokens);
      cJSON_AddNumberToObject(o, "samples", (double)samples);
      cJSON_AddNumberToObject(o, "skipped", (double)ls.n_skipped);
      cJSON_AddNumberToObject(o, "tokens_per_s", info.tokens_per_s);
      rc = run_log(&rd, o, e);
      cJSON_Delete(o);
      if (rc) break;
    }
    int ask = c->on_step && c->on_step(c->user, &info);
    rc = trainer_step_end(c->run_dir, "sft", step, c->steps, c->ckpt_every, ask, &stop, loader_position(L), c->seed,
                          &m->ps, sft_save_model, &cx, c->keep, e);
  }
  run_release_signals();
  run_clear_interrupt();
  free(bs);
  arena_free(&ar);
  loader_close(L);
  run_close(&rd);
  man_free(&man);
  return rc;
}
