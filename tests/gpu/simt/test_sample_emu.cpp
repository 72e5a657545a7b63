// test_sample_emu.cpp — the sample op's kernels (kernels/cu_sample.cuh: one block of 1,024
// threads per row, alone or after the row's passes split into chunks by k_sample_part and
// k_sample_mass; every case runs unsplit, at the backend's chunk count and at 7 chunks) under
// the SIMT emulator against the CPU backend's sample op, the reference the GPU harness also
// compares with. Cases: greedy, temperature, top-k, top-p and both; rows with runs of tied
// logits; a banned id for all rows and one per row; ids past n_real; the <|audio|> token's
// id banned; rows of Qwen2's 151,936 logits; top-k cuts at a tie group's edge; a top-p mass
// reached exactly at a radix bin's edge; rows of 1 and 5 ids, every id banned, draws near 1,
// rows half -inf, peaked rows. The token must be the CPU's (the kernel's integer top-k / top-p
// cut makes the kept set and the draw exact; the plain temperature pick could differ only for a
// draw within rounding of a boundary) and the log-prob within 1e-6 of it. Exit 0 when every
// row agrees.
#include <cmath>
#include <cstdio>
#include <vector>

#include "simt.h"
#include "simt_test.h"
#include "../../../kernels/cu_sample.cuh"

extern "C" {
#include "tensor/backend.h"
#include "tensor/ops.h"
}

static int g_fail;
static simt_rng g_rng = {0xda3e39cb94b95bdbull};


struct scase {
  const char *name;
  int R;
  int64_t V, n_real;
  float temperature, top_p;
  int64_t top_k;
  int ties; /* logits on a coarse grid: many exact ties */
  int ban, ban_rows;
  int top_group; /* > 0: that many logits of each row tie at the maximum (a cut at a bin's edge) */
  int halves;    /* rows of two tokens with equal weight and distinct keys (0 and -1e-30; the rest
                    at -1000, weight 0): top-p 0.5 reaches its mass exactly at the first one's
                    bin, so the radix walk must stop there and keep that token alone */
  int special;   /* 1: draws within 1e-16 of 1 (the pick's end); 2: the upper half of each row
                    -inf (chunks without mass); 3: one logit per row at 60 (a peaked row) */
};

static void run(const scase &c) {
  const int R = c.R;
  const int64_t V = c.V;
  std::vector<float> z((size_t)R * V);
  for (auto &x : z) x = c.ties ? (float)((int)(g_rng.unit() * 12.0) - 6) * 0.5f : (float)(g_rng.unit() * 16.0 - 8.0);
  for (int r = 0; r < R; r++)
    for (int g = 0; g < c.top_group; g++) z[(size_t)r * V + (size_t)(g_rng.unit() * (double)c.n_real)] = 9.0f;
  for (int r = 0; r < R && c.halves; r++) {
    float *zr = &z[(size_t)r * V];
    for (int64_t v = 0; v < V; v++) zr[v] = -1000.0f;
    int64_t a = (int64_t)(g_rng.unit() * (double)c.n_real), b = (a + 1 + (int64_t)(g_rng.unit() * 50.0)) % c.n_real;
    zr[a] = 0.0f, zr[b] = -1e-30f;
  }
  for (int r = 0; r < R && c.special == 2; r++)
    for (int64_t v = V / 2; v < V; v++) z[(size_t)r * V + v] = -INFINITY;
  for (int r = 0; r < R && c.special == 3; r++) z[(size_t)r * V + (size_t)(r * 37) % V] = 60.0f;
  std::vector<int32_t> ban_row((size_t)R);
  std::vector<double> u((size_t)R);
  for (int r = 0; r < R; r++) {
    ban_row[(size_t)r] = c.ban_rows ? (int32_t)(g_rng.unit() * (double)V) : -1;
    u[(size_t)r] = c.special == 1 ? 1.0 - 1e-16 * r : g_rng.unit();
  }
  /* the CPU backend's op */
  sample_req q = {c.temperature, c.n_real, c.ban, c.ban_rows ? ban_row.data() : nullptr, u.data(), c.top_k, c.top_p};
  std::vector<int32_t> tok_cpu((size_t)R), tok((size_t)R, -7);
  std::vector<float> lp_cpu((size_t)R), lp((size_t)R, NAN);
  ts_err e = {};
  tensor Z = tensor_f32(z.data(), 2, R, V, 0, 0);
  if (op_sample(be_cpu(), &Z, &q, tok_cpu.data(), lp_cpu.data(), &e)) {
    printf("FAIL %s: cpu sample: %s\n", c.name, e.msg);
    g_fail = 1;
    return;
  }
  /* nb 0: the single-block path (no partials); else the row split into nb chunks first */
  bool plain = smp_plain(c.temperature, (long long)c.top_k, c.top_p, V);
  for (int nb : {0, smp_nb(V), 7}) {
    std::vector<smp_part> part((size_t)R * (size_t)(nb > 0 ? nb : 1));
    long err = 0;
    if (nb > 0) {
      err += simt::launch(dim3((unsigned)nb, (unsigned)R), dim3(SMP_PART_THREADS), 0, [&] {
        k_sample_part(z.data(), V, c.n_real, c.ban, c.ban_rows ? ban_row.data() : nullptr, c.temperature, plain,
                      part.data());
      });
      if (plain)
        err += simt::launch(dim3((unsigned)nb, (unsigned)R), dim3(SMP_PART_THREADS), 0, [&] {
          k_sample_mass(z.data(), V, c.n_real, c.ban, c.ban_rows ? ban_row.data() : nullptr, c.temperature,
                        part.data());
        });
    }
    err += simt::launch(dim3((unsigned)R), dim3(SMP_THREADS), 0, [&] {
      k_sample(z.data(), V, c.n_real, c.ban, c.ban_rows ? ban_row.data() : nullptr, u.data(), c.temperature,
               (long long)c.top_k, c.top_p, tok.data(), lp.data(), nb > 0 ? part.data() : nullptr, nb);
    });
    int bad = 0;
    double lp_err = 0;
    for (int r = 0; r < R; r++) {
      if (tok[(size_t)r] != tok_cpu[(size_t)r]) bad++;
      double d = std::isinf(lp_cpu[(size_t)r]) && lp[(size_t)r] == lp_cpu[(size_t)r]
                     ? 0.0
                     : std::fabs((double)lp[(size_t)r] - lp_cpu[(size_t)r]);
      if (!(d <= 1e-6)) bad++;
      lp_err = std::max(lp_err, d);
    }
    bool ok = err == 0 && bad == 0;
    printf("%s %s, %d chunks: %d rows of %lld, %d disagree, log-prob max abs %.1e, emulator errors %ld\n",
           ok ? "ok  " : "FAIL", c.name, nb, R, (long long)V, bad, lp_err, err);
    if (!ok) g_fail = 1;
  }
}

int main() {
  const scase cases[] = {
      {"greedy", 6, 3000, 3000, 0.0f, 1.0f, 0, 0, -1, 0, 0, 0, 0},
      {"greedy, ties, bans", 6, 3000, 2900, 0.0f, 1.0f, 0, 1, 17, 1, 0, 0, 0},
      {"temperature 1", 6, 3000, 3000, 1.0f, 1.0f, 0, 0, -1, 0, 0, 0, 0},
      {"temperature 0.7, bans", 6, 2048, 2000, 0.7f, 1.0f, 0, 0, 5, 1, 0, 0, 0},
      {"top-k 50", 6, 3000, 3000, 1.0f, 1.0f, 50, 0, -1, 0, 0, 0, 0},
      {"top-p 0.9, ties", 6, 3000, 3000, 0.8f, 0.9f, 0, 1, -1, 0, 0, 0, 0},
      {"top-k 20 + top-p 0.9, ties, bans", 6, 4097, 4000, 1.0f, 0.9f, 20, 1, 3, 1, 0, 0, 0},
      {"top-k larger than the row", 3, 100, 100, 1.0f, 1.0f, 500, 0, -1, 0, 0, 0, 0},
      {"Qwen2 vocabulary, top-k 50 + top-p 0.95", 2, 151936, 151665, 0.7f, 0.95f, 50, 0, 151646, 0, 0, 0, 0},
      {"Qwen2 vocabulary, temperature 1 (rollouts)", 8, 151936, 151665, 1.0f, 1.0f, 0, 0, 151646, 0, 0, 0, 0},
      {"Qwen2 vocabulary, greedy", 4, 151936, 151665, 0.0f, 1.0f, 0, 0, 151646, 0, 0, 0, 0},
      {"top-k 20 = a tie group of 20 at the maximum", 6, 3000, 3000, 1.0f, 1.0f, 20, 0, -1, 0, 20, 0, 0},
      {"top-k 21 past a tie group of 20", 6, 3000, 3000, 1.0f, 1.0f, 21, 0, -1, 0, 20, 0, 0},
      {"top-p 0.5 reached exactly at a bin's edge", 12, 1000, 1000, 1.0f, 0.5f, 0, 0, -1, 0, 0, 1, 0},
      {"5 ids (more chunks than ids), temperature 1", 3, 5, 5, 1.0f, 1.0f, 0, 0, -1, 0, 0, 0, 0},
      {"5 ids, greedy", 3, 5, 5, 0.0f, 1.0f, 0, 0, -1, 0, 0, 0, 0},
      {"5 ids, top-k 2", 3, 5, 5, 1.0f, 1.0f, 2, 0, -1, 0, 0, 0, 0},
      {"1 id", 3, 1, 1, 1.0f, 1.0f, 0, 0, -1, 0, 0, 0, 0},
      {"100 real ids of 3000, temperature 1", 4, 3000, 100, 1.0f, 1.0f, 0, 0, -1, 0, 0, 0, 0},
      {"100 real ids of 3000, greedy", 4, 3000, 100, 0.0f, 1.0f, 0, 0, -1, 0, 0, 0, 0},
      {"every id banned, temperature 1", 3, 3000, 1, 1.0f, 1.0f, 0, 0, 0, 0, 0, 0, 0},
      {"every id banned, greedy", 3, 3000, 1, 0.0f, 1.0f, 0, 0, 0, 0, 0, 0, 0},
      {"draws near 1", 6, 3000, 3000, 1.0f, 1.0f, 0, 0, -1, 0, 0, 0, 1},
      {"draws near 1, Qwen2 vocabulary", 3, 151936, 151665, 1.0f, 1.0f, 0, 0, 151646, 0, 0, 0, 1},
      {"upper half -inf, temperature 1", 4, 3000, 3000, 1.0f, 1.0f, 0, 0, -1, 0, 0, 0, 2},
      {"upper half -inf, greedy", 4, 3000, 3000, 0.0f, 1.0f, 0, 0, -1, 0, 0, 0, 2},
      {"upper half -inf, top-p 0.9", 4, 3000, 3000, 1.0f, 0.9f, 0, 0, -1, 0, 0, 0, 2},
      {"peaked rows, temperature 0.3", 6, 30000, 30000, 0.3f, 1.0f, 0, 0, -1, 0, 0, 0, 3},
  };
  for (uint64_t seed : {0ull, 0x2545f4914f6cdd1dull, simt::HIGH_WARP_FIRST}) {
    simt::set_schedule(seed);
    printf("schedule %s\n", seed == simt::HIGH_WARP_FIRST ? "high warp first" : seed ? "skewed" : "lockstep");
    for (const scase &c : cases) run(c);
  }
  printf("test_sample_emu: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail;
}
