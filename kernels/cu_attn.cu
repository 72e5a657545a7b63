// cu_attn.cu — scaled-dot-product attention on the GPU, the same algorithm as the CPU
// reference. The batch rows are taken in chunks (as many as fit in CU_ATTN_SCRATCH bytes of
// scores, or cuda_set_attn_rows); for a chunk, scores S = scale Q K^T for every (batch row,
// query head) in ONE batched cuBLAS call (pointer arrays made on the device, so grouped-query
// attention needs no copies), one row kernel for masks (key padding, causal with q_pos0), the
// additive per-head bias, softmax and the row log-sum-exp, then O = P V in one more batched
// call. Backward recomputes P from the saved lse and forms dV = P^T dO, dS = P (dO V^T -
// rowsum(dO o O)), dQ = scale dS K, dK = scale dS^T Q, each a batched call; with grouped-query
// attention the per-query-head dV / dK go to scratch and a kernel adds each group (in head
// order) to the kv head's gradient. A launch count independent of the batch and head counts:
// about 4 per chunk forward and 9 backward, where one launch per head and batch row cost ~80
// per batch row and layer for a 16-head encoder. Decoding steps (one query) have their own
// fused kernel, or with cuda_set_decode_kernels on, a split-key pair (at_decode_split). In the
// bf16 precision with cuda_set_flash_attention on, D 64/128 and no bias, forward and backward
// take the tensor-core flash kernels of cu_flash.cuh instead (no score matrix in memory).
#include <math.h>

#include "cu_common.h"
#include "cu_flash.cuh"

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

/* Scores of a chunk: S (bc, Hq, TTp) with (Tq, Tk) per (b, h) at stride TTp = Tq Tk rounded up
 * to 4; row r = (b, h, i) at S + (r / Tq) TTp + i Tk. klen, p0: (bc) device arrays or
 * NULL (all keys; 0). */
__device__ __forceinline__ void at_row(int64_t r, int64_t Hq, int64_t Tq, int64_t Tk, const int32_t *klen,
                                       const int32_t *p0, int causal, int64_t *h, int64_t *i, int64_t *lim) {
  int64_t b = r / (Hq * Tq), e = r % (Hq * Tq);
  *h = e / Tq, *i = e % Tq;
  *lim = at_lim(klen ? klen[b] : Tk, causal, p0 ? p0[b] : 0, *i);
}

/* Rows of S: mask + bias, softmax in place, lse (bc, Hq, Tq). Block per row. */
__global__ void k_attn_softmax(float *S, int64_t TTp, float *lse, const float *bias, int64_t Hq, int64_t Tq,
                               int64_t Tk, const int32_t *klen, const int32_t *p0, int causal) {
  int64_t row = blockIdx.x, h, i, lim;
  at_row(row, Hq, Tq, Tk, klen, p0, causal, &h, &i, &lim);
  float *s = S + (row / Tq) * TTp + i * Tk;
  const float *br = bias ? bias + (h * Tq + i) * Tk : NULL;
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
__global__ void k_attn_probs(float *S, int64_t TTp, const float *lse, const float *bias, int64_t Hq, int64_t Tq,
                             int64_t Tk, const int32_t *klen, const int32_t *p0, int causal) {
  int64_t row = blockIdx.x, h, i, lim;
  at_row(row, Hq, Tq, Tk, klen, p0, causal, &h, &i, &lim);
  float *s = S + (row / Tq) * TTp + i * Tk;
  const float *br = bias ? bias + (h * Tq + i) * Tk : NULL;
  float l = lse[row];
  for (int64_t j = threadIdx.x; j < Tk; j += blockDim.x)
    s[j] = (j < lim && l != -INFINITY) ? expf(s[j] + (br ? br[j] : 0.0f) - l) : 0.0f;
}

/* dS = P (dP - D_i) with D_i = dO_i . O_i, in place in dP; dbias (Hq, Tq, Tk) += dS summed
 * over the chunk's batch rows in order (the bias is shared by the batch, so one block per
 * (h, i) walks the rows: no atomics, the CPU's order). go, o: the chunk's (bc, Tq, Hq, D). */
__global__ void k_attn_ds(const float *P, float *dP, int64_t TTp, const float *go, const float *o, float *dbias,
                          int64_t bc, int64_t Tq, int64_t Tk, int64_t Hq, int64_t D) {
  int64_t hi = blockIdx.x, h = hi / Tq, i = hi % Tq;
  float *db = dbias ? dbias + hi * Tk : NULL;
  for (int64_t b = 0; b < bc; b++) {
    const float *gr = go + ((b * Tq + i) * Hq + h) * D, *orow = o + ((b * Tq + i) * Hq + h) * D;
    double di = 0;
    for (int64_t c = threadIdx.x; c < D; c += blockDim.x) di += (double)gr[c] * orow[c];
    float dv = (float)cu_block_sum(di);
    int64_t at = (b * Hq + h) * TTp + i * Tk;
    const float *p = P + at;
    float *dp = dP + at;
    for (int64_t j = threadIdx.x; j < Tk; j += blockDim.x) {
      float v = p[j] * (dp[j] - dv);
      dp[j] = v;
      if (db) db[j] += v; /* thread j owns column j for every b */
    }
  }
}

/* dst (bc, Tk, Hkv, D) += the sum over each group of the per-query-head src (bc, Hq, Tk, D)
 * (head stride KDp >= Tk D), heads added in order */
__global__ void k_attn_gsum(float *dst, const float *src, int64_t KDp, int64_t bc, int64_t Tk, int64_t Hkv,
                            int64_t grp, int64_t D) {
  int64_t Hq = Hkv * grp;
  CU_LOOP(x, bc * Tk * Hkv * D) {
    int64_t c = x % D, kh = (x / D) % Hkv, j = (x / (D * Hkv)) % Tk, b = x / (D * Hkv * Tk);
    float acc = dst[x];
    for (int64_t g = 0; g < grp; g++) acc += src[(b * Hq + kh * grp + g) * KDp + j * D + c];
    dst[x] = acc;
  }
}

/* Pointer tables for a chunk's batched GEMMs: entry e = b Hq + h of table t is
 * base[t] + b sb[t] + (h / hdiv[t]) sh[t]. */
#define AT_TABLES 9
struct at_ptab {
  const float *base[AT_TABLES];
  int64_t sb[AT_TABLES], sh[AT_TABLES], hdiv[AT_TABLES];
  int n;
};
__global__ void k_attn_ptrs(const float **dst, at_ptab t, int64_t bc, int64_t Hq) {
  int64_t per = bc * Hq;
  CU_LOOP(x, t.n * per) {
    int64_t k = x / per, e = x % per, b = e / Hq, h = e % Hq;
    dst[x] = t.base[k] + b * t.sb[k] + (h / t.hdiv[k]) * t.sh[k];
  }
}

/* adds a table; returns its index */
static int at_tab(at_ptab *t, const float *base, int64_t sb, int64_t sh, int64_t hdiv) {
  int k = t->n++;
  t->base[k] = base, t->sb[k] = sb, t->sh[k] = sh, t->hdiv[k] = hdiv;
  return k;
}

/* One query per batch row (a decoding step): everything in one launch, a block of
 * AT_DEC_THREADS per (b, h): scores into shared memory (a warp per key, lanes across D, a
 * shuffle sum), masks and bias, softmax with the row log-sum-exp, then O = P V with the warps
 * taking every AT_DEC_WARPS-th key and the lanes the columns, the warps' partial sums added in
 * warp order (the chunked path below would take 4 launches and (B, Hq, 1, Tk) scratch).
 * Speed, measured on an H200 (paper-geometry rollout, G = 8, 14 heads, a few hundred keys;
 * ops timed between syncs): 67 us per call against 70 us for the earlier version (a thread per
 * key, then a thread per output column walking every key), no measurable change. Both are
 * latency-bound: 112 blocks, each warp walking its keys one load chain at a time. The next
 * step, splitting the keys across blocks (flash-decoding) with whole keys per lane, is
 * at_decode_split below (behind cuda_set_decode_kernels until run on a GPU). */
#define AT_DEC_MAX_TK 11000 /* scores in shared memory (44 KB; with red[] and the block
                               reductions' 384 bytes, under the 48 KB a launch gets) */
#define AT_DEC_THREADS 256
#define AT_DEC_WARPS (AT_DEC_THREADS / 32)
#define AT_DEC_CW 4 /* columns per lane in one pass of O = P V: a pass covers 128 columns */
/* the scores' shared array: Tk rounded up to 4, plus 4. ptxas (CUDA 13, sm_90) turned the
 * earlier version's unrolled key loop into LDS.128 loads whose tail could reach 12 bytes past
 * sc[Tk - 1] (compute-sanitizer on an H200: "Invalid __shared__ read of size 12 bytes" at
 * Tk = 37); the values were never used, but a read must stay inside the block's allocation */
#define AT_DEC_SC(Tk) ((((Tk) + 3) & ~(int64_t)3) + 4)
__global__ void __launch_bounds__(AT_DEC_THREADS)
    k_attn_decode(const float *q, const float *k, const float *v, float *out, float *lse, const float *bias,
                  const int32_t *klen, const int32_t *p0, int causal, float scale, int64_t Tk, int64_t Hq,
                  int64_t Hkv, int64_t D) {
  extern __shared__ float sc[];                   /* (AT_DEC_SC(Tk)): (Tk) used */
  __shared__ float red[AT_DEC_WARPS][32 * AT_DEC_CW]; /* the warps' partial O */
  int64_t b = blockIdx.x / Hq, h = blockIdx.x % Hq, kh = h / (Hq / Hkv), ks = Hkv * D;
  const float *qr = q + (b * Hq + h) * D;
  const float *kb = k + (b * Tk * Hkv + kh) * D, *vb = v + (b * Tk * Hkv + kh) * D; /* key j at + j ks */
  const float *br = bias ? bias + h * Tk : NULL;
  float *orow = out + (b * Hq + h) * D;
  int64_t lim = at_lim(klen ? klen[b] : Tk, causal, p0 ? p0[b] : 0, 0);
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  float mx = -INFINITY;
#pragma unroll 4
  for (int64_t j = w; j < lim; j += AT_DEC_WARPS) {
    const float *kr = kb + j * ks;
    float dot = 0.0f;
    for (int64_t c = lane; c < D; c += 32) dot += qr[c] * kr[c];
    /* xor butterfly: every lane ends with the same (bitwise) sum */
    for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
    float s = scale * dot + (br ? br[j] : 0.0f);
    if (lane == 0) sc[j] = s;
    mx = fmaxf(mx, s);
  }
  mx = cu_block_max(mx); /* also orders the writes to sc before the reads below */
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
  for (int64_t c0 = 0; c0 < D; c0 += 32 * AT_DEC_CW) {
    float acc[AT_DEC_CW];
#pragma unroll
    for (int i = 0; i < AT_DEC_CW; i++) acc[i] = 0.0f;
#pragma unroll 4
    for (int64_t j = w; j < lim; j += AT_DEC_WARPS) {
      float p = sc[j];
      const float *vr = vb + j * ks + c0;
#pragma unroll
      for (int i = 0; i < AT_DEC_CW; i++)
        if (c0 + lane + 32 * i < D) acc[i] += p * vr[lane + 32 * i];
    }
#pragma unroll
    for (int i = 0; i < AT_DEC_CW; i++) red[w][lane + 32 * i] = acc[i];
    __syncthreads();
    for (int t = threadIdx.x; t < 32 * AT_DEC_CW && c0 + t < D; t += blockDim.x) {
      float o = 0.0f;
      for (int u = 0; u < AT_DEC_WARPS; u++) o += red[u][t];
      orow[c0 + t] = o * inv;
    }
    __syncthreads(); /* red is reused by the next pass */
  }
  if (threadIdx.x == 0 && lse) lse[b * Hq + h] = mx + logf((float)sum);
}

/* the kv_len / q_pos0 host arrays (B) on the device (staged once per step: they repeat) */
static int at_stage(backend *be, const at_dims *d, const attn_cfg *cfg, const int32_t **dk, const int32_t **dp) {
  size_t nb = sizeof(int32_t) * (size_t)d->B;
  *dk = NULL, *dp = NULL;
  if (cfg->kv_len) TS_TRY(cu_stage_same(be, cfg->kv_len, nb, (const void **)dk));
  if (cfg->q_pos0) TS_TRY(cu_stage_same(be, cfg->q_pos0, nb, (const void **)dp));
  return TS_OK;
}

static int at_decode(backend *be, const at_dims *d, const tensor *q, const tensor *k, const tensor *v, tensor *out,
                     tensor *lse, const attn_cfg *cfg) {
  const int32_t *dk, *dp;
  TS_TRY(at_stage(be, d, cfg, &dk, &dp));
  k_attn_decode<<<(unsigned)(d->B * d->Hq), AT_DEC_THREADS, sizeof(float) * (size_t)AT_DEC_SC(d->Tk)>>>(
      cu_f(q), cu_f(k), cu_f(v), cu_f(out), lse ? cu_f(lse) : NULL, cfg->bias ? cu_f(cfg->bias) : NULL,
      dk, dp, cfg->causal, cfg->scale, d->Tk, d->Hq, d->Hkv, d->D);
  CU_LAUNCHED("k_attn_decode");
  return TS_OK;
}

/* Split-key decoding ("flash-decoding"), used instead of k_attn_decode when
 * cuda_set_decode_kernels is on (cu_ctx.dec2; off by default: written without a GPU, checked by
 * single-threaded emulation). k_attn_decode gives each (b, h) one block that walks every key;
 * here the keys are cut into S = ceil(Tk / AT_SK_KC) chunks and two launches do the work:
 *  - k_attn_dec_part, grid (B Hq, S), AT_SK_KC threads: thread t takes key j = chunk KC + t,
 *    its whole dot product with q (q staged in shared memory; float4 loads when D % 4 == 0 and
 *    k is 16-byte aligned, the caller checks), s = scale dot + bias; then the chunk's m = max s
 *    and l = sum exp(s - m) (block reductions, l summed in double and kept as a float), and its
 *    unnormalised o[c] = sum exp(s - m) v[c]: the threads split into G = KC / W groups of W
 *    columns (W: D rounded up to a power of two, at most KC; columns coalesced across a
 *    group's threads), group g taking keys g, g + G, ...; the groups' sums meet in shared
 *    memory, added in group order. It writes (m, l, o) to part. A chunk starting at or past
 *    lim writes nothing (the merge does not read it); one whose scores are all -inf writes
 *    m = -inf, l = 0, o = 0.
 *  - k_attn_dec_merge, a block per (b, h): M = max m over the chunks holding visible keys;
 *    none or M = -inf: zero output and lse = -inf, as k_attn_decode. Else, chunks in order,
 *    L = sum l exp(m - M) (double), out = (sum o exp(m - M)) / L, lse = M + log L.
 * Scratch part: (B Hq, S, D + 2) floats, S <= 86 at AT_DEC_MAX_TK. at_decode runs instead when
 * D > AT_SK_MAXD or part would pass AT_SK_SCRATCH (many rows: at_decode then has blocks enough). */
#define AT_SK_KC 128   /* keys per chunk = threads of k_attn_dec_part */
#define AT_SK_MT 128   /* threads of k_attn_dec_merge */
#define AT_SK_MAXD 256 /* head size limit (q in shared memory) */
#define AT_SK_SCRATCH ((size_t)64 << 20)
__global__ void __launch_bounds__(AT_SK_KC)
    k_attn_dec_part(const float *q, const float *k, const float *v, float *part, const float *bias,
                    const int32_t *klen, const int32_t *p0, int causal, float scale, int64_t Tk, int64_t Hq,
                    int64_t Hkv, int64_t D, int vec) {
  __shared__ __align__(16) float qs[AT_SK_MAXD]; /* the query row: (D) used */
  __shared__ float pr[AT_SK_KC];                /* exp(s - m) of the chunk's keys */
  __shared__ float red[AT_SK_KC];               /* (G, W): the key groups' partial o */
  int64_t r = blockIdx.x, b = r / Hq, h = r % Hq, kh = h / (Hq / Hkv), ks = Hkv * D, j0 = (int64_t)blockIdx.y * AT_SK_KC;
  int64_t lim = at_lim(klen ? klen[b] : Tk, causal, p0 ? p0[b] : 0, 0);
  if (j0 >= lim) return; /* no visible key in the chunk (the whole block leaves) */
  int t = threadIdx.x, nk = lim - j0 < AT_SK_KC ? (int)(lim - j0) : AT_SK_KC; /* visible keys j0 + [0, nk) */
  const float *kb = k + ((b * Tk + j0) * Hkv + kh) * D, *vb = v + ((b * Tk + j0) * Hkv + kh) * D; /* key j0 + u at + u ks */
  float *ps = part + (r * gridDim.y + blockIdx.y) * (D + 2); /* m, l, o (D) */
  for (int64_t c = t; c < D; c += AT_SK_KC) qs[c] = q[r * D + c];
  __syncthreads();
  float s = -INFINITY;
  if (t < nk) {
    const float *kr = kb + t * ks;
    float dot = 0.0f;
    if (vec) { /* four partial sums, one per float4 lane */
      float d0 = 0.0f, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f;
#pragma unroll 4
      for (int64_t c = 0; c < D; c += 4) {
        float4 a = *(const float4 *)(qs + c), x = *(const float4 *)(kr + c);
        d0 += a.x * x.x, d1 += a.y * x.y, d2 += a.z * x.z, d3 += a.w * x.w;
      }
      dot = (d0 + d1) + (d2 + d3);
    } else {
      for (int64_t c = 0; c < D; c++) dot += qs[c] * kr[c];
    }
    s = scale * dot + (bias ? bias[h * Tk + j0 + t] : 0.0f);
  }
  float m = cu_block_max(s);
  if (m == -INFINITY) { /* every score -inf: nothing to add */
    for (int64_t c = t; c < D; c += AT_SK_KC) ps[2 + c] = 0.0f;
    if (t == 0) ps[0] = -INFINITY, ps[1] = 0.0f;
    return;
  }
  pr[t] = t < nk ? expf(s - m) : 0.0f;
  double l = cu_block_sum(pr[t]); /* also orders the writes to pr before the reads below */
  int W = AT_SK_KC;
  while (W / 2 >= D) W /= 2;
  int G = AT_SK_KC / W, c = t % W, g = t / W; /* thread t = g W + c */
  for (int64_t c0 = 0; c0 < D; c0 += W) {
    float acc = 0.0f;
    if (c0 + c < D) {
#pragma unroll 4
      for (int u = g; u < nk; u += G) acc += pr[u] * vb[u * ks + c0 + c];
    }
    red[t] = acc;
    __syncthreads();
    if (t < W && c0 + t < D) {
      float o = 0.0f;
      for (int e = 0; e < G; e++) o += red[e * W + t];
      ps[2 + c0 + t] = o;
    }
    __syncthreads(); /* red is reused by the next pass */
  }
  if (t == 0) ps[0] = m, ps[1] = (float)l;
}

__global__ void __launch_bounds__(AT_SK_MT)
    k_attn_dec_merge(const float *part, float *out, float *lse, const int32_t *klen, const int32_t *p0, int causal,
                     int64_t Tk, int64_t Hq, int64_t D, int64_t S) {
  int64_t r = blockIdx.x, b = r / Hq, P = D + 2;
  int64_t lim = at_lim(klen ? klen[b] : Tk, causal, p0 ? p0[b] : 0, 0);
  int64_t ns = (lim + AT_SK_KC - 1) / AT_SK_KC; /* the chunks k_attn_dec_part wrote */
  const float *pp = part + r * S * P;           /* chunk s at + s P: m, l, o (D) */
  float *orow = out + r * D;
  float M = -INFINITY;
  for (int64_t s = 0; s < ns; s++) M = fmaxf(M, pp[s * P]);
  if (M == -INFINITY) { /* no visible key: zero output, lse = -inf */
    for (int64_t c = threadIdx.x; c < D; c += blockDim.x) orow[c] = 0.0f;
    if (threadIdx.x == 0 && lse) lse[r] = -INFINITY;
    return;
  }
  double L = 0;
  for (int64_t s = 0; s < ns; s++) L += (double)pp[s * P + 1] * expf(pp[s * P] - M);
  float inv = 1.0f / (float)L; /* L >= 1: the chunk with m = M has l >= 1 */
  for (int64_t c = threadIdx.x; c < D; c += blockDim.x) {
    float o = 0.0f;
    for (int64_t s = 0; s < ns; s++) o += pp[s * P + 2 + c] * expf(pp[s * P] - M);
    orow[c] = o * inv;
  }
  if (threadIdx.x == 0 && lse) lse[r] = M + logf((float)L);
}

/* the scratch bytes of the split-key path, 0 when it does not take this step */
static size_t at_split_bytes(const at_dims *d) {
  int64_t S = (d->Tk + AT_SK_KC - 1) / AT_SK_KC;
  if (d->D > AT_SK_MAXD || d->B * d->Hq > (int64_t)(AT_SK_SCRATCH / sizeof(float))) return 0;
  size_t bytes = sizeof(float) * (size_t)(d->B * d->Hq) * (size_t)(S * (d->D + 2));
  return bytes <= AT_SK_SCRATCH ? bytes : 0;
}

static int at_decode_split(backend *be, const at_dims *d, const tensor *q, const tensor *k, const tensor *v,
                           tensor *out, tensor *lse, const attn_cfg *cfg, size_t bytes) {
  const int32_t *dk, *dp;
  TS_TRY(at_stage(be, d, cfg, &dk, &dp));
  float *part; /* (B Hq, S, D + 2) */
  TS_TRY(cu_scratch(be, bytes, (void **)&part));
  int64_t S = (d->Tk + AT_SK_KC - 1) / AT_SK_KC;
  int vec = d->D % 4 == 0 && !((uintptr_t)cu_f(k) & 15);
  k_attn_dec_part<<<dim3((unsigned)(d->B * d->Hq), (unsigned)S), AT_SK_KC>>>(
      cu_f(q), cu_f(k), cu_f(v), part, cfg->bias ? cu_f(cfg->bias) : NULL, dk, dp,
      cfg->causal, cfg->scale, d->Tk, d->Hq, d->Hkv, d->D, vec);
  CU_LAUNCHED("k_attn_dec_part");
  k_attn_dec_merge<<<(unsigned)(d->B * d->Hq), AT_SK_MT>>>(part, cu_f(out), lse ? cu_f(lse) : NULL,
                                                          dk, dp, cfg->causal, d->Tk,
                                                          d->Hq, d->D, S);
  CU_LAUNCHED("k_attn_dec_merge");
  return TS_OK;
}

/* batch rows per chunk: the override, or as many as fit in the scratch budget */
#define CU_ATTN_SCRATCH ((size_t)512 << 20)
static int64_t at_chunk(backend *be, int64_t B, size_t per_row, int64_t rows) {
  int64_t n = cu_of(be)->attn_rows;
  if (n <= 0) n = per_row ? (int64_t)(CU_ATTN_SCRATCH / per_row) : B;
  if (n > 2147483647LL / rows) n = 2147483647LL / rows; /* the row kernels' grid */
  return n < 1 ? 1 : n > B ? B : n;
}

/* whether every matrix a table gives starts 16-byte aligned: cuBLAS's tensor-core kernels for
 * pointer-array batches need it; a chunk whose tables do not qualify runs f32 SGEMM instead */
static int at_aligned(const at_ptab *t) {
  for (int k = 0; k < t->n; k++)
    if (((uintptr_t)t->base[k] & 15) || (t->sb[k] & 3) || (t->sh[k] & 3)) return 0;
  return 1;
}

/* the tables of q, k and v (every chunk of both passes starts with them) */
static void at_tab_qkv(at_ptab *t, const at_dims *d, const tensor *q, const tensor *k, const tensor *v, int64_t b0,
                       int *tq, int *tk, int *tv) {
  int64_t qs = d->Hq * d->D, ks = d->Hkv * d->D;
  t->n = 0;
  *tq = at_tab(t, cu_f(q) + b0 * d->Tq * qs, d->Tq * qs, d->D, 1);
  *tk = at_tab(t, cu_f(k) + b0 * d->Tk * ks, d->Tk * ks, d->D, d->grp);
  *tv = at_tab(t, cu_f(v) + b0 * d->Tk * ks, d->Tk * ks, d->D, d->grp);
}

/* the per-(row, head) strides of the score and per-head gradient scratch, rounded up to 4
 * floats so that those matrices start 16-byte aligned */
static inline int64_t at_pad4(int64_t n) { return (n + 3) & ~(int64_t)3; }


/* The tensor-core flash kernels (cu_flash.cuh), used when they are on and apply: bf16
 * precision, D 64 or 128, no additive bias (nor its gradient), lse wanted (training and prefill
 * always ask), sizes in int. at_flash_applies says whether they do; at_flash_launch runs the
 * forward, at_flash_bwd_launch the backward (from any forward's lse: the same definition). */
template <int D>
static int at_flash_launch(backend *be, const at_dims *d, const tensor *q, const tensor *k, const tensor *v,
                           tensor *out, tensor *lse, const attn_cfg *cfg, const int32_t *dkl, const int32_t *dp0) {
  static int attr_set; /* the >48 KB dynamic shared memory opt-in, once per process */
  if (!attr_set) {
    cudaError_t st = cudaFuncSetAttribute(k_flash_fwd<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          (int)fl_geom<D>::bytes);
    if (st != cudaSuccess) return cu_fail("cudaFuncSetAttribute(k_flash_fwd)", st);
    attr_set = 1;
  }
  dim3 grid((unsigned)((d->Tq + FL_BQ - 1) / FL_BQ), (unsigned)d->Hq, (unsigned)d->B);
  k_flash_fwd<D><<<grid, FL_THREADS, fl_geom<D>::bytes>>>(cu_f(q), cu_f(k), cu_f(v), cu_f(out), cu_f(lse),
                                                          (int)d->Tq, (int)d->Tk, (int)d->Hq, (int)d->Hkv, cfg->scale,
                                                          cfg->causal, dkl, dp0);
  CU_LAUNCHED("k_flash_fwd");
  return TS_OK;
}

/* the backward: Dq = rowsum(dO o O) into scratch, then the dK/dV and dQ kernels (each only
 * when its gradients are wanted) */
template <int D>
static int at_flash_bwd_launch(backend *be, const at_dims *d, const tensor *q, const tensor *k, const tensor *v,
                               const tensor *out, const tensor *lse, const tensor *dout, tensor *dq, tensor *dk,
                               tensor *dv, const attn_cfg *cfg, const int32_t *dkl, const int32_t *dp0) {
  static int attr_set;
  if (!attr_set) {
    cudaError_t st = cudaFuncSetAttribute(k_flash_bwd_kv<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          (int)fl_bwd_geom<D>::bytes);
    if (st == cudaSuccess)
      st = cudaFuncSetAttribute(k_flash_bwd_q<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                (int)fl_q_geom<D>::bytes);
    if (st != cudaSuccess) return cu_fail("cudaFuncSetAttribute(k_flash_bwd)", st);
    attr_set = 1;
  }
  int64_t rows = d->B * d->Hq * d->Tq;
  float *dot;
  TS_TRY(cu_scratch(be, sizeof(float) * (size_t)rows, (void **)&dot));
  k_flash_dot<D><<<cu_blocks(rows), 256>>>(cu_f(dout), cu_f(out), dot, (int)d->B, (int)d->Tq, (int)d->Hq);
  CU_LAUNCHED("k_flash_dot");
  if (dk || dv) {
    dim3 grid((unsigned)((d->Tk + FL_BK - 1) / FL_BK), (unsigned)d->Hkv, (unsigned)d->B);
    k_flash_bwd_kv<D><<<grid, FL_THREADS, fl_bwd_geom<D>::bytes>>>(
        cu_f(q), cu_f(k), cu_f(v), cu_f(dout), cu_f(lse), dot, cu_f(dk), cu_f(dv), (int)d->Tq, (int)d->Tk, (int)d->Hq,
        (int)d->Hkv, cfg->scale, cfg->causal, dkl, dp0);
    CU_LAUNCHED("k_flash_bwd_kv");
  }
  if (dq) {
    dim3 grid((unsigned)((d->Tq + FL_BQ - 1) / FL_BQ), (unsigned)d->Hq, (unsigned)d->B);
    k_flash_bwd_q<D><<<grid, FL_THREADS, fl_q_geom<D>::bytes>>>(cu_f(q), cu_f(k), cu_f(v), cu_f(dout), cu_f(lse), dot,
                                                               cu_f(dq), (int)d->Tq, (int)d->Tk, (int)d->Hq,
                                                               (int)d->Hkv, cfg->scale, cfg->causal, dkl, dp0);
    CU_LAUNCHED("k_flash_bwd_q");
  }
  return TS_OK;
}

static int at_flash_applies(backend *be, const at_dims *d, const tensor *lse, const attn_cfg *cfg) {
  cu_ctx *c = cu_of(be);
  return c->flash && c->gemm == TS_GEMM_BF16 && (d->D == 64 || d->D == 128) && !cfg->bias && lse && d->Tk >= 1 &&
         d->Tq <= 2147483647LL && d->Tk <= 2147483647LL && d->B <= 65535 && d->Hq <= 65535;
}

int cu_attention(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out, tensor *lse,
                 const attn_cfg *cfg) {
  at_dims d = at_dims_of(q, k);
  int64_t TTp = at_pad4(d.Tq * d.Tk), rows = d.Hq * d.Tq, qs = d.Hq * d.D, ks = d.Hkv * d.D;
  if (d.B <= 0 || rows <= 0 || d.D <= 0) return TS_OK;
  if (d.Tq == 1 && d.Tk >= 1 && d.Tk <= AT_DEC_MAX_TK && d.B * d.Hq <= 2147483647LL) { /* a decoding step */
    size_t sb = cu_of(be)->dec2 ? at_split_bytes(&d) : 0;
    return sb ? at_decode_split(be, &d, q, k, v, out, lse, cfg, sb) : at_decode(be, &d, q, k, v, out, lse, cfg);
  }
  if (d.Tk <= 0) { /* no keys: zero output, lse = -inf (as the softmax kernel gives a row with none) */
    TS_TRY(be->ops->fill(be, out, 0.0f));
    if (lse) TS_TRY(be->ops->fill(be, lse, -INFINITY));
    return TS_OK;
  }
  const int32_t *dkl, *dp0;
  TS_TRY(at_stage(be, &d, cfg, &dkl, &dp0));
  if (at_flash_applies(be, &d, lse, cfg))
    return d.D == 64 ? at_flash_launch<64>(be, &d, q, k, v, out, lse, cfg, dkl, dp0)
                     : at_flash_launch<128>(be, &d, q, k, v, out, lse, cfg, dkl, dp0);
  int64_t bc = at_chunk(be, d.B, sizeof(float) * (size_t)(d.Hq * TTp) + 5 * sizeof(float *) * (size_t)d.Hq, rows);
  size_t bS = cu_rnd(sizeof(float) * (size_t)(bc * d.Hq * TTp)), bP = cu_rnd(5 * sizeof(float *) * (size_t)(bc * d.Hq));
  char *cur;
  TS_TRY(cu_scratch(be, bS + bP, (void **)&cur));
  float *S = (float *)cu_carve(&cur, bS);
  const float **tab = (const float **)cu_carve(&cur, bP);
  const float *bias = cfg->bias ? cu_f(cfg->bias) : NULL;
  for (int64_t b0 = 0; b0 < d.B; b0 += bc) {
    int64_t n = d.B - b0 < bc ? d.B - b0 : bc, per = n * d.Hq;
    at_ptab t;
    int tq, tk, tv;
    at_tab_qkv(&t, &d, q, k, v, b0, &tq, &tk, &tv);
    int ts = at_tab(&t, S, d.Hq * TTp, TTp, 1);
    int to = at_tab(&t, cu_f(out) + b0 * d.Tq * qs, d.Tq * qs, d.D, 1);
    int al = at_aligned(&t);
    k_attn_ptrs<<<cu_blocks(t.n * per), 256>>>(tab, t, n, d.Hq);
    CU_LAUNCHED("k_attn_ptrs");
    TS_TRY(cu_gemm_ptr(be, 0, 1, d.Tq, d.Tk, d.D, cfg->scale, tab + tq * per, qs, tab + tk * per, ks, 0.0f,
                       (float *const *)(tab + ts * per), d.Tk, per, al));
    k_attn_softmax<<<(unsigned)(n * rows), 256>>>(S, TTp, lse ? cu_f(lse) + b0 * rows : NULL, bias, d.Hq, d.Tq, d.Tk,
                                                 dkl ? dkl + b0 : NULL, dp0 ? dp0 + b0 : NULL, cfg->causal);
    CU_LAUNCHED("k_attn_softmax");
    TS_TRY(cu_gemm_ptr(be, 0, 0, d.Tq, d.D, d.Tk, 1.0f, tab + ts * per, d.Tk, tab + tv * per, ks, 0.0f,
                       (float *const *)(tab + to * per), qs, per, al));
  }
  return TS_OK;
}

int cu_attention_bwd(backend *be, const tensor *q, const tensor *k, const tensor *v, const tensor *out,
                     const tensor *lse, const tensor *dout, tensor *dq, tensor *dk, tensor *dv, tensor *dbias,
                     const attn_cfg *cfg) {
  at_dims d = at_dims_of(q, k);
  int64_t TTp = at_pad4(d.Tq * d.Tk), rows = d.Hq * d.Tq, qs = d.Hq * d.D, ks = d.Hkv * d.D, KDp = at_pad4(d.Tk * d.D);
  if (d.B <= 0 || rows <= 0 || d.D <= 0 || d.Tk <= 0) return TS_OK;
  if (!dq && !dk && !dv && !dbias) return TS_OK;
  const int32_t *dkl, *dp0;
  TS_TRY(at_stage(be, &d, cfg, &dkl, &dp0));
  if (!dbias && at_flash_applies(be, &d, lse, cfg))
    return d.D == 64 ? at_flash_bwd_launch<64>(be, &d, q, k, v, out, lse, dout, dq, dk, dv, cfg, dkl, dp0)
                     : at_flash_bwd_launch<128>(be, &d, q, k, v, out, lse, dout, dq, dk, dv, cfg, dkl, dp0);
  int grouped = d.grp > 1; /* per-query-head dV / dK in scratch, then summed per group */
  size_t per_row = 2 * sizeof(float) * (size_t)(d.Hq * TTp) + (grouped ? 2 * sizeof(float) * (size_t)(d.Hq * KDp) : 0) +
                   AT_TABLES * sizeof(float *) * (size_t)d.Hq;
  int64_t bc = at_chunk(be, d.B, per_row, rows);
  size_t bS = cu_rnd(sizeof(float) * (size_t)(bc * d.Hq * TTp)), bG = grouped ? cu_rnd(sizeof(float) * (size_t)(bc * d.Hq * KDp)) : 0,
         bP = cu_rnd(AT_TABLES * sizeof(float *) * (size_t)(bc * d.Hq));
  char *cur;
  TS_TRY(cu_scratch(be, 2 * bS + 2 * bG + bP, (void **)&cur));
  float *S = (float *)cu_carve(&cur, bS), *dP = (float *)cu_carve(&cur, bS);
  float *gV = grouped ? (float *)cu_carve(&cur, bG) : NULL, *gK = grouped ? (float *)cu_carve(&cur, bG) : NULL;
  const float **tab = (const float **)cu_carve(&cur, bP);
  const float *bias = cfg->bias ? cu_f(cfg->bias) : NULL;
  for (int64_t b0 = 0; b0 < d.B; b0 += bc) {
    int64_t n = d.B - b0 < bc ? d.B - b0 : bc, per = n * d.Hq;
    at_ptab t;
    int tq, tk, tv;
    at_tab_qkv(&t, &d, q, k, v, b0, &tq, &tk, &tv);
    int tgo = at_tab(&t, cu_f(dout) + b0 * d.Tq * qs, d.Tq * qs, d.D, 1);
    int ts = at_tab(&t, S, d.Hq * TTp, TTp, 1);
    int tdp = at_tab(&t, dP, d.Hq * TTp, TTp, 1);
    int tdq = dq ? at_tab(&t, cu_f(dq) + b0 * d.Tq * qs, d.Tq * qs, d.D, 1) : -1;
    /* dV / dK targets: the gradient itself (one query head per kv head) or per-head scratch */
    int tdv = !dv ? -1 : grouped ? at_tab(&t, gV, d.Hq * KDp, KDp, 1) : at_tab(&t, cu_f(dv) + b0 * d.Tk * ks, d.Tk * ks, d.D, 1);
    int tdk = !dk ? -1 : grouped ? at_tab(&t, gK, d.Hq * KDp, KDp, 1) : at_tab(&t, cu_f(dk) + b0 * d.Tk * ks, d.Tk * ks, d.D, 1);
    float beta_kv = grouped ? 0.0f : 1.0f;
    int al = at_aligned(&t);
    k_attn_ptrs<<<cu_blocks(t.n * per), 256>>>(tab, t, n, d.Hq);
    CU_LAUNCHED("k_attn_ptrs");
#define AT_T(i) (tab + (i) * per)
#define AT_W(i) ((float *const *)(tab + (i) * per))
    TS_TRY(cu_gemm_ptr(be, 0, 1, d.Tq, d.Tk, d.D, cfg->scale, AT_T(tq), qs, AT_T(tk), ks, 0.0f, AT_W(ts), d.Tk, per, al));
    k_attn_probs<<<(unsigned)(n * rows), 256>>>(S, TTp, cu_f(lse) + b0 * rows, bias, d.Hq, d.Tq, d.Tk, dkl ? dkl + b0 : NULL,
                                               dp0 ? dp0 + b0 : NULL, cfg->causal);
    CU_LAUNCHED("k_attn_probs");
    if (dv) { /* dV_h (Tk, D) = P_h^T dO_h */
      TS_TRY(cu_gemm_ptr(be, 1, 0, d.Tk, d.D, d.Tq, 1.0f, AT_T(ts), d.Tk, AT_T(tgo), qs, beta_kv, AT_W(tdv),
                         grouped ? d.D : ks, per, al));
      if (grouped) {
        k_attn_gsum<<<cu_blocks(n * d.Tk * ks), 256>>>(cu_f(dv) + b0 * d.Tk * ks, gV, KDp, n, d.Tk, d.Hkv, d.grp, d.D);
        CU_LAUNCHED("k_attn_gsum");
      }
    }
    if (!dq && !dk && !dbias) continue;
    /* dP_h = dO_h V_kh^T, then dS in place (and dbias) */
    TS_TRY(cu_gemm_ptr(be, 0, 1, d.Tq, d.Tk, d.D, 1.0f, AT_T(tgo), qs, AT_T(tv), ks, 0.0f, AT_W(tdp), d.Tk, per, al));
    k_attn_ds<<<(unsigned)rows, 128>>>(S, dP, TTp, cu_f(dout) + b0 * d.Tq * qs, cu_f(out) + b0 * d.Tq * qs,
                                       dbias ? cu_f(dbias) : NULL, n, d.Tq, d.Tk, d.Hq, d.D);
    CU_LAUNCHED("k_attn_ds");
    if (dq) /* dQ_h += scale dS_h K_kh */
      TS_TRY(cu_gemm_ptr(be, 0, 0, d.Tq, d.D, d.Tk, cfg->scale, AT_T(tdp), d.Tk, AT_T(tk), ks, 1.0f, AT_W(tdq), qs, per, al));
    if (dk) { /* dK_h (Tk, D) = scale dS_h^T Q_h */
      TS_TRY(cu_gemm_ptr(be, 1, 0, d.Tk, d.D, d.Tq, cfg->scale, AT_T(tdp), d.Tk, AT_T(tq), qs, beta_kv, AT_W(tdk),
                         grouped ? d.D : ks, per, al));
      if (grouped) {
        k_attn_gsum<<<cu_blocks(n * d.Tk * ks), 256>>>(cu_f(dk) + b0 * d.Tk * ks, gK, KDp, n, d.Tk, d.Hkv, d.grp, d.D);
        CU_LAUNCHED("k_attn_gsum");
      }
    }
#undef AT_T
#undef AT_W
  }
  return TS_OK;
}
