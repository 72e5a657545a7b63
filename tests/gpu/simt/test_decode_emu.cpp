// test_decode_emu.cpp — the kernels of a decoding step run under the SIMT emulator against
// double-precision references: the one-query attention (k_attn_decode, the default, and the
// split-key pair k_attn_dec_part + k_attn_dec_merge behind cuda_set_decode_kernels, its P V
// one column a thread and four (at_sk_pv4), and the pair in one launch (k_attn_dec_fused: run
// twice with the same counters, which must end at zero, and the same bits);
// kernels/cu_decode.cuh) over GQA, key padding, q_pos0, additive biases with -inf entries
// (whole chunks masked), rows with no visible key, head sizes 4 to 256, caches longer than one
// chunk; and the small-row GEMM (k_smallm_nt, kernels/cu_smallm.cuh, x kept across a block's
// tiles when K <= 1,024, grid-stride blocks with the next tile's weights loaded ahead; a block per tile of
// columns, its 8 warps splitting K, their sums added in shared memory) for 1 to 16 rows, K of 9
// to 1,216 float4s over the block's threads (fewer than a warp, fewer than the block, several
// per thread), a grid smaller than the tiles, bias and beta, with f32 weights and with their
// bf16 copy
// (k_f32_to_bf16, itself checked against round-to-nearest-even computed apart, specials too). Both are f32 kernels: normalised error
// <= 1e-5 as the GPU's op parity asks, and lse within 1e-5. Every case runs in lockstep and
// under a skewed schedule. Exit 0 when every case passes.
#include <cmath>
#include <cstring>
#include <cstdio>
#include <vector>

#include "simt.h"
#include "simt_test.h"
#include "../../../kernels/cu_decode.cuh"
#include "../../../kernels/cu_cvt.cuh"
#include "../../../kernels/cu_smallm.cuh"

static int g_fail;
static simt_rng g_rng = {0x9e3779b97f4a7c15ull};



struct dcase {
  int B, Tk, Hq, Hkv, D, causal;
  std::vector<int> kv_len, q_pos0;
  int bias; /* 0 none, 1 random, 2 random with -inf entries and keys [128, 256) masked */
};

/* kernel 0: k_attn_decode; 1: the split-key pair */
/* split 2: the four-column P V (vec 2); 3: k_attn_dec_fused (vec 2 where D % 4 == 0), run twice */
static void run_attn(const dcase &c, int split) {
  const int B = c.B, Tk = c.Tk, Hq = c.Hq, Hkv = c.Hkv, D = c.D;
  std::vector<float> q((size_t)B * Hq * D), k((size_t)B * Tk * Hkv * D), v(k.size()), bias;
  for (auto &x : q) x = g_rng.sym();
  for (auto &x : k) x = g_rng.sym();
  for (auto &x : v) x = g_rng.sym();
  if (c.bias) {
    bias.resize((size_t)Hq * Tk);
    for (size_t i = 0; i < bias.size(); i++) {
      bias[i] = g_rng.sym() * 2.0f;
      if (c.bias == 2 && (g_rng.sym() < -0.5f || (i % Tk >= 128 && i % Tk < 256))) bias[i] = -INFINITY;
    }
  }
  const int *kl = c.kv_len.empty() ? nullptr : c.kv_len.data(), *qp = c.q_pos0.empty() ? nullptr : c.q_pos0.data();
  const float scale = 1.0f / std::sqrt((float)D);
  std::vector<float> out(q.size(), NAN), lse((size_t)B * Hq, NAN);
  long err;
  if (!split) {
    err = simt::launch(dim3((unsigned)(B * Hq)), dim3(AT_DEC_THREADS), sizeof(float) * (size_t)AT_DEC_SC(Tk), [&] {
      k_attn_decode(q.data(), k.data(), v.data(), out.data(), lse.data(), c.bias ? bias.data() : nullptr, kl, qp,
                    c.causal, scale, Tk, Hq, Hkv, D);
    });
  } else if (split == 3) { /* one launch, the last chunk merging; twice, as a replayed graph runs it */
    int S = (Tk + AT_SK_KC - 1) / AT_SK_KC;
    std::vector<float> part((size_t)B * Hq * S * (D + 2), NAN), out1(out.size(), NAN), lse1(lse.size(), NAN);
    std::vector<unsigned> cnt((size_t)B * Hq, 0u);
    int vec = D % 4 == 0 ? 2 : 0;
    err = 0;
    for (int rep = 0; rep < 2; rep++) {
      float *o = rep ? out.data() : out1.data(), *l = rep ? lse.data() : lse1.data();
      err += simt::launch(dim3((unsigned)(B * Hq), (unsigned)S), dim3(AT_SK_KC), 0, [&] {
        k_attn_dec_fused(q.data(), k.data(), v.data(), part.data(), c.bias ? bias.data() : nullptr, kl, qp, c.causal,
                         scale, Tk, Hq, Hkv, D, vec, o, l, cnt.data());
      });
      for (unsigned u : cnt) err += u != 0; /* every counter back at zero */
    }
    err += memcmp(out.data(), out1.data(), out.size() * sizeof(float)) != 0; /* the replay's bits */
    err += memcmp(lse.data(), lse1.data(), lse.size() * sizeof(float)) != 0;
  } else {
    int S = (Tk + AT_SK_KC - 1) / AT_SK_KC;
    std::vector<float> part((size_t)B * Hq * S * (D + 2), NAN);
    int vec = D % 4 == 0 ? split : 0;
    err = simt::launch(dim3((unsigned)(B * Hq), (unsigned)S), dim3(AT_SK_KC), 0, [&] {
      k_attn_dec_part(q.data(), k.data(), v.data(), part.data(), c.bias ? bias.data() : nullptr, kl, qp, c.causal,
                      scale, Tk, Hq, Hkv, D, vec);
    });
    err += simt::launch(dim3((unsigned)(B * Hq)), dim3(AT_SK_MT), 0, [&] {
      k_attn_dec_merge(part.data(), out.data(), lse.data(), kl, qp, c.causal, Tk, Hq, D, S);
    });
  }
  std::vector<double> ro(out.size(), 0.0);
  double lse_err = 0;
  int bad = 0;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < Hq; h++) {
      int hk = h / (Hq / Hkv);
      int lim = kl && kl[b] < Tk ? kl[b] : Tk; /* a kv_len past Tk sees the Tk keys there are */
      if (c.causal && (qp ? qp[b] : 0) + 1 < lim) lim = (qp ? qp[b] : 0) + 1;
      if (lim < 0) lim = 0;
      std::vector<double> s((size_t)Tk, -INFINITY);
      double mx = -INFINITY;
      for (int j = 0; j < lim; j++) {
        double d0 = 0;
        for (int d = 0; d < D; d++) d0 += (double)q[((size_t)b * Hq + h) * D + d] * k[(((size_t)b * Tk + j) * Hkv + hk) * D + d];
        s[j] = scale * d0 + (c.bias ? bias[(size_t)h * Tk + j] : 0.0);
        mx = std::max(mx, s[j]);
      }
      float got = lse[(size_t)b * Hq + h];
      if (mx == -INFINITY) {
        bad += !(std::isinf(got) && got < 0);
        continue;
      }
      double sum = 0;
      for (int j = 0; j < lim; j++) sum += std::exp(s[j] - mx);
      lse_err = std::max(lse_err, std::fabs(got - (mx + std::log(sum))));
      for (int j = 0; j < lim; j++)
        for (int d = 0; d < D; d++)
          ro[((size_t)b * Hq + h) * D + d] += std::exp(s[j] - mx) / sum * v[(((size_t)b * Tk + j) * Hkv + hk) * D + d];
    }
  double e = simt_nerr(out, ro);
  bool ok = err == 0 && bad == 0 && e < 1e-5 && lse_err < 1e-5;
  printf("%s %s B=%d Tk=%d H=%d/%d D=%d causal=%d kv_len=%s q_pos0=%s bias=%d: out rel %.2e, lse abs %.2e, bad %d, "
         "emulator errors %ld\n",
         ok ? "ok  " : "FAIL", split == 3 ? "fused " : split == 2 ? "split4" : split ? "split " : "decode", B, Tk, Hq, Hkv, D, c.causal, kl ? "yes" : "no",
         qp ? "yes" : "no", c.bias, e, lse_err, bad, err);
  if (!ok) g_fail = 1;
}

/* the bf16 copy of the weights (k_f32_to_bf16) against round-to-nearest-even computed in double:
 * the candidate below and above, the closer one, ties to the even mantissa; NaN stays NaN */
static void run_to_bf16() {
  std::vector<float> src;
  for (int i = 0; i < 4000; i++) src.push_back(g_rng.sym() * std::ldexp(1.0f, (i % 40) - 20));
  uint32_t special[] = {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f7fffffu, 0x00000001u, 0x80000000u,
                        0x7f800000u, 0xff800000u, 0x7fc00001u, 0x7f800001u, 0x3f7fffffu, 0x00808000u};
  for (uint32_t u : special) src.push_back(__uint_as_float(u));
  int64_t n = (int64_t)src.size();
  std::vector<unsigned short> dst((size_t)n, 0xdead);
  long err = simt::launch(dim3((unsigned)((n + 255) / 256)), dim3(256), 0,
                          [&] { k_f32_to_bf16(src.data(), dst.data(), n); });
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    float f = src[(size_t)i], got = __uint_as_float((uint32_t)dst[(size_t)i] << 16);
    if (std::isnan(f)) {
      bad += !std::isnan(got);
      continue;
    }
    bad += dst[(size_t)i] != simt_bf16_bits(f);
  }
  bool ok = err == 0 && bad == 0;
  printf("%s to_bf16 n=%lld: %d wrong, emulator errors %ld\n", ok ? "ok  " : "FAIL", (long long)n, bad, err);
  if (!ok) g_fail = 1;
}

/* bf16: the weights as their bf16 copy (k_f32_to_bf16), the reference with the same rounding */
static void run_smallm(int M, int N, int K, int bias, float beta, bool bf16 = false, unsigned grid_cap = 0) {
  std::vector<float4> x((size_t)M * K / 4), w((size_t)N * K / 4);
  for (auto &f : x) f = make_float4(g_rng.sym(), g_rng.sym(), g_rng.sym(), g_rng.sym());
  for (auto &f : w) f = make_float4(g_rng.sym(), g_rng.sym(), g_rng.sym(), g_rng.sym());
  std::vector<uint2> wb(bf16 ? (size_t)N * K / 4 : 0);
  long err0 = 0;
  if (bf16) {
    int64_t nw = (int64_t)N * K;
    err0 = simt::launch(dim3((unsigned)((nw + 255) / 256)), dim3(256), 0,
                        [&] { k_f32_to_bf16((const float *)w.data(), (unsigned short *)wb.data(), nw); });
    for (int64_t i = 0; i < nw; i++) /* the reference uses the rounded weights */
      ((float *)w.data())[i] = __uint_as_float((uint32_t)((unsigned short *)wb.data())[i] << 16);
  }
  std::vector<float> b((size_t)N), y((size_t)M * N), y0;
  for (auto &t : b) t = g_rng.sym();
  for (auto &t : y) t = beta == 0.0f ? NAN : g_rng.sym(); /* beta 0 must not read y */
  y0 = y;
  int mm = M <= 1 ? 1 : M <= 2 ? 2 : M <= 4 ? 4 : M <= 8 ? 8 : 16;
  dim3 grid(grid_cap ? grid_cap : sm_blocks(mm, N));
  const float *bp = bias ? b.data() : nullptr;
  long err;
  int64_t K4 = K / 4;
  /* the form the backend launches (sm_one) */
#define SM1(MMv, ONEv)                                                                                          \
  (bf16 ? simt::launch(grid, dim3(SM_THREADS), 0,                                                               \
                       [&] { k_smallm_nt<MMv, uint2, ONEv>(x.data(), wb.data(), bp, y.data(), M, N, K4, beta); }) \
        : simt::launch(grid, dim3(SM_THREADS), 0,                                                               \
                       [&] { k_smallm_nt<MMv, float4, ONEv>(x.data(), w.data(), bp, y.data(), M, N, K4, beta); }))
#define SM(MMv) (sm_one(MMv, K4) ? SM1(MMv, MMv >= 4) : SM1(MMv, false))
  err = err0 + (M <= 1 ? SM(1) : M <= 2 ? SM(2) : M <= 4 ? SM(4) : M <= 8 ? SM(8) : SM(16));
#undef SM
#undef SM1
  std::vector<double> ref((size_t)M * N);
  const float *xf = (const float *)x.data(), *wf = (const float *)w.data();
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double s = 0;
      for (int kk = 0; kk < K; kk++) s += (double)xf[(size_t)m * K + kk] * wf[(size_t)n * K + kk];
      if (bias) s += b[n];
      if (beta != 0.0f) s += (double)beta * y0[(size_t)m * N + n];
      ref[(size_t)m * N + n] = s;
    }
  double e = simt_nerr(y, ref);
  bool ok = err == 0 && e < 1e-5;
  printf("%s smallm M=%d N=%d K=%d bias=%d beta=%g weights=%s: rel %.2e, emulator errors %ld\n", ok ? "ok  " : "FAIL",
         M, N, K, bias, (double)beta, bf16 ? "bf16" : "f32", e, err);
  if (!ok) g_fail = 1;
}

static void run_all() {
  for (int split = 0; split < 4; split++) {
    run_attn({3, 300, 7, 1, 64, 1, {300, 1, 0}, {299, 0, 0}, 0}, split); /* Qwen's GQA 7, a row with no key */
    run_attn({2, 1100, 4, 2, 64, 1, {1100, 700}, {1099, 699}, 0}, split); /* a cache of 9 chunks */
    run_attn({2, 300, 4, 2, 160, 0, {300, 123}, {}, 1}, split);          /* D 160: two column passes */
    run_attn({2, 400, 2, 1, 16, 0, {400, 130}, {}, 2}, split);           /* -inf biases, a masked chunk */
    run_attn({1, 37, 2, 2, 4, 0, {}, {}, 0}, split);                     /* tiny head, odd cache */
    run_attn({2, 50, 3, 1, 6, 1, {50, 20}, {49, 19}, 1}, split);        /* D not a multiple of 4 */
    run_attn({2, 200, 2, 1, 20, 1, {200, 129}, {199, 128}, 0}, split); /* D 20: 5 of 8 column threads busy */
    run_attn({1, 140, 2, 2, 256, 0, {}, {}, 1}, split);                 /* D 256: 2 key groups of 64 threads */
    run_attn({2, 150, 2, 1, 16, 0, {100, 350}, {}, 1}, split); /* a replayed step's kv_len past Tk: capped */
  }
  for (int M : {1, 2, 3, 8, 13, 16}) {
    run_smallm(M, 300, 896, 1, 0.0f); /* K4 224: one float4 each for 7 warps, the 8th idle */
    run_smallm(M, 33, 1100, 0, 0.5f); /* K4 275: threads with 1 and 2 */
  }
  run_smallm(1, 1, 4, 1, 1.0f);
  run_smallm(8, 7, 36, 0, 0.0f);  /* K4 9: most lanes idle, 7 warps with nothing */
  run_smallm(8, 21, 4864, 1, 0.5f); /* K4 1,216: the down projection's K, 4-5 float4s per thread */
  run_smallm(16, 5, 4864, 0, 0.0f, true);
  run_smallm(8, 300, 64, 1, 0.5f, false, 2); /* 2 blocks for 75 tiles: the grid-stride loop */
  run_smallm(8, 60, 2048, 1, 0.5f, false, 2); /* the same with every warp's sums in part */
  for (int M : {1, 8, 16}) run_smallm(M, 300, 896, 1, 0.0f, true); /* the bf16 weights' copy */
  run_smallm(3, 33, 1100, 0, 0.5f, true);
  /* x kept across a block's tiles (K4 <= 256, M >= 4), the next tile's weights loaded ahead: the
   * grid as the backend cuts it on a device of 4 SMs (8 blocks), blocks with unequal tile
   * counts, a last tile past N, K4 at 256 exactly and just past it (the per-tile path) */
  run_smallm(8, 1000, 896, 1, 0.5f, true, sm_blocks_on(8, 1000, 224, 4, 2));
  run_smallm(5, 1000, 896, 1, 0.5f, true, 3); /* fewer rows than the form's 8, several tiles a block */
  run_smallm(8, 1003, 896, 0, 0.0f, false, 3);
  run_smallm(4, 37, 896, 1, 0.0f, true, 2);
  run_smallm(16, 301, 1024, 1, 0.5f, true, sm_blocks_on(16, 301, 256, 4, 1));
  run_smallm(5, 99, 1028, 0, 0.5f, true, 4);
  run_to_bf16();
}

int main() {
  for (uint64_t seed : {0ull, 0x2545f4914f6cdd1dull, simt::HIGH_WARP_FIRST}) {
    simt::set_schedule(seed);
    printf("schedule %s\n", seed == simt::HIGH_WARP_FIRST ? "high warp first" : seed ? "skewed" : "lockstep");
    run_all();
  }
  printf("test_decode_emu: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail;
}
