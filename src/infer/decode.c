/* decode.c — decode a manifest into a decode JSONL (see decode.h). */
#include "infer/decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/philox.h"
#include "data/cot_sample.h"
#include "data/loader.h"
#include "infer/cot_parse.h"
#include "infer/decode_rec.h"
#include "tensor/be_mem.h"

void decode_cfg_default(decode_cfg *c) {
  memset(c, 0, sizeof *c);
  c->batch = 4;
  c->gen.samp.temperature = 0.0f;
  c->gen.samp.top_p = 1.0f;
  c->gen.max_new = 512;
  c->gen.G = 1;
  c->gen.seed = 1;
  c->resume = 1;
  c->threads = 2;
  sample_opts_default(&c->sample);
}

/* One input, built on a loader thread: the waveform and the facts needed for scoring. */
typedef struct dec_item {
  float *wav;
  int64_t n;
  cot_facts facts;
  int has_facts;
} dec_item;

static void dec_item_free(void *p, void *user) {
  (void)user;
  dec_item *it = p;
  if (!it) return;
  free(it->wav);
  free(it);
}

static int dec_make_item(sample *s, const man_entry *x, void *user, void **item, ts_err *e) {
  (void)user;
  (void)x;
  dec_item *it = calloc(1, sizeof *it);
  if (!it) {
    sample_free(s);
    return err_set(e, TS_ENOMEM, "decode: out of memory");
  }
  int has_sim = 0;
  it->has_facts = cot_facts_from_sample(s, NULL, &it->facts, &has_sim, NULL) == TS_OK && has_sim;
  it->wav = s->wave;
  it->n = s->n;
  s->wave = NULL;
  sample_free(s);
  *item = it;
  return TS_OK;
}

/* keeps the entries whose ids are not in done (resume) and within the limit */
/* The entries to decode: the first `limit` of the manifest (all when limit <= 0) that are not
 * already done; those already done go into prev (their records count in the summary). */
static int dec_filter(const manifest *in, const drec_ids *done, int64_t limit, manifest *out, drec_ids *prev,
                      ts_err *e) {
  man_init(out);
  for (int64_t i = 0; i < in->n && (limit <= 0 || i < limit); i++) {
    int64_t v;
    int rc;
    if (done && drec_ids_get(done, in->e[i].id, &v))
      rc = drec_ids_add(prev, in->e[i].id, 0, NULL, NULL, e);
    else
      rc = man_add(out, &in->e[i], e);
    if (rc) return rc;
  }
  return TS_OK;
}

/* Adds an earlier record of an entry to decode to the summary (once per id). */
static int dec_prev_rec(const drec *r, void *user, ts_err *e) {
  void **u = user;
  drec_ids *prev = u[0];
  decode_summary *sum = u[1];
  int64_t v;
  if (!drec_ids_get(prev, r->id, &v) || v) return TS_OK;
  drec_ids_set(prev, r->id, 1);
  sum->n++;
  sum->format_errors += !r->format_ok;
  sum->repetition += r->repetition == 1;
  sum->sub += r->sub, sum->del += r->del, sum->ins += r->ins, sum->words += r->n;
  return TS_OK;
}

static double dec_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int decode_run(tsm *m, const decode_cfg *c_in, decode_summary *sum, ts_err *e) {
  memset(sum, 0, sizeof *sum);
  decode_cfg dc = *c_in; /* a negative silence: the model's (the layout it was trained on) */
  const decode_cfg *c = &dc;
  if (dc.sample.silence < 0) dc.sample.silence = m->silence;
  if (c->batch < 1) return err_set(e, TS_EARG, "decode: batch must be at least 1");
  manifest all, man;
  man_init(&all);
  int rc = man_read(c->manifest, &all, e);
  if (rc) return rc;
  drec_ids *done = NULL;
  int64_t skipped = 0;
  if (c->resume) {
    FILE *f = fopen(c->out, "r");
    if (f) {
      fclose(f);
      if ((rc = drec_done_ids(c->out, &done, &skipped, e))) {
        man_free(&all);
        return rc;
      }
    }
  }
  drec_ids *prev = NULL;
  if (!rc) rc = drec_ids_new(&prev, e);
  if (!rc) rc = dec_filter(&all, done, c->limit, &man, prev, e);
  int64_t total = man.n, want = c->limit > 0 && c->limit < all.n ? c->limit : all.n;
  if (!rc && done) {
    log_info("decode: %lld of the %lld entries to decode already in %s", (long long)(want - man.n), (long long)want,
             c->out);
    void *u[2] = {prev, sum}; /* the summary covers every entry to decode, earlier ones too */
    rc = drec_read_each(c->out, dec_prev_rec, u, NULL, e);
  }
  drec_ids_free(done);
  drec_ids_free(prev);
  man_free(&all);
  if (rc || total == 0) {
    if (!rc) sum->wer = sum->words ? (double)(sum->sub + sum->del + sum->ins) / (double)sum->words : 0.0;
    man_free(&man);
    return rc;
  }
  drec_writer w;
  if ((rc = drec_writer_open(&w, c->out, c->resume, e))) {
    man_free(&man);
    return rc;
  }
  loader_opts lo;
  loader_opts_default(&lo);
  lo.threads = c->threads > 0 ? c->threads : 1;
  lo.batch = c->batch;
  lo.queue = 2 * c->batch + 2;
  lo.shuffle = 0;
  lo.epochs = 1;
  lo.sample = c->sample;
  lo.fn = dec_make_item;
  lo.free_fn = dec_item_free;
  loader *L = NULL;
  if ((rc = loader_open(&man, &lo, &L, e))) {
    drec_writer_close(&w, NULL);
    man_free(&man);
    return rc;
  }
  int32_t *prompt = NULL, plen = 0;
  rc = tsm_prompt_ids(m, &prompt, &plen, e);
  if (!rc && c->prefix && *c->prefix) { /* the prompt continues with the forced response prefix */
    tok_ids px = {0};
    rc = tok_encode(m->tok, c->prefix, strlen(c->prefix), 0, &px, e);
    for (size_t k = 0; !rc && k < px.n; k++)
      if (px.v[k] == m->audio_id) rc = err_set(e, TS_EARG, "decode: the response prefix contains " TOK_AUDIO);
    int32_t *np = rc ? NULL : realloc(prompt, sizeof(int32_t) * ((size_t)plen + px.n));
    if (!rc && !np) rc = err_set(e, TS_ENOMEM, "decode: out of memory");
    if (!rc) {
      memcpy(np + plen, px.v, sizeof(int32_t) * px.n);
      prompt = np;
      plen += (int32_t)px.n;
    }
    tok_ids_free(&px);
  }
  arena ar;
  if (!rc) rc = be_arena_init(&ar, m->be, 64 << 20, e);
  else arena_init(&ar, 1 << 16);
  double t0 = dec_now();
  int64_t gen_tok = 0, done_n = 0;
  int G = c->gen.G > 0 ? c->gen.G : 1;
  while (!rc) {
    loader_batch lb;
    if ((rc = loader_next(L, &lb, e))) break;
    if (lb.n == 0) {
      loader_batch_free(L, &lb);
      break;
    }
    int64_t B = lb.n, Lm = 0;
    for (int64_t i = 0; i < B; i++) Lm = ((dec_item *)lb.items[i])->n > Lm ? ((dec_item *)lb.items[i])->n : Lm;
    float *wav = calloc((size_t)(B * Lm), sizeof(float));
    int64_t *len = calloc((size_t)B, sizeof(int64_t));
    const int32_t **ids = calloc((size_t)B, sizeof(int32_t *));
    int32_t *nid = calloc((size_t)B, sizeof(int32_t));
    uint64_t *keys = calloc((size_t)B, sizeof(uint64_t));
    gen_output *outs = calloc((size_t)(B * G), sizeof(gen_output));
    if (!wav || !len || !ids || !nid || !keys || !outs) rc = err_set(e, TS_ENOMEM, "decode: out of memory");
    for (int64_t i = 0; !rc && i < B; i++) {
      dec_item *it = lb.items[i];
      memcpy(wav + i * Lm, it->wav, sizeof(float) * (size_t)it->n);
      len[i] = it->n;
      ids[i] = prompt;
      nid[i] = plen;
      keys[i] = philox_hash_str(lb.entries[i]->id);
    }
    if (!rc) {
      gen_input gi = {B, wav, Lm, len, ids, nid, keys};
      arena_reset(&ar);
      rc = tsm_generate(m, &gi, &c->gen, outs, &ar, e);
    }
    for (int64_t i = 0; !rc && i < B; i++) {
      const man_entry *x = lb.entries[i];
      dec_item *it = lb.items[i];
      const char *others[MAN_MAX_SRC];
      size_t no = 0;
      for (int k = 0; k < x->n_src; k++)
        if (k != x->target) others[no++] = x->src[k].text ? x->src[k].text : "";
      for (int g = 0; !rc && g < G; g++) {
        gen_output *o = &outs[i * G + g];
        drec r;
        drec_init(&r);
        char *full = NULL; /* prefix + output: the response as the parser sees it */
        const char *resp = o->text;
        if (c->prefix && *c->prefix) {
          size_t np = strlen(c->prefix), no2 = strlen(o->text);
          if (!(full = malloc(np + no2 + 1))) rc = err_set(e, TS_ENOMEM, "decode: out of memory");
          else memcpy(full, c->prefix, np), memcpy(full + np, o->text, no2 + 1), resp = full;
        }
        if (!rc)
          rc = drec_from_output(x->id, x->set, x->src[x->target].text ? x->src[x->target].text : "", resp, strlen(resp),
                                &r, e);
        free(full);
        if (!rc) {
          r.speakers = x->n_src;
          r.target = x->target;
          r.repetition = o->repetition;
          r.tokens = o->n;
          r.has_logp = 1;
          r.logp = 0;
          for (int32_t t = 0; t < o->n; t++) r.logp += o->logp[t];
          if (G > 1) r.sample = g;
          if (no) rc = drec_set_wrong_speaker(&r, others, no, e);
          if (!rc && it->has_facts) rc = drec_set_think_ok(&r, &it->facts, NULL, e);
        }
        if (!rc) rc = drec_writer_put(&w, &r, e);
        if (!rc) {
          sum->n++;
          sum->format_errors += !r.format_ok;
          sum->repetition += o->repetition;
          sum->sub += r.sub;
          sum->del += r.del;
          sum->ins += r.ins;
          sum->words += r.n;
          gen_tok += o->n;
        }
        drec_free(&r);
      }
    }
    if (outs)
      for (int64_t i = 0; i < B * G; i++) gen_output_free(&outs[i]);
    free(wav), free(len), free(ids), free(nid), free(keys), free(outs);
    loader_batch_free(L, &lb);
    done_n += B;
    if (!rc && c->on_progress) {
      double wer = sum->words ? (double)(sum->sub + sum->del + sum->ins) / (double)sum->words : 0.0;
      if (c->on_progress(c->user, done_n, total, wer)) break;
    }
  }
  sum->secs = dec_now() - t0;
  sum->tokens_per_s = sum->secs > 0 ? gen_tok / sum->secs : 0;
  sum->wer = sum->words ? (double)(sum->sub + sum->del + sum->ins) / (double)sum->words : 0.0;
  loader_stats ls;
  loader_stats_get(L, &ls);
  if (ls.n_skipped) log_warn("decode: %lld entries skipped (first: %s)", (long long)ls.n_skipped, ls.names[0]);
  free(prompt);
  arena_free(&ar);
  loader_close(L);
  int rc2 = drec_writer_close(&w, rc ? NULL : e);
  man_free(&man);
  return rc ? rc : rc2;
}
