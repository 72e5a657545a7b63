/* generate.c — batched decoding with a shared encoder pass and prompt prefill (see generate.h). */
#include "infer/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/philox.h"
#include "infer/gen_check.h"
#include "tensor/be_mem.h"
#include "tensor/ops.h"
#include "text/chat.h"

#define TRY(x)           \
  do {                   \
    int rc_ = (x);       \
    if (rc_) return rc_; \
  } while (0)

void gen_output_free(gen_output *o) {
  free(o->tok);
  free(o->logp);
  free(o->text);
  memset(o, 0, sizeof *o);
}

static int gen_ids_from_prompt(chat_prompt *cp, int32_t **ids, int32_t *n, ts_err *e) {
  *ids = malloc(sizeof(int32_t) * (cp->ids.n + 1));
  if (!*ids) return err_set(e, TS_ENOMEM, "prompt: out of memory");
  memcpy(*ids, cp->ids.v, sizeof(int32_t) * cp->ids.n);
  *n = (int32_t)cp->ids.n;
  return TS_OK;
}

int tsm_prompt_ids(tsm *m, int32_t **ids, int32_t *n, ts_err *e) {
  chat_cfg cc = {m->system, m->instruction, 1};
  chat_prompt cp;
  TRY(chat_build(m->tok, &cc, NULL, &cp, e));
  int rc = gen_ids_from_prompt(&cp, ids, n, e);
  chat_prompt_free(&cp);
  return rc;
}

int tsm_train_ids(tsm *m, const char *response, int32_t **ids, int32_t *n, int32_t *rs, int32_t *re, ts_err *e) {
  chat_cfg cc = {m->system, m->instruction, 1};
  chat_prompt cp;
  TRY(chat_build(m->tok, &cc, response, &cp, e));
  int rc = gen_ids_from_prompt(&cp, ids, n, e);
  *rs = (int32_t)cp.resp_start;
  *re = (int32_t)cp.resp_end;
  chat_prompt_free(&cp);
  return rc;
}

typedef struct gen_seq {
  int32_t *tok;
  float *logp;
  int32_t n, cap;
  int32_t limit; /* tokens it may generate: the budget, or fewer where the model's context ends first */
  int done;
} gen_seq;

static int gen_push(gen_seq *s, int32_t t, float lp, ts_err *e) {
  if (s->n == s->cap) {
    int32_t cap = s->cap ? s->cap * 2 : 64;
    int32_t *nt = realloc(s->tok, sizeof(int32_t) * (size_t)cap);
    if (!nt) return err_set(e, TS_ENOMEM, "generate: out of memory");
    s->tok = nt;
    float *nl = realloc(s->logp, sizeof(float) * (size_t)cap);
    if (!nl) return err_set(e, TS_ENOMEM, "generate: out of memory");
    s->logp = nl;
    s->cap = cap;
  }
  s->tok[s->n] = t;
  s->logp[s->n] = lp;
  s->n++;
  return TS_OK;
}

/* After row r drew token t (log-prob lp): records it, or ends the row (stop token, repetition
 * guard, budget). Returns 1 when the row goes on (t is fed next), 0 when it ended, < 0 on error. */
static int gen_accept(tsm *m, const gen_cfg *c, gen_seq *sq, gen_output *o, int32_t t, float lp,
                      ts_err *e) {
  if (t == m->im_end_id) {
    sq->done = 1;
    o->stopped = 1;
    o->stop_logp = lp;
    return 0;
  }
  if (gen_push(sq, t, lp, e)) return -1;
  if (rep_guard_hit(&c->guard, sq->tok, sq->n)) {
    sq->done = 1;
    o->repetition = 1;
    return 0;
  }
  if (sq->n >= sq->limit) {
    sq->done = 1;
    return 0;
  }
  return 1;
}

/* One decoding step's ops: the rows' tokens cur (BG) in, logits of the rows taking one
 * (n_new) out at lgd. They only launch work (nothing read back until the next sample): a
 * backend may record them and submit the step as one graph at END. */
static int gen_step(tsm *m, qwen2_kv *kv, const int32_t *cur, const int32_t *n_new, float *xs, float *lgd, arena *ar,
                    ts_err *e) {
  backend *be = m->be;
  arena_mark sm = arena_get_mark(ar);
  int64_t Rs = 0;
  int rc = op_step_graph(be, TS_STEP_BEGIN, e);
  if (!rc) rc = qwen2_embed(&m->llm, cur, kv->B, xs, e);
  if (!rc) rc = qwen2_step_into(&m->llm, kv, 1, xs, n_new, lgd, &Rs, ar, e);
  if (!rc) rc = op_step_graph(be, TS_STEP_END, e);
  else op_step_graph(be, TS_STEP_ABORT, NULL);
  arena_rewind(ar, sm);
  return rc;
}

int tsm_generate(tsm *m, const gen_input *in, const gen_cfg *c, gen_output *outs, arena *ar, ts_err *e) {
  backend *be = m->be;
  int64_t B = in->B, G = c->G > 0 ? c->G : 1, BG = B * G, C = m->lcfg.C, V = m->lcfg.V;
  int max_new = c->max_new > 0 ? c->max_new : 512;
  int64_t ctx = qwen2_ctx(&m->lcfg);
  int64_t n_real = tok_n_ids(m->tok) < V ? tok_n_ids(m->tok) : V;
  /* the token choice (greedy, temperature, top-k / top-p) runs as a backend op on the logits
   * where they are (the sample op): only ids and log-probs come back */
  memset(outs, 0, sizeof(gen_output) * (size_t)BG);
  if (!(c->samp.temperature >= 0.0f) || !(c->samp.top_p >= 0.0f && c->samp.top_p <= 1.0f) || c->samp.top_k < 0)
    return err_set(e, TS_EARG,
                   "generate: temperature %g, top_p %g, top_k %d: temperature must be >= 0 (0: greedy), top_p in "
                   "[0, 1] (0 or 1: no nucleus cut), top_k >= 0 (0: no top-k cut)",
                   (double)c->samp.temperature, (double)c->samp.top_p, c->samp.top_k);
  arena_mark mk = arena_get_mark(ar);
  int rc = TS_OK, hinted = 0; /* hinted: the weights hint is open (closed at done only then) */
  qwen2_kv pre, kv;
  memset(&pre, 0, sizeof pre);
  memset(&kv, 0, sizeof kv);
  gen_seq *seq = calloc((size_t)BG, sizeof(gen_seq));
  philox_rng *rng = calloc((size_t)BG, sizeof(philox_rng));
  float *lgd = arena_alloc(ar, sizeof(float) * (size_t)(BG * V + 1)); /* (BG, V) backend */
  int32_t *n_new = calloc((size_t)BG, sizeof(int32_t)), *cur = calloc((size_t)BG, sizeof(int32_t));
  int32_t *cand = calloc((size_t)BG, sizeof(int32_t)), *ban = calloc((size_t)BG, sizeof(int32_t)),
          *tk = calloc((size_t)BG, sizeof(int32_t));
  float *lps = calloc((size_t)BG, sizeof(float));
  double *u = calloc((size_t)BG, sizeof(double));
  float *xs = arena_alloc(ar, sizeof(float) * (size_t)(BG * C)); /* (BG, C) backend memory */
  gen_chk chk; /* the replay check's host copies (TSASR_CUDA_GRAPHS_CHECK=1), made on first use */
  memset(&chk, 0, sizeof chk);
  int32_t *na = calloc((size_t)(3 * B), sizeof(int32_t));
  if (!seq || !rng || !lgd || !n_new || !cur || !cand || !ban || !tk ||
      !lps || !u || !xs || !na) {
    rc = err_set(e, TS_ENOMEM, "generate: out of memory");
    goto done;
  }
  /* one encoder pass and one prefill per input; the G rows of an input start from its logits */
  float *aud, *x;
  int64_t Ta, Tm, R = 0;
  int32_t *S = na + B, *pp = na + 2 * B;
  if ((rc = tsm_encode_audio(m, B, in->wav, in->L, in->wav_len, &aud, &Ta, na, NULL, NULL, 0, ar, e))) goto done;
  if ((rc = tsm_splice(m, B, in->ids, in->n_ids, aud, Ta, na, NULL, &x, &Tm, S, pp, NULL, NULL, ar, e))) goto done;
  /* a sequence (prompt, audio and what it generates) ends where the model's context does */
  for (int64_t b = 0; b < B; b++) {
    if (S[b] >= ctx) {
      rc = err_set(e, TS_EARG,
                   "generate: input %lld's prompt takes %d positions (its audio and text), the model's context "
                   "is %lld (the LLM's max_position_embeddings): shorten the audio",
                   (long long)b, S[b], (long long)ctx);
      goto done;
    }
    for (int64_t g = 0; g < G; g++) seq[b * G + g].limit = (int32_t)(ctx - S[b] < max_new ? ctx - S[b] : max_new);
  }
  if ((rc = qwen2_kv_init(&pre, &m->llm, B, Tm, e))) goto done;
  {
    arena_mark pm = arena_get_mark(ar);
    float *lg0 = arena_alloc(ar, sizeof(float) * (size_t)(B * V + 1)); /* (B, V) backend */
    int32_t *rep = arena_host_alloc(ar, sizeof(int32_t) * (size_t)BG);
    if (!lg0 || !rep) rc = err_set(e, TS_ENOMEM, "generate: arena out of memory");
    if (!rc) rc = qwen2_step_into(&m->llm, &pre, Tm, x, S, lg0, &R, ar, e);
    if (!rc && R != B) rc = err_set(e, TS_EARG, "generate: an input has an empty prompt");
    for (int64_t r = 0; r < BG; r++) rep[r] = (int32_t)(r / G);
    tensor L0 = tensor_dev(be->device, lg0, 2, B, V, 0, 0), LD = tensor_dev(be->device, lgd, 2, BG, V, 0, 0);
    if (!rc) rc = op_embed(be, &L0, rep, &LD, e); /* row b*G+g = row b */
    arena_rewind(ar, pm);
    if (rc) goto done;
  }
  if ((rc = qwen2_kv_init(&kv, &m->llm, BG, Tm + max_new + 1 < ctx ? Tm + max_new + 1 : ctx, e))) goto done;
  for (int64_t b = 0; b < B; b++)
    for (int64_t g = 0; g < G; g++) {
      if ((rc = qwen2_kv_copy_from(&kv, b * G + g, &pre, b, &m->llm, e))) goto done;
      uint64_t key = in->keys ? in->keys[b] : (uint64_t)b;
      philox_init(&rng[b * G + g], c->seed, philox_stream_id(key, (uint64_t)g, 0x67656e));
    }
  qwen2_kv_free(&pre);
  /* the weights stay as they are until the end: a backend may decode from a bf16 copy of them
   * (CUDA in the bf16 precision with its decoding kernels on) */
  if ((rc = op_weights_bf16(be, m->ps.w, m->ps.total, 1, e))) goto done;
  hinted = 1;
  /* lgd holds one row per candidate (cand[0..R), increasing r): every row at first, then the
   * rows fed in the last step */
  R = BG;
  for (int64_t r = 0; r < BG; r++) cand[r] = (int32_t)r;
  /* sample, feed, repeat */
  for (int step = 0;; step++) {
    int active = 0;
    for (int64_t r = 0; r < BG; r++) n_new[r] = 0;
    if (R) {
      /* never emit the audio placeholder or the LLM's unused embedding rows, nor the stop token
       * before min_new; the log-prob reported is that of the full distribution, as the trainer
       * computes it */
      for (int64_t i = 0; i < R; i++) {
        int32_t r = cand[i];
        ban[i] = seq[r].n < c->min_new ? m->im_end_id : -1;
        if (c->samp.temperature > 0.0f) u[i] = philox_uniform_d(&rng[r]);
      }
      sample_req q = {c->samp.temperature, n_real, m->audio_id, ban, u, c->samp.top_k, c->samp.top_p};
      tensor Z = tensor_dev(be->device, lgd, 2, R, V, 0, 0);
      if ((rc = op_sample(be, &Z, &q, tk, lps, e))) goto done;
    }
    for (int64_t i = 0; i < R; i++) {
      int32_t r = cand[i], t = tk[i];
      float lp = lps[i];
      int go = gen_accept(m, c, &seq[r], &outs[r], t, lp, e);
      if (go < 0) {
        rc = e ? e->code : TS_ENOMEM;
        goto done;
      }
      if (go) {
        cur[r] = t;
        n_new[r] = 1;
        active++;
      }
    }
    if (!active) break;
    R = 0;
    for (int64_t r = 0; r < BG; r++) {
      if (n_new[r]) cand[R++] = (int32_t)r;
      else cur[r] = 0; /* any valid id: the row is computed but not appended */
    }
    /* a backend may submit the step as a replay of the last one it recorded (no host code) */
    int rmode = 0;
    for (int64_t r = 0; r < BG; r++)
      if (n_new[r] && kv.len[r] >= kv.Tmax) {
        rc = err_set(e, TS_EARG, "generate: sequence %lld fills its cache of %lld positions", (long long)r,
                     (long long)kv.Tmax);
        goto done;
      }
    if ((rc = op_step_replay(be, cur, n_new, BG, &rmode, e))) goto done;
    if (rmode != 2) gen_check_drop(&chk); /* this step is not checked: the check's copy falls behind */
    if (rmode == 1) {
      for (int64_t r = 0; r < BG; r++) kv.len[r] += n_new[r]; /* what the step's ops do */
      continue;
    }
    int64_t nkv = m->llm.c.L * BG * kv.Tmax * m->llm.c.Hkv * m->llm.c.D, cap = BG * V + 2 * nkv;
    if (rmode == 2 && (rc = gen_check_keep(&chk, be, lgd, R, V, &kv, nkv, cap, e))) goto done;
    if ((rc = gen_step(m, &kv, cur, n_new, xs, lgd, ar, e))) goto done;
    if (rmode == 2 && (rc = gen_check_same(&chk, be, lgd, R, V, &kv, n_new, m->llm.c.L, nkv, step, e))) goto done;
  }
  for (int64_t r = 0; r < BG; r++) {
    outs[r].tok = seq[r].tok;
    outs[r].logp = seq[r].logp;
    outs[r].n = seq[r].n;
    seq[r].tok = NULL;
    seq[r].logp = NULL;
    if ((rc = tok_decode(m->tok, outs[r].tok, (size_t)outs[r].n, TOK_DEC_SKIP_SPECIAL | TOK_DEC_SKIP_UNKNOWN,
                         &outs[r].text, NULL, e)))
      goto done;
  }
done:
  op_step_graph(be, TS_STEP_DONE, NULL);
  if (hinted) op_weights_bf16(be, m->ps.w, m->ps.total, 0, NULL); /* stopping cannot fail to any effect */
  if (seq)
    for (int64_t r = 0; r < BG; r++) {
      free(seq[r].tok);
      free(seq[r].logp);
    }
  if (rc && outs)
    for (int64_t r = 0; r < BG; r++) gen_output_free(&outs[r]);
  free(seq), free(rng), free(n_new), free(cur), free(cand), free(ban), free(tk), free(lps), free(u);
  gen_check_free(&chk);
  free(na);
  qwen2_kv_free(&pre);
  qwen2_kv_free(&kv);
  arena_rewind(ar, mk);
  return rc;
}
