// simt_test.h — helpers shared by the emulator tests: a seeded generator and the normalised
// error of a kernel's output against a double-precision reference.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

/* a 64-bit LCG; sym() in [-1, 1) from its top 24 bits, unit() in [0, 1) from its top 53 */
struct simt_rng {
  uint64_t s;
  uint64_t next() { return s = s * 6364136223846793005ull + 1442695040888963407ull; }
  float sym() { return (float)((double)(next() >> 40) / 16777216.0 * 2.0 - 1.0); }
  double unit() { return (double)(next() >> 11) / 9007199254740992.0; }
};

/* ||(got - base) - ref|| / ||ref|| (base empty: none); a NaN in got makes it infinite */
inline double simt_nerr(const std::vector<float> &got, const std::vector<double> &ref,
                        const std::vector<float> &base = {}) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    double d = ((double)got[i] - (base.empty() ? 0.0 : (double)base[i])) - ref[i];
    num += std::isnan(got[i]) ? INFINITY : d * d;
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

/* x rounded to bf16 (the bits), nearest even, computed apart from the kernels' bit trick: x's
 * two bf16 neighbours by magnitude in double, the closer one, ties to the even mantissa; past
 * the largest bf16 the upper neighbour is 2^128 (infinity); infinities stay (x not NaN) */
inline unsigned short simt_bf16_bits(float x) {
  uint32_t u, lo_u, hi_u;
  memcpy(&u, &x, 4);
  lo_u = u & 0xffff0000u, hi_u = lo_u + 0x10000u;
  if (std::isinf(x)) return (unsigned short)(u >> 16);
  float lo_f, hi_f;
  memcpy(&lo_f, &lo_u, 4);
  memcpy(&hi_f, &hi_u, 4);
  double v = std::fabs((double)x), dl = v - std::fabs((double)lo_f);
  double dh = std::isinf(hi_f) ? std::ldexp(1.0, 128) - v : std::fabs((double)hi_f) - v;
  bool down = dl < dh || (dl == dh && !((u >> 16) & 1u));
  return (unsigned short)(down ? u >> 16 : (u >> 16) + 1);
}
