/* spk_aam.c — additive angular margin softmax loss (see spk_aam.h). */
#include "speaker/spk_aam.h"

#include <math.h>
#include <string.h>

#include "tensor/ops.h"

#define TRY(x)           \
  do {                   \
    int rc_ = (x);       \
    if (rc_) return rc_; \
  } while (0)

#define SPK_L2_EPS 1e-10f

int spk_aam_loss(backend *be, const float *emb, const float *w, const int32_t *labels, int64_t B, int64_t E,
                 int64_t N, float margin, float scale, float *demb, float *dw, spk_aam_out *out, arena *ar,
                 ts_err *e) {
  if (B < 1 || E < 1 || N < 1) return err_set(e, TS_EARG, "aam loss: empty shapes (B %lld, E %lld, N %lld)",
                                               (long long)B, (long long)E, (long long)N);
  if (!(margin >= 0 && margin < 1.5f) || !(scale > 0))
    return err_set(e, TS_EARG, "aam loss: margin %g (0..1.5) and scale %g (> 0)", (double)margin, (double)scale);
  for (int64_t b = 0; b < B; b++)
    if (labels[b] < 0 || labels[b] >= N)
      return err_set(e, TS_EARG, "aam loss: label %d of row %lld is outside 0..%lld", (int)labels[b], (long long)b,
                     (long long)N - 1);
  arena_mark mk = arena_get_mark(ar);
  size_t f = sizeof(float);
  float *en = arena_alloc(ar, f * (size_t)(B * E)), *wn = arena_alloc(ar, f * (size_t)(N * E));
  float *re = arena_alloc(ar, f * (size_t)B), *rw = arena_alloc(ar, f * (size_t)N);
  float *cosm = arena_alloc(ar, f * (size_t)(B * N)), *lg = arena_alloc(ar, f * (size_t)(B * N));
  float *wt = arena_alloc(ar, f * (size_t)B), *losses = arena_alloc(ar, f * (size_t)B);
  double *dphi = arena_alloc(ar, sizeof(double) * (size_t)B);
  if (!en || !wn || !re || !rw || !cosm || !lg || !wt || !losses || !dphi)
    return err_set(e, TS_ENOMEM, "aam loss: arena out of memory");
  const float inv = 1.0f / sqrtf((float)E);
  /* unit rows: rmsnorm gives x sqrt(E) / ||x||, so scale by 1/sqrt(E) */
  tensor EMB = tensor_f32((float *)emb, 2, B, E, 0, 0), EN = tensor_f32(en, 2, B, E, 0, 0);
  tensor W = tensor_f32((float *)w, 2, N, E, 0, 0), WN = tensor_f32(wn, 2, N, E, 0, 0);
  tensor RE = tensor_f32(re, 1, B, 0, 0, 0), RW = tensor_f32(rw, 1, N, 0, 0, 0);
  TRY(op_rmsnorm(be, &EMB, NULL, &EN, &RE, SPK_L2_EPS, e));
  TRY(op_scale(be, &EN, inv, &EN, e));
  TRY(op_rmsnorm(be, &W, NULL, &WN, &RW, SPK_L2_EPS, e));
  TRY(op_scale(be, &WN, inv, &WN, e));
  tensor COS = tensor_f32(cosm, 2, B, N, 0, 0), LG = tensor_f32(lg, 2, B, N, 0, 0);
  TRY(op_matmul(be, &EN, &WN, NULL, &COS, 0, 1, 0.0f, e));
  TRY(op_scale(be, &COS, scale, &LG, e));
  /* the margin on the target entries (host) */
  const double cm = cos(margin), sm = sin(margin), th = cos(M_PI - margin), mm = sin(margin) * margin;
  double acc = 0, mc = 0;
  for (int64_t b = 0; b < B; b++) {
    const float *cr = cosm + b * N;
    int32_t y = labels[b];
    double c = cr[y];
    if (c > 1) c = 1;
    if (c < -1) c = -1;
    double phi;
    if (c > th) {
      double sn = sqrt(fmax(1.0 - c * c, 1e-12));
      phi = c * cm - sn * sm;
      dphi[b] = cm + c * sm / sn;
    } else {
      phi = c - mm;
      dphi[b] = 1.0;
    }
    lg[b * N + y] = (float)(scale * phi);
    int64_t best = 0;
    for (int64_t n = 1; n < N; n++)
      if (cr[n] > cr[best]) best = n;
    acc += best == y;
    mc += c;
    wt[b] = 1.0f / (float)B;
  }
  int want_grad = demb || dw;
  TRY(op_xent(be, &LG, labels, wt, losses, want_grad ? 1.0f : 0.0f, e));
  double loss = 0;
  for (int64_t b = 0; b < B; b++) loss += losses[b];
  if (out) {
    out->loss = loss;
    out->acc = acc / (double)B;
    out->mean_cos = mc / (double)B;
  }
  if (want_grad) {
    /* lg now holds dlogits; dcos = s * dlogits, target entries times phi'(c) */
    TRY(op_scale(be, &LG, scale, &LG, e));
    for (int64_t b = 0; b < B; b++) lg[b * N + labels[b]] *= (float)dphi[b];
    float *den = arena_alloc(ar, f * (size_t)(B * E));
    float *dwn = arena_alloc(ar, f * (size_t)(N * E));
    if (!den || !dwn) return err_set(e, TS_ENOMEM, "aam loss: arena out of memory");
    tensor DEN = tensor_f32(den, 2, B, E, 0, 0), DWN = tensor_f32(dwn, 2, N, E, 0, 0);
    TRY(op_fill(be, &DEN, 0.0f, e));
    TRY(op_fill(be, &DWN, 0.0f, e));
    TRY(op_matmul_bwd(be, &EN, &WN, &LG, &DEN, &DWN, NULL, 0, 1, e));
    TRY(op_scale(be, &DEN, inv, &DEN, e));
    TRY(op_scale(be, &DWN, inv, &DWN, e));
    if (demb) {
      tensor DE = tensor_f32(demb, 2, B, E, 0, 0);
      TRY(op_rmsnorm_bwd(be, &EMB, NULL, &RE, &DEN, &DE, NULL, e));
    }
    if (dw) {
      tensor DW = tensor_f32(dw, 2, N, E, 0, 0);
      TRY(op_rmsnorm_bwd(be, &W, NULL, &RW, &DWN, &DW, NULL, e));
    }
  }
  arena_rewind(ar, mk);
  return TS_OK;
}
