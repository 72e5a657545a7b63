/* cpu_scratch.h — per-thread scratch buffers that the CPU ops reuse across calls (im2col
 * columns and the like): fresh large allocations each call cost page faults and zeroing.
 * Each thread has SCRATCH_SLOTS growing buffers, freed when the thread exits. */
#ifndef TS_CPU_SCRATCH_H
#define TS_CPU_SCRATCH_H

#include <stddef.h>

#define SCRATCH_SLOTS 8
/* slots: 0 and 1 conv1d's columns (and layernorm_act's blocks: it runs no conv); 2..5 the bf16 GEMM's rounded operands, oneDNN scratchpad and
 * a dense output block for a strided C (the GEMM runs inside conv1d, so they must differ); 6 a
 * bf16 activation widened to f32 for an f32 GEMM (gemm_mp16); 7 the sample op's masked row */
#define SCRATCH_GEMM_A 2
#define SCRATCH_GEMM_B 3
#define SCRATCH_GEMM_PAD 4
#define SCRATCH_GEMM_EDGE 5
#define SCRATCH_ACT16 6
#define SCRATCH_ROW 7

/* Returns a buffer of at least n floats in slot (0..SCRATCH_SLOTS-1) of the calling thread,
 * valid until the next call with that slot on this thread; NULL when out of memory. */
float *cpu_scratch(int slot, size_t n);

#endif
