/* grpo.c — the GRPO trainer (see grpo.h). */
#include "train/grpo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/philox.h"
#include "data/cot_sample.h"
#include "data/loader.h"
#include "infer/cot_parse.h"
#include "tensor/be_mem.h"
#include "tensor/params_io.h"
#include "text/normalize.h"
#include "text/wer.h"
#include "train/trainer.h"
#include "train/run.h"

void grpo_run_cfg_default(grpo_run_cfg *c) {
  memset(c, 0, sizeof *c);
  c->prompts = 2;
  c->G = 8;
  c->mu = 1;
  c->micro_batch = 4;
  c->steps = 2000;
  c->lr = 1e-6f;
  c->temperature = 1.0f;
  c->max_new = 512;
  c->format_reward = 1.0f;
  c->loss = (grpo_cfg){0.2f, 0.2f, 0.04f, GRPO_AGG_GRPO, 512, 20.0f, 0, 0};
  c->clip = 1.0f;
  c->beta1 = 0.9f;
  c->beta2 = 0.999f;
  c->eps = 1e-8f;
  c->seed = 1;
  c->ckpt_every = 100;
  c->keep = 2;
  c->log_every = 1;
  c->threads = 2;
  c->resume = 1;
  sample_opts_default(&c->sample);
}

double grpo_reward(const char *raw, const char *ref_text, float format_reward, int *format_ok) {
  size_t aoff = 0, alen = 0;
  int ok = cot_format_check(raw, strlen(raw), &aoff, &alen, NULL, NULL) == COT_FMT_OK;
  if (format_ok) *format_ok = ok;
  /* a format error earns nothing, also where the reference is empty (an empty hypothesis would
   * match it with WER 0) */
  if (!ok) return 0.0;
  char *hyp = NULL, *ref = NULL;
  double wer = 1.0;
  if (!norm_librispeech(raw + aoff, alen, &hyp, NULL, NULL) && !norm_librispeech(ref_text, strlen(ref_text), &ref, NULL, NULL)) {
    wer_result w;
    if (!wer_align(ref, hyp, &w, NULL)) {
      wer = wer_stats_rate(&w.st);
      wer_result_free(&w);
    }
  }
  free(hyp);
  free(ref);
  return (1.0 - wer) + format_reward;
}

double grpo_cot_score(const char *raw, const cot_facts *f, int continuous) {
  cot_parsed *p = malloc(sizeof *p);
  cot_check *c = malloc(sizeof *c);
  double r = -1;
  if (p && c && !cot_parse(raw, strlen(raw), p, NULL)) {
    cot_check_opts o = {continuous, 0, 0};
    if (!p->format_ok || p->think_empty) r = 0;
    else r = cot_check_run(p, f, &o, c, NULL) || !c->n_steps ? 0 : (double)c->n_ok / (double)c->n_steps;
  }
  free(p);
  free(c);
  return r;
}

/* A prompt of the RL selection, built on a loader thread. */
typedef struct grpo_item {
  float *wav;
  int64_t n;
  char *id, *ref;
  cot_facts facts; /* for the reasoning term and its statistic */
  int has_facts;
} grpo_item;

static void grpo_item_free(void *p, void *user) {
  (void)user;
  grpo_item *it = p;
  if (!it) return;
  free(it->wav);
  free(it->id);
  free(it->ref);
  free(it);
}

static int grpo_make_item(sample *s, const man_entry *x, void *user, void **item, ts_err *e) {
  (void)user;
  grpo_item *it = calloc(1, sizeof *it);
  if (!it) {
    sample_free(s);
    return err_set(e, TS_ENOMEM, "grpo: out of memory");
  }
  it->id = strdup(x->id);
  it->ref = strdup(x->src[x->target].text ? x->src[x->target].text : "");
  int has_sim = 0;
  it->has_facts = cot_facts_from_sample(s, NULL, &it->facts, &has_sim, NULL) == TS_OK && has_sim;
  it->wav = s->wave;
  it->n = s->n;
  s->wave = NULL;
  sample_free(s);
  if (!it->id || !it->ref) {
    grpo_item_free(it, NULL);
    return err_set(e, TS_ENOMEM, "grpo: out of memory");
  }
  *item = it;
  return TS_OK;
}

/* The completions of one generation batch, as training sequences. */
typedef struct grpo_batch {
  int64_t n;            /* prompts * G */
  int32_t **ids;        /* prompt + completion (+ <|im_end|>) */
  int32_t *n_ids, *rs, *re;
  int64_t *off;         /* first token of completion i in the flat token arrays */
  int32_t *len;         /* completion tokens (the loss span) */
  float *old, *ref, *adv, *reward;
  int64_t tokens;
} grpo_batch;

static void grpo_batch_free(grpo_batch *b) {
  if (b->ids)
    for (int64_t i = 0; i < b->n; i++) free(b->ids[i]);
  free(b->ids), free(b->n_ids), free(b->rs), free(b->re), free(b->off), free(b->len);
  free(b->old), free(b->ref), free(b->adv), free(b->reward);
  memset(b, 0, sizeof *b);
}

typedef struct grpo_coef_ctx {
  const grpo_run_cfg *c;
  const grpo_batch *gb;
  int64_t first, count;    /* completions of this micro-batch */
  grpo_stats acc;          /* accumulated over micro-batches */
  double kl_tok, clip_tok; /* token-weighted sums */
  int64_t rows, rows_apart; /* the LLM's input rows over the micro-batches, and laid out apart */
} grpo_coef_ctx;

/* weights of the NLL rows of one micro-batch = -dLoss/dlogp (rows: completions in order) */
static int grpo_coef(void *user, int64_t R, const float *logp, float *w, ts_err *e) {
  grpo_coef_ctx *x = user;
  const grpo_batch *b = x->gb;
  int64_t off[256];
  if (x->count > 256) return err_set(e, TS_EARG, "grpo: micro-batch too large");
  int64_t o = 0;
  for (int64_t i = 0; i < x->count; i++) {
    off[i] = o;
    o += b->len[x->first + i];
  }
  if (o != R) return err_set(e, TS_EINTERNAL, "grpo: %lld rows for %lld completion tokens", (long long)R, (long long)o);
  grpo_cfg gc = x->c->loss;
  gc.norm_n = b->n;
  gc.norm_tokens = b->tokens;
  if (gc.max_len <= 0) gc.max_len = (int64_t)x->c->max_new + 1;
  const float *old = b->old + b->off[x->first], *ref = gc.beta != 0.0f ? b->ref + b->off[x->first] : NULL;
  grpo_stats st;
  int rc = grpo_token_loss(&gc, x->count, off, b->len + x->first, logp, old, ref, b->adv + x->first, w, &st, e);
  if (rc) return rc;
  for (int64_t r = 0; r < R; r++) /* a sampled token must have had probability under the sampler */
    if (!isfinite(old[r]))
      return err_set(e, TS_EINTERNAL, "grpo: sampled token %lld of completion %lld has log p %g under the sampler",
                     (long long)r, (long long)x->first, old[r]);
  for (int64_t r = 0; r < R; r++) w[r] = -w[r];
  x->acc.loss += st.loss;
  x->acc.tokens += st.tokens;
  x->kl_tok += st.kl * (double)st.tokens;
  x->clip_tok += st.clip_frac * (double)st.tokens;
  return TS_OK;
}

/* Forward (and backward when gs != 0) over completions [first, first+count). */
static int grpo_micro(tsm *m, const grpo_batch *b, grpo_item **items, int G, int64_t first, int64_t count, float tau,
                      grpo_coef_ctx *cc, float *logp_out, float gs, arena *ar, ts_err *e) {
  /* the completions of one prompt share its audio: one encoder pass per distinct prompt */
  int64_t p0 = first / G, U = (first + count - 1) / G - p0 + 1, L = 0;
  for (int64_t u = 0; u < U; u++) L = items[p0 + u]->n > L ? items[p0 + u]->n : L;
  float *wav = calloc((size_t)(U * L), sizeof(float));
  int64_t *len = calloc((size_t)U, sizeof(int64_t));
  int32_t *of = calloc((size_t)count, sizeof(int32_t));
  if (!wav || !len || !of) {
    free(wav), free(len), free(of);
    return err_set(e, TS_ENOMEM, "grpo: out of memory");
  }
  for (int64_t u = 0; u < U; u++) {
    memcpy(wav + u * L, items[p0 + u]->wav, sizeof(float) * (size_t)items[p0 + u]->n);
    len[u] = items[p0 + u]->n;
  }
  for (int64_t i = 0; i < count; i++) of[i] = (int32_t)((first + i) / G - p0);
  tsm_batch tb;
  memset(&tb, 0, sizeof tb);
  tb.B = count;
  tb.wav = wav;
  tb.L = L;
  tb.wav_len = len;
  tb.U = U;
  tb.audio_of = of;
  tb.ids = (const int32_t *const *)(b->ids + first);
  tb.n_ids = b->n_ids + first;
  tb.resp_start = b->rs + first;
  tb.resp_end = b->re + first;
  tb.pack = 1; /* a prompt's rows once for its completions in this micro-batch */
  tb.temperature = tau;
  tb.logp_out = logp_out;
  if (cc) {
    cc->first = first;
    cc->count = count;
    tb.coef_fn = grpo_coef;
    tb.coef_user = cc;
  }
  tsm_loss lo;
  arena_reset(ar);
  int rc = tsm_train_step(m, &tb, gs, &lo, ar, e);
  if (!rc && cc) cc->rows += lo.rows, cc->rows_apart += lo.rows_apart;
  free(wav), free(len), free(of);
  return rc;
}

static double grpo_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct grpo_save_ctx {
  tsm *m;
  int bf16;
} grpo_save_ctx;

static int grpo_save_model(void *user, const char *dir, ts_err *e) {
  grpo_save_ctx *s = user;
  return tsm_save(s->m, dir, s->bf16, e);
}

static cJSON *grpo_settings(const grpo_run_cfg *c) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "stage", "grpo");
  cJSON_AddStringToObject(j, "manifest", c->manifest ? c->manifest : "");
  cJSON_AddNumberToObject(j, "prompts", c->prompts);
  cJSON_AddNumberToObject(j, "G", c->G);
  cJSON_AddNumberToObject(j, "mu", c->mu);
  cJSON_AddNumberToObject(j, "steps", (double)c->steps);
  cJSON_AddNumberToObject(j, "lr", c->lr);
  cJSON_AddNumberToObject(j, "temperature", c->temperature);
  cJSON_AddNumberToObject(j, "max_new", c->max_new);
  cJSON_AddNumberToObject(j, "format_reward", c->format_reward);
  cJSON_AddNumberToObject(j, "epsilon_low", c->loss.eps_low);
  cJSON_AddNumberToObject(j, "epsilon_high", c->loss.eps_high);
  cJSON_AddNumberToObject(j, "beta", c->loss.beta);
  cJSON_AddStringToObject(j, "loss_type", grpo_agg_name(c->loss.agg));
  cJSON_AddNumberToObject(j, "clip", c->clip);
  cJSON_AddNumberToObject(j, "seed", (double)c->seed);
  return j;
}

/* Generation, rewards, advantages and reference log-probs for one batch of prompts. */
static int grpo_rollout(tsm *policy, tsm *ref, const grpo_run_cfg *c, grpo_item **items, int np, int64_t step,
                        grpo_batch *b, grpo_step_info *info, arena *ar, ts_err *e) {
  int G = c->G;
  int64_t n = (int64_t)np * G;
  int32_t *prompt = NULL, plen = 0;
  int rc = tsm_prompt_ids(policy, &prompt, &plen, e);
  if (rc) return rc;
  int64_t L = 0;
  for (int i = 0; i < np; i++) L = items[i]->n > L ? items[i]->n : L;
  float *wav = calloc((size_t)(np * L), sizeof(float));
  int64_t *len = calloc((size_t)np, sizeof(int64_t));
  const int32_t **pids = calloc((size_t)np, sizeof(int32_t *));
  int32_t *pn = calloc((size_t)np, sizeof(int32_t));
  uint64_t *keys = calloc((size_t)np, sizeof(uint64_t));
  gen_output *outs = calloc((size_t)n, sizeof(gen_output));
  memset(b, 0, sizeof *b);
  b->n = n;
  b->ids = calloc((size_t)n, sizeof(int32_t *));
  b->n_ids = calloc((size_t)n, sizeof(int32_t));
  b->rs = calloc((size_t)n, sizeof(int32_t));
  b->re = calloc((size_t)n, sizeof(int32_t));
  b->off = calloc((size_t)n + 1, sizeof(int64_t));
  b->len = calloc((size_t)n, sizeof(int32_t));
  b->adv = calloc((size_t)n, sizeof(float));
  b->reward = calloc((size_t)n, sizeof(float));
  if (!wav || !len || !pids || !pn || !keys || !outs || !b->ids || !b->n_ids || !b->rs || !b->re || !b->off || !b->len ||
      !b->adv || !b->reward) {
    rc = err_set(e, TS_ENOMEM, "grpo: out of memory");
    goto done;
  }
  for (int i = 0; i < np; i++) {
    memcpy(wav + i * L, items[i]->wav, sizeof(float) * (size_t)items[i]->n);
    len[i] = items[i]->n;
    pids[i] = prompt;
    pn[i] = plen;
    keys[i] = philox_stream_id(philox_hash_str(items[i]->id), (uint64_t)step, 0x7270);
  }
  gen_input gi = {np, wav, L, len, pids, pn, keys};
  gen_cfg gc;
  memset(&gc, 0, sizeof gc);
  gc.samp.temperature = c->temperature;
  gc.samp.top_p = 1.0f;
  gc.max_new = c->max_new;
  gc.G = G;
  gc.seed = c->seed;
  double t0 = grpo_now();
  arena_reset(ar);
  if ((rc = tsm_generate(policy, &gi, &gc, outs, ar, e))) goto done;
  double gen_secs = grpo_now() - t0;
  int64_t gen_tokens = 0, fmt_ok = 0, n_cot = 0;
  double cot_sum = 0;
  for (int64_t i = 0; i < n; i++) {
    gen_output *o = &outs[i];
    int32_t extra = o->stopped ? 1 : 0;
    b->len[i] = o->n + extra;
    b->off[i + 1] = b->off[i] + b->len[i];
    b->n_ids[i] = plen + o->n + extra;
    b->rs[i] = plen;
    b->re[i] = b->n_ids[i];
    if (!(b->ids[i] = malloc(sizeof(int32_t) * (size_t)(b->n_ids[i] + 1)))) {
      rc = err_set(e, TS_ENOMEM, "grpo: out of memory");
      goto done;
    }
    memcpy(b->ids[i], prompt, sizeof(int32_t) * (size_t)plen);
    memcpy(b->ids[i] + plen, o->tok, sizeof(int32_t) * (size_t)o->n);
    if (extra) b->ids[i][plen + o->n] = policy->im_end_id;
    int ok;
    double rw = grpo_reward(o->text, items[i / G]->ref, c->format_reward, &ok);
    if (items[i / G]->has_facts) {
      double cs = grpo_cot_score(o->text, &items[i / G]->facts, c->cot_continuous);
      if (cs < 0) {
        rc = err_set(e, TS_ENOMEM, "grpo: out of memory");
        goto done;
      }
      rw += c->cot_reward * cs;
      cot_sum += cs, n_cot++;
    }
    b->reward[i] = (float)rw;
    log_debug("grpo: step %lld %s sample %lld reward %.3f: %s", (long long)step + 1, items[i / G]->id,
              (long long)(i % G), b->reward[i], o->text);
    fmt_ok += ok;
    gen_tokens += o->n;
  }
  b->tokens = b->off[n];
  b->old = calloc((size_t)(b->tokens + 1), sizeof(float));
  b->ref = calloc((size_t)(b->tokens + 1), sizeof(float));
  if (!b->old || !b->ref) {
    rc = err_set(e, TS_ENOMEM, "grpo: out of memory");
    goto done;
  }
  for (int64_t i = 0; i < n; i++) {
    memcpy(b->old + b->off[i], outs[i].logp, sizeof(float) * (size_t)outs[i].n);
    if (outs[i].stopped) b->old[b->off[i] + outs[i].n] = outs[i].stop_logp;
  }
  int64_t zero = 0;
  if ((rc = grpo_advantages(b->reward, np, G, 1e-4f, b->adv, &zero, e))) goto done;
  /* reference log-probs (teacher-forced through the frozen model) */
  if (c->loss.beta != 0.0f && ref) {
    for (int64_t f = 0; f < n && !rc; f += c->micro_batch) {
      int64_t cnt = n - f < c->micro_batch ? n - f : c->micro_batch;
      rc = grpo_micro(ref, b, items, G, f, cnt, c->temperature, NULL, b->ref + b->off[f], 0.0f, ar, e);
    }
    if (rc) goto done;
  }
  double rm = 0, rv = 0;
  for (int64_t i = 0; i < n; i++) rm += b->reward[i];
  rm /= (double)n;
  for (int64_t i = 0; i < n; i++) rv += (b->reward[i] - rm) * (b->reward[i] - rm);
  info->reward_mean = rm;
  info->reward_std = n > 1 ? sqrt(rv / (double)(n - 1)) : 0.0;
  info->format_rate = (double)fmt_ok / (double)n;
  info->cot_steps = n_cot ? cot_sum / (double)n_cot : -1;
  info->zero_std_share = (double)zero / (double)np;
  info->completion_len = (double)gen_tokens / (double)n;
  info->tokens_per_s = gen_secs > 0 ? gen_tokens / gen_secs : 0.0;
done:
  if (outs)
    for (int64_t i = 0; i < n; i++) gen_output_free(&outs[i]);
  free(outs), free(wav), free(len), free(pids), free(pn), free(keys), free(prompt);
  return rc;
}

/* The KL term scores the policy's tokens under the reference: both must have one vocabulary. */
static int grpo_same_vocab(const tsm *m, const tsm *ref, ts_err *e) {
  int32_t n = tok_n_ids(m->tok);
  int same = m->lcfg.V == ref->lcfg.V && n == tok_n_ids(ref->tok) && m->audio_id == ref->audio_id &&
             m->im_end_id == ref->im_end_id;
  for (int32_t i = 0; same && i < n; i++) {
    size_t la, lb;
    const char *a = tok_id_bytes(m->tok, i, &la), *b = tok_id_bytes(ref->tok, i, &lb);
    same = la == lb && !a == !b && (!la || !memcmp(a, b, la));
  }
  if (same) return TS_OK;
  return err_set(e, TS_EARG, "grpo: the reference model's tokenizer %s (vocab %lld, %d ids) differs from the policy's %s "
                 "(vocab %lld, %d ids): the KL term needs the same vocabulary", ref->tok_path ? ref->tok_path : "?",
                 (long long)ref->lcfg.V, tok_n_ids(ref->tok), m->tok_path ? m->tok_path : "?", (long long)m->lcfg.V, n);
}

int grpo_run(tsm *m, tsm *ref, const grpo_run_cfg *c_in, ts_err *e) {
  /* a negative silence means the model's own; the model then records what it is trained on */
  grpo_run_cfg rc_cfg = *c_in;
  const grpo_run_cfg *c = &rc_cfg;
  if (rc_cfg.sample.silence < 0) rc_cfg.sample.silence = m->silence;
  m->silence = rc_cfg.sample.silence;
  if (!m->ps.g || !m->ps.m) return err_set(e, TS_EARG, "grpo: the policy was loaded without gradients/optimizer state");
  if (c->G < 2 || c->prompts < 1 || c->mu < 1 || c->micro_batch < 1 || c->micro_batch > 256 || c->steps < 1)
    return err_set(e, TS_EARG,
                   "grpo: G %d, prompts %d, mu %d, micro_batch %d, steps %lld: G must be >= 2 (a group's advantages "
                   "compare its completions), prompts, mu and steps >= 1, micro_batch 1..256",
                   c->G, c->prompts, c->mu, c->micro_batch, (long long)c->steps);
  if (c->max_new < 1) return err_set(e, TS_EARG, "grpo: max_new %d: a completion needs at least 1 new token", c->max_new);
  if (!(c->temperature > 0.0f) || !isfinite(c->temperature))
    return err_set(e, TS_EARG, "grpo: temperature %g: GRPO samples its G completions, it needs a finite temperature > 0",
                   (double)c->temperature);
  if (!(c->loss.beta >= 0.0f) || !isfinite(c->loss.beta) || !(c->loss.eps_low >= 0.0f) || !isfinite(c->loss.eps_low) ||
      !(c->loss.eps_high >= 0.0f) || !isfinite(c->loss.eps_high) ||
      !(c->lr >= 0.0f) || !isfinite(c->lr))
    return err_set(e, TS_EARG, "grpo: beta %g, epsilon %g/%g, lr %g: each must be a finite number >= 0",
                   (double)c->loss.beta, (double)c->loss.eps_low, (double)c->loss.eps_high, (double)c->lr);
  if (c->loss.beta != 0.0f && !ref) return err_set(e, TS_EARG, "grpo: beta %g needs the reference model", c->loss.beta);
  int vrc = ref && c->loss.beta != 0.0f ? grpo_same_vocab(m, ref, e) : TS_OK;
  if (vrc) return vrc;
  int frc = trainer_freeze(&m->ps, c->freeze, 8, "grpo", e);
  if (frc) return frc;
  manifest man;
  man_init(&man);
  int rc = man_read(c->manifest, &man, e);
  if (rc) return rc;
  if (man.n == 0) {
    man_free(&man);
    return err_set(e, TS_EFORMAT, "%s: no usable entries", c->manifest);
  }
  int64_t step = 0, start_pos = 0;
  if (c->resume && (rc = trainer_resume(&m->ps, c->run_dir, "grpo", &step, &start_pos, e))) {
    man_free(&man);
    return rc;
  }
  run_dir rd;
  cJSON *settings = grpo_settings(c);
  rc = run_open(&rd, c->run_dir, settings, step, e);
  cJSON_Delete(settings);
  if (rc) {
    man_free(&man);
    return rc;
  }
  loader_opts lo;
  loader_opts_default(&lo);
  lo.threads = c->threads > 0 ? c->threads : 1;
  lo.batch = c->prompts;
  lo.queue = 2 * c->prompts + 2;
  lo.seed = c->seed;
  lo.epochs = 0;
  lo.sample = c->sample;
  lo.fn = grpo_make_item;
  lo.free_fn = grpo_item_free;
  lo.start_pos = start_pos;
  loader *L = NULL;
  if ((rc = loader_open(&man, &lo, &L, e))) {
    run_close(&rd);
    man_free(&man);
    return rc;
  }
  arena ar;
  if ((rc = be_arena_init(&ar, m->be, 64 << 20, e))) arena_init(&ar, 1 << 16); /* freed below */
  grpo_save_ctx sc = {m, c->save_bf16};
  run_catch_signals();
  int stop = 0;
  while (!rc && step < c->steps && !stop) {
    double t0 = grpo_now();
    loader_batch lb;
    if ((rc = loader_next(L, &lb, e))) break;
    if (!lb.n) {
      loader_batch_free(L, &lb);
      rc = err_set(e, TS_EFORMAT, "%s: the loader ran dry", c->manifest);
      break;
    }
    grpo_step_info info;
    memset(&info, 0, sizeof info);
    grpo_batch b;
    rc = grpo_rollout(m, ref, c, (grpo_item **)lb.items, lb.n, step, &b, &info, &ar, e);
    grpo_coef_ctx cc;
    memset(&cc, 0, sizeof cc);
    cc.c = c;
    cc.gb = &b;
    double gn = 0;
    for (int u = 0; u < c->mu && !rc; u++) {
      pset_zero_grad(&m->ps);
      memset(&cc.acc, 0, sizeof cc.acc);
      cc.kl_tok = cc.clip_tok = 0;
      cc.rows = cc.rows_apart = 0;
      for (int64_t f = 0; f < b.n && !rc; f += c->micro_batch) {
        int64_t cnt = b.n - f < c->micro_batch ? b.n - f : c->micro_batch;
        rc = grpo_micro(m, &b, (grpo_item **)lb.items, c->G, f, cnt, c->temperature, &cc, NULL, 1.0f, &ar, e);
      }
      if (rc) break;
      if (u < 8) info.update_loss[u] = cc.acc.loss;
      gn = pset_grad_norm(&m->ps);
      if (!isfinite(gn)) { /* a device fault also reads as NaN: ask the device first */
        if (m->be->ops->sync(m->be, e)) rc = err_prefix(e, "grpo: step %lld: device error", (long long)step + 1);
        else rc = err_set(e, TS_EINTERNAL, "grpo: gradient norm is %f at step %lld", gn, (long long)step + 1);
        break;
      }
      if (c->clip > 0 && gn > c->clip) pset_scale_grad(&m->ps, (float)(c->clip / gn));
      /* the optimizer's step count advances once per update */
      rc = pset_adamw(&m->ps, c->lr, c->beta1, c->beta2, c->eps, c->wd, step * c->mu + u + 1, e);
    }
    grpo_batch_free(&b);
    loader_batch_free(L, &lb);
    if (rc) break;
    step++;
    info.step = step;
    info.steps = c->steps;
    info.loss = cc.acc.loss;
    info.kl = cc.acc.tokens ? cc.kl_tok / (double)cc.acc.tokens : 0.0;
    info.clip_frac = cc.acc.tokens ? cc.clip_tok / (double)cc.acc.tokens : 0.0;
    info.lr = c->lr;
    info.grad_norm = gn;
    info.llm_rows = cc.rows;
    info.llm_rows_apart = cc.rows_apart;
    info.secs = grpo_now() - t0;
    if (c->log_every > 0 && (step % c->log_every == 0 || step == c->steps)) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddNumberToObject(o, "step", (double)step);
      cJSON_AddNumberToObject(o, "reward_mean", info.reward_mean);
      cJSON_AddNumberToObject(o, "reward_std", info.reward_std);
      cJSON_AddNumberToObject(o, "format_rate", info.format_rate);
      if (info.cot_steps >= 0) cJSON_AddNumberToObject(o, "cot_steps", info.cot_steps);
      cJSON_AddNumberToObject(o, "zero_std_share", info.zero_std_share);
      cJSON_AddNumberToObject(o, "kl", info.kl);
      cJSON_AddNumberToObject(o, "clip_frac", info.clip_frac);
      cJSON_AddNumberToObject(o, "loss", info.loss);
      if (c->mu > 1) {
        cJSON *ul = cJSON_AddArrayToObject(o, "update_loss");
        for (int u = 0; u < c->mu && u < 8; u++) cJSON_AddItemToArray(ul, cJSON_CreateNumber(info.update_loss[u]));
      }
      cJSON_AddNumberToObject(o, "completion_len", info.completion_len);
      cJSON_AddNumberToObject(o, "grad_norm", gn);
      cJSON_AddNumberToObject(o, "tokens_per_s", info.tokens_per_s);
      cJSON_AddNumberToObject(o, "llm_rows", (double)info.llm_rows);
      cJSON_AddNumberToObject(o, "llm_rows_apart", (double)info.llm_rows_apart);
      rc = run_log(&rd, o, e);
      cJSON_Delete(o);
      if (rc) break;
    }
    int ask = c->on_step && c->on_step(c->user, &info);
    rc = trainer_step_end(c->run_dir, "grpo", step, c->steps, c->ckpt_every, ask, &stop, loader_position(L), c->seed,
                          &m->ps, grpo_save_model, &sc, c->keep, e);
  }
  run_release_signals();
  run_clear_interrupt();
  arena_free(&ar);
  loader_close(L);
  run_close(&rd);
  man_free(&man);
  return rc;
}
