// bench_gpu_rig.h — what the GPU benchmark's files share (bench_gpu_ops.cu, bench_gpu_stack.cu):
// the backend, exits on a failed op or CUDA call, device buffers of random values, tensors on
// the device, CUDA-event and CUDA-graph timers, and the table of rows that run.sh prints.
#pragma once

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

extern "C" {
#include "tensor/backend.h"
#include "tensor/cuda_ctl.h"
}

extern backend *g_be; /* the CUDA backend (bench_gpu_rig.cu) */
extern ts_err g_e;    /* the last op's error */

#define OK(x)                                                        \
  do {                                                               \
    if ((x)) {                                                       \
      fprintf(stderr, "bench_gpu_ops: %s: %s\n", #x, g_e.msg);       \
      exit(1);                                                       \
    }                                                                \
  } while (0)
#define CK(x)                                                                          \
  do {                                                                                 \
    cudaError_t s_ = (x);                                                              \
    if (s_ != cudaSuccess) {                                                           \
      fprintf(stderr, "bench_gpu_ops: %s: %s\n", #x, cudaGetErrorString(s_));          \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

/* device buffer of n floats with small random values */
float *dbuf(int64_t n);
/* dst (n) = src rounded to bf16 on the device (the bf16 forms get the same random operands:
 * zeros would flatter the tensor cores' rate) */
void bench_to_bf16(const float *src, void *dst, int64_t n);

static inline tensor T(float *p, int nd, int64_t a, int64_t b = 0, int64_t c = 0, int64_t d = 0) {
  tensor t = tensor_f32(p, nd, a, b, c, d);
  t.device = DEV_CUDA;
  return t;
}

/* median milliseconds of fn over reps, each between two events recorded on stream st */
template <class F>
static double median_ms(cudaStream_t st, F fn, int reps) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<double> ms;
  for (int i = 0; i < reps; i++) {
    CK(cudaEventRecord(a, st));
    fn();
    CK(cudaEventRecord(b, st));
    CK(cudaEventSynchronize(b));
    float t = 0;
    CK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

/* median milliseconds of fn over reps after warm runs */
template <class F>
static double time_ms(F fn, int warm = 3, int reps = 10) {
  for (int i = 0; i < warm; i++) fn();
  CK(cudaDeviceSynchronize());
  return median_ms(0, fn, reps);
}

/* GPU milliseconds per call of fn with the host's launches out of the way: R calls captured
 * into one CUDA graph on the backend's stream, the graph launched after a warm run, the median
 * of 10 launches divided by R. -1 when the capture fails (the reason on stderr; the bench goes
 * on). The calls must not sync or read back, as inside a decoding step. */
template <class F>
static double time_graph_ms(F fn, int R) {
  cudaStream_t st = (cudaStream_t)cuda_stream_handle();
  cudaGraph_t g = NULL;
  cudaGraphExec_t ge = NULL;
  CK(cudaStreamSynchronize(st));
  cudaError_t rc = cudaStreamBeginCapture(st, cudaStreamCaptureModeRelaxed);
  if (rc == cudaSuccess) {
    for (int i = 0; i < R; i++) fn();
    rc = cudaStreamEndCapture(st, &g);
  }
  if (rc == cudaSuccess) rc = cudaGraphInstantiate(&ge, g, 0);
  if (g) cudaGraphDestroy(g);
  if (rc != cudaSuccess) {
    fprintf(stderr, "bench_gpu_ops: a graph of %d calls: %s\n", R, cudaGetErrorString(rc));
    cudaGetLastError();
    return -1;
  }
  CK(cudaGraphLaunch(ge, st));
  CK(cudaStreamSynchronize(st));
  double ms = median_ms(st, [&] { CK(cudaGraphLaunch(ge, st)); }, 10);
  CK(cudaGraphExecDestroy(ge));
  return ms / R;
}

/* a row of the table: printed now and kept for print_table */
void report(const char *name, double ms, const char *rate);
/* the rows again as one table (run.sh's summary prints it) */
void print_table(void);

/* bench_gpu_stack.cu: the SFT step's work besides its GEMMs and attention */
void bench_elem(int64_t n);
void bench_lnc(int64_t B, int64_t C, int64_t Tn);
void bench_conv(const char *tag, int64_t B, int64_t Cin, int64_t Tn, int64_t Cout, int64_t K, int stride, int pad,
                int groups);
