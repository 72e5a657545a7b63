// test_attn_rows_emu.cpp — the batched attention path's row kernels (kernels/cu_attn_rows.cuh)
// under the SIMT emulator: the softmax in registers (k_attn_softmax_reg, every register count)
// must equal the three-pass k_attn_softmax bit for bit, probabilities and log-sum-exp, and
// both must match a double-precision softmax within 1e-6; k_attn_probs must give the same
// probabilities back from the lse. Rows of 1 to 4,096 keys (each side of every register
// count's limit), causal masks with q_pos0, key padding, a batch row with no key, an additive
// bias with -inf entries. Every case runs in lockstep and under a skewed schedule. Exit 0 when
// every case passes.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "simt.h"
#include "simt_test.h"
#include "../../../kernels/cu_attn_rows.cuh"

static int g_fail;
static simt_rng g_rng = {0x7a2f19c3d8e41b65ull};

struct rcase {
  int B, Tq, Tk, Hq, causal, pad, bias; /* pad: key padding with a row of no key; bias: -inf entries too */
};

template <int PER>
static long reg_launch(dim3 g, float *S, int64_t TTp, float *lse, const float *bias, int64_t Hq, int64_t Tq, int64_t Tk,
                       const int32_t *kl, const int32_t *p0, int causal) {
  return simt::launch(g, dim3(AR_THREADS), 0,
                      [&] { k_attn_softmax_reg<PER>(S, TTp, lse, bias, Hq, Tq, Tk, kl, p0, causal); });
}

static void run(const rcase &c) {
  const int64_t B = c.B, Tq = c.Tq, Tk = c.Tk, Hq = c.Hq, TTp = (Tq * Tk + 3) & ~(int64_t)3, rows = B * Hq * Tq;
  std::vector<float> S((size_t)(B * Hq * TTp));
  for (auto &x : S) x = g_rng.sym() * 4.0f;
  std::vector<float> bias;
  if (c.bias) {
    bias.resize((size_t)(Hq * Tq * Tk));
    for (auto &x : bias) x = g_rng.unit() < 0.1 ? -INFINITY : g_rng.sym();
  }
  std::vector<int32_t> kl((size_t)B), p0((size_t)B);
  for (int64_t b = 0; b < B; b++) {
    kl[(size_t)b] = c.pad ? (b == 0 ? 0 : (int32_t)(Tk - b * 3 > 1 ? Tk - b * 3 : 1)) : (int32_t)Tk;
    p0[(size_t)b] = c.causal ? (int32_t)(Tk - Tq > 0 ? Tk - Tq : 0) : 0;
  }
  const int32_t *klp = kl.data(), *p0p = c.causal ? p0.data() : nullptr;
  const float *bp = c.bias ? bias.data() : nullptr;
  std::vector<float> A = S, R = S, la((size_t)rows, NAN), lr((size_t)rows, NAN);
  dim3 g((unsigned)rows);
  long err = simt::launch(g, dim3(AR_THREADS), 0,
                          [&] { k_attn_softmax(A.data(), TTp, la.data(), bp, Hq, Tq, Tk, klp, p0p, c.causal); });
  int per = ar_per(Tk); /* cu_attn.cu's choice */
  if (!per) /* the three-pass kernel */
    err += simt::launch(g, dim3(AR_THREADS), 0,
                        [&] { k_attn_softmax(R.data(), TTp, lr.data(), bp, Hq, Tq, Tk, klp, p0p, c.causal); });
  else
    switch (per) {
    case 1: err += reg_launch<1>(g, R.data(), TTp, lr.data(), bp, Hq, Tq, Tk, klp, p0p, c.causal); break;
    case 2: err += reg_launch<2>(g, R.data(), TTp, lr.data(), bp, Hq, Tq, Tk, klp, p0p, c.causal); break;
    case 4: err += reg_launch<4>(g, R.data(), TTp, lr.data(), bp, Hq, Tq, Tk, klp, p0p, c.causal); break;
    case 8: err += reg_launch<8>(g, R.data(), TTp, lr.data(), bp, Hq, Tq, Tk, klp, p0p, c.causal); break;
    default: err += reg_launch<16>(g, R.data(), TTp, lr.data(), bp, Hq, Tq, Tk, klp, p0p, c.causal); break;
  }
  /* bit for bit against the three-pass kernel (the padding between (b, h) blocks included) */
  bool same = !memcmp(A.data(), R.data(), sizeof(float) * A.size()) && !memcmp(la.data(), lr.data(), sizeof(float) * la.size());
  /* against double precision */
  double num = 0, den = 0, lerr = 0;
  int bad = 0;
  for (int64_t r = 0; r < rows; r++) {
    int64_t b = r / (Hq * Tq), h = r / Tq % Hq, i = r % Tq;
    int64_t lim = std::min<int64_t>(kl[(size_t)b], Tk);
    if (c.causal && p0[(size_t)b] + i + 1 < lim) lim = p0[(size_t)b] + i + 1;
    const float *s0 = &S[(size_t)((r / Tq) * TTp + i * Tk)], *got = &R[(size_t)((r / Tq) * TTp + i * Tk)];
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < lim; j++)
      mx = std::max(mx, (double)(s0[j] + (bp ? bp[(h * Tq + i) * Tk + j] : 0.0f)));
    if (mx == -INFINITY) {
      for (int64_t j = 0; j < Tk; j++) bad += got[j] != 0.0f;
      bad += !(std::isinf(lr[(size_t)r]) && lr[(size_t)r] < 0);
      continue;
    }
    for (int64_t j = 0; j < lim; j++) sum += std::exp((double)(s0[j] + (bp ? bp[(h * Tq + i) * Tk + j] : 0.0f)) - mx);
    lerr = std::max(lerr, std::fabs(lr[(size_t)r] - (mx + std::log(sum))));
    for (int64_t j = 0; j < Tk; j++) {
      double want = j < lim ? std::exp((double)(s0[j] + (bp ? bp[(h * Tq + i) * Tk + j] : 0.0f)) - mx) / sum : 0.0;
      num += (got[j] - want) * (got[j] - want), den += want * want;
    }
  }
  double e = std::sqrt(num / (den > 0 ? den : 1));
  /* the backward's recomputation from the lse gives the probabilities back */
  std::vector<float> P = S;
  err += simt::launch(g, dim3(AR_THREADS), 0,
                      [&] { k_attn_probs(P.data(), TTp, lr.data(), bp, Hq, Tq, Tk, klp, p0p, c.causal); });
  double pn = 0, pd = 0;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < Tk; j++) {
      size_t at = (size_t)((r / Tq) * TTp + (r % Tq) * Tk + j);
      pn += (P[at] - R[at]) * (P[at] - R[at]), pd += (double)R[at] * R[at];
    }
  double pe = std::sqrt(pn / (pd > 0 ? pd : 1));
  bool ok = err == 0 && same && bad == 0 && e < 1e-6 && lerr < 1e-5 && pe < 1e-5;
  printf("%s B=%d Tq=%d Tk=%d H=%d causal=%d pad=%d bias=%d (%d per thread; 0: three passes): %s, rel %.1e, lse %.1e, probs %.1e, "
         "bad %d, emulator errors %ld\n",
         ok ? "ok  " : "FAIL", c.B, c.Tq, c.Tk, c.Hq, c.causal, c.pad, c.bias, per, same ? "bit for bit" : "DIFFERS", e,
         lerr, pe, bad, err);
  if (!ok) g_fail = 1;
}

int main() {
  const rcase cases[] = {
      {2, 3, 1, 2, 0, 0, 0},      /* one key */
      {2, 4, 255, 2, 1, 1, 1},    /* below one register's limit; a row of no key, -inf biases */
      {1, 3, 256, 2, 0, 0, 1},    /* at it */
      {2, 3, 257, 1, 1, 0, 0},    /* past it: two registers, causal after cached keys */
      {2, 2, 1000, 2, 0, 1, 0},   /* the encoder's rows: four registers, padding */
      {1, 2, 2049, 1, 1, 0, 1},   /* sixteen registers */
      {1, 1, 4096, 1, 0, 0, 0},   /* the last row length in registers */
      {1, 2, 4097, 1, 0, 0, 0},   /* past it: the three-pass kernel alone (compared with itself) */
  };
  for (uint64_t seed : {0ull, 0x2545f4914f6cdd1dull, simt::HIGH_WARP_FIRST}) {
    simt::set_schedule(seed);
    printf("schedule %s\n", seed == simt::HIGH_WARP_FIRST ? "high warp first" : seed ? "skewed" : "lockstep");
    for (const rcase &c : cases) run(c);
  }
  printf("test_attn_rows_emu: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail;
}
