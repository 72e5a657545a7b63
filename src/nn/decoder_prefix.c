/* decoder_prefix.c — the shared-prefix layout of a decoder batch (decoder.h, dec_prefix): its
 * index maps, and attention over it (prompts among themselves; each continuation over its
 * prompt's keys and its own) forward and backward, from row gathers and the attention op. */
#include <math.h>
#include <string.h>

#include "nn/decoder_int.h"
#include "tensor/ops.h"

int dec_prefix_init(dec_prefix *pf, arena *ar, ts_err *e) {
  int64_t P = pf->P, Tp = pf->Tp, Bc = pf->Bc, Tc = pf->Tc, Tk = Tp + Tc, Nc = 0;
  if (P < 1 || Tp < 1 || Bc < 1 || Tc < 1) return err_set(e, TS_EARG, "decoder: empty shared-prefix layout");
  for (int64_t p = 0; p < P; p++)
    if (pf->plen[p] < 1 || pf->plen[p] > Tp)
      return err_set(e, TS_EARG, "decoder: prefix %lld has %d rows of %lld", (long long)p, pf->plen[p], (long long)Tp);
  for (int64_t c = 0; c < Bc; c++) {
    if (pf->of[c] < 0 || pf->of[c] >= P || pf->clen[c] < 0 || pf->clen[c] > Tc)
      return err_set(e, TS_EARG, "decoder: continuation %lld: prefix %d of %lld, %d rows of %lld", (long long)c,
                     pf->of[c], (long long)P, pf->clen[c], (long long)Tc);
    Nc += pf->clen[c];
  }
  if (Nc < 1) return err_set(e, TS_EARG, "decoder: shared-prefix layout without continuation rows");
  pf->N = P * Tp + Nc;
  pf->crow = arena_host_alloc(ar, sizeof(int32_t) * (size_t)Bc);
  pf->kidx = arena_host_alloc(ar, sizeof(int32_t) * (size_t)(Bc * Tk));
  pf->qidx = arena_host_alloc(ar, sizeof(int32_t) * (size_t)(Bc * Tc));
  pf->pidx = arena_host_alloc(ar, sizeof(int32_t) * (size_t)Nc);
  pf->klen = arena_host_alloc(ar, sizeof(int32_t) * (size_t)Bc);
  pf->q0 = arena_host_alloc(ar, sizeof(int32_t) * (size_t)Bc);
  if (!pf->crow || !pf->kidx || !pf->qidx || !pf->pidx || !pf->klen || !pf->q0)
    return err_set(e, TS_ENOMEM, "decoder: arena");
  int64_t r = P * Tp;
  for (int64_t c = 0; c < Bc; c++) {
    int32_t u = pf->of[c], pl = pf->plen[u], n = pf->clen[c];
    pf->crow[c] = (int32_t)r;
    pf->klen[c] = pl + n;
    pf->q0[c] = pl;
    /* keys: the prefix's valid rows, then its own rows; past them any row (masked by klen) */
    for (int64_t j = 0; j < Tk; j++)
      pf->kidx[c * Tk + j] = (int32_t)(j < pl ? u * Tp + j : j < pl + n ? r + (j - pl) : 0);
    /* queries: its rows, then padding (read, never used: its outputs are dropped and its
     * output gradients are zero) */
    for (int64_t t = 0; t < Tc; t++) pf->qidx[c * Tc + t] = (int32_t)(t < n ? r + t : n ? r : 0);
    for (int64_t t = 0; t < n; t++) pf->pidx[r - P * Tp + t] = (int32_t)(c * Tc + t);
    r += n;
  }
  return TS_OK;
}

/* Attention over a shared-prefix layout, forward (dq == NULL) or backward (adding into dq, dk,
 * dv): the prefixes among themselves; then the continuations, their queries gathered into a
 * padded (Bc, Tc) block and each over its prefix's keys and its own, gathered into one key row
 * table per continuation (all re-gathered for backward; the key and value gradients added back
 * to the rows they came from, the prefix's from every continuation). q, att (N, Hq D), k, v
 * (N, Hkv D), lse (P Hq Tp + Bc Hq Tc). */
int dec_attn_prefix(backend *be, const dec_cfg *c, const dec_prefix *pf, const attn_cfg *base, float *q,
                           float *k, float *v, float *att, float *lse, float *datt, float *dq, float *dk, float *dv,
                           arena *ar, ts_err *e) {
  int64_t P = pf->P, Tp = pf->Tp, Bc = pf->Bc, Tc = pf->Tc, Tk = Tp + Tc, QD = c->Hq * c->D, KD = c->Hkv * c->D;
  int64_t N = pf->N, o = P * Tp, Nc = N - o; /* o: the first continuation row */
  attn_cfg ac = *base;
  ac.kv_len = pf->plen;
  ac.q_pos0 = NULL;
  tensor Q = T4(q, P, Tp, c->Hq, c->D), K = T4(k, P, Tp, c->Hkv, c->D), V = T4(v, P, Tp, c->Hkv, c->D),
         A = T4(att, P, Tp, c->Hq, c->D), L = tensor_dev(be->device, lse, 3, P, c->Hq, Tp, 0);
  if (!dq) {
    TRY(op_attention(be, &Q, &K, &V, &A, &L, &ac, e));
  } else {
    tensor DA = T4(datt, P, Tp, c->Hq, c->D), DQ = T4(dq, P, Tp, c->Hq, c->D), DK = T4(dk, P, Tp, c->Hkv, c->D),
           DV = T4(dv, P, Tp, c->Hkv, c->D);
    TRY(op_attention_bwd(be, &Q, &K, &V, &A, &L, &DA, &DQ, &DK, &DV, NULL, &ac, e));
  }
  arena_mark mk = arena_get_mark(ar);
  float *kc, *vc, *qc, *ac_; /* (Bc Tk, KD) each continuation's keys and values; (Bc Tc, QD) queries, outputs */
  ALLOC(kc, Bc * Tk * KD);
  ALLOC(vc, Bc * Tk * KD);
  ALLOC(qc, Bc * Tc * QD);
  ALLOC(ac_, Bc * Tc * QD);
  tensor Ka = T2(k, N, KD), Va = T2(v, N, KD), Qa = T2(q, N, QD), KC = T2(kc, Bc * Tk, KD), VC = T2(vc, Bc * Tk, KD),
         QC = T2(qc, Bc * Tc, QD), AC = T2(ac_, Bc * Tc, QD), Aa = T2(att + o * QD, Nc, QD);
  TRY(op_embed(be, &Ka, pf->kidx, &KC, e));
  TRY(op_embed(be, &Va, pf->kidx, &VC, e));
  TRY(op_embed(be, &Qa, pf->qidx, &QC, e));
  ac.kv_len = pf->klen;
  ac.q_pos0 = pf->q0;
  tensor Qc = T4(qc, Bc, Tc, c->Hq, c->D), Kc = T4(kc, Bc, Tk, c->Hkv, c->D), Vc = T4(vc, Bc, Tk, c->Hkv, c->D),
         Ac = T4(ac_, Bc, Tc, c->Hq, c->D), Lc = tensor_dev(be->device, lse + P * c->Hq * Tp, 3, Bc, c->Hq, Tc, 0);
  if (!dq) {
    TRY(op_attention(be, &Qc, &Kc, &Vc, &Ac, &Lc, &ac, e));
    TRY(op_embed(be, &AC, pf->pidx, &Aa, e)); /* the rows' outputs, padding dropped */
  } else {
    /* the outputs as the forward left them (padding rows aside, which backward never reads:
     * their output gradients are zero), and the output gradients with zeros on padding */
    float *dac, *dqc, *dkc, *dvc;
    ALLOC(dac, Bc * Tc * QD);
    ALLOC(dqc, Bc * Tc * QD);
    ALLOC(dkc, Bc * Tk * KD);
    ALLOC(dvc, Bc * Tk * KD);
    tensor DAC = T2(dac, Bc * Tc, QD), DQC = T2(dqc, Bc * Tc, QD), DKC = T2(dkc, Bc * Tk, KD), DVC = T2(dvc, Bc * Tk, KD),
           DAa = T2(datt + o * QD, Nc, QD), Att = T2(att, N, QD);
    TRY(op_embed(be, &Att, pf->qidx, &AC, e));
    TRY(op_fill(be, &DAC, 0.0f, e));
    TRY(op_embed_bwd(be, pf->pidx, &DAa, &DAC, e));
    TRY(op_fill(be, &DQC, 0.0f, e));
    TRY(op_fill(be, &DKC, 0.0f, e));
    TRY(op_fill(be, &DVC, 0.0f, e));
    tensor DA4 = T4(dac, Bc, Tc, c->Hq, c->D), DQ4 = T4(dqc, Bc, Tc, c->Hq, c->D), DK4 = T4(dkc, Bc, Tk, c->Hkv, c->D),
           DV4 = T4(dvc, Bc, Tk, c->Hkv, c->D);
    TRY(op_attention_bwd(be, &Qc, &Kc, &Vc, &Ac, &Lc, &DA4, &DQ4, &DK4, &DV4, NULL, &ac, e));
    tensor DKa = T2(dk, N, KD), DVa = T2(dv, N, KD), DQa = T2(dq + o * QD, Nc, QD), DQs = T2(dqc, Bc * Tc, QD);
    TRY(op_embed_bwd(be, pf->kidx, &DKC, &DKa, e));
    TRY(op_embed_bwd(be, pf->kidx, &DVC, &DVa, e));
    /* the rows' query gradients, from their places among the padded queries */
    float *dqr;
    ALLOC(dqr, Nc * QD);
    tensor DQR = T2(dqr, Nc, QD);
    TRY(op_embed(be, &DQs, pf->pidx, &DQR, e));
    TRY(op_axpby(be, &DQR, 1.0f, &DQa, 1.0f, e));
  }
  arena_rewind(ar, mk);
  return TS_OK;
}
