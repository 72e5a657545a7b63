// test_colred_emu.cpp — the fixed-order column reductions (kernels/cu_colred.cuh) on the SIMT
// emulator: a bias gradient's column sum (k_colsum_part + k_colpart_add) against its order
// written out on the host, bit for bit, and against a double sum; the embedding's backward
// (cr_embed_index + k_embed_bwd_rows) against the CPU backend's adds in position order, bit for
// bit, with repeated ids, ids past the first column block and an empty-free index. Each under
// the lockstep, a skewed and the high-warp-first schedules: the bits may not depend on them.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "simt.h"
#include "simt_test.h"
#include "../../../kernels/cu_colred.cuh"

static int g_fail;
static simt_rng g_rng = {0x6a09e667f3bcc908ull};

/* the colsum's order written out: block y's thread (x, ty) adds rows y*8+ty, y*8+ty+8*gy, ... in
 * order (double), thread ty 0 then adds the other 7 threads' sums in ty order; the output adds
 * the gy partials in order and rounds once */
static std::vector<float> colsum_order(const std::vector<float> &g, const std::vector<float> &start, int64_t rows,
                                       int64_t N, int64_t gy) {
  std::vector<float> out = start;
  for (int64_t j = 0; j < N; j++) {
    double tot = 0;
    for (int64_t y = 0; y < gy; y++) {
      double t[8];
      for (int ty = 0; ty < 8; ty++) {
        t[ty] = 0;
        for (int64_t r = y * 8 + ty; r < rows; r += gy * 8) t[ty] += g[(size_t)(r * N + j)];
      }
      double s = t[0];
      for (int ty = 1; ty < 8; ty++) s += t[ty];
      tot += s;
    }
    out[(size_t)j] += (float)tot;
  }
  return out;
}

static void run_colsum(int64_t rows, int64_t N, int64_t gy) {
  std::vector<float> g((size_t)(rows * N)), out((size_t)N);
  for (auto &v : g) v = g_rng.sym();
  for (auto &v : out) v = g_rng.sym();
  std::vector<float> start = out;
  std::vector<double> part((size_t)(gy * N), NAN); /* NaN: a partial left unwritten shows */
  long err = simt::launch(dim3((unsigned)((N + 31) / 32), (unsigned)gy), dim3(32, 8), 0,
                          [&] { k_colsum_part(g.data(), part.data(), rows, N); });
  err += simt::launch(dim3((unsigned)((N + 255) / 256)), dim3(256), 0,
                      [&] { k_colpart_add(part.data(), gy, N, out.data()); });
  std::vector<float> want = colsum_order(g, start, rows, N, gy);
  std::vector<double> ref((size_t)N);
  for (int64_t j = 0; j < N; j++)
    for (int64_t r = 0; r < rows; r++) ref[(size_t)j] += g[(size_t)(r * N + j)];
  double rel = simt_nerr(out, ref, start);
  bool same = memcmp(out.data(), want.data(), sizeof(float) * (size_t)N) == 0;
  bool ok = err == 0 && same && rel < 1e-6;
  printf("%s colsum rows=%lld N=%lld chunks=%lld: %s the order written out, rel %.2e, emulator errors %ld\n",
         ok ? "ok  " : "FAIL", (long long)rows, (long long)N, (long long)gy, same ? "equal to" : "NOT", rel, err);
  if (!ok) g_fail = 1;
}

/* k_colpart_add adds the partials in chunk order: with 1e17, -1e17, 1 that gives 1 (added the other
 * way round, or pairwise from the end, 0); a column of one partial, one of none (gy 0 adds 0) */
static void run_part_order() {
  std::vector<double> part = {1e17, 5.0, -1e17, 7.0, 1.0, -3.0};
  std::vector<float> out = {0.0f, 0.5f};
  long err = simt::launch(dim3(1), dim3(256), 0, [&] { k_colpart_add(part.data(), 3, 2, out.data()); });
  std::vector<float> none = {2.0f};
  err += simt::launch(dim3(1), dim3(256), 0, [&] { k_colpart_add(part.data(), 0, 1, none.data()); });
  /* the two-output form: a from pa, b from pb in chunk order; b alone when a is NULL */
  std::vector<double> pb = {-1e17, 2.0, 1e17, 0.0, 3.0, 0.25};
  std::vector<float> a2 = {0.0f, 0.0f}, b2 = {0.0f, 1.0f}, b3 = {0.0f, 0.0f};
  err += simt::launch(dim3(1), dim3(256), 0,
                      [&] { k_colpart_add2(part.data(), pb.data(), 3, 2, a2.data(), b2.data()); });
  err += simt::launch(dim3(1), dim3(256), 0, [&] { k_colpart_add2(nullptr, pb.data(), 3, 2, nullptr, b3.data()); });
  bool two = a2[0] == 1.0f && a2[1] == 9.0f && b2[0] == 3.0f && b2[1] == 3.25f && b3[0] == 3.0f && b3[1] == 2.25f;
  bool ok = err == 0 && out[0] == 1.0f && out[1] == 9.5f && none[0] == 2.0f && two;
  printf("%s colpart_add in chunk order: %g (want 1), %g (want 9.5), %g (want 2); the two-output form %s, "
         "emulator errors %ld\n",
         ok ? "ok  " : "FAIL", (double)out[0], (double)out[1], (double)none[0], two ? "right" : "WRONG", err);
  if (!ok) g_fail = 1;
}

/* ids of N rows drawn from V values (repeats when N > V), rows of C */
static void run_embed(int64_t N, int64_t V, int64_t C, unsigned threads) {
  std::vector<int32_t> ids((size_t)N);
  for (auto &v : ids) v = (int32_t)(g_rng.next() >> 33) % (int32_t)V;
  std::vector<float> g((size_t)(N * C)), dt((size_t)(V * C));
  for (auto &v : g) v = g_rng.sym();
  for (auto &v : dt) v = g_rng.sym();
  std::vector<float> want = dt; /* the CPU backend's adds: rows in position order */
  for (int64_t i = 0; i < N; i++)
    for (int64_t c = 0; c < C; c++) want[(size_t)(ids[(size_t)i] * C + c)] += g[(size_t)(i * C + c)];
  int64_t U = -1;
  int32_t *idx = cr_embed_index(ids.data(), N, &U);
  bool index_ok = idx != nullptr && U >= 1 && U <= N && U <= V;
  long err = 0;
  if (index_ok) {
    const int32_t *uid = idx, *off = uid + U, *pos = off + U + 1;
    /* the index: ids ascending and distinct, offsets rising from 0 to N, each id's positions
     * ascending and holding that id, every position once */
    std::vector<int> seen((size_t)N, 0);
    index_ok = off[0] == 0 && off[U] == N;
    for (int64_t u = 0; u < U && index_ok; u++) {
      index_ok = (u == 0 || uid[u] > uid[u - 1]) && off[u + 1] > off[u];
      for (int32_t i = off[u]; i < off[u + 1] && index_ok; i++) {
        index_ok = pos[i] >= 0 && pos[i] < N && ids[(size_t)pos[i]] == uid[u] && (i == off[u] || pos[i] > pos[i - 1]);
        if (index_ok) seen[(size_t)pos[i]]++;
      }
    }
    for (int64_t i = 0; i < N && index_ok; i++) index_ok = seen[(size_t)i] == 1;
    err = simt::launch(dim3((unsigned)U, (unsigned)((C + threads - 1) / threads)), dim3(threads), 0,
                       [&] { k_embed_bwd_rows(uid, off, pos, g.data(), dt.data(), C); });
  }
  free(idx);
  bool same = index_ok && memcmp(dt.data(), want.data(), sizeof(float) * dt.size()) == 0;
  bool ok = err == 0 && same;
  printf("%s embed_bwd N=%lld V=%lld C=%lld (%lld distinct ids): index %s, %s the CPU's bits, emulator errors %ld\n",
         ok ? "ok  " : "FAIL", (long long)N, (long long)V, (long long)C, (long long)U, index_ok ? "ok" : "WRONG",
         same ? "equal to" : "NOT", err);
  if (!ok) g_fail = 1;
}

int main() {
  for (uint64_t seed : {0ull, 0x2545f4914f6cdd1dull, simt::HIGH_WARP_FIRST}) {
    simt::set_schedule(seed);
    run_colsum(1, 1, 1);
    run_colsum(7, 33, 1);     /* fewer rows than a block's threads; a second column block */
    run_colsum(64, 31, 1);
    run_colsum(65, 100, 2);   /* a chunk of one row */
    run_colsum(1000, 64, 16); /* chunks of 64 rows, as the backend takes them */
    run_colsum(5000, 40, 3);  /* chunks longer than 64 rows: each thread strides */
    run_embed(1, 1, 1, 256);
    run_embed(50, 10, 7, 256);   /* repeated ids */
    run_embed(40, 1000, 300, 256); /* mostly distinct ids, two column blocks */
    run_embed(200, 3, 33, 32);   /* a few ids repeated many times, column blocks of 32 */
  }
  simt::set_schedule(0);
  run_part_order();
  printf("test_colred_emu: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail;
}
