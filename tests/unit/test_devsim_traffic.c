/* test_devsim_traffic.c — the simulated device's traffic count (tensor/devsim_traffic.h): each
 * op's calls, its operands' bytes and its products' FLOPs, worked out here by hand from the
 * shapes; nothing counted while off; on starts from zero. And devsim_set_protect, which the
 * count's bench run turns off: a host read of device memory faults with it on, not with it off;
 * with it on, fresh device memory and each block a device arena hands out hold NaN bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/arena.h"
#include "tensor/be_mem.h"
#include "tensor/devsim.h"
#include "tensor/devsim_traffic.h"
#include "tensor/ops.h"

/* the row of op, or a row with calls 0 */
static devsim_traffic_row row_of(const char *op) {
  devsim_traffic_row r[128], none = {op, 0, 0, 0};
  int n = devsim_traffic_rows(r, 128);
  for (int i = 0; i < n && i < 128; i++)
    if (!strcmp(r[i].op, op)) return r[i];
  return none;
}

/* a device tensor of n floats, filled with v */
static tensor dev_tensor(backend *ds, float **keep, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3, float v) {
  int64_t n = d0 * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1) * (ndim > 3 ? d3 : 1);
  *keep = ds->ops->alloc(ds, sizeof(float) * (size_t)n);
  assert_non_null(*keep);
  tensor t = tensor_f32(*keep, ndim, d0, d1, d2, d3);
  t.device = ds->device;
  ts_err e = {0};
  assert_int_equal(op_fill(ds, &t, v, &e), TS_OK);
  return t;
}

static void test_counts(void **s) {
  (void)s;
  backend *ds = be_devsim();
  ts_err e = {0};
  float *pa, *pb, *pc, *pbias, *px, *pw, *py, *pq, *pk, *pv, *po, *pl;
  const int64_t M = 6, K = 5, N = 7;
  tensor A = dev_tensor(ds, &pa, 2, M, K, 0, 0, 0.5f), Bw = dev_tensor(ds, &pb, 2, N, K, 0, 0, 0.25f),
         C = dev_tensor(ds, &pc, 2, M, N, 0, 0, 0), bias = dev_tensor(ds, &pbias, 1, N, 0, 0, 0, 1);
  /* conv: x (B 2, T 9, Cin 4), w (Cout 6, Cin/groups 2, K 3), groups 2, stride 2, pad 1: Tout 5 */
  tensor X = dev_tensor(ds, &px, 3, 2, 9, 4, 0, 0.1f), W = dev_tensor(ds, &pw, 3, 6, 2, 3, 0, 0.2f),
         Y = dev_tensor(ds, &py, 3, 2, 5, 6, 0, 0);
  /* attention: q (B 2, Tq 3, Hq 4, D 8), k, v (2, Tk 5, Hkv 2, 8), causal off */
  tensor Q = dev_tensor(ds, &pq, 4, 2, 3, 4, 8, 0.1f), Kt = dev_tensor(ds, &pk, 4, 2, 5, 2, 8, 0.2f),
         V = dev_tensor(ds, &pv, 4, 2, 5, 2, 8, 0.3f), O = dev_tensor(ds, &po, 4, 2, 3, 4, 8, 0),
         L = dev_tensor(ds, &pl, 3, 2, 4, 3, 0, 0);
  const int64_t np = 40; /* AdamW over p, g, m, v of np each */
  float *p4 = NULL;
  tensor P4 = dev_tensor(ds, &p4, 1, 4 * np, 0, 0, 0, 0.5f);
  (void)P4;
  devsim_traffic_on(1);
  /* matmul twice: a, b, bias, c once each a call; 2 M N K each */
  for (int r = 0; r < 2; r++) assert_int_equal(op_matmul(ds, &A, &Bw, &bias, &C, 0, 1, 0.0f, &e), TS_OK);
  devsim_traffic_row mm = row_of("matmul");
  assert_int_equal(mm.calls, 2);
  assert_true(mm.bytes == 2.0 * 4 * (M * K + N * K + N + M * N));
  assert_true(mm.flops == 2.0 * 2 * M * N * K);
  /* its backward with both gradients: two products */
  float *pda, *pdb;
  tensor dA = dev_tensor(ds, &pda, 2, M, K, 0, 0, 0), dB = dev_tensor(ds, &pdb, 2, N, K, 0, 0, 0);
  assert_int_equal(op_matmul_bwd(ds, &A, &Bw, &C, &dA, &dB, NULL, 0, 1, &e), TS_OK);
  devsim_traffic_row mb = row_of("matmul_bwd");
  assert_int_equal(mb.calls, 1);
  assert_true(mb.bytes == 4.0 * (2 * M * K + 2 * N * K + M * N));
  assert_true(mb.flops == 2.0 * 2 * M * N * K);
  /* an element op: bytes only; an operand passed three times (in place) moves once */
  assert_int_equal(op_add(ds, &C, &C, &C, &e), TS_OK);
  devsim_traffic_row ad = row_of("add");
  assert_true(ad.calls == 1 && ad.bytes == 4.0 * M * N && ad.flops == 0);
  /* a refused op moves nothing, and its operands do not carry over to the next (a c of
   * another shape) */
  tensor Cbad = C;
  Cbad.ne[1] = N - 1;
  assert_int_not_equal(op_add(ds, &A, &Bw, &Cbad, &e), TS_OK);
  assert_int_equal(row_of("add").calls, 1);
  assert_int_equal(op_add(ds, &C, &C, &C, &e), TS_OK);
  assert_true(row_of("add").calls == 2 && row_of("add").bytes == 2 * 4.0 * M * N);
  /* the channels-last convolution: 2 * outputs * Cin/groups * K */
  assert_int_equal(op_conv1d_cl(ds, &X, &W, NULL, &Y, 2, 1, 2, &e), TS_OK);
  devsim_traffic_row cv = row_of("conv1d_cl");
  assert_int_equal(cv.calls, 1);
  assert_true(cv.bytes == 4.0 * (2 * 9 * 4 + 6 * 2 * 3 + 2 * 5 * 6));
  assert_true(cv.flops == 2.0 * (2 * 5 * 6) * 2 * 3);
  /* attention: 4 B Hq Tq D Tk */
  attn_cfg ac;
  memset(&ac, 0, sizeof ac);
  ac.scale = 0.35f;
  assert_int_equal(op_attention(ds, &Q, &Kt, &V, &O, &L, &ac, &e), TS_OK);
  devsim_traffic_row at = row_of("attention");
  assert_int_equal(at.calls, 1);
  assert_true(at.flops == 4.0 * 2 * 4 * 3 * 8 * 5);
  assert_true(at.bytes == 4.0 * (2 * 3 * 4 * 8 * 2 + 2 * 2 * 5 * 2 * 8 + 2 * 4 * 3));
  /* a transposed a (K, M): the same products */
  float *pat;
  tensor At = dev_tensor(ds, &pat, 2, K, M, 0, 0, 0.5f);
  assert_int_equal(op_matmul(ds, &At, &Bw, NULL, &C, 1, 1, 0.0f, &e), TS_OK);
  assert_true(row_of("matmul").flops == 3 * 2.0 * M * N * K);
  /* causal attention: half the products; its backward 2.5 times the forward's */
  ac.causal = 1;
  float *pdq, *pdk, *pdv, *pdo;
  tensor dQ = dev_tensor(ds, &pdq, 4, 2, 3, 4, 8, 0), dK = dev_tensor(ds, &pdk, 4, 2, 5, 2, 8, 0),
         dV = dev_tensor(ds, &pdv, 4, 2, 5, 2, 8, 0), dO = dev_tensor(ds, &pdo, 4, 2, 3, 4, 8, 0.1f);
  Q.ne[1] = Kt.ne[1] = 3; /* causal: as many keys as queries */
  V.ne[1] = 3, O.ne[1] = 3, L.ne[2] = 3, dQ.ne[1] = dK.ne[1] = dV.ne[1] = dO.ne[1] = 3;
  assert_int_equal(op_attention(ds, &Q, &Kt, &V, &O, &L, &ac, &e), TS_OK);
  assert_true(row_of("attention").flops == 4.0 * 2 * 4 * 3 * 8 * 5 + 4.0 * 2 * 4 * 3 * 8 * 3 / 2);
  assert_int_equal(op_attention_bwd(ds, &Q, &Kt, &V, &O, &L, &dO, &dQ, &dK, &dV, NULL, &ac, &e), TS_OK);
  assert_true(row_of("attention_bwd").calls == 1 && row_of("attention_bwd").flops == 2.5 * 4.0 * 2 * 4 * 3 * 8 * 3 / 2);
  /* AdamW's runs: four arrays read, three written, over every run */
  const adamw_run runs[2] = {{0, 16, 1}, {16, np - 16, 0}};
  assert_int_equal(op_adamw_runs(ds, p4, p4 + np, p4 + 2 * np, p4 + 3 * np, runs, 2, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, 1,
                                 &e),
                   TS_OK);
  devsim_traffic_row aw = row_of("adamw_runs");
  assert_true(aw.calls == 1 && aw.bytes == 7.0 * 4 * np);
  /* the rows come largest bytes first */
  devsim_traffic_row r[128];
  int n = devsim_traffic_rows(r, 128);
  assert_true(n >= 6);
  for (int i = 1; i < n && i < 128; i++) assert_true(r[i - 1].bytes >= r[i].bytes);
  /* off keeps the rows; on starts from zero */
  devsim_traffic_on(0);
  assert_int_equal(op_add(ds, &C, &C, &C, &e), TS_OK);
  assert_int_equal(row_of("add").calls, 2);
  devsim_traffic_on(1);
  assert_int_equal(row_of("add").calls, 0);
  assert_int_equal(devsim_traffic_rows(r, 128), 0);
  devsim_traffic_on(0);
  float *all[] = {pa, pb, pc, pbias, px, pw, py, pq, pk, pv, po, pl, p4, pda, pdb, pat, pdq, pdk, pdv, pdo};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ds->ops->release(ds, all[i]);
}

/* a child reads p from the host: 0 when it could, else the signal that stopped it */
static int host_read(const float *p) {
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGSEGV, SIG_DFL); /* cmocka's handler would report the fault as a test's */
    volatile float x = *p;
    (void)x;
    _exit(0);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  return WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st) ? -1 : 0;
}

static void test_protect(void **s) {
  (void)s;
  backend *ds = be_devsim();
  float *p = ds->ops->alloc(ds, 4096);
  assert_non_null(p);
  assert_int_equal(host_read(p), SIGSEGV);
  devsim_set_protect(0);
  assert_int_equal(host_read(p), 0);
  float *q = ds->ops->alloc(ds, 4096); /* allocated while off: open too */
  assert_non_null(q);
  assert_int_equal(host_read(q), 0);
  devsim_set_protect(1);
  assert_int_equal(host_read(p), SIGSEGV);
  assert_int_equal(host_read(q), SIGSEGV);
  ds->ops->release(ds, q);
  ds->ops->release(ds, p);
}

/* the bytes of n device floats at p, all 0xff */
static int all_nan_bytes(backend *ds, const float *p, size_t n) {
  unsigned char h[256];
  ts_err e = {0};
  assert_true(n * sizeof(float) <= sizeof h);
  assert_int_equal(ds->ops->to_host(ds, h, p, n * sizeof(float), &e), TS_OK);
  for (size_t i = 0; i < n * sizeof(float); i++)
    if (h[i] != 0xff) return 0;
  return 1;
}

static void test_poison(void **s) {
  (void)s;
  backend *ds = be_devsim();
  ts_err e = {0};
  float *p = ds->ops->alloc(ds, 64 * sizeof(float)); /* fresh memory: NaN bytes */
  assert_non_null(p);
  assert_true(all_nan_bytes(ds, p, 64));
  ds->ops->release(ds, p);
  arena a;
  assert_int_equal(be_arena_init(&a, ds, 1 << 16, &e), TS_OK);
  float *b = arena_alloc(&a, 16 * sizeof(float));
  assert_non_null(b);
  assert_true(all_nan_bytes(ds, b, 16));
  tensor T = tensor_f32(b, 1, 16, 0, 0, 0), O = T;
  T.device = ds->device;
  assert_int_equal(op_fill(ds, &T, 2.0f, &e), TS_OK);
  assert_false(all_nan_bytes(ds, b, 16));
  arena_reset(&a); /* the same block handed out again: NaN again, whatever it held */
  assert_ptr_equal(arena_alloc(&a, 16 * sizeof(float)), b);
  assert_true(all_nan_bytes(ds, b, 16));
  /* an op adding into it before anything wrote it gives NaN, which a parity run reports */
  float *c = arena_alloc(&a, 16 * sizeof(float)), out[16];
  O.data = c, O.device = ds->device;
  assert_int_equal(op_fill(ds, &O, 1.0f, &e), TS_OK);
  assert_int_equal(op_add(ds, &T, &O, &O, &e), TS_OK);
  assert_int_equal(ds->ops->to_host(ds, out, c, sizeof out, &e), TS_OK);
  for (int i = 0; i < 16; i++) assert_true(out[i] != out[i]);
  arena_free(&a);
  /* not while the protection is off (a measurement): fresh memory is the kernel's zeros */
  devsim_set_protect(0);
  p = ds->ops->alloc(ds, 64 * sizeof(float));
  assert_non_null(p);
  assert_false(all_nan_bytes(ds, p, 64));
  ds->ops->release(ds, p);
  devsim_set_protect(1);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_counts), cmocka_unit_test(test_protect),
                                     cmocka_unit_test(test_poison)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
