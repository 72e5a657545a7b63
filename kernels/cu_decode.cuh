// cu_decode.cuh — the attention kernels of a decoding step (one query per batch row): the fused
// one-block kernel (k_attn_decode, the default) and the split-key pair (k_attn_dec_part,
// k_attn_dec_merge; behind cuda_set_decode_kernels). Device code only: included by cu_attn.cu,
// which launches them, and by tests/gpu/simt/test_decode_emu.cpp, which runs them under the SIMT
// emulator against a double-precision reference in ctest.
#pragma once

#include "cu_dev.cuh"

/* number of keys visible to query i (keys [0, lim)), at most the Tk keys a row holds (the op
 * refuses a longer kv_len on the host, but a replayed step's lengths are not checked there) */
__device__ __forceinline__ int64_t at_lim(int64_t klen, int causal, int64_t p0, int64_t i, int64_t Tk) {
  int64_t lim = klen < Tk ? klen : Tk;
  if (causal && p0 + i + 1 < lim) lim = p0 + i + 1;
  return lim < 0 ? 0 : lim;
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
  CU_DYN_SMEM(float, sc);                         /* (AT_DEC_SC(Tk)): (Tk) used */
  __shared__ float red[AT_DEC_WARPS][32 * AT_DEC_CW]; /* the warps' partial O */
  int64_t b = blockIdx.x / Hq, h = blockIdx.x % Hq, kh = h / (Hq / Hkv), ks = Hkv * D;
  const float *qr = q + (b * Hq + h) * D;
  const float *kb = k + (b * Tk * Hkv + kh) * D, *vb = v + (b * Tk * Hkv + kh) * D; /* key j at + j ks */
  const float *br = bias ? bias + h * Tk : NULL;
  float *orow = out + (b * Hq + h) * D;
  int64_t lim = at_lim(klen ? klen[b] : Tk, causal, p0 ? p0[b] : 0, 0, Tk);
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

/* Split-key decoding ("flash-decoding"), used instead of k_attn_decode when
 * cuda_set_decode_kernels is on (cu_ctx.dec2; on by default, checked on H100 and H200 by
 * tests/gpu/run.sh and in ctest under the SIMT emulator). k_attn_decode gives each (b, h) one
 * block that walks every key; here the keys are cut into S = ceil(Tk / AT_SK_KC) chunks and two launches do the work:
 *  - k_attn_dec_part, grid (B Hq, S), AT_SK_KC threads: thread t takes key j = chunk KC + t,
 *    its whole dot product with q (q staged in shared memory; float4 loads when vec is 1 or 2:
 *    D % 4 == 0 and k, v 16-byte aligned, the caller checks), s = scale dot + bias; then the chunk's
 *    m = max s and l = sum exp(s - m) (block reductions, l summed in double and kept as a
 *    float), and its unnormalised o[c] = sum exp(s - m) v[c]: the threads split into G = KC / W
 *    groups of W columns (W: D rounded up to a power of two, at most KC; columns coalesced
 *    across a group's threads), group g taking keys g, g + G, ...; the groups' sums meet in
 *    shared memory, added in group order; with vec 2 (cuda_set_elem_vec as well) four columns
 *    a thread (at_sk_pv4, session 18), so W is a quarter of that and G four times as many. It
 *    writes (m, l, o) to part. A chunk starting at or past
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
/* k_attn_dec_part's o = P V over its nk keys with float4 loads (vec 2: D % 4 == 0, v 16-byte
 * aligned, the caller checks), written to o (D): the block's AT_SK_KC threads split into G key
 * groups of W threads, W = D / 4 rounded up to a power of two, thread g W + c taking columns
 * [4c, 4c + 4) of keys g, g + G, ... (D 64: 8 groups of 16 keys, where one column a thread
 * walked 64 keys in one chain of dependent loads, the chunk's longest wait on an H200: session
 * 17's profile had the kernel at 14.4 us, 23 % of a decoding step); the groups' sums meet in
 * shared memory, added in group order. Every thread of the block must call it. */
__device__ __forceinline__ void at_sk_pv4(const float *pr, const float *vb, int64_t ks, int nk, int64_t D, float *o) {
  static_assert(AT_SK_MAXD / 4 <= AT_SK_KC, "a key group needs W <= AT_SK_KC threads (G >= 1)");
  __shared__ float4 red4[AT_SK_KC]; /* (G, W) */
  const int t = threadIdx.x, D4 = (int)(D / 4);
  int W = 1;
  while (W < D4) W <<= 1;
  const int G = AT_SK_KC / W, c = t % W, g = t / W;
  float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  if (c < D4) {
    const float *vc = vb + 4 * c;
#pragma unroll 4
    for (int u = g; u < nk; u += G) {
      const float p = pr[u];
      const float4 x = *(const float4 *)(vc + u * ks);
      acc.x += p * x.x, acc.y += p * x.y, acc.z += p * x.z, acc.w += p * x.w;
    }
  }
  red4[t] = acc;
  __syncthreads();
  if (t < D4) { /* t < W */
    float4 s = red4[t];
    for (int e = 1; e < G; e++) {
      const float4 r = red4[e * W + t];
      s.x += r.x, s.y += r.y, s.z += r.z, s.w += r.w;
    }
    o[4 * t] = s.x, o[4 * t + 1] = s.y, o[4 * t + 2] = s.z, o[4 * t + 3] = s.w;
  }
}

/* k_attn_dec_part's work for its chunk: 0 when the chunk holds no visible key (nothing written),
 * else 1 once its (m, l, o) are written. Every thread of the block must call it. */
__device__ __forceinline__ int at_sk_chunk(const float *q, const float *k, const float *v, float *part,
                                           const float *bias, const int32_t *klen, const int32_t *p0, int causal,
                                           float scale, int64_t Tk, int64_t Hq, int64_t Hkv, int64_t D, int vec) {
  __shared__ __align__(16) float qs[AT_SK_MAXD]; /* the query row: (D) used */
  __shared__ float pr[AT_SK_KC];                /* exp(s - m) of the chunk's keys */
  __shared__ float red[AT_SK_KC];               /* (G, W): the key groups' partial o */
  int64_t r = blockIdx.x, b = r / Hq, h = r % Hq, kh = h / (Hq / Hkv), ks = Hkv * D, j0 = (int64_t)blockIdx.y * AT_SK_KC;
  int64_t lim = at_lim(klen ? klen[b] : Tk, causal, p0 ? p0[b] : 0, 0, Tk);
  if (j0 >= lim) return 0; /* no visible key in the chunk (the whole block leaves) */
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
    return 1;
  }
  pr[t] = t < nk ? expf(s - m) : 0.0f;
  double l = cu_block_sum(pr[t]); /* also orders the writes to pr before the reads below */
  if (t == 0) ps[0] = m, ps[1] = (float)l;
  if (vec > 1) { /* o = P V four columns a thread: at_sk_pv4 */
    at_sk_pv4(pr, vb, ks, nk, D, ps + 2);
    return 1;
  }
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
  return 1;
}

__global__ void __launch_bounds__(AT_SK_KC)
    k_attn_dec_part(const float *q, const float *k, const float *v, float *part, const float *bias,
                    const int32_t *klen, const int32_t *p0, int causal, float scale, int64_t Tk, int64_t Hq,
                    int64_t Hkv, int64_t D, int vec) {
  at_sk_chunk(q, k, v, part, bias, klen, p0, causal, scale, Tk, Hq, Hkv, D, vec);
}

/* a partial's value: through L2 (ld.global.cg) when cg, as the merge folded into
 * k_attn_dec_fused reads what other blocks wrote during the same launch */
__device__ __forceinline__ float at_sk_ld(const float *p, bool cg) { return cg ? __ldcg(p) : *p; }

/* row r's merge of its ns chunks' partials (pp: chunk s at + s (D + 2)); the body of
 * k_attn_dec_merge, whose block (AT_SK_MT threads) calls it */
__device__ __forceinline__ void at_sk_merge(const float *pp, float *out, float *lse, int64_t r, int64_t ns,
                                            int64_t D, bool cg) {
  const int64_t P = D + 2;
  float *orow = out + r * D;
  float M = -INFINITY;
  for (int64_t s = 0; s < ns; s++) M = fmaxf(M, at_sk_ld(pp + s * P, cg));
  if (M == -INFINITY) { /* no visible key: zero output, lse = -inf */
    for (int64_t c = threadIdx.x; c < D; c += blockDim.x) orow[c] = 0.0f;
    if (threadIdx.x == 0 && lse) lse[r] = -INFINITY;
    return;
  }
  double L = 0;
  for (int64_t s = 0; s < ns; s++) L += (double)at_sk_ld(pp + s * P + 1, cg) * expf(at_sk_ld(pp + s * P, cg) - M);
  float inv = 1.0f / (float)L; /* L >= 1: the chunk with m = M has l >= 1 */
  for (int64_t c = threadIdx.x; c < D; c += blockDim.x) {
    float o = 0.0f;
    for (int64_t s = 0; s < ns; s++) o += at_sk_ld(pp + s * P + 2 + c, cg) * expf(at_sk_ld(pp + s * P, cg) - M);
    orow[c] = o * inv;
  }
  if (threadIdx.x == 0 && lse) lse[r] = M + logf((float)L);
}

__global__ void __launch_bounds__(AT_SK_MT)
    k_attn_dec_merge(const float *part, float *out, float *lse, const int32_t *klen, const int32_t *p0, int causal,
                     int64_t Tk, int64_t Hq, int64_t D, int64_t S) {
  int64_t r = blockIdx.x, b = r / Hq;
  int64_t lim = at_lim(klen ? klen[b] : Tk, causal, p0 ? p0[b] : 0, 0, Tk);
  int64_t ns = (lim + AT_SK_KC - 1) / AT_SK_KC; /* the chunks k_attn_dec_part wrote, at most S */
  if (ns > S) ns = S;
  at_sk_merge(part + r * S * (D + 2), out, lse, r, ns, D, false);
}

/* The pair in one launch (cuda_set_decode_attention 2): k_attn_dec_part's grid and work, then
 * the last of a row's ns chunk blocks to finish merges them (k_attn_dec_merge's work): each
 * block fences its partial, and one thread counts it in cnt[r] (B Hq counters, zero before
 * the launch; the last block sets its row's back to zero, so a replayed graph finds them so);
 * the block that counts ns reads the row's partials through L2. A decoding step's 24 merge
 * launches of ~4 us each (session 17's profile: 6.5 % of the step) go. */
__global__ void __launch_bounds__(AT_SK_KC)
    k_attn_dec_fused(const float *q, const float *k, const float *v, float *part, const float *bias,
                     const int32_t *klen, const int32_t *p0, int causal, float scale, int64_t Tk, int64_t Hq,
                     int64_t Hkv, int64_t D, int vec, float *out, float *lse, unsigned *cnt) {
  static_assert(AT_SK_KC == AT_SK_MT, "the merge runs on a chunk's block");
  __shared__ int last;
  const int64_t r = blockIdx.x, b = r / Hq;
  const int64_t lim = at_lim(klen ? klen[b] : Tk, causal, p0 ? p0[b] : 0, 0, Tk);
  /* the chunks that write: at most the grid's (a kv_len past Tk, which the op refuses on the
   * host but a replayed step's lengths are not checked there, must not leave a count short) */
  int64_t ns = (lim + AT_SK_KC - 1) / AT_SK_KC;
  if (ns > (int64_t)gridDim.y) ns = gridDim.y;
  if (!at_sk_chunk(q, k, v, part, bias, klen, p0, causal, scale, Tk, Hq, Hkv, D, vec)) {
    if (ns == 0 && blockIdx.y == 0) at_sk_merge(part, out, lse, r, 0, D, true); /* no key: the zero row */
    return;
  }
  __threadfence(); /* this thread's part of the partial, before the count that publishes it */
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(cnt + r, 1u) == (unsigned)(ns - 1);
  __syncthreads();
  if (!last) return;
  __threadfence();
  at_sk_merge(part + r * gridDim.y * (D + 2), out, lse, r, ns, D, true);
  if (threadIdx.x == 0) cnt[r] = 0;
}
