/* cpu_act16.c — bf16 activation storage on the CPU (and devsim, which runs these ops): the
 * policy (op_act_dtype: the bf16 GEMM precision with TSASR_BF16_ACTS not 0), and the two moves
 * the ops make around their f32 kernels: a bf16 output computed into an f32 scratch view and
 * rounded into place (nearest even, as the bf16 GEMM rounds), a bf16 GEMM operand widened into
 * an f32 scratch view (exact). The scratch is the calling thread's SCRATCH_ACT16 slot. */
#include "tensor/cpu_act16.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/cpu_scratch.h"
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

/* an f32 view of t's shape on the scratch slot, or -1 */
static int act16_view(const tensor *t, tensor *f) {
  int64_t n = tensor_numel(t);
  float *p = cpu_scratch(SCRATCH_ACT16, (size_t)(n > 0 ? n : 1));
  if (!p) return -1;
  *f = *t;
  f->data = p;
  f->dtype = DT_F32;
  return 0;
}

int cpu_act16_out(const tensor *y, tensor *f) { return act16_view(y, f); }

void cpu_act16_store(const tensor *f, tensor *y) {
  const float *s = f->data;
  uint16_t *d = y->data;
  int64_t n = tensor_numel(y);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; i++) d[i] = f32_to_bf16(s[i]);
}

int cpu_act16_in(const tensor *a, tensor *f) {
  if (act16_view(a, f)) return -1;
  const uint16_t *s = a->data;
  float *d = f->data;
  int64_t n = tensor_numel(a);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; i++) d[i] = bf16_to_f32(s[i]);
  return 0;
}
