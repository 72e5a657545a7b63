/* cuda_ctl.h — settings of the CUDA backend beyond the op table. GEMM precision: f32 (cuBLAS
 * SGEMM, the default and the parity reference), tf32 or bf16 (f32 storage, tensor-core math:
 * cuBLAS rounds the inputs to tf32 / bf16 and accumulates in f32). The environment variable
 * TSASR_CUDA_GEMM sets it when the backend starts. Attention's chunking (below). In a build
 * without CUDA the setters return TS_EUNSUP. */
#ifndef TS_CUDA_CTL_H
#define TS_CUDA_CTL_H

#define TS_GEMM_F32 0
#define TS_GEMM_TF32 1
#define TS_GEMM_BF16 2

#ifdef __cplusplus
extern "C" {
#endif
/* "f32", "tf32" or "bf16"; TS_OK, TS_EARG for another name, TS_EUNSUP without CUDA. */
int cuda_set_gemm(const char *mode);
/* Batch rows attention handles per chunk of batched GEMMs (0, the default: as many as fit in
 * the scratch budget; 1: one row at a time). The environment variable TSASR_CUDA_ATTN_ROWS sets
 * it at start-up. For tests of the chunking; TS_EARG when negative, TS_EUNSUP without CUDA. */
int cuda_set_attn_rows(int rows);
/* The small-row GEMM for decoding's x W^T with at most 16 rows (cu_smallm.cuh; f32 or bf16
 * weights). Its first version was checked on an H200 but slower there than cuBLAS (49 against
 * 29 us per call in a rollout); session 9 rewrote it (a warp per tile), untimed. Off (0) by
 * default. The environment variable TSASR_CUDA_DECODE_KERNELS=1 sets it at start-up. TS_OK,
 * TS_EUNSUP without CUDA. */
int cuda_set_decode_kernels(int on);
/* Split-key attention for decoding steps (one query per batch row; cu_decode.cuh): key chunks
 * of 128 over many blocks, then a merge. On (1) by default: checked on an H200 (as above) and
 * half the one-query kernel's time there (33 against 67 us per call in a rollout).
 * TSASR_CUDA_DECODE_ATTN=0 turns it off at start-up. TS_OK, TS_EUNSUP without CUDA. */
int cuda_set_decode_attention(int on);
/* Attention forward and backward on tensor cores (kernels/cu_flash.cuh): in the bf16
 * precision, head dims 64 and 128, no additive bias, lse wanted (training and prefill), every
 * shape but the decoding steps that the one-query kernel takes (Tq 1, Tk <= 11,000). The first
 * (WMMA) version was checked on an H200 but slower there than the batched-GEMM path (backward
 * 4-6x); session 9 rewrote it on mma.sync with operands and sums in registers, checked in ctest
 * under the SIMT emulator, untimed. Off (0) by default. The environment variable
 * TSASR_CUDA_FLASH=1 sets it at start-up. TS_OK, TS_EUNSUP without CUDA. */
int cuda_set_flash_attention(int on);
/* Decoding steps as CUDA graphs (kernels/cuda_graph.cu): each step's launches recorded by
 * stream capture and submitted as one graph, updated step to step. Written without a GPU and
 * off (0) by default until tests/gpu/run.sh has checked and timed it; the environment variable
 * TSASR_CUDA_GRAPHS=1 sets it at start-up. TS_OK, TS_EUNSUP without CUDA. */
int cuda_set_graphs(int on);
/* How many decoding steps this process has launched as CUDA graphs (0 without CUDA): graphs
 * can stay off without an error (too few steps, no pinned ring, a profile, a failed capture),
 * so a check that they ran reads this. */
long cuda_graph_launches(void);
/* The fused rounding of GEMM operands in bf16 decoding (kernels/cu_matmul.cu, cu_round_want):
 * rmsnorm and SwiGLU write their output's bf16 rounding as well, and the GEMM right after takes
 * it instead of launching a rounding of its own (72 fewer launches per Qwen2.5-0.5B step). The
 * same rounding of the same values. Off (0) by default until tests/gpu/run.sh has checked and
 * timed it; TSASR_CUDA_FUSE_ROUND=1 sets it at start-up. TS_OK, TS_EUNSUP without CUDA. */
int cuda_set_fuse_round(int on);
/* Training steps' forward GEMMs on the weights' bf16 copy (op_weights_bf16 with 2): off (0) by
 * default, untimed; TSASR_CUDA_TRAIN_COPY=1 sets it at start-up. */
int cuda_set_train_copy(int on);
/* bf16 storage of the activations that only feed a GEMM (op_act_dtype): in the bf16 precision,
 * a training step's norms, SwiGLU and GELU write their output as bf16, and its GEMMs read it
 * with the weights' bf16 copy (this switch makes the training step keep one, as
 * TSASR_CUDA_TRAIN_COPY=1 does): cuBLAS on bf16 operands, half the bytes kept for backward.
 * Written without a GPU: off (0) by default, untimed; TSASR_CUDA_BF16_ACTS=1 sets it at
 * start-up. The CPU and devsim store them so by default (TSASR_BF16_ACTS=0 turns that off). */
int cuda_set_bf16_acts(int on);
/* The sample op's rows split over blocks (cu_sample.cuh): on (1) by default, untimed;
 * TSASR_CUDA_SAMPLE_SPLIT=0 turns it off at start-up. */
int cuda_set_sample_split(int on);
/* Decoding's bf16 copy of the weights in the bf16 precision (cu_weights_bf16): on (1) by
 * default since the H200 run of 2026-11-27; TSASR_CUDA_WEIGHT_COPY=0 turns it off at start-up.
 * Each: TS_OK, TS_EUNSUP without CUDA. */
int cuda_set_weight_copy(int on);
/* Single GEMMs on cuBLASLt (kernels/cu_lt.cu): each GEMM's descriptors and algorithm found
 * once per shape and kept (cublasGemmEx looks them up on every call, ~20 us of host time per
 * decoding GEMM on an H200, where decoding is bound by the host), and a linear layer's bias
 * added by the GEMM's epilogue rather than a pass of its own. Off (0) by default until
 * tests/gpu/run.sh has checked and timed it; TSASR_CUDA_LT=1 sets it at start-up. TS_OK,
 * TS_EUNSUP without CUDA. cuda_lt_counts: the GEMMs it ran and those that took the cuBLAS path
 * instead (0 without CUDA). */
int cuda_set_lt(int on);
void cuda_lt_counts(long *calls, long *fallbacks);
/* The mode in force ("f32" when CUDA is not built). */
const char *cuda_gemm_name(void);
/* The CUDA backend's op table, filled without touching a device (NULL when CUDA is not
 * built): for checking that every op has an implementation. */
struct be_ops;
const struct be_ops *cuda_ops(void);
#ifdef __cplusplus
}
#endif

#endif
