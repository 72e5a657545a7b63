// test_proj_emu.cpp — the kernels around the stacked projections (kernels/cu_proj.cuh) run
// under the SIMT emulator against double-precision references: split_heads with and without
// RoPE, merge_heads (its backward: heads put back, rotated back), SwiGLU on separate and on
// packed [gate | up] rows, forward and backward (gradients added to random starting values);
// the activations (kernels/cu_act.cuh: GELU, ReLU, SiLU) forward and backward; the bf16-only
// outputs (a bf16 activation) bit for bit the f32 output's rounding.
// f32 kernels: normalised error <= 1e-6 (the rotation's angle as the host computes it). Exit 0
// when every case passes.
#include <cmath>
#include <cstdio>
#include <vector>

#include "simt.h"
#include "simt_test.h"
#include "../../../kernels/cu_act.cuh"
#include "../../../kernels/cu_proj.cuh"

static int g_fail;
static simt_rng g_rng = {0x853c49e6748fea9bull};



static unsigned blocks(int64_t n) { return (unsigned)((n + 255) / 256 < 1 ? 1 : (n + 255) / 256); }

static void check(const char *what, double e, long err) {
  bool ok = err == 0 && e < 1e-6;
  printf("%s %s: rel %.2e, emulator errors %ld\n", ok ? "ok  " : "FAIL", what, e, err);
  if (!ok) g_fail = 1;
}

/* cache: k and v are tables of R = 2 BT + 3 rows holding 7 (a KV cache), and row r's keys and
 * values go to row R - 1 - 2r (kvrow); the other rows must keep their 7 */
static void run_heads(int BT, int Hq, int Hkv, int D, int rope, bool cache = false) {
  int H = Hq + 2 * Hkv, half = D / 2, R = cache ? 2 * BT + 3 : BT;
  std::vector<float> x((size_t)BT * H * D), q((size_t)BT * Hq * D, NAN), k((size_t)R * Hkv * D, cache ? 7.0f : NAN),
      v(k);
  std::vector<int32_t> kvrow((size_t)BT);
  for (int r = 0; r < BT; r++) kvrow[(size_t)r] = cache ? R - 1 - 2 * r : r;
  const int32_t *kr = cache ? kvrow.data() : nullptr;
  for (auto &t : x) t = g_rng.sym();
  std::vector<int32_t> pos((size_t)BT);
  for (int r = 0; r < BT; r++) pos[(size_t)r] = (r * 37) % 900;
  std::vector<float> inv((size_t)half);
  for (int i = 0; i < half; i++) inv[(size_t)i] = 1.0f / powf(1e6f, (float)(2 * i) / (float)D);
  const int32_t *pp = rope ? pos.data() : nullptr;
  int64_t n = (int64_t)BT * H * half;
  long err = simt::launch(dim3(blocks(n)), dim3(256), 0, [&] {
    k_split_heads(x.data(), q.data(), k.data(), v.data(), pp, kr, inv.data(), BT, Hq, Hkv, half, 0, nullptr, nullptr,
                  nullptr);
  });
  /* split for an attention that keeps its operands (not into a cache): q, k, v rounded into
   * their bf16 slots as well, bit for bit the rounding of what the f32 outputs hold */
  if (!cache) {
    std::vector<float> q3(q.size(), NAN), k3(k.size(), NAN), v3(v.size(), NAN);
    std::vector<unsigned short> qb(q.size(), 0xffff), kb(k.size(), 0xffff), vb(v.size(), 0xffff);
    err += simt::launch(dim3(blocks(n)), dim3(256), 0, [&] {
      k_split_heads(x.data(), q3.data(), k3.data(), v3.data(), pp, nullptr, inv.data(), BT, Hq, Hkv, half, 0,
                    qb.data(), kb.data(), vb.data());
    });
    long bad = 0;
    for (size_t i = 0; i < q.size(); i++) bad += memcmp(&q[i], &q3[i], 4) != 0 || qb[i] != simt_bf16_bits(q3[i]);
    for (size_t i = 0; i < k.size(); i++)
      bad += memcmp(&k[i], &k3[i], 4) != 0 || memcmp(&v[i], &v3[i], 4) != 0 || kb[i] != simt_bf16_bits(k3[i]) ||
             vb[i] != simt_bf16_bits(v3[i]);
    if (bad) printf("  split with the keep's bf16 slots: %ld values differ\n", bad), err += bad;
  }
  /* the 32-bit index form (cuda_set_elem_vec) must write the same bits */
  {
    std::vector<float> q2(q.size(), NAN), k2((size_t)R * Hkv * D, cache ? 7.0f : NAN), v2(k2);
    err += simt::launch(dim3(blocks(n)), dim3(256), 0, [&] {
      k_split_heads<uint32_t>(x.data(), q2.data(), k2.data(), v2.data(), pp, kr, inv.data(), BT, Hq, Hkv, half, 0,
                              nullptr, nullptr, nullptr);
    });
    long bad = 0;
    for (size_t i = 0; i < q.size(); i++) bad += memcmp(&q[i], &q2[i], 4) != 0;
    for (size_t i = 0; i < k.size(); i++) bad += memcmp(&k[i], &k2[i], 4) != 0 || memcmp(&v[i], &v2[i], 4) != 0;
    if (bad) printf("  32-bit indices: %ld values differ\n", bad), err += bad;
  }
  /* reference: head h of row r goes to q, k or v, rotated when it is a q or k head */
  std::vector<double> rq(q.size()), rk(k.size(), 7.0), rv(v.size(), 7.0);
  for (int r = 0; r < BT; r++)
    for (int h = 0; h < H; h++) {
      const float *xr = &x[((size_t)r * H + h) * D];
      size_t kr_ = (size_t)kvrow[(size_t)r];
      double *dst = h < Hq ? &rq[((size_t)r * Hq + h) * D]
                    : h < Hq + Hkv ? &rk[(kr_ * Hkv + h - Hq) * D]
                                   : &rv[(kr_ * Hkv + h - Hq - Hkv) * D];
      for (int i = 0; i < half; i++) {
        if (!rope || h >= Hq + Hkv) {
          dst[i] = xr[i], dst[i + half] = xr[i + half];
          continue;
        }
        double ang = (double)((float)pos[(size_t)r] * inv[(size_t)i]);
        dst[i] = xr[i] * std::cos(ang) - xr[i + half] * std::sin(ang);
        dst[i + half] = xr[i + half] * std::cos(ang) + xr[i] * std::sin(ang);
      }
    }
  char what[96];
  snprintf(what, sizeof what, "split_heads BT=%d H=%d/%d D=%d rope=%d%s", BT, Hq, Hkv, D, rope,
           cache ? " into cache rows" : "");
  double e = std::max(simt_nerr(q, rq), std::max(simt_nerr(k, rk), simt_nerr(v, rv)));
  check(what, e, err);
  if (cache) return; /* merge_heads has no cache form */
  /* merge_heads of what split gave must give x back (rotation undone), and, with xb, the merged
   * rows' bf16 rounding as well (a gradient's, for the q/k/v GEMM's backward) */
  std::vector<float> back(x.size(), NAN);
  std::vector<unsigned short> xb(x.size(), 0xffff);
  err = simt::launch(dim3(blocks(n)), dim3(256), 0, [&] {
    k_split_heads(back.data(), q.data(), k.data(), v.data(), pp, nullptr, inv.data(), BT, Hq, Hkv, half, 1,
                  xb.data(), nullptr, nullptr);
  });
  long bad = 0;
  for (size_t i = 0; i < xb.size(); i++) bad += xb[i] != simt_bf16_bits(back[i]);
  if (bad) printf("  %ld bf16 roundings of the merged rows differ\n", bad), err += bad;
  std::vector<double> rx(x.begin(), x.end());
  snprintf(what, sizeof what, "merge_heads BT=%d H=%d/%d D=%d rope=%d", BT, Hq, Hkv, D, rope);
  check(what, simt_nerr(back, rx), err);
}

static void run_swiglu(int N, int H, int packed) {
  int ld = packed ? 2 * H : H;
  std::vector<float> gt((size_t)N * ld), up(packed ? 0 : (size_t)N * H), y((size_t)N * H, NAN), g((size_t)N * H);
  for (auto &t : gt) t = g_rng.sym() * 3.0f;
  for (auto &t : up) t = g_rng.sym() * 3.0f;
  for (auto &t : g) t = g_rng.sym();
  std::vector<float> dg((size_t)N * ld), du(packed ? 0 : (size_t)N * H);
  for (auto &t : dg) t = g_rng.sym();
  for (auto &t : du) t = g_rng.sym();
  std::vector<float> dg0 = dg, du0 = du;
  const float *u = packed ? gt.data() + H : up.data();
  float *dup = packed ? dg.data() + H : du.data();
  int64_t n = (int64_t)N * H;
  std::vector<unsigned short> yb((size_t)n, 0xffff); /* y rounded to bf16 as well (the fused rounding) */
  long err = simt::launch(dim3(blocks(n)), dim3(256), 0, [&] { k_swiglu(gt.data(), u, y.data(), yb.data(), n, H, ld); });
  /* packed: the new [dgate | dup] rows rounded to bf16 as well (the packed GEMM's dC), laid out
   * as they are; separate: no rounding (the kernel takes none) */
  std::vector<unsigned short> pb(packed ? dg.size() : 0, 0xffff);
  std::vector<float> dgc = dg, duc = du; /* the 32-bit index form below starts from the same */
  err += simt::launch(dim3(blocks(n)), dim3(256), 0, [&] {
    k_swiglu_bwd(gt.data(), u, g.data(), dg.data(), dup, packed ? pb.data() : nullptr, n, H, ld, 0);
  });
  { /* set: the gradients written over NaN, the values added to zero (and their rounding) */
    std::vector<float> dz(dg.size(), 0.0f), dzu(du.size(), 0.0f), dn(dg.size(), NAN), dnu(du.size(), NAN);
    std::vector<unsigned short> pz(pb.size(), 0xffff), pn(pb.size(), 0xffff);
    err += simt::launch(dim3(blocks(n)), dim3(256), 0, [&] {
      k_swiglu_bwd(gt.data(), u, g.data(), dz.data(), packed ? dz.data() + H : dzu.data(), packed ? pz.data() : nullptr,
                   n, H, ld, 0);
    });
    err += simt::launch(dim3(blocks(n)), dim3(256), 0, [&] {
      k_swiglu_bwd(gt.data(), u, g.data(), dn.data(), packed ? dn.data() + H : dnu.data(), packed ? pn.data() : nullptr,
                   n, H, ld, 1);
    });
    long bad = 0;
    for (size_t i = 0; i < dz.size(); i++) bad += !(dz[i] == dn[i]);
    for (size_t i = 0; i < pz.size(); i++) bad += pz[i] != pn[i] && (pz[i] | pn[i]) != 0x8000; /* +-0 alike */
    for (size_t i = 0; i < dzu.size(); i++) bad += !(dzu[i] == dnu[i]);
    if (bad) printf("  written over NaN: %ld values differ from added to zero\n", bad), err += bad;
  }
  { /* the 32-bit index form (cuda_set_elem_vec): the same bits forward and backward */
    std::vector<float> y2(y.size(), NAN);
    std::vector<unsigned short> yb2(yb.size(), 0xffff), pb2(pb.size(), 0xffff);
    const float *u2 = packed ? gt.data() + H : up.data();
    float *dup2 = packed ? dgc.data() + H : duc.data();
    err += simt::launch(dim3(blocks(n)), dim3(256), 0,
                        [&] { k_swiglu<uint32_t>(gt.data(), u2, y2.data(), yb2.data(), n, H, ld); });
    err += simt::launch(dim3(blocks(n)), dim3(256), 0, [&] {
      k_swiglu_bwd<uint32_t>(gt.data(), u2, g.data(), dgc.data(), dup2, packed ? pb2.data() : nullptr, n, H, ld, 0);
    });
    long bad = 0;
    for (size_t i = 0; i < y.size(); i++) bad += memcmp(&y[i], &y2[i], 4) != 0 || yb[i] != yb2[i];
    for (size_t i = 0; i < dg.size(); i++) bad += memcmp(&dg[i], &dgc[i], 4) != 0;
    for (size_t i = 0; i < du.size(); i++) bad += memcmp(&du[i], &duc[i], 4) != 0;
    for (size_t i = 0; i < pb.size(); i++) bad += pb[i] != pb2[i];
    if (bad) printf("  32-bit indices: %ld values differ\n", bad), err += bad;
  }
  std::vector<double> ry((size_t)N * H), rdg(dg.size()), rdu(du.size());
  for (size_t i = 0; i < dg.size(); i++) rdg[i] = dg0[i];
  for (size_t i = 0; i < du.size(); i++) rdu[i] = du0[i];
  for (int r = 0; r < N; r++)
    for (int j = 0; j < H; j++) {
      size_t o = (size_t)r * ld + j;
      double a = gt[o], b = u[o], s = 1.0 / (1.0 + std::exp(-a)), gy = g[(size_t)r * H + j];
      ry[(size_t)r * H + j] = a * s * b;
      rdg[o] += gy * b * s * (1.0 + a * (1.0 - s));
      if (packed)
        rdg[o + H] += gy * a * s;
      else
        rdu[o] += gy * a * s;
    }
  char what[96];
  snprintf(what, sizeof what, "swiglu N=%d H=%d packed=%d (fwd, bwd)", N, H, packed);
  double e = std::max(simt_nerr(y, ry), simt_nerr(dg, rdg));
  if (!packed) e = std::max(e, simt_nerr(du, rdu));
  long bad = 0; /* the bf16 bits: y's nearest even */
  for (size_t i = 0; i < y.size(); i++) bad += yb[i] != simt_bf16_bits(y[i]);
  long badg = 0; /* the packed gradient's bits: dg's (both halves) nearest even */
  for (size_t i = 0; i < pb.size(); i++) badg += pb[i] != simt_bf16_bits(dg[i]);
  if (badg) printf("  %ld bf16 roundings of the packed gradient differ\n", badg), err += badg;
  if (bad) printf("  %ld bf16 roundings of y differ\n", bad), err += bad;
  std::vector<unsigned short> yo16((size_t)n, 0xffff); /* y as a bf16 activation: no f32 y, the same bits */
  err += simt::launch(dim3(blocks(n)), dim3(256), 0, [&] { k_swiglu(gt.data(), u, nullptr, yo16.data(), n, H, ld); });
  long bad16 = 0;
  for (size_t i = 0; i < yo16.size(); i++) bad16 += yo16[i] != yb[i];
  if (bad16) printf("  bf16-only output: %ld values differ\n", bad16), err += bad16;
  check(what, e, err);
}

/* one activation over n values: f32 y, bf16 y (the same bits as y's rounding), dx added */
static void run_act(int kind, int64_t n) {
  std::vector<float> x((size_t)n), y((size_t)n, NAN), g((size_t)n), dx((size_t)n);
  for (auto &t : x) t = g_rng.sym() * 4.0f;
  for (auto &t : g) t = g_rng.sym();
  for (auto &t : dx) t = g_rng.sym();
  std::vector<float> dx0 = dx;
  std::vector<unsigned short> yb((size_t)n, 0xffff);
  long err = simt::launch(dim3(blocks(n)), dim3(256), 0, [&] { k_act(kind, x.data(), y.data(), nullptr, n); });
  err += simt::launch(dim3(blocks(n)), dim3(256), 0, [&] { k_act(kind, x.data(), nullptr, yb.data(), n); });
  /* the backward twice from the same dx: without and with dx's new values rounded to bf16 as
   * well (the GEMM before it takes them as its dC); both must add the same */
  std::vector<float> dx2 = dx;
  std::vector<unsigned short> dxb((size_t)n, 0xffff);
  err += simt::launch(dim3(blocks(n)), dim3(256), 0, [&] { k_act_bwd(kind, x.data(), g.data(), dx.data(), nullptr, n, 0); });
  err += simt::launch(dim3(blocks(n)), dim3(256), 0,
                      [&] { k_act_bwd(kind, x.data(), g.data(), dx2.data(), dxb.data(), n, 0); });
  /* set: dx written over NaN, the values added to zero; the eight-a-step form the same bits */
  std::vector<float> dz((size_t)n, 0.0f), dn((size_t)n, NAN);
  std::vector<unsigned short> dzb((size_t)n, 0xffff), dnb((size_t)n, 0xffff);
  err += simt::launch(dim3(blocks(n)), dim3(256), 0, [&] { k_act_bwd(kind, x.data(), g.data(), dz.data(), dzb.data(), n, 0); });
  err += simt::launch(dim3(blocks(n)), dim3(256), 0, [&] { k_act_bwd(kind, x.data(), g.data(), dn.data(), dnb.data(), n, 1); });
  long bads = 0;
  for (int64_t i = 0; i < n; i++)
    bads += !(dz[(size_t)i] == dn[(size_t)i]) || (dzb[(size_t)i] != dnb[(size_t)i] && (dzb[(size_t)i] | dnb[(size_t)i]) != 0x8000);
  long badb = 0;
  for (int64_t i = 0; i < n; i++)
    badb += dx2[(size_t)i] != dx[(size_t)i] || dxb[(size_t)i] != simt_bf16_bits(dx[(size_t)i]);
  if (badb) printf("  backward with the rounding: %ld values differ\n", badb), err += badb;
  /* the eight-a-step kernels (cuda_set_elem_vec) on 16-byte aligned copies, from the same dx,
   * with a grid of one block (each thread strides): the same bits as one a thread */
  {
    std::vector<float4> s4((size_t)(n / 4 + 2)), g4((size_t)(n / 4 + 2)), y4((size_t)(n / 4 + 2)), d4((size_t)(n / 4 + 2));
    std::vector<uint4> yb4((size_t)(n / 8 + 2)), db4((size_t)(n / 8 + 2));
    float *xs = (float *)s4.data(), *gs = (float *)g4.data(), *ys = (float *)y4.data(), *ds = (float *)d4.data();
    unsigned short *ybs = (unsigned short *)yb4.data(), *dbs = (unsigned short *)db4.data();
    for (int64_t i = 0; i < n; i++) xs[i] = x[(size_t)i], gs[i] = g[(size_t)i], ds[i] = dx0[(size_t)i];
    err += simt::launch(dim3(1), dim3(256), 0, [&] { k_act8(kind, xs, ys, nullptr, n); });
    err += simt::launch(dim3(1), dim3(256), 0, [&] { k_act8(kind, xs, nullptr, ybs, n); });
    err += simt::launch(dim3(1), dim3(256), 0, [&] { k_act_bwd8(kind, xs, gs, ds, dbs, n, 0); });
    for (int64_t i = 0; i < n; i++) ds[i] = NAN; /* and written over NaN: set's bits */
    std::vector<uint4> dn4((size_t)(n / 8 + 2));
    unsigned short *dns = (unsigned short *)dn4.data();
    std::vector<float4> dd4((size_t)(n / 4 + 2));
    float *dd = (float *)dd4.data();
    for (int64_t i = 0; i < n; i++) dd[i] = NAN;
    err += simt::launch(dim3(1), dim3(256), 0, [&] { k_act_bwd8(kind, xs, gs, dd, dns, n, 1); });
    for (int64_t i = 0; i < n; i++)
      bads += __float_as_uint(dd[i]) != __float_as_uint(dn[(size_t)i]) || dns[i] != dnb[(size_t)i];
    for (int64_t i = 0; i < n; i++) ds[i] = dx[(size_t)i]; /* restored for the comparison below */
    long badv = 0;
    for (int64_t i = 0; i < n; i++)
      badv += __float_as_uint(ys[i]) != __float_as_uint(y[(size_t)i]) || ybs[i] != yb[(size_t)i] ||
              __float_as_uint(ds[i]) != __float_as_uint(dx[(size_t)i]) || dbs[i] != dxb[(size_t)i];
    if (badv) printf("  eight a step: %ld values differ\n", badv), err += badv;
  }
  if (bads) printf("  written (set): %ld values differ\n", bads), err += bads;
  std::vector<double> ry((size_t)n), rdx((size_t)n);
  for (int64_t i = 0; i < n; i++) {
    double v = x[(size_t)i], s = 1.0 / (1.0 + std::exp(-v)), d;
    if (kind == CU_ACT_GELU) {
      double cdf = 0.5 * (1.0 + std::erf(v / std::sqrt(2.0)));
      ry[(size_t)i] = v * cdf;
      d = cdf + v * std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI);
    } else if (kind == CU_ACT_RELU) {
      ry[(size_t)i] = v > 0 ? v : 0;
      d = v > 0 ? 1 : 0;
    } else {
      ry[(size_t)i] = v * s;
      d = s * (1.0 + v * (1.0 - s));
    }
    rdx[(size_t)i] = dx0[(size_t)i] + g[(size_t)i] * d;
  }
  long bad16 = 0;
  for (int64_t i = 0; i < n; i++) bad16 += yb[(size_t)i] != simt_bf16_bits(y[(size_t)i]);
  if (bad16) printf("  bf16-only output: %ld values not y's rounding\n", bad16), err += bad16;
  static const char *const nm[] = {"gelu", "relu", "silu"};
  char what[64];
  snprintf(what, sizeof what, "act %s n=%lld (fwd f32 and bf16, bwd)", nm[kind], (long long)n);
  check(what, std::max(simt_nerr(y, ry), simt_nerr(dx, rdx)), err);
}

int main() {
  for (uint64_t seed : {0ull, 0x2545f4914f6cdd1dull, simt::HIGH_WARP_FIRST}) {
    simt::set_schedule(seed);
    printf("schedule %s\n", seed == simt::HIGH_WARP_FIRST ? "high warp first" : seed ? "skewed" : "lockstep");
    run_heads(7, 14, 2, 64, 1); /* Qwen2.5-0.5B's heads */
    run_heads(5, 3, 1, 6, 1);
    run_heads(4, 4, 4, 8, 0); /* the encoder: no rotation */
    run_heads(8, 14, 2, 64, 1, true); /* a decoding step of 8 rows into the KV cache */
    run_swiglu(3, 300, 1);
    run_swiglu(5, 77, 0);
    for (int kind = 0; kind < 3; kind++) run_act(kind, 1000);
    for (int kind = 0; kind < 3; kind++) run_act(kind, 1003); /* a tail of 3 for the eight-a-step kernels */
  }
  printf("test_proj_emu: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail;
}
