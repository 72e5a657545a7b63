/* test_ops_layout.c — the transpose op: forward against a naive reference for 2-D and batched
 * odd-sized (tile-crossing) shapes, backward adding into an existing gradient, shape errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tensor/ops_layout.h"
#include "testutil.h"

static void check_case(int64_t B, int64_t R, int64_t C, int batched) {
  backend *be = be_cpu();
  ts_err e;
  int64_t n = B * R * C;
  float *x = tu_alloc_rand(n, -1, 1, 11 + (uint64_t)R), *y = tu_zeros(n);
  float *dy = tu_alloc_rand(n, -1, 1, 12 + (uint64_t)C), *dx = tu_alloc_rand(n, -1, 1, 13), *dx0 = malloc(sizeof(float) * (size_t)n);
  memcpy(dx0, dx, sizeof(float) * (size_t)n);
  tensor X = batched ? tensor_f32(x, 3, B, R, C, 0) : tensor_f32(x, 2, R, C, 0, 0);
  tensor Y = batched ? tensor_f32(y, 3, B, C, R, 0) : tensor_f32(y, 2, C, R, 0, 0);
  assert_int_equal(op_transpose(be, &X, &Y, &e), 0);
  for (int64_t b = 0; b < B; b++)
    for (int64_t r = 0; r < R; r++)
      for (int64_t c = 0; c < C; c++) assert_true(y[(b * C + c) * R + r] == x[(b * R + r) * C + c]);
  /* backward: dx (B,R,C) += dy (B,C,R)^T */
  tensor DY = Y, DX = X;
  DY.data = dy, DX.data = dx;
  assert_int_equal(op_transpose_bwd(be, &DY, &DX, &e), 0);
  for (int64_t b = 0; b < B; b++)
    for (int64_t r = 0; r < R; r++)
      for (int64_t c = 0; c < C; c++)
        assert_true(dx[(b * R + r) * C + c] == dx0[(b * R + r) * C + c] + dy[(b * C + c) * R + r]);
  free(x), free(y), free(dy), free(dx), free(dx0);
}

static void test_transpose_values(void **state) {
  (void)state;
  check_case(1, 5, 7, 0);
  check_case(1, 33, 65, 0);
  check_case(3, 37, 70, 1);
  check_case(2, 300, 129, 1); /* large enough for the parallel path */
}

static void test_transpose_shape_errors(void **state) {
  (void)state;
  backend *be = be_cpu();
  ts_err e;
  float a[24], b[24];
  tensor X = tensor_f32(a, 3, 2, 3, 4, 0), Y = tensor_f32(b, 3, 2, 3, 4, 0);
  assert_int_equal(op_transpose(be, &X, &Y, &e), TS_ESHAPE);
  assert_non_null(strstr(e.msg, "not the transpose"));
  Y = tensor_f32(b, 3, 1, 4, 6, 0);
  assert_int_equal(op_transpose(be, &X, &Y, &e), TS_ESHAPE);
  Y = tensor_f32(b, 4, 1, 2, 4, 3);
  assert_int_equal(op_transpose(be, &X, &Y, &e), TS_ESHAPE);
  Y = tensor_f32(b, 3, 2, 4, 3, 0);
  assert_int_equal(op_transpose(be, &X, &Y, &e), TS_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_transpose_values),
      cmocka_unit_test(test_transpose_shape_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
