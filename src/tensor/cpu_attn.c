/* cpu_attn.c — scaled-dot-product attention on the CPU: per (batch, head) GEMMs for the
 * scores and the weighted values over the keys some query sees (a decoding step's cache or a
 * padded row stops at its last visible key), masks (causal, key padding), additive per-head
 * bias and grouped-query heads (a decoding step reads each cached key and value once for the query
 * heads that share it). Forward saves only the row log-sum-exp (B,Hq,Tq); backward
 * recomputes the probabilities from it (no (Tq,Tk) tensor kept between passes). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/cpu_ops.h"
#include "tensor/gemm.h"
#include "tensor/par.h"
#include "tensor/vmath.h"

typedef struct attn_dims {
  int64_t B, Tq, Tk, Hq, Hkv, D, grp;
} attn_dims;

static attn_dims attn_dims_of(const tensor *q, const tensor *k) {
  attn_dims d = {q->ne[0], q->ne[1], k->ne[1], q->ne[2], k->ne[2], q->ne[3], q->ne[2] / k->ne[2]};
  return d;
}

/* keys [0, n) of batch row b that some query sees (the rest are masked for every query): a
 * decoding step's cache holds Tk >= n positions, a padded row n < Tk valid keys */
static int64_t attn_kvis(const attn_dims *d, const attn_cfg *cfg, int64_t b) {
  int64_t n = cfg->kv_len ? cfg->kv_len[b] : d->Tk;
  if (cfg->causal) {
    int64_t last = (cfg->q_pos0 ? cfg->q_pos0[b] : 0) + d->Tq; /* query Tq-1 sees keys < p0 + Tq */
    if (last < n) n = last;
  }
  return n < 0 ? 0 : n > d->Tk ? d->Tk : n;
}

/* Causal attention goes in blocks of ATTN_QB query rows, each over the keys its last row sees
 * (about half the score work of the full (Tq, Tk) block for long rows); otherwise one block. */
#define ATTN_QB 64

/* query rows per block for batch rows seeing n keys: ATTN_QB for causal attention, except in
 * the bf16 precision where the full block's GEMMs would run in bf16 (blocks that small fall
 * under gemm_mp's bf16 threshold, and f32 on them loses more than the skipped scores save);
 * one block otherwise */
static int64_t attn_qblock(const attn_dims *d, const attn_cfg *cfg, int64_t n) {
  int64_t all = d->Tq > 0 ? d->Tq : 1;
  if (!cfg->causal) return all;
  if (!strcmp(gemm_precision(), "f32")) return ATTN_QB;
  int full_bf16 = d->Tq >= GEMM_BF16_MIN_MN && n >= GEMM_BF16_MIN_MN && d->Tq * n * d->D >= GEMM_BF16_MIN_MACS;
  return full_bf16 ? all : ATTN_QB;
}

/* keys [0, n) that rows [i0, i1) of batch row b see, within the n of attn_kvis */
static int64_t attn_block_keys(const attn_dims *d, const attn_cfg *cfg, int64_t b, int64_t i1, int64_t n) {
  if (!cfg->causal) return n;
  int64_t m = (cfg->q_pos0 ? cfg->q_pos0[b] : 0) + i1;
  return m < n ? (m < 0 ? 0 : m) : n;
}

/* Fills rows [i0, i1) of S (Tq, Tk) with masked, biased, scaled scores for batch b, query head
 * h, over the n keys these rows see (the columns beyond are not touched). */
static void attn_scores(const attn_dims *d, const float *q, const float *k, const attn_cfg *cfg,
                        int64_t b, int64_t h, int64_t i0, int64_t i1, int64_t n, float *S) {
  int64_t kh = h / d->grp;
  const float *qb = q + ((b * d->Tq + i0) * d->Hq + h) * d->D;
  const float *kb = k + (b * d->Tk * d->Hkv + kh) * d->D;
  if (n > 0)
    gemm_mp(0, 1, (int)(i1 - i0), (int)n, (int)d->D, cfg->scale, qb, (int)(d->Hq * d->D), kb, (int)(d->Hkv * d->D),
            0.0f, S + i0 * d->Tk, (int)d->Tk);
  int64_t klen = cfg->kv_len ? cfg->kv_len[b] : d->Tk;
  int64_t p0 = cfg->q_pos0 ? cfg->q_pos0[b] : 0;
  const float *bias = cfg->bias ? (const float *)cfg->bias->data + h * d->Tq * d->Tk : NULL;
  for (int64_t i = i0; i < i1; i++) {
    float *s = S + i * d->Tk;
    int64_t lim = klen;
    if (cfg->causal && p0 + i + 1 < lim) lim = p0 + i + 1;
    if (lim < 0) lim = 0;
    if (lim > n) lim = n;
    if (bias)
      for (int64_t j = 0; j < lim; j++) s[j] += bias[i * d->Tk + j];
    for (int64_t j = lim; j < n; j++) s[j] = -INFINITY;
  }
}

/* Softmax of row s (n scores) in place; returns its log-sum-exp (-inf and zeros when no key is
 * visible). */
static float attn_softmax_row(float *s, int64_t n) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
  if (mx == -INFINITY) { /* no visible key: zero output */
    for (int64_t j = 0; j < n; j++) s[j] = 0.0f;
    return -INFINITY;
  }
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; j++) {
    s[j] = vm_expf(s[j] - mx);
    sum += s[j];
  }
  float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; j++) s[j] *= inv;
  return mx + logf(sum);
}

/* One query row per batch row (a decoding step): the grp query heads of KV head kh of batch
 * row b together, so each key and value row is read once for all of them (grp x n scores in S,
 * then grp x D outputs) instead of once per query head. Every head of the group sees the same n
 * keys (one query, one position). */
static void attn_decode_group(const attn_dims *d, const float *q, const float *k, const float *v, float *o,
                              float *l, const attn_cfg *cfg, int64_t b, int64_t kh, float *S) {
  int64_t n = attn_kvis(d, cfg, b), h0 = kh * d->grp, ld = d->Hkv * d->D;
  const float *qb = q + (b * d->Hq + h0) * d->D, *kb = k + (b * d->Tk * d->Hkv + kh) * d->D;
  const float *vb = v + (b * d->Tk * d->Hkv + kh) * d->D;
  if (n > 0) gemm_mp(0, 1, (int)d->grp, (int)n, (int)d->D, cfg->scale, qb, (int)d->D, kb, (int)ld, 0.0f, S, (int)n);
  for (int64_t g = 0; g < d->grp; g++) {
    float *s = S + g * n;
    if (cfg->bias) {
      const float *bias = (const float *)cfg->bias->data + (h0 + g) * d->Tk; /* (Hq, 1, Tk) */
      for (int64_t j = 0; j < n; j++) s[j] += bias[j];
    }
    float lg = attn_softmax_row(s, n);
    if (l) l[b * d->Hq + h0 + g] = lg;
  }
  /* O = P V over the n keys (n = 0: O = 0, as the BLAS contract gives for K = 0) */
  gemm_mp(0, 0, (int)d->grp, (int)d->D, (int)n, 1.0f, S, (int)n, vb, (int)ld, 0.0f, o + (b * d->Hq + h0) * d->D,
          (int)d->D);
}

/* decoding steps (one query row) go by KV head (attn_decode_group) */
static int cpu_attention_decode(const attn_dims *d, const float *q, const float *k, const float *v, float *o,
                                float *l, const attn_cfg *cfg) {
  int failed = 0;
#pragma omp parallel
  {
    float *S = malloc(sizeof(float) * (size_t)(d->grp * d->Tk)); /* (grp, n <= Tk) scores */
    if (!S) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t b = 0; b < d->B; b++)
      for (int64_t kh = 0; kh < d->Hkv; kh++)
        if (S) attn_decode_group(d, q, k, v, o, l, cfg, b, kh, S);
    free(S);
  }
  return failed ? TS_ENOMEM : TS_OK;
}

int cpu_attention(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out,
                   tensor *lse, const attn_cfg *cfg) {
  attn_dims d = attn_dims_of(q, k);
  /* by KV head when that gives every thread work (one sequence of Qwen2.5-0.5B has 2 KV heads:
   * per query head it keeps 14 tasks) */
  if (d.Tq == 1 && d.B * d.Hkv >= par_max_threads())
    return cpu_attention_decode(&d, cpu_f(q), cpu_f(k), cpu_f(v), cpu_f(out), cpu_f(lse), cfg);
  const float *qp = cpu_f(q), *kp = cpu_f(k), *vp = cpu_f(v);
  float *op = cpu_f(out), *lp = cpu_f(lse);
  int failed = 0;
#pragma omp parallel
  {
    float *S = malloc(sizeof(float) * (size_t)(d.Tq * d.Tk));
    if (!S) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t b = 0; b < d.B; b++)
      for (int64_t h = 0; h < d.Hq; h++) {
        if (!S) continue;
        int64_t n = attn_kvis(&d, cfg, b); /* keys past n are masked for every query: skipped */
        int64_t kh = h / d.grp, qb = attn_qblock(&d, cfg, n);
        for (int64_t i0 = 0; i0 < d.Tq; i0 += qb) {
          int64_t i1 = i0 + qb < d.Tq ? i0 + qb : d.Tq, nb = attn_block_keys(&d, cfg, b, i1, n);
          attn_scores(&d, qp, kp, cfg, b, h, i0, i1, nb, S);
          for (int64_t i = i0; i < i1; i++) {
            float l = attn_softmax_row(S + i * d.Tk, nb);
            if (lp) lp[(b * d.Hq + h) * d.Tq + i] = l;
          }
          /* O = P V over the block's keys (K = 0: C = 0, as the BLAS contract gives) */
          gemm_mp(0, 0, (int)(i1 - i0), (int)d.D, (int)nb, 1.0f, S + i0 * d.Tk, (int)d.Tk,
                  vp + (b * d.Tk * d.Hkv + kh) * d.D, (int)(d.Hkv * d.D), 0.0f,
                  op + ((b * d.Tq + i0) * d.Hq + h) * d.D, (int)(d.Hq * d.D));
        }
      }
    free(S);
  }
  return failed ? TS_ENOMEM : TS_OK;
}

/* Backward for batch b and the query heads of kv head kh (they share dk/dv rows). */
static void attn_bwd_one(const attn_dims *d, const tensor *q, const tensor *k, const tensor *v,
                         const tensor *out, const tensor *lse, const tensor *dout, tensor *dq,
                         tensor *dk, tensor *dv, tensor *dbias, const attn_cfg *cfg, int64_t b,
                         int64_t kh, float *S, float *dP) {
  const float *qp = cpu_f(q), *kp = cpu_f(k), *vp = cpu_f(v), *op = cpu_f(out), *lp = cpu_f(lse),
              *gp = cpu_f(dout);
  int qs = (int)(d->Hq * d->D), ks = (int)(d->Hkv * d->D);
  int64_t n = attn_kvis(d, cfg, b); /* keys past n: P = 0 for every query, no gradient */
  if (n <= 0) return;
  const float *kb = kp + (b * d->Tk * d->Hkv + kh) * d->D;
  const float *vb = vp + (b * d->Tk * d->Hkv + kh) * d->D;
  int64_t qbk = attn_qblock(d, cfg, n);
  for (int64_t h = kh * d->grp; h < (kh + 1) * d->grp; h++)
    for (int64_t i0 = 0; i0 < d->Tq; i0 += qbk) {
      int64_t i1 = i0 + qbk < d->Tq ? i0 + qbk : d->Tq, nb = attn_block_keys(d, cfg, b, i1, n), m = i1 - i0;
      if (nb <= 0) continue;
      attn_scores(d, qp, kp, cfg, b, h, i0, i1, nb, S);
      const float *l = lp + (b * d->Hq + h) * d->Tq;
      for (int64_t i = i0; i < i1; i++) {
        float *s = S + i * d->Tk;
        if (l[i] == -INFINITY) {
          for (int64_t j = 0; j < nb; j++) s[j] = 0.0f;
        } else {
          float li = l[i];
#pragma omp simd
          for (int64_t j = 0; j < nb; j++) s[j] = vm_expf(s[j] - li); /* P */
        }
      }
      const float *go = gp + ((b * d->Tq + i0) * d->Hq + h) * d->D;
      const float *ob = op + ((b * d->Tq + i0) * d->Hq + h) * d->D;
      const float *qb = qp + ((b * d->Tq + i0) * d->Hq + h) * d->D;
      float *Sb = S + i0 * d->Tk, *dPb = dP + i0 * d->Tk;
      /* dV (nb,D) += P^T dO */
      if (dv)
        gemm_mp(1, 0, (int)nb, (int)d->D, (int)m, 1.0f, Sb, (int)d->Tk, go, qs, 1.0f,
                cpu_f(dv) + (b * d->Tk * d->Hkv + kh) * d->D, ks);
      /* dP (m,nb) = dO V^T; dS = P (dP - rowsum(dO o O)) */
      gemm_mp(0, 1, (int)m, (int)nb, (int)d->D, 1.0f, go, qs, vb, ks, 0.0f, dPb, (int)d->Tk);
      for (int64_t i = 0; i < m; i++) {
        double di = 0;
        for (int64_t c = 0; c < d->D; c++) di += (double)go[i * qs + c] * ob[i * qs + c];
        float *dpr = dPb + i * d->Tk;
        const float *p = Sb + i * d->Tk;
        for (int64_t j = 0; j < nb; j++) dpr[j] = p[j] * (dpr[j] - (float)di);
      }
      if (dbias) {
        float *db = cpu_f(dbias) + (h * d->Tq + i0) * d->Tk;
        for (int64_t i = 0; i < m; i++)
          for (int64_t j = 0; j < nb; j++) db[i * d->Tk + j] += dPb[i * d->Tk + j];
      }
      /* dQ (m,D) += scale dS K; dK (nb,D) += scale dS^T Q */
      if (dq)
        gemm_mp(0, 0, (int)m, (int)d->D, (int)nb, cfg->scale, dPb, (int)d->Tk, kb, ks, 1.0f,
                cpu_f(dq) + ((b * d->Tq + i0) * d->Hq + h) * d->D, qs);
      if (dk)
        gemm_mp(1, 0, (int)nb, (int)d->D, (int)m, cfg->scale, dPb, (int)d->Tk, qb, qs, 1.0f,
                cpu_f(dk) + (b * d->Tk * d->Hkv + kh) * d->D, ks);
    }
}

int cpu_attention_bwd(backend *be, const tensor *q, const tensor *k, const tensor *v,
                       const tensor *out, const tensor *lse, const tensor *dout, tensor *dq,
                       tensor *dk, tensor *dv, tensor *dbias, const attn_cfg *cfg) {
  attn_dims d = attn_dims_of(q, k);
  if (cfg->grad_set) { /* written, not added: from zero */
    tensor *gs[3] = {dq, dk, dv};
    for (int i = 0; i < 3; i++)
      if (gs[i]) cpu_fill(be, gs[i], 0.0f);
  }
  size_t nS = (size_t)(d.Tq * d.Tk);
  int failed = 0;
#pragma omp parallel
  {
    float *S = malloc(sizeof(float) * nS), *dP = malloc(sizeof(float) * nS);
    if (!S || !dP) {
#pragma omp atomic write
      failed = 1;
    }
    if (dbias) {
      /* the bias gradient is shared across the batch: one thread owns each kv-head group */
#pragma omp for schedule(dynamic)
      for (int64_t kh = 0; kh < d.Hkv; kh++)
        for (int64_t b = 0; b < d.B; b++)
          if (S && dP) attn_bwd_one(&d, q, k, v, out, lse, dout, dq, dk, dv, dbias, cfg, b, kh, S, dP);
    } else {
#pragma omp for collapse(2) schedule(dynamic)
      for (int64_t b = 0; b < d.B; b++)
        for (int64_t kh = 0; kh < d.Hkv; kh++)
          if (S && dP) attn_bwd_one(&d, q, k, v, out, lse, dout, dq, dk, dv, NULL, cfg, b, kh, S, dP);
    }
    free(S);
    free(dP);
  }
  return failed ? TS_ENOMEM : TS_OK;
}
