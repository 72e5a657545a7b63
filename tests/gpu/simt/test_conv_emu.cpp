// test_conv_emu.cpp — the convolution's element kernels (kernels/cu_conv.cuh: im2col, col2im,
// the bias and its gradient) under the SIMT emulator against plain loops: the feature
// extractor's first layer (1 channel, kernel 10, stride 5), its stride-2 layers (kernels 3 and
// 2), the positional convolution's padded kernels (19 with pad 9; 128 with pad 64 over fewer
// steps than the kernel), and grids smaller than the rows (the kernels' row loops); im2col also
// from a bf16 x (a bf16 activation), which must give the widened values exactly. im2col,
// col2im (summed in the kernel's k order) and the bias must match exactly; the bias gradient
// (double sums) within 1e-6. Exit 0 when every case passes.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "simt.h"
#include "simt_test.h"
#include "../../../kernels/cu_conv.cuh"

static int g_fail;
static simt_rng g_rng = {0x5bd1e9955bd1e995ull};

struct ccase {
  int Cin, T, K, stride, pad, ycap; /* ycap > 0: the grid's rows capped there */
};

static void run(const ccase &c) {
  const int64_t Cin = c.Cin, T = c.T, K = c.K, Tout = (T + 2 * c.pad - K) / c.stride + 1;
  std::vector<float> x((size_t)(Cin * T)), col((size_t)(Cin * K * Tout), NAN);
  for (auto &v : x) v = g_rng.sym();
  unsigned ry = c.ycap ? (unsigned)c.ycap : cv_cap(Cin * K);
  long err = simt::launch(dim3(cv_xblocks(Tout), ry), dim3(CV_THREADS), 0,
                          [&] { k_im2col(x.data(), Cin, T, (int)K, Tout, c.stride, c.pad, col.data()); });
  /* the same from x's bf16 rounding: col16 must be col of the rounded values */
  std::vector<unsigned short> x16(x.size());
  for (size_t i = 0; i < x.size(); i++) x16[i] = simt_bf16_bits(x[i]);
  std::vector<float> col16(col.size(), NAN);
  err += simt::launch(dim3(cv_xblocks(Tout), ry), dim3(CV_THREADS), 0,
                      [&] { k_im2col(x16.data(), Cin, T, (int)K, Tout, c.stride, c.pad, col16.data()); });
  int bad = 0;
  for (int64_t ck = 0; ck < Cin * K; ck++)
    for (int64_t t = 0; t < Tout; t++) {
      int64_t s = t * c.stride + ck % K - c.pad;
      bool in = s >= 0 && s < T;
      float want = in ? x[(size_t)((ck / K) * T + s)] : 0.0f;
      bad += col[(size_t)(ck * Tout + t)] != want;
      unsigned w16 = in ? (unsigned)x16[(size_t)((ck / K) * T + s)] << 16 : 0u;
      float want16;
      memcpy(&want16, &w16, sizeof want16);
      bad += col16[(size_t)(ck * Tout + t)] != want16;
    }
  /* col2im: dx += the gather of dcol, in k order as the kernel adds */
  std::vector<float> dcol((size_t)(Cin * K * Tout)), dx((size_t)(Cin * T)), dx0;
  for (auto &v : dcol) v = g_rng.sym();
  for (auto &v : dx) v = g_rng.sym();
  dx0 = dx;
  unsigned cy = c.ycap ? (unsigned)c.ycap : cv_cap(Cin);
  err += simt::launch(dim3(cv_xblocks(T), cy), dim3(CV_THREADS), 0,
                      [&] { k_col2im(dcol.data(), Cin, T, (int)K, Tout, c.stride, c.pad, dx.data()); });
  for (int64_t ch = 0; ch < Cin; ch++)
    for (int64_t s = 0; s < T; s++) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; k++) {
        int64_t u = s + c.pad - k;
        if (u < 0 || u % c.stride) continue;
        if (u / c.stride < Tout) acc += dcol[(size_t)((ch * K + k) * Tout + u / c.stride)];
      }
      bad += dx[(size_t)(ch * T + s)] != dx0[(size_t)(ch * T + s)] + acc;
    }
  /* the bias over (B, Cout, Tout) = (3, Cin, Tout), and its gradient */
  const int64_t B = 3, Co = Cin;
  std::vector<float> y((size_t)(B * Co * Tout)), y0, bias((size_t)Co), db((size_t)Co), db0;
  for (auto &v : y) v = g_rng.sym();
  for (auto &v : bias) v = g_rng.sym();
  for (auto &v : db) v = g_rng.sym();
  y0 = y, db0 = db;
  unsigned by = c.ycap ? (unsigned)c.ycap : cv_cap(Co);
  err += simt::launch(dim3(cv_xblocks(Tout), by, c.ycap ? 2u : cv_cap(B)), dim3(CV_THREADS), 0,
                      [&] { k_conv_bias(y.data(), bias.data(), B, Co, Tout); });
  for (int64_t i = 0; i < B * Co * Tout; i++) bad += y[(size_t)i] != y0[(size_t)i] + bias[(size_t)((i / Tout) % Co)];
  err += simt::launch(dim3(by), dim3(CV_THREADS), 0, [&] { k_conv_dbias(y0.data(), db.data(), B, Co, Tout); });
  std::vector<double> ref((size_t)Co, 0.0);
  for (int64_t o = 0; o < Co; o++)
    for (int64_t b = 0; b < B; b++)
      for (int64_t t = 0; t < Tout; t++) ref[(size_t)o] += y0[(size_t)((b * Co + o) * Tout + t)];
  double e = simt_nerr(db, ref, db0);
  bool ok = err == 0 && bad == 0 && e < 1e-6;
  printf("%s Cin=%d T=%d K=%d stride=%d pad=%d rows cap %d: %d wrong, dbias rel %.1e, emulator errors %ld\n",
         ok ? "ok  " : "FAIL", c.Cin, c.T, c.K, c.stride, c.pad, c.ycap, bad, e, err);
  if (!ok) g_fail = 1;
}

int main() {
  const ccase cases[] = {
      {1, 1000, 10, 5, 0, 0},  /* the first layer */
      {6, 257, 3, 2, 0, 0},    /* a stride-2 layer */
      {5, 64, 2, 2, 0, 0},     /* kernel 2 */
      {4, 100, 19, 1, 9, 0},   /* the positional convolution */
      {3, 50, 128, 1, 64, 0},  /* wav2vec2's: a kernel longer than the steps */
      {5, 300, 3, 2, 1, 4},    /* rows past the grid: the kernels' loops */
  };
  for (uint64_t seed : {0ull, 0x2545f4914f6cdd1dull, simt::HIGH_WARP_FIRST}) {
    simt::set_schedule(seed);
    printf("schedule %s\n", seed == simt::HIGH_WARP_FIRST ? "high warp first" : seed ? "skewed" : "lockstep");
    for (const ccase &c : cases) run(c);
  }
  printf("test_conv_emu: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail;
}
