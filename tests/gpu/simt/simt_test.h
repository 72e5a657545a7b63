// simt_test.h — helpers shared by the emulator tests: a seeded generator and the normalised
// error of a kernel's output against a double-precision reference.
#pragma once

#include <cmath>
#include <cstdint>
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
