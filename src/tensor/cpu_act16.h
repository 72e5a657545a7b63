/* cpu_act16.h — bf16 activation storage on the CPU backend (cpu_act16.c): the policy behind
 * op_act_dtype, and the f32 scratch views the ops compute through. */
#ifndef TS_CPU_ACT16_H
#define TS_CPU_ACT16_H

#include "tensor/backend.h"

/* TSASR_BF16_ACTS=0 (or cpu_set_act_bf16(0)) keeps every activation f32; on by default */
void cpu_set_act_bf16(int on);
int cpu_act_bf16(void);
/* DT_BF16 in the bf16 GEMM precision with the setting on, else DT_F32 (CPU and devsim) */
ts_dtype cpu_act_dtype(backend *be);

/* y (bf16): f is set to an f32 view of y's shape on scratch for the op's kernel to write;
 * cpu_act16_store then rounds it into y. -1 when out of memory. */
int cpu_act16_out(const tensor *y, tensor *f);
void cpu_act16_store(const tensor *f, tensor *y);
/* a (bf16): f is set to a's values widened to f32 on scratch; -1 when out of memory */
int cpu_act16_in(const tensor *a, tensor *f);

#endif
