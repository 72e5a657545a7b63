/* gemm_bf16.c — the CPU's bf16 GEMM precision, on oneDNN's matmul (AMX or AVX512-BF16 kernels):
 * op(A) and op(B) are rounded to bf16 (nearest even, as f32_to_bf16), their products are exact
 * in f32 and summed in f32, and C = alpha·AB + beta·C stays f32. This is the definition cuBLAS's
 * CUBLAS_COMPUTE_32F_FAST_16BF uses on the CUDA backend (C is written once per call; a call that
 * fails part way — oneDNN refusing memory — may have written part of C, so gemm_mp's fallback
 * only follows a failure before the first write). Primitives come from oneDNN's own
 * primitive cache; each call runs with a per-thread user scratchpad, so concurrent calls (the
 * attention's per-head GEMMs inside a parallel loop) share no state. */
#include "tensor/gemm.h"
#include "tensor/cpu_act16.h"
#include "tensor/cpu_scratch.h"
#include "tensor/par.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

static atomic_long g_fallbacks, g_errors;

long gemm_bf16_fallbacks(void) { return atomic_load(&g_fallbacks); }
long gemm_bf16_errors(void) { return atomic_load(&g_errors); }

/* The stored rows x cols block of src (leading dimension ld) into dst (prows, pcols) as bf16,
 * with dst's padding zeroed (columns cols..pcols-1 and rows rows..prows-1): src f32, rounded to
 * nearest even (NaN stays NaN), or src bf16 bits already (is16: a bf16 activation or a
 * mirrored weight), copied. */
static void gemm_pack(const void *src, int is16, int rows, int cols, int ld, uint16_t *dst, int prows, int pcols) {
#pragma omp parallel for schedule(static) if ((int64_t)prows * pcols > 32768 && !par_in_parallel())
  for (int r = 0; r < prows; r++) {
    uint16_t *d = dst + (size_t)r * pcols;
    if (r >= rows) {
      memset(d, 0, sizeof *d * (size_t)pcols);
      continue;
    }
    if (is16) {
      memcpy(d, (const uint16_t *)src + (size_t)r * ld, sizeof *d * (size_t)cols);
    } else {
      const float *s = (const float *)src + (size_t)r * ld;
#pragma omp simd
      for (int c = 0; c < cols; c++) d[c] = cpu_bf16(s[c]);
    }
    if (pcols > cols) memset(d + cols, 0, sizeof *d * (size_t)(pcols - cols));
  }
}

#ifdef TS_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>

static dnnl_engine_t g_engine;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_impl[64];   /* the implementation oneDNN picked for a probe shape */
static char g_why[96];    /* why there is no bf16 GEMM */

/* Starts the engine and asks for a bf16 matmul of a probe shape: oneDNN 2.x has none below
 * AVX-512 (it refuses, where a call would then always fall back to f32). */
static void gemm_dnnl_init(void) {
  dnnl_engine_t eng = NULL;
  dnnl_memory_desc_t a_md, b_md, c_md;
  dnnl_matmul_desc_t desc;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_dims_t ad = {64, 32}, bd = {32, 64}, cd = {64, 64};
  if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success) {
    snprintf(g_why, sizeof g_why, "oneDNN did not start a CPU engine");
    return;
  }
  if (dnnl_memory_desc_init_by_tag(&a_md, 2, ad, dnnl_bf16, dnnl_ab) || dnnl_memory_desc_init_by_tag(&b_md, 2, bd, dnnl_bf16, dnnl_ab) ||
      dnnl_memory_desc_init_by_tag(&c_md, 2, cd, dnnl_f32, dnnl_ab) || dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md) ||
      dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL)) {
    snprintf(g_why, sizeof g_why, "oneDNN has no bf16 matmul for this CPU (it needs AVX-512)");
    dnnl_engine_destroy(eng);
    return;
  }
  const char *impl = NULL;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) || !impl) impl = "?";
  snprintf(g_impl, sizeof g_impl, "%s", impl);
  dnnl_primitive_desc_destroy(pd);
  /* training's lengths change every batch; each shape is a primitive of its own */
  dnnl_set_primitive_cache_capacity(4096);
  g_engine = eng;
}

int gemm_bf16_available(void) {
  pthread_once(&g_once, gemm_dnnl_init);
  return g_engine != NULL;
}

void gemm_bf16_describe(char *buf, size_t n) {
  const dnnl_version_t *v = dnnl_version();
  if (!gemm_bf16_available()) {
    snprintf(buf, n, "none (oneDNN %d.%d.%d: %s)", v->major, v->minor, v->patch, g_why);
    return;
  }
  /* brg:avx512_core_amx_bf16 (AMX), brg:avx512_core_bf16 (AVX512-BF16), gemm:jit on plain AVX-512
   * (bf16 emulated in f32 units: correct, not faster) */
  snprintf(buf, n, "oneDNN %d.%d.%d (%s%s)", v->major, v->minor, v->patch, g_impl,
           strstr(g_impl, "amx") ? ": AMX" : strstr(g_impl, "bf16") ? ": AVX512-BF16" : ": no bf16 units, not faster than f32");
}

/* One oneDNN matmul: C (M,N) f32 = alpha · a (M,K) · b (K,N) + beta · C, where a and b are bf16
 * with the given element strides (row, column). Built first for every block of a call, then run,
 * so a refusal (which comes at build time) leaves C untouched. */
typedef struct gemm_job {
  dnnl_primitive_attr_t attr;
  dnnl_post_ops_t po;
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t prim;
  dnnl_memory_desc_t md[3]; /* src, weights, dst */
  dnnl_memory_t mem[4];     /* src, weights, dst, scratchpad */
  const dnnl_memory_desc_t *pad_md; /* the scratchpad's (owned by pd), NULL when none */
  size_t pad;                       /* its bytes */
} gemm_job;

static void gemm_job_free(gemm_job *j) {
  for (int i = 0; i < 4; i++)
    if (j->mem[i]) dnnl_memory_destroy(j->mem[i]);
  if (j->prim) dnnl_primitive_destroy(j->prim);
  if (j->pd) dnnl_primitive_desc_destroy(j->pd);
  if (j->po) dnnl_post_ops_destroy(j->po);
  if (j->attr) dnnl_primitive_attr_destroy(j->attr);
  memset(j, 0, sizeof *j);
}

/* Builds the primitive; its scratchpad size goes to j->pad. */
static int gemm_job_init(gemm_job *j, int M, int N, int K, float alpha, const dnnl_dims_t as, const dnnl_dims_t bs,
                         float beta, int ldc) {
  memset(j, 0, sizeof *j);
  dnnl_dims_t ad = {M, K}, bd = {K, N}, cd = {M, N}, cs = {ldc, 1};
  dnnl_matmul_desc_t desc;
  if (dnnl_memory_desc_init_by_strides(&j->md[0], 2, ad, dnnl_bf16, as) ||
      dnnl_memory_desc_init_by_strides(&j->md[1], 2, bd, dnnl_bf16, bs) ||
      dnnl_memory_desc_init_by_strides(&j->md[2], 2, cd, dnnl_f32, cs) ||
      dnnl_matmul_desc_init(&desc, &j->md[0], &j->md[1], NULL, &j->md[2]) || dnnl_primitive_attr_create(&j->attr) ||
      dnnl_primitive_attr_set_scratchpad_mode(j->attr, dnnl_scratchpad_mode_user))
    return -1;
  if (alpha != 1.0f && dnnl_primitive_attr_set_output_scales(j->attr, 1, 0, &alpha)) return -1;
  if (beta != 0.0f &&
      (dnnl_post_ops_create(&j->po) || dnnl_post_ops_append_sum(j->po, beta) || dnnl_primitive_attr_set_post_ops(j->attr, j->po)))
    return -1;
  if (dnnl_primitive_desc_create(&j->pd, &desc, j->attr, g_engine, NULL) || dnnl_primitive_create(&j->prim, j->pd)) return -1;
  j->pad_md = dnnl_primitive_desc_query_md(j->pd, dnnl_query_scratchpad_md, 0);
  j->pad = j->pad_md ? dnnl_memory_desc_get_size(j->pad_md) : 0;
  return 0;
}

/* Binds the operands, the output and the scratchpad (at least j->pad bytes). */
static int gemm_job_bind(gemm_job *j, const uint16_t *a, const uint16_t *b, float *C, void *pad) {
  if (dnnl_memory_create(&j->mem[0], &j->md[0], g_engine, (void *)a) ||
      dnnl_memory_create(&j->mem[1], &j->md[1], g_engine, (void *)b) || dnnl_memory_create(&j->mem[2], &j->md[2], g_engine, C))
    return -1;
  return j->pad && dnnl_memory_create(&j->mem[3], j->pad_md, g_engine, pad) ? -1 : 0;
}

static int gemm_job_run(gemm_job *j, dnnl_stream_t stream) {
  dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, j->mem[0]}, {DNNL_ARG_WEIGHTS, j->mem[1]}, {DNNL_ARG_DST, j->mem[2]},
                             {DNNL_ARG_SCRATCHPAD, j->mem[3]}};
  return dnnl_primitive_execute(j->prim, stream, j->mem[3] ? 4 : 3, args) || dnnl_stream_wait(stream) ? -1 : 0;
}

/* C[r][c] = T[r][c] + beta C[r][c] over rows x cols; T (rows, ldt) */
static void gemm_combine(const float *T, int ldt, int rows, int cols, float beta, float *C, int ldc) {
  for (int r = 0; r < rows; r++) {
    const float *t = T + (size_t)r * ldt;
    float *c = C + (size_t)r * ldc;
    if (beta == 0.0f)
      memcpy(c, t, sizeof *c * (size_t)cols);
    else
      for (int j = 0; j < cols; j++) c[j] = t[j] + beta * c[j];
  }
}

/* The operand stored as rows x cols (leading dimension ld) as oneDNN gets it, prows x pcols
 * (K padded with zeros): bf16 bits stored densely and unpadded (ld == cols) are read where they
 * are; anything else (f32, strided bf16, for which oneDNN 2.6 leaves its AMX kernel for a
 * generic one, or a padded K) is packed densely into scratch slot. NULL when out of memory. */
static const uint16_t *gemm_operand(const void *src, int is16, int rows, int cols, int ld, int prows, int pcols,
                                    int slot) {
  if (is16 && ld == cols && prows == rows && pcols == cols) return src;
  uint16_t *d = (uint16_t *)cpu_scratch(slot, ((size_t)prows * pcols + 1) / 2);
  if (d) gemm_pack(src, is16, rows, cols, ld, d, prows, pcols);
  return d;
}

/* K is padded with zeros to a multiple of this (they add exact zeros to the sums): AMX takes K
 * in steps of 32 bf16, and a ragged K costs more than its padding (dW of a 298-row batch against
 * 4864 x 896: 3.59 ms at K 298, 3.10 ms at K 320). M and N are passed as they are. */
#define GEMM_KGRAIN 32

/* One primitive of the call's exact M and N (oneDNN's primitive cache keeps each shape's; a new
 * one costs ~0.1-1 ms, against padded shapes' extra rows: a 300-row GEMM padded to 320 ran its
 * 44 ragged rows as a second 64-row pass over all of B). C is written directly when it is dense
 * (ldc == N; the AMX kernels need that), otherwise through a dense block in scratch. */
static int gemm_bf16_run(int ta, int tb, int M, int N, int K, float alpha, const void *A, int a16, int lda,
                         const void *B, int b16, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return 0;
  if (K <= 0 || alpha == 0.0f) { /* nothing to multiply: C = beta C, as BLAS defines it (A and B unread) */
    gemm_f32_builtin(ta, tb, M, N, 0, alpha, NULL, lda, NULL, ldb, beta, C, ldc);
    return 0;
  }
  if (!gemm_bf16_available()) return -1;
  int Kp = (K + GEMM_KGRAIN - 1) / GEMM_KGRAIN * GEMM_KGRAIN;
  /* stored dims: a (M,K), or (K,M) when ta; b (K,N), or (N,K) when tb; then with K padded */
  int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
  int par = ta ? Kp : M, pac = ta ? M : Kp, pbr = tb ? N : Kp, pbc = tb ? Kp : N;
  const uint16_t *a = gemm_operand(A, a16, ar, ac, lda, par, pac, SCRATCH_GEMM_A);
  const uint16_t *b = gemm_operand(B, b16, br, bc, ldb, pbr, pbc, SCRATCH_GEMM_B);
  if (!a || !b) return -1;
  /* element strides (row, column) of op(a) and op(b), both dense */
  dnnl_dims_t as = {ta ? 1 : pac, ta ? pac : 1}, bs = {tb ? 1 : pbc, tb ? pbc : 1};
  int direct = ldc == N;
  float *T = direct ? C : cpu_scratch(SCRATCH_GEMM_EDGE, (size_t)M * N);
  if (!T) return -1;
  gemm_job job;
  int rc = gemm_job_init(&job, M, N, Kp, alpha, as, bs, direct ? beta : 0.0f, N);
  void *scr = NULL;
  if (!rc && job.pad && !(scr = cpu_scratch(SCRATCH_GEMM_PAD, job.pad / sizeof(float) + 1))) rc = -1;
  if (!rc) rc = gemm_job_bind(&job, a, b, T, scr);
  dnnl_stream_t stream = NULL;
  if (!rc && dnnl_stream_create(&stream, g_engine, dnnl_stream_default_flags)) rc = -1;
  if (!rc) { /* from here on C is written: oneDNN's CPU matmul refuses at build time, not here */
    rc = gemm_job_run(&job, stream) ? (direct ? -2 : -1) : 0; /* through T, C is still untouched */
    if (!direct && !rc) gemm_combine(T, N, M, N, beta, C, ldc);
  }
  if (stream) dnnl_stream_destroy(stream);
  gemm_job_free(&job);
  return rc;
}

int gemm_bf16_ex(int ta, int tb, int M, int N, int K, float alpha, const void *A, int a16, int lda, const void *B,
                 int b16, int ldb, float beta, float *C, int ldc) {
  int rc = gemm_bf16_run(ta, tb, M, N, K, alpha, A, a16, lda, B, b16, ldb, beta, C, ldc);
  if (rc) atomic_fetch_add(rc == -1 ? &g_fallbacks : &g_errors, 1);
  return rc;
}

int gemm_bf16(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
  return gemm_bf16_ex(ta, tb, M, N, K, alpha, A, 0, lda, B, 0, ldb, beta, C, ldc);
}

#else /* no oneDNN in this build */

int gemm_bf16_available(void) { return 0; }

void gemm_bf16_describe(char *buf, size_t n) { snprintf(buf, n, "none (built without oneDNN 2.x, libdnnl-dev)"); }

int gemm_bf16(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
  (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb, (void)beta,
      (void)C, (void)ldc;
  atomic_fetch_add(&g_fallbacks, 1);
  return -1;
}

int gemm_bf16_ex(int ta, int tb, int M, int N, int K, float alpha, const void *A, int a16, int lda, const void *B,
                 int b16, int ldb, float beta, float *C, int ldc) {
  (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)a16, (void)lda, (void)B, (void)b16,
      (void)ldb, (void)beta, (void)C, (void)ldc;
  (void)gemm_pack;
  atomic_fetch_add(&g_fallbacks, 1);
  return -1;
}

#endif
