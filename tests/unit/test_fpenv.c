/* test_fpenv.c — the CPU backend's floating-point environment (cpu_fpenv.h): after be_cpu(),
 * every thread of the OpenMP pool, including threads that existed before, flushes subnormals
 * (also when the thread count was set before the backend's first use) (a product that underflows is 0, a
 * subnormal input counts as 0) in an op run over all the threads; with TSASR_DENORMALS=1 (in a
 * child process, started before this process's pool exists) the same op gives IEEE's gradual
 * underflow, bit for bit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <omp.h>

#include "tensor/cpu_fpenv.h"
#include "tensor/ops.h"

#define N (1 << 18) /* enough for the op to run on every thread */

/* y = a * b over N values with a = 2^-70 or a subnormal (2^-140), b = 2^-70 or 2^100: returns
 * how many results are (flush) zero or (keep) their exact IEEE values */
static int64_t run_mul(int flush) {
  float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
  if (!a || !b || !y) return -1;
  for (int64_t i = 0; i < N; i++) {
    a[i] = i % 2 ? ldexpf(1.0f, -140) : ldexpf(1.0f, -70); /* odd: a subnormal input */
    b[i] = i % 2 ? ldexpf(1.0f, 100) : ldexpf(1.0f, -70);  /* even: a subnormal result */
  }
  tensor A = tensor_f32(a, 1, N, 0, 0, 0), B = tensor_f32(b, 1, N, 0, 0, 0), Y = tensor_f32(y, 1, N, 0, 0, 0);
  ts_err e;
  int64_t good = -1;
  if (op_mul(be_cpu(), &A, &B, &Y, &e) == TS_OK) {
    good = 0;
    for (int64_t i = 0; i < N; i++) {
      float want = flush ? 0.0f : (i % 2 ? ldexpf(1.0f, -40) : ldexpf(1.0f, -140));
      good += memcmp(&y[i], &want, sizeof want) == 0;
    }
  }
  free(a), free(b), free(y);
  return good;
}

/* TSASR_DENORMALS=1: gradual underflow kept (a child process: the switch is read once, at the
 * backend's first use) */
static void test_kept(void **s) {
  (void)s;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    setenv("TSASR_DENORMALS", "1", 1);
    be_info info;
    be_get_info(&info);
    int ok = !info.denormals_flushed && !cpu_fpenv_flushing() && run_mul(0) == N;
    _exit(ok ? 0 : 1);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_flushed(void **s) {
  (void)s;
  unsetenv("TSASR_DENORMALS");
  /* the pool's threads exist before the backend's first use (as when a caller's own parallel
   * region runs first): they must get the setting too, not only threads created after it */
  int early = 0;
#pragma omp parallel reduction(+ : early)
  early += 1;
  assert_true(early >= 1);
  /* the thread count set before the backend's first use, as a recipe's ts.threads does */
  be_cpu_set_threads(2);
  be_info info;
  be_get_info(&info);
#if defined(__x86_64__) || defined(__i386__)
  assert_int_equal(info.denormals_flushed, 1);
  int threads = 0, flushing = 0;
#pragma omp parallel reduction(+ : threads, flushing)
  {
    threads += 1;
    flushing += cpu_fpenv_flushing();
  }
  assert_true(threads >= 1);
  assert_int_equal(flushing, threads);
  assert_int_equal(run_mul(1), N);
#else
  assert_int_equal(info.denormals_flushed, 0); /* not handled on this CPU: kept */
  assert_int_equal(run_mul(0), N);
#endif
}

int main(void) {
  /* test_kept forks before this process starts any OpenMP thread */
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_kept), cmocka_unit_test(test_flushed)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
