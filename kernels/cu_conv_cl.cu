// cu_conv_cl.cu — the channels-last 1-D convolution on the GPU (op_conv1d_cl; the CPU's
// src/tensor/cpu_conv_cl.c has the same two forms, its comment the algebra). x (B, T, Cin) f32
// or a bf16 activation, w (Cout, Cg, K), y (B, Tout, Cout). The weight is permuted into
// Wp (Cout, K, Cg) per call (small: a feature layer's is 0.8 M values).
// - taps (groups 1, Cin >= CONV_CL_TAP_MIN; tensor/conv_cl.h, shared with the CPU): per tap k a
//   GEMM over the steps whose input row lies in x, x's rows read in place (leading dimension
//   stride Cin): a bf16 x (in the bf16 precision) with Wp and dy rounded to bf16 on cuBLAS bf16
//   GEMMs, an f32 x on cu_gemm; y and dx batched over B, dW one GEMM per batch row and tap (a
//   sum over the batch). Without a bias, the tap that covers every step runs first and
//   overwrites y (conv_cl_cover), so y needs no start;
// - rows (the first layer's one channel, the grouped positional convolutions): a row im2col of
//   a batch row for all groups at once, then cu_gemm batched over the groups.
// No transposes anywhere: the layer norms that follow work on rows (the point of the layout).
// dx may be written rather than added to (dx_set; the CPU's rule, tensor/conv_cl.h): in the taps
// form each row class's first tap writes (beta 0) and the rows it leaves are set to 0 first
// (cudaMemset2DAsync, a few rows a batch row); the rows form's gather writes. With
// cuda_set_conv_set(0) dx is zero-filled and added to as before.
#include "cu_common.h"
#include "cu_conv_cl.cuh"
#include "tensor/conv_cl.h"

static int cl_permute(const float *w, int64_t Cout, int64_t Cg, int64_t K, float *wp, unsigned short *wp16) {
  if (Cout * K * Cg <= 0) return TS_OK;
  k_cl_permute<<<dim3(cv_xblocks(Cg), cv_cap(Cout * K)), CV_THREADS, 0, cu_stream()>>>(w, Cout, Cg, (int)K, wp, wp16);
  CU_LAUNCHED("k_cl_permute");
  return TS_OK;
}

/* the row im2col of batch row b of x into col (Tout, groups K Cg) */
static int cl_im2row(const tensor *x, int64_t b, int64_t Cg, int64_t K, int64_t Tout, int stride, int pad, float *col) {
  int64_t T = x->ne[1], Cin = x->ne[2], R = cv_im2row_rpb(K * Cin);
  dim3 grid(cv_xblocks(K * Cin), cv_cap((Tout + R - 1) / R));
  if (x->dtype == DT_BF16)
    k_cl_im2row<unsigned short><<<grid, CV_THREADS, 0, cu_stream()>>>((const unsigned short *)x->data + b * T * Cin, T,
                                                                       Cin, Cg, (int)K, Tout, stride, pad, col);
  else
    k_cl_im2row<float><<<grid, CV_THREADS, 0, cu_stream()>>>(cu_f(x) + b * T * Cin, T, Cin, Cg, (int)K, Tout, stride,
                                                              pad, col);
  CU_LAUNCHED("k_cl_im2row");
  return TS_OK;
}

/* How a call stores what it makes: *x16 when x is bf16 and takes the taps in the bf16 precision
 * (its bits read as they are; the permuted weight, and dy in the backward, rounded to bf16);
 * the permuted weight's bytes (*bw: bf16 or f32); the bytes of x widened to f32 (*bx: a bf16
 * x's taps in another precision, where a bf16 x is only stored so, as in matmul; else 0) */
static void cl_plan(backend *be, const tensor *x, int taps, int64_t nw, int *x16, size_t *bw, size_t *bx) {
  int bf = x->dtype == DT_BF16 && taps;
  *x16 = bf && cu_of(be)->gemm == TS_GEMM_BF16;
  *bw = cu_rnd((*x16 ? 2 : 4) * (size_t)nw);
  *bx = bf && !*x16 ? cu_rnd(sizeof(float) * (size_t)tensor_numel(x)) : 0;
}

/* x's f32 values for an f32 GEMM: x itself (f32), or its bf16 bits widened into xw (when given) */
static int cl_x_f32(const tensor *x, float *xw, float **out) {
  if (!xw) {
    *out = x->dtype == DT_BF16 ? NULL : cu_f(x);
    return TS_OK;
  }
  *out = xw;
  return cu_widen_bf16((const unsigned short *)x->data, xw, tensor_numel(x));
}

int cu_conv1d_cl(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y, int stride, int pad,
                 int groups) {
  int64_t B = x->ne[0], T = x->ne[1], Cin = x->ne[2];
  int64_t Cout = w->ne[0], K = w->ne[2], Tout = y->ne[1];
  int64_t Cg = Cin / groups, Og = Cout / groups, nw = Cout * K * Cg;
  if (B * Tout * Cout <= 0) return TS_OK;
  if (Cin * K > 2147483647LL - CV_MAXY) return cu_fail("conv1d_cl: Cin x K past 2^31", cudaErrorInvalidValue);
  int taps = conv_cl_taps(Cin, groups), x16;
  float *xf = NULL;
  size_t bw, bx, bc = taps ? 0 : cu_rnd(sizeof(float) * (size_t)(Tout * K * Cin));
  cl_plan(be, x, taps, nw, &x16, &bw, &bx);
  char *cur = NULL;
  TS_TRY(cu_scratch(be, bw + bc + bx, (void **)&cur));
  void *wp = cu_carve(&cur, bw); /* (Cout, K, Cg): f32, or bf16 for a bf16 x's taps */
  float *col = taps ? NULL : (float *)cu_carve(&cur, bc);
  TS_TRY(cl_x_f32(x, bx ? (float *)cu_carve(&cur, bx) : NULL, &xf));
  TS_TRY(cl_permute(cu_f(w), Cout, Cg, K, x16 ? NULL : (float *)wp, x16 ? (unsigned short *)wp : NULL));
  float *yp = cu_f(y);
  int64_t kf = conv_cl_cover(taps, bias != NULL, T, Tout, K, Cin, stride, pad);
  if (kf < 0) { /* y's rows start at the bias (or 0) and every GEMM adds; else the first overwrites */
    k_cl_rows_init<<<dim3(cv_xblocks(Cout), cv_cap(B * Tout)), CV_THREADS, 0, cu_stream()>>>(
        yp, bias ? cu_f(bias) : NULL, B * Tout, Cout);
    CU_LAUNCHED("k_cl_rows_init");
  }
  if (Cin <= 0 || K <= 0) return TS_OK;
  if (taps) {
    for (int64_t i = 0; i < K; i++) {
      int64_t k = conv_cl_tap(i, kf), lo, hi;
      float beta = kf >= 0 && i == 0 ? 0.0f : 1.0f;
      conv_cl_range(T, Tout, k, stride, pad, &lo, &hi);
      if (hi <= lo) continue;
      int64_t xo = (lo * stride + k - pad) * Cin; /* x's row of output step lo, in batch row 0 */
      if (x16) /* Y_b[lo..hi) (M, Cout) += X rows (M, Cin; ld stride Cin) Wk^T: bf16 operands, batched over b */
        TS_TRY(cu_gemm_bf16_sb(be, 0, 1, hi - lo, Cout, Cin, (const unsigned short *)x->data + xo, stride * Cin, T * Cin,
                               (const unsigned short *)wp + k * Cin, K * Cin, 0, beta, yp + lo * Cout, Cout, Tout * Cout,
                               B));
      else
        TS_TRY(cu_gemm(be, 0, 1, hi - lo, Cout, Cin, 1.0f, xf + xo, stride * Cin, T * Cin, (const float *)wp + k * Cin,
                       K * Cin, 0, beta, yp + lo * Cout, Cout, Tout * Cout, B));
    }
    return TS_OK;
  }
  for (int64_t b = 0; b < B; b++) { /* Y_b,g (Tout, Og; ld Cout) (+)= col_g (Tout, K Cg; ld K Cin) Wp_g^T */
    TS_TRY(cl_im2row(x, b, Cg, K, Tout, stride, pad, col));
    TS_TRY(cu_gemm(be, 0, 1, Tout, Og, K * Cg, 1.0f, col, K * Cin, K * Cg, (const float *)wp, K * Cg, Og * K * Cg,
                   kf >= 0 ? 0.0f : 1.0f, yp + b * Tout * Cout, Cout, Og, groups));
  }
  return TS_OK;
}

/* the rows of dx (B, T, Cin) no first tap writes (tensor/conv_cl.h), set to 0: per row class
 * one strided memset over its run, per batch row; a run of one row (a feature layer's last) is
 * one memset over the batch rows (their pitch T Cin) */
static int cl_dx_zero(float *dx, int64_t B, int64_t T, int64_t Tout, int64_t K, int64_t Cin, int stride, int pad) {
  const size_t row = sizeof(float) * (size_t)Cin;
  for (int64_t q = 0; q < stride; q++) {
    int64_t a, n;
    conv_cl_dx_zero_run(T, Tout, K, stride, pad, q, &a, &n);
    if (n == 1 && row * (size_t)T <= 2147483647u) { /* a pitch within what 2D copies take */
      CU_TRY(cudaMemset2DAsync(dx + a * Cin, row * (size_t)T, 0, row, (size_t)B, cu_stream()));
      continue;
    }
    for (int64_t b = 0; b < B && n > 0; b++)
      CU_TRY(cudaMemset2DAsync(dx + (b * T + a) * Cin, row * (size_t)stride, 0, row, (size_t)n, cu_stream()));
  }
  return TS_OK;
}

int cu_conv1d_cl_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                     tensor *dbias, int stride, int pad, int groups, int dx_set) {
  int64_t B = x->ne[0], T = x->ne[1], Cin = x->ne[2];
  int64_t Cout = w->ne[0], K = w->ne[2], Tout = dy->ne[1];
  int64_t Cg = Cin / groups, Og = Cout / groups, nw = Cout * K * Cg;
  const float *g = cu_f(dy);
  const int no_product = (!dx && !dw) || B * Tout * Cout <= 0 || Cin <= 0 || K <= 0;
  /* no product: the bias's gradient first (its partials may fail for memory: nothing written yet) */
  if (no_product && dbias) TS_TRY(cu_colsum_add(be, g, cu_f(dbias), B * Tout, Cout));
  if (dx && dx_set && (B * Tout * Cout <= 0 || K <= 0)) { /* nothing reaches dx: written as 0 */
    if (B * T * Cin > 0) CU_TRY(cudaMemsetAsync(cu_f(dx), 0, sizeof(float) * (size_t)(B * T * Cin), cu_stream()));
    dx_set = 0;
  }
  if (no_product) return TS_OK;
  if (Cin * K > 2147483647LL - CV_MAXY) return cu_fail("conv1d_cl_bwd: Cin x K past 2^31", cudaErrorInvalidValue);
  int taps = conv_cl_taps(Cin, groups), x16;
  float *xf = NULL;
  size_t bw, bx, bdw = dw ? cu_rnd(sizeof(float) * (size_t)nw) : 0,
                 bc = taps ? 0 : cu_rnd(sizeof(float) * (size_t)(Tout * K * Cin));
  cl_plan(be, x, taps, nw, &x16, &bw, &bx);
  if (!dw) bx = 0; /* x (widened) is read by dW's GEMMs alone */
  size_t bg = x16 ? cu_rnd(sizeof(unsigned short) * (size_t)(B * Tout * Cout)) : 0;
  size_t bcol = dw ? bc : 0, bdcol = dx ? bc : 0; /* the rows form's col for dW, dcol for dx */
  char *cur = NULL;
  TS_TRY(cu_scratch(be, bw + bdw + bg + bcol + bdcol + bx, (void **)&cur));
  void *wp = cu_carve(&cur, bw);                                      /* (Cout, K, Cg) f32, or bf16 (x16) */
  float *dwp = dw ? (float *)cu_carve(&cur, bdw) : NULL;              /* (Cout, K, Cg) */
  unsigned short *g16 = x16 ? (unsigned short *)cu_carve(&cur, bg) : NULL; /* dy rounded (B Tout, Cout) */
  float *col = bcol ? (float *)cu_carve(&cur, bcol) : NULL, *dcol = bdcol ? (float *)cu_carve(&cur, bdcol) : NULL;
  /* the bias's gradient once the scratch is there: an op that fails for memory changes nothing */
  if (dbias) TS_TRY(cu_colsum_add(be, g, cu_f(dbias), B * Tout, Cout));
  TS_TRY(cl_x_f32(x, bx ? (float *)cu_carve(&cur, bx) : NULL, &xf));
  TS_TRY(cl_permute(cu_f(w), Cout, Cg, K, x16 ? NULL : (float *)wp, x16 ? (unsigned short *)wp : NULL));
  if (dwp) CU_TRY(cudaMemsetAsync(dwp, 0, sizeof(float) * (size_t)nw, cu_stream()));
  if (g16) TS_TRY(cu_round_bf16(g, g16, B * Tout * Cout));
  float *dxp = dx ? cu_f(dx) : NULL;
  if (dxp && dx_set && !cu_of(be)->conv_set) { /* the switch off: zeroed (after the scratch), then added to */
    CU_TRY(cudaMemsetAsync(dxp, 0, sizeof(float) * (size_t)(B * T * Cin), cu_stream()));
    dx_set = 0;
  }
  if (taps) {
    if (dxp && dx_set) TS_TRY(cl_dx_zero(dxp, B, T, Tout, K, Cin, stride, pad));
    for (int64_t k = 0; k < K; k++) {
      int64_t lo, hi, ra, rb;
      conv_cl_range(T, Tout, k, stride, pad, &lo, &hi);
      if (hi <= lo) continue;
      int64_t M = hi - lo, xo = (lo * stride + k - pad) * Cin;
      /* dx written: the class's first tap overwrites its rows */
      float beta_dx = dx_set && conv_cl_dx_first(T, Tout, K, stride, pad, k % stride, &ra, &rb) == k ? 0.0f : 1.0f;
      if (x16) {
        const unsigned short *xh = (const unsigned short *)x->data, *wh = (const unsigned short *)wp + k * Cin;
        if (dwp) /* dWk (Cout, Cin; ld K Cin) += dY^T (Cout, M) Xk (M, Cin; ld stride Cin), summed over b in
                  * stream order */
          for (int64_t b = 0; b < B; b++)
            TS_TRY(cu_gemm_bf16(be, 1, 0, Cout, Cin, M, g16 + (b * Tout + lo) * Cout, Cout, xh + b * T * Cin + xo,
                                stride * Cin, 1.0f, dwp + k * Cin, K * Cin));
        if (dxp) /* dXk (M, Cin; ld stride Cin) (+)= dY (M, Cout) Wk (Cout, Cin; ld K Cin), batched over b */
          TS_TRY(cu_gemm_bf16_sb(be, 0, 0, M, Cin, Cout, g16 + lo * Cout, Cout, Tout * Cout, wh, K * Cin, 0, beta_dx,
                                 dxp + xo, stride * Cin, T * Cin, B));
      } else {
        const float *wf = (const float *)wp + k * Cin;
        if (dwp) /* a sum over the batch: one GEMM per batch row, in stream order */
          for (int64_t b = 0; b < B; b++)
            TS_TRY(cu_gemm(be, 1, 0, Cout, Cin, M, 1.0f, g + (b * Tout + lo) * Cout, Cout, 0, xf + b * T * Cin + xo,
                           stride * Cin, 0, 1.0f, dwp + k * Cin, K * Cin, 0, 1));
        if (dxp)
          TS_TRY(cu_gemm(be, 0, 0, M, Cin, Cout, 1.0f, g + lo * Cout, Cout, Tout * Cout, wf, K * Cin, 0, beta_dx,
                         dxp + xo, stride * Cin, T * Cin, B));
      }
    }
  } else {
    for (int64_t b = 0; b < B; b++) {
      const float *gb = g + b * Tout * Cout; /* (Tout, Cout); group g's columns [g Og, (g + 1) Og) */
      if (dwp) { /* dWp_g (Og, K Cg) += dY_g^T (Og, Tout) col_g (Tout, K Cg; ld K Cin) */
        TS_TRY(cl_im2row(x, b, Cg, K, Tout, stride, pad, col));
        TS_TRY(cu_gemm(be, 1, 0, Og, K * Cg, Tout, 1.0f, gb, Cout, Og, col, K * Cin, K * Cg, 1.0f, dwp, K * Cg,
                       Og * K * Cg, groups));
      }
      if (dxp) { /* dcol_g (Tout, K Cg; ld K Cin) = dY_g (Tout, Og; ld Cout) Wp_g (Og, K Cg), gathered back */
        TS_TRY(cu_gemm(be, 0, 0, Tout, K * Cg, Og, 1.0f, gb, Cout, Og, (const float *)wp, K * Cg, Og * K * Cg, 0.0f,
                       dcol, K * Cin, K * Cg, groups));
        k_cl_row2im<<<dim3(cv_xblocks(Cin), cv_cap(T)), CV_THREADS, 0, cu_stream()>>>(
            dcol, T, Cin, Cg, (int)K, Tout, stride, pad, dx_set, dxp + b * T * Cin);
        CU_LAUNCHED("k_cl_row2im");
      }
    }
  }
  if (dwp) {
    k_cl_unpermute_add<<<dim3(cv_xblocks(Cg * K), cv_cap(Cout)), CV_THREADS, 0, cu_stream()>>>(dwp, Cout, Cg, (int)K,
                                                                                            cu_f(dw));
    CU_LAUNCHED("k_cl_unpermute_add");
  }
  return TS_OK;
}
