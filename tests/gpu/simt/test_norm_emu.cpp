// test_norm_emu.cpp — the LayerNorm / RMSNorm kernels (kernels/cu_norm.cuh) run under the SIMT
// emulator against double-precision references: the forward (y, mean, rstd; in place as decoding
// runs RMSNorm; with the output's bf16 rounding, bit for bit, as the fused rounding of GEMM
// operands asks), and the backward (dx added to a start; dw, db column sums added through
// atomics); and the LayerNorm over the channel axis of (B,C,T) (forward in place or not,
// backward with dx separate or dy itself; and their register forms, whose forward must give the
// first forms' bits and whose backward leaves per-block partials of dw, db); and the split
// passes for few long rows (forward, in place or not, rounded or not, LayerNorm and RMSNorm);
// and the LayerNorm with an activation after it in the same kernels (op_layernorm_act), which
// must give the bits of the two run apart.
// f32 kernels with double sums: normalised error <= 1e-6. Exit 0 when every case passes.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "simt.h"
#include "simt_test.h"
#include "../../../kernels/cu_colred.cuh"
#include "../../../kernels/cu_norm.cuh"

static int g_fail;
static simt_rng g_rng = {0x2f0e1d3c5b7a9988ull};

static void check(const char *what, double e, long err) {
  bool ok = err == 0 && e < 1e-6;
  printf("%s %s: rel %.2e, emulator errors %ld\n", ok ? "ok  " : "FAIL", what, e, err);
  if (!ok) g_fail = 1;
}

/* dw += sum g xhat, db += sum g as cu_norm.cu's ln_bwd runs them: k_layernorm_bwd_dwb's partials
 * over gy row chunks, then k_colpart_add2 for both (dw or db may be NULL); the emulator's errors */
static long dwb_run(const float *x, const float *w, const float *b, const float *mean, const float *rstd,
                    const float *g, float *dw, float *db, int N, int C, int rms, int act) {
  unsigned gy = (unsigned)((N + 63) / 64);
  if (gy > 256) gy = 256;
  std::vector<double> pw((size_t)gy * C, NAN), pb((size_t)gy * C, NAN); /* NaN: a partial left unwritten shows */
  long err = simt::launch(dim3((unsigned)((C + 31) / 32), gy), dim3(32, 8), 0, [&] {
    k_layernorm_bwd_dwb(x, w, b, mean, rstd, g, dw ? pw.data() : nullptr, db ? pb.data() : nullptr, N, C, rms, act);
  });
  unsigned nb = (unsigned)((2 * C + 255) / 256);
  err += simt::launch(dim3(nb), dim3(256), 0,
                      [&] { k_colpart_add2(dw ? pw.data() : nullptr, db ? pb.data() : nullptr, gy, C, dw, db); });
  return err;
}

/* the forward of N rows of C: one block per row (chunk 0), or the split passes over chunks of
 * `chunk` values (k_ln_split_*, few long rows) */
static long fwd(int64_t chunk, int N, int C, const float *x, const float *w, const float *b, float *y,
                unsigned short *yb, float *mean, float *rstd, float eps, int rms) {
  if (!chunk)
    return simt::launch(dim3((unsigned)N), dim3(256), 0,
                        [&] { k_layernorm(x, w, b, y, yb, mean, rstd, C, eps, rms, -1); });
  unsigned P = (unsigned)((C + chunk - 1) / chunk);
  std::vector<double> part((size_t)N * P, NAN), part2((size_t)N * P, NAN);
  long err = 0;
  if (!rms) err += simt::launch(dim3((unsigned)N, P), dim3(256), 0, [&] { k_ln_split_sum(x, part.data(), C, chunk); });
  err += simt::launch(dim3((unsigned)N, P), dim3(256), 0,
                      [&] { k_ln_split_var(x, part.data(), part2.data(), C, chunk, rms); });
  err += simt::launch(dim3((unsigned)N, P), dim3(256), 0, [&] {
    k_ln_split_out(x, w, b, y, yb, mean, rstd, part.data(), part2.data(), C, chunk, eps, rms);
  });
  return err;
}

/* N rows of C; rms: RMSNorm (no mean, no bias); affine: weight (and bias unless rms); in_place:
 * y is x; round: the bf16 rounding of y as well; chunk: the split passes (0: a block per row) */
static void run(int N, int C, bool rms, bool affine, bool in_place, bool round, int64_t chunk = 0) {
  const float eps = 1e-5f;
  std::vector<float> x((size_t)N * C), w(affine ? C : 0), b(affine && !rms ? C : 0);
  for (auto &t : x) t = g_rng.sym() * 2.0f + 0.3f;
  for (auto &t : w) t = 1.0f + 0.5f * g_rng.sym();
  for (auto &t : b) t = 0.2f * g_rng.sym();
  std::vector<float> x0 = x, yo((size_t)N * C, NAN), mean(rms ? 0 : N, NAN), rstd((size_t)N, NAN);
  std::vector<unsigned short> yb(round ? (size_t)N * C : 0, 0xffff);
  float *y = in_place ? x.data() : yo.data();
  long err = fwd(chunk, N, C, x.data(), affine ? w.data() : nullptr, b.empty() ? nullptr : b.data(), y,
                 round ? yb.data() : nullptr, rms ? nullptr : mean.data(), rstd.data(), eps, rms ? 1 : 0);
  std::vector<float> yv(y, y + (size_t)N * C);
  std::vector<double> ry((size_t)N * C), rm((size_t)N), rr((size_t)N);
  for (int i = 0; i < N; i++) {
    const float *xr = &x0[(size_t)i * C];
    double m = 0, v = 0;
    if (!rms) {
      for (int c = 0; c < C; c++) m += xr[c];
      m /= C;
    }
    for (int c = 0; c < C; c++) v += (xr[c] - m) * (xr[c] - m);
    double r = 1.0 / std::sqrt(v / C + (double)eps);
    rm[(size_t)i] = m, rr[(size_t)i] = r;
    for (int c = 0; c < C; c++)
      ry[(size_t)i * C + c] = (xr[c] - m) * r * (affine ? w[(size_t)c] : 1.0) + (b.empty() ? 0.0 : b[(size_t)c]);
  }
  double e = std::max(simt_nerr(yv, ry), simt_nerr(rstd, rr));
  if (!rms) e = std::max(e, simt_nerr(mean, rm));
  long bad = 0;
  for (size_t i = 0; i < yb.size(); i++) bad += yb[i] != simt_bf16_bits(yv[i]);
  if (bad) printf("  %ld bf16 roundings of y differ\n", bad);
  if (round && !in_place) { /* y as a bf16 activation: no f32 y, the same bits */
    std::vector<unsigned short> yo16((size_t)N * C, 0xffff);
    std::vector<float> m2(mean.size(), NAN), r2((size_t)N, NAN);
    err += fwd(chunk, N, C, x0.data(), affine ? w.data() : nullptr, b.empty() ? nullptr : b.data(), nullptr,
               yo16.data(), rms ? nullptr : m2.data(), r2.data(), eps, rms ? 1 : 0);
    long bad16 = 0;
    for (size_t i = 0; i < yo16.size(); i++) bad16 += yo16[i] != yb[i];
    if (bad16 || r2 != rstd) printf("  bf16-only output: %ld values differ%s\n", bad16, r2 != rstd ? ", rstd too" : "");
    bad += bad16 + (r2 != rstd);
  }
  char what[128];
  snprintf(what, sizeof what, "%s N=%d C=%d affine=%d%s%s%s (forward)", rms ? "rmsnorm" : "layernorm", N, C, affine,
           in_place ? " in place" : "", round ? " + bf16 rounding" : "", chunk ? " split" : "");
  check(what, e, err + bad);
  if (in_place || chunk) return; /* the split passes are forward only */
  /* backward from the forward's statistics: dx added to a start, dw and db to theirs */
  std::vector<float> g((size_t)N * C), dx((size_t)N * C), dw(affine ? C : 0), db(b.size());
  for (auto &t : g) t = g_rng.sym();
  for (auto &t : dx) t = g_rng.sym();
  for (auto &t : dw) t = g_rng.sym();
  for (auto &t : db) t = g_rng.sym();
  std::vector<float> dx0 = dx, dw0 = dw, db0 = db;
  err = simt::launch(dim3((unsigned)N), dim3(256), 0, [&] {
    k_layernorm_bwd_dx(x0.data(), affine ? w.data() : nullptr, nullptr, rms ? nullptr : mean.data(), rstd.data(),
                       g.data(), dx.data(), dx.data(), C, rms ? 1 : 0, -1);
  });
  if (affine)
    err += dwb_run(x0.data(), nullptr, nullptr, rms ? nullptr : mean.data(), rstd.data(), g.data(), dw.data(),
                   db.empty() ? nullptr : db.data(), N, C, rms ? 1 : 0, -1);
  std::vector<double> rdx((size_t)N * C), rdw(dw.size()), rdb(db.size());
  for (int i = 0; i < N; i++) {
    const float *xr = &x0[(size_t)i * C], *gr = &g[(size_t)i * C];
    double m = rm[(size_t)i], r = rr[(size_t)i], md = 0, mdx = 0;
    for (int c = 0; c < C; c++) {
      double xh = (xr[c] - m) * r, dn = gr[c] * (affine ? w[(size_t)c] : 1.0);
      md += dn, mdx += dn * xh;
      if (affine) {
        rdw[(size_t)c] += gr[c] * xh;
        if (!rdb.empty()) rdb[(size_t)c] += gr[c];
      }
    }
    md = rms ? 0.0 : md / C, mdx /= C;
    for (int c = 0; c < C; c++) {
      double xh = (xr[c] - m) * r, dn = gr[c] * (affine ? w[(size_t)c] : 1.0);
      rdx[(size_t)i * C + c] = r * (dn - md - xh * mdx);
    }
  }
  e = simt_nerr(dx, rdx, dx0);
  if (affine) e = std::max(e, simt_nerr(dw, rdw, dw0));
  if (!rdb.empty()) e = std::max(e, simt_nerr(db, rdb, db0));
  snprintf(what, sizeof what, "%s N=%d C=%d affine=%d (backward)", rms ? "rmsnorm" : "layernorm", N, C, affine);
  check(what, e, err);
}

/* LayerNorm then an activation in the same kernels (op_layernorm_act: act >= 0): forward (f32
 * y, or bf16 only) against k_layernorm then act_f on its output, and backward (dy at the
 * activation's output) against act_g into a zeroed gradient then the plain backward kernels,
 * all bit for bit: the fused kernels recompute the norm's output with the forward's formula */
static void run_act(int N, int C, bool affine, bool bias, int act) {
  const float eps = 1e-5f;
  std::vector<float> x((size_t)N * C), w(affine ? C : 0), b(bias ? C : 0);
  for (auto &t : x) t = g_rng.sym() * 2.0f + 0.3f;
  for (auto &t : w) t = 1.0f + 0.5f * g_rng.sym();
  for (auto &t : b) t = 0.2f * g_rng.sym();
  const float *wp = affine ? w.data() : nullptr, *bp = bias ? b.data() : nullptr;
  std::vector<float> y((size_t)N * C, NAN), cn((size_t)N * C, NAN), yr((size_t)N * C), m((size_t)N, NAN),
      r((size_t)N, NAN), m2((size_t)N, NAN), r2((size_t)N, NAN);
  std::vector<unsigned short> y16((size_t)N * C, 0xffff);
  long err = simt::launch(dim3((unsigned)N), dim3(256), 0,
                          [&] { k_layernorm(x.data(), wp, bp, y.data(), nullptr, m.data(), r.data(), C, eps, 0, act); });
  err += simt::launch(dim3((unsigned)N), dim3(256), 0,
                      [&] { k_layernorm(x.data(), wp, bp, nullptr, y16.data(), m2.data(), r2.data(), C, eps, 0, act); });
  err += simt::launch(dim3((unsigned)N), dim3(256), 0,
                      [&] { k_layernorm(x.data(), wp, bp, cn.data(), nullptr, m2.data(), r2.data(), C, eps, 0, -1); });
  long bad = 0;
  for (size_t i = 0; i < y.size(); i++) {
    uint32_t a, e;
    float want = act_f(act, cn[i]);
    memcpy(&a, &y[i], 4), memcpy(&e, &want, 4);
    bad += a != e;
    bad += y16[i] != simt_bf16_bits(want);
  }
  bad += m != m2 || r != r2;
  /* backward: dy at the activation's output; dx, dw, db added to starts */
  std::vector<float> g((size_t)N * C), dx((size_t)N * C), dw(affine ? C : 0), db(bias ? C : 0), dcn((size_t)N * C, 0.0f);
  for (auto &t : g) t = g_rng.sym();
  for (auto &t : dx) t = g_rng.sym();
  for (auto &t : dw) t = g_rng.sym();
  for (auto &t : db) t = g_rng.sym();
  std::vector<float> dx2 = dx, dw2 = dw, db2 = db;
  err += simt::launch(dim3((unsigned)N), dim3(256), 0, [&] {
    k_layernorm_bwd_dx(x.data(), wp, bp, m.data(), r.data(), g.data(), dx.data(), dx.data(), C, 0, act);
  });
  if (affine || bias)
    err += dwb_run(x.data(), wp, bp, m.data(), r.data(), g.data(), affine ? dw.data() : nullptr,
                   bias ? db.data() : nullptr, N, C, 0, act);
  for (size_t i = 0; i < dcn.size(); i++) dcn[i] += act_g(act, cn[i], g[i]); /* act_bwd into a zeroed start */
  err += simt::launch(dim3((unsigned)N), dim3(256), 0, [&] {
    k_layernorm_bwd_dx(x.data(), wp, nullptr, m.data(), r.data(), dcn.data(), dx2.data(), dx2.data(), C, 0, -1);
  });
  if (affine || bias)
    err += dwb_run(x.data(), nullptr, nullptr, m.data(), r.data(), dcn.data(), affine ? dw2.data() : nullptr,
                   bias ? db2.data() : nullptr, N, C, 0, -1);
  bad += dx != dx2 || dw != dw2 || db != db2;
  char what[128];
  snprintf(what, sizeof what, "layernorm + act %d N=%d C=%d affine=%d bias=%d (fused = unfused, bit for bit)", act, N, C,
           affine, bias);
  check(what, bad ? 1.0 : 0.0, err);
}

/* the warp-per-row forms (k_layernorm_w, k_layernorm_bwd_dx_w; R values a lane): forward and
 * dx against the double reference, in place / dx = dy when asked; with an activation, bit for
 * bit the plain warp forward then act_f, and the warp dx from dy at the activation's output bit
 * for bit the warp dx from act_g's gradient */
template <int R>
static void run_w(int N, int C, bool rms, bool affine, bool alias, int act) {
  const float eps = 1e-5f;
  std::vector<float> x((size_t)N * C), w(affine ? C : 0), b(affine && !rms ? C : 0);
  for (auto &t : x) t = g_rng.sym() * 2.0f + 0.3f;
  for (auto &t : w) t = 1.0f + 0.5f * g_rng.sym();
  for (auto &t : b) t = 0.2f * g_rng.sym();
  const float *wp = affine ? w.data() : nullptr, *bp = b.empty() ? nullptr : b.data();
  std::vector<float> y((size_t)N * C, NAN), m((size_t)N, NAN), r((size_t)N, NAN), ya((size_t)N * C, NAN);
  std::vector<unsigned short> ya16((size_t)N * C, 0xffff);
  dim3 grid((unsigned)((N + LNW_WARPS - 1) / LNW_WARPS)), blk(32 * LNW_WARPS);
  long err = simt::launch(grid, blk, 0, [&] {
    k_layernorm_w<R>(x.data(), wp, bp, y.data(), nullptr, rms ? nullptr : m.data(), r.data(), N, C, eps, rms, -1);
  });
  if (act >= 0)
    err += simt::launch(grid, blk, 0, [&] {
      k_layernorm_w<R>(x.data(), wp, bp, ya.data(), ya16.data(), nullptr, nullptr, N, C, eps, rms, act);
    });
  std::vector<double> ry((size_t)N * C), rm((size_t)N), rr((size_t)N);
  for (int i = 0; i < N; i++) {
    const float *xr = &x[(size_t)i * C];
    double mu = 0, v = 0;
    if (!rms) {
      for (int c = 0; c < C; c++) mu += xr[c];
      mu /= C;
    }
    for (int c = 0; c < C; c++) v += (xr[c] - mu) * (xr[c] - mu);
    double rs = 1.0 / std::sqrt(v / C + (double)eps);
    rm[(size_t)i] = mu, rr[(size_t)i] = rs;
    for (int c = 0; c < C; c++)
      ry[(size_t)i * C + c] = (xr[c] - mu) * rs * (affine ? w[(size_t)c] : 1.0) + (bp ? b[(size_t)c] : 0.0);
  }
  double e = std::max(simt_nerr(y, ry), simt_nerr(r, rr));
  if (!rms) e = std::max(e, simt_nerr(m, rm));
  long bad = 0;
  for (size_t i = 0; act >= 0 && i < y.size(); i++) {
    float want = act_f(act, y[i]);
    bad += memcmp(&ya[i], &want, 4) != 0;
    bad += ya16[i] != simt_bf16_bits(want);
  }
  /* in place: y = x */
  std::vector<float> xi = x, mi((size_t)N, NAN), ri((size_t)N, NAN);
  err += simt::launch(grid, blk, 0, [&] {
    k_layernorm_w<R>(xi.data(), wp, bp, xi.data(), nullptr, rms ? nullptr : mi.data(), ri.data(), N, C, eps, rms, -1);
  });
  bad += xi != y;
  char what[160];
  snprintf(what, sizeof what, "%s warp R=%d N=%d C=%d affine=%d act=%d (forward, in place, fused)",
           rms ? "rmsnorm" : "layernorm", R, N, C, affine, act);
  check(what, e, err + bad);
  /* backward: dx added to a start (or dx = dy); dy at the norm's output, then at act's */
  std::vector<float> g((size_t)N * C), dx((size_t)N * C);
  for (auto &t : g) t = g_rng.sym();
  for (auto &t : dx) t = g_rng.sym();
  std::vector<float> dx0 = alias ? g : dx;
  float *dxp = alias ? g.data() : dx.data();
  err = simt::launch(grid, blk, 0, [&] {
    k_layernorm_bwd_dx_w<R>(x.data(), wp, bp, rms ? nullptr : m.data(), r.data(), g.data(), dxp, dxp, N, C, rms, -1);
  });
  std::vector<float> dxv(dxp, dxp + (size_t)N * C);
  std::vector<double> rdx((size_t)N * C);
  for (int i = 0; i < N; i++) {
    const float *xr = &x[(size_t)i * C];
    const float *gg = alias ? &dx0[(size_t)i * C] : &g[(size_t)i * C];
    double mu = rm[(size_t)i], rs = rr[(size_t)i], md = 0, mdx = 0;
    for (int c = 0; c < C; c++) {
      double xh = (xr[c] - mu) * rs, dn = gg[c] * (affine ? w[(size_t)c] : 1.0);
      md += dn, mdx += dn * xh;
    }
    md = rms ? 0.0 : md / C, mdx /= C;
    for (int c = 0; c < C; c++) {
      double xh = (xr[c] - mu) * rs, dn = gg[c] * (affine ? w[(size_t)c] : 1.0);
      rdx[(size_t)i * C + c] = rs * (dn - md - xh * mdx);
    }
  }
  e = simt_nerr(dxv, rdx, dx0);
  bad = 0;
  if (act >= 0) { /* the fused dx against the plain one from act_g's gradient */
    std::vector<float> ga((size_t)N * C), dxa((size_t)N * C, 0.0f), dxb((size_t)N * C, 0.0f), gn((size_t)N * C);
    for (auto &t : ga) t = g_rng.sym();
    for (size_t i = 0; i < gn.size(); i++) gn[i] = 0.0f + act_g(act, y[i], ga[i]);
    err += simt::launch(grid, blk, 0, [&] {
      k_layernorm_bwd_dx_w<R>(x.data(), wp, bp, rms ? nullptr : m.data(), r.data(), ga.data(), dxa.data(), dxa.data(),
                              N, C, rms, act);
    });
    err += simt::launch(grid, blk, 0, [&] {
      k_layernorm_bwd_dx_w<R>(x.data(), wp, nullptr, rms ? nullptr : m.data(), r.data(), gn.data(), dxb.data(),
                              dxb.data(), N, C, rms, -1);
    });
    bad += dxa != dxb;
  }
  snprintf(what, sizeof what, "%s warp R=%d N=%d C=%d affine=%d act=%d%s (backward)", rms ? "rmsnorm" : "layernorm",
           R, N, C, affine, act, alias ? " dx = dy" : "");
  check(what, e, err + bad);
}

/* LayerNorm over the channel axis of x (B,C,T): forward (in place or not), then the backward
 * with dx a separate start or dy itself (alias: dw, db read dy first, as the launcher orders) */
static void run_ch(int B, int C, int T, bool affine, bool in_place, bool alias, bool reg = false) {
  const float eps = 1e-5f;
  const size_t n = (size_t)B * C * T;
  std::vector<float> x(n), w(affine ? C : 0), b(affine ? C : 0);
  for (auto &t : x) t = g_rng.sym() * 2.0f + 0.3f;
  for (auto &t : w) t = 1.0f + 0.5f * g_rng.sym();
  for (auto &t : b) t = g_rng.sym();
  std::vector<float> y = in_place ? x : std::vector<float>(n, NAN), mean((size_t)B * T, NAN), rstd((size_t)B * T, NAN);
  const std::vector<float> x0 = x;
  float *yp = in_place ? x.data() : y.data();
  dim3 grid((unsigned)((T + LNC_TX - 1) / LNC_TX), (unsigned)B), blk(LNC_TX, LNC_TY);
  long err = simt::launch(grid, blk, 0, [&] {
    if (reg)
      k_layernorm_ch_r(x.data(), affine ? w.data() : nullptr, affine ? b.data() : nullptr, yp, mean.data(),
                       rstd.data(), C, T, eps);
    else
      k_layernorm_ch(x.data(), affine ? w.data() : nullptr, affine ? b.data() : nullptr, yp, mean.data(), rstd.data(),
                     C, T, eps);
  });
  if (reg) { /* the register form's forward gives the first form's bits */
    std::vector<float> x1 = x0, y1 = in_place ? x0 : std::vector<float>(n, NAN), m1((size_t)B * T), r1((size_t)B * T);
    float *y1p = in_place ? x1.data() : y1.data();
    err += simt::launch(grid, blk, 0, [&] {
      k_layernorm_ch(x1.data(), affine ? w.data() : nullptr, affine ? b.data() : nullptr, y1p, m1.data(), r1.data(), C,
                     T, eps);
    });
    bool same = !memcmp(y1p, yp, n * sizeof(float)) && m1 == mean && r1 == rstd;
    printf("%s layernorm_ch_r B=%d C=%d T=%d: the same bits as k_layernorm_ch\n", same ? "ok  " : "FAIL", B, C, T);
    if (!same) g_fail = 1;
  }
  std::vector<double> ry(n), rm((size_t)B * T), rr((size_t)B * T);
  for (int bb = 0; bb < B; bb++)
    for (int t = 0; t < T; t++) {
      double m = 0, v = 0;
      for (int c = 0; c < C; c++) m += x0[((size_t)bb * C + c) * T + t];
      m /= C;
      for (int c = 0; c < C; c++) v += (x0[((size_t)bb * C + c) * T + t] - m) * (x0[((size_t)bb * C + c) * T + t] - m);
      double r = 1.0 / std::sqrt(v / C + eps);
      rm[(size_t)bb * T + t] = m, rr[(size_t)bb * T + t] = r;
      for (int c = 0; c < C; c++) {
        size_t i = ((size_t)bb * C + c) * T + t;
        ry[i] = (x0[i] - m) * r * (affine ? w[c] : 1.0) + (affine ? b[c] : 0.0);
      }
    }
  std::vector<float> yv(yp, yp + n);
  double e = std::max(simt_nerr(yv, ry), std::max(simt_nerr(mean, rm), simt_nerr(rstd, rr)));
  char what[128];
  snprintf(what, sizeof what, "layernorm_ch%s B=%d C=%d T=%d affine=%d in_place=%d", reg ? "_r" : "", B, C, T, affine,
           in_place);
  check(what, e, err);
  /* backward on x0 */
  std::vector<float> g(n), dx(n), dw(C), db(C);
  for (auto &t : g) t = g_rng.sym();
  for (auto &t : dx) t = g_rng.sym();
  for (auto &t : dw) t = g_rng.sym();
  for (auto &t : db) t = g_rng.sym();
  if (alias) dx = g;
  const std::vector<float> g0 = g, dx0 = dx, dw0 = dw, db0 = db;
  float *dxp = alias ? g.data() : dx.data();
  if (reg) { /* one pass with the blocks' partials (garbage first: every one must be written), then their sum */
    const int64_t nb = (int64_t)grid.x * grid.y;
    std::vector<float> part(affine ? (size_t)(2 * nb * C) : 0, NAN);
    float *pw = affine ? part.data() : nullptr, *pb = affine ? part.data() + nb * C : nullptr;
    err = simt::launch(grid, blk, 0, [&] {
      k_layernorm_ch_bwd_r(x0.data(), affine ? w.data() : nullptr, mean.data(), rstd.data(), g.data(), dxp, pw, pb, C, T);
    });
    if (affine)
      err += simt::launch(dim3((unsigned)((C + 31) / 32)), dim3(32, 32), 0,
                          [&] { k_layernorm_ch_part_sum(pw, pb, dw.data(), db.data(), nb, C); });
  } else {
    err = simt::launch(dim3((unsigned)C), dim3(256), 0, [&] {
      k_layernorm_ch_bwd_dwb(x0.data(), mean.data(), rstd.data(), g.data(), affine ? dw.data() : nullptr,
                             affine ? db.data() : nullptr, B, C, T);
    });
    err += simt::launch(grid, blk, 0, [&] {
      k_layernorm_ch_bwd_dx(x0.data(), affine ? w.data() : nullptr, mean.data(), rstd.data(), g.data(), dxp, C, T);
    });
  }
  std::vector<double> rdx(n), rdw(C, 0.0), rdb(C, 0.0);
  for (int bb = 0; bb < B; bb++)
    for (int t = 0; t < T; t++) {
      double m = rm[(size_t)bb * T + t], r = rr[(size_t)bb * T + t], sd = 0, sdx = 0;
      for (int c = 0; c < C; c++) {
        size_t i = ((size_t)bb * C + c) * T + t;
        double xh = (x0[i] - m) * r, dn = g0[i] * (affine ? w[c] : 1.0);
        sd += dn, sdx += dn * xh;
        rdw[c] += g0[i] * xh, rdb[c] += g0[i];
      }
      for (int c = 0; c < C; c++) {
        size_t i = ((size_t)bb * C + c) * T + t;
        double xh = (x0[i] - m) * r, dn = g0[i] * (affine ? w[c] : 1.0);
        rdx[i] = r * (dn - sd / C - xh * sdx / C);
      }
    }
  std::vector<float> dxv(dxp, dxp + n);
  e = simt_nerr(dxv, rdx, dx0);
  if (affine) e = std::max(e, std::max(simt_nerr(dw, rdw, dw0), simt_nerr(db, rdb, db0)));
  snprintf(what, sizeof what, "layernorm_ch%s B=%d C=%d T=%d affine=%d dx=dy %d (backward)", reg ? "_r" : "", B, C, T,
           affine, alias);
  check(what, e, err);
}

/* dx = dxin + the gradient in both dx kernels (block per row and warp per row): dxin a residual's
 * gradient into a dx of NaN, bit for bit the residual copied into dx and added to; dxin NULL into
 * a dx of NaN, bit for bit a zeroed dx added to */
template <int R>
static void run_dxin(int N, int C, bool rms) {
  std::vector<float> x((size_t)N * C), w((size_t)C), m((size_t)N), rs((size_t)N), g((size_t)N * C), res((size_t)N * C);
  for (auto &t : x) t = g_rng.sym() * 2.0f + 0.3f;
  for (auto &t : w) t = 1.0f + 0.5f * g_rng.sym();
  for (auto &t : g) t = g_rng.sym();
  for (auto &t : res) t = g_rng.sym();
  for (int i = 0; i < N; i++) m[(size_t)i] = rms ? 0.0f : 0.3f + 0.01f * (float)i, rs[(size_t)i] = 0.8f + 0.02f * (float)i;
  const float *mp = rms ? nullptr : m.data();
  long err = 0, bad = 0;
  dim3 grid((unsigned)((N + LNW_WARPS - 1) / LNW_WARPS)), blk(32 * LNW_WARPS);
  for (int warp = 0; warp < 2; warp++) {
    auto dx_kernel = [&](const float *dxin, float *dx) {
      if (warp)
        err += simt::launch(grid, blk, 0, [&] {
          k_layernorm_bwd_dx_w<R>(x.data(), w.data(), nullptr, mp, rs.data(), g.data(), dxin, dx, N, C, rms, -1);
        });
      else
        err += simt::launch(dim3((unsigned)N), dim3(256), 0, [&] {
          k_layernorm_bwd_dx(x.data(), w.data(), nullptr, mp, rs.data(), g.data(), dxin, dx, C, rms ? 1 : 0, -1);
        });
    };
    std::vector<float> onto((size_t)N * C, NAN), added = res, set((size_t)N * C, NAN), zeroed((size_t)N * C, 0.0f);
    dx_kernel(res.data(), onto.data());
    dx_kernel(added.data(), added.data());
    dx_kernel(nullptr, set.data());
    dx_kernel(zeroed.data(), zeroed.data());
    bad += memcmp(onto.data(), added.data(), sizeof(float) * onto.size()) != 0;
    bad += memcmp(set.data(), zeroed.data(), sizeof(float) * set.size()) != 0;
  }
  char what[160];
  snprintf(what, sizeof what, "%s dx onto a residual and written, R=%d N=%d C=%d (block and warp forms)",
           rms ? "rmsnorm" : "layernorm", R, N, C);
  check(what, 0.0, err + bad);
}

int main() {
  for (uint64_t seed : {0ull, 0x2545f4914f6cdd1dull, simt::HIGH_WARP_FIRST}) {
    simt::set_schedule(seed);
    printf("schedule %s\n", seed == simt::HIGH_WARP_FIRST ? "high warp first" : seed ? "skewed" : "lockstep");
    run(5, 300, false, true, false, false); /* the encoder's LayerNorm shape, smaller */
    run(3, 77, false, false, false, true);
    run(8, 896, true, true, true, true);   /* a decoding step's RMSNorm, in place, rounded */
    run(70, 130, true, true, false, true); /* rows past one block of the dw/db reduction */
    run(2, 3000, false, false, false, false, 512); /* the waveform normalisation's split, smaller: 6 chunks */
    run(3, 2049, false, true, true, true, 256);    /* in place, rounded, a last chunk of one value */
    run(1, 1000, true, true, false, true, 300);    /* RMSNorm split (no mean pass) */
    run_ch(2, 512, 45, true, false, false); /* a conv feature layer's channels, steps past a block */
    run_ch(3, 7, 33, false, true, true);    /* in place, no affine, dx = dy */
    run_ch(1, 20, 5, true, true, true);
    /* the register forms: every channel a thread can hold, steps past two blocks; a channel
     * count that leaves threads without their last channels, dx = dy; no affine, in place */
    run_ch(2, 512, 70, true, false, false, true);
    run_ch(3, 300, 33, true, false, true, true);
    run_ch(2, 7, 40, false, true, true, true);
    /* LayerNorm + GELU as the channels-last conv stack runs it (op_layernorm_act); no affine,
     * as data2vec's positional stack; ReLU and SiLU */
    run_act(70, 512, true, true, 0);
    run_act(9, 300, false, false, 0);
    run_act(5, 77, true, false, 1);
    run_act(4, 130, true, true, 2);
    /* the warp-per-row forms: a feature layer's 512 channels with GELU, rows past a block's 8;
     * the transformer's 1,024; RMSNorm in place; channels that leave lanes idle, dx = dy */
    run_w<16>(37, 512, false, true, false, 0);
    run_w<32>(9, 1024, false, true, false, -1);
    run_w<32>(5, 896, true, true, true, -1);
    run_w<4>(21, 100, false, false, true, 0);
    run_w<8>(8, 200, false, true, false, 2);
    /* dx onto a residual's gradient and written (the layers' backwards, session 21) */
    run_dxin<32>(9, 1024, false);
    run_dxin<32>(5, 896, true);
    run_dxin<4>(21, 100, false);
  }
  printf("test_norm_emu: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail;
}
