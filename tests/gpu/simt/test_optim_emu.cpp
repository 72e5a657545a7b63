// test_optim_emu.cpp — AdamW's kernels (kernels/cu_optim.cuh) under the SIMT emulator: one value
// a thread against torch.optim.AdamW's update written out in float here (decoupled decay, bias
// corrections folded into the step and the second moment's root), and four a thread-step
// (cuda_set_elem_vec) against one a thread, bit for bit, from the same state: lengths with
// tails of 0-3, a grid of one block (each thread strides) and a full one, zero and large
// gradients, weight decay on and off; the runs' one launch (k_adamw_runs) against one k_adamw
// per run, bit for bit, values outside the runs unchanged; and the sum of squares (per-block partials, their total)
// against a double sum, the same bits under every schedule. Exit 0 when every case passes.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "simt.h"
#include "simt_test.h"
#include "../../../kernels/cu_optim.cuh"

static int g_fail;
static simt_rng g_rng = {0x2545f4914f6cdd1dull};

static void run(int64_t n, bool one_block, float wd, int64_t t) {
  const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  const float bc1 = 1.0f - (float)std::pow(b1, (double)t), bc2 = 1.0f - (float)std::pow(b2, (double)t);
  const adamw_k k = {lr, b1, b2, eps, wd, lr / bc1, std::sqrt(bc2)};
  /* float4 storage: 16-byte aligned, as the launcher demands of the four-a-step kernel */
  const size_t n4 = (size_t)(n / 4 + 2);
  std::vector<float4> P(n4), G(n4), M(n4), V(n4);
  float *p = (float *)P.data(), *g = (float *)G.data(), *m = (float *)M.data(), *v = (float *)V.data();
  for (int64_t i = 0; i < n; i++) {
    p[i] = g_rng.sym();
    g[i] = i % 7 == 3 ? 0.0f : g_rng.sym() * (i % 11 == 5 ? 1e4f : 1.0f);
    m[i] = g_rng.sym() * 0.1f;
    v[i] = std::fabs(g_rng.sym()) * 0.01f;
  }
  std::vector<float> p1(p, p + n), m1(m, m + n), v1(v, v + n), p4(p, p + n), m4(m, m + n), v4(v, v + n);
  std::vector<float4> P4(n4), M4(n4), V4(n4); /* the four-a-step kernel's aligned copies */
  float *pa = (float *)P4.data(), *ma = (float *)M4.data(), *va = (float *)V4.data();
  for (int64_t i = 0; i < n; i++) pa[i] = p[i], ma[i] = m[i], va[i] = v[i];
  const unsigned g1 = one_block ? 1 : (unsigned)((n + 255) / 256 + 1), g4 = one_block ? 1 : (unsigned)((n / 4 + 255) / 256 + 1);
  long err = simt::launch(dim3(g1), dim3(256), 0, [&] { k_adamw(p1.data(), g, m1.data(), v1.data(), n, k); });
  err += simt::launch(dim3(g4), dim3(256), 0, [&] { k_adamw4(pa, g, ma, va, n, k); });
  long bad = 0, badv = 0;
  for (int64_t i = 0; i < n; i++) {
    /* the update written out (the CPU backend's float arithmetic) */
    float gi = g[i], pi = p[i] * (1.0f - lr * wd), mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi, pn = pi - k.step * mi / (std::sqrt(vi) / k.bc2s + eps);
    bad += p1[(size_t)i] != pn || m1[(size_t)i] != mi || v1[(size_t)i] != vi;
    badv += __float_as_uint(pa[i]) != __float_as_uint(p1[(size_t)i]) ||
            __float_as_uint(ma[i]) != __float_as_uint(m1[(size_t)i]) ||
            __float_as_uint(va[i]) != __float_as_uint(v1[(size_t)i]);
  }
  bool ok = err == 0 && bad == 0 && badv == 0;
  printf("%s adamw n=%lld %s wd=%g t=%lld: %ld off the written-out update, %ld four-a-step values differ, "
         "emulator errors %ld\n",
         ok ? "ok  " : "FAIL", (long long)n, one_block ? "one block" : "full grid", wd, (long long)t, bad, badv, err);
  if (!ok) g_fail = 1;
}

/* k_adamw_runs over a table of runs (lengths; a gap before each, left alone as a frozen
 * tensor's values; decay alternating or as given) against one k_adamw launch per run from the
 * same state, bit for bit, and the gaps unchanged; grids of one block (a block strides over the
 * chunks), two, and one chunk each */
static void run_runs(const std::vector<int64_t> &len, const std::vector<int64_t> &gap, float wd, int64_t t) {
  const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  const float bc1 = 1.0f - (float)std::pow(b1, (double)t), bc2 = 1.0f - (float)std::pow(b2, (double)t);
  adamw_k kd = {lr, b1, b2, eps, wd, lr / bc1, std::sqrt(bc2)}, kn = kd;
  kn.wd = 0.0f;
  std::vector<adamw_seg> seg;
  int64_t off = 0, total = 0;
  for (size_t r = 0; r < len.size(); r++) {
    off += gap[r];
    seg.push_back({off, total, len[r], (int32_t)(r % 2 == 0), 0}); /* empty runs too: the kernel skips them */
    off += len[r], total += len[r];
  }
  const int64_t L = off + 3;
  std::vector<float> p(L), g(L), m(L), v(L);
  for (int64_t i = 0; i < L; i++) {
    p[i] = g_rng.sym(), g[i] = g_rng.sym() * (i % 13 == 2 ? 1e3f : 1.0f), m[i] = g_rng.sym() * 0.1f;
    v[i] = std::fabs(g_rng.sym()) * 0.01f;
  }
  std::vector<float> pr = p, mr = m, vr = v; /* one launch per run */
  long err = 0;
  for (const adamw_seg &sg : seg) {
    const int64_t o = sg.off;
    if (sg.n == 0) continue;
    err += simt::launch(dim3((unsigned)((sg.n + 255) / 256)), dim3(256), 0,
                        [&] { k_adamw(pr.data() + o, g.data() + o, mr.data() + o, vr.data() + o, sg.n, sg.decay ? kd : kn); });
  }
  const unsigned chunks = (unsigned)((total + 256 * AR_PER - 1) / (256 * AR_PER));
  for (unsigned grid : {1u, 2u, chunks}) {
    std::vector<float> p1 = p, m1 = m, v1 = v;
    /* the weights' bf16 copy (on the second grid; sentinels elsewhere): each updated value's
     * rounding, the rest untouched */
    std::vector<unsigned short> wb((size_t)L, 0xdead);
    const bool with_wb = grid == 2u;
    long e1 = simt::launch(dim3(grid), dim3(256), 0, [&] {
      k_adamw_runs(p1.data(), g.data(), m1.data(), v1.data(), seg.data(), (int)seg.size(), total, kd, kn,
                   with_wb ? wb.data() : nullptr);
    });
    long bad = 0;
    for (int64_t i = 0; i < L; i++)
      bad += __float_as_uint(p1[i]) != __float_as_uint(pr[i]) || __float_as_uint(m1[i]) != __float_as_uint(mr[i]) ||
             __float_as_uint(v1[i]) != __float_as_uint(vr[i]);
    long gaps = 0, wbad = 0; /* a value outside every run must not move: the reference leaves it too, but say so */
    for (int64_t i = 0, r = 0; i < L; i++) {
      while (r < (int64_t)seg.size() && i >= seg[r].off + seg[r].n) r++;
      const bool in = r < (int64_t)seg.size() && i >= seg[r].off;
      if (!in) gaps += p1[i] != p[i] || m1[i] != m[i] || v1[i] != v[i];
      if (with_wb) wbad += wb[(size_t)i] != (in ? cu_bf16_bits(pr[(size_t)i]) : (unsigned short)0xdead);
    }
    const bool ok = e1 == 0 && err == 0 && bad == 0 && gaps == 0 && wbad == 0;
    printf("%s adamw_runs %zu runs, %lld values, grid %u: %ld values differ from one launch per run, %ld outside "
           "the runs moved,%s emulator errors %ld\n",
           ok ? "ok  " : "FAIL", seg.size(), (long long)total, grid, bad, gaps,
           with_wb ? (wbad ? " the bf16 copy WRONG," : " the bf16 copy right,") : "", e1 + err);
    if (!ok) g_fail = 1;
  }
}

/* the sum of squares: k_sumsq_part over nb blocks, then k_sumsq_total, against a double sum
 * written out (rel 1e-12), and the same bits under each schedule (the total's order is fixed) */
static double g_sq_first[16];
static void run_sumsq(int64_t n, unsigned nb, int slot) {
  std::vector<float> x((size_t)n);
  simt_rng r = {0x51f15eedull + (uint64_t)n};
  for (auto &t : x) t = r.sym() * (n % 3 ? 1.0f : 1e3f);
  std::vector<double> part(nb, NAN), tot(1, NAN);
  long err = simt::launch(dim3(nb), dim3(256), 0, [&] { k_sumsq_part(x.data(), n, part.data()); });
  err += simt::launch(dim3(1), dim3(256), 0, [&] { k_sumsq_total(part.data(), (int)nb, tot.data()); });
  double want = 0;
  for (float t : x) want += (double)t * t;
  const double rel = want > 0 ? std::fabs(tot[0] - want) / want : std::fabs(tot[0]);
  bool same = true;
  if (std::isnan(g_sq_first[slot])) g_sq_first[slot] = tot[0];
  else same = memcmp(&g_sq_first[slot], &tot[0], sizeof(double)) == 0;
  bool ok = err == 0 && rel < 1e-12 && same;
  printf("%s sumsq n=%lld blocks=%u: rel %.2e, %s the first schedule's bits, emulator errors %ld\n", ok ? "ok  " : "FAIL",
         (long long)n, nb, rel, same ? "equal to" : "NOT", err);
  if (!ok) g_fail = 1;
}

int main() {
  for (double &d : g_sq_first) d = NAN;
  for (uint64_t seed : {0ull, 0x2545f4914f6cdd1dull, simt::HIGH_WARP_FIRST}) {
    simt::set_schedule(seed);
    int slot = 0;
    for (int64_t n : {1, 255, 70000})
      for (unsigned nb : {1u, 3u, 300u}) run_sumsq(n, nb, slot++); /* more blocks than items too */
  }
  simt::set_schedule(0);
  for (int64_t n : {0, 1, 3, 4, 5, 1001, 4099})
    for (bool one : {false, true}) run(n, one, n % 2 ? 0.01f : 0.0f, 1 + n % 5);
  /* the runs: one value; many small runs (a chunk spans several, and a thread walks over runs,
   * empty ones among them); runs longer than a chunk; a chunk edge inside a run */
  run_runs({1}, {0}, 0.1f, 1);
  run_runs({5, 0, 3, 1, 0, 7, 256, 2, 900}, {0, 2, 0, 1, 4, 0, 3, 0, 1}, 0.1f, 2);
  run_runs({4099, 17, 256 * AR_PER, 5000}, {1, 0, 5, 2}, 0.05f, 3);
  {
    std::vector<int64_t> len, gap; /* 368 runs, as the paper geometry: weights and small vectors */
    for (int r = 0; r < 368; r++) len.push_back(r % 2 ? 1 + r % 5 : 40 + 3 * r), gap.push_back(r % 3);
    run_runs(len, gap, 0.1f, 4);
  }
  printf("test_optim_emu: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail;
}
