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
// fused kernel, or by default a split-key pair (at_decode_split; cuda_set_decode_attention). In the
// bf16 precision with cuda_set_flash_attention on, D 64/128 and no bias, forward and backward
// take the tensor-core flash kernels of cu_flash.cuh instead (no score matrix in memory); with
// cuda_set_cudnn_sdpa on, cuDNN's fused attention before them where it applies (cu_sdpa.cu).
#include <math.h>

#include "cu_common.h"

extern "C" {
#include "base/log.h"
}
#include "cu_attn_rows.cuh"
#include "cu_decode.cuh"
#include "cu_flash.cuh"

typedef struct at_dims {
  int64_t B, Tq, Tk, Hq, Hkv, D, grp;
} at_dims;

static at_dims at_dims_of(const tensor *q, const tensor *k) {
  at_dims d = {q->ne[0], q->ne[1], k->ne[1], q->ne[2], k->ne[2], q->ne[3], q->ne[2] / k->ne[2]};
  return d;
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

/* the kv_len / q_pos0 host arrays (B) on the device (staged once per step: they repeat) */
static int at_stage(backend *be, const at_dims *d, const attn_cfg *cfg, const int32_t **dk, const int32_t **dp) {
  size_t nb = sizeof(int32_t) * (size_t)d->B;
  *dk = NULL, *dp = NULL;
  /* one per sequence, each advancing by its new tokens in a decoding step */
  if (cfg->kv_len) TS_TRY(cu_stage_same(be, cfg->kv_len, nb, SR_ADVANCE, (const void **)dk));
  if (cfg->q_pos0) TS_TRY(cu_stage_same(be, cfg->q_pos0, nb, SR_ADVANCE, (const void **)dp));
  return TS_OK;
}

static int at_decode(backend *be, const at_dims *d, const tensor *q, const tensor *k, const tensor *v, tensor *out,
                     tensor *lse, const attn_cfg *cfg) {
  const int32_t *dk, *dp;
  TS_TRY(at_stage(be, d, cfg, &dk, &dp));
  k_attn_decode<<<(unsigned)(d->B * d->Hq), AT_DEC_THREADS, sizeof(float) * (size_t)AT_DEC_SC(d->Tk), cu_stream()>>>(
      cu_f(q), cu_f(k), cu_f(v), cu_f(out), lse ? cu_f(lse) : NULL, cfg->bias ? cu_f(cfg->bias) : NULL,
      dk, dp, cfg->causal, cfg->scale, d->Tk, d->Hq, d->Hkv, d->D);
  CU_LAUNCHED("k_attn_decode");
  return TS_OK;
}

/* the scratch bytes of the split-key path, 0 when it does not take this step */
static size_t at_split_bytes(const at_dims *d) {
  int64_t S = (d->Tk + AT_SK_KC - 1) / AT_SK_KC;
  if (d->D > AT_SK_MAXD || d->B * d->Hq > (int64_t)(AT_SK_SCRATCH / sizeof(float))) return 0;
  size_t bytes = sizeof(float) * (size_t)(d->B * d->Hq) * (size_t)(S * (d->D + 2));
  return bytes <= AT_SK_SCRATCH ? bytes : 0;
}

/* k_attn_dec_fused's counters for n rows, or NULL for the two launches: the switch is not 2, n
 * passes AT_SK_CNT, or they could not be made (no memory: logged once) or are not made yet
 * while a step is captured (a capture may not allocate; cuda_set_decode_attention(2) makes
 * them up front). Made once, zeroed, and kept: each launch leaves them zero. */
unsigned *cu_dec_counters(cu_ctx *c, int64_t n) {
  static int warned;
  if (c->dec_attn != 2 || n > AT_SK_CNT) return NULL;
  if (!c->dec_cnt && !c->gr_capturing) {
    unsigned *p = NULL;
    cudaError_t st = cudaMalloc((void **)&p, sizeof(unsigned) * AT_SK_CNT);
    if (st == cudaSuccess) st = cudaMemsetAsync(p, 0, sizeof(unsigned) * AT_SK_CNT, cu_stream()); /* before use */
    if (st == cudaSuccess) {
      c->dec_cnt = p;
    } else {
      if (p) cudaFree(p);
      cudaGetLastError(); /* not sticky: the two launches go on */
      if (!warned++) log_warn("cuda: no memory for the decoding attention's counters (%s): two launches", cudaGetErrorString(st));
    }
  }
  return c->dec_cnt;
}

static int at_decode_split(backend *be, const at_dims *d, const tensor *q, const tensor *k, const tensor *v,
                           tensor *out, tensor *lse, const attn_cfg *cfg, size_t bytes) {
  const int32_t *dk, *dp;
  TS_TRY(at_stage(be, d, cfg, &dk, &dp));
  float *part; /* (B Hq, S, D + 2) */
  TS_TRY(cu_scratch(be, bytes, (void **)&part));
  int64_t S = (d->Tk + AT_SK_KC - 1) / AT_SK_KC;
  int vec = d->D % 4 == 0 && !(((uintptr_t)cu_f(k) | (uintptr_t)cu_f(v)) & 15) ? 1 + (g_cu_elem_vec != 0) : 0;
  unsigned *cnt = cu_dec_counters(cu_of(be), d->B * d->Hq);
  if (cnt) { /* one launch: the last chunk of each row merges it */
    k_attn_dec_fused<<<dim3((unsigned)(d->B * d->Hq), (unsigned)S), AT_SK_KC, 0, cu_stream()>>>(
        cu_f(q), cu_f(k), cu_f(v), part, cfg->bias ? cu_f(cfg->bias) : NULL, dk, dp, cfg->causal, cfg->scale, d->Tk,
        d->Hq, d->Hkv, d->D, vec, cu_f(out), lse ? cu_f(lse) : NULL, cnt);
    CU_LAUNCHED("k_attn_dec_fused");
    return TS_OK;
  }
  k_attn_dec_part<<<dim3((unsigned)(d->B * d->Hq), (unsigned)S), AT_SK_KC, 0, cu_stream()>>>(
      cu_f(q), cu_f(k), cu_f(v), part, cfg->bias ? cu_f(cfg->bias) : NULL, dk, dp,
      cfg->causal, cfg->scale, d->Tk, d->Hq, d->Hkv, d->D, vec);
  CU_LAUNCHED("k_attn_dec_part");
  k_attn_dec_merge<<<(unsigned)(d->B * d->Hq), AT_SK_MT, 0, cu_stream()>>>(part, cu_f(out), lse ? cu_f(lse) : NULL,
                                                          dk, dp, cfg->causal, d->Tk,
                                                          d->Hq, d->D, S);
  CU_LAUNCHED("k_attn_dec_merge");
  return TS_OK;
}

/* the softmax rows of a chunk (nrows of them): in registers up to AR_REG_MAX keys, else the
 * three-pass kernel */
static int at_softmax(float *S, int64_t TTp, float *lse, const float *bias, const at_dims *d, int64_t nrows,
                      const int32_t *kl, const int32_t *p0, int causal) {
  unsigned g = (unsigned)nrows;
  int64_t Tk = d->Tk;
#define AT_SMX(P) k_attn_softmax_reg<P><<<g, AR_THREADS, 0, cu_stream()>>>(S, TTp, lse, bias, d->Hq, d->Tq, Tk, kl, p0, causal)
  switch (ar_per(Tk)) {
    case 1: AT_SMX(1); break;
    case 2: AT_SMX(2); break;
    case 4: AT_SMX(4); break;
    case 8: AT_SMX(8); break;
    case 16: AT_SMX(16); break;
    default:
      k_attn_softmax<<<g, AR_THREADS, 0, cu_stream()>>>(S, TTp, lse, bias, d->Hq, d->Tq, Tk, kl, p0, causal);
  }
#undef AT_SMX
  CU_LAUNCHED("k_attn_softmax");
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
  dim3 grid((unsigned)((d->Tq + FL_BQ - 1) / FL_BQ), (unsigned)d->Hq, (unsigned)d->B);
  k_flash_fwd<D><<<grid, FL_THREADS, fl_geom<D>::bytes, cu_stream()>>>(cu_f(q), cu_f(k), cu_f(v), cu_f(out), cu_f(lse),
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
  int64_t rows = d->B * d->Hq * d->Tq;
  /* grouped heads: the dK/dV kernel takes a block per query head, into scratch (split), and
   * the groups' sums follow */
  size_t bd = cu_rnd(sizeof(float) * (size_t)rows), bg = cu_rnd(sizeof(float) * (size_t)(d->B * d->Hq * d->Tk * D));
  /* (a scratch past the batched path's budget: one block per kv head walking its group) */
  int split = d->grp > 1 && (dk || dv) && (dk ? bg : 0) + (dv ? bg : 0) <= CU_ATTN_SCRATCH;
  char *cur;
  TS_TRY(cu_scratch(be, bd + (split && dk ? bg : 0) + (split && dv ? bg : 0), (void **)&cur));
  float *dot = (float *)cu_carve(&cur, bd);
  float *gk = split && dk ? (float *)cu_carve(&cur, bg) : NULL, *gv = split && dv ? (float *)cu_carve(&cur, bg) : NULL;
  k_flash_dot<D><<<cu_blocks(rows * 32), 256, 0, cu_stream()>>>(cu_f(dout), cu_f(out), dot, (int)d->B, (int)d->Tq,
                                                                (int)d->Hq); /* a warp per row */
  CU_LAUNCHED("k_flash_dot");
  if (dk || dv) {
    dim3 grid((unsigned)((d->Tk + FL_BK - 1) / FL_BK), (unsigned)(split ? d->Hq : d->Hkv), (unsigned)d->B);
    k_flash_bwd_kv<D><<<grid, FL_THREADS, fl_bwd_geom<D>::bytes, cu_stream()>>>(
        cu_f(q), cu_f(k), cu_f(v), cu_f(dout), cu_f(lse), dot, split ? gk : cu_f(dk), split ? gv : cu_f(dv), (int)d->Tq,
        (int)d->Tk, (int)d->Hq, (int)d->Hkv, cfg->scale, cfg->causal, dkl, dp0, split);
    CU_LAUNCHED("k_flash_bwd_kv");
    int64_t n = d->B * d->Tk * d->Hkv * D;
    if (split && dk) {
      k_flash_gsum<D><<<cu_blocks(n), 256, 0, cu_stream()>>>(cu_f(dk), gk, (int)d->B, (int)d->Tk, (int)d->Hkv,
                                                             (int)d->grp);
      CU_LAUNCHED("k_flash_gsum");
    }
    if (split && dv) {
      k_flash_gsum<D><<<cu_blocks(n), 256, 0, cu_stream()>>>(cu_f(dv), gv, (int)d->B, (int)d->Tk, (int)d->Hkv,
                                                             (int)d->grp);
      CU_LAUNCHED("k_flash_gsum");
    }
  }
  if (dq) {
    dim3 grid((unsigned)((d->Tq + FL_BQ - 1) / FL_BQ), (unsigned)d->Hq, (unsigned)d->B);
    k_flash_bwd_q<D><<<grid, FL_THREADS, fl_q_geom<D>::bytes, cu_stream()>>>(cu_f(q), cu_f(k), cu_f(v), cu_f(dout), cu_f(lse), dot,
                                                               cu_f(dq), (int)d->Tq, (int)d->Tk, (int)d->Hq,
                                                               (int)d->Hkv, cfg->scale, cfg->causal, dkl, dp0);
    CU_LAUNCHED("k_flash_bwd_q");
  }
  return TS_OK;
}

/* the kernels' >48 KB dynamic shared memory opt-in, tried once per head size; where the device
 * refuses it (logged once) attention keeps the batched path */
template <int D>
static int at_flash_ready(void) {
  static int state; /* 0 untried, 1 ready, -1 refused */
  if (!state) {
    cudaError_t st = cudaFuncSetAttribute(k_flash_fwd<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          (int)fl_geom<D>::bytes);
    if (st == cudaSuccess)
      st = cudaFuncSetAttribute(k_flash_bwd_kv<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                (int)fl_bwd_geom<D>::bytes);
    if (st == cudaSuccess)
      st = cudaFuncSetAttribute(k_flash_bwd_q<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                (int)fl_q_geom<D>::bytes);
    state = st == cudaSuccess ? 1 : -1;
    if (st != cudaSuccess) {
      cu_fail("cudaFuncSetAttribute(flash attention; the batched path is used instead)", st);
      cudaGetLastError(); /* not sticky: clear it */
    }
  }
  return state == 1;
}

static int at_flash_applies(backend *be, const at_dims *d, const tensor *lse, const attn_cfg *cfg) {
  cu_ctx *c = cu_of(be);
  if (!(c->flash && c->gemm == TS_GEMM_BF16 && (d->D == 64 || d->D == 128) && !cfg->bias && lse && d->Tk >= 1 &&
        d->Tq <= 2147483647LL && d->Tk <= 2147483647LL && d->B <= 65535 && d->Hq <= 65535))
    return 0;
  return d->D == 64 ? at_flash_ready<64>() : at_flash_ready<128>();
}

int cu_attention(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out, tensor *lse,
                 const attn_cfg *cfg) {
  at_dims d = at_dims_of(q, k);
  int64_t TTp = at_pad4(d.Tq * d.Tk), rows = d.Hq * d.Tq, qs = d.Hq * d.D, ks = d.Hkv * d.D;
  if (d.B <= 0 || rows <= 0 || d.D <= 0) return TS_OK;
  if (d.Tq == 1 && d.Tk >= 1 && d.Tk <= AT_DEC_MAX_TK && d.B * d.Hq <= 2147483647LL) { /* a decoding step */
    size_t sb = cu_of(be)->dec_attn ? at_split_bytes(&d) : 0;
    return sb ? at_decode_split(be, &d, q, k, v, out, lse, cfg, sb) : at_decode(be, &d, q, k, v, out, lse, cfg);
  }
  if (d.Tk <= 0) { /* no keys: zero output, lse = -inf (as the softmax kernel gives a row with none) */
    TS_TRY(be->ops->fill(be, out, 0.0f));
    if (lse) TS_TRY(be->ops->fill(be, lse, -INFINITY));
    return TS_OK;
  }
  int done = 0; /* cuDNN's fused attention first, when switched on and it takes the call */
  TS_TRY(cu_sdpa_fwd(be, q, k, v, out, lse, cfg, &done));
  if (done) return TS_OK;
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
    k_attn_ptrs<<<cu_blocks(t.n * per), 256, 0, cu_stream()>>>(tab, t, n, d.Hq);
    CU_LAUNCHED("k_attn_ptrs");
    TS_TRY(cu_gemm_ptr(be, 0, 1, d.Tq, d.Tk, d.D, cfg->scale, tab + tq * per, qs, tab + tk * per, ks, 0.0f,
                       (float *const *)(tab + ts * per), d.Tk, per, al));
    TS_TRY(at_softmax(S, TTp, lse ? cu_f(lse) + b0 * rows : NULL, bias, &d, n * rows, dkl ? dkl + b0 : NULL,
                      dp0 ? dp0 + b0 : NULL, cfg->causal));
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
  tensor *gs[3] = {dq, dk, dv};
  if (d.B <= 0 || rows <= 0 || d.D <= 0 || d.Tk <= 0) { /* no query or no key: zero gradients */
    for (int i = 0; i < 3 && cfg->grad_set; i++)
      if (gs[i]) TS_TRY(cu_fill(be, gs[i], 0.0f));
    return TS_OK;
  }
  if (!dq && !dk && !dv && !dbias) return TS_OK;
  if (!dbias) {
    int done = 0;
    TS_TRY(cu_sdpa_bwd(be, q, k, v, out, lse, dout, dq, dk, dv, cfg, &done));
    if (done) return TS_OK;
  }
  for (int i = 0; i < 3 && cfg->grad_set; i++) /* written, not added: the kernels below add, so from zero */
    if (gs[i]) TS_TRY(cu_fill(be, gs[i], 0.0f));
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
    k_attn_ptrs<<<cu_blocks(t.n * per), 256, 0, cu_stream()>>>(tab, t, n, d.Hq);
    CU_LAUNCHED("k_attn_ptrs");
#define AT_T(i) (tab + (i) * per)
#define AT_W(i) ((float *const *)(tab + (i) * per))
    TS_TRY(cu_gemm_ptr(be, 0, 1, d.Tq, d.Tk, d.D, cfg->scale, AT_T(tq), qs, AT_T(tk), ks, 0.0f, AT_W(ts), d.Tk, per, al));
    k_attn_probs<<<(unsigned)(n * rows), 256, 0, cu_stream()>>>(S, TTp, cu_f(lse) + b0 * rows, bias, d.Hq, d.Tq, d.Tk, dkl ? dkl + b0 : NULL,
                                               dp0 ? dp0 + b0 : NULL, cfg->causal);
    CU_LAUNCHED("k_attn_probs");
    if (dv) { /* dV_h (Tk, D) = P_h^T dO_h */
      TS_TRY(cu_gemm_ptr(be, 1, 0, d.Tk, d.D, d.Tq, 1.0f, AT_T(ts), d.Tk, AT_T(tgo), qs, beta_kv, AT_W(tdv),
                         grouped ? d.D : ks, per, al));
      if (grouped) {
        k_attn_gsum<<<cu_blocks(n * d.Tk * ks), 256, 0, cu_stream()>>>(cu_f(dv) + b0 * d.Tk * ks, gV, KDp, n, d.Tk, d.Hkv, d.grp, d.D);
        CU_LAUNCHED("k_attn_gsum");
      }
    }
    if (!dq && !dk && !dbias) continue;
    /* dP_h = dO_h V_kh^T, then dS in place (and dbias) */
    TS_TRY(cu_gemm_ptr(be, 0, 1, d.Tq, d.Tk, d.D, 1.0f, AT_T(tgo), qs, AT_T(tv), ks, 0.0f, AT_W(tdp), d.Tk, per, al));
    k_attn_ds<<<(unsigned)rows, 128, 0, cu_stream()>>>(S, dP, TTp, cu_f(dout) + b0 * d.Tq * qs, cu_f(out) + b0 * d.Tq * qs,
                                       dbias ? cu_f(dbias) : NULL, n, d.Tq, d.Tk, d.Hq, d.D);
    CU_LAUNCHED("k_attn_ds");
    if (dq) /* dQ_h += scale dS_h K_kh */
      TS_TRY(cu_gemm_ptr(be, 0, 0, d.Tq, d.D, d.Tk, cfg->scale, AT_T(tdp), d.Tk, AT_T(tk), ks, 1.0f, AT_W(tdq), qs, per, al));
    if (dk) { /* dK_h (Tk, D) = scale dS_h^T Q_h */
      TS_TRY(cu_gemm_ptr(be, 1, 0, d.Tk, d.D, d.Tq, cfg->scale, AT_T(tdp), d.Tk, AT_T(tq), qs, beta_kv, AT_W(tdk),
                         grouped ? d.D : ks, per, al));
      if (grouped) {
        k_attn_gsum<<<cu_blocks(n * d.Tk * ks), 256, 0, cu_stream()>>>(cu_f(dk) + b0 * d.Tk * ks, gK, KDp, n, d.Tk, d.Hkv, d.grp, d.D);
        CU_LAUNCHED("k_attn_gsum");
      }
    }
#undef AT_T
#undef AT_W
  }
  return TS_OK;
}
