/* testutil.h — helpers shared by the C tests: seeded random tensors, tolerance checks with
 * readable failure messages, and the finite-difference gradient checker. */
#ifndef TS_TESTUTIL_H
#define TS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "base/philox.h"

/* Fills x with uniform values in [lo, hi) from a seeded stream. */
void tu_rand(float *x, int64_t n, float lo, float hi, uint64_t seed);
float *tu_alloc_rand(int64_t n, float lo, float hi, uint64_t seed);
float *tu_zeros(int64_t n);
double *tu_to_double(const float *x, int64_t n);

/* Max relative error max|a-b| / max(max|b|, floor); prints where it is worst when over tol.
 * Returns 1 when within tol. */
int tu_close(const char *what, const float *a, const double *b, int64_t n, double tol, double floor);
int tu_close_ff(const char *what, const float *a, const float *b, int64_t n, double tol, double floor);

/* Finite-difference gradient check.
 * f computes out (n_out) from inputs in[0..n_in) in double precision (the independent
 * reference). For L = sum(dy * f(in)), the central difference dL/din[i][j] with step h is
 * compared against the analytic gradient grad[i] (from the op's backward, f32). Inputs with
 * grad[i] == NULL are not checked. Returns 1 when every checked gradient is within tol
 * (relative to the largest magnitude of that gradient). */
typedef void (*tu_ref_fn)(void *ctx, double *const *in, double *out);
int tu_gradcheck(const char *what, tu_ref_fn f, void *ctx, int n_in, const int64_t *in_n,
                 const float *const *in, int64_t n_out, const float *dy, const float *const *grad,
                 double h, double tol);

#endif
