/* test_backend_ops.c — every backend op (forward and backward) on the CPU and the CUDA backend
 * with the same random inputs, compared by normalised error ||gpu - cpu|| / ||cpu||. Outputs
 * that an op overwrites are poisoned with NaN first (an element the GPU forgets to write
 * fails); gradients, which ops add into, start from the same random values on both sides.
 * NaN never passes. One line per case, a per-op summary last; exit status 1 on any failure,
 * 2 when no CUDA device is usable. TSASR_OPS_DEVICE picks the second backend: "cuda"
 * (default; needs a GPU, run by tests/gpu/run.sh), "devsim" (the simulated device: checks the
 * harness's device handling and every op's memory-kind checks; run by ctest, every error
 * must be 0) or "cpu" (the CPU against itself). TSASR_OPS_TOL replaces the tolerance against a
 * GPU (run.sh's bf16 runs, where the GPU rounds GEMM operands to bf16 and the CPU does not). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/ops.h"
#include "tensor/ops_layout.h"
#include "tensor/ops_pool.h"

#include "tensor/cuda_ctl.h"
#include "tensor/devsim.h"

#ifdef TS_HAVE_CUDA
const char *cuda_last_error(void); /* kernels/cuda_backend.cu */
#else
static const char *cuda_last_error(void) { return "no CUDA in this build"; }
#endif

#define TOL 1e-5
static double g_tol = TOL; /* 0 in the self-tests: the same kernels must agree exactly */

static backend *g_be[2]; /* 0 cpu, 1 cuda */
static ts_err g_e;
static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

/* ---- random numbers: xorshift64*, a fresh stream per case ---- */
static uint64_t rnd_u64(void) {
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return g_rng * 0x2545f4914f6cdd1dull;
}
/* uniform in [-1, -0.05] U [0.05, 1]: never zero */
static float rnd_f(void) {
  float u = (float)((rnd_u64() >> 40) * (1.0 / 16777216.0));
  float m = 0.05f + 0.95f * u;
  return (rnd_u64() & 1) ? m : -m;
}
static int rnd_int(int n) { return (int)(rnd_u64() % (uint64_t)n); }

/* ---- buffers with a CPU copy and a device copy ---- */
enum { I_RAND, I_POS, I_NAN };
typedef struct hb {
  float *c, *g;
  int64_t n;
} hb;

#define MAXB 32
static hb g_bufs[MAXB];
static int g_nbufs;

/* per-case record */
typedef struct op_stat {
  char op[32];
  int cases, failed;
  double max_err;
} op_stat;
static op_stat g_stats[64];
static int g_nstats, g_total, g_fail;
static char g_case[256], g_op[32], g_detail[512];
static int g_case_bad;
static const char *g_filter;
#define G(names, call)                              \
  do {                                              \
    if (!g_filter || strstr(names, g_filter)) call; \
  } while (0)
static double g_case_max;

static void die(const char *msg) {
  fprintf(stderr, "test_backend_ops: %s\n", msg);
  exit(1);
}

static void up(hb *b) {
  if (g_be[1]->ops->to_device(g_be[1], b->g, b->c, sizeof(float) * (size_t)b->n, &g_e)) die(g_e.msg);
}

static hb *mk(int64_t n, int init) {
  if (g_nbufs == MAXB) die("too many buffers in one case");
  hb *b = &g_bufs[g_nbufs++];
  b->n = n;
  b->c = malloc(sizeof(float) * (size_t)(n ? n : 1));
  b->g = g_be[1]->ops->alloc(g_be[1], sizeof(float) * (size_t)(n ? n : 1));
  if (!b->c || !b->g) die("out of memory");
  for (int64_t i = 0; i < n; i++) {
    float v = rnd_f();
    b->c[i] = init == I_NAN ? NAN : init == I_POS ? fabsf(v) + 0.1f : v;
  }
  up(b);
  return b;
}

static tensor tv(const hb *b, int d, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
  tensor t = tensor_f32(d ? b->g : b->c, nd, d0, d1, d2, d3);
  t.device = g_be[d]->device;
  return t;
}
#define TV(b, d, nd, d0, d1, d2, d3) ((b) ? tv((b), (d), (nd), (d0), (d1), (d2), (d3)) : (tensor){0})
#define PT(b, t) ((b) ? &(t) : NULL)

static void case_begin(const char *op, const char *fmt, ...) {
  g_rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(g_total + 1) * 0xbf58476d1ce4e5b9ull);
  for (int i = 0; i < 4; i++) rnd_u64();
  snprintf(g_op, sizeof g_op, "%s", op);
  va_list ap;
  va_start(ap, fmt);
  char args[200];
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(g_case, sizeof g_case, "%s %s", op, args);
  g_detail[0] = 0;
  g_case_bad = 0;
  g_case_max = 0;
}

static void note(const char *fmt, ...) {
  size_t l = strlen(g_detail);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_detail + l, sizeof g_detail - l, fmt, ap);
  va_end(ap);
}

/* runs an op on backend d; a failure fails the case */
static void run_rc(int d, int rc) {
  if (rc) {
    int cu = g_be[d]->device == DEV_CUDA;
    note(" [%s: %s%s%s]", g_be[d]->ops->name, g_e.msg, cu ? " / " : "", cu ? cuda_last_error() : "");
    g_case_bad = 1;
    return;
  }
  if (d && g_be[1]->ops->sync(g_be[1], &g_e)) {
    note(" [cuda sync: %s]", g_e.msg);
    g_case_bad = 1;
  }
}
#define RUN(d, call) run_rc((d), (call))
#define BOTH(d) for (int d = 0; d < 2; d++)

/* compares n values of CPU result c with GPU result g (host copies): ||g - c|| / ||c||, with
 * ||c|| taken as at least den_floor */
static void cmp_vals_floor(const char *name, const float *c, const float *g, int64_t n, double den_floor) {
  double num = 0, den = 0;
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    float a = c[i], b = g[i];
    if (isnan(a) || isnan(b)) {
      bad = 1;
      continue;
    }
    if (!isfinite(a) || !isfinite(b)) {
      if (a != b) bad = 1; /* matching infinities (lse of a fully masked row) are fine */
      continue;
    }
    num += ((double)b - a) * ((double)b - a);
    den += (double)a * a;
  }
  if (den < den_floor * den_floor) den = den_floor * den_floor;
  double err = den > 0 ? sqrt(num / den) : sqrt(num);
  if (bad) err = INFINITY;
  if (err > g_case_max) g_case_max = err;
  note(" %s=%.1e", name, err);
  if (!(err <= g_tol)) g_case_bad = 1;
}

static void cmp_vals(const char *name, const float *c, const float *g, int64_t n) { cmp_vals_floor(name, c, g, n, 0); }

static void cmp(const char *name, hb *b) {
  float *tmp = malloc(sizeof(float) * (size_t)(b->n ? b->n : 1));
  if (!tmp) die("out of memory");
  if (g_be[1]->ops->to_host(g_be[1], tmp, b->g, sizeof(float) * (size_t)b->n, &g_e)) {
    note(" [%s: %s]", name, g_e.msg);
    g_case_bad = 1;
  } else {
    cmp_vals(name, b->c, tmp, b->n);
  }
  free(tmp);
}

/* a copy of a buffer's starting values (the same on both sides), for cmp_delta */
static float *snap(const hb *b) {
  float *s = malloc(sizeof(float) * (size_t)(b->n ? b->n : 1));
  if (!s) die("out of memory");
  memcpy(s, b->c, sizeof(float) * (size_t)b->n);
  return s;
}

/* compares what an op added to a gradient buffer (the values less the starting ones), so that
 * the starting values do not dilute the error; floor: the norm below which the added part is
 * judged against floor instead (0: none) */
static void cmp_delta(const char *name, hb *b, const float *start, double floor) {
  float *c = malloc(sizeof(float) * (size_t)(b->n ? b->n : 1)), *g = malloc(sizeof(float) * (size_t)(b->n ? b->n : 1));
  if (!c || !g) die("out of memory");
  if (g_be[1]->ops->to_host(g_be[1], g, b->g, sizeof(float) * (size_t)b->n, &g_e)) {
    note(" [%s: %s]", name, g_e.msg);
    g_case_bad = 1;
  } else {
    for (int64_t i = 0; i < b->n; i++) c[i] = b->c[i] - start[i], g[i] -= start[i];
    cmp_vals_floor(name, c, g, b->n, floor);
  }
  free(c);
  free(g);
}

/* the norm of what an op added to the CPU's buffer */
static double delta_norm(const hb *b, const float *start) {
  double s2 = 0;
  for (int64_t i = 0; i < b->n; i++) s2 += ((double)b->c[i] - start[i]) * ((double)b->c[i] - start[i]);
  return sqrt(s2);
}

/* device bits of buffer b (n floats) into a new host array */
static float *dev_bits(const hb *b) {
  float *h = malloc(sizeof(float) * (size_t)(b->n ? b->n : 1));
  if (!h || g_be[1]->ops->to_host(g_be[1], h, b->g, sizeof(float) * (size_t)b->n, &g_e)) die("download");
  return h;
}
/* values of a and b (device) that differ in their bits; with zero_sign, +0 and -0 count as
 * equal (a value written against one added to zero) */
static int64_t bits_differ(const hb *a, const hb *b, int zero_sign) {
  float *x = dev_bits(a), *y = dev_bits(b);
  int64_t bad = 0;
  for (int64_t i = 0; i < a->n; i++) bad += memcmp(&x[i], &y[i], 4) != 0 && !(zero_sign && x[i] == 0.0f && y[i] == 0.0f);
  free(x), free(y);
  return bad;
}

/* Two paths to the same result on the second backend (a fused op against its parts, a GEMM onto r
 * against copy + beta 1): bit for bit on the CPU and devsim (the same kernels). On a GPU their
 * roundings may differ (the compiler contracts a * b + c into an FMA in one kernel and not in
 * another; cuBLASLt may take another kernel for C apart from D: both seen on an H200 in session
 * 23), so there they must agree within PATH_TOL, normalised (||a - b|| / ||b||; a NaN fails).
 * Notes the bits that differ and the difference; 1 when they disagree. */
#define PATH_TOL 1e-6
static int paths_disagree(const char *what, const hb *const *a, const hb *const *b, int n) {
  int64_t bits = 0, total = 0;
  double num = 0, den = 0;
  for (int k = 0; k < n; k++) {
    float *x = dev_bits(a[k]), *y = dev_bits(b[k]);
    for (int64_t i = 0; i < a[k]->n; i++) {
      bits += memcmp(&x[i], &y[i], 4) != 0;
      double d = (double)x[i] - y[i];
      num += isnan(d) ? INFINITY : d * d;
      den += (double)y[i] * y[i];
    }
    total += a[k]->n;
    free(x), free(y);
  }
  double rel = sqrt(num / (den > 0 ? den : 1));
  int cuda = g_be[1]->device == DEV_CUDA;
  note(" %s on the device: %lld of %lld values differ in bits, %.1e apart%s", what, (long long)bits, (long long)total,
       rel, cuda ? " (a GPU: within 1e-6 required)" : "");
  return cuda ? !(rel <= PATH_TOL) : bits != 0;
}

/* frees the buffers of a group of cases (a forward case and the backward case that reuses its
 * inputs and outputs) */
static void bufs_free(void) {
  for (int i = 0; i < g_nbufs; i++) {
    free(g_bufs[i].c);
    g_be[1]->ops->release(g_be[1], g_bufs[i].g);
  }
  g_nbufs = 0;
}

static void case_end(void) {
  g_total++;
  if (g_case_bad) g_fail++;
  printf("%s %-60s%s\n", g_case_bad ? "FAIL" : "ok  ", g_case, g_detail);
  fflush(stdout);
  op_stat *s = NULL;
  for (int i = 0; i < g_nstats; i++)
    if (!strcmp(g_stats[i].op, g_op)) s = &g_stats[i];
  if (!s && g_nstats < 64) {
    s = &g_stats[g_nstats++];
    memset(s, 0, sizeof *s);
    snprintf(s->op, sizeof s->op, "%s", g_op);
  }
  if (s) {
    s->cases++;
    s->failed += g_case_bad;
    if (g_case_max > s->max_err || isnan(g_case_max)) s->max_err = g_case_max;
  }
}

/* ================= cases ================= */

static void c_elem(int64_t n) {
  case_begin("elementwise", "n=%lld (fill copy axpby add mul scale)", (long long)n);
  hb *a = mk(n, I_RAND), *b = mk(n, I_RAND), *f = mk(n, I_NAN), *cp = mk(n, I_NAN), *y = mk(n, I_RAND),
     *s = mk(n, I_NAN), *m = mk(n, I_NAN), *sc = mk(n, I_NAN);
  BOTH(d) {
    tensor A = tv(a, d, 1, n, 0, 0, 0), Bt = tv(b, d, 1, n, 0, 0, 0), F = tv(f, d, 1, n, 0, 0, 0),
           CP = tv(cp, d, 1, n, 0, 0, 0), Y = tv(y, d, 1, n, 0, 0, 0), S = tv(s, d, 1, n, 0, 0, 0),
           M = tv(m, d, 1, n, 0, 0, 0), SC = tv(sc, d, 1, n, 0, 0, 0);
    RUN(d, op_fill(g_be[d], &F, 0.75f, &g_e));
    RUN(d, op_copy(g_be[d], &A, &CP, &g_e));
    RUN(d, op_axpby(g_be[d], &A, 1.5f, &Y, -0.25f, &g_e));
    RUN(d, op_add(g_be[d], &A, &Bt, &S, &g_e));
    RUN(d, op_mul(g_be[d], &A, &Bt, &M, &g_e));
    RUN(d, op_scale(g_be[d], &A, -3.0f, &SC, &g_e));
  }
  cmp("fill", f);
  cmp("copy", cp);
  cmp("axpby", y);
  cmp("add", s);
  cmp("mul", m);
  cmp("scale", sc);
  case_end();
  case_begin("fill0", "n=%lld", (long long)n);
  hb *z = mk(n, I_NAN);
  BOTH(d) {
    tensor Z = tv(z, d, 1, n, 0, 0, 0);
    RUN(d, op_fill(g_be[d], &Z, 0.0f, &g_e));
  }
  cmp("z", z);
  case_end();
  bufs_free();
}

static void c_mul_bwd(int64_t n, int with_a, int with_b) {
  case_begin("mul_bwd", "n=%lld da=%d db=%d", (long long)n, with_a, with_b);
  hb *a = mk(n, I_RAND), *b = mk(n, I_RAND), *g = mk(n, I_RAND), *da = with_a ? mk(n, I_RAND) : NULL,
     *db = with_b ? mk(n, I_RAND) : NULL;
  BOTH(d) {
    tensor A = tv(a, d, 1, n, 0, 0, 0), Bt = tv(b, d, 1, n, 0, 0, 0), G = tv(g, d, 1, n, 0, 0, 0),
           DA = TV(da, d, 1, n, 0, 0, 0), DB = TV(db, d, 1, n, 0, 0, 0);
    RUN(d, op_mul_bwd(g_be[d], &A, &Bt, &G, PT(da, DA), PT(db, DB), &g_e));
  }
  if (da) cmp("da", da);
  if (db) cmp("db", db);
  case_end();
  bufs_free();
}

static const char *act_name[] = {"gelu", "relu", "silu"};

static void c_act(int64_t R, int64_t C) {
  for (int k = 0; k < 3; k++) {
    case_begin("act", "%s %lldx%lld", act_name[k], (long long)R, (long long)C);
    hb *x = mk(R * C, I_RAND), *y = mk(R * C, I_NAN), *g = mk(R * C, I_RAND), *dx = mk(R * C, I_RAND);
    BOTH(d) {
      tensor X = tv(x, d, 2, R, C, 0, 0), Y = tv(y, d, 2, R, C, 0, 0), G = tv(g, d, 2, R, C, 0, 0),
             DX = tv(dx, d, 2, R, C, 0, 0);
      RUN(d, op_act(g_be[d], (act_kind)k, &X, &Y, &g_e));
      RUN(d, op_act_bwd(g_be[d], (act_kind)k, &X, &G, &DX, &g_e));
    }
    cmp("y", y);
    cmp("dx", dx);
    case_end();
    /* dx written (op_act_bwd_set) over NaN on both sides */
    case_begin("act", "%s %lldx%lld, dx written", act_name[k], (long long)R, (long long)C);
    hb *dxs = mk(R * C, I_NAN);
    BOTH(d) {
      tensor X = tv(x, d, 2, R, C, 0, 0), G = tv(g, d, 2, R, C, 0, 0), DX = tv(dxs, d, 2, R, C, 0, 0);
      RUN(d, op_act_bwd_set(g_be[d], (act_kind)k, &X, &G, &DX, &g_e));
    }
    cmp("dx", dxs);
    case_end();
  }
  case_begin("swiglu", "%lldx%lld", (long long)R, (long long)C);
  hb *gt = mk(R * C, I_RAND), *u = mk(R * C, I_RAND), *y = mk(R * C, I_NAN), *g = mk(R * C, I_RAND),
     *dg = mk(R * C, I_RAND), *du = mk(R * C, I_RAND);
  BOTH(d) {
    tensor GT = tv(gt, d, 2, R, C, 0, 0), U = tv(u, d, 2, R, C, 0, 0), Y = tv(y, d, 2, R, C, 0, 0),
           G = tv(g, d, 2, R, C, 0, 0), DG = tv(dg, d, 2, R, C, 0, 0), DU = tv(du, d, 2, R, C, 0, 0);
    RUN(d, op_swiglu(g_be[d], &GT, &U, &Y, &g_e));
    RUN(d, op_swiglu_bwd(g_be[d], &GT, &U, &G, &DG, &DU, &g_e));
  }
  cmp("y", y);
  cmp("dgate", dg);
  cmp("dup", du);
  case_end();
  case_begin("swiglu_packed", "%lldx(2x%lld)", (long long)R, (long long)C);
  hb *gu = mk(R * 2 * C, I_RAND), *py = mk(R * C, I_NAN), *pg = mk(R * C, I_RAND), *dgu = mk(R * 2 * C, I_RAND);
  BOTH(d) {
    tensor GU = tv(gu, d, 2, R, 2 * C, 0, 0), Y = tv(py, d, 2, R, C, 0, 0), G = tv(pg, d, 2, R, C, 0, 0),
           DGU = tv(dgu, d, 2, R, 2 * C, 0, 0);
    RUN(d, op_swiglu_packed(g_be[d], &GU, &Y, &g_e));
    RUN(d, op_swiglu_packed_bwd(g_be[d], &GU, &G, &DGU, &g_e));
  }
  cmp("y", py);
  cmp("dgate_up", dgu);
  case_end();
  case_begin("swiglu_packed", "%lldx(2x%lld), written", (long long)R, (long long)C);
  hb *dgs = mk(R * 2 * C, I_NAN);
  BOTH(d) {
    tensor GU = tv(gu, d, 2, R, 2 * C, 0, 0), G = tv(pg, d, 2, R, C, 0, 0), DGU = tv(dgs, d, 2, R, 2 * C, 0, 0);
    RUN(d, op_swiglu_packed_bwd_set(g_be[d], &GU, &G, &DGU, &g_e));
  }
  cmp("dgate_up", dgs);
  case_end();
  case_begin("softmax", "%lldx%lld", (long long)R, (long long)C);
  hb *x = mk(R * C, I_RAND), *sy = mk(R * C, I_NAN), *sg = mk(R * C, I_RAND), *dx = mk(R * C, I_RAND);
  for (int64_t i = 0; i < R * C; i++) x->c[i] *= 8.0f; /* peaky rows */
  up(x);
  BOTH(d) {
    tensor X = tv(x, d, 2, R, C, 0, 0), Y = tv(sy, d, 2, R, C, 0, 0);
    RUN(d, op_softmax(g_be[d], &X, &Y, &g_e));
  }
  cmp("y", sy);
  up(sy); /* backward from the same y */
  BOTH(d) {
    tensor Y = tv(sy, d, 2, R, C, 0, 0), G = tv(sg, d, 2, R, C, 0, 0), DX = tv(dx, d, 2, R, C, 0, 0);
    RUN(d, op_softmax_bwd(g_be[d], &Y, &G, &DX, &g_e));
  }
  cmp("dx", dx);
  case_end();
  bufs_free();
}

/* A (Ba?,M,K)/(K,M), B (Bb?,K,N)/(N,K), C (Bc?,M,N) */
/* the next c_matmul / c_matmul_x16's backward with dA written (op_matmul_bwd_set): dA starts NaN
 * on both sides */
static int g_mm_set;

static void c_matmul(int64_t Bt, int a_batched, int b_batched, int64_t M, int64_t K, int64_t N, int ta, int tb,
                     int bias, float beta) {
  case_begin("matmul", "B=%lld%s%s M=%lld K=%lld N=%lld ta=%d tb=%d bias=%d beta=%g", (long long)Bt,
             a_batched ? " A3" : " A2", b_batched ? " B3" : " B2", (long long)M, (long long)K, (long long)N, ta, tb,
             bias, beta);
  int64_t Bc = a_batched ? Bt : 1, Bb = b_batched ? Bt : 1;
  hb *a = mk(Bc * M * K, I_RAND), *b = mk(Bb * K * N, I_RAND), *bs = bias ? mk(N, I_RAND) : NULL,
     *c = mk(Bc * M * N, beta != 0.0f ? I_RAND : I_NAN);
  BOTH(d) {
    tensor A = a_batched ? tv(a, d, 3, Bc, ta ? K : M, ta ? M : K, 0) : tv(a, d, 2, ta ? K : M, ta ? M : K, 0, 0);
    tensor Bm = b_batched ? tv(b, d, 3, Bb, tb ? N : K, tb ? K : N, 0) : tv(b, d, 2, tb ? N : K, tb ? K : N, 0, 0);
    tensor C = a_batched ? tv(c, d, 3, Bc, M, N, 0) : tv(c, d, 2, M, N, 0, 0);
    tensor BS = TV(bs, d, 1, N, 0, 0, 0);
    RUN(d, op_matmul(g_be[d], &A, &Bm, PT(bs, BS), &C, ta, tb, beta, &g_e));
  }
  cmp("c", c);
  case_end();
  case_begin("matmul_bwd", "B=%lld%s%s M=%lld K=%lld N=%lld ta=%d tb=%d dbias=%d%s", (long long)Bt,
             a_batched ? " A3" : " A2", b_batched ? " B3" : " B2", (long long)M, (long long)K, (long long)N, ta, tb,
             bias, g_mm_set ? " dA written" : "");
  hb *a2 = mk(Bc * M * K, I_RAND), *b2 = mk(Bb * K * N, I_RAND), *g = mk(Bc * M * N, I_RAND),
     *da = mk(Bc * M * K, g_mm_set ? I_NAN : I_RAND), *db = mk(Bb * K * N, I_RAND), *dbs = bias ? mk(N, I_RAND) : NULL;
  BOTH(d) {
    tensor A = a_batched ? tv(a2, d, 3, Bc, ta ? K : M, ta ? M : K, 0) : tv(a2, d, 2, ta ? K : M, ta ? M : K, 0, 0);
    tensor Bm =
        b_batched ? tv(b2, d, 3, Bb, tb ? N : K, tb ? K : N, 0) : tv(b2, d, 2, tb ? N : K, tb ? K : N, 0, 0);
    tensor DA = a_batched ? tv(da, d, 3, Bc, ta ? K : M, ta ? M : K, 0) : tv(da, d, 2, ta ? K : M, ta ? M : K, 0, 0);
    tensor DB =
        b_batched ? tv(db, d, 3, Bb, tb ? N : K, tb ? K : N, 0) : tv(db, d, 2, tb ? N : K, tb ? K : N, 0, 0);
    tensor G = a_batched ? tv(g, d, 3, Bc, M, N, 0) : tv(g, d, 2, M, N, 0, 0);
    tensor DBS = TV(dbs, d, 1, N, 0, 0, 0);
    RUN(d, op_matmul_bwd_da(g_be[d], &A, &Bm, &G, &DA, &DB, PT(dbs, DBS), ta, tb, g_mm_set, &g_e));
  }
  cmp("da", da);
  cmp("db", db);
  if (dbs) cmp("dbias", dbs);
  case_end();
  bufs_free();
}

/* a GEMM onto a residual (op_matmul_res): c = op(a) op(b) + bias + r, into a c of NaN (or r
 * itself: inplace), against the CPU; and on the device against r copied into another c and
 * matmul with beta 1 there, bit for bit (CUDA reads r as cuBLASLt's C where the GEMM takes that
 * path: the same kernel's sums). x16: x of bf16 bits with the training step's weights hint over
 * b, as the encoder's FFN down projection runs in the bf16 precision */
static void c_matmul_res(int64_t Bt, int a_batched, int b_batched, int64_t M, int64_t K, int64_t N, int ta, int tb,
                         int bias, int inplace, int x16) {
  case_begin("matmul_res", "B=%lld%s%s M=%lld K=%lld N=%lld ta=%d tb=%d bias=%d%s%s", (long long)Bt,
             a_batched ? " A3" : " A2", b_batched ? " B3" : " B2", (long long)M, (long long)K, (long long)N, ta, tb,
             bias, inplace ? " r = c" : "", x16 ? ", bf16 x, weights hint" : "");
  int64_t Bc = a_batched ? Bt : 1, Bb = b_batched ? Bt : 1, nc = Bc * M * N;
  hb *a = mk(x16 ? (Bc * M * K + 1) / 2 : Bc * M * K, I_RAND), *b = mk(Bb * K * N, I_RAND),
     *bs = bias ? mk(N, I_RAND) : NULL, *r = mk(nc, I_RAND), *c = mk(nc, I_NAN), *c2 = mk(nc, I_NAN);
  if (x16) {
    uint16_t *xb = (uint16_t *)a->c;
    for (int64_t i = 0; i < Bc * M * K; i++) xb[i] = f32_to_bf16(2.0f * rnd_f());
    up(a);
  }
  if (inplace) { /* c starts as r */
    memcpy(c->c, r->c, sizeof(float) * (size_t)nc);
    up(c);
  }
  for (int k = 0; k < 3; k++) { /* k = 2: the device's reference, r copied into c2 then beta 1 */
    int d = k ? 1 : 0;
    tensor A = a_batched ? tv(a, d, 3, Bc, ta ? K : M, ta ? M : K, 0) : tv(a, d, 2, ta ? K : M, ta ? M : K, 0, 0);
    tensor Bm = b_batched ? tv(b, d, 3, Bb, tb ? N : K, tb ? K : N, 0) : tv(b, d, 2, tb ? N : K, tb ? K : N, 0, 0);
    hb *out = k == 2 ? c2 : c;
    tensor C = a_batched ? tv(out, d, 3, Bc, M, N, 0) : tv(out, d, 2, M, N, 0, 0);
    tensor R = a_batched ? tv(r, d, 3, Bc, M, N, 0) : tv(r, d, 2, M, N, 0, 0);
    tensor BS = TV(bs, d, 1, N, 0, 0, 0);
    if (x16) A.dtype = DT_BF16;
    if (x16) RUN(d, op_weights_bf16(g_be[d], d ? b->g : b->c, Bb * K * N, 2, &g_e));
    if (k < 2) {
      RUN(d, op_matmul_res(g_be[d], &A, &Bm, PT(bs, BS), inplace ? &C : &R, &C, ta, tb, &g_e));
    } else {
      RUN(d, op_copy(g_be[d], &R, &C, &g_e));
      RUN(d, op_matmul(g_be[d], &A, &Bm, PT(bs, BS), &C, ta, tb, 1.0f, &g_e));
    }
    if (x16) RUN(d, op_weights_bf16(g_be[d], d ? b->g : b->c, Bb * K * N, 0, &g_e));
  }
  cmp("c", c);
  const hb *pa[] = {c}, *pb[] = {c2};
  if (paths_disagree("onto r against copy + beta 1", pa, pb, 1)) g_case_bad = 1;
  case_end();
  bufs_free();
}

/* x W^T while the backend holds a bf16 copy of the weights (op_weights_bf16, as generate
 * brackets decoding): W (N, K) lies woff floats into a parameter buffer of woff + N K + 5
 * floats; the copy covers it (cover = 1) or only the floats before it (0: W must be read from
 * f32). On CUDA in the bf16 precision x and the copy go to cuBLAS as bf16 (run.sh compares
 * that at bf16's tolerance); otherwise, and on the CPU, the hint changes nothing. */
static void c_matmul_wbf(int64_t Bt, int64_t M, int64_t K, int64_t N, int64_t woff, int cover, int bias, float beta) {
  case_begin("matmul", "B=%lld A3 B2 M=%lld K=%lld N=%lld ta=0 tb=1 bias=%d beta=%g, weights' bf16 copy%s (at %lld)",
             (long long)Bt, (long long)M, (long long)K, (long long)N, bias, beta, cover ? "" : " not covering W",
             (long long)woff);
  int64_t np = woff + N * K + 5;
  hb *a = mk(Bt * M * K, I_RAND), *w = mk(np, I_RAND), *bs = bias ? mk(N, I_RAND) : NULL,
     *c = mk(Bt * M * N, beta != 0.0f ? I_RAND : I_NAN);
  BOTH(d) {
    const float *base = d ? w->g : w->c;
    tensor A = tv(a, d, 3, Bt, M, K, 0), C = tv(c, d, 3, Bt, M, N, 0), BS = TV(bs, d, 1, N, 0, 0, 0);
    tensor W = tensor_f32((float *)base + woff, 2, N, K, 0, 0);
    W.device = g_be[d]->device;
    RUN(d, op_weights_bf16(g_be[d], base, cover ? np : woff, 1, &g_e));
    RUN(d, op_matmul(g_be[d], &A, &W, PT(bs, BS), &C, 0, 1, beta, &g_e));
    RUN(d, op_weights_bf16(g_be[d], base, cover ? np : woff, 0, &g_e));
  }
  cmp("c", c);
  case_end();
  bufs_free();
}

/* bf16 activation storage (op_act_dtype): x W^T (+ bias) and its backward on an x of bf16 bits
 * (the same bits on both sides), with the training step's weights hint over W (hint = 2; on
 * CUDA with TSASR_CUDA_BF16_ACTS=1 in the bf16 precision: cuBLAS on x and the weights' copy,
 * dC rounded once for both backward GEMMs) or without it (x widened to f32) */
static void c_matmul_x16(int64_t M, int64_t K, int64_t N, int hint) {
  case_begin("matmul_x16", "M=%lld K=%lld N=%lld bf16 x, weights hint %d%s", (long long)M, (long long)K, (long long)N,
             hint, g_mm_set ? ", dx written" : "");
  hb *x = mk((M * K + 1) / 2, I_RAND), *w = mk(N * K, I_RAND), *bs = mk(N, I_RAND), *c = mk(M * N, I_NAN),
     *g = mk(M * N, I_RAND), *dx = mk(M * K, g_mm_set ? I_NAN : I_RAND), *dw = mk(N * K, I_RAND), *db = mk(N, I_RAND);
  uint16_t *xb = (uint16_t *)x->c;
  for (int64_t i = 0; i < M * K; i++) xb[i] = f32_to_bf16(2.0f * rnd_f());
  up(x);
  float *s_dx = snap(dx), *s_dw = snap(dw), *s_db = snap(db);
  if (g_mm_set) memset(s_dx, 0, sizeof(float) * (size_t)(M * K)); /* written: judged as added to zero */
  BOTH(d) {
    tensor X = tv(x, d, 2, M, K, 0, 0), W = tv(w, d, 2, N, K, 0, 0), BS = tv(bs, d, 1, N, 0, 0, 0),
           C = tv(c, d, 2, M, N, 0, 0), G = tv(g, d, 2, M, N, 0, 0), DX = tv(dx, d, 2, M, K, 0, 0),
           DW = tv(dw, d, 2, N, K, 0, 0), DB = tv(db, d, 1, N, 0, 0, 0);
    X.dtype = DT_BF16;
    if (hint) RUN(d, op_weights_bf16(g_be[d], d ? w->g : w->c, N * K, 2, &g_e));
    RUN(d, op_matmul(g_be[d], &X, &W, &BS, &C, 0, 1, 0.0f, &g_e));
    RUN(d, op_matmul_bwd_da(g_be[d], &X, &W, &G, &DX, &DW, &DB, 0, 1, g_mm_set, &g_e));
    if (hint) RUN(d, op_weights_bf16(g_be[d], d ? w->g : w->c, N * K, 0, &g_e));
  }
  cmp("c", c);
  cmp_delta("dx", dx, s_dx, 0);
  cmp_delta("dw", dw, s_dw, 0);
  cmp_delta("dbias", db, s_db, 0);
  free(s_dx);
  free(s_dw);
  free(s_db);
  case_end();
  bufs_free();
}

/* bf16 activation storage of the outputs: rmsnorm, layernorm, GELU, packed SwiGLU and
 * layernorm + GELU (layernorm_act) with an f32
 * y on both backends (compared as usual), and on the device once more with a bf16 y, which must
 * be the device's own f32 y rounded to nearest even, bit for bit */
static void c_out16(int64_t R, int64_t C) {
  static const char *const nm[] = {"rmsnorm", "layernorm", "gelu", "swiglu_packed", "layernorm_act gelu"};
  for (int op = 0; op < 5; op++) {
    case_begin("bf16_out", "%s %lldx%lld", nm[op], (long long)R, (long long)C);
    int64_t xn = op == 3 ? 2 * R * C : R * C;
    hb *x = mk(xn, I_RAND), *w = mk(C, I_RAND), *b = mk(C, I_RAND), *s1 = mk(R, I_NAN), *s2 = mk(R, I_NAN),
       *y = mk(R * C, I_NAN), *y16 = mk((R * C + 1) / 2, I_NAN);
    for (int k = 0; k < 3; k++) { /* k = 2: the device with y in bf16 */
      int d = k ? 1 : 0;
      tensor X = op == 3 ? tv(x, d, 2, R, 2 * C, 0, 0) : tv(x, d, 2, R, C, 0, 0), W = tv(w, d, 1, C, 0, 0, 0),
             Bs = tv(b, d, 1, C, 0, 0, 0), S1 = tv(s1, d, 1, R, 0, 0, 0), S2 = tv(s2, d, 1, R, 0, 0, 0),
             Y = k == 2 ? tv(y16, d, 2, R, C, 0, 0) : tv(y, d, 2, R, C, 0, 0);
      if (k == 2) Y.dtype = DT_BF16;
      if (op == 0) RUN(d, op_rmsnorm(g_be[d], &X, &W, &Y, &S1, 1e-6f, &g_e));
      if (op == 1) RUN(d, op_layernorm(g_be[d], &X, &W, &Bs, &Y, &S1, &S2, 1e-5f, &g_e));
      if (op == 2) RUN(d, op_act(g_be[d], ACT_GELU, &X, &Y, &g_e));
      if (op == 3) RUN(d, op_swiglu_packed(g_be[d], &X, &Y, &g_e));
      if (op == 4) RUN(d, op_layernorm_act(g_be[d], &X, &W, &Bs, &Y, &S1, &S2, ACT_GELU, 1e-5f, &g_e));
    }
    cmp("y", y);
    float *yd = malloc(sizeof(float) * (size_t)(R * C));
    uint16_t *yb = malloc(sizeof(uint16_t) * (size_t)(R * C + 1));
    if (!yd || !yb) die("out of memory");
    if (g_be[1]->ops->to_host(g_be[1], yd, y->g, sizeof(float) * (size_t)(R * C), &g_e) ||
        g_be[1]->ops->to_host(g_be[1], yb, y16->g, sizeof(uint16_t) * (size_t)(R * C), &g_e)) {
      note(" [download: %s]", g_e.msg);
      g_case_bad = 1;
    } else {
      int64_t bad = 0;
      for (int64_t i = 0; i < R * C; i++) bad += f32_to_bf16(yd[i]) != yb[i];
      note(" bf16 y: %lld of %lld not the f32 y rounded", (long long)bad, (long long)(R * C));
      if (bad) g_case_bad = 1;
    }
    free(yd);
    free(yb);
    case_end();
    bufs_free();
  }
}

/* op_layernorm_act: act(LayerNorm(x)) over rows, and its backward from dy at the activation's
 * output (the norm's output recomputed, not stored): the channels-last conv stack's norm */
static void c_norm_act(int64_t N, int64_t C, int affine, int kind) {
  case_begin("layernorm_act", "N=%lld C=%lld affine=%d act=%d", (long long)N, (long long)C, affine, kind);
  hb *x = mk(N * C, I_RAND), *w = affine ? mk(C, I_RAND) : NULL, *b = affine ? mk(C, I_RAND) : NULL,
     *y = mk(N * C, I_NAN), *m = mk(N, I_NAN), *r = mk(N, I_NAN);
  for (int64_t i = 0; i < N * C; i++) x->c[i] = x->c[i] * 3.0f + 0.5f; /* off-centre */
  up(x);
  BOTH(d) {
    tensor X = tv(x, d, 2, N, C, 0, 0), W = TV(w, d, 1, C, 0, 0, 0), Bs = TV(b, d, 1, C, 0, 0, 0),
           Y = tv(y, d, 2, N, C, 0, 0), Mn = tv(m, d, 1, N, 0, 0, 0), R = tv(r, d, 1, N, 0, 0, 0);
    RUN(d, op_layernorm_act(g_be[d], &X, PT(w, W), PT(b, Bs), &Y, &Mn, &R, (act_kind)kind, 1e-5f, &g_e));
  }
  cmp("y", y);
  cmp("mean", m);
  cmp("rstd", r);
  case_end();
  case_begin("layernorm_act_bwd", "N=%lld C=%lld affine=%d act=%d", (long long)N, (long long)C, affine, kind);
  up(m);
  up(r);
  hb *g = mk(N * C, I_RAND), *dx = mk(N * C, I_RAND), *dw = affine ? mk(C, I_RAND) : NULL,
     *db = affine ? mk(C, I_RAND) : NULL;
  BOTH(d) {
    tensor X = tv(x, d, 2, N, C, 0, 0), W = TV(w, d, 1, C, 0, 0, 0), Bs = TV(b, d, 1, C, 0, 0, 0),
           Mn = tv(m, d, 1, N, 0, 0, 0), R = tv(r, d, 1, N, 0, 0, 0), G = tv(g, d, 2, N, C, 0, 0),
           DX = tv(dx, d, 2, N, C, 0, 0), DW = TV(dw, d, 1, C, 0, 0, 0), DB = TV(db, d, 1, C, 0, 0, 0);
    RUN(d, op_layernorm_act_bwd(g_be[d], &X, PT(w, W), PT(b, Bs), &Mn, &R, &G, &DX, PT(dw, DW), PT(db, DB),
                                (act_kind)kind, &g_e));
  }
  cmp("dx", dx);
  if (dw) cmp("dw", dw);
  if (db) cmp("db", db);
  /* on the device alone: the fused op against layernorm then act (and act_bwd then
   * layernorm_bwd), which must give the same bits (the device's own compiler, FMA contraction
   * included) */
  hb *cn = mk(N * C, I_NAN), *y2 = mk(N * C, I_NAN), *m2 = mk(N, I_NAN), *r2 = mk(N, I_NAN), *dcn = mk(N * C, I_RAND),
     *dx0 = mk(N * C, I_RAND), *dx2 = mk(N * C, I_NAN);
  memcpy(dx2->c, dx0->c, sizeof(float) * (size_t)(N * C));
  up(dx2);
  {
    int d = 1;
    tensor X = tv(x, d, 2, N, C, 0, 0), W = TV(w, d, 1, C, 0, 0, 0), Bs = TV(b, d, 1, C, 0, 0, 0),
           CN = tv(cn, d, 2, N, C, 0, 0), Y2 = tv(y2, d, 2, N, C, 0, 0), M2 = tv(m2, d, 1, N, 0, 0, 0),
           R2 = tv(r2, d, 1, N, 0, 0, 0), G = tv(g, d, 2, N, C, 0, 0), DCN = tv(dcn, d, 2, N, C, 0, 0),
           DX0 = tv(dx0, d, 2, N, C, 0, 0), DX2 = tv(dx2, d, 2, N, C, 0, 0);
    RUN(d, op_layernorm(g_be[d], &X, PT(w, W), PT(b, Bs), &CN, &M2, &R2, 1e-5f, &g_e));
    RUN(d, op_act(g_be[d], (act_kind)kind, &CN, &Y2, &g_e));
    RUN(d, op_layernorm_act_bwd(g_be[d], &X, PT(w, W), PT(b, Bs), &M2, &R2, &G, &DX0, NULL, NULL, (act_kind)kind,
                                &g_e));
    RUN(d, op_fill(g_be[d], &DCN, 0.0f, &g_e));
    RUN(d, op_act_bwd(g_be[d], (act_kind)kind, &CN, &G, &DCN, &g_e));
    RUN(d, op_layernorm_bwd(g_be[d], &X, PT(w, W), &M2, &R2, &DCN, &DX2, NULL, NULL, &g_e));
  }
  const hb *fa[] = {y, dx0}, *fb[] = {y2, dx2};
  if (paths_disagree("fused vs apart", fa, fb, 2)) g_case_bad = 1;
  case_end();
  /* dx written over NaN (op_layernorm_act_bwd_set) on both; on the device, the bits of a fill and the add */
  case_begin("layernorm_act_bwd", "N=%lld C=%lld affine=%d act=%d dx written", (long long)N, (long long)C, affine, kind);
  hb *dxs = mk(N * C, I_NAN), *dxz = mk(N * C, I_NAN);
  BOTH(d) {
    tensor X = tv(x, d, 2, N, C, 0, 0), W = TV(w, d, 1, C, 0, 0, 0), Bs = TV(b, d, 1, C, 0, 0, 0),
           Mn = tv(m, d, 1, N, 0, 0, 0), R = tv(r, d, 1, N, 0, 0, 0), G = tv(g, d, 2, N, C, 0, 0),
           DXS = tv(dxs, d, 2, N, C, 0, 0);
    RUN(d, op_layernorm_act_bwd_set(g_be[d], &X, PT(w, W), PT(b, Bs), &Mn, &R, &G, &DXS, NULL, NULL, (act_kind)kind,
                                    &g_e));
  }
  cmp("dx", dxs);
  {
    int d = 1;
    tensor X = tv(x, d, 2, N, C, 0, 0), W = TV(w, d, 1, C, 0, 0, 0), Bs = TV(b, d, 1, C, 0, 0, 0),
           Mn = tv(m, d, 1, N, 0, 0, 0), R = tv(r, d, 1, N, 0, 0, 0), G = tv(g, d, 2, N, C, 0, 0),
           DXZ = tv(dxz, d, 2, N, C, 0, 0);
    RUN(d, op_fill(g_be[d], &DXZ, 0.0f, &g_e));
    RUN(d, op_layernorm_act_bwd(g_be[d], &X, PT(w, W), PT(b, Bs), &Mn, &R, &G, &DXZ, NULL, NULL, (act_kind)kind, &g_e));
  }
  const int64_t bad2 = bits_differ(dxs, dxz, 0);
  note(" written vs fill and add on the device: %lld of %lld values differ", (long long)bad2, (long long)(N * C));
  if (bad2) g_case_bad = 1;
  case_end();
  bufs_free();
}

/* rmsnorm in place (y = x), as the decoding step uses it */
static void c_rms_inplace(int64_t N, int64_t C) {
  case_begin("rmsnorm", "N=%lld C=%lld in place", (long long)N, (long long)C);
  hb *x = mk(N * C, I_RAND), *w = mk(C, I_RAND), *r = mk(N, I_NAN);
  BOTH(d) {
    tensor X = tv(x, d, 2, N, C, 0, 0), W = tv(w, d, 1, C, 0, 0, 0), R = tv(r, d, 1, N, 0, 0, 0);
    RUN(d, op_rmsnorm(g_be[d], &X, &W, &X, &R, 1e-6f, &g_e));
  }
  cmp("y", x);
  cmp("rstd", r);
  case_end();
  bufs_free();
}

/* the norms' backwards onto a residual's gradient (dxin) and written (no dxin), into a dx of NaN:
 * against the CPU, and on the device against the residual copied (or zeros) and the adding
 * backward, bit for bit; dw, db still added */
static void c_norm_bwd_to(int64_t N, int64_t C, int rms, int set) {
  case_begin(rms ? "rmsnorm_bwd" : "layernorm_bwd", "N=%lld C=%lld dx %s", (long long)N, (long long)C,
             set ? "written" : "onto a residual");
  hb *x = mk(N * C, I_RAND), *w = mk(C, I_RAND), *y = mk(N * C, I_NAN), *m = mk(N, I_NAN), *r = mk(N, I_NAN),
     *g = mk(N * C, I_RAND), *res = mk(N * C, I_RAND), *dx = mk(N * C, I_NAN), *dx2 = mk(N * C, I_NAN),
     *dw = mk(C, I_RAND), *db = mk(C, I_RAND), *dw2 = mk(C, I_RAND), *db2 = mk(C, I_RAND);
  for (int64_t i = 0; i < N * C; i++) x->c[i] = x->c[i] * 3.0f + 0.5f;
  for (int64_t i = 0; i < C; i++) dw2->c[i] = dw->c[i], db2->c[i] = db->c[i];
  up(x), up(dw2), up(db2);
  for (int k = 0; k < 3; k++) { /* k = 2: the device's reference */
    int d = k ? 1 : 0;
    tensor X = tv(x, d, 2, N, C, 0, 0), W = tv(w, d, 1, C, 0, 0, 0), Y = tv(y, d, 2, N, C, 0, 0),
           Mn = tv(m, d, 1, N, 0, 0, 0), R = tv(r, d, 1, N, 0, 0, 0), G = tv(g, d, 2, N, C, 0, 0),
           RES = tv(res, d, 2, N, C, 0, 0), DX = tv(k == 2 ? dx2 : dx, d, 2, N, C, 0, 0),
           DW = tv(k == 2 ? dw2 : dw, d, 1, C, 0, 0, 0), DB = tv(k == 2 ? db2 : db, d, 1, C, 0, 0, 0);
    if (k < 2) {
      if (rms) RUN(d, op_rmsnorm(g_be[d], &X, &W, &Y, &R, 1e-6f, &g_e));
      else RUN(d, op_layernorm(g_be[d], &X, &W, NULL, &Y, &Mn, &R, 1e-5f, &g_e));
      if (rms) RUN(d, op_rmsnorm_bwd_to(g_be[d], &X, &W, &R, &G, set ? NULL : &RES, &DX, &DW, &g_e));
      else RUN(d, op_layernorm_bwd_to(g_be[d], &X, &W, &Mn, &R, &G, set ? NULL : &RES, &DX, &DW, &DB, &g_e));
    } else {
      if (set) RUN(d, op_fill(g_be[d], &DX, 0.0f, &g_e));
      else RUN(d, op_copy(g_be[d], &RES, &DX, &g_e));
      if (rms) RUN(d, op_rmsnorm_bwd(g_be[d], &X, &W, &R, &G, &DX, &DW, &g_e));
      else RUN(d, op_layernorm_bwd(g_be[d], &X, &W, &Mn, &R, &G, &DX, &DW, &DB, &g_e));
    }
  }
  cmp("dx", dx);
  cmp("dw", dw);
  if (!rms) cmp("db", db);
  const int64_t bad = bits_differ(dx, dx2, 0) + bits_differ(dw, dw2, 0) + (rms ? 0 : bits_differ(db, db2, 0));
  note(" against %s + the adding backward on the device: %lld values differ", set ? "a zero fill" : "a copy",
       (long long)bad);
  if (bad) g_case_bad = 1;
  case_end();
  bufs_free();
}

static void c_norm(int64_t N, int64_t C, int affine) {
  case_begin("layernorm", "N=%lld C=%lld affine=%d", (long long)N, (long long)C, affine);
  hb *x = mk(N * C, I_RAND), *w = affine ? mk(C, I_RAND) : NULL, *b = affine ? mk(C, I_RAND) : NULL,
     *y = mk(N * C, I_NAN), *m = mk(N, I_NAN), *r = mk(N, I_NAN);
  for (int64_t i = 0; i < N * C; i++) x->c[i] = x->c[i] * 3.0f + 0.5f; /* off-centre */
  up(x);
  BOTH(d) {
    tensor X = tv(x, d, 2, N, C, 0, 0), W = TV(w, d, 1, C, 0, 0, 0), Bs = TV(b, d, 1, C, 0, 0, 0),
           Y = tv(y, d, 2, N, C, 0, 0), Mn = tv(m, d, 1, N, 0, 0, 0), R = tv(r, d, 1, N, 0, 0, 0);
    RUN(d, op_layernorm(g_be[d], &X, PT(w, W), PT(b, Bs), &Y, &Mn, &R, 1e-5f, &g_e));
  }
  cmp("y", y);
  cmp("mean", m);
  cmp("rstd", r);
  case_end();
  case_begin("layernorm_bwd", "N=%lld C=%lld affine=%d", (long long)N, (long long)C, affine);
  up(m);
  up(r);
  hb *g = mk(N * C, I_RAND), *dx = mk(N * C, I_RAND), *dw = affine ? mk(C, I_RAND) : NULL,
     *db = affine ? mk(C, I_RAND) : NULL;
  BOTH(d) {
    tensor X = tv(x, d, 2, N, C, 0, 0), W = TV(w, d, 1, C, 0, 0, 0), Mn = tv(m, d, 1, N, 0, 0, 0),
           R = tv(r, d, 1, N, 0, 0, 0), G = tv(g, d, 2, N, C, 0, 0), DX = tv(dx, d, 2, N, C, 0, 0),
           DW = TV(dw, d, 1, C, 0, 0, 0), DB = TV(db, d, 1, C, 0, 0, 0);
    RUN(d, op_layernorm_bwd(g_be[d], &X, PT(w, W), &Mn, &R, &G, &DX, PT(dw, DW), PT(db, DB), &g_e));
  }
  cmp("dx", dx);
  if (dw) cmp("dw", dw);
  if (db) cmp("db", db);
  case_end();

  case_begin("rmsnorm", "N=%lld C=%lld affine=%d", (long long)N, (long long)C, affine);
  hb *x2 = mk(N * C, I_RAND), *w2 = affine ? mk(C, I_RAND) : NULL, *y2 = mk(N * C, I_NAN), *r2 = mk(N, I_NAN);
  BOTH(d) {
    tensor X = tv(x2, d, 2, N, C, 0, 0), W = TV(w2, d, 1, C, 0, 0, 0), Y = tv(y2, d, 2, N, C, 0, 0),
           R = tv(r2, d, 1, N, 0, 0, 0);
    RUN(d, op_rmsnorm(g_be[d], &X, PT(w2, W), &Y, &R, 1e-6f, &g_e));
  }
  cmp("y", y2);
  cmp("rstd", r2);
  case_end();
  case_begin("rmsnorm_bwd", "N=%lld C=%lld affine=%d", (long long)N, (long long)C, affine);
  up(r2);
  hb *g2 = mk(N * C, I_RAND), *dx2 = mk(N * C, I_RAND), *dw2 = affine ? mk(C, I_RAND) : NULL;
  BOTH(d) {
    tensor X = tv(x2, d, 2, N, C, 0, 0), W = TV(w2, d, 1, C, 0, 0, 0), R = tv(r2, d, 1, N, 0, 0, 0),
           G = tv(g2, d, 2, N, C, 0, 0), DX = tv(dx2, d, 2, N, C, 0, 0), DW = TV(dw2, d, 1, C, 0, 0, 0);
    RUN(d, op_rmsnorm_bwd(g_be[d], &X, PT(w2, W), &R, &G, &DX, PT(dw2, DW), &g_e));
  }
  cmp("dx", dx2);
  if (dw2) cmp("dw", dw2);
  case_end();
  bufs_free();
}

static void c_groupnorm(int64_t B, int64_t C, int64_t T, int G, int affine) {
  case_begin("groupnorm", "B=%lld C=%lld T=%lld G=%d affine=%d", (long long)B, (long long)C, (long long)T, G,
             affine);
  hb *x = mk(B * C * T, I_RAND), *w = affine ? mk(C, I_RAND) : NULL, *b = affine ? mk(C, I_RAND) : NULL,
     *y = mk(B * C * T, I_NAN), *m = mk(B * G, I_NAN), *r = mk(B * G, I_NAN);
  BOTH(d) {
    tensor X = tv(x, d, 3, B, C, T, 0), W = TV(w, d, 1, C, 0, 0, 0), Bs = TV(b, d, 1, C, 0, 0, 0),
           Y = tv(y, d, 3, B, C, T, 0), Mn = tv(m, d, 2, B, G, 0, 0), R = tv(r, d, 2, B, G, 0, 0);
    RUN(d, op_groupnorm(g_be[d], &X, PT(w, W), PT(b, Bs), &Y, &Mn, &R, G, 1e-5f, &g_e));
  }
  cmp("y", y);
  cmp("mean", m);
  cmp("rstd", r);
  case_end();
  case_begin("groupnorm_bwd", "B=%lld C=%lld T=%lld G=%d affine=%d", (long long)B, (long long)C, (long long)T, G,
             affine);
  up(m);
  up(r);
  hb *g = mk(B * C * T, I_RAND), *dx = mk(B * C * T, I_RAND), *dw = affine ? mk(C, I_RAND) : NULL,
     *db = affine ? mk(C, I_RAND) : NULL;
  BOTH(d) {
    tensor X = tv(x, d, 3, B, C, T, 0), W = TV(w, d, 1, C, 0, 0, 0), Mn = tv(m, d, 2, B, G, 0, 0),
           R = tv(r, d, 2, B, G, 0, 0), Gt = tv(g, d, 3, B, C, T, 0), DX = tv(dx, d, 3, B, C, T, 0),
           DW = TV(dw, d, 1, C, 0, 0, 0), DB = TV(db, d, 1, C, 0, 0, 0);
    RUN(d, op_groupnorm_bwd(g_be[d], &X, PT(w, W), &Mn, &R, &Gt, &DX, PT(dw, DW), PT(db, DB), G, &g_e));
  }
  cmp("dx", dx);
  if (dw) cmp("dw", dw);
  if (db) cmp("db", db);
  case_end();
  bufs_free();
}

/* LayerNorm over the channel axis of (B,C,T); alias: the backward's dx is dy itself */
static void c_layernorm_ch(int64_t B, int64_t C, int64_t T, int affine, int alias) {
  case_begin("layernorm_ch", "B=%lld C=%lld T=%lld affine=%d", (long long)B, (long long)C, (long long)T, affine);
  hb *x = mk(B * C * T, I_RAND), *w = affine ? mk(C, I_RAND) : NULL, *b = affine ? mk(C, I_RAND) : NULL,
     *y = mk(B * C * T, I_NAN), *m = mk(B * T, I_NAN), *r = mk(B * T, I_NAN);
  BOTH(d) {
    tensor X = tv(x, d, 3, B, C, T, 0), W = TV(w, d, 1, C, 0, 0, 0), Bs = TV(b, d, 1, C, 0, 0, 0),
           Y = tv(y, d, 3, B, C, T, 0), Mn = tv(m, d, 1, B * T, 0, 0, 0), R = tv(r, d, 1, B * T, 0, 0, 0);
    RUN(d, op_layernorm_ch(g_be[d], &X, PT(w, W), PT(b, Bs), &Y, &Mn, &R, 1e-5f, &g_e));
  }
  cmp("y", y);
  cmp("mean", m);
  cmp("rstd", r);
  case_end();
  case_begin("layernorm_ch_bwd", "B=%lld C=%lld T=%lld affine=%d dx=dy %d", (long long)B, (long long)C, (long long)T,
             affine, alias);
  up(m);
  up(r);
  hb *g = mk(B * C * T, I_RAND), *dx = alias ? g : mk(B * C * T, I_RAND), *dw = affine ? mk(C, I_RAND) : NULL,
     *db = affine ? mk(C, I_RAND) : NULL;
  BOTH(d) {
    tensor X = tv(x, d, 3, B, C, T, 0), W = TV(w, d, 1, C, 0, 0, 0), Mn = tv(m, d, 1, B * T, 0, 0, 0),
           R = tv(r, d, 1, B * T, 0, 0, 0), Gt = tv(g, d, 3, B, C, T, 0), DX = tv(dx, d, 3, B, C, T, 0),
           DW = TV(dw, d, 1, C, 0, 0, 0), DB = TV(db, d, 1, C, 0, 0, 0);
    RUN(d, op_layernorm_ch_bwd(g_be[d], &X, PT(w, W), &Mn, &R, &Gt, &DX, PT(dw, DW), PT(db, DB), &g_e));
  }
  cmp("dx", dx);
  if (dw) cmp("dw", dw);
  if (db) cmp("db", db);
  case_end();
  bufs_free();
}

/* the next c_attn's backward with attn_cfg.grad_set: dq, dk, dv start NaN on both sides and are
 * written (dbias still added to its start) */
static int g_attn_set;

/* kv_len / q_pos0: arrays of B or NULL */
static void c_attn(int64_t B, int64_t Tq, int64_t Tk, int64_t Hq, int64_t Hkv, int64_t D, int causal,
                   const int32_t *kv_len, const int32_t *q_pos0, int bias) {
  char extra[96] = "";
  if (kv_len) {
    strcat(extra, " kv_len=");
    for (int64_t b = 0; b < B; b++) snprintf(extra + strlen(extra), 8, "%d%s", kv_len[b], b + 1 < B ? "," : "");
  }
  if (q_pos0) {
    strcat(extra, " q_pos0=");
    for (int64_t b = 0; b < B; b++) snprintf(extra + strlen(extra), 8, "%d%s", q_pos0[b], b + 1 < B ? "," : "");
  }
  if (g_attn_set) strcat(extra, " grad_set");
  const char *fmt = "B=%lld Tq=%lld Tk=%lld Hq=%lld Hkv=%lld D=%lld causal=%d bias=%d%s";
  case_begin("attention", fmt, (long long)B, (long long)Tq, (long long)Tk, (long long)Hq, (long long)Hkv,
             (long long)D, causal, bias, extra);
  int64_t nq = B * Tq * Hq * D, nk = B * Tk * Hkv * D;
  hb *q = mk(nq, I_RAND), *k = mk(nk, I_RAND), *v = mk(nk, I_RAND), *o = mk(nq, I_NAN), *l = mk(B * Hq * Tq, I_NAN),
     *bs = bias ? mk(Hq * Tq * Tk, I_RAND) : NULL;
  for (int64_t i = 0; i < nq; i++) q->c[i] *= 2.0f;
  up(q);
  attn_cfg cfg[2];
  BOTH(d) {
    tensor Q = tv(q, d, 4, B, Tq, Hq, D), K = tv(k, d, 4, B, Tk, Hkv, D), V = tv(v, d, 4, B, Tk, Hkv, D),
           O = tv(o, d, 4, B, Tq, Hq, D), L = tv(l, d, 3, B, Hq, Tq, 0);
    static tensor BS[2];
    if (bs) BS[d] = tv(bs, d, 3, Hq, Tq, Tk, 0);
    cfg[d] = (attn_cfg){causal, 1.0f / sqrtf((float)D), kv_len, q_pos0, bs ? &BS[d] : NULL, NULL, 0};
    RUN(d, op_attention(g_be[d], &Q, &K, &V, &O, &L, &cfg[d], &g_e));
  }
  cmp("out", o);
  cmp("lse", l);
  case_end();
  case_begin("attention_bwd", fmt, (long long)B, (long long)Tq, (long long)Tk, (long long)Hq, (long long)Hkv,
             (long long)D, causal, bias, extra);
  up(o); /* backward of both from the CPU forward */
  up(l);
  hb *go = mk(nq, I_RAND), *dq = mk(nq, I_RAND), *dk = mk(nk, I_RAND), *dv = mk(nk, I_RAND),
     *dbs = bias ? mk(Hq * Tq * Tk, I_RAND) : NULL;
  /* small starting gradients (uniform in +-2^-12, exact scaling): an added part is judged by
   * subtracting the start, and over a start of order 1, rounding the sum to the start's ulp
   * alone made ~1e-5 of error where each key adds little (11,000 keys: ~1e-4 per element) */
  hb *grads[4] = {dq, dk, dv, dbs};
  for (int t = 0; t < 4 && grads[t]; t++) {
    for (int64_t i = 0; i < grads[t]->n; i++) grads[t]->c[i] = ldexpf(grads[t]->c[i], -12);
    up(grads[t]);
  }
  float *s_dq = snap(dq), *s_dk = snap(dk), *s_dv = snap(dv), *s_dbs = dbs ? snap(dbs) : NULL;
  if (g_attn_set) { /* written over NaN: judged as added to zero */
    for (int t = 0; t < 3; t++) {
      for (int64_t i = 0; i < grads[t]->n; i++) grads[t]->c[i] = NAN;
      up(grads[t]);
    }
    memset(s_dq, 0, sizeof(float) * (size_t)nq), memset(s_dk, 0, sizeof(float) * (size_t)nk);
    memset(s_dv, 0, sizeof(float) * (size_t)nk);
  }
  BOTH(d) {
    tensor Q = tv(q, d, 4, B, Tq, Hq, D), K = tv(k, d, 4, B, Tk, Hkv, D), V = tv(v, d, 4, B, Tk, Hkv, D),
           O = tv(o, d, 4, B, Tq, Hq, D), L = tv(l, d, 3, B, Hq, Tq, 0), GO = tv(go, d, 4, B, Tq, Hq, D),
           DQ = tv(dq, d, 4, B, Tq, Hq, D), DK = tv(dk, d, 4, B, Tk, Hkv, D), DV = tv(dv, d, 4, B, Tk, Hkv, D),
           DBS = TV(dbs, d, 3, Hq, Tq, Tk, 0);
    static tensor BS[2];
    if (bs) BS[d] = tv(bs, d, 3, Hq, Tq, Tk, 0);
    cfg[d].bias = bs ? &BS[d] : NULL;
    cfg[d].grad_set = g_attn_set;
    RUN(d, op_attention_bwd(g_be[d], &Q, &K, &V, &O, &L, &GO, &DQ, &DK, &DV, PT(dbs, DBS), &cfg[d], &g_e));
  }
  /* the gradients added (the random starting values, which the op must keep, would dilute
   * the error: bf16 runs compare at 1e-2). dq, dk and dbias come from dS = P (dP - rowsum(dO
   * o O)), which cancels: with one visible key it is zero but for rounding, and either
   * side's noise (or an exact zero) is a relative error of 1. They are judged against at
   * least a tenth of dv's added part (P^T dO, no cancellation): the size they would have */
  double fl = 0.1 * delta_norm(dv, s_dv);
  cmp_delta("dq", dq, s_dq, fl);
  cmp_delta("dk", dk, s_dk, fl);
  cmp_delta("dv", dv, s_dv, 0);
  if (dbs) cmp_delta("dbias", dbs, s_dbs, fl);
  free(s_dq), free(s_dk), free(s_dv), free(s_dbs);
  case_end();
  bufs_free();
}

/* The weights' bf16 copy of a training step across AdamW steps (cuda_set_wcopy_sync): a
 * training bracket (op_weights_bf16 2) over a parameter buffer, x W^T, closed; AdamW over the
 * buffer's runs with a large rate (every weight moves by ~0.5, so a stale copy would be far off
 * even at bf16's tolerance); the bracket again, x W^T: against the CPU's. Then a host write
 * into W (to_device), AdamW, the bracket, x W^T again: the copy must not be taken as current. On
 * CUDA in bf16 the first reopening skips its rounding (AdamW kept the copy), the second must
 * not; cuda_wcopy_counts says how many were skipped and any value a check found wrong. */
static void c_wcopy(int64_t M, int64_t K, int64_t N) {
  case_begin("wcopy", "M=%lld K=%lld N=%lld: AdamW steps between training brackets", (long long)M, (long long)K,
             (long long)N);
  const int64_t np = N * K + 13; /* W, then 13 values of a frozen gap */
  const adamw_run runs[] = {{0, N * K / 2, 1}, {N * K / 2, N * K - N * K / 2, 0}};
  hb *w = mk(np, I_RAND), *g = mk(np, I_RAND), *m = mk(np, I_RAND), *v = mk(np, I_POS), *x = mk(M * K, I_RAND);
  hb *c[3] = {mk(M * N, I_NAN), mk(M * N, I_NAN), mk(M * N, I_NAN)};
  long sk0, bad0, sk1, bad1;
  cuda_wcopy_counts(&sk0, &bad0);
  for (int r = 0; r < 3; r++) {
    BOTH(d) {
      float *wp = d ? w->g : w->c;
      tensor X = tv(x, d, 2, M, K, 0, 0), C = tv(c[r], d, 2, M, N, 0, 0), W = tensor_f32(wp, 2, N, K, 0, 0);
      W.device = g_be[d]->device;
      if (r) RUN(d, op_adamw_runs(g_be[d], wp, d ? g->g : g->c, d ? m->g : m->c, d ? v->g : v->c, runs, 2, 0.5f, 0.9f,
                                  0.999f, 1e-8f, 0.1f, r, &g_e));
      if (r == 2) { /* after AdamW, a host write into W's first row: the copy must be rounded again */
        float row[4096];
        for (int64_t i = 0; i < K; i++) row[i] = 3.0f;
        if (d) {
          if (g_be[1]->ops->to_device(g_be[1], w->g, row, sizeof(float) * (size_t)K, &g_e)) die(g_e.msg);
        } else {
          memcpy(w->c, row, sizeof(float) * (size_t)K);
        }
      }
      RUN(d, op_weights_bf16(g_be[d], wp, np, 2, &g_e));
      RUN(d, op_matmul(g_be[d], &X, &W, NULL, &C, 0, 1, 0.0f, &g_e));
      RUN(d, op_weights_bf16(g_be[d], wp, np, 0, &g_e));
    }
  }
  cmp("c (first bracket)", c[0]);
  cmp("c (after AdamW)", c[1]);
  cmp("c (after a host write and AdamW)", c[2]);
  cmp("w", w);
  cuda_wcopy_counts(&sk1, &bad1);
  /* on CUDA in bf16 with the copy kept current (the defaults): the second bracket alone skips */
  const char *o1 = getenv("TSASR_CUDA_BF16_ACTS"), *o2 = getenv("TSASR_CUDA_WCOPY_SYNC"),
             *o3 = getenv("TSASR_CUDA_WEIGHT_COPY");
  long want = g_be[1]->device == DEV_CUDA && !strcmp(cuda_gemm_name(), "bf16") && !(o1 && !strcmp(o1, "0")) &&
                      !(o2 && !strcmp(o2, "0")) && !(o3 && !strcmp(o3, "0"))
                  ? 1
                  : 0;
  note(" roundings skipped %ld (want %ld), copy values found wrong %ld", sk1 - sk0, want, bad1 - bad0);
  if (bad1 != bad0 || sk1 - sk0 != want) g_case_bad = 1;
  case_end();
  bufs_free();
}

/* attn_cfg.keep and grad_set (backend.h): q, k, v split from packed rows (with the keep:
 * op_split_heads_keep writes them there too where the backend keeps them); on the device, a
 * forward with keep and its backward
 * from it with grad_set over NaN gradients against the same without keep, from zero-filled
 * gradients, bit for bit (out, lse, dq, dk, dv but for the sign of zeros; a device backend's
 * backward then takes the forward's bf16 operands instead of rounding q, k, v, out again), and
 * the out projection's GEMM right after the forward (the weights' bf16 copy held: on CUDA it
 * takes the attention's kept bf16 output as its rounding of out) against the same GEMM after a
 * forward without keep; the kept forward's out and the backward's gradients against the CPU's
 * too. A backend that keeps nothing (the CPU's, CUDA outside the bf16 precision) runs both
 * ways the same. */
static void c_attn_keep(int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int causal, const int32_t *kv_len) {
  case_begin("attention_keep", "B=%lld T=%lld Hq=%lld Hkv=%lld D=%lld causal=%d%s, grad_set", (long long)B, (long long)T,
             (long long)Hq, (long long)Hkv, (long long)D, causal, kv_len ? " padded" : "");
  const int64_t nq = B * T * Hq * D, nk = B * T * Hkv * D, QD = Hq * D, M = 24;
  /* q, k, v split from packed rows (split_heads with the keep: its q, k, v there too) */
  hb *x = mk(nq + 2 * nk, I_RAND), *q = mk(nq, I_NAN), *k = mk(nk, I_NAN), *v = mk(nk, I_NAN), *go = mk(nq, I_RAND),
     *w = mk(M * QD, I_RAND);
  hb *o[2], *l[2], *dq[2], *dk[2], *dv[2], *y[2]; /* [0] with keep, [1] without (device); [0] also the CPU's */
  for (int i = 0; i < 2; i++) {
    o[i] = mk(nq, I_NAN), l[i] = mk(B * Hq * T, I_NAN), y[i] = mk(B * T * M, I_NAN);
    dq[i] = mk(nq, I_NAN), dk[i] = mk(nk, I_NAN), dv[i] = mk(nk, I_NAN);
  }
  size_t kb = 0;
  void *kbuf = NULL;
  attn_keep keep = {0};
  BOTH(d) {
    const int runs = d ? 2 : 1;
    for (int i = 0; i < runs; i++) {
      tensor Q = tv(q, d, 4, B, T, Hq, D), K = tv(k, d, 4, B, T, Hkv, D), V = tv(v, d, 4, B, T, Hkv, D),
             O = tv(o[i], d, 4, B, T, Hq, D), L = tv(l[i], d, 3, B, Hq, T, 0), GO = tv(go, d, 4, B, T, Hq, D),
             DQ = tv(dq[i], d, 4, B, T, Hq, D), DK = tv(dk[i], d, 4, B, T, Hkv, D), DV = tv(dv[i], d, 4, B, T, Hkv, D),
             W = tv(w, d, 2, M, QD, 0, 0), O2 = tv(o[i], d, 2, B * T, QD, 0, 0), Y = tv(y[i], d, 2, B * T, M, 0, 0);
      attn_cfg cfg = {causal, 1.0f / sqrtf((float)D), kv_len, NULL, NULL, NULL, i == 0};
      if (i == 0 && (kb = op_attn_keep_bytes(g_be[d], &Q, &K, &cfg)) > 0) {
        if (!(kbuf = g_be[d]->ops->alloc(g_be[d], kb))) die("out of memory (keep)");
        keep = (attn_keep){kbuf, kb, 0, 0};
        cfg.keep = &keep;
      }
      tensor X4 = tv(x, d, 4, B, T, Hq + 2 * Hkv, D);
      RUN(d, op_split_heads_keep(g_be[d], &X4, &Q, &K, &V, NULL, 0.0f, cfg.keep, &g_e));
      const int split_qkv = keep.qkv; /* the forward clears it (its q, k, v serve it alone) */
      RUN(d, op_weights_bf16(g_be[d], d ? w->g : w->c, M * QD, 1, &g_e));
      RUN(d, op_attention(g_be[d], &Q, &K, &V, &O, &L, &cfg, &g_e));
      RUN(d, op_matmul(g_be[d], &O2, &W, NULL, &Y, 0, 1, 0.0f, &g_e));
      RUN(d, op_weights_bf16(g_be[d], d ? w->g : w->c, M * QD, 0, &g_e));
      if (!cfg.grad_set) { /* else written over their NaN starts */
        RUN(d, op_fill(g_be[d], &DQ, 0.0f, &g_e));
        RUN(d, op_fill(g_be[d], &DK, 0.0f, &g_e));
        RUN(d, op_fill(g_be[d], &DV, 0.0f, &g_e));
      }
      RUN(d, op_attention_bwd(g_be[d], &Q, &K, &V, &O, &L, &GO, &DQ, &DK, &DV, NULL, &cfg, &g_e));
      if (i == 0 && d == 1) {
        note(" keep %zu bytes, q/k/v from the split %d, made %d, then %d;", kb, split_qkv, keep.made, keep.qkv);
        if (kb && (!split_qkv || !keep.made || keep.qkv)) g_case_bad = 1; /* a backend that keeps must have kept */
      }
      if (kbuf) g_be[d]->ops->release(g_be[d], kbuf);
      kbuf = NULL, keep = (attn_keep){0};
    }
  }
  cmp("out", o[0]);
  cmp("y", y[0]);
  /* dq, dk against at least a tenth of dv's size (they cancel: c_attn) */
  float *z = calloc((size_t)nq, sizeof(float));
  if (!z) die("out of memory");
  double fl = 0.1 * delta_norm(dv[0], z);
  cmp_delta("dv", dv[0], z, 0);
  cmp_delta("dq", dq[0], z, fl);
  cmp_delta("dk", dk[0], z, fl);
  free(z);
  int64_t bad = 0;
  hb *pairs[][2] = {{o[0], o[1]}, {l[0], l[1]}, {y[0], y[1]}, {dq[0], dq[1]}, {dk[0], dk[1]}, {dv[0], dv[1]}};
  for (int i = 0; i < 6; i++) bad += bits_differ(pairs[i][0], pairs[i][1], i >= 3);
  note(" kept vs not on the device: %lld values differ", (long long)bad);
  if (bad) g_case_bad = 1;
  case_end();
  bufs_free();
}

static void c_rope(int64_t B, int64_t T, int64_t H, int64_t D, int offset) {
  case_begin("rope", "B=%lld T=%lld H=%lld D=%lld pos0=%d (fwd, in place, bwd)", (long long)B, (long long)T,
             (long long)H, (long long)D, offset);
  int64_t n = B * T * H * D;
  int32_t *pos = malloc(sizeof(int32_t) * (size_t)(B * T));
  for (int64_t i = 0; i < B * T; i++) pos[i] = offset + (int32_t)(i % T) * 3 + rnd_int(3);
  hb *x = mk(n, I_RAND), *y = mk(n, I_NAN), *ip = mk(n, I_RAND), *g = mk(n, I_RAND), *dx = mk(n, I_RAND),
     *scr = mk(n, I_NAN);
  BOTH(d) {
    tensor X = tv(x, d, 4, B, T, H, D), Y = tv(y, d, 4, B, T, H, D), IP = tv(ip, d, 4, B, T, H, D),
           G = tv(g, d, 4, B, T, H, D), DX = tv(dx, d, 4, B, T, H, D), S = tv(scr, d, 4, B, T, H, D);
    RUN(d, op_rope(g_be[d], &X, &Y, pos, 1e6f, &g_e));
    RUN(d, op_rope(g_be[d], &IP, &IP, pos, 10000.0f, &g_e));
    RUN(d, op_rope_bwd(g_be[d], &G, &DX, pos, 1e6f, &S, &g_e));
  }
  cmp("y", y);
  cmp("inplace", ip);
  cmp("dx", dx);
  free(pos);
  case_end();
  bufs_free();
}

/* packed q/k/v heads taken apart (q, k rotated) and put back (merge overwrites every element:
 * its output starts as NaN) */
static void c_heads(int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int rope) {
  case_begin("split_heads", "B=%lld T=%lld Hq=%lld Hkv=%lld D=%lld rope=%d (split, merge)", (long long)B,
             (long long)T, (long long)Hq, (long long)Hkv, (long long)D, rope);
  int64_t BT = B * T, H = Hq + 2 * Hkv;
  int32_t *pos = malloc(sizeof(int32_t) * (size_t)BT);
  for (int64_t i = 0; i < BT; i++) pos[i] = (int32_t)(i % T) * 5 + rnd_int(2000);
  hb *x = mk(BT * H * D, I_RAND), *q = mk(BT * Hq * D, I_NAN), *k = mk(BT * Hkv * D, I_NAN),
     *v = mk(BT * Hkv * D, I_NAN), *gq = mk(BT * Hq * D, I_RAND), *gk = mk(BT * Hkv * D, I_RAND),
     *gv = mk(BT * Hkv * D, I_RAND), *dx = mk(BT * H * D, I_NAN);
  const int32_t *p = rope ? pos : NULL;
  BOTH(d) {
    tensor X = tv(x, d, 4, B, T, H, D), Q = tv(q, d, 4, B, T, Hq, D), K = tv(k, d, 4, B, T, Hkv, D),
           V = tv(v, d, 4, B, T, Hkv, D), GQ = tv(gq, d, 4, B, T, Hq, D), GK = tv(gk, d, 4, B, T, Hkv, D),
           GV = tv(gv, d, 4, B, T, Hkv, D), DX = tv(dx, d, 4, B, T, H, D);
    RUN(d, op_split_heads(g_be[d], &X, &Q, &K, &V, p, 1e6f, &g_e));
    RUN(d, op_merge_heads(g_be[d], &GQ, &GK, &GV, &DX, p, 1e6f, &g_e));
  }
  cmp("q", q);
  cmp("k", k);
  cmp("v", v);
  cmp("dqkv", dx);
  free(pos);
  case_end();
  bufs_free();
}

/* split_heads into a KV cache (a decoding step): B sequences of T new rows go to rows
 * b Tmax + len_b + t of (B Tmax, Hkv D) caches holding random values, which must stay
 * elsewhere */
static void c_heads_kv(int64_t B, int64_t T, int64_t Tmax, int64_t Hq, int64_t Hkv, int64_t D) {
  case_begin("split_heads", "B=%lld T=%lld Hq=%lld Hkv=%lld D=%lld rope=1 into a cache of %lld rows", (long long)B,
             (long long)T, (long long)Hq, (long long)Hkv, (long long)D, (long long)Tmax);
  int64_t BT = B * T, H = Hq + 2 * Hkv;
  int32_t *pos = malloc(sizeof(int32_t) * (size_t)BT), *row = malloc(sizeof(int32_t) * (size_t)BT);
  for (int64_t b = 0; b < B; b++) {
    int64_t len = rnd_int((int)(Tmax - T + 1));
    for (int64_t t = 0; t < T; t++) pos[b * T + t] = (int32_t)(len + t), row[b * T + t] = (int32_t)(b * Tmax + len + t);
  }
  hb *x = mk(BT * H * D, I_RAND), *q = mk(BT * Hq * D, I_NAN), *kc = mk(B * Tmax * Hkv * D, I_RAND),
     *vc = mk(B * Tmax * Hkv * D, I_RAND);
  BOTH(d) {
    tensor X = tv(x, d, 4, B, T, H, D), Q = tv(q, d, 4, B, T, Hq, D), KC = tv(kc, d, 2, B * Tmax, Hkv * D, 0, 0),
           VC = tv(vc, d, 2, B * Tmax, Hkv * D, 0, 0);
    RUN(d, op_split_heads_kv(g_be[d], &X, &Q, &KC, &VC, row, pos, 1e6f, &g_e));
  }
  cmp("q", q);
  cmp("k cache", kc);
  cmp("v cache", vc);
  free(pos);
  free(row);
  case_end();
  bufs_free();
}

/* x16: x holds bf16 bits (a bf16 activation, the same on both sides); cl: the channels-last op
 * (op_conv1d_cl: x (B, T, Cin), y (B, To, Cout)) */
static void c_conv_dt(int64_t B, int64_t Cin, int64_t T, int64_t Cout, int64_t K, int stride, int pad, int groups,
                      int bias, int x16, int cl) {
  int64_t To = op_conv1d_out_len(T, K, stride, pad), Cg = Cin / groups;
  const char *fmt = "B=%lld Cin=%lld T=%lld Cout=%lld K=%lld stride=%d pad=%d groups=%d bias=%d";
  static const char *names[2][2][2] = {{{"conv1d", "conv1d_bwd"}, {"conv1d_x16", "conv1d_x16_bwd"}},
                                       {{"conv1d_cl", "conv1d_cl_bwd"}, {"conv1d_cl_x16", "conv1d_cl_x16_bwd"}}};
  /* a tensor's dims in the op's layout: (B, C, T) or (B, T, C) */
#define CV_DIMS(C, Tn) B, cl ? (Tn) : (C), cl ? (C) : (Tn)
  case_begin(names[cl][x16][0], fmt, (long long)B, (long long)Cin, (long long)T, (long long)Cout, (long long)K, stride,
             pad, groups, bias);
  hb *x = mk(x16 ? (B * Cin * T + 1) / 2 : B * Cin * T, I_RAND), *w = mk(Cout * Cg * K, I_RAND),
     *bs = bias ? mk(Cout, I_RAND) : NULL, *y = mk(B * Cout * To, I_NAN);
  if (x16) {
    uint16_t *xb = (uint16_t *)x->c;
    for (int64_t i = 0; i < B * Cin * T; i++) xb[i] = f32_to_bf16(rnd_f());
    up(x);
  }
  BOTH(d) {
    tensor X = tv(x, d, 3, CV_DIMS(Cin, T), 0), W = tv(w, d, 3, Cout, Cg, K, 0), BS = TV(bs, d, 1, Cout, 0, 0, 0),
           Y = tv(y, d, 3, CV_DIMS(Cout, To), 0);
    if (x16) X.dtype = DT_BF16;
    if (cl)
      RUN(d, op_conv1d_cl(g_be[d], &X, &W, PT(bs, BS), &Y, stride, pad, groups, &g_e));
    else
      RUN(d, op_conv1d(g_be[d], &X, &W, PT(bs, BS), &Y, stride, pad, groups, &g_e));
  }
  cmp("y", y);
  case_end();
  case_begin(names[cl][x16][1], fmt, (long long)B, (long long)Cin, (long long)T, (long long)Cout, (long long)K, stride,
             pad, groups, bias);
  hb *g = mk(B * Cout * To, I_RAND), *dx = mk(B * Cin * T, I_RAND), *dw = mk(Cout * Cg * K, I_RAND),
     *dbs = bias ? mk(Cout, I_RAND) : NULL;
  BOTH(d) {
    tensor X = tv(x, d, 3, CV_DIMS(Cin, T), 0), W = tv(w, d, 3, Cout, Cg, K, 0), G = tv(g, d, 3, CV_DIMS(Cout, To), 0),
           DX = tv(dx, d, 3, CV_DIMS(Cin, T), 0), DW = tv(dw, d, 3, Cout, Cg, K, 0), DBS = TV(dbs, d, 1, Cout, 0, 0, 0);
    if (x16) X.dtype = DT_BF16;
    if (cl)
      RUN(d, op_conv1d_cl_bwd(g_be[d], &X, &W, &G, &DX, &DW, PT(dbs, DBS), stride, pad, groups, &g_e));
    else
      RUN(d, op_conv1d_bwd(g_be[d], &X, &W, &G, &DX, &DW, PT(dbs, DBS), stride, pad, groups, &g_e));
  }
  cmp("dx", dx);
  cmp("dw", dw);
  if (dbs) cmp("dbias", dbs);
  case_end();
  if (cl) { /* dx written over NaN (op_conv1d_cl_bwd_set) on both; on the device, against a fill and the add: the
             * same values (a GEMM with beta 0 may take another cuBLAS kernel than with beta 1, so the bits
             * differing is noted; a normalised difference past 1e-6, or a NaN, fails) */
    case_begin(names[cl][x16][1], "B=%lld Cin=%lld T=%lld Cout=%lld K=%lld stride=%d pad=%d groups=%d dx written",
               (long long)B, (long long)Cin, (long long)T, (long long)Cout, (long long)K, stride, pad, groups);
    hb *dxs = mk(B * Cin * T, I_NAN), *dxz = mk(B * Cin * T, I_NAN);
    BOTH(d) {
      tensor X = tv(x, d, 3, CV_DIMS(Cin, T), 0), W = tv(w, d, 3, Cout, Cg, K, 0),
             G = tv(g, d, 3, CV_DIMS(Cout, To), 0), DXS = tv(dxs, d, 3, CV_DIMS(Cin, T), 0);
      if (x16) X.dtype = DT_BF16;
      RUN(d, op_conv1d_cl_bwd_set(g_be[d], &X, &W, &G, &DXS, NULL, NULL, stride, pad, groups, &g_e));
    }
    cmp("dx", dxs);
    {
      int d = 1;
      tensor X = tv(x, d, 3, CV_DIMS(Cin, T), 0), W = tv(w, d, 3, Cout, Cg, K, 0),
             G = tv(g, d, 3, CV_DIMS(Cout, To), 0), DXZ = tv(dxz, d, 3, CV_DIMS(Cin, T), 0);
      if (x16) X.dtype = DT_BF16;
      RUN(d, op_fill(g_be[d], &DXZ, 0.0f, &g_e));
      RUN(d, op_conv1d_cl_bwd(g_be[d], &X, &W, &G, &DXZ, NULL, NULL, stride, pad, groups, &g_e));
    }
    const int64_t bad = bits_differ(dxs, dxz, 0);
    float *vs = dev_bits(dxs), *vz = dev_bits(dxz);
    double num = 0, den = 0;
    for (int64_t i = 0; i < B * Cin * T; i++) {
      double dv = (double)vs[i] - vz[i];
      num += dv * dv, den += (double)vz[i] * vz[i];
    }
    free(vs), free(vz);
    const double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    note(" written vs fill and add on the device: %lld of %lld values differ (%.1e)", (long long)bad,
         (long long)(B * Cin * T), rel);
    if (!(rel <= 1e-6)) g_case_bad = 1; /* NaN fails too */
    case_end();
  }
#undef CV_DIMS
  bufs_free();
}

static void c_conv(int64_t B, int64_t Cin, int64_t T, int64_t Cout, int64_t K, int stride, int pad, int groups,
                   int bias) {
  c_conv_dt(B, Cin, T, Cout, K, stride, pad, groups, bias, 0, 0);
}

static void c_weightnorm(int nd, int64_t a, int64_t b, int64_t c, int dim) {
  int64_t ne[3] = {a, b, c}, n = a * b * (nd == 3 ? c : 1), m = ne[dim];
  case_begin("weightnorm", "v=(%lld,%lld%s%lld) dim=%d (fwd+bwd)", (long long)a, (long long)b, nd == 3 ? "," : "",
             nd == 3 ? (long long)c : 0LL, dim);
  hb *v = mk(n, I_RAND), *g = mk(m, I_RAND), *w = mk(n, I_NAN), *nm = mk(m, I_NAN), *dw = mk(n, I_RAND),
     *dv = mk(n, I_RAND), *dg = mk(m, I_RAND);
  int64_t gs[3] = {1, 1, 1};
  gs[dim] = m;
  BOTH(d) {
    tensor V = tv(v, d, nd, a, b, c, 0), W = tv(w, d, nd, a, b, c, 0), G = tv(g, d, nd, gs[0], gs[1], gs[2], 0),
           NM = tv(nm, d, nd, gs[0], gs[1], gs[2], 0);
    RUN(d, op_weightnorm(g_be[d], &V, &G, &W, &NM, dim, &g_e));
  }
  cmp("w", w);
  cmp("norm", nm);
  up(nm);
  BOTH(d) {
    tensor V = tv(v, d, nd, a, b, c, 0), G = tv(g, d, nd, gs[0], gs[1], gs[2], 0),
           NM = tv(nm, d, nd, gs[0], gs[1], gs[2], 0), DW = tv(dw, d, nd, a, b, c, 0), DV = tv(dv, d, nd, a, b, c, 0),
           DG = tv(dg, d, nd, gs[0], gs[1], gs[2], 0);
    RUN(d, op_weightnorm_bwd(g_be[d], &V, &G, &NM, &DW, &DV, &DG, dim, &g_e));
  }
  cmp("dv", dv);
  cmp("dg", dg);
  case_end();
  bufs_free();
}

static void c_embed(int64_t V, int64_t C, int64_t N) {
  case_begin("embed", "V=%lld C=%lld N=%lld (repeated ids; fwd+bwd)", (long long)V, (long long)C, (long long)N);
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)N);
  for (int64_t i = 0; i < N; i++) ids[i] = i % 3 == 0 ? 1 : rnd_int((int)V);
  hb *t = mk(V * C, I_RAND), *o = mk(N * C, I_NAN), *g = mk(N * C, I_RAND), *dt = mk(V * C, I_RAND);
  BOTH(d) {
    tensor Tb = tv(t, d, 2, V, C, 0, 0), O = tv(o, d, 2, N, C, 0, 0), G = tv(g, d, 2, N, C, 0, 0),
           DT = tv(dt, d, 2, V, C, 0, 0);
    RUN(d, op_embed(g_be[d], &Tb, ids, &O, &g_e));
    RUN(d, op_embed_bwd(g_be[d], ids, &G, &DT, &g_e));
  }
  cmp("out", o);
  cmp("dtable", dt);
  free(ids);
  case_end();
  bufs_free();
}

/* rows of src written into distinct rows of dst; the other rows keep their values */
static void c_set_rows(int64_t M, int64_t C, int64_t N) {
  case_begin("set_rows", "M=%lld C=%lld N=%lld (distinct, shuffled ids)", (long long)M, (long long)C, (long long)N);
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)M);
  for (int64_t i = 0; i < M; i++) ids[i] = (int32_t)i;
  for (int64_t i = M - 1; i > 0; i--) { /* shuffle, take the first N */
    int64_t j = rnd_int((int)(i + 1));
    int32_t t = ids[i];
    ids[i] = ids[j], ids[j] = t;
  }
  hb *src = mk(N * C, I_RAND), *dst = mk(M * C, I_RAND);
  BOTH(d) {
    tensor S = tv(src, d, 2, N, C, 0, 0), D = tv(dst, d, 2, M, C, 0, 0);
    RUN(d, op_set_rows(g_be[d], &S, ids, &D, &g_e));
  }
  cmp("dst", dst);
  free(ids);
  case_end();
  bufs_free();
}

/* decoding's token choice: tokens must agree, log-probs within tolerance */
static void c_sample(int64_t R, int64_t V, float temperature, int64_t top_k, float top_p, int ties) {
  case_begin("sample", "R=%lld V=%lld temperature=%g top_k=%lld top_p=%g%s (bans: tail ids, one id, one per row)",
             (long long)R, (long long)V, (double)temperature, (long long)top_k, (double)top_p,
             ties ? " logits on a half-unit grid" : "");
  hb *z = mk(R * V, I_RAND);
  for (int64_t i = 0; i < R * V; i++) z->c[i] *= 4.0f; /* peaked enough for the bans to matter */
  if (ties) /* runs of equal logits across every cut */
    for (int64_t i = 0; i < R * V; i++) z->c[i] = (float)(int)(z->c[i] * 2.0f) * 0.5f;
  z->c[3] = 40.0f;                                    /* row 0's favourite is banned below */
  up(z);
  int32_t *ban_row = malloc(sizeof(int32_t) * (size_t)R), *tok[2];
  double *u = malloc(sizeof(double) * (size_t)R);
  float *lp[2];
  for (int64_t r = 0; r < R; r++) {
    ban_row[r] = r == 0 ? 3 : (r % 2 ? -1 : rnd_int((int)V));
    u[r] = (double)(rnd_u64() >> 11) / 9007199254740992.0; /* [0, 1) */
  }
  sample_req q = {temperature, V - 5, 7, ban_row, u, top_k, top_p};
  BOTH(d) {
    tok[d] = malloc(sizeof(int32_t) * (size_t)R);
    lp[d] = malloc(sizeof(float) * (size_t)R);
    tensor Z = tv(z, d, 2, R, V, 0, 0);
    RUN(d, op_sample(g_be[d], &Z, &q, tok[d], lp[d], &g_e));
  }
  int same = 0;
  for (int64_t r = 0; r < R; r++) {
    same += tok[0][r] == tok[1][r];
    /* row r's bans: the tail ids (n_real = V - 5), id 7, and its own ban_row[r] (id 3 in row 0) */
    if (tok[0][r] == ban_row[r] || tok[0][r] == 7 || tok[0][r] >= V - 5)
      note(" [cpu drew banned id %d in row %lld]", tok[0][r], (long long)r), g_case_bad = 1;
  }
  if (same != R) note(" [%lld of %lld tokens differ]", (long long)(R - same), (long long)R), g_case_bad = 1;
  cmp_vals("logp", lp[0], lp[1], R);
  for (int d = 0; d < 2; d++) free(tok[d]), free(lp[d]);
  free(ban_row), free(u);
  case_end();
  bufs_free();
}

static void c_framecat(int64_t B, int64_t T, int64_t C, int k) {
  int64_t To = T / k;
  case_begin("framecat", "B=%lld T=%lld C=%lld k=%d (fwd+bwd)", (long long)B, (long long)T, (long long)C, k);
  hb *x = mk(B * T * C, I_RAND), *y = mk(B * To * k * C, I_NAN), *g = mk(B * To * k * C, I_RAND),
     *dx = mk(B * T * C, I_RAND);
  BOTH(d) {
    tensor X = tv(x, d, 3, B, T, C, 0), Y = tv(y, d, 3, B, To, k * C, 0), G = tv(g, d, 3, B, To, k * C, 0),
           DX = tv(dx, d, 3, B, T, C, 0);
    RUN(d, op_framecat(g_be[d], &X, &Y, k, &g_e));
    RUN(d, op_framecat_bwd(g_be[d], &G, &DX, k, &g_e));
  }
  cmp("y", y);
  cmp("dx", dx);
  case_end();
  bufs_free();
}

static void c_transpose(int64_t B, int64_t R, int64_t C) {
  case_begin("transpose", "B=%lld R=%lld C=%lld (fwd+bwd)", (long long)B, (long long)R, (long long)C);
  hb *x = mk(B * R * C, I_RAND), *y = mk(B * R * C, I_NAN), *g = mk(B * R * C, I_RAND), *dx = mk(B * R * C, I_RAND);
  BOTH(d) {
    tensor X = B > 1 ? tv(x, d, 3, B, R, C, 0) : tv(x, d, 2, R, C, 0, 0);
    tensor Y = B > 1 ? tv(y, d, 3, B, C, R, 0) : tv(y, d, 2, C, R, 0, 0);
    tensor G = B > 1 ? tv(g, d, 3, B, C, R, 0) : tv(g, d, 2, C, R, 0, 0);
    tensor DX = B > 1 ? tv(dx, d, 3, B, R, C, 0) : tv(dx, d, 2, R, C, 0, 0);
    RUN(d, op_transpose(g_be[d], &X, &Y, &g_e));
    RUN(d, op_transpose_bwd(g_be[d], &G, &DX, &g_e));
  }
  cmp("y", y);
  cmp("dx", dx);
  case_end();
  bufs_free();
}

static void c_stats_pool(int64_t B, int64_t C, int64_t T, int with_lens) {
  case_begin("stats_pool", "B=%lld C=%lld T=%lld lens=%d (fwd+bwd)", (long long)B, (long long)C, (long long)T,
             with_lens);
  int32_t *lens = malloc(sizeof(int32_t) * (size_t)B);
  for (int64_t b = 0; b < B; b++) lens[b] = b == 0 ? (int32_t)T : 1 + rnd_int((int)T);
  hb *x = mk(B * C * T, I_RAND), *y = mk(B * 2 * C, I_NAN), *g = mk(B * 2 * C, I_RAND), *dx = mk(B * C * T, I_RAND);
  const int32_t *L = with_lens ? lens : NULL;
  BOTH(d) {
    tensor X = tv(x, d, 3, B, C, T, 0), Y = tv(y, d, 2, B, 2 * C, 0, 0);
    RUN(d, op_stats_pool(g_be[d], &X, L, &Y, 1e-5f, &g_e));
  }
  cmp("y", y);
  up(y);
  BOTH(d) {
    tensor X = tv(x, d, 3, B, C, T, 0), Y = tv(y, d, 2, B, 2 * C, 0, 0), G = tv(g, d, 2, B, 2 * C, 0, 0),
           DX = tv(dx, d, 3, B, C, T, 0);
    RUN(d, op_stats_pool_bwd(g_be[d], &X, L, &Y, &G, &DX, &g_e));
  }
  cmp("dx", dx);
  free(lens);
  case_end();
  bufs_free();
}

static void c_xent(int64_t N, int64_t V, int ignore, int weights, float gs, int want_losses) {
  case_begin("xent", "N=%lld V=%lld ignored=%d weights=%d grad_scale=%g losses=%d", (long long)N, (long long)V,
             ignore, weights, gs, want_losses);
  int32_t *t = malloc(sizeof(int32_t) * (size_t)N);
  float *w = malloc(sizeof(float) * (size_t)N), *lc = malloc(sizeof(float) * (size_t)N),
        *lg = malloc(sizeof(float) * (size_t)N);
  for (int64_t i = 0; i < N; i++) {
    t[i] = rnd_int((int)V);
    w[i] = 0.25f + fabsf(rnd_f());
    lc[i] = lg[i] = NAN;
  }
  if (ignore && N > 2) {
    t[1] = -1;
    if (weights) w[N - 1] = 0.0f;
  }
  hb *x = mk(N * V, I_RAND);
  for (int64_t i = 0; i < N * V; i++) x->c[i] *= 6.0f;
  up(x);
  BOTH(d) {
    tensor X = tv(x, d, 2, N, V, 0, 0);
    RUN(d, op_xent(g_be[d], &X, t, weights ? w : NULL, want_losses ? (d ? lg : lc) : NULL, gs, &g_e));
  }
  if (want_losses) cmp_vals("losses", lc, lg, N);
  cmp(gs != 0.0f ? "dlogits" : "logits", x);
  free(t);
  free(w);
  free(lc);
  free(lg);
  case_end();
  bufs_free();
}

static void c_optim(int64_t n) {
  case_begin("adamw", "n=%lld (3 steps, wd=0.1)", (long long)n);
  hb *p = mk(n, I_RAND), *g = mk(n, I_RAND), *m = mk(n, I_RAND), *v = mk(n, I_POS);
  for (int64_t t = 1; t <= 3; t++) BOTH(d) {
      RUN(d, op_adamw(g_be[d], d ? p->g : p->c, d ? g->g : g->c, d ? m->g : m->c, d ? v->g : v->c, n, 1e-3f, 0.9f,
                      0.999f, 1e-8f, 0.1f, t, &g_e));
    }
  cmp("p", p);
  cmp("m", m);
  cmp("v", v);
  case_end();
  case_begin("sumsq", "n=%lld", (long long)n);
  hb *x = mk(n, I_RAND);
  double sc = op_sumsq(g_be[0], x->c, n), sg = op_sumsq(g_be[1], x->g, n);
  float a = (float)sc, b = (float)sg;
  cmp_vals("sumsq", &a, &b, 1);
  case_end();
  bufs_free();
}

/* AdamW over runs of one flat buffer of n values (as pset_adamw: gaps between runs for frozen
 * tensors and alignment, an empty run, decay alternating), 3 steps on both backends; then on the
 * device alone, op_adamw_runs against one op_adamw per run from the same state: the same bits
 * (one launch over the runs' concatenation, on CUDA, against one launch each) */
static void c_optim_runs(int64_t n) {
  case_begin("adamw_runs", "n=%lld (6 runs, gaps, 3 steps, wd=0.1)", (long long)n);
  const int64_t q = n / 4;
  const adamw_run runs[] = {{0, q, 1}, {q, 0, 0}, {q, q - 3, 0}, {2 * q, 1, 1}, {2 * q + 5, q - 7, 1},
                            {3 * q + 1, n - 3 * q - 1, 0}};
  const int nr = (int)(sizeof runs / sizeof runs[0]);
  hb *p = mk(n, I_RAND), *g = mk(n, I_RAND), *m = mk(n, I_RAND), *v = mk(n, I_POS);
  hb *p2 = mk(n, I_RAND), *m2 = mk(n, I_RAND), *v2 = mk(n, I_POS);
  memcpy(p2->c, p->c, sizeof(float) * (size_t)n), memcpy(m2->c, m->c, sizeof(float) * (size_t)n);
  memcpy(v2->c, v->c, sizeof(float) * (size_t)n);
  up(p2), up(m2), up(v2);
  for (int64_t t = 1; t <= 3; t++) {
    BOTH(d) {
      RUN(d, op_adamw_runs(g_be[d], d ? p->g : p->c, d ? g->g : g->c, d ? m->g : m->c, d ? v->g : v->c, runs, nr,
                           1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, t, &g_e));
    }
    for (int r = 0; r < nr; r++) {
      const int64_t o = runs[r].off;
      RUN(1, op_adamw(g_be[1], p2->g + o, g->g + o, m2->g + o, v2->g + o, runs[r].n, 1e-3f, 0.9f, 0.999f, 1e-8f,
                      runs[r].decay ? 0.1f : 0.0f, t, &g_e));
    }
  }
  cmp("p", p);
  cmp("m", m);
  cmp("v", v);
  const int64_t bad = bits_differ(p, p2, 0) + bits_differ(m, m2, 0) + bits_differ(v, v2, 0);
  note(" runs vs one call per run on the device: %lld of %lld values differ", (long long)bad, (long long)(3 * n));
  if (bad) g_case_bad = 1;
  case_end();
  bufs_free();
}

int main(int argc, char **argv) {
  /* an optional argument runs only the groups whose op names contain it, e.g. "attention" */
  g_filter = argc > 1 ? argv[1] : NULL;
  ts_err e = {0};
  g_be[0] = be_cpu();
  /* TSASR_OPS_DEVICE=cpu compares the CPU backend with itself and =devsim with the simulated
   * device: both check the harness (shapes, poisoning, comparisons, uploads) on a machine
   * without a GPU; every error must then be 0. */
  const char *dev = getenv("TSASR_OPS_DEVICE") ? getenv("TSASR_OPS_DEVICE") : "cuda";
  int self = !strcmp(dev, "cpu") || !strcmp(dev, "devsim");
  if (self) g_tol = 0.0;
  /* TSASR_OPS_TOL: another tolerance against a GPU, for runs in the bf16 precision (run.sh) */
  const char *tol = getenv("TSASR_OPS_TOL");
  if (!self && tol && atof(tol) > 0) g_tol = atof(tol);
  g_be[1] = !strcmp(dev, "cpu") ? be_cpu() : !strcmp(dev, "devsim") ? be_devsim() : be_cuda(&e);
  if (!g_be[1]) {
    fprintf(stderr, "test_backend_ops: no CUDA backend: %s\n", e.msg);
    return 2;
  }
  be_info info;
  be_get_info(&info);
  printf("test_backend_ops: cpu (%s, %d threads) vs %s (%s), tolerance %.0e\n", info.blas, info.omp_threads,
         self ? dev : "cuda", self ? "self-test" : info.cuda_device_name, g_tol);

  G("elementwise fill", c_elem(1));
  G("elementwise fill", c_elem(1037));
  G("elementwise fill", c_elem(300001));
  G("mul_bwd", c_mul_bwd(777, 1, 1));
  G("mul_bwd", c_mul_bwd(777, 1, 0));
  G("mul_bwd", c_mul_bwd(777, 0, 1));
  G("act swiglu softmax", c_act(13, 37));
  G("act swiglu softmax", c_act(3, 4099));
  /* matmul: plain, folded batch, batched B, transposes, bias, beta */
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      G("matmul", c_matmul(1, 0, 0, 7, 13, 5, ta, tb, 0, 0.0f));
      G("matmul", c_matmul(3, 1, 0, 9, 17, 11, ta, tb, 1, 0.0f));
      G("matmul", c_matmul(3, 1, 1, 6, 10, 15, ta, tb, 1, 0.5f));
      G("matmul", c_matmul(2, 1, 1, 33, 64, 1, ta, tb, 0, 1.0f));
    }
  G("matmul", c_matmul(4, 1, 0, 128, 896, 136, 0, 1, 1, 0.0f));
  /* GEMMs onto a residual: the one-GEMM forms (cuBLASLt's C read, D written), few rows (the
   * small-row kernel), a batched B and a transposed A (copy first), r = c, bias or not, and the
   * bf16 x on the weights' copy (the encoder's FFN down projection in the bf16 precision) */
  G("matmul", c_matmul_res(4, 1, 0, 128, 896, 136, 0, 1, 1, 0, 0));
  G("matmul", c_matmul_res(3, 1, 0, 37, 64, 96, 0, 1, 0, 0, 0));
  G("matmul", c_matmul_res(1, 0, 0, 2, 256, 100, 0, 1, 1, 0, 0));
  G("matmul", c_matmul_res(3, 1, 1, 6, 10, 15, 0, 1, 1, 0, 0));
  G("matmul", c_matmul_res(1, 0, 0, 9, 17, 11, 1, 0, 1, 0, 0));
  G("matmul", c_matmul_res(4, 1, 0, 128, 896, 136, 0, 1, 1, 1, 0));
  G("bf16_acts", c_matmul_res(1, 0, 0, 300, 896, 1152, 0, 1, 1, 0, 1));
  G("bf16_acts", c_matmul_res(1, 0, 0, 37, 96, 40, 0, 1, 0, 1, 1));
  /* dA written (op_matmul_bwd_set) over NaN: each transpose form, folded and batched, and the
   * bf16 path with the weights hint (bf16_acts) */
  g_mm_set = 1;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      G("matmul", c_matmul(3, 1, 0, 9, 17, 11, ta, tb, 1, 0.0f));
      G("matmul", c_matmul(3, 1, 1, 6, 10, 15, ta, tb, 1, 0.5f));
    }
  G("matmul", c_matmul(4, 1, 0, 128, 896, 136, 0, 1, 1, 0.0f));
  G("bf16_acts", c_matmul_x16(37, 96, 40, 1));
  G("bf16_acts", c_matmul_x16(300, 896, 1152, 1));
  g_mm_set = 0;
  /* few rows against a (N, K) weight, as a decoding step's x W^T of G rows: 1 to 16 rows (each
   * row bound of cuda's small-row kernel: 1, 2, 4, 8, 16), folded batch rows, K not a multiple
   * of 4 (cuBLAS then), bias, beta, a wide N and one narrower than a tile */
  G("matmul", c_matmul(1, 0, 0, 8, 896, 4864, 0, 1, 1, 0.0f));
  G("matmul", c_matmul(2, 1, 0, 3, 130, 300, 0, 1, 1, 0.5f));
  G("matmul", c_matmul(1, 0, 0, 1, 1000, 33, 0, 1, 0, 1.0f));
  G("matmul", c_matmul(1, 0, 0, 13, 200, 77, 0, 1, 1, 0.0f));
  G("matmul", c_matmul(1, 0, 0, 16, 64, 40000, 0, 1, 0, 0.0f));
  G("matmul", c_matmul(2, 1, 0, 1, 256, 100, 0, 1, 1, 0.5f));
  G("matmul", c_matmul(1, 0, 0, 1, 64, 5, 0, 1, 1, 0.0f));
  /* the same with the weights' bf16 copy: a decoding step (8 rows), a prefill (2 x 150 rows),
   * one row at an odd offset in the copy, beta, and a weight the copy does not cover */
  G("matmul", c_matmul_wbf(1, 8, 896, 4864, 0, 1, 1, 0.0f));
  G("matmul", c_matmul_wbf(2, 150, 896, 1000, 64, 1, 1, 0.5f));
  G("matmul", c_matmul_wbf(1, 1, 64, 5, 3, 1, 0, 1.0f));
  G("matmul", c_matmul_wbf(2, 4, 96, 50, 16, 0, 1, 0.0f));
  G("layernorm_act", c_norm_act(300, 512, 1, ACT_GELU)); /* a feature layer's rows */
  G("layernorm_act", c_norm_act(33, 96, 0, ACT_GELU));   /* no affine: the positional stack */
  G("layernorm_act", c_norm_act(7, 130, 1, ACT_SILU));
  G("layernorm_act", c_norm_act(2050, 512, 1, ACT_GELU)); /* rows enough for the warp-per-row form (vec) */
    G("layernorm rmsnorm", c_norm(5, 7, 1));
  G("layernorm rmsnorm", c_norm(33, 96, 0));
  G("layernorm rmsnorm", c_norm(3, 1000, 1));
  G("layernorm rmsnorm", c_norm(64, 896, 1));
  G("layernorm rmsnorm", c_norm(1100, 1000, 1)); /* the warp-per-row forms (vec): 1,024 rows or more */
  G("layernorm rmsnorm", c_rms_inplace(8, 896));
  /* dx onto a residual's gradient and written (the layers' backwards since session 21): the
   * block-per-row forms, and rows enough for the warp-per-row ones (vec) */
  for (int rms = 0; rms < 2; rms++)
    for (int set = 0; set < 2; set++) {
      G("layernorm rmsnorm", c_norm_bwd_to(37, 896, rms, set));
      G("layernorm rmsnorm", c_norm_bwd_to(1100, 1024, rms, set));
    }
  G("layernorm rmsnorm", c_norm(4, 320000, 0)); /* few long rows: CUDA's split passes (the waveform normalisation) */
  G("layernorm rmsnorm", c_norm(2, 70001, 1));  /* the same, affine, a short last chunk */
  /* bf16 activation storage: the outputs, and GEMMs on a bf16 x with and without the copy */
  G("bf16_acts", c_out16(37, 96));
  G("bf16_acts", c_out16(5, 896));
  G("bf16_acts", c_matmul_x16(37, 96, 40, 0));
  G("bf16_acts", c_matmul_x16(37, 96, 40, 1));
  G("bf16_acts", c_matmul_x16(300, 896, 1152, 1));
  G("bf16_acts", c_conv_dt(2, 6, 20, 6, 5, 2, 2, 3, 1, 1, 0)); /* a conv stack's inner input in bf16 */
  G("bf16_acts", c_conv_dt(3, 5, 9, 7, 1, 1, 0, 1, 1, 1, 0));  /* K = 1: through im2col then */
  G("bf16_acts", c_conv_dt(2, 64, 400, 64, 3, 2, 0, 1, 1, 1, 0));
  G("bf16_acts", c_conv_dt(2, 64, 400, 48, 3, 2, 0, 1, 1, 1, 1)); /* channels-last taps on bf16 operands */
  G("bf16_acts", c_conv_dt(2, 6, 20, 6, 5, 2, 2, 3, 1, 1, 1));    /* channels-last rows from a bf16 x */
  G("groupnorm", c_groupnorm(2, 6, 11, 3, 1));
  G("groupnorm", c_groupnorm(1, 8, 5, 8, 0));
  G("groupnorm", c_groupnorm(3, 4, 70, 1, 1));
  G("layernorm_ch", c_layernorm_ch(2, 512, 70, 1, 0)); /* a conv feature layer's channels */
  G("layernorm_ch", c_layernorm_ch(3, 5, 33, 0, 1));   /* no affine, dx = dy */
  G("layernorm_ch", c_layernorm_ch(4, 300, 1000, 1, 1)); /* 32 blocks of steps a row (dw, db's partials), dx = dy */
  {
    G("attention", c_attn(2, 7, 7, 3, 3, 8, 0, NULL, NULL, 0));
    G("attention", c_attn(2, 9, 9, 4, 2, 16, 1, NULL, NULL, 0));
    int32_t p0[1] = {8};
    G("attention", c_attn(1, 5, 13, 7, 1, 8, 1, NULL, p0, 0));
    int32_t kl[3] = {11, 4, 0};
    G("attention", c_attn(3, 6, 11, 2, 2, 12, 0, kl, NULL, 1));
    /* grad_set: with a bias (its gradient still added; a row with no key) and a causal grouped
     * shape (SDPA's in bf16) */
    g_attn_set = 1;
    G("attention", c_attn(3, 6, 11, 2, 2, 12, 0, kl, NULL, 1));
    G("attention", c_attn(2, 67, 67, 14, 2, 64, 1, NULL, NULL, 0));
    g_attn_set = 0;
    int32_t kl2[2] = {10, 5}, p02[2] = {6, 2};
    G("attention", c_attn(2, 4, 10, 4, 2, 8, 1, kl2, p02, 1));
    G("attention", c_attn(2, 67, 67, 14, 2, 64, 1, NULL, NULL, 0));
    G("attention keep", c_attn_keep(2, 67, 14, 2, 64, 1, NULL)); /* the LLM's: causal, grouped */
    int32_t kl_keep[2] = {50, 31};
    G("attention keep", c_attn_keep(2, 50, 4, 4, 64, 0, kl_keep)); /* the encoder's: padded */
    /* score rows of 1,000 and 3,000 keys: the register softmax with 4 and 16 values a thread */
    int32_t kl11[2] = {1000, 613};
    G("attention", c_attn(2, 9, 1000, 2, 2, 32, 0, kl11, NULL, 0));
    G("attention", c_attn(1, 5, 3000, 2, 1, 16, 0, NULL, NULL, 1));
    int32_t kl3[2] = {40, 67};
    G("attention", c_attn(2, 67, 67, 14, 14, 64, 0, kl3, NULL, 1));
    /* shapes the tensor-core flash kernels take (bf16 precision with TSASR_CUDA_FLASH=1; in f32
     * the batched-GEMM path): an encoder's padded bidirectional rows (with a row of no key),
     * queries after cached keys, head dim 128, more than one 128-query block. The group name
     * "flash" runs only these (run.sh's sanitizer passes with the flash kernels on) */
    int32_t kl9[3] = {130, 37, 0}, kl10[2] = {150, 100}, p010[2] = {80, 20};
    G("attention flash", c_attn(3, 130, 130, 4, 4, 64, 0, kl9, NULL, 0));
    G("attention flash", c_attn(2, 70, 150, 3, 1, 64, 1, kl10, p010, 0));
    G("attention flash", c_attn(2, 70, 150, 4, 2, 128, 1, kl10, p010, 0));
    /* Qwen2.5-0.5B's heads over a 300-token causal sequence: three 128-query blocks, three
     * 128-key dK/dV blocks of which the last sees only part of its first query tile */
    G("attention flash", c_attn(1, 300, 300, 14, 2, 64, 1, NULL, NULL, 0));
    /* GRPO's completions over their prompt's keys and their own (the shared-prefix layout,
     * decoder.h): queries at the prompt's length, the keys padded past prompt + completion */
    int32_t kl12[2] = {130, 101}, p012[2] = {70, 61};
    G("attention", c_attn(2, 60, 140, 14, 2, 64, 1, kl12, p012, 0));
    /* a decoding step of Qwen2.5-0.5B's shape: one query over a long cache (Tk > 256) */
    int32_t kl5[2] = {1100, 700}, p05[2] = {1099, 699};
    G("attention", c_attn(2, 1, 1100, 14, 2, 64, 1, kl5, p05, 0));
    /* the fused one-query path with an additive bias, GQA 7 and a row with no visible key */
    int32_t kl6[3] = {37, 0, 5};
    G("attention", c_attn(3, 1, 37, 7, 1, 16, 0, kl6, NULL, 1));
    int32_t p03[1] = {0}, kl4[1] = {1};
    G("attention", c_attn(1, 1, 1, 2, 1, 4, 1, kl4, p03, 0));
    /* one query with D = 160: the fused kernel's O = P V in two column passes (128 + 32), and
     * one over the longest cache it takes (11,000 keys: its shared memory at the launch limit) */
    int32_t kl8[2] = {300, 123}, p08[2] = {299, 122};
    G("attention", c_attn(2, 1, 300, 4, 2, 160, 1, kl8, p08, 1));
    G("attention", c_attn(1, 1, 11000, 2, 1, 64, 0, NULL, NULL, 0));
    /* the CUDA backend takes batch rows in chunks of batched GEMMs: chunks of 2 + 1 and of 1
     * (the setter is a no-op against the CPU or devsim) */
    int32_t kl7[3] = {50, 20, 0}, p07[3] = {0, 10, 3};
    for (int rows = 2; rows >= 1; rows--) {
      int set = cuda_set_attn_rows(rows) == TS_OK;
      if (set) printf("attention: %d batch row(s) per chunk\n", rows);
      G("attention", c_attn(3, 50, 50, 6, 2, 32, 0, kl7, NULL, 1));
      G("attention", c_attn(3, 20, 50, 6, 6, 16, 1, kl7, p07, 0));
      cuda_set_attn_rows(0);
    }
  }
  G("rope", c_rope(2, 7, 3, 8, 0));
  G("rope", c_rope(1, 33, 14, 64, 4000));
  G("split_heads", c_heads(2, 7, 3, 1, 8, 1));
  G("split_heads", c_heads(1, 33, 14, 2, 64, 1)); /* Qwen2.5-0.5B heads */
  G("split_heads", c_heads(8, 1, 14, 2, 64, 1));  /* a decoding step of 8 rows */
  G("split_heads", c_heads(2, 5, 4, 4, 6, 0));    /* no rotation */
  G("split_heads", c_heads_kv(8, 1, 300, 14, 2, 64)); /* a decoding step into the cache */
  G("split_heads", c_heads_kv(2, 9, 40, 3, 1, 8));    /* a prefill of 9 positions */
  G("conv1d", c_conv(2, 4, 17, 6, 3, 1, 1, 1, 1));
  G("conv1d", c_conv(2, 6, 20, 6, 5, 2, 2, 3, 1));
  G("conv1d", c_conv(1, 8, 33, 8, 3, 1, 1, 8, 0));
  G("conv1d", c_conv(3, 5, 9, 7, 1, 1, 0, 1, 1));
  G("conv1d", c_conv(2, 4, 10, 4, 4, 3, 0, 2, 0));
  G("conv1d", c_conv(1, 3, 25, 5, 2, 4, 1, 1, 1));
  G("conv1d", c_conv(2, 64, 400, 64, 3, 2, 0, 1, 1));   /* a feature extractor layer, smaller */
  G("conv1d", c_conv(2, 64, 150, 64, 19, 1, 9, 16, 1)); /* the positional convolution's form */
  G("conv1d", c_conv(2, 16, 128, 16, 128, 1, 64, 16, 1));
  G("conv1d", c_conv(1, 1, 16000, 64, 10, 5, 0, 1, 1)); /* the waveform front end's first layer, 1 s */
  G("conv1d_cl", c_conv_dt(2, 64, 400, 48, 3, 2, 0, 1, 1, 0, 1));   /* a feature layer: the taps form */
  G("conv1d_cl", c_conv_dt(2, 40, 57, 24, 2, 2, 0, 1, 0, 0, 1));    /* kernel 2, no bias */
  G("conv1d_cl", c_conv_dt(1, 36, 17, 5, 4, 1, 2, 1, 1, 0, 1));     /* taps with padding */
  G("conv1d_cl", c_conv_dt(2, 64, 150, 64, 19, 1, 9, 16, 1, 0, 1)); /* the positional convolution: rows */
  G("conv1d_cl", c_conv_dt(1, 1, 16000, 64, 10, 5, 0, 1, 1, 0, 1)); /* the first layer, 1 s: rows */
  G("conv1d_cl", c_conv_dt(2, 16, 128, 16, 128, 1, 64, 16, 1, 0, 1));
  G("conv1d_cl", c_conv_dt(2, 4, 9, 3, 3, 1, 1, 1, 1, 0, 1)); /* rows, one group, padding at both ends */
  /* the written dx's row classes (tensor/conv_cl.h): a class no tap reaches, a kernel past the
   * steps, padding 5 at stride 2, a first tap later than the class's first (tap 0 reaching no
   * row: 1 at stride 1, 2 at stride 2) */
  G("conv1d_cl", c_conv_dt(2, 32, 40, 8, 2, 3, 0, 1, 0, 0, 1));
  G("conv1d_cl", c_conv_dt(1, 32, 5, 6, 9, 1, 4, 1, 0, 0, 1));
  G("conv1d_cl", c_conv_dt(2, 32, 33, 8, 7, 2, 5, 1, 1, 0, 1));
  G("conv1d_cl", c_conv_dt(1, 32, 5, 6, 10, 1, 4, 1, 0, 0, 1));
  G("conv1d_cl", c_conv_dt(2, 32, 4, 6, 7, 2, 3, 1, 1, 0, 1));
  G("weightnorm", c_weightnorm(3, 6, 5, 4, 0));
  G("weightnorm", c_weightnorm(3, 6, 5, 4, 1));
  G("weightnorm", c_weightnorm(3, 6, 5, 4, 2));
  G("weightnorm", c_weightnorm(2, 7, 3, 1, 0));
  G("weightnorm", c_weightnorm(2, 7, 3, 1, 1));
  G("embed", c_embed(50, 12, 30));
  G("embed", c_embed(1000, 896, 77));
  G("set_rows", c_set_rows(40, 7, 13));
  G("set_rows", c_set_rows(4096, 128, 1000));
  G("sample", c_sample(5, 37, 0.0f, 0, 1.0f, 0));
  G("sample", c_sample(16, 1000, 1.0f, 0, 1.0f, 0));
  G("sample", c_sample(8, 151936, 0.7f, 0, 1.0f, 0));
  G("sample", c_sample(8, 151936, 0.0f, 0, 1.0f, 0));
  G("sample", c_sample(16, 1000, 1.0f, 20, 1.0f, 0));
  G("sample", c_sample(16, 1000, 0.8f, 0, 0.6f, 0));
  G("sample", c_sample(16, 1000, 1.0f, 30, 0.5f, 1));
  G("sample", c_sample(8, 151936, 0.7f, 50, 1.0f, 0));
  G("sample", c_sample(8, 151936, 1.0f, 0, 0.9f, 0));
  G("sample", c_sample(8, 151936, 0.7f, 40, 0.95f, 1));
  G("sample", c_sample(16, 1000, 1.0f, 100, 0.95f, 1)); /* the nucleus ends inside top-k's tie run */
  G("sample", c_sample(5, 37, 1.0f, 3, 0.9f, 1));       /* more threads than entries */
  G("sample", c_sample(8, 1000, 1.0f, 998, 0.97f, 0));  /* top_k above the eligible count */
  G("framecat", c_framecat(2, 11, 6, 2));
  G("framecat", c_framecat(3, 16, 5, 4));
  G("transpose", c_transpose(1, 37, 5));
  G("transpose", c_transpose(3, 64, 129));
  G("stats_pool", c_stats_pool(3, 5, 17, 1));
  G("stats_pool", c_stats_pool(2, 64, 200, 0));
  G("xent", c_xent(7, 33, 1, 1, 0.25f, 1));
  G("xent", c_xent(7, 33, 1, 0, 0.0f, 1));
  G("xent", c_xent(5, 1000, 1, 1, 1.0f, 0));
  G("xent", c_xent(16, 151, 0, 1, -0.5f, 1));
  G("xent", c_xent(3, 151936, 0, 1, 1.0f, 1)); /* Qwen2's vocabulary */
  G("adamw sumsq", c_optim(1));
  G("adamw sumsq", c_optim(100003));
  G("adamw", c_optim_runs(64));
  G("adamw", c_optim_runs(300007));
  G("adamw wcopy", c_wcopy(37, 96, 80)); /* K at most 4096 (its host row) */

  printf("\n%-16s %6s %6s %10s\n", "op", "cases", "failed", "max err");
  for (int i = 0; i < g_nstats; i++)
    printf("%-16s %6d %6d %10.2e\n", g_stats[i].op, g_stats[i].cases, g_stats[i].failed, g_stats[i].max_err);
  long lt_n, lt_fb; /* with TSASR_CUDA_LT=1: how many GEMMs cuBLASLt ran (run.sh wants some) */
  cuda_lt_counts(&lt_n, &lt_fb);
  if (lt_n || lt_fb) printf("cuBLASLt: %ld GEMMs, %ld on cuBLAS instead\n", lt_n, lt_fb);
  cuda_cudnn_counts(&lt_n, &lt_fb); /* the convolutions cuDNN ran (on by default where built) */
  if (lt_n || lt_fb) printf("cuDNN: %ld convolutions, %ld by im2col instead\n", lt_n, lt_fb);
  cuda_sdpa_counts(&lt_n, &lt_fb); /* attention on cuDNN's fused SDPA (TSASR_CUDA_SDPA=1) */
  if (lt_n || lt_fb) printf("cuDNN SDPA: %ld attention calls, %ld shapes it refused\n", lt_n, lt_fb);
  printf("test_backend_ops: %d cases, %d failed (tolerance %.0e normalised)\n", g_total, g_fail, g_tol);
  return g_fail ? 1 : 0;
}
