/* test_prefix_share.c — the packed layout of a training step (tsmodel_prefix.c: prompts shared
 * by their sequences once, no padding rows) against the same sequences laid out apart and
 * padded: loss, per-token log-probs at a temperature, argmax hits and
 * every parameter gradient (encoder, adapter, embeddings, layers), and scoring without
 * backward, on the CPU and on the simulated device, in batches that vary what the layout
 * indexes: prompts of other lengths per input (other text before <|audio|>, other audio
 * lengths), inputs in mixed order, completions of 0 to 9 tokens, loss spans that stop before a
 * sequence's end, an input with a single completion, only one-row completions, and one
 * sequence per input (SFT's batches: packing without sharing). A batch
 * whose prompts differ within an input is not taken for the layout. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"
#include "infer/generate.h"
#include "model/tsmodel_int.h"
#include "tensor/be_mem.h"
#include "tensor/devsim.h"
#include "testutil.h"

enum { MAXU = 3, MAXB = 8, MAXR = 512 };

typedef struct scen {
  const char *name;
  int U, B;
  int of[MAXB], clen[MAXB], drop[MAXB]; /* drop: the loss span ends that many tokens early */
  int extra[MAXU];                       /* text tokens put before <|audio|> in input u's prompt */
  int cut[MAXU];                         /* samples cut from the end of input u's audio */
  int no_of;                             /* no audio_of: one input per sequence (SFT's batches) */
} scen;

static const scen g_scen[] = {
    {"two inputs", 2, 5, {0, 0, 0, 1, 1}, {3, 9, 6, 5, 8}, {0}, {0, 2}, {0, 0}, 0},
    {"mixed order", 3, 6, {1, 0, 2, 1, 0, 1}, {4, 0, 7, 2, 5, 3}, {0, 0, 2, 0, 1, 0}, {1, 0, 3}, {0, 0, 4000}, 0},
    {"one-row completions", 2, 4, {0, 0, 1, 1}, {1, 0, 1, 1}, {0}, {2, 0}, {3000, 0}, 0},
    {"one sequence per input", 3, 3, {0, 1, 2}, {6, 9, 2}, {0, 1, 0}, {0, 3, 1}, {0, 2000, 3000}, 1},
};

typedef struct pb {
  float *wav;
  int64_t L, len[MAXU];
  int32_t *ids[MAXB], n[MAXB], rs[MAXB], re[MAXB], of[MAXB];
} pb;

static int32_t rand_tok(tsm *m, philox_rng *r) {
  int64_t nt = tok_n_ids(m->tok) < m->lcfg.V ? tok_n_ids(m->tok) : m->lcfg.V;
  int32_t t;
  do t = (int32_t)(philox_uniform_d(r) * (double)nt);
  while (t == m->audio_id);
  return t;
}

static void pb_make(tsm *m, const fixture *fx, const scen *s, pb *q) {
  const cJSON *jl = fx_value(fx, "lens");
  const float *w[2] = {fx_tensor(fx, "wav0", NULL), fx_tensor(fx, "wav1", NULL)};
  int64_t wl[2] = {(int64_t)cJSON_GetArrayItem(jl, 0)->valuedouble, (int64_t)cJSON_GetArrayItem(jl, 1)->valuedouble};
  q->L = 0;
  for (int u = 0; u < s->U; u++) {
    q->len[u] = wl[u % 2] - s->cut[u];
    q->L = q->len[u] > q->L ? q->len[u] : q->L;
  }
  q->wav = tu_zeros(s->U * q->L);
  for (int u = 0; u < s->U; u++) memcpy(q->wav + u * q->L, w[u % 2] + s->cut[u] / 2, sizeof(float) * (size_t)q->len[u]);
  int32_t *prompt, np, ap = -1;
  ts_err e;
  assert_int_equal(tsm_prompt_ids(m, &prompt, &np, &e), 0);
  for (int j = 0; j < np; j++)
    if (prompt[j] == m->audio_id) ap = j;
  assert_true(ap >= 0);
  philox_rng r;
  philox_init(&r, 5, 0);
  int32_t extra[MAXU][4];
  for (int u = 0; u < s->U; u++)
    for (int k = 0; k < 4; k++) extra[u][k] = rand_tok(m, &r);
  for (int i = 0; i < s->B; i++) {
    int u = s->of[i], pl = np + s->extra[u];
    q->n[i] = pl + s->clen[i];
    q->ids[i] = malloc(sizeof(int32_t) * (size_t)(q->n[i] + 1));
    memcpy(q->ids[i], prompt, sizeof(int32_t) * (size_t)ap);
    memcpy(q->ids[i] + ap, extra[u], sizeof(int32_t) * (size_t)s->extra[u]);
    memcpy(q->ids[i] + ap + s->extra[u], prompt + ap, sizeof(int32_t) * (size_t)(np - ap));
    for (int j = pl; j < q->n[i]; j++) q->ids[i][j] = rand_tok(m, &r);
    if (s->clen[i] && !s->drop[i]) q->ids[i][q->n[i] - 1] = m->im_end_id;
    q->rs[i] = pl;
    q->re[i] = q->n[i] - s->drop[i];
    q->of[i] = s->of[i];
  }
  free(prompt);
}

static tsm_batch pb_batch(pb *q, const scen *s, int share, float *logp) {
  tsm_batch b;
  memset(&b, 0, sizeof b);
  b.B = s->B;
  b.wav = q->wav;
  b.L = q->L;
  b.wav_len = q->len;
  b.U = s->U;
  b.audio_of = s->no_of ? NULL : q->of;
  b.ids = (const int32_t *const *)q->ids;
  b.n_ids = q->n;
  b.resp_start = q->rs;
  b.resp_end = q->re;
  b.temperature = 0.7f;
  b.logp_out = logp;
  b.pack = share;
  return b;
}

static void pb_free(pb *q, int B) {
  for (int i = 0; i < B; i++) free(q->ids[i]);
  free(q->wav);
}

static void run(backend *be, const scen *s) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny", TS_FIXTURES);
  tsm *m;
  ts_err e;
  fixture fx;
  assert_int_equal(tsm_load(dir, be, 1, 0, &m, &e), 0);
  assert_int_equal(fx_load(&fx, "tsmodel", "tiny_ref"), 0);
  pb q;
  pb_make(m, &fx, s, &q);
  float lp1[MAXR], lp2[MAXR];
  tsm_batch apart = pb_batch(&q, s, 0, lp1), shared = pb_batch(&q, s, 1, lp2);
  assert_int_equal(tsm_pfx_usable(&shared, s->U), 1); /* the layout is taken, not skipped */
  int64_t R = 0;
  for (int i = 0; i < s->B; i++) R += q.re[i] - q.rs[i];
  assert_true(R > 0 && R <= MAXR);
  arena ar;
  assert_int_equal(be_arena_init(&ar, be, 1 << 24, &e), TS_OK);
  for (int bwd = 1; bwd >= 0; bwd--) {
    float gs = bwd ? (float)(1.0 / (double)R) : 0.0f;
    tsm_loss l1, l2;
    pset_zero_grad(&m->ps);
    if (tsm_train_step(m, &apart, gs, &l1, &ar, &e)) fail_msg("%s: %s", s->name, e.msg);
    float *g1 = malloc(sizeof(float) * (size_t)m->ps.total);
    be_download(be, g1, m->ps.g, sizeof(float) * (size_t)m->ps.total, "grads", &e);
    pset_zero_grad(&m->ps);
    arena_reset(&ar);
    if (tsm_train_step(m, &shared, gs, &l2, &ar, &e)) fail_msg("%s: %s", s->name, e.msg);
    arena_reset(&ar);
    assert_int_equal(l2.tokens, R);
    assert_int_equal(l2.correct, l1.correct);
    if (fabs(l1.loss_sum - l2.loss_sum) > 1e-5 * fabs(l1.loss_sum))
      fail_msg("%s: loss %.9g laid out apart, %.9g shared", s->name, l1.loss_sum, l2.loss_sum);
    if (!tu_close_ff(s->name, lp2, lp1, R, 1e-5, 1.0)) fail_msg("%s: log-probs differ", s->name);
    if (bwd) {
      float *g2 = malloc(sizeof(float) * (size_t)m->ps.total);
      be_download(be, g2, m->ps.g, sizeof(float) * (size_t)m->ps.total, "grads", &e);
      for (int i = 0; i < m->ps.n; i++) {
        /* a key bias shifts every score of a query alike: its gradient is 0 up to rounding */
        if (strstr(m->ps.v[i].name, "k_proj.bias")) continue;
        int64_t o = m->ps.v[i].off, n = m->ps.v[i].n;
        double mx = 0;
        for (int64_t k = 0; k < n; k++) mx = fmax(mx, fabs(g1[o + k]));
        if (!tu_close_ff(m->ps.v[i].name, g2 + o, g1 + o, n, 1e-4, 1e-6))
          fail_msg("%s: gradient %s differs", s->name, m->ps.v[i].name);
        /* every tensor takes part: the comparison is not of zeros */
        if (!(mx > 0)) fail_msg("%s: gradient %s is zero", s->name, m->ps.v[i].name);
      }
      free(g2);
    }
    free(g1);
  }
  /* a sequence of the last input with another prompt: not this layout (one sequence per input
   * shares with none, so it stays packed) */
  int last = s->B - 1;
  q.ids[last][1] ^= 1;
  shared = pb_batch(&q, s, 1, lp2);
  assert_int_equal(tsm_pfx_usable(&shared, s->U), s->no_of);
  arena_free(&ar);
  pb_free(&q, s->B);
  fx_free(&fx);
  tsm_free(m);
}

/* a response with nothing before it (the prompt is <|audio|> alone, its audio too short for a
 * frame) is refused in both layouts; the one laid out apart used to read another sequence's
 * row, or row -1 */
static void test_nothing_before(void **st) {
  (void)st;
  char dir[512];
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny", TS_FIXTURES);
  tsm *m;
  ts_err e;
  assert_int_equal(tsm_load(dir, be_cpu(), 1, 0, &m, &e), 0);
  float wav[2 * 400] = {0};
  int64_t len[2] = {400, 400}; /* one encoder frame: none after the adapter's k-frame stacking */
  int32_t s0[3] = {m->audio_id, 5, m->im_end_id}, s1[3] = {m->audio_id, 6, m->im_end_id};
  const int32_t *ids[2] = {s0, s1};
  int32_t n[2] = {3, 3}, rs[2] = {1, 1}, re[2] = {3, 3}, of[2] = {0, 1};
  tsm_batch b;
  memset(&b, 0, sizeof b);
  b.B = 2, b.wav = wav, b.L = 400, b.wav_len = len, b.U = 2, b.audio_of = of;
  b.ids = ids, b.n_ids = n, b.resp_start = rs, b.resp_end = re;
  arena ar;
  arena_init(&ar, 1 << 22);
  tsm_loss lo;
  int rc = tsm_train_step(m, &b, 0.5f, &lo, &ar, &e);
  if (rc == TS_OK) fail_msg("a response with nothing before it was scored");
  if (!strstr(e.msg, "nothing before its response")) fail_msg("message: %s", e.msg);
  arena_free(&ar);
  tsm_free(m);
}

static void test_cpu(void **st) {
  (void)st;
  for (size_t k = 0; k < sizeof g_scen / sizeof g_scen[0]; k++) run(be_cpu(), &g_scen[k]);
}

static void test_devsim(void **st) {
  (void)st;
  for (size_t k = 0; k < sizeof g_scen / sizeof g_scen[0]; k++) run(be_devsim(), &g_scen[k]);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_cpu), cmocka_unit_test(test_devsim),
                                     cmocka_unit_test(test_nothing_before)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
