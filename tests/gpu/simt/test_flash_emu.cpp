// test_flash_emu.cpp — the tensor-core flash attention (kernels/cu_flash.cuh, mma.sync in
// registers), forward and backward, run under the SIMT emulator against a double-precision
// reference: causal and bidirectional, grouped query heads, key padding, queries offset into a
// cache (q_pos0), rows with no visible key, sequence lengths that are not multiples of the
// tiles, head dims 64 and 128. The reference takes the kernel's bf16-rounded q, k, v; the
// kernel also rounds P to bf16, which bounds the output's error (normalised 4e-3 here;
// measured ~1.5e-3), while lse sees no rounding of P (1e-5 absolute). The backward kernels take
// the forward's out and lse and are compared with the exact gradients (P and dS rounded to
// bf16 in the kernels: 1e-2 normalised, and every query's or key's row within 6e-2 of its own
// size: a single row gone wrong, such as a key block's first query tile skipped, hides in the
// whole tensor's error), added to random starting gradients as the op adds them. Exit 0 when
// every case passes.
#include <cmath>
#include <cstdio>
#include <vector>

#include "simt.h"
#include "simt_test.h"
#include "../../../kernels/cu_flash.cuh"

static int g_fail;
static simt_rng g_rng = {0x243f6a8885a308d3ull};

static double bf(float x) { return (double)__bfloat162float(__float2bfloat16(x)); }

struct fcase {
  int B, Tq, Tk, Hq, Hkv, D, causal;
  std::vector<int> kv_len, q_pos0; /* empty: none */
  float spread;                    /* score scale: larger values make peakier rows */
};


/* the worst row (D values: one query's or key's gradient) of got - base against ref, relative to
 * the row's reference norm plus half the rows' rms norm (rows that gain almost nothing then
 * do not amplify rounding): the whole-tensor error misses a single row gone wrong */
static double row_err(const std::vector<float> &got, const std::vector<double> &ref, const std::vector<float> &base,
                      int D) {
  size_t rows = ref.size() / (size_t)D;
  double ms = 0, worst = 0;
  for (double x : ref) ms += x * x;
  double rms = std::sqrt(ms / (double)(rows ? rows : 1));
  for (size_t r = 0; r < rows; r++) {
    double num = 0, den = 0;
    for (size_t d = r * D; d < (r + 1) * D; d++) {
      double e = ((double)got[d] - base[d]) - ref[d];
      num += std::isnan(got[d]) ? INFINITY : e * e;
      den += ref[d] * ref[d];
    }
    worst = std::max(worst, std::sqrt(num) / (std::sqrt(den) + 0.5 * rms));
  }
  return worst;
}

/* the backward kernels on the forward's out and lse, against the exact gradients of the
 * reference attention (bf16-rounded q, k, v, dO); gradients are added to random bases */
static void backward(const fcase &c, const std::vector<float> &q, const std::vector<float> &k,
                     const std::vector<float> &v, const std::vector<float> &out, const std::vector<float> &lse,
                     float scale) {
  const int B = c.B, Tq = c.Tq, Tk = c.Tk, Hq = c.Hq, Hkv = c.Hkv, D = c.D, grp = Hq / Hkv;
  const int *kl = c.kv_len.empty() ? nullptr : c.kv_len.data(), *qp = c.q_pos0.empty() ? nullptr : c.q_pos0.data();
  std::vector<float> dout(q.size()), dot((size_t)B * Hq * Tq, NAN);
  for (auto &x : dout) x = g_rng.sym();
  std::vector<float> dq0(q.size()), dk0(k.size()), dv0(v.size());
  for (auto &x : dq0) x = g_rng.sym();
  for (auto &x : dk0) x = g_rng.sym();
  for (auto &x : dv0) x = g_rng.sym();
  std::vector<float> dq = dq0, dk = dk0, dv = dv0;
  long err = 0;
  /* as cu_attn.cu launches them: grouped heads split over blocks into scratch (NaN until
   * written: every row must be), then the groups' sums */
  const int split = Hq > Hkv;
  std::vector<float> gk(split ? (size_t)B * Hq * Tk * D : 0, NAN), gv(gk.size(), NAN);
  dim3 gkv((unsigned)((Tk + FL_BK - 1) / FL_BK), (unsigned)(split ? Hq : Hkv), (unsigned)B);
  dim3 gq((unsigned)((Tq + FL_BQ - 1) / FL_BQ), (unsigned)Hq, (unsigned)B);
  float *ok_ = split ? gk.data() : dk.data(), *ov_ = split ? gv.data() : dv.data();
#define FL_BWD(DD)                                                                                                    \
  do {                                                                                                               \
    err += simt::launch(dim3(4), dim3(64), 0, [&] { k_flash_dot<DD>(dout.data(), out.data(), dot.data(), B, Tq, Hq); }); \
    err += simt::launch(gkv, dim3(FL_THREADS), fl_bwd_geom<DD>::bytes, [&] {                                         \
      k_flash_bwd_kv<DD>(q.data(), k.data(), v.data(), dout.data(), lse.data(), dot.data(), ok_, ov_, Tq, Tk, Hq,     \
                         Hkv, scale, c.causal, kl, qp, split);                                                       \
    });                                                                                                              \
    if (split) {                                                                                                     \
      err += simt::launch(dim3(8), dim3(128), 0,                                                                     \
                          [&] { k_flash_gsum<DD>(dk.data(), gk.data(), B, Tk, Hkv, Hq / Hkv); });                   \
      err += simt::launch(dim3(8), dim3(128), 0,                                                                     \
                          [&] { k_flash_gsum<DD>(dv.data(), gv.data(), B, Tk, Hkv, Hq / Hkv); });                   \
    }                                                                                                                \
    err += simt::launch(gq, dim3(FL_THREADS), fl_q_geom<DD>::bytes, [&] {                                            \
      k_flash_bwd_q<DD>(q.data(), k.data(), v.data(), dout.data(), lse.data(), dot.data(), dq.data(), Tq, Tk, Hq,    \
                        Hkv, scale, c.causal, kl, qp);                                                               \
    });                                                                                                              \
  } while (0)
  if (D == 64)
    FL_BWD(64);
  else
    FL_BWD(128);
#undef FL_BWD
  /* grouped heads: the unsplit dK/dV (a block per kv head walking its group, what cu_attn.cu
   * takes when the split's scratch would pass its budget) must give the same gradients */
  std::vector<float> dk_u = dk0, dv_u = dv0;
  if (split) {
    dim3 gu((unsigned)((Tk + FL_BK - 1) / FL_BK), (unsigned)Hkv, (unsigned)B);
    if (D == 64)
      err += simt::launch(gu, dim3(FL_THREADS), fl_bwd_geom<64>::bytes, [&] {
        k_flash_bwd_kv<64>(q.data(), k.data(), v.data(), dout.data(), lse.data(), dot.data(), dk_u.data(), dv_u.data(),
                           Tq, Tk, Hq, Hkv, scale, c.causal, kl, qp, 0);
      });
    else
      err += simt::launch(gu, dim3(FL_THREADS), fl_bwd_geom<128>::bytes, [&] {
        k_flash_bwd_kv<128>(q.data(), k.data(), v.data(), dout.data(), lse.data(), dot.data(), dk_u.data(), dv_u.data(),
                            Tq, Tk, Hq, Hkv, scale, c.causal, kl, qp, 0);
      });
  }
  std::vector<double> rq(q.size(), 0.0), rk(k.size(), 0.0), rv(v.size(), 0.0), s((size_t)Tk), p((size_t)Tk);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < Hq; h++) {
      int hk = h / grp;
      for (int i = 0; i < Tq; i++) {
        int lim = kl ? std::min(std::max(kl[b], 0), Tk) : Tk;
        if (c.causal && (qp ? qp[b] : 0) + i + 1 < lim) lim = (qp ? qp[b] : 0) + i + 1;
        if (lim <= 0) continue;
        size_t qo = (((size_t)b * Tq + i) * Hq + h) * D;
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < lim; j++) {
          size_t ko = (((size_t)b * Tk + j) * Hkv + hk) * D;
          double d0 = 0;
          for (int d = 0; d < D; d++) d0 += bf(q[qo + d]) * bf(k[ko + d]);
          s[j] = d0 * scale;
          mx = std::max(mx, s[j]);
        }
        for (int j = 0; j < lim; j++) sum += std::exp(s[j] - mx);
        std::vector<double> o((size_t)D, 0.0);
        for (int j = 0; j < lim; j++) {
          p[j] = std::exp(s[j] - mx) / sum;
          size_t ko = (((size_t)b * Tk + j) * Hkv + hk) * D;
          for (int d = 0; d < D; d++) o[d] += p[j] * bf(v[ko + d]);
        }
        double Di = 0;
        for (int d = 0; d < D; d++) Di += bf(dout[qo + d]) * o[d];
        for (int j = 0; j < lim; j++) {
          size_t ko = (((size_t)b * Tk + j) * Hkv + hk) * D;
          double dp = 0;
          for (int d = 0; d < D; d++) dp += bf(dout[qo + d]) * bf(v[ko + d]);
          double ds = p[j] * (dp - Di);
          for (int d = 0; d < D; d++) {
            rv[ko + d] += p[j] * bf(dout[qo + d]);
            rk[ko + d] += scale * ds * bf(q[qo + d]);
            rq[qo + d] += scale * ds * bf(k[ko + d]);
          }
        }
      }
    }
  double eq = simt_nerr(dq, rq, dq0), ek = simt_nerr(dk, rk, dk0), ev = simt_nerr(dv, rv, dv0);
  if (split) ek = std::max(ek, simt_nerr(dk_u, rk, dk0)), ev = std::max(ev, simt_nerr(dv_u, rv, dv0));
  double rw = std::max(row_err(dq, rq, dq0, D), std::max(row_err(dk, rk, dk0, D), row_err(dv, rv, dv0, D)));
  bool ok = err == 0 && eq < 1e-2 && ek < 1e-2 && ev < 1e-2 && rw < 6e-2;
  printf("%s bwd: dq rel %.2e, dk rel %.2e, dv rel %.2e, worst row %.2e, emulator errors %ld\n", ok ? "ok  " : "FAIL",
         eq, ek, ev, rw, err);
  if (!ok) g_fail = 1;
}

static void run_all();

static void run(const fcase &c) {
  const int B = c.B, Tq = c.Tq, Tk = c.Tk, Hq = c.Hq, Hkv = c.Hkv, D = c.D;
  std::vector<float> q((size_t)B * Tq * Hq * D), k((size_t)B * Tk * Hkv * D), v(k.size());
  for (auto &x : q) x = g_rng.sym() * c.spread;
  for (auto &x : k) x = g_rng.sym();
  for (auto &x : v) x = g_rng.sym();
  std::vector<float> out(q.size(), NAN), lse((size_t)B * Hq * Tq, NAN);
  const float scale = 1.0f / std::sqrt((float)D);
  const int *kl = c.kv_len.empty() ? nullptr : c.kv_len.data(), *qp = c.q_pos0.empty() ? nullptr : c.q_pos0.data();
  dim3 grid((unsigned)((Tq + FL_BQ - 1) / FL_BQ), (unsigned)Hq, (unsigned)B);
  long err;
  if (D == 64)
    err = simt::launch(grid, dim3(FL_THREADS), fl_geom<64>::bytes, [&] {
      k_flash_fwd<64>(q.data(), k.data(), v.data(), out.data(), lse.data(), Tq, Tk, Hq, Hkv, scale, c.causal, kl, qp);
    });
  else
    err = simt::launch(grid, dim3(FL_THREADS), fl_geom<128>::bytes, [&] {
      k_flash_fwd<128>(q.data(), k.data(), v.data(), out.data(), lse.data(), Tq, Tk, Hq, Hkv, scale, c.causal, kl, qp);
    });
  /* reference */
  double num = 0, den = 0, lse_err = 0;
  int bad_rows = 0;
  std::vector<double> s((size_t)Tk);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < Hq; h++) {
      int hk = h / (Hq / Hkv);
      for (int i = 0; i < Tq; i++) {
        int lim = kl ? std::min(std::max(kl[b], 0), Tk) : Tk;
        if (c.causal && (qp ? qp[b] : 0) + i + 1 < lim) lim = (qp ? qp[b] : 0) + i + 1;
        if (lim < 0) lim = 0;
        const float *qr = &q[(((size_t)b * Tq + i) * Hq + h) * D];
        const float *orow = &out[(((size_t)b * Tq + i) * Hq + h) * D];
        float got_lse = lse[((size_t)b * Hq + h) * Tq + i];
        if (lim == 0) {
          for (int d = 0; d < D; d++) bad_rows += orow[d] != 0.0f;
          bad_rows += !(std::isinf(got_lse) && got_lse < 0);
          continue;
        }
        double mx = -INFINITY;
        for (int j = 0; j < lim; j++) {
          const float *kr = &k[(((size_t)b * Tk + j) * Hkv + hk) * D];
          double d0 = 0;
          for (int d = 0; d < D; d++) d0 += bf(qr[d]) * bf(kr[d]);
          s[j] = d0 * scale;
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (int j = 0; j < lim; j++) sum += std::exp(s[j] - mx);
        lse_err = std::max(lse_err, std::fabs(got_lse - (mx + std::log(sum))));
        for (int d = 0; d < D; d++) {
          double o = 0;
          for (int j = 0; j < lim; j++) o += std::exp(s[j] - mx) / sum * bf(v[(((size_t)b * Tk + j) * Hkv + hk) * D + d]);
          double diff = orow[d] - o;
          num += diff * diff;
          den += o * o;
          if (std::isnan(orow[d])) bad_rows++;
        }
      }
    }
  double rel = std::sqrt(num / (den > 0 ? den : 1));
  bool ok = err == 0 && bad_rows == 0 && rel < 4e-3 && lse_err < 1e-5;
  printf("%s fwd B=%d Tq=%d Tk=%d H=%d/%d D=%d causal=%d kv_len=%s q_pos0=%s spread=%g: out rel %.2e, lse abs %.2e, "
         "bad %d, emulator errors %ld\n",
         ok ? "ok  " : "FAIL", B, Tq, Tk, Hq, Hkv, D, c.causal, kl ? "yes" : "no", qp ? "yes" : "no", (double)c.spread,
         rel, lse_err, bad_rows, err);
  if (!ok) g_fail = 1;
  backward(c, q, k, v, out, lse, scale);
}

int main() {
  /* lockstep, then two skewed schedules (warps drifting apart: races between warps) */
  for (uint64_t seed : {0ull, 0x9e3779b97f4a7c15ull, 0x2545f4914f6cdd1dull, simt::HIGH_WARP_FIRST}) {
    simt::set_schedule(seed);
    printf("schedule %s\n", seed == simt::HIGH_WARP_FIRST ? "high warp first" : seed ? "skewed" : "lockstep");
    run_all();
  }
  printf("test_flash_emu: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail;
}

static void run_all() {
  run({2, 100, 100, 4, 2, 64, 1, {}, {}, 1.0f});             /* causal, GQA 2:1, partial tiles */
  run({2, 130, 130, 2, 2, 64, 0, {130, 37}, {}, 1.0f});      /* encoder-like: bidirectional, key padding */
  run({2, 70, 150, 3, 1, 64, 1, {150, 100}, {80, 20}, 1.0f}); /* queries after cached keys, padded */
  run({1, 64, 64, 2, 1, 64, 1, {}, {}, 8.0f});               /* peaky rows: the running max moves */
  run({2, 20, 50, 2, 2, 64, 0, {0, 50}, {}, 1.0f});          /* a batch row with no visible key */
  run({1, 40, 90, 2, 1, 128, 1, {}, {50}, 1.0f});            /* head dim 128 */
  run({1, 140, 200, 2, 1, 64, 1, {}, {1}, 1.0f});            /* key 128 (a dK/dV block's first)
                                                                 first seen by query 127 */
  run({2, 300, 300, 4, 2, 128, 1, {300, 200}, {0, 5}, 2.0f}); /* D 128 with GQA over 3 blocks */
  run({1, 1, 70, 2, 2, 64, 1, {}, {69}, 1.0f});              /* one query */
  run({1, 200, 40, 2, 2, 128, 0, {}, {}, 1.0f});             /* fewer keys than one tile */
  run({2, 129, 129, 2, 1, 64, 1, {129, 129}, {0, 0}, 4.0f}); /* one row in the second block */
}
