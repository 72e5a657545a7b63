// cu_matmul.cu — batched matmul with optional transposes and bias on cuBLAS (row-major
// operands mapped onto column-major sgemm by cu_gemm; one GEMM with its bias on cuBLASLt with
// cuda_set_lt, kernels/cu_lt.cu); while generate holds the weights' bf16 copy (bf16
// precision), x W^T on bf16 operands; a small-row kernel for decoding's x W^T (behind
// cuda_set_decode_kernels); and the backward with the bias gradient as a column reduction.
#include "cu_common.h"
#include "cu_smallm.cuh"

extern "C" {
#include "base/log.h"
}

typedef struct mm_geom {
  int64_t batch, rows, cols;
} mm_geom;

static mm_geom mm_geom_of(const tensor *t) {
  mm_geom g;
  g.rows = t->ne[t->ndim - 2];
  g.cols = t->ne[t->ndim - 1];
  g.batch = g.rows * g.cols > 0 ? tensor_numel(t) / (g.rows * g.cols) : 0;
  return g;
}

/* C rows = bias (+ beta C) */
__global__ void k_bias_rows(float *c, const float *bias, int64_t rows, int64_t N, float beta) {
  CU_LOOP(i, rows * N) {
    float b = bias[i % N];
    c[i] = beta == 0.0f ? b : beta * c[i] + b;
  }
}

/* the weights' size (N K elements) up to which dec2 = 2 (the default) takes the small-row
 * kernel: a Qwen2.5-0.5B step's q/k/v, o and down projections (1.0, 0.8 and 4.4 M), not gate/up
 * (8.7 M) or the head (136 M). In CUDA graphs on an H100 (2026-11-27, session 16) the small-row
 * kernel took 4, 3 and 8 us for the first three against cuBLASLt's 5, 5 and 10, and 14 and 177
 * against 10 and 104 for the last two; rollouts 5,101-5,108 tokens/s against 4,927-4,931 */
#define SM_SMALL_W ((int64_t)1 << 23)

/* whether the small-row kernel takes this matmul (decode kernels on, rows <= 16, float4 rows;
 * with dec2 = 2 only weights up to SM_SMALL_W) */
static int sm_fits(const cu_ctx *c, int64_t rows, int64_t N, int64_t K, const float *x, const float *w) {
  return (c->dec2 == 1 || (c->dec2 == 2 && N * K <= SM_SMALL_W)) && rows >= 1 && rows <= 16 && N >= 1 && K >= 4 &&
         K % 4 == 0 && !((uintptr_t)x & 15) && !((uintptr_t)w & 15);
}

/* one launch of k_smallm_nt<MM, W, ONE>: the ONE form (sm_one) on one wave of blocks, its
 * blocks per SM found once by the occupancy API; the per-tile form a block per tile */
template <int MM, typename W>
static void sm_launch(const float4 *x4, const W *w4, const float *bias, float *y, int64_t M, int64_t N, int64_t K4,
                      float beta, int sms) {
  constexpr bool can = MM >= 4;
  if (can && sm_one(MM, K4)) {
    static int per_sm = 0;
    if (!per_sm && cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k_smallm_nt<MM, W, can>, SM_THREADS, 0) !=
                       cudaSuccess) {
      cudaGetLastError(); /* not sticky: one block per SM */
      per_sm = 1;
    }
    k_smallm_nt<MM, W, can><<<sm_blocks_on(MM, N, K4, sms, per_sm), SM_THREADS, 0, cu_stream()>>>(x4, w4, bias, y,
                                                                                                  (int)M, N, K4, beta);
  } else {
    k_smallm_nt<MM, W, false><<<sm_blocks(MM, N), SM_THREADS, 0, cu_stream()>>>(x4, w4, bias, y, (int)M, N, K4, beta);
  }
}

/* W: float4 (the f32 weights) or uint2 (their bf16 copy) */
template <typename W>
static int cu_smallm_nt(const float *x, const W *w4, const float *bias, float *y, int64_t M, int64_t N, int64_t K,
                        float beta, int sms) {
  const float4 *x4 = (const float4 *)x;
  int64_t K4 = K / 4;
  if (M <= 1)
    sm_launch<1, W>(x4, w4, bias, y, M, N, K4, beta, sms);
  else if (M <= 2)
    sm_launch<2, W>(x4, w4, bias, y, M, N, K4, beta, sms);
  else if (M <= 4)
    sm_launch<4, W>(x4, w4, bias, y, M, N, K4, beta, sms);
  else if (M <= 8)
    sm_launch<8, W>(x4, w4, bias, y, M, N, K4, beta, sms);
  else
    sm_launch<16, W>(x4, w4, bias, y, M, N, K4, beta, sms);
  CU_LAUNCHED("k_smallm_nt");
  return TS_OK;
}

/* whether the copy holds bf16(w[0 .. n)) now (a rounding, then only cu_adamw_runs' updates) */
static int cu_wcopy_current(const cu_ctx *c, const float *w, int64_t n) {
  return c->wsync_on && c->wsync && c->wb && c->w == w && c->wn == n;
}

/* *cnt += the values where a and b differ (n) */
__global__ void k_bf16_diff(const unsigned short *a, const unsigned short *b, int64_t n, unsigned long long *cnt) {
  unsigned long long k = 0;
  CU_LOOP(i, n) k += a[i] != b[i];
  if (k) atomicAdd(cnt, k);
}

/* TSASR_CUDA_WCOPY_CHECK=1: the copy AdamW kept current against a fresh rounding of w, in
 * chunks through scratch; differing values are counted (wbad, logged) and the copy repaired */
static int cu_wcopy_check(backend *be, const float *w, int64_t n) {
  cu_ctx *c = cu_of(be);
  const int64_t ch = (int64_t)1 << 26;
  unsigned short *s;
  TS_TRY(cu_scratch(be, sizeof(unsigned short) * (size_t)(n < ch ? n : ch), (void **)&s));
  unsigned long long *cnt = (unsigned long long *)c->red, bad = 0; /* the sum of squares' slot, free between its calls */
  for (int64_t o = 0; o < n; o += ch) {
    int64_t m = n - o < ch ? n - o : ch;
    unsigned long long k = 0;
    CU_TRY(cudaMemsetAsync(cnt, 0, sizeof k, cu_stream()));
    TS_TRY(cu_round_bf16(w + o, s, m));
    k_bf16_diff<<<cu_blocks(m), 256, 0, cu_stream()>>>(s, c->wb + o, m, cnt);
    CU_LAUNCHED("k_bf16_diff");
    CU_TRY(cudaMemcpy(&k, cnt, sizeof k, cudaMemcpyDeviceToHost));
    if (k) CU_TRY(cudaMemcpyAsync(c->wb + o, s, sizeof(unsigned short) * (size_t)m, cudaMemcpyDeviceToDevice, cu_stream()));
    bad += k;
  }
  if (bad) {
    c->wbad += (long)bad;
    log_error("cuda: the weights' bf16 copy kept by AdamW differed from w in %llu of %lld values (repaired)", bad,
              (long long)n);
  }
  return TS_OK;
}

/* The bf16 copy of the weights (decoding's, on = 1; a training step's, on = 2, only with
 * TSASR_CUDA_TRAIN_COPY=1 or TSASR_CUDA_BF16_ACTS=1, kept allocated between steps): in the bf16 precision, on rounds the n parameters
 * at w into a device copy (~1 ms per GB of f32 on an H100) that x W^T then reads for weights
 * inside [w, w + n): cuBLAS on bf16 operands (x rounded too: the rounding FAST_16BF applies
 * to both anyway; products and sums stay f32), or the small-row kernel with the decoding
 * kernels on (x stays f32 there). Half the bytes a decoding step streams. The CPU does the
 * same with its mirror (gemm_mirror.c), but leaves GEMMs under its size rule in f32, so bf16
 * decoding differs between the two in rounding. on = 0
 * stops it and frees the copy. No copy (another precision, w not 16-byte aligned, no memory
 * for it, TSASR_CUDA_WEIGHT_COPY=0) leaves the f32 weights in use. */
int cu_weights_bf16(backend *be, const float *w, int64_t n, int on) {
  cu_ctx *c = cu_of(be);
  /* a training step without TSASR_CUDA_TRAIN_COPY=1 or TSASR_CUDA_BF16_ACTS=1: its bracket
   * changes nothing (a copy a generate call made stays) */
  if (on == 2 && !c->train_copy && !c->act16) {
    c->tnop = 1;
    return TS_OK;
  }
  if (on == 1 && (c->tnop || (c->won && c->wkeep && w == c->w && n == c->wn))) {
    /* a generate call inside such a step (no copy either), or inside a step whose copy covers
     * the same weights (that copy serves, and stays for the rest of the step) */
    c->gnop = 1;
    return TS_OK;
  }
  if (!on && (c->gnop || c->tnop)) { /* the innermost open bracket closes */
    if (c->gnop)
      c->gnop = 0;
    else
      c->tnop = 0;
    return TS_OK;
  }
  c->won = 0;
  if (!on && c->wkeep) { /* a training step's copy: kept for the next step, which rounds again */
    c->wkeep = 0;
    return TS_OK;
  }
  if (!on) { /* released: training between rollouts wants the memory */
    c->mem_epoch++; /* a kept decoding graph reads them */
    c->wsync = 0;
    if (c->wb) cudaFree(c->wb);
    c->wb = NULL, c->wb_cap = 0;
    /* the rounding buffer stays (at most XS_MAX values): the backward's dC roundings use it
     * without a copy too (cu_round_want_bwd), and GRPO would free and make it again each step */
    c->xs_y = NULL;
    return TS_OK;
  }
  /* the small-row kernel's 8-byte loads need w (and so every 16-byte aligned weight in it) at a
   * 16-byte boundary */
  if (c->no_wcopy || c->gemm != TS_GEMM_BF16 || !w || n <= 0 || ((uintptr_t)w & 15)) return TS_OK;
  size_t bytes = sizeof(unsigned short) * (size_t)n;
  if (c->wb_cap < bytes) {
    c->mem_epoch++;
    c->wsync = 0;
    if (c->wb) cudaFree(c->wb);
    c->wb = NULL, c->wb_cap = 0;
    if (cudaMalloc((void **)&c->wb, bytes) != cudaSuccess) {
      cudaGetLastError(); /* not sticky: the f32 weights serve */
      c->wb = NULL;
      return TS_OK;
    }
    c->wb_cap = bytes;
  }
  if (cu_wcopy_current(c, w, n)) { /* AdamW kept it current: no rounding */
    c->wskips++;
    if (c->wcheck) TS_TRY(cu_wcopy_check(be, w, n));
  } else {
    TS_TRY(cu_round_bf16(w, c->wb, n));
  }
  c->w = w, c->wn = n, c->won = 1, c->wkeep = on == 2;
  c->wsync = 1;
  return TS_OK;
}

void cu_wcopy_touch(cu_ctx *c, const void *p, size_t bytes) {
  const char *a = (const char *)p, *w = (const char *)c->w;
  if (c->wsync && w && a < w + sizeof(float) * (size_t)c->wn && w < a + bytes) c->wsync = 0;
}

unsigned short *cu_wcopy_follow(cu_ctx *c, const float *p, int64_t begin, int64_t end) {
  if (c->wsync_on && p == c->w && begin >= 0 && end <= c->wn && cu_wcopy_current(c, c->w, c->wn)) return c->wb;
  if (end > begin) cu_wcopy_touch(c, p + begin, sizeof(float) * (size_t)(end - begin));
  return NULL;
}

/* at most this many values rounded by the writing op (cu_round_want, cu_round_want_bwd):
 * decoding's and prefill's rows, a training step's up to this size when its copy is on, and
 * the gradients that a backward GEMM takes as dC (the paper geometry's largest: the encoder's
 * GELU, 16.4 M values at micro-batch 4, 65.5 M at 16; the buffer is then 131 MB) */
#define XS_MAX ((size_t)64 << 20)

/* the rounding buffer, at least n values; NULL when it cannot grow now */
static unsigned short *xs_buffer(cu_ctx *c, int64_t n) {
  if (n <= 0 || (size_t)n > XS_MAX) return NULL;
  if (c->xs_cap < (size_t)n) {
    if (c->gr_capturing) return NULL; /* no cudaFree while a step is captured */
    c->mem_epoch++;
    if (c->xs) cudaFree(c->xs);
    c->xs = NULL, c->xs_cap = 0;
    size_t cap = (size_t)n < ((size_t)1 << 16) ? ((size_t)1 << 16) : (size_t)n;
    if (cudaMalloc((void **)&c->xs, sizeof(unsigned short) * cap) != cudaSuccess) {
      cudaGetLastError(); /* not sticky: the GEMM rounds x itself */
      c->xs = NULL;
      return NULL;
    }
    c->xs_cap = cap;
  }
  return c->xs;
}

unsigned short *cu_round_want(backend *be, const float *y, int64_t n) {
  cu_ctx *c = cu_of(be);
  (void)y;
  c->xs_y = NULL; /* valid again only once made */
  return c->fuse_round && c->won ? xs_buffer(c, n) : NULL;
}

unsigned short *cu_round_want_bwd(backend *be, const float *g, int64_t n) {
  cu_ctx *c = cu_of(be);
  (void)g;
  c->xs_y = NULL;
  return c->fuse_round && c->gemm == TS_GEMM_BF16 ? xs_buffer(c, n) : NULL;
}

void cu_round_made(backend *be, const float *y, int64_t n) {
  cu_ctx *c = cu_of(be);
  c->xs_y = y, c->xs_n = n, c->xs_mark = c->launches, c->xs_ext = NULL;
}

void cu_round_have(backend *be, const float *y, int64_t n, const unsigned short *bits) {
  cu_ctx *c = cu_of(be);
  if (!c->fuse_round) return; /* the fused rounding off (an A/B): the GEMM rounds y itself */
  c->xs_y = y, c->xs_n = n, c->xs_mark = c->launches, c->xs_ext = bits;
}

/* the rounding of x (n values) made by the op that wrote it, if nothing was launched since */
static const unsigned short *cu_round_of(const cu_ctx *c, const float *x, int64_t n) {
  if (!(c->xs_y && c->xs_y == x && c->xs_n == n && c->xs_mark == c->launches)) return NULL;
  return c->xs_ext ? c->xs_ext : c->xs;
}

ts_dtype cu_act_dtype(backend *be) {
  const cu_ctx *c = cu_of(be);
  return c->act16 && c->gemm == TS_GEMM_BF16 ? DT_BF16 : DT_F32;
}

/* a bf16 activation (n values) widened into f32 scratch: its exact values, for the f32-operand
 * GEMMs (no bf16 copy of the weight, or another form than x W^T) */
static int cu_widen(backend *be, const tensor *a, const float **out) {
  int64_t n = tensor_numel(a);
  float *f;
  TS_TRY(cu_scratch(be, sizeof(float) * (size_t)(n > 0 ? n : 1), (void **)&f));
  TS_TRY(cu_widen_bf16((const unsigned short *)a->data, f, n));
  *out = f;
  return TS_OK;
}

/* the bf16 copy of the count weights at p, or NULL when it has none */
static const unsigned short *cu_weights_copy(const cu_ctx *c, const float *p, int64_t count) {
  if (!c->won || p < c->w || p + count > c->w + c->wn) return NULL;
  return c->wb + (p - c->w);
}

/* y (rows,N) = beta y + bias + x op(W), x (rows,K) and W both f32 or both bf16 (raw bits): on
 * cuBLASLt with the bias as the GEMM's epilogue (cuda_set_lt), else the bias as a pass of its
 * own and one cuBLAS GEMM. r (NULL: none; then beta is 1): the residual read in y's place, as
 * cuBLASLt's C while y is its D; the other paths copy it into y first (r_copy) */
static int r_copy(const float *r, float *y, int64_t n) {
  CU_TRY(cudaMemcpyAsync(y, r, sizeof(float) * (size_t)n, cudaMemcpyDeviceToDevice, cu_stream()));
  return TS_OK;
}
static int mm_one(backend *be, int bf16, int tb, int64_t rows, int64_t N, int64_t K, const void *x, int64_t ldx,
                  const void *w, int64_t ldw, const float *bias, float beta, float *y, const float *r) {
  cu_lt_call g = {0, tb, rows, N, K, bf16, x, ldx, w, ldw, bias, 1.0f, beta, y, N, r};
  int done;
  TS_TRY(cu_lt_gemm(be, &g, &done));
  if (done) return TS_OK;
  if (r) TS_TRY(r_copy(r, y, rows * N));
  if (bias) {
    k_bias_rows<<<cu_blocks(rows * N), 256, 0, cu_stream()>>>(y, bias, rows, N, beta);
    CU_LAUNCHED("k_bias_rows");
    beta = 1.0f;
  }
  if (bf16)
    return cu_gemm_bf16(be, 0, tb, rows, N, K, (const unsigned short *)x, ldx, (const unsigned short *)w, ldw, beta,
                        y, N);
  return cu_gemm(be, 0, tb, rows, N, K, 1.0f, (const float *)x, ldx, 0, (const float *)w, ldw, 0, beta, y, N, 0, 1);
}

/* cu_matmul, and with r (NULL: none) the residual cu_matmul_res reads in c's place (beta 1) */
static int mm_run(backend *be, const tensor *a, const tensor *b, const tensor *bias, tensor *c, int ta, int tb,
                  float beta, const float *r) {
  mm_geom ga = mm_geom_of(a), gb = mm_geom_of(b), gc = mm_geom_of(c);
  int64_t M = gc.rows, N = gc.cols, K = ta ? ga.rows : ga.cols;
  float *cp = cu_f(c);
  const float *ap = cu_f(a), *bp = cu_f(b);
  if (gc.batch == 0) return TS_OK;
  /* x stored in bf16 (op_act_dtype): read as it is against the weight's bf16 copy, else widened */
  const unsigned short *a16 = a->dtype == DT_BF16 ? (const unsigned short *)a->data : NULL;
  if (a16 && !(gb.batch == 1 && !ta && tb && K > 0 && cu_weights_copy(cu_of(be), bp, N * K))) {
    TS_TRY(cu_widen(be, a, &ap));
    a16 = NULL;
  }
  /* few rows against a shared (N, K) weight, the batch folded into the rows (A's rows are
   * contiguous across the batch): the small-row kernel, bias included */
  if (!a16 && gb.batch == 1 && !ta && tb && sm_fits(cu_of(be), gc.batch * M, N, K, ap, bp)) {
    if (r) TS_TRY(r_copy(r, cp, gc.batch * M * N)); /* the small-row kernel adds onto c */
    const unsigned short *wb = cu_weights_copy(cu_of(be), bp, N * K);
    if (wb && !((bp - cu_of(be)->w) & 3)) /* the kernel's 8-byte loads: w 16-byte aligned, p - w % 4 == 0 */
      return cu_smallm_nt(ap, (const uint2 *)wb, bias ? cu_f(bias) : NULL, cp, gc.batch * M, N, K, beta, cu_of(be)->sms);
    return cu_smallm_nt(ap, (const float4 *)bp, bias ? cu_f(bias) : NULL, cp, gc.batch * M, N, K, beta, cu_of(be)->sms);
  }
  /* x W^T against a weight with a bf16 copy: x rounded to bf16 (by the op that wrote it, or
   * here into scratch), one GEMM on bf16 operands */
  const unsigned short *wb = gb.batch == 1 && !ta && tb && K > 0 ? cu_weights_copy(cu_of(be), bp, N * K) : NULL;
  const unsigned short *xr = a16 ? a16 : wb ? cu_round_of(cu_of(be), ap, gc.batch * M * K) : NULL;
  unsigned short *xb = NULL; /* (batch M, K) */
  if (wb && !xr) TS_TRY(cu_scratch(be, sizeof(unsigned short) * (size_t)(gc.batch * M * K), (void **)&xb));
  int one = wb || (gb.batch == 1 && !ta); /* one GEMM over all batches: A rows are contiguous across the batch */
  if (r && !one) { /* the batched GEMM adds onto c */
    TS_TRY(r_copy(r, cp, gc.batch * M * N));
    r = NULL;
  }
  if (bias && !one) {
    int64_t rows = gc.batch * M;
    k_bias_rows<<<cu_blocks(rows * N), 256, 0, cu_stream()>>>(cp, cu_f(bias), rows, N, beta);
    CU_LAUNCHED("k_bias_rows");
    beta = 1.0f;
  }
  if (wb) {
    if (!xr) {
      TS_TRY(cu_round_bf16(ap, xb, gc.batch * M * K));
      xr = xb;
    }
    return mm_one(be, 1, 1, gc.batch * M, N, K, xr, K, wb, K, bias ? cu_f(bias) : NULL, beta, cp, r);
  }
  if (one) return mm_one(be, 0, tb, gc.batch * M, N, K, ap, K, bp, gb.cols, bias ? cu_f(bias) : NULL, beta, cp, r);
  return cu_gemm(be, ta, tb, M, N, K, 1.0f, ap, ga.cols, ga.rows * ga.cols, bp, gb.cols,
                 gb.batch == 1 ? 0 : gb.rows * gb.cols, beta, cp, N, M * N, gc.batch);
}

int cu_matmul(backend *be, const tensor *a, const tensor *b, const tensor *bias, tensor *c, int ta, int tb,
              float beta) {
  return mm_run(be, a, b, bias, c, ta, tb, beta, NULL);
}

/* be_ops.matmul_res: the residual read as cuBLASLt's C where the GEMM takes that path (cuda_set_matmul_res:
 * on by default), copied into c first elsewhere; r == c is matmul with beta 1 */
int cu_matmul_res(backend *be, const tensor *a, const tensor *b, const tensor *bias, const tensor *r, tensor *c, int ta,
                  int tb) {
  if (r->data == c->data) return mm_run(be, a, b, bias, c, ta, tb, 1.0f, NULL);
  if (!cu_of(be)->mres) { /* the op pair it replaces: copy, then beta 1 */
    /* the copy writes c alone, which overlaps no operand (op_matmul_res): a rounding offered
     * just before (cu_round_have: SDPA's bf16 out for this GEMM's a) stays valid across it, as
     * it did when the copy came before the attention */
    cu_ctx *cx = cu_of(be);
    int offer = cx->xs_y && cx->xs_mark == cx->launches;
    TS_TRY(cu_copy(be, r, c));
    if (offer) cx->xs_mark = cx->launches;
    return mm_run(be, a, b, bias, c, ta, tb, 1.0f, NULL);
  }
  return mm_run(be, a, b, bias, c, ta, tb, 1.0f, cu_f(r));
}

/* The backward of y = x W^T with x a bf16 activation x16 (rows, K), or an f32 one x32 rounded
 * to bf16 here (x16 NULL; cuda_set_bwd16), and W (N, K): dC rounded to bf16 once into scratch
 * (FAST_16BF would round it inside each GEMM), then dW += dC^T x on bf16 operands, and dx += dC
 * W on the weight's bf16 copy (else FAST_16BF on f32 dC and W); dab: dx's beta (0: written). */
static int cu_matmul_bwd16(backend *be, const unsigned short *x16, const float *x32, const float *w, const float *g,
                           const unsigned short *g16in, tensor *da, tensor *db, int64_t rows, int64_t N, int64_t K,
                           float dab) {
  size_t bg = g16in ? 0 : cu_rnd(sizeof(unsigned short) * (size_t)(rows * N)),
         bx = x16 ? 0 : cu_rnd(sizeof(unsigned short) * (size_t)(rows * K));
  char *cur = NULL;
  if (bg + bx) TS_TRY(cu_scratch(be, bg + bx, (void **)&cur));
  const unsigned short *g16 = g16in; /* (rows, N): dC rounded by the op that wrote it, or here */
  if (!x16) { /* (rows, K): the rounding the forward's GEMM applied to x */
    unsigned short *xb = (unsigned short *)cu_carve(&cur, bx);
    TS_TRY(cu_round_bf16(x32, xb, rows * K));
    x16 = xb;
  }
  if (!g16) {
    unsigned short *gb = (unsigned short *)cu_carve(&cur, bg);
    TS_TRY(cu_round_bf16(g, gb, rows * N));
    g16 = gb;
  }
  TS_TRY(cu_gemm_bf16(be, 1, 0, N, K, rows, g16, N, x16, K, 1.0f, cu_f(db), K)); /* dW (N,K) += dC^T x */
  if (!da) return TS_OK;
  const unsigned short *wb = cu_weights_copy(cu_of(be), w, N * K);
  if (wb) return cu_gemm_bf16(be, 0, 0, rows, K, N, g16, N, wb, K, dab, cu_f(da), K); /* dx (rows,K) += dC W */
  return cu_gemm(be, 0, 0, rows, K, N, 1.0f, g, N, 0, w, K, 0, dab, cu_f(da), K, 0, 1);
}

/* dA and dB of cu_matmul_bwd (its geometry; g16: dC's rounding made by the op that wrote it, or
 * NULL) */
static int mm_bwd_products(backend *be, const tensor *a, const tensor *b, tensor *da, tensor *db, mm_geom ga,
                           mm_geom gb, mm_geom gc, int ta, int tb, float dab, const float *g,
                           const unsigned short *g16) {
  int64_t M = gc.rows, N = gc.cols, K = ta ? ga.rows : ga.cols;
  const float *ap = cu_f(a), *bp = cu_f(b);
  int64_t lda = ga.cols, ldb = gb.cols, sa = ga.rows * ga.cols, sb = gb.rows * gb.cols;
  int fold = gb.batch == 1 && !ta; /* batches folded into M */
  if (a->dtype == DT_BF16 && db) {
    /* x W^T in the bf16 precision: both products on bf16 operands (in another precision a bf16 x
     * is only stored so: its values widened, the GEMMs as they are) */
    if (fold && tb && K > 0 && cu_of(be)->gemm == TS_GEMM_BF16)
      return cu_matmul_bwd16(be, (const unsigned short *)a->data, NULL, bp, g, g16, da, db, gc.batch * M, N, K, dab);
    TS_TRY(cu_widen(be, a, &ap)); /* another form: a's exact values in f32 */
  } else if (db && fold && tb && K > 0 && cu_of(be)->gemm == TS_GEMM_BF16 && cu_of(be)->bwd16 &&
             a->dtype == DT_F32) {
    /* an f32 x (the attention output, the residual stream) with cuda_set_bwd16: x rounded to
     * bf16 as well, so both products run on bf16 operands instead of f32 ones (TF32 kernels
     * on an H100: 13 ms of a paper-geometry SFT step, session 16) */
    return cu_matmul_bwd16(be, NULL, ap, bp, g, g16, da, db, gc.batch * M, N, K, dab);
  }
  if (da) {
    float *dap = cu_f(da);
    if (fold) /* dA (BM,K) += dC (BM,N) op(B)^T */
      TS_TRY(cu_gemm(be, 0, !tb, gc.batch * M, K, N, 1.0f, g, N, 0, bp, ldb, 0, dab, dap, K, 0, 1));
    else if (!ta) /* dA_i (M,K) += dC_i op(B_i)^T */
      TS_TRY(cu_gemm(be, 0, !tb, M, K, N, 1.0f, g, N, M * N, bp, ldb, gb.batch == 1 ? 0 : sb, dab, dap, lda, sa,
                     gc.batch));
    else /* dA_i stored (K,M) += op(B_i) dC_i^T */
      TS_TRY(cu_gemm(be, tb, 1, K, M, N, 1.0f, bp, ldb, gb.batch == 1 ? 0 : sb, g, N, M * N, dab, dap, lda, sa,
                     gc.batch));
  }
  if (db) {
    float *dbp = cu_f(db);
    if (fold) {
      if (!tb) /* dB (K,N) += A^T dC over all rows */
        TS_TRY(cu_gemm(be, 1, 0, K, N, gc.batch * M, 1.0f, ap, K, 0, g, N, 0, 1.0f, dbp, ldb, 0, 1));
      else /* dB stored (N,K) += dC^T A */
        TS_TRY(cu_gemm(be, 1, 0, N, K, gc.batch * M, 1.0f, g, N, 0, ap, K, 0, 1.0f, dbp, ldb, 0, 1));
    } else {
      /* a shared B (batch 1) gets every batch's contribution: separate GEMMs in stream order */
      int64_t nb = gb.batch == 1 ? gc.batch : 1, inner = gb.batch == 1 ? 1 : gc.batch;
      for (int64_t i = 0; i < nb; i++) {
        const float *ai = ap + i * sa;
        const float *gi = g + i * M * N;
        if (!tb) /* dB (K,N) += op(A)^T dC */
          TS_TRY(cu_gemm(be, !ta, 0, K, N, M, 1.0f, ai, lda, sa, gi, N, M * N, 1.0f, dbp, ldb, sb, inner));
        else /* dB stored (N,K) += dC^T op(A) */
          TS_TRY(cu_gemm(be, 1, ta, N, K, M, 1.0f, gi, N, M * N, ai, lda, sa, 1.0f, dbp, ldb, sb, inner));
      }
    }
  }
  return TS_OK;
}

int cu_matmul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da, tensor *db,
                  tensor *dbias, int ta, int tb, int da_set) {
  mm_geom ga = mm_geom_of(a), gb = mm_geom_of(b), gc = mm_geom_of(dc);
  int64_t M = gc.rows, N = gc.cols;
  const float dab = da_set ? 0.0f : 1.0f; /* dA written (beta 0) or added to */
  if (da && da_set && (N == 0 || M == 0 || gc.batch == 0)) { /* no product to write: dA is zero */
    TS_TRY(cu_fill(be, da, 0.0f));
    da = NULL;
  }
  if (M == 0 || N == 0 || gc.batch == 0) return TS_OK; /* no rows, or no columns of dC: nothing is added (the bf16 GEMMs refuse K 0) */
  const float *g = cu_f(dc);
  /* dC's rounding made by the op that wrote it (act_bwd, packed swiglu_bwd, merge_heads): looked
   * up before anything launches */
  const unsigned short *g16 = cu_round_of(cu_of(be), g, gc.batch * M * N);
  /* the bias's gradient last, its partials reserved first: a product failing for memory leaves
   * dbias as it was, and the column sum then allocates nothing */
  if (dbias) {
    double *part = NULL;
    TS_TRY(cu_colpart(be, sizeof(double) * (size_t)(cu_colred_gy(gc.batch * M, N, 128) * N), &part));
  }
  TS_TRY(mm_bwd_products(be, a, b, da, db, ga, gb, gc, ta, tb, dab, g, g16));
  return dbias ? cu_colsum_add(be, g, cu_f(dbias), gc.batch * M, N) : TS_OK;
}
