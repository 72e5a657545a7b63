/* cpu_fpenv.h — the floating-point environment the CPU backend computes in: subnormal floats
 * flushed to zero (inputs and results), as GPU tensor-core paths and TensorFlow's CPU kernels
 * do. Subnormal attention probabilities and the gradients multiplied by them made the x86 FPU
 * take its slow microcoded path: a GRPO step's attention backward ran 3.7x slower (12.2 against
 * 3.3 ms a call on the small model). Values below 2^-126 (~1.2e-38) then count as zero. */
#ifndef TS_CPU_FPENV_H
#define TS_CPU_FPENV_H

/* Sets FTZ and DAZ on the calling thread and on every thread of its OpenMP pool (threads it
 * creates later inherit them), unless TSASR_DENORMALS=1 keeps IEEE gradual underflow. Returns 1
 * when subnormals are flushed, 0 when kept (by the switch, or on a CPU this does not handle). */
int cpu_fpenv_init(void);
/* whether the calling thread flushes subnormals now */
int cpu_fpenv_flushing(void);

#endif
