/* decoder_prefix.c — the packed prefix layout of a decoder batch (decoder.h, dec_prefix): its
 * row maps, and attention over it (the prefixes each over themselves; each continuation over
 * its prefix's rows and its own) forward and backward, from row gathers and the attention op. */
#include <math.h>
#include <string.h>

#include "nn/decoder_int.h"
#include "tensor/ops.h"

int dec_prefix_init(dec_prefix *pf, arena *ar, ts_err *e) {
  int64_t P = pf->P, Tp = pf->Tp, Bc = pf->Bc, Tc = pf->Tc, Tk = Tp + Tc, Np = 0, Nc = 0;
  if (P < 1 || Tp < 1 || Bc < 1 || Tc < 1) return err_set(e, TS_EARG, "decoder: empty prefix layout");
  for (int64_t p = 0; p < P; p++) {
    if (pf->plen[p] < 1 || pf->plen[p] > Tp)
      return err_set(e, TS_EARG, "decoder: prefix %lld has %d rows of %lld", (long long)p, pf->plen[p], (long long)Tp);
    Np += pf->plen[p];
  }
  for (int64_t c = 0; c < Bc; c++) {
    if (pf->of[c] < 0 || pf->of[c] >= P || pf->clen[c] < 0 || pf->clen[c] > Tc)
      return err_set(e, TS_EARG, "decoder: continuation %lld: prefix %d of %lld, %d rows of %lld", (long long)c,
                     pf->of[c], (long long)P, pf->clen[c], (long long)Tc);
    Nc += pf->clen[c];
  }
  if (Nc < 1) return err_set(e, TS_EARG, "decoder: prefix layout without continuation rows");
  pf->Np = Np;
  pf->N = Np + Nc;
  pf->prow = arena_host_alloc(ar, sizeof(int32_t) * (size_t)P);
  pf->pq = arena_host_alloc(ar, sizeof(int32_t) * (size_t)(P * Tp));
  pf->pplace = arena_host_alloc(ar, sizeof(int32_t) * (size_t)Np);
  pf->crow = arena_host_alloc(ar, sizeof(int32_t) * (size_t)Bc);
  pf->kidx = arena_host_alloc(ar, sizeof(int32_t) * (size_t)(Bc * Tk));
  pf->qidx = arena_host_alloc(ar, sizeof(int32_t) * (size_t)(Bc * Tc));
  pf->pidx = arena_host_alloc(ar, sizeof(int32_t) * (size_t)Nc);
  pf->klen = arena_host_alloc(ar, sizeof(int32_t) * (size_t)Bc);
  pf->q0 = arena_host_alloc(ar, sizeof(int32_t) * (size_t)Bc);
  if (!pf->prow || !pf->pq || !pf->pplace || !pf->crow || !pf->kidx || !pf->qidx || !pf->pidx || !pf->klen || !pf->q0)
    return err_set(e, TS_ENOMEM, "decoder: arena");
  int64_t r = 0;
  for (int64_t p = 0; p < P; p++) {
    int32_t n = pf->plen[p];
    pf->prow[p] = (int32_t)r;
    /* queries and keys: its rows, then padding (masked as keys by plen; as queries read,
     * never used: their outputs are dropped and their output gradients are zero) */
    for (int64_t t = 0; t < Tp; t++) pf->pq[p * Tp + t] = (int32_t)(r + (t < n ? t : 0));
    for (int64_t t = 0; t < n; t++) pf->pplace[r + t] = (int32_t)(p * Tp + t);
    r += n;
  }
  for (int64_t c = 0; c < Bc; c++) {
    int32_t u = pf->of[c], pl = pf->plen[u], n = pf->clen[c];
    pf->crow[c] = (int32_t)r;
    pf->klen[c] = pl + n;
    pf->q0[c] = pl;
    /* keys: the prefix's rows, then its own rows; past them any row (masked by klen) */
    for (int64_t j = 0; j < Tk; j++)
      pf->kidx[c * Tk + j] = (int32_t)(j < pl ? pf->prow[u] + j : j < pl + n ? r + (j - pl) : 0);
    for (int64_t t = 0; t < Tc; t++) pf->qidx[c * Tc + t] = (int32_t)(t < n ? r + t : n ? r : 0);
    for (int64_t t = 0; t < n; t++) pf->pidx[r - Np + t] = (int32_t)(c * Tc + t);
    r += n;
  }
  return TS_OK;
}

/* One part of the layout's attention: B' padded sequences of T' queries (their rows qmap,
 * (B' T')) over Tk keys each (their rows kmap, (B' Tk)), whose n real queries (rows r0 ..
 * r0 + n - 1) sit at places place (n) of the padded block. Forward (dq == NULL) writes those
 * rows of att and the block's lse (B', Hq, T'); backward adds into dq (those rows), dk and dv
 * (the rows the keys came from). */
typedef struct attn_part {
  int64_t B, T, Tk, r0, n;
  const int32_t *qmap, *kmap, *place;
  const int32_t *kv_len, *q_pos0;
} attn_part;

static int attn_part_run(backend *be, const dec_cfg *c, int64_t N, const attn_part *pt, const attn_cfg *base, float *q,
                         float *k, float *v, float *att, float *lse, float *datt, float *dq, float *dk, float *dv,
                         arena *ar, ts_err *e) {
  int64_t B = pt->B, T = pt->T, Tk = pt->Tk, QD = c->Hq * c->D, KD = c->Hkv * c->D;
  attn_cfg ac = *base;
  ac.kv_len = pt->kv_len;
  ac.q_pos0 = pt->q_pos0;
  ac.keep = NULL; /* gathered copies: nothing of them is kept */
  arena_mark mk = arena_get_mark(ar);
  float *qb, *kb, *vb, *ab; /* (B T, QD) queries and outputs, (B Tk, KD) keys and values, padded */
  ALLOC(qb, B * T * QD);
  ALLOC(ab, B * T * QD);
  ALLOC(kb, B * Tk * KD);
  ALLOC(vb, B * Tk * KD);
  tensor Qa = T2(q, N, QD), Ka = T2(k, N, KD), Va = T2(v, N, KD), QB = T2(qb, B * T, QD), AB = T2(ab, B * T, QD),
         KB = T2(kb, B * Tk, KD), VB = T2(vb, B * Tk, KD), Ar = T2(att + pt->r0 * QD, pt->n, QD);
  TRY(op_embed(be, &Qa, pt->qmap, &QB, e));
  TRY(op_embed(be, &Ka, pt->kmap, &KB, e));
  TRY(op_embed(be, &Va, pt->kmap, &VB, e));
  tensor Q4 = T4(qb, B, T, c->Hq, c->D), K4 = T4(kb, B, Tk, c->Hkv, c->D), V4 = T4(vb, B, Tk, c->Hkv, c->D),
         A4 = T4(ab, B, T, c->Hq, c->D), L = tensor_dev(be->device, lse, 3, B, c->Hq, T, 0);
  if (!dq) {
    TRY(op_attention(be, &Q4, &K4, &V4, &A4, &L, &ac, e));
    TRY(op_embed(be, &AB, pt->place, &Ar, e)); /* the real rows' outputs, padding dropped */
  } else {
    /* the outputs as the forward left them (padding aside, which backward never reads: its
     * output gradients are zero), and the output gradients with zeros on padding */
    float *dab, *dqb, *dkb, *dvb, *dqr;
    ALLOC(dab, B * T * QD);
    ALLOC(dqb, B * T * QD);
    ALLOC(dkb, B * Tk * KD);
    ALLOC(dvb, B * Tk * KD);
    ALLOC(dqr, pt->n * QD);
    tensor Att = T2(att, N, QD), DAB = T2(dab, B * T, QD), DQB = T2(dqb, B * T, QD), DKB = T2(dkb, B * Tk, KD),
           DVB = T2(dvb, B * Tk, KD), DAr = T2(datt + pt->r0 * QD, pt->n, QD), DQR = T2(dqr, pt->n, QD),
           DQr = T2(dq + pt->r0 * QD, pt->n, QD), DKa = T2(dk, N, KD), DVa = T2(dv, N, KD);
    TRY(op_embed(be, &Att, pt->qmap, &AB, e));
    TRY(op_fill(be, &DAB, 0.0f, e));
    TRY(op_embed_bwd(be, pt->place, &DAr, &DAB, e));
    ac.grad_set = 1; /* dqb, dkb, dvb written by the op: no zero fill first */
    tensor DA4 = T4(dab, B, T, c->Hq, c->D), DQ4 = T4(dqb, B, T, c->Hq, c->D), DK4 = T4(dkb, B, Tk, c->Hkv, c->D),
           DV4 = T4(dvb, B, Tk, c->Hkv, c->D);
    TRY(op_attention_bwd(be, &Q4, &K4, &V4, &A4, &L, &DA4, &DQ4, &DK4, &DV4, NULL, &ac, e));
    TRY(op_embed_bwd(be, pt->kmap, &DKB, &DKa, e)); /* keys used by several queries' blocks add up */
    TRY(op_embed_bwd(be, pt->kmap, &DVB, &DVa, e));
    TRY(op_embed(be, &DQB, pt->place, &DQR, e)); /* the real rows' query gradients, from their places */
    TRY(op_axpby(be, &DQR, 1.0f, &DQr, 1.0f, e));
  }
  arena_rewind(ar, mk);
  return TS_OK;
}

/* Attention over a prefix layout, forward (dq == NULL) or backward (adding into dq, dk, dv):
 * the prefixes, each over its own rows, then the continuations, each over its prefix's rows
 * and its own (all gathered into padded blocks, and re-gathered for backward; key and value
 * gradients go back to the rows they came from, a prefix's from every continuation). q, att
 * (N, Hq D), k, v (N, Hkv D), lse (P Hq Tp + Bc Hq Tc). */
int dec_attn_prefix(backend *be, const dec_cfg *c, const dec_prefix *pf, const attn_cfg *base, float *q, float *k,
                    float *v, float *att, float *lse, float *datt, float *dq, float *dk, float *dv, arena *ar,
                    ts_err *e) {
  attn_part pre = {pf->P, pf->Tp, pf->Tp, 0, pf->Np, pf->pq, pf->pq, pf->pplace, pf->plen, NULL};
  attn_part con = {pf->Bc, pf->Tc, pf->Tp + pf->Tc, pf->Np, pf->N - pf->Np, pf->qidx, pf->kidx, pf->pidx,
                   pf->klen, pf->q0};
  TRY(attn_part_run(be, c, pf->N, &pre, base, q, k, v, att, lse, datt, dq, dk, dv, ar, e));
  return attn_part_run(be, c, pf->N, &con, base, q, k, v, att, lse + pf->P * c->Hq * pf->Tp, datt, dq, dk, dv, ar, e);
}
