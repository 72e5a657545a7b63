// cu_attn.cu — scaled-dot-product attention on the GPU, the same algorithm as the CPU
// reference: for each batch row, scores S = scale Q K^T by cuBLAS (strided-batched over the
// query heads that share one kv head, so grouped-query attention needs no copies), a row
// kernel for masks (key padding, causal with q_pos0), the additive per-head bias, softmax and
// the row log-sum-exp, then O = P V. Backward recomputes P from the saved lse and forms
// dV = P^T dO, dS = P (dO V^T - rowsum(dO o O)), dQ = scale dS K, dK = scale dS^T Q.
// Scratch holds (Hq, Tq, Tk) scores (two such buffers in backward) for one batch row at a time.
#include <math.h>

#include "cu_common.h"

typedef struct at_dims {
  int64_t B, Tq, Tk, Hq, Hkv, D, grp;
} at_dims;

static at_dims at_dims_of(const tensor *q, const tensor *k) {
  at_dims d = {q->ne[0], q->ne[1], k->ne[1], q->ne[2], k->ne[2], q->ne[3], q->ne[2] / k->ne[2]};
  return d;
}

/* number of keys visible to query i (keys [0, lim)) */
__device__ __forceinline__ int64_t at_lim(int64_t klen, int causal, int64_t p0, int64_t i) {
  int64_t lim = klen;
  if (causal && p0 + i + 1 < lim) lim = p0 + i + 1;
  return lim < 0 ? 0 : lim;
}

/* Rows (h, i) of S for one batch row: mask + bias, softmax in place, lse. Block per row. */
__global__ void k_attn_softmax(float *S, float *lse, const float *bias, int64_t Tq, int64_t Tk, int64_t klen,
                               int causal, int64_t p0) {
  int64_t row = blockIdx.x, h = row / Tq, i = row % Tq;
  float *s = S + row * Tk;
  const float *br = bias ? bias + (h * Tq + i) * Tk : NULL;
  int64_t lim = at_lim(klen, causal, p0, i);
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < lim; j += blockDim.x) {
    float v = s[j] + (br ? br[j] : 0.0f);
    s[j] = v;
    mx = fmaxf(mx, v);
  }
  mx = cu_block_max(mx);
  if (mx == -INFINITY) { /* no visible key: zero output, lse = -inf */
    for (int64_t j = threadIdx.x; j < Tk; j += blockDim.x) s[j] = 0.0f;
    if (threadIdx.x == 0 && lse) lse[row] = -INFINITY;
    return;
  }
  double sum = 0;
  for (int64_t j = threadIdx.x; j < Tk; j += blockDim.x) {
    float p = j < lim ? expf(s[j] - mx) : 0.0f;
    s[j] = p;
    sum += p;
  }
  sum = cu_block_sum(sum);
  float inv = 1.0f / (float)sum;
  for (int64_t j = threadIdx.x; j < lim; j += blockDim.x) s[j] *= inv;
  if (threadIdx.x == 0 && lse) lse[row] = mx + logf((float)sum);
}

/* P = exp(S + bias - lse) on visible keys, 0 elsewhere (recomputed for backward). */
__global__ void k_attn_probs(float *S, const float *lse, const float *bias, int64_t Tq, int64_t Tk, int64_t klen,
                             int causal, int64_t p0) {
  int64_t row = blockIdx.x, h = row / Tq, i = row % Tq;
  float *s = S + row * Tk;
  const float *br = bias ? bias + (h * Tq + i) * Tk : NULL;
  int64_t lim = at_lim(klen, causal, p0, i);
  float l = lse[row];
  for (int64_t j = threadIdx.x; j < Tk; j += blockDim.x)
    s[j] = (j < lim && l != -INFINITY) ? expf(s[j] + (br ? br[j] : 0.0f) - l) : 0.0f;
}

/* dS = P (dP - D_i) with D_i = dO_i . O_i, in place in dP; dbias += dS. Block per row (h, i). */
__global__ void k_attn_ds(const float *P, float *dP, const float *go, const float *o, float *dbias, int64_t Tq,
                          int64_t Tk, int64_t Hq, int64_t D) {
  int64_t row = blockIdx.x, h = row / Tq, i = row % Tq;
  const float *gr = go + (i * Hq + h) * D, *orow = o + (i * Hq + h) * D;
  double di = 0;
  for (int64_t c = threadIdx.x; c < D; c += blockDim.x) di += (double)gr[c] * orow[c];
  float dv = (float)cu_block_sum(di);
  const float *p = P + row * Tk;
  float *dp = dP + row * Tk;
  float *db = dbias ? dbias + row * Tk : NULL;
  for (int64_t j = threadIdx.x; j < Tk; j += blockDim.x) {
    float v = p[j] * (dp[j] - dv);
    dp[j] = v;
    if (db) db[j] += v;
  }
}

/* One query per batch row (a decoding step): everything in one launch, a block per (b, h):
 * scores into shared memory, masks and bias, softmax with the row log-sum-exp, O = P V. The
 * per-row path below costs 2 Hkv + 1 launches per batch row instead. */
#define AT_DEC_MAX_TK 11000 /* scores in shared memory (44 KB) */
__global__ void k_attn_decode(const float *q, const float *k, const float *v, float *out, float *lse,
                              const float *bias, const int32_t *klen, const int32_t *p0, int causal, float scale,
                              int64_t Tk, int64_t Hq, int64_t Hkv, int64_t D) {
  extern __shared__ float sc[]; /* (Tk) */
  int64_t b = blockIdx.x / Hq, h = blockIdx.x % Hq, kh = h / (Hq / Hkv);
  const float *qr = q + (b * Hq + h) * D;
  const float *br = bias ? bias + h * Tk : NULL;
  float *orow = out + (b * Hq + h) * D;
  int64_t lim = at_lim(klen ? klen[b] : Tk, causal, p0 ? p0[b] : 0, 0);
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < lim; j += blockDim.x) {
    const float *kr = k + ((b * Tk + j) * Hkv + kh) * D;
    float dot = 0.0f;
    for (int64_t c = 0; c < D; c++) dot += qr[c] * kr[c];
    float s = scale * dot + (br ? br[j] : 0.0f);
    sc[j] = s;
    mx = fmaxf(mx, s);
  }
  mx = cu_block_max(mx);
  if (mx == -INFINITY) { /* no visible key: zero output, lse = -inf */
    for (int64_t c = threadIdx.x; c < D; c += blockDim.x) orow[c] = 0.0f;
    if (threadIdx.x == 0 && lse) lse[b * Hq + h] = -INFINITY;
    return;
  }
  double sum = 0;
  for (int64_t j = threadIdx.x; j < lim; j += blockDim.x) {
    float p = expf(sc[j] - mx);
    sc[j] = p;
    sum += p;
  }
  sum = cu_block_sum(sum); /* also orders the writes to sc before the reads below */
  float inv = 1.0f / (float)sum;
  for (int64_t c = threadIdx.x; c < D; c += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j < lim; j++) acc += sc[j] * inv * v[((b * Tk + j) * Hkv + kh) * D + c];
    orow[c] = acc;
  }
  if (threadIdx.x == 0 && lse) lse[b * Hq + h] = mx + logf((float)sum);
}

static int at_decode(backend *be, const at_dims *d, const tensor *q, const tensor *k, const tensor *v, tensor *out,
                     tensor *lse, const attn_cfg *cfg) {
  size_t nb = sizeof(int32_t) * (size_t)d->B;
  const void *dk = NULL, *dp = NULL; /* the same for every layer of a step: staged once */
  if (cfg->kv_len) TS_TRY(cu_stage_same(be, cfg->kv_len, nb, &dk));
  if (cfg->q_pos0) TS_TRY(cu_stage_same(be, cfg->q_pos0, nb, &dp));
  k_attn_decode<<<(unsigned)(d->B * d->Hq), 128, sizeof(float) * (size_t)d->Tk>>>(
      cu_f(q), cu_f(k), cu_f(v), cu_f(out), lse ? cu_f(lse) : NULL, cfg->bias ? cu_f(cfg->bias) : NULL,
      (const int32_t *)dk, (const int32_t *)dp,
      cfg->causal, cfg->scale, d->Tk, d->Hq, d->Hkv, d->D);
  CU_LAUNCHED("k_attn_decode");
  return TS_OK;
}

/* S_h = scale Q_h K_kh^T for every query head of batch row b */
static int at_scores(backend *be, const at_dims *d, const float *qb, const float *kb, float scale, float *S) {
  int64_t TT = d->Tq * d->Tk;
  for (int64_t kh = 0; kh < d->Hkv; kh++)
    TS_TRY(cu_gemm(be, 0, 1, d->Tq, d->Tk, d->D, scale, qb + kh * d->grp * d->D, d->Hq * d->D, d->D,
                   kb + kh * d->D, d->Hkv * d->D, 0, 0.0f, S + kh * d->grp * TT, d->Tk, TT, d->grp));
  return TS_OK;
}

int cu_attention(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out, tensor *lse,
                 const attn_cfg *cfg) {
  at_dims d = at_dims_of(q, k);
  int64_t TT = d.Tq * d.Tk, rows = d.Hq * d.Tq;
  if (d.B <= 0 || rows <= 0 || d.D <= 0) return TS_OK;
  if (d.Tq == 1 && d.Tk >= 1 && d.Tk <= AT_DEC_MAX_TK && d.B * d.Hq <= 2147483647LL) /* a decoding step */
    return at_decode(be, &d, q, k, v, out, lse, cfg);
  float *S = NULL;
  TS_TRY(cu_scratch(be, sizeof(float) * (size_t)(rows * (d.Tk > 0 ? d.Tk : 1)), (void **)&S));
  const float *bias = cfg->bias ? cu_f(cfg->bias) : NULL;
  for (int64_t b = 0; b < d.B; b++) {
    const float *qb = cu_f(q) + b * d.Tq * d.Hq * d.D, *kb = cu_f(k) + b * d.Tk * d.Hkv * d.D,
                *vb = cu_f(v) + b * d.Tk * d.Hkv * d.D;
    float *ob = cu_f(out) + b * d.Tq * d.Hq * d.D, *lb = lse ? cu_f(lse) + b * rows : NULL;
    int64_t klen = cfg->kv_len ? cfg->kv_len[b] : d.Tk, p0 = cfg->q_pos0 ? cfg->q_pos0[b] : 0;
    TS_TRY(at_scores(be, &d, qb, kb, cfg->scale, S));
    k_attn_softmax<<<(unsigned)rows, 256>>>(S, lb, bias, d.Tq, d.Tk, klen, cfg->causal, p0);
    CU_LAUNCHED("k_attn_softmax");
    for (int64_t kh = 0; kh < d.Hkv; kh++)
      TS_TRY(cu_gemm(be, 0, 0, d.Tq, d.D, d.Tk, 1.0f, S + kh * d.grp * TT, d.Tk, TT, vb + kh * d.D, d.Hkv * d.D, 0,
                     0.0f, ob + kh * d.grp * d.D, d.Hq * d.D, d.D, d.grp));
  }
  return TS_OK;
}

int cu_attention_bwd(backend *be, const tensor *q, const tensor *k, const tensor *v, const tensor *out,
                     const tensor *lse, const tensor *dout, tensor *dq, tensor *dk, tensor *dv, tensor *dbias,
                     const attn_cfg *cfg) {
  at_dims d = at_dims_of(q, k);
  int64_t TT = d.Tq * d.Tk, rows = d.Hq * d.Tq;
  if (d.B <= 0 || rows <= 0 || d.D <= 0 || d.Tk <= 0) return TS_OK;
  float *S = NULL;
  TS_TRY(cu_scratch(be, 2 * sizeof(float) * (size_t)(rows * d.Tk), (void **)&S));
  float *dP = S + rows * d.Tk;
  const float *bias = cfg->bias ? cu_f(cfg->bias) : NULL;
  int64_t qs = d.Hq * d.D, ks = d.Hkv * d.D;
  for (int64_t b = 0; b < d.B; b++) {
    const float *qb = cu_f(q) + b * d.Tq * qs, *kb = cu_f(k) + b * d.Tk * ks, *vb = cu_f(v) + b * d.Tk * ks;
    const float *ob = cu_f(out) + b * d.Tq * qs, *gb = cu_f(dout) + b * d.Tq * qs, *lb = cu_f(lse) + b * rows;
    int64_t klen = cfg->kv_len ? cfg->kv_len[b] : d.Tk, p0 = cfg->q_pos0 ? cfg->q_pos0[b] : 0;
    TS_TRY(at_scores(be, &d, qb, kb, cfg->scale, S));
    k_attn_probs<<<(unsigned)rows, 256>>>(S, lb, bias, d.Tq, d.Tk, klen, cfg->causal, p0);
    CU_LAUNCHED("k_attn_probs");
    if (dv) /* dV_kh (Tk,D) += P_h^T dO_h, one GEMM per query head (they share the output) */
      for (int64_t h = 0; h < d.Hq; h++)
        TS_TRY(cu_gemm(be, 1, 0, d.Tk, d.D, d.Tq, 1.0f, S + h * TT, d.Tk, 0, gb + h * d.D, qs, 0, 1.0f,
                       cu_f(dv) + b * d.Tk * ks + (h / d.grp) * d.D, ks, 0, 1));
    if (!dq && !dk && !dbias) continue;
    for (int64_t kh = 0; kh < d.Hkv; kh++) /* dP_h = dO_h V_kh^T */
      TS_TRY(cu_gemm(be, 0, 1, d.Tq, d.Tk, d.D, 1.0f, gb + kh * d.grp * d.D, qs, d.D, vb + kh * d.D, ks, 0, 0.0f,
                     dP + kh * d.grp * TT, d.Tk, TT, d.grp));
    k_attn_ds<<<(unsigned)rows, 128>>>(S, dP, gb, ob, dbias ? cu_f(dbias) : NULL, d.Tq, d.Tk, d.Hq, d.D);
    CU_LAUNCHED("k_attn_ds");
    if (dq) /* dQ_h += scale dS_h K_kh */
      for (int64_t kh = 0; kh < d.Hkv; kh++)
        TS_TRY(cu_gemm(be, 0, 0, d.Tq, d.D, d.Tk, cfg->scale, dP + kh * d.grp * TT, d.Tk, TT, kb + kh * d.D, ks, 0,
                       1.0f, cu_f(dq) + b * d.Tq * qs + kh * d.grp * d.D, qs, d.D, d.grp));
    if (dk) /* dK_kh += scale dS_h^T Q_h */
      for (int64_t h = 0; h < d.Hq; h++)
        TS_TRY(cu_gemm(be, 1, 0, d.Tk, d.D, d.Tq, cfg->scale, dP + h * TT, d.Tk, 0, qb + h * d.D, qs, 0, 1.0f,
                       cu_f(dk) + b * d.Tk * ks + (h / d.grp) * d.D, ks, 0, 1));
  }
  return TS_OK;
}
