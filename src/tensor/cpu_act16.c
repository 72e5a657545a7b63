/* cpu_act16.c — the policy of bf16 activation storage on the CPU (and devsim, which runs these
 * ops): op_act_dtype is bf16 in the bf16 GEMM precision unless TSASR_BF16_ACTS=0 or
 * cpu_set_act_bf16(0). The ops write such outputs with CPU_STORE (cpu_act16.h) and the GEMMs
 * read them through gemm_mp16. */
#include "tensor/cpu_act16.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/gemm.h"

static atomic_int g_act16 = -1; /* -1: not read from the environment yet */

void cpu_set_act_bf16(int on) { atomic_store(&g_act16, on ? 1 : 0); }

int cpu_act_bf16(void) {
  int v = atomic_load(&g_act16);
  if (v < 0) {
    const char *s = getenv("TSASR_BF16_ACTS");
    v = !(s && !strcmp(s, "0"));
    atomic_store(&g_act16, v);
  }
  return v;
}

ts_dtype cpu_act_dtype(backend *be) {
  (void)be;
  return cpu_act_bf16() && !strcmp(gemm_precision(), "bf16") ? DT_BF16 : DT_F32;
}
