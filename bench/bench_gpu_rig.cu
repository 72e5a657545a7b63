// bench_gpu_rig.cu — the GPU benchmark's shared pieces (bench_gpu_rig.h): the backend, device
// buffers of random values, the bf16 rounding of operands, and the table of rows.
#include <cuda_bf16.h>
#include <string.h>

#include "bench_gpu_rig.h"

backend *g_be;
ts_err g_e;

/* device buffer of n floats with small random values */
float *dbuf(int64_t n) {
  std::vector<float> h((size_t)n);
  uint64_t x = 0x1234567ull + (uint64_t)n;
  for (auto &v : h) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    v = (float)((double)(x >> 40) / 16777216.0 - 0.5) * 0.1f;
  }
  float *p = (float *)g_be->ops->alloc(g_be, sizeof(float) * (size_t)n);
  if (!p) {
    fprintf(stderr, "bench_gpu_ops: out of device memory (%lld floats)\n", (long long)n);
    exit(1);
  }
  OK(g_be->ops->to_device(g_be, p, h.data(), sizeof(float) * (size_t)n, &g_e));
  return p;
}

/* dst (n) = src rounded to bf16 (the bf16 forms get the same random operands: zeros would
 * flatter the tensor cores' rate) */
__global__ void k_bench_to_bf16(const float *src, __nv_bfloat16 *dst, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    dst[i] = __float2bfloat16(src[i]);
}

void bench_to_bf16(const float *src, void *dst, int64_t n) {
  k_bench_to_bf16<<<1024, 256>>>(src, (__nv_bfloat16 *)dst, n);
  CK(cudaGetLastError());
}

struct row {
  char name[96];
  double ms;
  char rate[64];
};
static std::vector<row> g_rows;

void report(const char *name, double ms, const char *rate) {
  row r;
  snprintf(r.name, sizeof r.name, "%s", name);
  r.ms = ms;
  snprintf(r.rate, sizeof r.rate, "%s", rate);
  g_rows.push_back(r);
  printf("%-52s %10.3f ms  %s\n", name, ms, rate);
  fflush(stdout);
}

/* the rows again as one table (run.sh's summary prints it) */
void print_table(void) {
  printf("\n%-52s %10s  %s\n", "benchmark", "median", "rate");
  for (const row &r : g_rows) printf("%-52s %10.3f ms  %s\n", r.name, r.ms, r.rate);
}

