// cu_proj.cu — the ops around the stacked projections of a transformer layer on the GPU:
// SwiGLU (gate and up separate or packed in one row) and split_heads / merge_heads (kernels in
// cu_proj.cuh).
#include <math.h>

#include "cu_common.h"
#include "cu_proj.cuh"

/* kern over n items with its index arithmetic in 32 bits when `narrow` (cuda_set_elem_vec and
 * every index below 2^31), else in 64 */
#define PJ_LAUNCH(kern, narrow, n, ...)                                           \
  do {                                                                           \
    if (narrow)                                                                  \
      kern<uint32_t><<<cu_blocks(n), 256, 0, cu_stream()>>>(__VA_ARGS__);         \
    else                                                                         \
      kern<int64_t><<<cu_blocks(n), 256, 0, cu_stream()>>>(__VA_ARGS__);          \
    CU_LAUNCHED(#kern);                                                          \
  } while (0)
static bool pj_narrow(int64_t span) { return g_cu_elem_vec && span < ((int64_t)1 << 31); }

/* up NULL: gate holds rows [gate | up] (N,2H), and dgate both gradients */
int cu_swiglu(backend *be, const tensor *gate, const tensor *up, tensor *y) {
  int64_t n = tensor_numel(y), H = cu_last(y), ld = up ? H : 2 * H;
  const float *u = up ? cu_f(up) : cu_f(gate) + H;
  if (n <= 0) return TS_OK;
  const bool nw = pj_narrow(n / H * ld);
  if (y->dtype == DT_BF16) { /* a bf16 activation: only the rounding is written */
    PJ_LAUNCH(k_swiglu, nw, n, cu_f(gate), u, NULL, (unsigned short *)y->data, n, H, ld);
    return TS_OK;
  }
  unsigned short *yb = cu_round_want(be, cu_f(y), n);
  PJ_LAUNCH(k_swiglu, nw, n, cu_f(gate), u, cu_f(y), yb, n, H, ld);
  if (yb) cu_round_made(be, cu_f(y), n);
  return TS_OK;
}
int cu_swiglu_bwd(backend *be, const tensor *gate, const tensor *up, const tensor *dy, tensor *dgate,
                  tensor *dup, int set) {
  int64_t n = tensor_numel(dy), H = cu_last(dy), ld = up ? H : 2 * H;
  const float *u = up ? cu_f(up) : cu_f(gate) + H;
  float *du = up ? cu_f(dup) : dgate ? cu_f(dgate) + H : NULL;
  if (n <= 0) return TS_OK;
  /* packed: dgate's rows are the packed GEMM's dC, rounded here when its backward wants them */
  unsigned short *pb = !up && dgate ? cu_round_want_bwd(be, cu_f(dgate), 2 * n) : NULL;
  PJ_LAUNCH(k_swiglu_bwd, pj_narrow(n / H * ld), n, cu_f(gate), u, cu_f(dy), cu_f(dgate), du, pb, n, H, ld, set);
  if (pb) cu_round_made(be, cu_f(dgate), 2 * n);
  return TS_OK;
}

int cu_split_heads(backend *be, tensor *x, tensor *q, tensor *k, tensor *v, const int32_t *pos, const int32_t *kvrow,
                   float theta, int merge, attn_keep *keep) {
  int64_t BT = q->ne[0] * q->ne[1], Hq = q->ne[2], Hkv = k->ne[2], D = q->ne[3], half = D / 2;
  int64_t n = BT * (Hq + 2 * Hkv) * half;
  if (n <= 0) return TS_OK;
  const void *dpos = NULL, *dinv = NULL, *drow = NULL;
  /* the same for every layer; positions and cache rows advance with each decoding step */
  if (kvrow) TS_TRY(cu_stage_same(be, kvrow, sizeof(int32_t) * (size_t)BT, SR_ADVANCE, &drow));
  if (pos) { /* staged as cu_rope stages them (the same for every layer of a step) */
    float inv[512];
    for (int64_t i = 0; i < half && i < 512; i++) inv[i] = 1.0f / powf(theta, (float)(2 * i) / (float)D);
    TS_TRY(cu_stage_same(be, pos, sizeof(int32_t) * (size_t)BT, SR_ADVANCE, &dpos));
    TS_TRY(cu_stage_same(be, inv, sizeof(float) * (size_t)half, SR_CONST, &dinv));
  }
  /* merging gradients: the packed rows are the q/k/v GEMM's dC, rounded here when its backward
   * wants them (after the staging above, which launches) */
  unsigned short *xb = merge && !kvrow ? cu_round_want_bwd(be, cu_f(x), 2 * n) : NULL;
  /* splitting for an attention that keeps its operands: q, k, v rounded into its keep buffer as
   * well (the slots SDPA's forward would round them into) */
  unsigned short *ks[4] = {NULL, NULL, NULL, NULL};
  if (keep && !merge && !kvrow && keep->buf && keep->bytes >= cu_keep_layout(NULL, tensor_numel(q), tensor_numel(k), NULL))
    cu_keep_layout(keep->buf, tensor_numel(q), tensor_numel(k), ks);
  PJ_LAUNCH(k_split_heads, pj_narrow(2 * n), n, cu_f(x), cu_f(q), cu_f(k), cu_f(v), (const int32_t *)dpos,
            (const int32_t *)drow, (const float *)dinv, BT, Hq, Hkv, half, merge, merge ? xb : ks[0],
            ks[2], ks[3]);
  if (xb) cu_round_made(be, cu_f(x), 2 * n);
  if (ks[0]) keep->qkv = 1;
  return TS_OK;
}
