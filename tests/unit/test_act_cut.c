/* test_act_cut.c — an activation's value at an element does not depend on how the tensor is cut:
 * GELU (forward and backward, on the vector erff) over one tensor of 40,003 elements on 2
 * threads equals, bit for bit, the same elements computed in pieces of 1 to 1,000 on 1 thread
 * (the scalar and vector erff differ by an ulp, so mixing them by size or thread split would
 * show here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/philox.h"
#include "tensor/ops.h"

enum { N = 40003 };

static void gelu(const float *x, float *y, const float *dy, float *dx, int64_t n) {
  ts_err e;
  tensor X = tensor_f32((float *)x, 1, n, 0, 0, 0), Y = tensor_f32(y, 1, n, 0, 0, 0),
         DY = tensor_f32((float *)dy, 1, n, 0, 0, 0), DX = tensor_f32(dx, 1, n, 0, 0, 0);
  assert_int_equal(op_act(be_cpu(), ACT_GELU, &X, &Y, &e), 0);
  assert_int_equal(op_act_bwd(be_cpu(), ACT_GELU, &X, &DY, &DX, &e), 0);
}

static void test_gelu_cut(void **s) {
  (void)s;
  float *x = malloc(sizeof(float) * N), *dy = malloc(sizeof(float) * N), *y1 = calloc(N, sizeof(float)),
        *y2 = calloc(N, sizeof(float)), *d1 = calloc(N, sizeof(float)), *d2 = calloc(N, sizeof(float));
  philox_rng r;
  philox_init(&r, 3, 1);
  for (int i = 0; i < N; i++) x[i] = 8.0f * (philox_uniform(&r) - 0.5f), dy[i] = philox_uniform(&r) - 0.5f;
  be_cpu_set_threads(2);
  gelu(x, y1, dy, d1, N);
  be_cpu_set_threads(1);
  static const int64_t pieces[] = {1, 3, 7, 8, 9, 13, 1000, 17, 2};
  for (int64_t i = 0, k = 0; i < N; k++) {
    int64_t m = pieces[k % (sizeof pieces / sizeof pieces[0])];
    if (m > N - i) m = N - i;
    gelu(x + i, y2 + i, dy + i, d2 + i, m);
    i += m;
  }
  int differ = 0;
  for (int i = 0; i < N; i++) differ += memcmp(&y1[i], &y2[i], 4) != 0 || memcmp(&d1[i], &d2[i], 4) != 0;
  if (differ) fail_msg("%d of %d GELU values depend on how the tensor is cut", differ, N);
  be_cpu_set_threads(2);
  free(x), free(dy), free(y1), free(y2), free(d1), free(d2);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_gelu_cut)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
