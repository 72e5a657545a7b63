/* tsmodel_train.c — one training forward/backward of the composed model: encoder on the
 * padded waveforms, adapter, splicing of the audio frames into the prompt at <|audio|>,
 * Qwen2 over the spliced sequences, cross-entropy on response tokens only (the head runs on
 * those rows only), and the backward path through all three parts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/tsmodel_int.h"
#include "nn/ctc.h"
#include "tensor/be_mem.h"
#include "tensor/ops.h"

#define TRY(x)           \
  do {                   \
    int rc_ = (x);       \
    if (rc_) return rc_; \
  } while (0)

void *tsm_dev_alloc(arena *ar, size_t bytes, ts_err *e) {
  void *p = arena_alloc(ar, bytes ? bytes : 1);
  if (!p) err_set(e, TS_ENOMEM, "train step: arena out of memory (%zu bytes)", bytes);
  return p;
}

void *tsm_host_alloc(arena *ar, size_t bytes, ts_err *e) {
  void *p = arena_host_alloc(ar, bytes ? bytes : 1);
  if (!p) err_set(e, TS_ENOMEM, "train step: host arena out of memory (%zu bytes)", bytes);
  return p;
}

/* argmax hits of logits (R, V) in backend memory against targets (the first largest logit, as
 * greedy decoding takes it). On the CPU a scan of the rows; on a device the sample op's greedy
 * pick, so that only R ids cross to the host. Downloading the logits (R x 151,936 floats, 97 MB
 * for a paper-geometry batch) and scanning them on the host kept the host 70 ms here in an SFT
 * step of 181 ms on an H100 (2026-11-27: the forward's kernels finishing, then the copy and
 * the scan with the device idle). */
static int tt_correct(backend *be, const float *lg, int64_t R, int64_t V, const int32_t *tg, int64_t *hits,
                      arena *ar, ts_err *e) {
  if (R <= 0) return TS_OK;
  if (be_is_host(be)) {
    for (int64_t q = 0; q < R; q++) {
      const float *z = lg + q * V;
      int64_t best = 0;
      for (int64_t v = 1; v < V; v++)
        if (z[v] > z[best]) best = v;
      *hits += best == tg[q];
    }
    return TS_OK;
  }
  arena_mark mk = arena_get_mark(ar);
  int32_t *pick = tsm_host_alloc(ar, sizeof(int32_t) * (size_t)R, e); /* (R) */
  float *lp = tsm_host_alloc(ar, sizeof(float) * (size_t)R, e);      /* (R), unused */
  int rc = pick && lp ? TS_OK : TS_ENOMEM;
  if (!rc) {
    tensor Z = tensor_f32((float *)lg, 2, R, V, 0, 0);
    Z.device = be->device;
    sample_req g = {0.0f, V, -1, NULL, NULL, 0, 1.0f}; /* greedy over the whole row */
    rc = op_sample(be, &Z, &g, pick, lp, e);
    for (int64_t q = 0; !rc && q < R; q++) *hits += pick[q] == tg[q];
  }
  arena_rewind(ar, mk);
  return rc;
}

int tsm_audio_index(const tsm *m, const int32_t *ids, int32_t n, int64_t i, int32_t *p, ts_err *e) {
  *p = -1;
  for (int32_t j = 0; j < n; j++)
    if (ids[j] == m->audio_id) {
      if (*p >= 0) return err_set(e, TS_EARG, "sample %lld has more than one <|audio|>", (long long)i);
      *p = j;
    }
  if (*p < 0) return err_set(e, TS_EARG, "sample %lld has no <|audio|> token for its audio frames", (long long)i);
  return TS_OK;
}

int tsm_copy_rows(backend *be, const float *src, float *dst, int64_t n, int64_t C, ts_err *e) {
  if (n <= 0) return TS_OK;
  tensor s = tensor_f32((float *)src, 1, n * C, 0, 0, 0), d = tensor_f32(dst, 1, n * C, 0, 0, 0);
  s.device = d.device = be->device;
  return op_copy(be, &s, &d, e);
}

static int tt_any_trainable(const pset *ps, const char *prefix) {
  size_t lp = strlen(prefix);
  for (int i = 0; i < ps->n; i++)
    if (!strncmp(ps->v[i].name, prefix, lp) && !ps->v[i].frozen) return 1;
  return 0;
}

int tsm_encode_audio(tsm *m, int64_t B, const float *wav, int64_t L, const int64_t *wav_len, float **aud,
                     int64_t *Ta, int32_t *na, enc_acts *ea, adapter_acts *aa, int enc_bwd, arena *ar, ts_err *e) {
  enc_acts tmp;
  enc_acts *a = ea ? ea : &tmp;
  /* no encoder backward to follow (decoding, scoring, a frozen encoder): the inference forward
   * keeps no activations */
  TRY(ea && enc_bwd ? enc_forward(&m->enc, B, L, wav, wav_len, a, ar, e)
                    : enc_forward_infer(&m->enc, B, L, wav, wav_len, a, ar, e));
  *Ta = adapter_out_len(&m->acfg, a->T);
  if (!(*aud = tsm_dev_alloc(ar, sizeof(float) * (size_t)(B * *Ta * m->lcfg.C + 1), e))) return TS_ENOMEM;
  TRY(adapter_forward(&m->adp, B, a->T, a->out, *aud, aa, ar, e));
  for (int64_t i = 0; i < B; i++) na[i] = (int32_t)(a->frames[i] / m->acfg.k);
  return TS_OK;
}

int tsm_splice(tsm *m, int64_t B, const int32_t *const *ids, const int32_t *n_ids, const float *aud, int64_t Ta,
               const int32_t *na, const int32_t *audio_of, float **xo, int64_t *Tmo, int32_t *S, int32_t *p,
               int32_t **tido, int64_t *Ntexto, arena *ar, ts_err *e) {
  backend *be = m->be;
  int64_t C = m->lcfg.C, Tm = 0, Ntext = 0;
  for (int64_t i = 0; i < B; i++) {
    TRY(tsm_audio_index(m, ids[i], n_ids[i], i, &p[i], e));
    S[i] = n_ids[i] - 1 + na[audio_of ? audio_of[i] : i];
    if (S[i] > Tm) Tm = S[i];
    Ntext += n_ids[i] - 1;
  }
  float *x = tsm_dev_alloc(ar, sizeof(float) * (size_t)(B * Tm * C + 1), e);
  float *temb = tsm_dev_alloc(ar, sizeof(float) * (size_t)(Ntext * C + 1), e);
  int32_t *tid = tsm_host_alloc(ar, sizeof(int32_t) * (size_t)(Ntext + 1), e);
  if (!x || !temb || !tid) return TS_ENOMEM;
  tensor X = tensor_f32(x, 2, B * Tm, C, 0, 0);
  X.device = be->device;
  TRY(op_fill(be, &X, 0.0f, e));
  int64_t k = 0;
  for (int64_t i = 0; i < B; i++)
    for (int32_t j = 0; j < n_ids[i]; j++)
      if (j != p[i]) tid[k++] = ids[i][j];
  TRY(qwen2_embed(&m->llm, tid, Ntext, temb, e));
  k = 0;
  for (int64_t i = 0; i < B; i++) {
    float *xb = x + i * Tm * C;
    int64_t u = audio_of ? audio_of[i] : i;
    TRY(tsm_copy_rows(be, temb + k * C, xb, p[i], C, e));
    TRY(tsm_copy_rows(be, aud + u * Ta * C, xb + (int64_t)p[i] * C, na[u], C, e));
    TRY(tsm_copy_rows(be, temb + (k + p[i]) * C, xb + (int64_t)(p[i] + na[u]) * C, n_ids[i] - 1 - p[i], C, e));
    k += n_ids[i] - 1;
  }
  *xo = x;
  *Tmo = Tm;
  if (tido) *tido = tid;
  if (Ntexto) *Ntexto = Ntext;
  return TS_OK;
}

static int train_step(tsm *m, const tsm_batch *b, float gs, tsm_loss *out, arena *ar, ts_err *e) {
  backend *be = m->be;
  int64_t B = b->B, C = m->lcfg.C, V = m->lcfg.V;
  memset(out, 0, sizeof *out);
  /* 1. encoder and adapter */
  enc_acts ea;
  adapter_acts aa;
  float *aud;
  int64_t Ta;
  int64_t U = b->U > 0 ? b->U : B;
  if (b->audio_of)
    for (int64_t i = 0; i < B; i++)
      if (b->audio_of[i] < 0 || b->audio_of[i] >= U)
        return err_set(e, TS_EARG, "train step: sequence %lld refers to audio %d of %lld", (long long)i, b->audio_of[i],
                       (long long)U);
  int32_t *una = tsm_host_alloc(ar, sizeof(int32_t) * (size_t)(U + 3 * B), e);
  if (!una) return TS_ENOMEM;
  int32_t *na = una + U, *S = na + B, *pp = na + 2 * B; /* na: per sequence */
  int enc_bwd = gs != 0.0f && m->ps.g && tt_any_trainable(&m->ps, "encoder.");
  TRY(tsm_encode_audio(m, U, b->wav, b->L, b->wav_len, &aud, &Ta, una, &ea, &aa, enc_bwd, ar, e));
  /* encoder CTC head: loss now, logit gradients kept for the backward */
  float *ctc_dz = NULL;
  if (m->ctc && b->ctc_scale != 0.0f && b->ctc_text) {
    int64_t Ce = m->ecfg.C, Vc = CTC_CHAR_VOCAB;
    /* the head runs on the backend; the CTC recursion on the host (logits down, dz up) */
    size_t nz = (size_t)(U * ea.T * Vc);
    float *cz = tsm_dev_alloc(ar, sizeof(float) * (nz + 1), e);
    ctc_dz = tsm_dev_alloc(ar, sizeof(float) * (nz + 1), e);
    float *czh = be_is_host(be) ? cz : tsm_host_alloc(ar, sizeof(float) * (nz + 1), e);
    float *dzh = be_is_host(be) ? ctc_dz : tsm_host_alloc(ar, sizeof(float) * (nz + 1), e);
    int32_t *lab = tsm_host_alloc(ar, sizeof(int32_t) * 4096, e);
    if (!cz || !ctc_dz || !czh || !dzh || !lab) return TS_ENOMEM;
    tensor H = tensor_f32(ea.out, 2, U * ea.T, Ce, 0, 0), W = pset_w(&m->ps, m->i_ctc_w),
           Bb = pset_w(&m->ps, m->i_ctc_b), Z = tensor_f32(cz, 2, U * ea.T, Vc, 0, 0);
    H.device = Z.device = be->device;
    TRY(op_matmul(be, &H, &W, &Bb, &Z, 0, 1, 0.0f, e));
    TRY(be_download(be, czh, cz, sizeof(float) * nz, "CTC logits", e));
    memset(dzh, 0, sizeof(float) * nz);
    for (int64_t u = 0; u < U; u++) {
      int64_t nl = ctc_chars(b->ctc_text[u] ? b->ctc_text[u] : "", lab, 4096), Tf = ea.frames[u];
      if (!nl || !Tf) continue;
      double l;
      int ok;
      TRY(ctc_loss(czh + u * ea.T * Vc, Tf, Vc, lab, nl, gs != 0.0f ? b->ctc_scale / (float)nl : 0.0f, &l,
                   gs != 0.0f ? dzh + u * ea.T * Vc : NULL, &ok, e));
      if (ok) {
        out->ctc_sum += l / (double)nl;
        out->ctc_n++;
      }
    }
    TRY(be_upload(be, ctc_dz, dzh, sizeof(float) * nz, "CTC gradients", e));
  }
  for (int64_t i = 0; i < B; i++) na[i] = una[b->audio_of ? b->audio_of[i] : i];
  /* 2. the LLM's input rows: each sequence spliced apart and padded, or (pack) packed: each
   * audio input's prompt once and every sequence's continuation after them (tsmodel_prefix.c) */
  int do_bwd = gs != 0.0f && m->ps.g;
  const char *pk = getenv("TSASR_PACK"); /* "0": laid out apart, for an A/B of the layouts */
  int shared = b->pack && !(pk && !strcmp(pk, "0")) && tsm_pfx_usable(b, U);
  int64_t R = 0, Smax = 0; /* response tokens; the longest spliced sequence */
  for (int64_t i = 0; i < B; i++) { /* pp[i]: the <|audio|> index of sequence i */
    TRY(tsm_audio_index(m, b->ids[i], b->n_ids[i], i, &pp[i], e));
    if (b->resp_start[i] <= pp[i] || b->resp_end[i] > b->n_ids[i] || b->resp_start[i] > b->resp_end[i])
      return err_set(e, TS_EARG, "train step: sample %lld: response span [%d, %d) is not after the audio",
                     (long long)i, b->resp_start[i], b->resp_end[i]);
    if (b->resp_start[i] - 1 + na[i] < 1)
      return err_set(e, TS_EARG, "train step: sample %lld: nothing before its response to predict it from (the "
                     "prompt is <|audio|> alone and its audio gives no frame)", (long long)i);
    R += b->resp_end[i] - b->resp_start[i];
    if (b->n_ids[i] - 1 + na[i] > Smax) Smax = b->n_ids[i] - 1 + na[i];
  }
  out->rows_apart = B * Smax;
  tsm_pfx px;
  float *x;
  int32_t *tid = NULL, *pos, *row, *tg;
  int64_t Tm = 0, Ntext = 0, Nr;
  attn_cfg mask;
  memset(&mask, 0, sizeof mask);
  qwen2_acts la;
  if (shared) {
    TRY(tsm_pfx_build(m, b, U, pp, aud, Ta, una, &px, ar, e));
    x = px.x, pos = px.pos, Nr = px.N, R = px.R, row = px.row, tg = px.tg;
    /* 3. LLM (scoring keeps no layer activations) */
    TRY(qwen2_forward_prefix(&m->llm, Nr, x, pos, &px.pf, !do_bwd, &la, ar, e));
  } else {
    TRY(tsm_splice(m, B, b->ids, b->n_ids, aud, Ta, una, b->audio_of, &x, &Tm, S, pp, &tid, &Ntext, ar, e));
    Nr = B * Tm;
    if (!(pos = tsm_host_alloc(ar, sizeof(int32_t) * (size_t)(B * Tm), e))) return TS_ENOMEM;
    for (int64_t i = 0; i < B; i++)
      for (int64_t t = 0; t < Tm; t++) pos[i * Tm + t] = (int32_t)t;
    mask.kv_len = S;
    /* 3. LLM (scoring keeps no layer activations) */
    TRY(do_bwd ? qwen2_forward(&m->llm, B, Tm, x, pos, &mask, &la, ar, e)
               : qwen2_forward_infer(&m->llm, B, Tm, x, pos, &mask, &la, ar, e));
    /* loss rows: response token j of sample i sits at spliced position j - 1 + na and is
     * predicted by the row before it */
    row = tsm_host_alloc(ar, sizeof(int32_t) * (size_t)(R + 1), e); /* (R) spliced row predicting each token */
    tg = tsm_host_alloc(ar, sizeof(int32_t) * (size_t)(R + 1), e);
    if (!row || !tg) return TS_ENOMEM;
    int64_t r = 0;
    for (int64_t i = 0; i < B; i++)
      for (int32_t j = b->resp_start[i]; j < b->resp_end[i]; j++) {
        row[r] = (int32_t)(i * Tm + (j - 1 + na[i]) - 1);
        tg[r] = b->ids[i][j];
        if (tg[r] < 0 || tg[r] >= V)
          return err_set(e, TS_EARG, "train step: token id %d outside the vocabulary", tg[r]);
        r++;
      }
  }
  out->rows = Nr;
  /* 4. loss */
  float *hr = tsm_dev_alloc(ar, sizeof(float) * (size_t)(R * C + 1), e);
  float *lg = tsm_dev_alloc(ar, sizeof(float) * (size_t)(R * V + 1), e);
  float *ls = tsm_host_alloc(ar, sizeof(float) * (size_t)(R + 1), e);
  if (!hr || !lg || !ls) return TS_ENOMEM;
  /* gather the loss rows in one op (a row lookup, as for token embeddings) */
  tensor HID = tensor_f32(la.hid, 2, Nr, C, 0, 0), HR = tensor_f32(hr, 2, R, C, 0, 0);
  HID.device = HR.device = be->device;
  if (R) TRY(op_embed(be, &HID, row, &HR, e));
  TRY(qwen2_head(&m->llm, hr, R, lg, e));
  TRY(tt_correct(be, lg, R, V, tg, &out->correct, ar, e));
  tensor LG = tensor_f32(lg, 2, R, V, 0, 0);
  LG.device = be->device;
  float tau = b->temperature > 0.0f ? b->temperature : 1.0f;
  if (tau != 1.0f) TRY(op_scale(be, &LG, 1.0f / tau, &LG, e));
  float *w = NULL;
  if (b->logp_out || b->coef_fn) {
    TRY(op_xent(be, &LG, tg, NULL, ls, 0.0f, e)); /* ls = -logp, logits untouched */
    float *lp = b->logp_out ? b->logp_out : tsm_host_alloc(ar, sizeof(float) * (size_t)(R + 1), e);
    if (!lp) return TS_ENOMEM;
    for (int64_t q = 0; q < R; q++) lp[q] = -ls[q];
    if (b->coef_fn) {
      if (!(w = tsm_host_alloc(ar, sizeof(float) * (size_t)(R + 1), e))) return TS_ENOMEM;
      TRY(b->coef_fn(b->coef_user, R, lp, w, e));
    }
  }
  TRY(op_xent(be, &LG, tg, w, ls, do_bwd ? gs : 0.0f, e));
  for (int64_t q = 0; q < R; q++) out->loss_sum += ls[q];
  if (do_bwd && tau != 1.0f) TRY(op_scale(be, &LG, 1.0f / tau, &LG, e)); /* chain rule through z / tau */
  out->tokens = R;
  if (!do_bwd) return TS_OK;
  /* 5. backward */
  float *dhr = tsm_dev_alloc(ar, sizeof(float) * (size_t)(R * C + 1), e);
  float *dh = tsm_dev_alloc(ar, sizeof(float) * (size_t)(Nr * C), e);
  float *dx = tsm_dev_alloc(ar, sizeof(float) * (size_t)(Nr * C), e);
  if (!dhr || !dh || !dx) return TS_ENOMEM;
  tensor DHR = tensor_f32(dhr, 2, R, C, 0, 0), DH = tensor_f32(dh, 2, Nr, C, 0, 0);
  DHR.device = DH.device = be->device;
  TRY(op_fill(be, &DH, 0.0f, e));
  TRY(qwen2_head_bwd(&m->llm, hr, lg, R, dhr, e)); /* writes dhr */
  /* scatter the loss rows' gradients back (rows are distinct; the add is the embedding backward) */
  if (R) TRY(op_embed_bwd(be, row, &DHR, &DH, e));
  TRY(qwen2_backward(&m->llm, &la, pos, &mask, dh, dx, ar, e));
  /* text rows -> embedding table; audio rows -> adapter */
  int train_enc = tt_any_trainable(&m->ps, "encoder.");
  int need_aud = tt_any_trainable(&m->ps, "adapter.") || train_enc || ctc_dz;
  float *daud = need_aud ? tsm_dev_alloc(ar, sizeof(float) * (size_t)(U * Ta * C + 1), e) : NULL;
  float *denc = train_enc ? tsm_dev_alloc(ar, sizeof(float) * (size_t)(U * ea.T * m->ecfg.C + 1), e) : NULL;
  if ((need_aud && !daud) || (train_enc && !denc)) return TS_ENOMEM;
  tensor DA = tensor_f32(daud, 2, U * Ta, C, 0, 0);
  DA.device = be->device;
  if (daud) TRY(op_fill(be, &DA, 0.0f, e));
  if (shared) {
    TRY(tsm_pfx_input_grads(m, &px, U, Ta, una, dx, daud, ar, e));
  } else {
    float *temb = tsm_dev_alloc(ar, sizeof(float) * (size_t)(Ntext * C + 1), e);
    if (!temb) return TS_ENOMEM;
    int64_t k = 0;
    for (int64_t i = 0; i < B; i++) {
      const float *db = dx + i * Tm * C;
      int32_t p = pp[i], n = b->n_ids[i];
      TRY(tsm_copy_rows(be, db, temb + k * C, p, C, e));
      TRY(tsm_copy_rows(be, db + (int64_t)(p + na[i]) * C, temb + (k + p) * C, n - 1 - p, C, e));
      k += n - 1;
    }
    TRY(qwen2_embed_bwd(&m->llm, tid, Ntext, temb, e));
    for (int64_t i = 0; i < B && daud; i++) { /* sequences sharing an audio input add their gradients */
      int64_t u = b->audio_of ? b->audio_of[i] : i;
      if (!na[i]) continue;
      tensor s1 = tensor_f32(dx + (i * Tm + pp[i]) * C, 1, (int64_t)na[i] * C, 0, 0, 0),
             d1 = tensor_f32(daud + u * Ta * C, 1, (int64_t)na[i] * C, 0, 0, 0);
      s1.device = d1.device = be->device;
      TRY(op_axpby(be, &s1, 1.0f, &d1, 1.0f, e));
    }
  }
  if (!need_aud) return TS_OK;
  if (denc) {
    tensor DE = tensor_f32(denc, 2, U * ea.T, m->ecfg.C, 0, 0);
    DE.device = be->device;
    TRY(op_fill(be, &DE, 0.0f, e));
  }
  TRY(adapter_backward(&m->adp, &aa, daud, denc, ar, e));
  if (ctc_dz) { /* CTC head: its parameters, and the encoder output's gradient */
    tensor H = tensor_f32(ea.out, 2, U * ea.T, m->ecfg.C, 0, 0), W = pset_w(&m->ps, m->i_ctc_w),
           GW = pset_g(&m->ps, m->i_ctc_w), GB = pset_g(&m->ps, m->i_ctc_b),
           DZ = tensor_f32(ctc_dz, 2, U * ea.T, CTC_CHAR_VOCAB, 0, 0), DE = tensor_f32(denc, 2, U * ea.T, m->ecfg.C, 0, 0);
    H.device = DZ.device = DE.device = be->device;
    int th = !m->ps.v[m->i_ctc_w].frozen;
    TRY(op_matmul_bwd(be, &H, &W, &DZ, denc ? &DE : NULL, th ? &GW : NULL, th ? &GB : NULL, 0, 1, e));
  }
  if (train_enc) TRY(enc_backward(&m->enc, &ea, denc, ar, e));
  return TS_OK;
}

/* the step bracketed by the training hint (op_weights_bf16 with 2): the parameters stay
 * unchanged from here until the closing call, which comes before any optimizer step */
int tsm_train_step(tsm *m, const tsm_batch *b, float gs, tsm_loss *out, arena *ar, ts_err *e) {
  TRY(op_weights_bf16(m->be, m->ps.w, m->ps.total, 2, e));
  int rc = train_step(m, b, gs, out, ar, e);
  int rc2 = op_weights_bf16(m->be, m->ps.w, m->ps.total, 0, rc ? NULL : e);
  return rc ? rc : rc2;
}
