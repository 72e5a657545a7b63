/* test_backend_table.c — every backend fills every entry of the op table: the CPU backend, the
 * simulated device and (in a CUDA build, without needing a device) the CUDA backend. A missing
 * entry would be a NULL call the first time a model used that op on that backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tensor/backend.h"
#include "tensor/cuda_ctl.h"
#include "tensor/devsim.h"

typedef void (*any_fn)(void);

/* be_ops is a name followed by function pointers only */
static int missing(const be_ops *t, char *which, size_t n) {
  size_t off = offsetof(be_ops, name) + sizeof(const char *), count = 0;
  int bad = 0;
  for (; off + sizeof(any_fn) <= sizeof(be_ops); off += sizeof(any_fn), count++) {
    any_fn f;
    memcpy(&f, (const char *)t + off, sizeof f);
    if (!f) {
      snprintf(which, n, "%s: entry %zu (byte offset %zu) is NULL", t->name, count, off);
      bad++;
    }
  }
  return bad;
}

static void test_tables_complete(void **s) {
  (void)s;
  _Static_assert((sizeof(be_ops) - sizeof(const char *)) % sizeof(any_fn) == 0, "be_ops: name + function pointers");
  char why[160] = "";
  const be_ops *tabs[3] = {be_cpu()->ops, be_devsim()->ops, cuda_ops()};
  int n = 0;
  for (int i = 0; i < 3; i++) {
    if (!tabs[i]) continue; /* no CUDA in this build */
    n++;
    if (missing(tabs[i], why, sizeof why)) fail_msg("%s", why);
  }
  assert_true(n >= 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_tables_complete)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
