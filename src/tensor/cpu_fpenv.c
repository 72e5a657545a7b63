/* cpu_fpenv.c — subnormal floats flushed to zero for the CPU backend's threads (cpu_fpenv.h). */
#include "tensor/cpu_fpenv.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define CPU_FPENV_BITS 0x8040u /* MXCSR: FTZ (bit 15) and DAZ (bit 6) */
static void cpu_fpenv_set(void) { _mm_setcsr(_mm_getcsr() | CPU_FPENV_BITS); }
int cpu_fpenv_flushing(void) { return (_mm_getcsr() & CPU_FPENV_BITS) == CPU_FPENV_BITS; }
#define CPU_FPENV_KNOWN 1
#else
static void cpu_fpenv_set(void) {}
int cpu_fpenv_flushing(void) { return 0; }
#define CPU_FPENV_KNOWN 0
#endif

int cpu_fpenv_init(void) {
  const char *keep = getenv("TSASR_DENORMALS");
  if (!CPU_FPENV_KNOWN || (keep && !strcmp(keep, "1"))) return 0;
  cpu_fpenv_set();
#pragma omp parallel
  cpu_fpenv_set();
  return 1;
}
