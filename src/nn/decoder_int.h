/* decoder_int.h — what the decoder layer's files share (decoder.c, decoder_prefix.c): views of
 * activations on the backend's device, arena allocation that names the decoder when it fails,
 * and the attention of the shared-prefix layout. */
#ifndef TS_DECODER_INT_H
#define TS_DECODER_INT_H

#include "nn/decoder.h"

#define TRY(x)            \
  do {                    \
    int rc_ = (x);        \
    if (rc_) return rc_;  \
  } while (0)

/* Views of activations on the backend's device (every caller has `be` in scope). */
#define T1(p, a) tensor_dev(be->device, (p), 1, (a), 0, 0, 0)
#define T2(p, a, b) tensor_dev(be->device, (p), 2, (a), (b), 0, 0)
#define T4(p, a, b, c, d) tensor_dev(be->device, (p), 4, (a), (b), (c), (d))

/* a (rows, cols) view of an activation stored in dtype dt */
static inline tensor dec_view(const backend *be, void *p, ts_dtype dt, int64_t rows, int64_t cols) {
  tensor t = tensor_dev(be->device, p, 2, rows, cols, 0, 0);
  t.dtype = dt;
  return t;
}

static inline float *dec_alloc(arena *ar, int64_t n, ts_err *e) {
  float *p = arena_alloc(ar, sizeof(float) * (size_t)(n > 0 ? n : 1));
  if (!p) err_set(e, TS_ENOMEM, "decoder: activation arena out of memory (%lld floats)", (long long)n);
  return p;
}
#define ALLOC(dst, n)                                  \
  do {                                                 \
    if (!((dst) = dec_alloc(ar, (n), e))) return TS_ENOMEM; \
  } while (0)
/* n values of dtype dt (f32 or bf16) */
#define ALLOC_DT(dst, n, dt)                                                  \
  do {                                                                        \
    if (!((dst) = dec_alloc(ar, (dt) == DT_BF16 ? ((n) + 1) / 2 : (n), e))) return TS_ENOMEM; \
  } while (0)

/* Attention over a shared-prefix layout (decoder_prefix.c), forward (dq == NULL) or backward
 * (adding into dq, dk, dv); q, att (N, Hq D), k, v (N, Hkv D), lse (P Hq Tp + Bc Hq Tc). */
int dec_attn_prefix(backend *be, const dec_cfg *c, const dec_prefix *pf, const attn_cfg *base, float *q, float *k,
                    float *v, float *att, float *lse, float *datt, float *dq, float *dk, float *dv, arena *ar,
                    ts_err *e);

#endif
