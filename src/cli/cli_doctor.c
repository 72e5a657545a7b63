/* cli_doctor.c — `tsasr doctor`: version, BLAS and threads, the bf16 GEMM, the encoder's conv
 * layout, CUDA build, devices and the switches of the CUDA kernels still awaiting a GPU check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tensor/backend.h"
#include "tensor/gemm.h"

/* "on" or "off" for a CUDA switch read from the environment: def (1 on, 0 off) unless the
 * variable says the other ("0" turns a default-on switch off, "1" a default-off one on) */
static const char *switch_on(const char *name, int def) {
  const char *v = getenv(name);
  int on = def ? !(v && !strcmp(v, "0")) : (v && !strcmp(v, "1"));
  return on ? "on" : "off";
}

/* TSASR_CUDA_DECODE_ATTN: 0 off, 2 on with its merge in the chunks' launch, otherwise on */
static const char *dec_attn(void) {
  const char *v = getenv("TSASR_CUDA_DECODE_ATTN");
  return v && !strcmp(v, "0") ? "off" : v && !strcmp(v, "2") ? "on, its merge in the chunks' launch" : "on";
}

/* TSASR_CUDA_DECODE_KERNELS: 0 off, 1 every shape, otherwise (2, the default) the small weights */
static const char *dec_kernels(void) {
  const char *v = getenv("TSASR_CUDA_DECODE_KERNELS");
  return v && !strcmp(v, "0") ? "off" : v && !strcmp(v, "1") ? "on for every shape" : "on for small weights";
}

int cli_doctor(int argc, char **argv) {
  (void)argc;
  (void)argv;
  be_info info;
  be_get_info(&info);
  printf("tsasr %s\n", TSASR_VERSION);
  printf("cpu backend: %s, %d OpenMP thread(s), BLAS threads %d\n", info.blas, info.omp_threads,
         info.blas_threads);
  if (info.blas_not_openmp)
    printf("warning: not OpenBLAS's OpenMP build: called from the engine's OpenMP threads, its pthreads build\n"
           "  contends for threads and locks (small-model GRPO ran 4.6x slower); install libopenblas-openmp-dev\n"
           "  (scripts/install-deps.sh) and rebuild\n");
  printf("subnormal floats on cpu: %s\n", info.denormals_flushed
                                              ? "flushed to zero (FTZ/DAZ; TSASR_DENORMALS=1 keeps them)"
                                              : "kept (IEEE gradual underflow; slow where they occur)");
  printf("bf16 GEMM (--gemm bf16 on cpu): %s\n", info.bf16_gemm);
  printf("few-row f32 GEMM (decoding's x W^T): %s\n",
         GEMM_SMALLM_ON ? "own kernel (AVX-512)" : "BLAS (built without AVX-512: the own kernel would spill)");
  int enc_cl = !strcmp(switch_on("TSASR_ENC_CL", 1), "on");
  printf("encoder conv layout (layer-norm mode, data2vec's positional convolutions; every backend): %s\n",
         enc_cl ? "channels-last (TSASR_ENC_CL=0: channel-first, the older layout, on cuDNN in CUDA builds)"
                : "channel-first (TSASR_ENC_CL=0)");
  printf("cuda: %s\n", info.cuda_built ? "built" : "not built");
  if (info.cuda_built) {
    if (info.cuda_devices > 0)
      printf("cuda runtime %d.%d, driver %d.%d, %d device(s): %s\n", info.cuda_runtime / 1000,
             (info.cuda_runtime % 1000) / 10, info.cuda_driver / 1000, (info.cuda_driver % 1000) / 10,
             info.cuda_devices, info.cuda_device_name);
    else
      printf("cuda runtime %d.%d: no device (%s)\n", info.cuda_runtime / 1000,
             (info.cuda_runtime % 1000) / 10, info.cuda_status);
    /* the kernel switches and how the environment sets them (docs/cuda.md says which ran on a GPU) */
    printf("cuda kernel switches (docs/cuda.md):\n"
           "  on by default: split-key decoding attention %s (TSASR_CUDA_DECODE_ATTN=0 turns it off; 2, not yet "
           "timed on a GPU, folds its merge into the chunks' launch), sampling "
           "rows split over blocks %s (TSASR_CUDA_SAMPLE_SPLIT=0), single GEMMs on cuBLASLt with cached plans "
           "%s (TSASR_CUDA_LT=0), conv1d on cuDNN %s (in builds that found cuDNN; TSASR_CUDA_CUDNN: 2, the default, "
           "leaves the waveform's single-channel convolution to im2col, 1 takes every shape, 3 leaves grouped ones "
           "too, 0 turns it off), decoding steps "
           "replayed as CUDA graphs %s (TSASR_CUDA_GRAPHS=0), the small-row decoding GEMM %s (TSASR_CUDA_DECODE_KERNELS: "
           "2, the default, on weights up to 8 M elements; 1 every shape; 0 off), and in bf16: flash attention %s "
           "(TSASR_CUDA_FLASH=0), fused rounding of GEMM operands %s (TSASR_CUDA_FUSE_ROUND=0), bf16 storage of the "
           "activations that only feed a GEMM %s (TSASR_CUDA_BF16_ACTS=0; the CPU's too, unless TSASR_BF16_ACTS=0), "
           "attention on cuDNN's fused SDPA %s (TSASR_CUDA_SDPA=0; in builds with cuDNN's frontend), the backward of "
           "x W^T with an f32 x on bf16 operands %s (TSASR_CUDA_BWD16=0), SDPA's bf16 operands kept for its backward "
           "%s (TSASR_CUDA_ATTN_KEEP=0), AdamW over all parameter runs in one launch %s (TSASR_CUDA_ADAMW_RUNS=0), the "
           "weights' bf16 copy kept current by AdamW %s (TSASR_CUDA_WCOPY_SYNC=0; TSASR_CUDA_WCOPY_CHECK=1 checks "
           "each skipped rounding); these three since session 20; GEMMs onto a residual "
           "reading it as cuBLASLt's C %s (TSASR_CUDA_MATMUL_RES=0; session 21); the "
           "channels-last convolution's input gradient written without a zero fill %s (TSASR_CUDA_CONV_SET=0; "
           "session 22; sessions 18-22's defaults first ran on an H200 in session 23, all passing)\n"
           "  off by default: training steps' forward GEMMs on the weights' bf16 copy with f32 activations %s "
           "(TSASR_CUDA_TRAIN_COPY=1), the element kernels' grid capped at N blocks per SM %s "
           "(TSASR_CUDA_ELEM_BLOCKS=N), the element kernels' wide forms %s (TSASR_CUDA_ELEM_VEC=1: conversions and "
           "activations eight values a thread-step, AdamW four, the channel LayerNorm in registers, the decoding "
           "attention's P V four columns a thread), cuDNN's convolutions on bf16 data %s (TSASR_CUDA_CUDNN_BF16=1), "
           "cuDNN's deterministic algorithms only (SDPA's backward, the convolutions) %s (TSASR_CUDA_DETERMINISTIC=1; "
           "about 2 %% slower on an H200, session 23; the backend's own kernels are deterministic either way)\n",
           dec_attn(), switch_on("TSASR_CUDA_SAMPLE_SPLIT", 1),
           switch_on("TSASR_CUDA_LT", 1), switch_on("TSASR_CUDA_CUDNN", 1),
           switch_on("TSASR_CUDA_GRAPHS", 1), dec_kernels(), switch_on("TSASR_CUDA_FLASH", 1),
           switch_on("TSASR_CUDA_FUSE_ROUND", 1), switch_on("TSASR_CUDA_BF16_ACTS", 1), switch_on("TSASR_CUDA_SDPA", 1),
           switch_on("TSASR_CUDA_BWD16", 1), switch_on("TSASR_CUDA_ATTN_KEEP", 1), switch_on("TSASR_CUDA_ADAMW_RUNS", 1),
           switch_on("TSASR_CUDA_WCOPY_SYNC", 1), switch_on("TSASR_CUDA_MATMUL_RES", 1),
           switch_on("TSASR_CUDA_CONV_SET", 1), switch_on("TSASR_CUDA_TRAIN_COPY", 0),
           getenv("TSASR_CUDA_ELEM_BLOCKS") && atoi(getenv("TSASR_CUDA_ELEM_BLOCKS")) > 0 ? "on" : "off",
           switch_on("TSASR_CUDA_ELEM_VEC", 0), switch_on("TSASR_CUDA_CUDNN_BF16", 0),
           switch_on("TSASR_CUDA_DETERMINISTIC", 0));
  }
  printf("audio: %s, lua: %s, workbench: %s\n",
#ifdef TS_HAVE_AUDIO
         "yes",
#else
         "no",
#endif
#ifdef TS_HAVE_LUA
         "yes",
#else
         "no",
#endif
#ifdef TS_HAVE_UI
         "yes"
#else
         "no"
#endif
  );
  return 0;
}
