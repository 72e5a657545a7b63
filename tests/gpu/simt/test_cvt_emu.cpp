// test_cvt_emu.cpp — the f32 <-> bf16 conversions (kernels/cu_cvt.cuh) under the SIMT emulator:
// the eight-a-step kernels (k_round8, k_widen8 with and without adding) must give what the
// one-a-thread kernels give, bit for bit, on values that include rounding ties, the largest
// float, subnormals, signed zeros, infinities and NaNs; for lengths that leave a tail of 0-7
// values; with a grid of one block (each thread strides) and with a full one. The one-a-thread
// rounding is itself checked against round-to-nearest-even computed apart (test_decode_emu).
// Exit 0 when every case passes.
#include <cstdio>
#include <vector>

#include "simt.h"
#include "simt_test.h"
#include "../../../kernels/cu_cvt.cuh"

static int g_fail;
static simt_rng g_rng = {0x9e3779b97f4a7c15ull};

/* n values: random magnitudes, then the special ones repeated (so the tail meets them too) */
static std::vector<float> values(int64_t n) {
  static const uint32_t special[] = {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f7fffffu, 0x00000001u, 0x80000000u,
                                     0x7f800000u, 0xff800000u, 0x7fc00001u, 0x7f800001u, 0x3f7fffffu, 0x00808000u};
  std::vector<float> v((size_t)n);
  for (int64_t i = 0; i < n; i++)
    v[(size_t)i] = i % 5 == 4 ? __uint_as_float(special[(i / 5) % 12]) : g_rng.sym() * std::ldexp(1.0f, (int)(i % 40) - 20);
  return v;
}

static void run(int64_t n, bool one_block) {
  std::vector<float> src = values(n);
  /* vectors of float4 / uint4 give the kernels 16-byte aligned storage, as the launchers demand */
  std::vector<float4> s4((size_t)(n / 4 + 2)), d4a((size_t)(n / 4 + 2)), d4b((size_t)(n / 4 + 2));
  std::vector<uint4> b4a((size_t)(n / 8 + 2)), b4b((size_t)(n / 8 + 2));
  float *s = (float *)s4.data(), *wa = (float *)d4a.data(), *wb = (float *)d4b.data();
  unsigned short *ra = (unsigned short *)b4a.data(), *rb = (unsigned short *)b4b.data();
  for (int64_t i = 0; i < n; i++) s[i] = src[(size_t)i];
  const unsigned g1 = one_block ? 1 : (unsigned)((n + 255) / 256 + 1), g8 = one_block ? 1 : (unsigned)((n / 8 + 255) / 256 + 1);
  long err = simt::launch(dim3(g1), dim3(256), 0, [&] { k_f32_to_bf16(s, ra, n); });
  err += simt::launch(dim3(g8), dim3(256), 0, [&] { k_round8(s, rb, n); });
  long bad = 0;
  for (int64_t i = 0; i < n; i++) bad += ra[i] != rb[i];
  /* widen the rounding back, then add it to a base: both ways */
  err += simt::launch(dim3(g1), dim3(256), 0, [&] { k_bf16_to_f32(ra, wa, n); });
  err += simt::launch(dim3(g8), dim3(256), 0, [&] { k_widen8<false>(ra, wb, n); });
  for (int64_t i = 0; i < n; i++) bad += __float_as_uint(wa[i]) != __float_as_uint(wb[i]);
  for (int64_t i = 0; i < n; i++) wa[i] = wb[i] = g_rng.sym();
  err += simt::launch(dim3(g1), dim3(256), 0, [&] { k_add_bf16(ra, wa, n); });
  err += simt::launch(dim3(g8), dim3(256), 0, [&] { k_widen8<true>(ra, wb, n); });
  for (int64_t i = 0; i < n; i++) bad += __float_as_uint(wa[i]) != __float_as_uint(wb[i]);
  bool ok = err == 0 && bad == 0;
  printf("%s n=%lld %s: %ld values differ, emulator errors %ld\n", ok ? "ok  " : "FAIL", (long long)n,
         one_block ? "one block" : "full grid", bad, err);
  if (!ok) g_fail = 1;
}

int main() {
  for (int64_t n : {0, 1, 7, 8, 9, 15, 16, 17, 1000, 4099, 65536 + 3})
    for (bool one : {false, true}) run(n, one);
  printf("test_cvt_emu: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail;
}
