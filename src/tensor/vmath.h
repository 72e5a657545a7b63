/* vmath.h — float exp and erf that compilers vectorise (the libm calls do not vectorise
 * without -ffast-math). vm_expf: Cody-Waite range reduction by ln 2 and a degree-6
 * minimax polynomial (Cephes expf coefficients); relative error about 2e-7 over the
 * float range; exp(x) = 0 below -87.3 (so exp(-inf) = 0), +inf handling is not needed here
 * (inputs are max-subtracted). */
#ifndef TS_VMATH_H
#define TS_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float vm_expf(float x) {
  float xc = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  float n = rintf(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  int32_t bits = ((int32_t)n + 127) << 23;
  float s;
  memcpy(&s, &bits, 4);
  y *= s;
  return x < -87.3f ? 0.0f : y;
}

/* erff's vector variants are in glibc's libmvec (2.35 and later; libm's link script pulls it
 * in as needed). Declaring erff SIMD-callable lets loops that call it vectorise: 8 lanes with
 * AVX2, at most 2 ulp from erf (measured over [-6, 6] and smaller ranges against double erf).
 * The scalar call was ~6 % of the encoder's time (GELU forward and backward). Elsewhere the
 * plain libm erff is used. */
#if defined(__x86_64__) && defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35)) && \
    defined(_OPENMP)
#define TS_VM_SIMD_ERFF 1
#pragma omp declare simd notinbranch
float erff(float x);
#endif

#endif
