// cu_sdpa.cu — attention forward and backward on cuDNN's fused flash attention (its SDPA graph,
// built with the cuDNN frontend's graph API), behind cuda_set_cudnn_sdpa (off by default: not
// yet run on a GPU). On an H100 (2026-11-27, session 16) PyTorch's step ran the same 48 + 48
// attention calls on it in 2.9 + 4.1 ms where tsasr's flash kernels took 5.5 + 26.2.
//
// It takes the bf16 precision's training and prefill shapes: D a multiple of 8 up to 128, no
// additive bias, lse wanted, queries from position 0 (no q_pos0), keys padded per batch row
// (kv_len, each in 1..Tk: cuDNN's padding mask with seq_len_q = Tq) or not, causal (top-left,
// j <= i) or not, grouped-query heads. Anything else, or a shape whose graph cuDNN refuses
// (remembered per shape, logged once), goes back to the caller's kernels (*done = 0).
//
// cuDNN's flash attention reads and writes bf16: Q, K, V (and O, dO for the backward) are
// rounded into scratch, O is widened back into out, and the softmax statistics are written in
// f32 straight into lse (B, Hq, Tq): cuDNN's Stats is the row's natural log-sum-exp of the
// scaled, masked scores, the op's definition, so the backward may take any forward's lse. The
// backward's dQ, dK, dV come back in bf16 and are added into dq, dk, dv (the op adds
// gradients). Each shape's graph (forward or backward) is built once and kept with its
// workspace size by kernels/cu_sdpa_fe.cpp (the frontend's C++, compiled by the host compiler;
// cu_sdpa.h between the two). Built only with cuDNN and its frontend's headers
// (TS_HAVE_CUDNN_FE: PyPI's nvidia-cudnn-frontend, unpacked into .deps/cudnn_frontend by
// tests/gpu/fetch_debs.sh).
#include "cu_common.h"

extern "C" {
#include "base/log.h"
}

static long g_sd_calls, g_sd_fallbacks;

extern "C" void cuda_sdpa_counts(long *calls, long *fallbacks) {
  if (calls) *calls = g_sd_calls;
  if (fallbacks) *fallbacks = g_sd_fallbacks;
}

#if defined(TS_HAVE_CUDNN) && defined(TS_HAVE_CUDNN_FE)
#include <cudnn.h>
#include <stdio.h>
#include <stdlib.h>

#include "cu_sdpa.h"

cudnnHandle_t cu_dnn_handle(void); /* cu_cudnn.cu: NULL when cuDNN did not start */

__global__ void k_sd_round(const float *__restrict__ src, unsigned short *dst, int64_t n) {
  CU_LOOP(i, n) dst[i] = cu_bf16_bits(src[i]);
}
__global__ void k_sd_widen(const unsigned short *__restrict__ src, float *dst, int64_t n) {
  CU_LOOP(i, n) dst[i] = __uint_as_float((unsigned)src[i] << 16);
}
__global__ void k_sd_add(const unsigned short *__restrict__ src, float *dst, int64_t n) {
  CU_LOOP(i, n) dst[i] += __uint_as_float((unsigned)src[i] << 16);
}

/* whether this call is one cuDNN's SDPA takes (the switch, the bf16 precision, the shapes);
 * *padded: some row has fewer keys than Tk */
static int sd_applies(backend *be, const tensor *q, const tensor *k, const tensor *lse, const attn_cfg *cfg,
                      int *padded) {
  cu_ctx *c = cu_of(be);
  int64_t B = q->ne[0], Tq = q->ne[1], Tk = k->ne[1], D = q->ne[3];
  if (!c->sdpa || c->gr_capturing || c->gemm != TS_GEMM_BF16 || !lse || cfg->bias || cfg->q_pos0)
    return 0; /* off, inside a captured step, another precision or a setting it has no graph for */
  if (Tq < 2 || Tk < 1 || D % 8 || D > 128 || q->ne[2] % k->ne[2] || B > 2147483647LL || Tq > 2147483647LL ||
      Tk > 2147483647LL)
    return 0; /* decoding steps (Tq 1) keep the split-key kernels */
  *padded = 0;
  if (cfg->kv_len)
    for (int64_t b = 0; b < B; b++) {
      if (cfg->kv_len[b] < 1 || cfg->kv_len[b] > Tk) return 0; /* no keys: the op's zero row, not cuDNN's */
      if (cfg->kv_len[b] < Tk) *padded = 1;
    }
  return cu_dnn_handle() != NULL;
}

/* the graph for this call, or NULL (refused: counted, the caller's kernels take it) */
static void *sd_plan_of(const tensor *q, const tensor *k, const attn_cfg *cfg, int padded, int bwd, int64_t *ws) {
  sdfe_key key = {q->ne[0], q->ne[1], k->ne[1], q->ne[2], k->ne[2], q->ne[3], cfg->causal ? 1 : 0, padded, bwd,
                  cfg->scale};
  void *p = sdfe_plan((void *)cu_dnn_handle(), &key, ws);
  if (!p) g_sd_fallbacks++;
  return p;
}

/* the per-row sequence lengths on the device (padded graphs), each array in its own carved
 * (256-byte aligned) block, as cuDNN assumes 16-byte aligned tensors: Tq for every query row
 * into p[SDFE_SEQ_Q], the keys' kv_len into p[SDFE_SEQ_KV] */
static int sd_seq(backend *be, int64_t B, int64_t Tq, const attn_cfg *cfg, char **cur, void **p) {
  size_t bs = sizeof(int32_t) * (size_t)B;
  p[SDFE_SEQ_Q] = cu_carve(cur, cu_rnd(bs)), p[SDFE_SEQ_KV] = cu_carve(cur, cu_rnd(bs));
  int32_t *h = (int32_t *)malloc(bs);
  if (!h) return TS_ENOMEM;
  for (int64_t b = 0; b < B; b++) h[b] = (int32_t)Tq;
  int rc = cu_h2d(be, p[SDFE_SEQ_Q], h, bs);
  free(h);
  return rc ? rc : cu_h2d(be, p[SDFE_SEQ_KV], cfg->kv_len, bs);
}

/* runs the plan; 1 when cuDNN refused to run it (logged; SDPA goes off for the process and the
 * caller's kernels take this call and the rest: a refused execute launches nothing) */
static int sd_exec(backend *be, void *plan, void *const *ptrs, void *ws, const char *what) {
  char why[256];
  int st = sdfe_exec((void *)cu_dnn_handle(), plan, ptrs, ws, why, sizeof why);
  if (!st) return 0;
  log_warn("cuda: cuDNN SDPA %s did not run (%d: %s); attention goes back to the backend's kernels", what, st, why);
  cu_of(be)->sdpa = 0;
  g_sd_fallbacks++;
  return 1;
}

int cu_sdpa_fwd(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out, tensor *lse,
                const attn_cfg *cfg, int *done) {
  *done = 0;
  int padded;
  int64_t wsb = 0;
  if (!sd_applies(be, q, k, lse, cfg, &padded)) return TS_OK;
  void *plan = sd_plan_of(q, k, cfg, padded, 0, &wsb);
  if (!plan) return TS_OK;
  int64_t B = q->ne[0], nq = tensor_numel(q), nk = tensor_numel(k);
  size_t bq = cu_rnd(2 * (size_t)nq), bk = cu_rnd(2 * (size_t)nk), bs = padded ? 2 * cu_rnd(sizeof(int32_t) * (size_t)B) : 0;
  char *cur; /* q, o (B, Tq, Hq, D) and k, v (B, Tk, Hkv, D) in bf16, the lengths, the workspace */
  TS_TRY(cu_scratch(be, 2 * bq + 2 * bk + bs + cu_rnd((size_t)wsb) + 256, (void **)&cur));
  void *p[SDFE_N] = {NULL};
  p[SDFE_Q] = cu_carve(&cur, bq), p[SDFE_K] = cu_carve(&cur, bk), p[SDFE_V] = cu_carve(&cur, bk);
  p[SDFE_O] = cu_carve(&cur, bq), p[SDFE_STATS] = cu_f(lse);
  if (padded) TS_TRY(sd_seq(be, B, q->ne[1], cfg, &cur, p));
  void *ws = wsb ? cu_carve(&cur, cu_rnd((size_t)wsb)) : NULL;
  k_sd_round<<<cu_blocks(nq), 256, 0, cu_stream()>>>(cu_f(q), (unsigned short *)p[SDFE_Q], nq);
  k_sd_round<<<cu_blocks(nk), 256, 0, cu_stream()>>>(cu_f(k), (unsigned short *)p[SDFE_K], nk);
  k_sd_round<<<cu_blocks(nk), 256, 0, cu_stream()>>>(cu_f(v), (unsigned short *)p[SDFE_V], nk);
  CU_LAUNCHED("k_sd_round");
  cu_of(be)->launches++;
  if (sd_exec(be, plan, p, ws, "forward")) return TS_OK; /* not run: the caller's kernels */
  k_sd_widen<<<cu_blocks(nq), 256, 0, cu_stream()>>>((const unsigned short *)p[SDFE_O], cu_f(out), nq);
  CU_LAUNCHED("k_sd_widen");
  g_sd_calls++;
  *done = 1;
  return TS_OK;
}

int cu_sdpa_bwd(backend *be, const tensor *q, const tensor *k, const tensor *v, const tensor *out, const tensor *lse,
                const tensor *dout, tensor *dq, tensor *dk, tensor *dv, const attn_cfg *cfg, int *done) {
  *done = 0;
  int padded;
  int64_t wsb = 0;
  if (!sd_applies(be, q, k, lse, cfg, &padded)) return TS_OK;
  void *plan = sd_plan_of(q, k, cfg, padded, 1, &wsb);
  if (!plan) return TS_OK;
  int64_t B = q->ne[0], nq = tensor_numel(q), nk = tensor_numel(k);
  size_t bq = cu_rnd(2 * (size_t)nq), bk = cu_rnd(2 * (size_t)nk), bs = padded ? 2 * cu_rnd(sizeof(int32_t) * (size_t)B) : 0;
  char *cur; /* q, o, do, dq (B, Tq, Hq, D) and k, v, dk, dv (B, Tk, Hkv, D) in bf16 */
  TS_TRY(cu_scratch(be, 4 * bq + 4 * bk + bs + cu_rnd((size_t)wsb) + 256, (void **)&cur));
  void *p[SDFE_N] = {NULL};
  p[SDFE_Q] = cu_carve(&cur, bq), p[SDFE_O] = cu_carve(&cur, bq), p[SDFE_DO] = cu_carve(&cur, bq);
  p[SDFE_DQ] = cu_carve(&cur, bq), p[SDFE_K] = cu_carve(&cur, bk), p[SDFE_V] = cu_carve(&cur, bk);
  p[SDFE_DK] = cu_carve(&cur, bk), p[SDFE_DV] = cu_carve(&cur, bk), p[SDFE_STATS] = cu_f(lse);
  if (padded) {
    TS_TRY(sd_seq(be, B, q->ne[1], cfg, &cur, p));
    /* cuDNN computes dK, dV only for keys below kv_len and leaves the rest as they were: zero
     * (dK and dV are carved next to each other), or old scratch would be added as gradient */
    CU_TRY(cudaMemsetAsync(p[SDFE_DK], 0, 2 * bk, cu_stream()));
  }
  void *ws = wsb ? cu_carve(&cur, cu_rnd((size_t)wsb)) : NULL;
  k_sd_round<<<cu_blocks(nq), 256, 0, cu_stream()>>>(cu_f(q), (unsigned short *)p[SDFE_Q], nq);
  k_sd_round<<<cu_blocks(nq), 256, 0, cu_stream()>>>(cu_f(out), (unsigned short *)p[SDFE_O], nq);
  k_sd_round<<<cu_blocks(nq), 256, 0, cu_stream()>>>(cu_f(dout), (unsigned short *)p[SDFE_DO], nq);
  k_sd_round<<<cu_blocks(nk), 256, 0, cu_stream()>>>(cu_f(k), (unsigned short *)p[SDFE_K], nk);
  k_sd_round<<<cu_blocks(nk), 256, 0, cu_stream()>>>(cu_f(v), (unsigned short *)p[SDFE_V], nk);
  CU_LAUNCHED("k_sd_round");
  cu_of(be)->launches++;
  if (sd_exec(be, plan, p, ws, "backward")) return TS_OK; /* not run: the caller's kernels */
  if (dq) k_sd_add<<<cu_blocks(nq), 256, 0, cu_stream()>>>((const unsigned short *)p[SDFE_DQ], cu_f(dq), nq);
  if (dk) k_sd_add<<<cu_blocks(nk), 256, 0, cu_stream()>>>((const unsigned short *)p[SDFE_DK], cu_f(dk), nk);
  if (dv) k_sd_add<<<cu_blocks(nk), 256, 0, cu_stream()>>>((const unsigned short *)p[SDFE_DV], cu_f(dv), nk);
  CU_LAUNCHED("k_sd_add");
  g_sd_calls++;
  *done = 1;
  return TS_OK;
}

#else /* no cuDNN frontend in this build: the caller's kernels always */

int cu_sdpa_fwd(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out, tensor *lse,
                const attn_cfg *cfg, int *done) {
  (void)be, (void)q, (void)k, (void)v, (void)out, (void)lse, (void)cfg;
  *done = 0;
  return TS_OK;
}

int cu_sdpa_bwd(backend *be, const tensor *q, const tensor *k, const tensor *v, const tensor *out, const tensor *lse,
                const tensor *dout, tensor *dq, tensor *dk, tensor *dv, const attn_cfg *cfg, int *done) {
  (void)be, (void)q, (void)k, (void)v, (void)out, (void)lse, (void)dout, (void)dq, (void)dk, (void)dv, (void)cfg;
  *done = 0;
  return TS_OK;
}
#endif
