/* vmath.h — branch-free float exp that compilers vectorise (the libm call does not
 * vectorise without -ffast-math). Cody-Waite range reduction by ln 2 and a degree-6
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

#endif
