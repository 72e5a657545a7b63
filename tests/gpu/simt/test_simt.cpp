// test_simt.cpp — checks of the SIMT emulator itself (simt.h): shuffles, barriers and shared
// memory, mma.sync fragments (PTX's m16n8k16 layout) against a plain product, and that it
// catches what it claims to catch:
// a read of another lane's write without __syncwarp (a lower lane's in lockstep, a higher
// lane's under the skewed schedule), one of another warp's without __syncthreads (skewed),
// static shared memory left by an earlier block, threads split between a barrier and a warp
// operation, barriers or shuffles at different call sites, threads exiting before a barrier
// others wait at, an mma.sync by part of a warp. Exit 0 when every check holds.
#include <cstdio>
#include <vector>

#include "simt.h"

static int g_fail;
#define CHECK(cond, ...)                        \
  do {                                          \
    if (!(cond)) {                              \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                      \
      printf("\n");                             \
      g_fail = 1;                               \
    }                                           \
  } while (0)

/* block sum of 0..n-1 over shuffles and a shared array, one block per 256 values */
__global__ void k_sum(const int *x, int *out) {
  __shared__ int part[8];
  int t = threadIdx.x, v = x[blockIdx.x * 256 + t];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (t % 32 == 0) part[t / 32] = v;
  __syncthreads();
  if (t == 0) {
    int s = 0;
    for (int w = 0; w < 8; w++) s += part[w];
    out[blockIdx.x] = s;
  }
}

static void test_sum() {
  std::vector<int> x(1024), out(4, -1);
  for (int i = 0; i < 1024; i++) x[i] = i;
  long err = simt::launch(dim3(4), dim3(256), 0, [&] { k_sum(x.data(), out.data()); });
  CHECK(err == 0, "k_sum: %ld emulator errors", err);
  for (int b = 0; b < 4; b++) {
    int want = 0;
    for (int i = b * 256; i < b * 256 + 256; i++) want += i;
    CHECK(out[b] == want, "k_sum block %d: %d, want %d", b, out[b], want);
  }
}

/* shuffle kinds: idx (broadcast of lane 5), down by 3 (lanes 29..31 keep their own), width 8 */
__global__ void k_shfl(int *out) {
  int l = threadIdx.x;
  out[l] = __shfl_sync(0xffffffffu, l * 10, 5);
  out[32 + l] = __shfl_down_sync(0xffffffffu, l, 3);
  out[64 + l] = __shfl_xor_sync(0xffffffffu, l, 1, 8);
  out[96 + l] = __shfl_sync(0xffffffffu, l, 2, 8);
}

static void test_shfl() {
  std::vector<int> out(128, -1);
  CHECK(simt::launch(dim3(1), dim3(32), 0, [&] { k_shfl(out.data()); }) == 0, "k_shfl: emulator errors");
  for (int l = 0; l < 32; l++) {
    CHECK(out[l] == 50, "idx lane %d: %d", l, out[l]);
    CHECK(out[32 + l] == (l + 3 < 32 ? l + 3 : l), "down lane %d: %d", l, out[32 + l]);
    CHECK(out[64 + l] == (l ^ 1), "xor width 8 lane %d: %d", l, out[64 + l]);
    CHECK(out[96 + l] == l / 8 * 8 + 2, "idx width 8 lane %d: %d", l, out[96 + l]);
  }
}

/* one warp: C (16,8) = C0 + A (16,16) B (16,8) through mma_m16n8k16. Each lane gathers its
 * registers element by element from the PTX ISA's table for this shape, written as the ISA
 * writes it (element i of a lane's fragment: a_i for i in 0..7, b_i in 0..3, c_i in 0..3;
 * element i sits in register i / 2, half i % 2), and scatters its accumulators likewise. */
__global__ void k_mma(const float *a, const float *b, const float *c0, float *c) {
  int lane = threadIdx.x, group = lane >> 2, tig = lane % 4;
  uint32_t ra[4] = {0, 0, 0, 0}, rb[2] = {0, 0};
  float acc[4];
  for (int i = 0; i < 8; i++) {
    int row = (i < 2 || (i >= 4 && i < 6)) ? group : group + 8;
    int col = tig * 2 + (i & 1) + (i >= 4 ? 8 : 0);
    ra[i / 2] |= (uint32_t)__bfloat16_as_ushort(__float2bfloat16(a[row * 16 + col])) << (16 * (i % 2));
  }
  for (int i = 0; i < 4; i++) {
    int row = tig * 2 + (i & 1) + (i >= 2 ? 8 : 0), col = group;
    rb[i / 2] |= (uint32_t)__bfloat16_as_ushort(__float2bfloat16(b[row * 8 + col])) << (16 * (i % 2));
  }
  for (int i = 0; i < 4; i++) acc[i] = c0[(i < 2 ? group : group + 8) * 8 + tig * 2 + (i & 1)];
  simt::mma_m16n8k16(acc, ra, rb, __LINE__);
  for (int i = 0; i < 4; i++) c[(i < 2 ? group : group + 8) * 8 + tig * 2 + (i & 1)] = acc[i];
}

static void test_mma() {
  std::vector<float> a(256), b(128), c0(128), c(128, NAN);
  for (int i = 0; i < 256; i++) a[i] = (float)((i * 7) % 13) - 6.0f; /* exact in bf16 */
  for (int i = 0; i < 128; i++) b[i] = (float)((i * 5) % 11) * 0.25f, c0[i] = (float)i;
  CHECK(simt::launch(dim3(1), dim3(32), 0, [&] { k_mma(a.data(), b.data(), c0.data(), c.data()); }) == 0,
        "k_mma: emulator errors");
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 8; j++) {
      double s = c0[i * 8 + j];
      for (int k = 0; k < 16; k++) s += (double)a[i * 16 + k] * b[k * 8 + j];
      CHECK(c[i * 8 + j] == (float)s, "mma (%d,%d): %g, want %g", i, j, c[i * 8 + j], s);
    }
}

/* every lane writes its slot, then lane 0 reads lane 31's: without __syncwarp the emulator
 * must hand back the stale value (the race a GPU may or may not show) */
__global__ void k_race(int *buf, int *seen, int sync) {
  int l = threadIdx.x;
  buf[l] = l + 100;
  if (sync) __syncwarp();
  if (l == 0) *seen = buf[31];
}

static void test_race() {
  std::vector<int> buf(32, -1);
  int seen = 0;
  simt::launch(dim3(1), dim3(32), 0, [&] { k_race(buf.data(), &seen, 0); });
  CHECK(seen == -1, "unsynchronised read saw %d: the emulator hid a race", seen);
  simt::launch(dim3(1), dim3(32), 0, [&] { k_race(buf.data(), &seen, 1); });
  CHECK(seen == 131, "synchronised read saw %d", seen);
}

/* warp 1 reads what warp 0 wrote: without __syncthreads only a schedule where warp 1 runs
 * ahead shows it (lockstep runs warp 0's segment first); the skewed schedule must */
__global__ void k_warp_race(int *seen, int sync) {
  __shared__ int x[64];
  int t = threadIdx.x;
  x[t] = -1;
  __syncthreads();
  x[t] = t + 1;
  __syncwarp();
  if (sync) __syncthreads();
  if (t >= 32) seen[t - 32] = x[t - 32];
}

static void test_warp_race() {
  int stale = 0;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    std::vector<int> seen(32, 0);
    simt::set_schedule(seed);
    simt::launch(dim3(1), dim3(64), 0, [&] { k_warp_race(seen.data(), 0); });
    for (int i = 0; i < 32; i++) stale += seen[i] != i + 1;
    simt::launch(dim3(1), dim3(64), 0, [&] { k_warp_race(seen.data(), 1); });
    for (int i = 0; i < 32; i++) CHECK(seen[i] == i + 1, "seed %llu, synchronised: slot %d saw %d", (unsigned long long)seed, i, seen[i]);
  }
  simt::set_schedule(0);
  CHECK(stale > 0, "the skewed schedule never ran warp 1 ahead of warp 0 (8 seeds)");
}

/* lane 31 reads lane 0's write without __syncwarp: lockstep runs lane 0 first and hides it;
 * the skewed schedule also runs lanes in descending order and must show it */
__global__ void k_race_up(int *buf, int *seen) {
  int l = threadIdx.x;
  buf[l] = l + 100;
  if (l == 31) *seen = buf[0];
}

static void test_race_up() {
  int stale = 0;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    std::vector<int> buf(32, -1);
    int seen = 0;
    simt::set_schedule(seed);
    simt::launch(dim3(1), dim3(32), 0, [&] { k_race_up(buf.data(), &seen); });
    stale += seen != 100;
  }
  simt::set_schedule(0);
  CHECK(stale > 0, "a higher lane reading a lower lane's write was never caught (8 seeds)");
}

/* a static __shared__ array read before it is written must hold garbage, not what the previous
 * block left there */
__global__ void k_stale_shared(int *out) {
  __shared__ int s[32];
  int t = threadIdx.x;
  out[blockIdx.x * 32 + t] = s[t];
  s[t] = 7;
}

static void test_stale_shared() {
  std::vector<int> out(64, 0);
  simt::launch(dim3(2), dim3(32), 0, [&] { k_stale_shared(out.data()); });
  CHECK(out[32] != 7, "block 1 saw block 0's shared memory");
}

/* misuses that must be reported: barriers at two call sites; a barrier some threads skip by
 * exiting; lanes of a warp at two different shuffles; an mma.sync by half a warp */
__global__ void k_two_barriers() {
  if (threadIdx.x < 32)
    __syncthreads();
  else
    __syncthreads();
}
__global__ void k_exit_barrier() {
  if (threadIdx.x >= 32) return;
  __syncthreads();
}
__global__ void k_two_shuffles(int *out) {
  int l = threadIdx.x;
  if (l < 16)
    out[l] = __shfl_xor_sync(0xffffffffu, l, 1);
  else
    out[l] = __shfl_xor_sync(0xffffffffu, l, 1);
}
__global__ void k_half_mma() {
  uint32_t ra[4] = {0, 0, 0, 0}, rb[2] = {0, 0};
  float acc[4] = {0, 0, 0, 0};
  if (threadIdx.x < 16) simt::mma_m16n8k16(acc, ra, rb, __LINE__);
}
/* half the warp at an mma, the other half at __syncwarp: reported, not a crash */
__global__ void k_mma_vs_syncwarp() {
  uint32_t ra[4] = {0, 0, 0, 0}, rb[2] = {0, 0};
  float acc[4] = {0, 0, 0, 0};
  if (threadIdx.x < 16)
    simt::mma_m16n8k16(acc, ra, rb, __LINE__);
  else
    __syncwarp();
}

/* lane 0 at __syncwarp, the rest at __syncthreads: a deadlock on a GPU, an error here */
__global__ void k_split() {
  if (threadIdx.x == 0)
    __syncwarp();
  else
    __syncthreads();
}

static void test_errors() {
  CHECK(simt::launch(dim3(1), dim3(64), 0, [&] { k_split(); }) > 0, "barrier against a warp operation not reported");
  CHECK(simt::launch(dim3(1), dim3(64), 0, [&] { k_two_barriers(); }) > 0, "barriers at two call sites not reported");
  CHECK(simt::launch(dim3(1), dim3(64), 0, [&] { k_exit_barrier(); }) > 0, "exited threads at a barrier not reported");
  std::vector<int> out(32);
  CHECK(simt::launch(dim3(1), dim3(32), 0, [&] { k_two_shuffles(out.data()); }) > 0,
        "shuffles at two call sites not reported");
  CHECK(simt::launch(dim3(1), dim3(32), 0, [&] { k_half_mma(); }) > 0, "an mma.sync by half a warp not reported");
  CHECK(simt::launch(dim3(1), dim3(32), 0, [&] { k_mma_vs_syncwarp(); }) > 0,
        "an mma.sync against a __syncwarp not reported");
}

int main() {
  test_sum();
  test_shfl();
  test_mma();
  test_race();
  test_race_up();
  test_warp_race();
  test_stale_shared();
  fprintf(stderr, "test_simt: the errors below are provoked on purpose\n");
  test_errors();
  printf("test_simt: %s\n", g_fail ? "FAIL" : "PASS");
  return g_fail;
}
