/* tsmodel_prefix.c — the shared-prefix layout of a training batch (tsmodel_int.h): the
 * sequences of one audio input share its prompt, so the prompt's rows (its text and audio
 * frames) go through the LLM once and each continuation attends to them (decoder.h,
 * dec_prefix). The results are those of the sequences laid out apart; GRPO's G completions of
 * a prompt then cost the prompt's rows once instead of G times. */
#include <string.h>

#include "model/tsmodel_int.h"
#include "tensor/ops.h"

#define TRY(x)           \
  do {                   \
    int rc_ = (x);       \
    if (rc_) return rc_; \
  } while (0)

/* the audio input of sequence i (without audio_of: i) */
static int32_t pfx_of(const tsm_batch *b, int64_t i) { return b->audio_of ? b->audio_of[i] : (int32_t)i; }

/* the first sequence of audio input u, or -1 */
static int64_t pfx_first(const tsm_batch *b, int64_t u) {
  for (int64_t i = 0; i < b->B; i++)
    if (pfx_of(b, i) == u) return i;
  return -1;
}

int tsm_pfx_usable(const tsm_batch *b, int64_t U) {
  if (U < 1 || b->B < U) return 0;
  int cont = 0;
  for (int64_t u = 0; u < U; u++)
    if (pfx_first(b, u) < 0) return 0;
  for (int64_t i = 0; i < b->B; i++) {
    if (pfx_of(b, i) < 0 || pfx_of(b, i) >= U) return 0;
    int64_t j = pfx_first(b, pfx_of(b, i));
    int32_t rs = b->resp_start[i];
    if (rs < 1 || rs > b->n_ids[i] || b->resp_start[j] != rs || memcmp(b->ids[i], b->ids[j], sizeof(int32_t) * (size_t)rs))
      return 0;
    cont |= b->n_ids[i] > rs;
  }
  return cont;
}

int tsm_pfx_build(tsm *m, const tsm_batch *b, int64_t U, const int32_t *pp, const float *aud, int64_t Ta, const int32_t *una, tsm_pfx *o,
                  arena *ar, ts_err *e) {
  backend *be = m->be;
  int64_t B = b->B, C = m->lcfg.C, V = m->lcfg.V, Tp = 0, Tc = 0, Ntext = 0, R = 0;
  memset(o, 0, sizeof *o);
  int32_t *plen = tsm_host_alloc(ar, sizeof(int32_t) * (size_t)(2 * U + 2 * B), e), *clen, *of;
  if (!plen) return TS_ENOMEM;
  o->pp = plen + U;
  clen = plen + 2 * U;
  of = clen + B;
  for (int64_t i = 0; i < B; i++) {
    int32_t rs = b->resp_start[i], u = of[i] = pfx_of(b, i);
    o->pp[u] = pp[i];
    plen[u] = rs - 1 + una[u];
    clen[i] = b->n_ids[i] - rs;
    Tc = clen[i] > Tc ? clen[i] : Tc;
    R += b->resp_end[i] - rs;
  }
  for (int64_t u = 0; u < U; u++) {
    Tp = plen[u] > Tp ? plen[u] : Tp;
    Ntext += b->resp_start[pfx_first(b, u)] - 1;
  }
  for (int64_t i = 0; i < B; i++) Ntext += clen[i];
  o->pf.P = U, o->pf.Tp = Tp, o->pf.Bc = B, o->pf.Tc = Tc;
  o->pf.plen = plen, o->pf.of = of, o->pf.clen = clen;
  TRY(dec_prefix_init(&o->pf, ar, e));
  int64_t N = o->pf.N;
  const int32_t *prow = o->pf.prow, *crow = o->pf.crow; /* each prompt's, continuation's first row */
  o->N = N;
  o->Ntext = Ntext;
  o->R = R;
  o->x = tsm_dev_alloc(ar, sizeof(float) * (size_t)(N * C), e);
  o->pos = tsm_host_alloc(ar, sizeof(int32_t) * (size_t)N, e);
  o->tid = tsm_host_alloc(ar, sizeof(int32_t) * (size_t)(Ntext + 1), e);
  o->row = tsm_host_alloc(ar, sizeof(int32_t) * (size_t)(R + 1), e);
  o->tg = tsm_host_alloc(ar, sizeof(int32_t) * (size_t)(R + 1), e);
  float *temb = tsm_dev_alloc(ar, sizeof(float) * (size_t)(Ntext * C + 1), e);
  if (!o->x || !o->pos || !o->tid || !o->row || !o->tg || !temb) return TS_ENOMEM;
  /* text ids in row order, then the rows: prompt text, audio frames, prompt text; continuations */
  int64_t k = 0;
  for (int64_t u = 0; u < U; u++) {
    int64_t i = pfx_first(b, u);
    for (int32_t j = 0; j < b->resp_start[i]; j++)
      if (j != o->pp[u]) o->tid[k++] = b->ids[i][j];
  }
  for (int64_t i = 0; i < B; i++)
    for (int32_t j = b->resp_start[i]; j < b->n_ids[i]; j++) o->tid[k++] = b->ids[i][j];
  TRY(qwen2_embed(&m->llm, o->tid, Ntext, temb, e));
  tensor X = tensor_dev(be->device, o->x, 2, N, C, 0, 0);
  TRY(op_fill(be, &X, 0.0f, e));
  k = 0;
  for (int64_t u = 0; u < U; u++) {
    float *xu = o->x + (int64_t)prow[u] * C;
    int32_t p = o->pp[u], n = b->resp_start[pfx_first(b, u)] - 1;
    TRY(tsm_copy_rows(be, temb + k * C, xu, p, C, e));
    TRY(tsm_copy_rows(be, aud + u * Ta * C, xu + (int64_t)p * C, una[u], C, e));
    TRY(tsm_copy_rows(be, temb + (k + p) * C, xu + (int64_t)(p + una[u]) * C, n - p, C, e));
    k += n;
  }
  for (int64_t i = 0; i < B; i++) {
    TRY(tsm_copy_rows(be, temb + k * C, o->x + (int64_t)crow[i] * C, clen[i], C, e));
    k += clen[i];
  }
  for (int64_t u = 0; u < U; u++)
    for (int64_t t = 0; t < plen[u]; t++) o->pos[prow[u] + t] = (int32_t)t;
  for (int64_t i = 0; i < B; i++)
    for (int64_t t = 0; t < clen[i]; t++) o->pos[crow[i] + t] = (int32_t)(plen[of[i]] + t);
  /* token j of the response is predicted by the row of token j - 1: the prompt's last row for
   * the first, the continuation's rows after it */
  int64_t r = 0;
  for (int64_t i = 0; i < B; i++) {
    int32_t u = of[i], rs = b->resp_start[i];
    for (int32_t j = rs; j < b->resp_end[i]; j++, r++) {
      o->row[r] = (int32_t)(j == rs ? prow[u] + plen[u] - 1 : crow[i] + (j - 1 - rs));
      o->tg[r] = b->ids[i][j];
      if (o->tg[r] < 0 || o->tg[r] >= V)
        return err_set(e, TS_EARG, "train step: token id %d outside the vocabulary", o->tg[r]);
    }
  }
  return TS_OK;
}

int tsm_pfx_input_grads(tsm *m, const tsm_pfx *o, int64_t U, int64_t Ta, const int32_t *una, const float *dx,
                        float *daud, arena *ar, ts_err *e) {
  backend *be = m->be;
  int64_t C = m->lcfg.C;
  float *temb = tsm_dev_alloc(ar, sizeof(float) * (size_t)(o->Ntext * C + 1), e);
  if (!temb) return TS_ENOMEM;
  int64_t k = 0;
  for (int64_t u = 0; u < U; u++) {
    const float *du = dx + (int64_t)o->pf.prow[u] * C;
    int32_t p = o->pp[u], n = o->pf.plen[u] - una[u]; /* the prompt's text ids */
    TRY(tsm_copy_rows(be, du, temb + k * C, p, C, e));
    TRY(tsm_copy_rows(be, du + (int64_t)(p + una[u]) * C, temb + (k + p) * C, n - p, C, e));
    k += n;
  }
  for (int64_t i = 0; i < o->pf.Bc; i++) {
    TRY(tsm_copy_rows(be, dx + (int64_t)o->pf.crow[i] * C, temb + k * C, o->pf.clen[i], C, e));
    k += o->pf.clen[i];
  }
  TRY(qwen2_embed_bwd(&m->llm, o->tid, o->Ntext, temb, e));
  if (daud)
    for (int64_t u = 0; u < U; u++) {
      if (!una[u]) continue;
      tensor s1 = tensor_dev(be->device, (float *)dx + ((int64_t)o->pf.prow[u] + o->pp[u]) * C, 1, (int64_t)una[u] * C, 0, 0, 0),
             d1 = tensor_dev(be->device, daud + u * Ta * C, 1, (int64_t)una[u] * C, 0, 0, 0);
      TRY(op_axpby(be, &s1, 1.0f, &d1, 1.0f, e));
    }
  return TS_OK;
}
