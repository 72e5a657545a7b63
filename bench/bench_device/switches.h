/* switches.h — the CUDA backend's switches as bench_device's variants name them (--sft-variants,
 * --rollout-variants), and the counts that say a switch's path really ran. */
#ifndef TS_BENCH_SWITCHES_H
#define TS_BENCH_SWITCHES_H

/* The defaults (cuBLASLt's cached plans, cuDNN's convolutions where the build has them, decoding
 * steps replayed as CUDA graphs, the small-row GEMM on the small projections, and in bf16 flash
 * attention, cuDNN's SDPA where the build has its frontend, the bf16 backward of x W^T, fused
 * operand rounding and bf16 activations), then each '+'-joined name of v on (train_copy, dec2
 * on every shape; sdpa, bwd16, graphs, lt, cudnn, flash, fuse, bf16_acts, dec2s; cudnn_all and
 * cudnn_ng1: cuDNN's modes 1 and 3, cuda_ctl.h; elem4, elem8, elem16: the element kernels' grid
 * capped at that many blocks per SM, cuda_set_elem_blocks; vec: the f32 <-> bf16 conversions
 * eight values a thread-step and the other wide forms, cuda_set_elem_vec; dnn16: cuDNN's
 * convolutions on bf16 data, cuda_set_cudnn_bf16; dec_attn2: the decoding attention's merge in
 * its chunks' launch, cuda_set_decode_attention 2) or off
 * (no_graphs, no_lt, no_cudnn, no_sdpa, no_bwd16, no_flash, no_fuse, no_bf16_acts, no_split,
 * no_dec_attn, no_wcopy, no_dec2, no_adamw_runs: AdamW one launch per run, cuda_set_adamw_runs;
 * no_keep: SDPA's backward rounds its operands again, cuda_set_attn_keep; no_wsync: each step
 * rounds all the weights again, cuda_set_wcopy_sync);
 * "default"
 * alone is the defaults.
 * 0, or 1 for an unknown name or a backend (build) without that switch. */
int bdsw_apply(const char *v);

/* the backend's counters of graph launches, cuBLASLt GEMMs, cuDNN convolutions, attention
 * calls on cuDNN's SDPA and the weights' roundings skipped (AdamW kept the copy current) */
typedef struct bdsw_counts {
  long graphs, replays, lt, lt_fb, dnn, dnn_fb, sdpa, sdpa_fb, wskip, wbad;
} bdsw_counts;
void bdsw_snapshot(bdsw_counts *c);
/* after a run of variant v begun at `before`: the lines that say how many steps ran as graphs,
 * convolutions on cuDNN and GEMMs on cuBLASLt, for the switches v has on */
void bdsw_report(const char *v, const bdsw_counts *before);

#endif
