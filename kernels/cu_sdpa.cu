// cu_sdpa.cu — attention forward and backward on cuDNN's fused flash attention (its SDPA graph,
// built with the cuDNN frontend's graph API), behind cuda_set_cudnn_sdpa (on by default since
// an H200 checked and timed it, session 17: TSASR_CUDA_SDPA=0 turns it off). On an H100
// (2026-11-27, session 16) PyTorch's step ran the same 48 + 48 attention calls on it in 2.9 +
// 4.1 ms where tsasr's flash kernels took 5.5 + 26.2.
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
// gradients), or widened into them with attn_cfg.grad_set. With attn_cfg.keep (a buffer the model holds from the forward to the backward,
// be_ops.attn_keep_bytes: q, o, k, v in bf16) the forward rounds q, k, v (unless split_heads
// wrote them there already: op_split_heads_keep, keep->qkv) and has cuDNN write O there, and the backward takes them instead of rounding q, k, v and out again (the same bits:
// out holds O widened); the forward also offers O as the out projection's rounding of out
// (cu_round_have). Each shape's graph (forward or backward) is built once and kept with its
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
#include <string.h>

#include "cu_sdpa.h"

cudnnHandle_t cu_dnn_handle(void); /* cu_cudnn.cu: NULL when cuDNN did not start */

/* whether this call is one cuDNN's SDPA takes (the switch, the bf16 precision, the shapes);
 * *padded: some row has fewer keys than Tk */
static int sd_applies(backend *be, const tensor *q, const tensor *k, int lse, const attn_cfg *cfg, int *padded) {
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
static void *sd_plan_of(const tensor *q, const tensor *k, const attn_cfg *cfg, int padded, int bwd, int det,
                        int64_t *ws) {
  sdfe_key key = {q->ne[0], q->ne[1], k->ne[1], q->ne[2], k->ne[2], q->ne[3], cfg->causal ? 1 : 0, padded, bwd,
                  cfg->scale, bwd && det ? 1 : 0};
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

/* one call on cuDNN: its plan, the bf16 buffers and lengths in the variant pack's slots p, the
 * workspace, the element counts of q-shaped (B, Tq, Hq, D) and k-shaped (B, Tk, Hkv, D)
 * tensors and their rounded bytes in bf16; kept: q, o, k, v are in the caller's keep buffer
 * (attn_cfg.keep) rather than scratch */
typedef struct sd_call {
  void *plan, *ws, *p[SDFE_N];
  int64_t nq, nk;
  size_t bq, bk;
  int padded, kept;
} sd_call;

static int sd_keep_slot(int slot) { return slot == SDFE_Q || slot == SDFE_O || slot == SDFE_K || slot == SDFE_V; }

/* the plan and scratch of a forward (bwd 0) or backward call: *go = 0 when cuDNN does not take
 * it (nothing done); else the slots qs[0..nqs) of q's shape and ks[0..nks) of k's, carved in
 * that order (a backward's dK, dV next to each other), the lengths staged and lse as the
 * statistics. With keep (a forward's; a backward's once its forward made it) q, o, k and v
 * are its buffer's instead. */
static int sd_begin(backend *be, const tensor *q, const tensor *k, const tensor *lse, const attn_cfg *cfg, int bwd,
                    const int *qs, int nqs, const int *ks, int nks, sd_call *c, int *go) {
  int64_t wsb = 0;
  *go = 0;
  memset(c, 0, sizeof *c);
  if (!sd_applies(be, q, k, lse != NULL, cfg, &c->padded)) return TS_OK;
  if (!(c->plan = sd_plan_of(q, k, cfg, c->padded, bwd, cu_of(be)->det, &wsb))) return TS_OK;
  int64_t B = q->ne[0];
  c->nq = tensor_numel(q), c->nk = tensor_numel(k);
  c->bq = cu_rnd(2 * (size_t)c->nq), c->bk = cu_rnd(2 * (size_t)c->nk);
  const attn_keep *kp = cfg->keep;
  c->kept = kp && kp->buf && kp->bytes >= cu_keep_layout(NULL, c->nq, c->nk, NULL) && (!bwd || kp->made);
  size_t bs = c->padded ? 2 * cu_rnd(sizeof(int32_t) * (size_t)B) : 0, need = 0;
  for (int i = 0; i < nqs; i++) need += c->kept && sd_keep_slot(qs[i]) ? 0 : c->bq;
  for (int i = 0; i < nks; i++) need += c->kept && sd_keep_slot(ks[i]) ? 0 : c->bk;
  char *cur;
  TS_TRY(cu_scratch(be, need + bs + cu_rnd((size_t)wsb) + 256, (void **)&cur));
  for (int i = 0; i < nqs; i++)
    if (!(c->kept && sd_keep_slot(qs[i]))) c->p[qs[i]] = cu_carve(&cur, c->bq);
  for (int i = 0; i < nks; i++)
    if (!(c->kept && sd_keep_slot(ks[i]))) c->p[ks[i]] = cu_carve(&cur, c->bk);
  if (c->kept) {
    unsigned short *sl[4] = {NULL, NULL, NULL, NULL};
    cu_keep_layout(kp->buf, c->nq, c->nk, sl);
    c->p[SDFE_Q] = sl[0], c->p[SDFE_O] = sl[1], c->p[SDFE_K] = sl[2], c->p[SDFE_V] = sl[3];
  }
  c->p[SDFE_STATS] = cu_f(lse);
  if (c->padded) TS_TRY(sd_seq(be, B, q->ne[1], cfg, &cur, c->p));
  c->ws = wsb ? cu_carve(&cur, cu_rnd((size_t)wsb)) : NULL;
  *go = 1;
  return TS_OK;
}

size_t cu_sdpa_keep_bytes(backend *be, const tensor *q, const tensor *k, const attn_cfg *cfg) {
  int padded;
  if (!cu_of(be)->keep || !sd_applies(be, q, k, 1, cfg, &padded)) return 0;
  return cu_keep_layout(NULL, tensor_numel(q), tensor_numel(k), NULL);
}

/* slot of c = src rounded to bf16 (n elements); a launch error as the op's */
static int sd_round(sd_call *c, int slot, const tensor *src, int64_t n) {
  return cu_round_bf16(cu_f(src), (unsigned short *)c->p[slot], n);
}

int cu_sdpa_fwd(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out, tensor *lse,
                const attn_cfg *cfg, int *done) {
  static const int qs[] = {SDFE_Q, SDFE_O}, ks[] = {SDFE_K, SDFE_V};
  sd_call c;
  *done = 0;
  TS_TRY(sd_begin(be, q, k, lse, cfg, 0, qs, 2, ks, 2, &c, done));
  if (!*done) return TS_OK;
  *done = 0;
  if (!(c.kept && cfg->keep->qkv)) { /* else split_heads rounded them there (op_split_heads_keep) */
    TS_TRY(sd_round(&c, SDFE_Q, q, c.nq));
    TS_TRY(sd_round(&c, SDFE_K, k, c.nk));
    TS_TRY(sd_round(&c, SDFE_V, v, c.nk));
  }
  cu_of(be)->launches++;
  if (sd_exec(be, c.plan, c.p, c.ws, "forward")) return TS_OK; /* not run: the caller's kernels */
  TS_TRY(cu_widen_bf16((const unsigned short *)c.p[SDFE_O], cu_f(out), c.nq));
  if (c.kept) {
    cfg->keep->made = 1;
    /* o's bf16 values stay in the keep buffer: the out projection's GEMM, if it comes next,
     * takes them as its rounding of out (the same bits: out holds them widened) */
    cu_round_have(be, cu_f(out), c.nq, (const unsigned short *)c.p[SDFE_O]);
  }
  g_sd_calls++;
  *done = 1;
  return TS_OK;
}

/* dst += the bf16 values in slot of c, or dst = them (set: attn_cfg.grad_set); dst NULL: not
 * wanted */
static int sd_add(sd_call *c, int slot, tensor *dst, int64_t n, int set) {
  if (!dst) return TS_OK;
  if (set) return cu_widen_bf16((const unsigned short *)c->p[slot], cu_f(dst), n);
  return cu_add_bf16((const unsigned short *)c->p[slot], cu_f(dst), n);
}

int cu_sdpa_bwd(backend *be, const tensor *q, const tensor *k, const tensor *v, const tensor *out, const tensor *lse,
                const tensor *dout, tensor *dq, tensor *dk, tensor *dv, const attn_cfg *cfg, int *done) {
  static const int qs[] = {SDFE_Q, SDFE_O, SDFE_DO, SDFE_DQ}, ks[] = {SDFE_K, SDFE_V, SDFE_DK, SDFE_DV};
  sd_call c;
  *done = 0;
  TS_TRY(sd_begin(be, q, k, lse, cfg, 1, qs, 4, ks, 4, &c, done));
  if (!*done) return TS_OK;
  *done = 0;
  /* cuDNN computes dK, dV only for keys below kv_len and leaves the rest as they were: zero
   * (dK and dV are carved next to each other), or old scratch would be added as gradient */
  if (c.padded) CU_TRY(cudaMemsetAsync(c.p[SDFE_DK], 0, 2 * c.bk, cu_stream()));
  if (!c.kept) { /* else the forward's roundings, kept (attn_cfg.keep) */
    TS_TRY(sd_round(&c, SDFE_Q, q, c.nq));
    TS_TRY(sd_round(&c, SDFE_O, out, c.nq));
    TS_TRY(sd_round(&c, SDFE_K, k, c.nk));
    TS_TRY(sd_round(&c, SDFE_V, v, c.nk));
  }
  TS_TRY(sd_round(&c, SDFE_DO, dout, c.nq));
  cu_of(be)->launches++;
  if (sd_exec(be, c.plan, c.p, c.ws, "backward")) return TS_OK; /* not run: the caller's kernels */
  TS_TRY(sd_add(&c, SDFE_DQ, dq, c.nq, cfg->grad_set));
  TS_TRY(sd_add(&c, SDFE_DK, dk, c.nk, cfg->grad_set));
  TS_TRY(sd_add(&c, SDFE_DV, dv, c.nk, cfg->grad_set));
  g_sd_calls++;
  *done = 1;
  return TS_OK;
}

#else /* no cuDNN frontend in this build: the caller's kernels always */

size_t cu_sdpa_keep_bytes(backend *be, const tensor *q, const tensor *k, const attn_cfg *cfg) {
  (void)be, (void)q, (void)k, (void)cfg;
  return 0;
}

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
