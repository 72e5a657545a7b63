/* test_prefix_share.c — the shared-prefix layout of a training step (tsmodel_prefix.c): a batch
 * of 2 audio inputs with 3 and 2 continuations each (GRPO's completions, of different lengths)
 * gives, laid out with each prompt once, the loss, per-token log-probs at a temperature,
 * argmax hits and every parameter gradient (encoder, adapter, embeddings, layers) that the
 * sequences laid out apart give; scoring without backward too; on the CPU and on the
 * simulated device. A batch whose prompts differ within an input is not taken for it. */
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

enum { U = 2, B = 5, MAXN = 512 };

typedef struct pb {
  float *wav;
  int64_t L, len[U];
  int32_t *ids[B], n[B], rs[B], re[B], of[B];
  float logp[B * MAXN];
} pb;

/* completions of lengths 3..9 of random ids (no <|audio|>), each ending with <|im_end|> */
static void pb_make(tsm *m, const fixture *fx, pb *q) {
  const cJSON *jl = fx_value(fx, "lens");
  for (int u = 0; u < U; u++) q->len[u] = (int64_t)cJSON_GetArrayItem(jl, u)->valuedouble;
  q->L = q->len[0] > q->len[1] ? q->len[0] : q->len[1];
  q->wav = tu_zeros(U * q->L);
  memcpy(q->wav, fx_tensor(fx, "wav0", NULL), sizeof(float) * (size_t)q->len[0]);
  memcpy(q->wav + q->L, fx_tensor(fx, "wav1", NULL), sizeof(float) * (size_t)q->len[1]);
  int32_t *prompt, np;
  ts_err e;
  assert_int_equal(tsm_prompt_ids(m, &prompt, &np, &e), 0);
  philox_rng r;
  philox_init(&r, 5, 0);
  const int32_t clen[B] = {3, 9, 6, 5, 8}, of[B] = {0, 0, 0, 1, 1};
  int64_t nt = tok_n_ids(m->tok) < m->lcfg.V ? tok_n_ids(m->tok) : m->lcfg.V;
  for (int i = 0; i < B; i++) {
    q->n[i] = np + clen[i];
    q->ids[i] = malloc(sizeof(int32_t) * (size_t)q->n[i]);
    memcpy(q->ids[i], prompt, sizeof(int32_t) * (size_t)np);
    for (int j = np; j < q->n[i] - 1; j++) {
      int32_t t;
      do t = (int32_t)(philox_uniform_d(&r) * (double)nt);
      while (t == m->audio_id || t == m->im_end_id);
      q->ids[i][j] = t;
    }
    q->ids[i][q->n[i] - 1] = m->im_end_id;
    q->rs[i] = np;
    q->re[i] = q->n[i];
    q->of[i] = of[i];
  }
  free(prompt);
}

static tsm_batch pb_batch(pb *q, int share) {
  tsm_batch b;
  memset(&b, 0, sizeof b);
  b.B = B;
  b.wav = q->wav;
  b.L = q->L;
  b.wav_len = q->len;
  b.U = U;
  b.audio_of = q->of;
  b.ids = (const int32_t *const *)q->ids;
  b.n_ids = q->n;
  b.resp_start = q->rs;
  b.resp_end = q->re;
  b.temperature = 0.7f;
  b.logp_out = q->logp;
  b.share_prefix = share;
  return b;
}

static void pb_free(pb *q) {
  for (int i = 0; i < B; i++) free(q->ids[i]);
  free(q->wav);
}

static void run(backend *be) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/tsmodel/tiny", TS_FIXTURES);
  tsm *m;
  ts_err e;
  fixture fx;
  assert_int_equal(tsm_load(dir, be, 1, 0, &m, &e), 0);
  assert_int_equal(fx_load(&fx, "tsmodel", "tiny_ref"), 0);
  pb q;
  pb_make(m, &fx, &q);
  tsm_batch apart = pb_batch(&q, 0), shared = pb_batch(&q, 1);
  assert_int_equal(tsm_pfx_usable(&shared, U), 1); /* the layout is taken, not skipped */
  int64_t R = 0;
  for (int i = 0; i < B; i++) R += q.re[i] - q.rs[i];
  arena ar;
  assert_int_equal(be_arena_init(&ar, be, 1 << 24, &e), TS_OK);
  for (int bwd = 1; bwd >= 0; bwd--) {
    float gs = bwd ? (float)(1.0 / (double)R) : 0.0f;
    tsm_loss l1, l2;
    pset_zero_grad(&m->ps);
    if (tsm_train_step(m, &apart, gs, &l1, &ar, &e)) fail_msg("%s", e.msg);
    float *lp1 = malloc(sizeof(float) * (size_t)R), *g1 = malloc(sizeof(float) * (size_t)m->ps.total);
    memcpy(lp1, q.logp, sizeof(float) * (size_t)R);
    be_download(be, g1, m->ps.g, sizeof(float) * (size_t)m->ps.total, "grads", &e);
    pset_zero_grad(&m->ps);
    arena_reset(&ar);
    if (tsm_train_step(m, &shared, gs, &l2, &ar, &e)) fail_msg("%s", e.msg);
    arena_reset(&ar);
    assert_int_equal(l2.tokens, R);
    assert_int_equal(l2.correct, l1.correct);
    if (fabs(l1.loss_sum - l2.loss_sum) > 1e-5 * fabs(l1.loss_sum))
      fail_msg("loss %.9g laid out apart, %.9g shared", l1.loss_sum, l2.loss_sum);
    assert_true(tu_close_ff("log-probs", q.logp, lp1, R, 1e-5, 1.0));
    if (bwd) {
      float *g2 = malloc(sizeof(float) * (size_t)m->ps.total);
      be_download(be, g2, m->ps.g, sizeof(float) * (size_t)m->ps.total, "grads", &e);
      for (int i = 0; i < m->ps.n; i++) {
        /* a key bias shifts every score of a query alike: its gradient is 0 up to rounding */
        if (strstr(m->ps.v[i].name, "k_proj.bias")) continue;
        int64_t o = m->ps.v[i].off, n = m->ps.v[i].n;
        double mx = 0;
        for (int64_t k = 0; k < n; k++) mx = fmax(mx, fabs(g1[o + k]));
        if (!tu_close_ff(m->ps.v[i].name, g2 + o, g1 + o, n, 1e-4, 1e-6)) fail_msg("gradient %s differs", m->ps.v[i].name);
        /* every tensor takes part: the comparison is not of zeros */
        if (!(mx > 0)) fail_msg("gradient %s is zero", m->ps.v[i].name);
      }
      free(g2);
    }
    free(lp1), free(g1);
  }
  /* a continuation of input 1 with another prompt: not this layout */
  q.ids[4][1] ^= 1;
  shared = pb_batch(&q, 1);
  assert_int_equal(tsm_pfx_usable(&shared, U), 0);
  arena_free(&ar);
  pb_free(&q);
  fx_free(&fx);
  tsm_free(m);
}

static void test_cpu(void **s) {
  (void)s;
  run(be_cpu());
}

static void test_devsim(void **s) {
  (void)s;
  run(be_devsim());
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_cpu), cmocka_unit_test(test_devsim)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
