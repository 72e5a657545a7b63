/* ops_prof.h — per-op time profile of the op table: with TSASR_PROFILE=1 in the environment
 * every op wrapper (ops.h) adds its call and wall time to a per-op table, printed to stderr at
 * exit (op, calls, total ms, share, mean us), or read with ops_prof_get. On a device backend
 * each timed op is bracketed by syncs, so its time is the device's (and the run is slower).
 * TSASR_PROFILE=host leaves the syncs out: each op's time is then what the host spends in the
 * call (launching, staging host arrays, or waiting where the op reads a result back, as the
 * sample op does), so a run whose ops' host time, less those waits, nearly fills the wall time
 * is bound by launches rather than by the device.
 * TSASR_PROFILE=shapes times as 1 does, and the heavy ops (matmul, conv1d, attention and their
 * backwards, layernorm, act, transpose) also add each call to a row per (op, operand shapes),
 * reported after the op table, slowest first: which layer's GEMM or convolution holds the time.
 * Every mode also sums the host's time between one op's end and the next op's start, charged
 * to the next op (the report's "host time between ops" line): code outside the ops, such as a
 * download and a host loop that leave a device idle.
 * Op calls are expected from one thread at a time (the ops themselves may be parallel). */
#ifndef TS_OPS_PROF_H
#define TS_OPS_PROF_H

#include <stdint.h>
#include <stdio.h>

struct backend;
struct tensor;

/* whether profiling is on (TSASR_PROFILE set and not "0", read once; or ops_prof_enable) */
int ops_prof_on(void);
/* turns profiling on or off from code (tests, tools); registers the exit report once */
void ops_prof_enable(int on);
/* host = 1: times without the syncs (as TSASR_PROFILE=host); 0: bracketed by syncs */
void ops_prof_host(int host);
/* start of a timed op: syncs a device backend (*rc: that sync's error, an earlier op's), returns
 * the time (s) */
double ops_prof_begin(struct backend *be, int *rc);
/* end of a timed op begun at t0: syncs a device backend, adds the call to op's row; returns the
 * sync's error (the op's own asynchronous failure, which the sync would otherwise swallow) */
int ops_prof_end(struct backend *be, const char *op, double t0);
/* rc = call, timed under op when profiling is on; a device error found by the syncs (an earlier
 * op's before, this op's after) becomes rc when the call itself succeeded */
#define OPS_PROF_RUN(be, op, rc, call)                             \
  do {                                                             \
    int p_ = ops_prof_on(), r0_ = 0;                               \
    double t_ = p_ ? ops_prof_begin((be), &r0_) : 0.0;             \
    (rc) = r0_ ? r0_ : (call);                                     \
    if (p_) {                                                      \
      int r1_ = ops_prof_end((be), (op), t_);                      \
      if (!(rc)) (rc) = r1_;                                       \
    }                                                              \
  } while (0)

/* whether the per-shape rows are kept (TSASR_PROFILE=shapes, or ops_prof_shapes_enable) */
int ops_prof_shapes(void);
/* turns the per-shape rows on or off from code (profiling itself: ops_prof_enable) */
void ops_prof_shapes_enable(int on);
/* the operands the next timed op is recorded under besides its own row (b may be NULL); the
 * op wrappers call it, through OPS_PROF_SHAPE, only when ops_prof_shapes() */
void ops_prof_shape(const struct tensor *a, const struct tensor *b);
#define OPS_PROF_SHAPE(a, b) \
  do {                        \
    if (ops_prof_shapes()) ops_prof_shape((a), (b)); \
  } while (0)
/* calls and seconds recorded under "op a-shape b-shape" (as the report prints it) */
void ops_prof_get_shape(const char *key, int64_t *calls, double *sec);

/* calls and seconds recorded for op (0 and 0 when none) */
void ops_prof_get(const char *op, int64_t *calls, double *sec);
/* the host's seconds between the previous timed op's end and op's calls, summed over op's
 * calls (0 when none; the first op after a reset has none): code outside the ops. The report
 * prints their total and the ops with the most. */
void ops_prof_get_gap(const char *op, double *sec);
/* forgets every row */
void ops_prof_reset(void);
/* the table, slowest op first */
void ops_prof_report(FILE *f);

#endif
