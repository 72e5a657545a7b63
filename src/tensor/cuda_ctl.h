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
 * 29 us per call in a rollout); session 9 rewrote it (a warp per tile), and that too slowed
 * rollouts there (2,030-2,068 against 2,356-2,826 tokens/s, 2026-11-27); session 14 rewrote it
 * again (a block per tile, its warps splitting K), slower still (1,797 against 3,356-3,441,
 * session 15: x re-read per tile); session 15 keeps x in registers across a block's tiles,
 * first timed on an H100 (2026-11-27, session 16): in CUDA graphs faster than cuBLASLt on the
 * q/k/v, o and down projections, slower on gate/up and the head; rollouts with it on every shape
 * 4,484-4,518 tokens/s, on the small projections only 5,101-5,108, cuBLASLt alone 4,927-4,931.
 * 2, the default since then: GEMMs of at most 16 rows whose weights have at most 2^23 elements
 * (the small projections); 1: every GEMM of at most 16 rows; 0: none. The environment variable
 * TSASR_CUDA_DECODE_KERNELS (0, 1 or 2) sets it at start-up. TS_OK, TS_EARG outside 0-2,
 * TS_EUNSUP without CUDA. */
int cuda_set_decode_kernels(int on);
/* Split-key attention for decoding steps (one query per batch row; cu_decode.cuh): key chunks
 * of 128 over many blocks, then a merge. On (1) by default: checked on an H200 (as above) and
 * half the one-query kernel's time there (33 against 67 us per call in a rollout). 2 folds the
 * merge into the chunks' launch (k_attn_dec_fused: the last chunk of a row to finish merges
 * it; written in session 18 without a GPU, checked under the emulator). TSASR_CUDA_DECODE_ATTN
 * (0, 1 or 2) sets it at start-up. TS_OK, TS_EARG outside 0-2, TS_EUNSUP without CUDA. */
int cuda_set_decode_attention(int on);
/* Attention forward and backward on tensor cores (kernels/cu_flash.cuh): in the bf16
 * precision, head dims 64 and 128, no additive bias, lse wanted (training and prefill), every
 * shape but the decoding steps that the one-query kernel takes (Tq 1, Tk <= 11,000). The first
 * (WMMA) version was slower on an H200 than the batched-GEMM path; the mma.sync rewrite passed
 * every check there on 2026-11-27 and was faster (forward 1.9-2.6x, backward 1.13-1.25x; SFT
 * steps +11 %). On (1) by default; TSASR_CUDA_FLASH=0 turns it off at start-up. TS_OK,
 * TS_EUNSUP without CUDA. */
int cuda_set_flash_attention(int on);
/* Decoding steps as CUDA graphs (kernels/cuda_graph.cu): a step's launches recorded by stream
 * capture and submitted as one graph, which later steps of the same shape replay without
 * running their host code (op_step_replay). Capturing every step anew, as the first version
 * did, was no faster on an H200 (2026-11-27): a capture costs the host what launching does.
 * Replayed, bf16 rollouts of 8 x 512 ran at 4,775-4,839 tokens/s against 3,648-3,990 eager
 * (H200, 2026-11-27, session 15), each replayed step checked bit for bit against its eager
 * rerun. On (1) by default; TSASR_CUDA_GRAPHS=0 turns it off at start-up
 * (TSASR_CUDA_GRAPHS_CHECK=1 has generate compare each replayed step with its eager rerun).
 * TS_OK, TS_EUNSUP without CUDA. */
int cuda_set_graphs(int on);
/* How many decoding steps this process has launched as CUDA graphs (0 without CUDA): graphs
 * can stay off without an error (too few steps, no pinned ring, a profile, a failed capture),
 * so a check that they ran reads this. */
long cuda_graph_launches(void);
/* How many of them were replays (no capture, no host code run; 0 without CUDA). */
long cuda_graph_replays(void);
/* The fused rounding of GEMM operands in bf16 decoding (kernels/cu_matmul.cu, cu_round_want):
 * rmsnorm and SwiGLU write their output's bf16 rounding as well, and the GEMM right after takes
 * it instead of launching a rounding of its own (72 fewer launches per Qwen2.5-0.5B step). The
 * same rounding of the same values (on an H200 the decoding printed the same tokens and
 * log-probs). On (1) by default since 2026-11-27 (rollouts 12-13 % faster there);
 * TSASR_CUDA_FUSE_ROUND=0 turns it off at start-up. TS_OK, TS_EUNSUP without CUDA. */
int cuda_set_fuse_round(int on);
/* Training steps' forward GEMMs on the weights' bf16 copy (op_weights_bf16 with 2) with f32
 * activations: off (0) by default (the default bf16 activations make the copy anyway; alone it
 * gained 1-2 % on an H200); TSASR_CUDA_TRAIN_COPY=1 sets it at start-up. */
int cuda_set_train_copy(int on);
/* bf16 storage of the activations that only feed a GEMM (op_act_dtype): in the bf16 precision,
 * a training step's norms, SwiGLU and GELU write their output as bf16, and its GEMMs read it
 * with the weights' bf16 copy (this switch makes the training step keep one, as
 * TSASR_CUDA_TRAIN_COPY=1 does): cuBLAS on bf16 operands, half the bytes kept for backward.
 * On (1) by default since the H200 run of 2026-11-27 (checked there; SFT steps 4-7 % faster,
 * 1.6 GB less arena); TSASR_CUDA_BF16_ACTS=0 turns it off at start-up. The CPU and devsim
 * store them so by default too (TSASR_BF16_ACTS=0 turns that off). */
int cuda_set_bf16_acts(int on);
/* The sample op's rows split over blocks (cu_sample.cuh): on (1) by default (without it rollouts
 * on an H200 were no slower, within their run-to-run spread);
 * TSASR_CUDA_SAMPLE_SPLIT=0 turns it off at start-up. */
int cuda_set_sample_split(int on);
/* Decoding's bf16 copy of the weights in the bf16 precision (cu_weights_bf16): on (1) by
 * default since the H200 run of 2026-11-27; TSASR_CUDA_WEIGHT_COPY=0 turns it off at start-up.
 * Each: TS_OK, TS_EUNSUP without CUDA. */
int cuda_set_weight_copy(int on);
/* Single GEMMs on cuBLASLt (kernels/cu_lt.cu): each GEMM's descriptors and algorithm found
 * once per shape and kept (cublasGemmEx looks them up on every call), and a linear layer's bias
 * added by the GEMM's epilogue rather than a pass of its own. On (1) by default since the H200
 * run of 2026-11-27 (every op case at 1e-5 and the f32 parity with it; decoding's GEMMs 14.6
 * against 16.9 us of host time, rollouts ~12 % faster); TSASR_CUDA_LT=0 turns it off at
 * start-up. TS_OK, TS_EUNSUP without CUDA. cuda_lt_counts: the GEMMs it ran and those that took the cuBLAS path
 * instead (0 without CUDA). */
int cuda_set_lt(int on);
void cuda_lt_counts(long *calls, long *fallbacks);
/* conv1d and its backward on cuDNN (kernels/cu_cudnn.cu): descriptors and the heuristic's
 * algorithm per shape, kept (no FFT or Winograd algorithms; deterministic ones first); FMA
 * math in the f32 precision, the default math (TF32 tensor cores on the f32 data) in tf32 and
 * bf16; the bias
 * and its gradient stay the backend's own kernels. The im2col path it replaces was ~20 % of a
 * bf16 SFT step on an H200 (2026-11-27); with cuDNN the step was 2.5 % faster there (6,872
 * against 6,702 tokens/s), and it passed run.sh's checks (2026-11-27, session 15). Modes: 0
 * off; 1 every shape; 2 all but single-input-channel convolutions (the waveform's, whose weight
 * gradient took cuDNN 3.3 ms of an H200's 100 ms bf16 SFT step, session 17), the default in
 * builds that found cuDNN; 3 all but those and grouped ones (data2vec's positional convolutions,
 * which cuDNN runs a group at a time). On that H200, in one process: every shape 11,976 and
 * 11,957 tokens/s, all but grouped 11,619, all but grouped and single-channel 12,054 (so
 * im2col wins on the waveform's and loses on the grouped ones; mode 2, their combination, is
 * not yet timed itself). TSASR_CUDA_CUDNN=0..3 sets it at start-up. TS_OK; TS_EARG past 3;
 * TS_EUNSUP for on without CUDA or in a build without cuDNN.
 * cuda_cudnn_counts: the convolutions (forward and backward calls) it ran and those that took
 * the im2col path after cuDNN refused them (not those a mode leaves to it). */
int cuda_set_cudnn(int on);
void cuda_cudnn_counts(long *calls, long *fallbacks);
/* In the bf16 precision, the convolutions cuDNN takes on bf16 data (x, w, y and the gradients
 * in bf16, f32 sums: autocast's products) instead of f32 data with TF32 math: a bf16
 * activation x is read as stored instead of widened, w and dY are rounded, and y, dX, dW come
 * back in bf16 and are widened or added into the f32 ones. Session 17's H200 profile had the
 * convolution stack at ~27 ms of a 99 ms step (TF32 kernels, f32 layout transposes, x
 * widened), PyTorch's bf16 one at ~14. Written in session 17 without a GPU: off (0) by
 * default; TSASR_CUDA_CUDNN_BF16=1 turns it on at start-up. TS_OK; TS_EUNSUP for on without
 * CUDA or cuDNN. */
int cuda_set_cudnn_bf16(int on);
/* Attention forward and backward on cuDNN's fused flash attention (kernels/cu_sdpa.cu, its
 * SDPA graph through cuDNN's frontend) in the bf16 precision, where it applies (training and
 * prefill shapes: no bias, queries from position 0, D a multiple of 8 up to 128); elsewhere the
 * backend's kernels. Written in session 16 after an H100's profile put PyTorch's attention on
 * it at 7.0 ms a paper-geometry SFT step against tsasr's 31.7. On an H200 (session 17) it
 * passed run.sh's checks and took the bf16 SFT step from 9,517 to 11,323 tokens/s, so it is on
 * (1) by default in builds with the frontend; TSASR_CUDA_SDPA=0 turns it off at start-up. TS_OK;
 * TS_EUNSUP for on without CUDA or in a build without cuDNN's frontend (tests/gpu/fetch_debs.sh
 * fetches its headers).
 * cuda_sdpa_counts: the calls it ran and those of its shapes it refused (0 without it). */
int cuda_set_cudnn_sdpa(int on);
void cuda_sdpa_counts(long *calls, long *fallbacks);
/* In the bf16 precision, the backward of x W^T whose x is stored in f32 (the attention output,
 * the residual stream: activations bf16 storage leaves in f32) on bf16 operands too: x rounded
 * to bf16 into scratch, as the forward's GEMM rounded it, and dC rounded as for a bf16 x, so
 * dW += dC^T x and dx += dC W run on bf16 tensor cores instead of on f32 operands (TF32
 * kernels: ~13 ms of a paper-geometry SFT step on an H100, session 16's profile). The same
 * products the CPU's bf16 GEMMs take (both operands rounded). Written in session 16; on an H200
 * (session 17) it passed run.sh's checks and took the bf16 SFT step from 9,517 to 9,918
 * tokens/s (11,323 to 11,882 with SDPA), so it is on (1) by default; TSASR_CUDA_BWD16=0 turns
 * it off at start-up. TS_OK, TS_EUNSUP without CUDA. */
int cuda_set_bwd16(int on);
/* The grid of the element kernels (every kernel launched for a grid-stride loop over n items:
 * roundings, activations, AdamW, ...): at most per_sm blocks of 256 threads per SM, each thread
 * taking several items, instead of one thread per item (up to 65535 x 8 blocks). Session 17's
 * H200 profile had these kernels at 1.3-1.5 TB/s on 4-16 M items (k_f32_to_bf16, 7.2 ms of a
 * 99 ms SFT step; GELU 6.6; SDPA's roundings 5.9) against 3.4-3.5 TB/s on 136-820 M, where
 * the grid's cap already gives several items a thread; whether the cap helps on the small ones
 * is not yet measured (bench_gpu_ops elem; bench_device's elem* variants), so 0 (no cap) by
 * default; TSASR_CUDA_ELEM_BLOCKS=N sets it at start-up. Correct with any cap (the kernels
 * stride). TS_OK; TS_EARG outside 0..64; TS_EUNSUP for nonzero without CUDA. */
int cuda_set_elem_blocks(int per_sm);
/* The f32 <-> bf16 conversions (GEMM operands' and the weights' roundings, SDPA's inputs and
 * gradients, bf16 activations widened for cuDNN: ~11 ms of the 99 ms step in session 17's
 * profile, at 1.3-1.5 TB/s on 4-16 M values) and the activations forward and backward eight
 * values a thread-step, AdamW four, with 16-byte loads and stores, where every pointer is
 * 16-byte aligned (kernels/cu_cvt.cuh, cu_act.cuh, cu_optim.cuh; the same bits as one a
 * thread); and SwiGLU and split/merge_heads with their divisions in 32 bits where every index
 * fits (cu_proj.cuh: split_heads ran at 0.8 TB/s on the encoder's 4 M values); and the channel
 * LayerNorm (up to 512 channels) with a thread's channels in registers, x read once, the
 * backward's dw, db from per-block partials of the same pass (cu_norm.cuh; 4.8 ms of the step;
 * forward and dx the same bits, dw and db summed in another order). Written in sessions 17 and
 * 18 without a GPU: off (0) by default; TSASR_CUDA_ELEM_VEC=1 turns it on at start-up. TS_OK;
 * TS_EUNSUP for on without CUDA. */
int cuda_set_elem_vec(int on);
/* The bf16 q, k, v and output that cuDNN's SDPA forward took and made, kept for its backward (attn_cfg.keep:
 * the model allocates op_attn_keep_bytes with each layer's activations), which then rounds only dO (session
 * 17's profile: 4.3 ms of SDPA's roundings a step, half of them the backward's of q, k, v, out); the output
 * also goes to the out projection's GEMM as its rounding (the same bits). Written in session 20 without a
 * GPU, passed on an H200 in 23: on (1) by default where the build has cuDNN's frontend;
 * TSASR_CUDA_ATTN_KEEP=0 turns it off at start-up. TS_OK; TS_EUNSUP for on without cuDNN's frontend. */
int cuda_set_attn_keep(int on);
/* The weights' bf16 copy of a training step kept current by AdamW (the runs' launch writes each updated
 * weight's rounding into it), so the next step's bracket skips rounding all the parameters (session 17's
 * profile: k_f32_to_bf16 8.8 ms a step, the 0.8 B weights' share of it ~3 ms). Only while nothing else the
 * backend sees wrote the weights (host copies into them, another AdamW call, a freed buffer clear it); a
 * device op other than AdamW writing weights would go unseen (tsasr's trainers have none).
 * TSASR_CUDA_WCOPY_CHECK=1 makes every skipped rounding happen anyway and compare (cuda_wcopy_counts: skips,
 * values that differed, repaired). Written in session 20 without a GPU, passed on an H200 in 23: on (1) by
 * default; TSASR_CUDA_WCOPY_SYNC=0 turns it off at start-up. TS_OK; TS_EUNSUP for on without CUDA. */
int cuda_set_wcopy_sync(int on);
void cuda_wcopy_counts(long *skips, long *bad);
/* pset_adamw's runs (the trainable tensors, split where weight decay changes: 368 for the paper geometry,
 * 7.5 ms in as many launches in session 17's profile) as one launch over their concatenation, each value
 * through the same function as one launch per run (the same bits; kernels/cu_optim.cuh k_adamw_runs).
 * Written in session 20 without a GPU, passed on an H200 in 23: on (1) by default; TSASR_CUDA_ADAMW_RUNS=0
 * turns it off at start-up. TS_OK; TS_EUNSUP for on without CUDA. */
int cuda_set_adamw_runs(int on);
/* matmul_res (op_matmul_res: a GEMM onto a residual) reads the residual as cuBLASLt's C while writing the
 * output as its D, instead of copying it into the output first (kernels/cu_matmul.cu, cu_lt.cu). Written in
 * session 21 without a GPU, passed on an H200 in 23: on (1) by default; TSASR_CUDA_MATMUL_RES=0 turns it off
 * at start-up. TS_OK; TS_EUNSUP for on without CUDA. */
int cuda_set_matmul_res(int on);
/* conv1d_cl's backward with a written dx (op_conv1d_cl_bwd_set) writes it as the CPU does: each row class's
 * first tap's GEMM with beta 0, the few rows no first tap writes set to 0, the grouped form's gather storing
 * its sum (kernels/cu_conv_cl.cu). Written in session 22 without a GPU, passed on an H200 in 23: on (1) by
 * default; TSASR_CUDA_CONV_SET=0 turns it off at start-up (dx zero-filled, then added to). TS_OK; TS_EUNSUP
 * for on without CUDA. */
int cuda_set_conv_set(int on);
/* Training steps the same bits on every run: cuDNN's SDPA backward built with its deterministic
 * algorithm (a shape cuDNN refuses so takes the flash kernels, which are deterministic) and the
 * convolutions only on cuDNN algorithms it reports deterministic (else im2col). The backend's own
 * kernels are deterministic with or without it (no float atomics: kernels/cu_colred.cuh), and
 * cuBLAS is on one stream. Off (0) by default: ~2 % slower on an H200 in session 23, where the
 * defaults also repeated bit for bit;
 * TSASR_CUDA_DETERMINISTIC=1 turns it on at start-up. TS_OK; TS_EUNSUP for on without CUDA. */
int cuda_set_deterministic(int on);
/* The profiler's range (cudaProfilerStart with on, cudaProfilerStop without): a kernel profiler
 * started with its collection off (ncu --profile-from-start off) sees only the kernels in
 * between (tests/gpu/kprof.sh: one SFT step, one rollout). Finishes the work before it first.
 * TS_OK, TS_EDEVICE when the runtime refuses, TS_EUNSUP without CUDA. */
int cuda_profile_range(int on);
/* The backend's stream (a cudaStream_t; NULL without CUDA or before be_cuda), for a benchmark
 * that captures ops into a graph of its own to time them without the host's launches. */
void *cuda_stream_handle(void);
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
