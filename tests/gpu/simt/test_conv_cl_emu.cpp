// test_conv_cl_emu.cpp — the channels-last convolution's element kernels (kernels/cu_conv_cl.cuh:
// the weight's permutation and its gradient's way back, the row im2col from an f32 and a bf16 x,
// its gather back (added, and written over NaN), the rows' bias) under the SIMT emulator against
// plain loops. The shapes: the feature extractor's first layer (one channel, kernel 10, stride 5),
// a stride-2 layer, the grouped positional convolution (kernel 19, pad 9, 4 groups), a kernel
// longer than the steps, col rows shorter than a block (several a block), and grids smaller than
// the rows (the kernels' row loops). Every value must match exactly (the gather adds in the
// kernel's k order, as the loop here does). Exit 0 when every case passes.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "simt.h"
#include "simt_test.h"
#include "../../../kernels/cu_conv_cl.cuh"

static int g_fail;
static simt_rng g_rng = {0x9e3779b97f4a7c15ull};

struct clcase {
  int Cin, Cout, T, K, stride, pad, groups, ycap; /* ycap > 0: the grid's rows capped there */
};

static float widen(unsigned short h) {
  unsigned u = (unsigned)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static void run(const clcase &c) {
  const int64_t Cin = c.Cin, Cout = c.Cout, T = c.T, K = c.K, G = c.groups, Cg = Cin / G;
  const int64_t Tout = (T + 2 * c.pad - K) / c.stride + 1;
  auto cap = [&](int64_t rows) { return c.ycap ? (unsigned)c.ycap : cv_cap(rows); };
  long err = 0;
  int bad = 0;
  /* the permutation, to f32 and to bf16 */
  std::vector<float> w((size_t)(Cout * Cg * K)), wp(w.size(), NAN);
  std::vector<unsigned short> wp16(w.size(), 0xffff);
  for (auto &v : w) v = g_rng.sym();
  err += simt::launch(dim3(cv_xblocks(Cg), cap(Cout * K)), dim3(CV_THREADS), 0,
                      [&] { k_cl_permute(w.data(), Cout, Cg, (int)K, wp.data(), wp16.data()); });
  for (int64_t o = 0; o < Cout; o++)
    for (int64_t ci = 0; ci < Cg; ci++)
      for (int64_t k = 0; k < K; k++) {
        float v = w[(size_t)((o * Cg + ci) * K + k)];
        bad += wp[(size_t)((o * K + k) * Cg + ci)] != v;
        bad += wp16[(size_t)((o * K + k) * Cg + ci)] != simt_bf16_bits(v);
      }
  /* the gradient's way back: dw += dwp permuted */
  std::vector<float> dw(w.size()), dw0;
  for (auto &v : dw) v = g_rng.sym();
  dw0 = dw;
  err += simt::launch(dim3(cv_xblocks(Cg * K), cap(Cout)), dim3(CV_THREADS), 0,
                      [&] { k_cl_unpermute_add(wp.data(), Cout, Cg, (int)K, dw.data()); });
  for (size_t i = 0; i < dw.size(); i++) bad += dw[i] != dw0[i] + w[i];
  /* the row im2col of one batch row, f32 and bf16 */
  std::vector<float> x((size_t)(T * Cin)), col((size_t)(Tout * K * Cin), NAN), col16(col.size(), NAN);
  std::vector<unsigned short> x16(x.size());
  for (auto &v : x) v = g_rng.sym();
  for (size_t i = 0; i < x.size(); i++) x16[i] = simt_bf16_bits(x[i]);
  const int64_t RB = cv_im2row_rpb(K * Cin); /* col rows a block */
  dim3 gi(cv_xblocks(K * Cin), cap((Tout + RB - 1) / RB));
  err += simt::launch(gi, dim3(CV_THREADS), 0,
                      [&] { k_cl_im2row(x.data(), T, Cin, Cg, (int)K, Tout, c.stride, c.pad, col.data()); });
  err += simt::launch(gi, dim3(CV_THREADS), 0,
                      [&] { k_cl_im2row(x16.data(), T, Cin, Cg, (int)K, Tout, c.stride, c.pad, col16.data()); });
  for (int64_t t = 0; t < Tout; t++)
    for (int64_t g = 0; g < G; g++)
      for (int64_t k = 0; k < K; k++)
        for (int64_t ci = 0; ci < Cg; ci++) {
          int64_t s = t * c.stride + k - c.pad;
          bool in = s >= 0 && s < T;
          size_t at = (size_t)(((t * G + g) * K + k) * Cg + ci), xi = in ? (size_t)(s * Cin + g * Cg + ci) : 0;
          bad += col[at] != (in ? x[xi] : 0.0f);
          bad += col16[at] != (in ? widen(x16[xi]) : 0.0f);
        }
  /* the gather back: dx += the sum of dcol over (t, k) that read each x element, in k order;
   * written: dxs = that sum over NaN */
  std::vector<float> dcol(col.size()), dx(x.size()), dx0, dxs(x.size(), NAN);
  for (auto &v : dcol) v = g_rng.sym();
  for (auto &v : dx) v = g_rng.sym();
  dx0 = dx;
  err += simt::launch(dim3(cv_xblocks(Cin), cap(T)), dim3(CV_THREADS), 0,
                      [&] { k_cl_row2im(dcol.data(), T, Cin, Cg, (int)K, Tout, c.stride, c.pad, 0, dx.data()); });
  err += simt::launch(dim3(cv_xblocks(Cin), cap(T)), dim3(CV_THREADS), 0,
                      [&] { k_cl_row2im(dcol.data(), T, Cin, Cg, (int)K, Tout, c.stride, c.pad, 1, dxs.data()); });
  for (int64_t u = 0; u < T; u++)
    for (int64_t chn = 0; chn < Cin; chn++) {
      int64_t g = chn / Cg, ci = chn % Cg;
      float acc = 0.0f;
      for (int64_t k = 0; k < K; k++) {
        int64_t v = u + c.pad - k;
        if (v < 0 || v % c.stride || v / c.stride >= Tout) continue;
        acc += dcol[(size_t)(((v / c.stride * G + g) * K + k) * Cg + ci)];
      }
      bad += dx[(size_t)(u * Cin + chn)] != dx0[(size_t)(u * Cin + chn)] + acc;
      bad += memcmp(&dxs[(size_t)(u * Cin + chn)], &acc, sizeof acc) != 0; /* bits: 0 + the sum */
    }
  /* the rows' start: the bias, or 0 */
  const int64_t R = 3 * Tout;
  std::vector<float> y((size_t)(R * Cout), NAN), yz(y.size(), NAN), bias((size_t)Cout);
  for (auto &v : bias) v = g_rng.sym();
  err += simt::launch(dim3(cv_xblocks(Cout), cap(R)), dim3(CV_THREADS), 0,
                      [&] { k_cl_rows_init(y.data(), bias.data(), R, Cout); });
  err += simt::launch(dim3(cv_xblocks(Cout), cap(R)), dim3(CV_THREADS), 0,
                      [&] { k_cl_rows_init(yz.data(), nullptr, R, Cout); });
  for (int64_t i = 0; i < R * Cout; i++) bad += y[(size_t)i] != bias[(size_t)(i % Cout)] || yz[(size_t)i] != 0.0f;
  bool ok = err == 0 && bad == 0;
  printf("%s Cin=%d Cout=%d T=%d K=%d stride=%d pad=%d groups=%d rows cap %d: %d wrong, emulator errors %ld\n",
         ok ? "ok  " : "FAIL", c.Cin, c.Cout, c.T, c.K, c.stride, c.pad, c.groups, c.ycap, bad, err);
  if (!ok) g_fail = 1;
}

int main() {
  const clcase cases[] = {
      {1, 8, 1000, 10, 5, 0, 1, 0},   /* the first layer */
      {40, 24, 257, 3, 2, 0, 1, 0},   /* a stride-2 layer */
      {16, 16, 100, 19, 1, 9, 4, 0},  /* the positional convolution, 4 groups */
      {6, 6, 50, 64, 1, 32, 2, 0},    /* a kernel longer than the steps */
      {300, 7, 90, 3, 2, 1, 3, 5},    /* rows past the grid; more channels than a block */
      {1, 8, 1000, 10, 5, 0, 1, 3},   /* the first layer's 25 col rows a block, past a grid of 3 */
      {3, 6, 200, 7, 3, 1, 3, 2},     /* rows of 21 values: 12 a block, 4 threads idle, grid of 2 */
  };
  for (uint64_t seed : {0ull, 0x2545f4914f6cdd1dull, simt::HIGH_WARP_FIRST}) {
    simt::set_schedule(seed);
    printf("schedule %s\n", seed == simt::HIGH_WARP_FIRST ? "high warp first" : seed ? "skewed" : "lockstep");
    for (const clcase &c : cases) run(c);
  }
  printf("test_conv_cl_emu: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail;
}
