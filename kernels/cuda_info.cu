// cuda_info.cu — CUDA runtime and device discovery for `tsasr doctor` (the backend itself is
// kernels/cuda_backend.cu).
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

extern "C" {
#include "tensor/backend.h"

int cuda_query_info(be_info *info) {
  int rt = 0, drv = 0, n = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
  info->cuda_runtime = rt;
  info->cuda_driver = drv;
  cudaError_t st = cudaGetDeviceCount(&n);
  if (st != cudaSuccess) {
    info->cuda_devices = 0;
    snprintf(info->cuda_status, sizeof info->cuda_status, "%s", cudaGetErrorString(st));
    return 0;
  }
  info->cuda_devices = n;
  if (n > 0) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) == cudaSuccess)
      snprintf(info->cuda_device_name, sizeof info->cuda_device_name, "%s (sm_%d%d, %.1f GiB)",
               p.name, p.major, p.minor, (double)p.totalGlobalMem / (1024.0 * 1024 * 1024));
  } else {
    snprintf(info->cuda_status, sizeof info->cuda_status, "no device");
  }
  return n;
}
}
