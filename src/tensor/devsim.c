/* devsim.c — a simulated device for testing device-resident code without a GPU. Its memory
 * is mapped PROT_NONE except while one of its ops or copies runs, so any host access to
 * device memory outside an op (a model loop reading an activation, a weight filled in place)
 * faults at once. Every op checks that its tensors lie inside device allocations and that
 * the arrays the op table defines as host memory (positions, ids, targets, kv_len) do not.
 * The ops themselves are the CPU kernels, so results are bitwise those of the CPU backend:
 * a model run on "devsim" must reproduce its CPU run exactly. Tensors carry DEV_SIM. */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tensor/backend.h"
#include "tensor/cpu_act16.h"
#include "tensor/cpu_ops.h"
#include "tensor/devsim.h"
#include "tensor/devsim_traffic.h"

typedef struct ds_map {
  unsigned char *p;
  size_t size; /* mapped bytes (page multiple) */
  size_t user; /* bytes asked for */
} ds_map;

static struct {
  pthread_mutex_t mu;
  ds_map *m;
  int n, cap;
  int open;            /* ops in flight (nested or concurrent); memory is RW while > 0 */
  long violations;     /* host arrays found in device memory, tensors outside it */
  char last[256];
} ds = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* 0: devsim_set_protect(0), the memory stays readable and writable */
static int g_protect = 1;

static void ds_protect_all(int prot) {
  if (!g_protect) return;
  for (int i = 0; i < ds.n; i++) mprotect(ds.m[i].p, ds.m[i].size, prot);
}

void devsim_set_protect(int on) {
  pthread_mutex_lock(&ds.mu);
  g_protect = 1; /* set every mapping as the switch now says */
  ds_protect_all(!on || ds.open ? PROT_READ | PROT_WRITE : PROT_NONE);
  g_protect = on != 0;
  pthread_mutex_unlock(&ds.mu);
}

static void ds_open(void) {
  pthread_mutex_lock(&ds.mu);
  if (ds.open++ == 0) ds_protect_all(PROT_READ | PROT_WRITE);
  pthread_mutex_unlock(&ds.mu);
}

static void ds_close(void) {
  pthread_mutex_lock(&ds.mu);
  if (--ds.open == 0) ds_protect_all(PROT_NONE);
  pthread_mutex_unlock(&ds.mu);
}

/* index of the mapping holding [p, p + n), or -1 */
static int ds_find(const void *p, size_t n) {
  const unsigned char *q = p;
  int r = -1;
  pthread_mutex_lock(&ds.mu);
  for (int i = 0; i < ds.n; i++)
    if (q >= ds.m[i].p && q + n <= ds.m[i].p + ds.m[i].user) {
      r = i;
      break;
    }
  pthread_mutex_unlock(&ds.mu);
  return r;
}

static int ds_overlaps(const void *p) {
  const unsigned char *q = p;
  int r = 0;
  pthread_mutex_lock(&ds.mu);
  for (int i = 0; i < ds.n && !r; i++) r = q >= ds.m[i].p && q < ds.m[i].p + ds.m[i].size;
  pthread_mutex_unlock(&ds.mu);
  return r;
}

static int ds_violation(const char *op, const char *what) {
  pthread_mutex_lock(&ds.mu);
  ds.violations++;
  snprintf(ds.last, sizeof ds.last, "%s: %s", op, what);
  pthread_mutex_unlock(&ds.mu);
  fprintf(stderr, "devsim: %s: %s\n", op, what);
  devsim_traffic_drop(); /* a refused op moves nothing */
  return TS_EDEVICE;
}

/* the weights the open weights hints hold unchanged, innermost last */
#define DS_HELD 16
static struct {
  const void *w;
  size_t bytes;
  int kind; /* the hint's: 1 decoding, 2 a training step */
} g_held[DS_HELD];
static int g_nheld;
/* the weights of the last training step's hint, once it closed: until they are freed, only
 * AdamW and host copies may write them (CUDA keeps its bf16 copy of them current through
 * AdamW, cuda_set_wcopy_sync, and sees host copies; any other device op writing them would
 * leave that copy stale) */
static struct {
  const void *w;
  size_t bytes;
} g_stepw;
/* a fingerprint of those weights as the training step's hint and then AdamW's runs left them
 * (they keep a device's bf16 copy current), which the next hint on them compares: a change in
 * between that no host copy, fill, copy, axpby, plain AdamW or free accounts for (a device sees
 * those and rounds anew) came from an op a device does not track, whatever the op. Host-side
 * state of one thread (the hints' caller), as g_held is. */
static struct {
  const void *w;
  size_t bytes;
  uint64_t fp;
  int set;
} g_wfp;

/* inside an open op: h carried on by FNV-1a over the n bytes at p, 8-byte words (the tail bytes
 * one by one); the fingerprints of the weights (g_wfp) and of the attention's operands (ds_fp) */
#define DS_FP0 1469598103934665603ull
static uint64_t ds_bytes_fp(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  uint64_t w;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) memcpy(&w, b + i, 8), h = (h ^ w) * 1099511628211ull;
  for (; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}
static uint64_t ds_wfp_of(const void *w, size_t bytes) {
  ds_open();
  uint64_t h = ds_bytes_fp(DS_FP0, w, bytes);
  ds_close();
  return h;
}
/* [p, p + bytes) written by something a device sees (a host copy, plain AdamW) or freed: the
 * fingerprint no longer says what the device's copy holds */
static void ds_wfp_touch(const void *p, size_t bytes) {
  uintptr_t a = (uintptr_t)p, w = (uintptr_t)g_wfp.w;
  if (g_wfp.set && bytes && a < w + g_wfp.bytes && w < a + bytes) g_wfp.set = 0;
}

/* a write of bytes at p into weights an open hint holds is reported */
static int ds_held(const char *op, const void *p, size_t bytes) {
  uintptr_t a = (uintptr_t)p;
  for (int i = 0; i < g_nheld; i++) {
    uintptr_t w = (uintptr_t)g_held[i].w;
    if (bytes && g_held[i].bytes && a < w + g_held[i].bytes && w < a + bytes)
      return ds_violation(op, "writes weights that weights_bf16 holds unchanged (the hint is still on)");
  }
  return 0;
}

/* a tensor argument (NULL allowed) must be device memory */
static int ds_t(const char *op, const tensor *t) {
  if (!t || !t->data) return 0;
  if (t->device != DEV_SIM) return ds_violation(op, "tensor not tagged as device memory");
  if (ds_find(t->data, tensor_nbytes(t)) < 0) return ds_violation(op, "tensor data outside device memory");
  devsim_traffic_operand_at(op, t->data, tensor_nbytes(t));
  return 0;
}

/* a tensor an op writes: in device memory (ds_t), not held weights, and not the last training
 * step's weights (g_stepw) */
static int ds_tw(const char *op, const tensor *t) {
  if (ds_t(op, t) || (t && t->data && ds_held(op, t->data, tensor_nbytes(t)))) return 1;
  uintptr_t a = t && t->data ? (uintptr_t)t->data : 0, w = (uintptr_t)g_stepw.w;
  size_t b = t && t->data ? tensor_nbytes(t) : 0;
  if (b && g_stepw.bytes && a < w + g_stepw.bytes && w < a + b)
    return ds_violation(op, "writes the training step's weights between steps (only AdamW and host copies may: a "
                            "device's bf16 copy of them, kept current by AdamW, would go stale)");
  ds_wfp_touch((const void *)a, b); /* CUDA's fill, copy and axpby touch its copy so */
  return 0;
}

/* a host-array argument (NULL allowed) must not be device memory */
static int ds_h(const char *op, const void *p) {
  if (p && ds_overlaps(p)) return ds_violation(op, "host array argument points into device memory");
  return 0;
}

long devsim_violations(const char **last) {
  if (last) *last = ds.last;
  return ds.violations;
}

int devsim_is_device(const void *p) { return p && ds_overlaps(p); }

static void *ds_alloc(backend *be, size_t bytes) {
  (void)be;
  size_t pg = (size_t)sysconf(_SC_PAGESIZE), size = (bytes + pg - 1) / pg * pg;
  if (!size) size = pg;
  void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  pthread_mutex_lock(&ds.mu);
  if (ds.n == ds.cap) {
    int cap = ds.cap ? 2 * ds.cap : 64;
    ds_map *nm = realloc(ds.m, sizeof *nm * (size_t)cap);
    if (!nm) {
      pthread_mutex_unlock(&ds.mu);
      munmap(p, size);
      return NULL;
    }
    ds.m = nm, ds.cap = cap;
  }
  ds.m[ds.n++] = (ds_map){p, size, bytes ? bytes : 1};
  mprotect(p, size, PROT_READ | PROT_WRITE);
  if (g_protect) { /* checking: fresh memory holds NaN bytes (a GPU's holds whatever was there) */
    memset(p, 0xff, size);
    if (!ds.open) mprotect(p, size, PROT_NONE);
  }
  pthread_mutex_unlock(&ds.mu);
  return p;
}

/* be_ops.fresh: each block a device arena hands out, while checking, holds NaN bytes, so that
 * model code reading it before writing it (a missing zero fill before an op that adds) shows
 * as NaN in the parities, whatever the arena's memory held before */
static void ds_fresh(backend *be, void *p, size_t bytes) {
  (void)be;
  if (!g_protect || !p || !bytes) return;
  /* only the block's pages are opened (outside an op every device page is closed) */
  uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), lo = (uintptr_t)p / pg * pg,
            hi = ((uintptr_t)p + bytes + pg - 1) / pg * pg;
  pthread_mutex_lock(&ds.mu);
  if (!ds.open) mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE);
  memset(p, 0xff, bytes);
  if (!ds.open) mprotect((void *)lo, hi - lo, PROT_NONE);
  pthread_mutex_unlock(&ds.mu);
}

static void ds_release(backend *be, void *p) {
  (void)be;
  if (!p) return;
  pthread_mutex_lock(&ds.mu);
  for (int i = 0; i < ds.n; i++)
    if (ds.m[i].p == p) {
      if ((uintptr_t)g_stepw.w >= (uintptr_t)p && (uintptr_t)g_stepw.w < (uintptr_t)p + ds.m[i].size)
        g_stepw.w = NULL, g_stepw.bytes = 0; /* freed: no longer anyone's weights */
      ds_wfp_touch(p, ds.m[i].size);
      munmap(p, ds.m[i].size);
      ds.m[i] = ds.m[--ds.n];
      break;
    }
  pthread_mutex_unlock(&ds.mu);
}

/* inside a decoding step that a device may record as a graph (step_graph BEGIN..END): reading
 * results back and syncing are what such a step must not do */
static int ds_in_step;

static int ds_copy_in(backend *be, void *dst, const void *src, size_t bytes, ts_err *e) {
  (void)be;
  if (!bytes) return TS_OK;
  if (ds_find(dst, bytes) < 0 || ds_overlaps(src))
    return err_set(e, TS_EDEVICE, "devsim: to_device needs a device destination and a host source"),
           ds_violation("to_device", "wrong memory kinds");
  if (ds_held("to_device", dst, bytes))
    return err_set(e, TS_EDEVICE, "devsim: to_device writes weights that weights_bf16 holds unchanged");
  ds_wfp_touch(dst, bytes);
  ds_open();
  memmove(dst, src, bytes);
  ds_close();
  return TS_OK;
}

static int ds_copy_out(backend *be, void *dst, const void *src, size_t bytes, ts_err *e) {
  (void)be;
  if (!bytes) return TS_OK;
  if (ds_find(src, bytes) < 0 || ds_overlaps(dst))
    return err_set(e, TS_EDEVICE, "devsim: to_host needs a device source and a host destination"),
           ds_violation("to_host", "wrong memory kinds");
  if (ds_in_step) return ds_violation("to_host", "a result read back inside a decoding step (step_graph)");
  ds_open();
  memmove(dst, src, bytes);
  ds_close();
  return TS_OK;
}


static int ds_step_graph(backend *be, int phase) {
  (void)be;
  if (phase == TS_STEP_BEGIN) {
    if (ds_in_step) return ds_violation("step_graph", "a step begun inside another");
    ds_in_step = 1;
  } else if (phase == TS_STEP_END) {
    if (!ds_in_step) return ds_violation("step_graph", "a step ended that had not begun");
    ds_in_step = 0;
  } else {
    ds_in_step = 0;
  }
  return TS_OK;
}

/* no replay (every step runs its ops, as on the CPU); asked for inside a step, a violation: a
 * device replays between steps */
static int ds_step_replay(backend *be, const int32_t *ids, const int32_t *n_new, int64_t B, int *mode) {
  (void)be, (void)ids, (void)n_new, (void)B;
  *mode = 0;
  if (ds_in_step) return ds_violation("step_replay", "asked for inside a decoding step (step_graph)");
  return TS_OK;
}

static int ds_sync(backend *be, ts_err *e) {
  (void)be;
  (void)e;
  if (ds_in_step) return ds_violation("sync", "inside a decoding step (step_graph)");
  return TS_OK;
}

/* Each op: check its arguments, open the memory, run the CPU kernel, close. */
#define DS_RUN(call)           \
  do {                         \
    ds_open();                 \
    int rc_ = (call);          \
    ds_close();                \
    devsim_traffic_ran();      \
    return rc_;                \
  } while (0)
#define DS_CHECK(x) \
  do {              \
    if (x) return TS_EDEVICE; \
  } while (0)

static int ds_fill(backend *be, tensor *x, float v) {
  (void)be;
  DS_CHECK(ds_tw("fill", x));
  DS_RUN(cpu_fill(be_cpu(), x, v));
}
static int ds_copy(backend *be, const tensor *s, tensor *d) {
  (void)be;
  DS_CHECK(ds_t("copy", s) || ds_tw("copy", d));
  DS_RUN(cpu_copy(be_cpu(), s, d));
}
static int ds_axpby(backend *be, const tensor *x, float a, tensor *y, float b) {
  (void)be;
  DS_CHECK(ds_t("axpby", x) || ds_tw("axpby", y));
  DS_RUN(cpu_axpby(be_cpu(), x, a, y, b));
}
static int ds_add(backend *be, const tensor *a, const tensor *b, tensor *c) {
  (void)be;
  DS_CHECK(ds_t("add", a) || ds_t("add", b) || ds_t("add", c));
  DS_RUN(cpu_add(be_cpu(), a, b, c));
}
static int ds_mul(backend *be, const tensor *a, const tensor *b, tensor *c) {
  (void)be;
  DS_CHECK(ds_t("mul", a) || ds_t("mul", b) || ds_t("mul", c));
  DS_RUN(cpu_mul(be_cpu(), a, b, c));
}
static int ds_mul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da, tensor *db) {
  (void)be;
  DS_CHECK(ds_t("mul_bwd", a) || ds_t("mul_bwd", b) || ds_t("mul_bwd", dc) || ds_t("mul_bwd", da) ||
           ds_t("mul_bwd", db));
  DS_RUN(cpu_mul_bwd(be_cpu(), a, b, dc, da, db));
}
/* the products' FLOPs (devsim_traffic): a (.., M, K) or its transpose times b into c (.., M, N) */
static double ds_mm_flops(const tensor *a, const tensor *c, int ta) {
  double k = (double)(ta ? a->ne[a->ndim - 2] : a->ne[a->ndim - 1]);
  return 2.0 * (double)tensor_numel(c) * k;
}
/* a convolution's output (or output gradient) against w (Cout, Cin / groups, K) */
static double ds_conv_flops(const tensor *y, const tensor *w) {
  return 2.0 * (double)tensor_numel(y) * (double)w->ne[1] * (double)w->ne[2];
}
/* attention's score and value products, q (B, Tq, Hq, D) against k (B, Tk, Hkv, D); causal: half */
static double ds_attn_flops(const tensor *q, const tensor *k, const attn_cfg *cfg) {
  double f = 4.0 * (double)q->ne[0] * (double)q->ne[1] * (double)q->ne[2] * (double)q->ne[3] * (double)k->ne[1];
  return cfg->causal ? f / 2 : f;
}
static int ds_matmul(backend *be, const tensor *a, const tensor *b, const tensor *bias, tensor *c, int ta, int tb,
                     float beta) {
  (void)be;
  DS_CHECK(ds_t("matmul", a) || ds_t("matmul", b) || ds_t("matmul", bias) || ds_t("matmul", c));
  devsim_traffic_flops(ds_mm_flops(a, c, ta));
  DS_RUN(cpu_matmul(be_cpu(), a, b, bias, c, ta, tb, beta));
}
static int ds_matmul_res(backend *be, const tensor *a, const tensor *b, const tensor *bias, const tensor *r, tensor *c,
                         int ta, int tb) {
  (void)be;
  const char *o = "matmul_res";
  DS_CHECK(ds_t(o, a) || ds_t(o, b) || ds_t(o, bias) || (r->data != c->data && ds_t(o, r)) || ds_t(o, c));
  devsim_traffic_flops(ds_mm_flops(a, c, ta));
  DS_RUN(cpu_matmul_res(be_cpu(), a, b, bias, r, c, ta, tb));
}
static int ds_matmul_bwd(backend *be, const tensor *a, const tensor *b, const tensor *dc, tensor *da, tensor *db,
                         tensor *dbias, int ta, int tb, int da_set) {
  (void)be;
  const char *o = "matmul_bwd";
  DS_CHECK(ds_t(o, a) || ds_t(o, b) || ds_t(o, dc) || ds_t(o, da) || ds_t(o, db) || ds_t(o, dbias));
  devsim_traffic_flops(ds_mm_flops(a, dc, ta) * ((da != NULL) + (db != NULL)));
  DS_RUN(cpu_matmul_bwd(be_cpu(), a, b, dc, da, db, dbias, ta, tb, da_set));
}
static int ds_layernorm(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                        tensor *rstd, float eps) {
  (void)be;
  const char *o = "layernorm";
  DS_CHECK(ds_t(o, x) || ds_t(o, w) || ds_t(o, b) || ds_t(o, y) || ds_t(o, mean) || ds_t(o, rstd));
  DS_RUN(cpu_layernorm(be_cpu(), x, w, b, y, mean, rstd, eps));
}
static int ds_layernorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean, const tensor *rstd,
                            const tensor *dy, const tensor *dxin, tensor *dx, tensor *dw, tensor *db) {
  (void)be;
  const char *o = "layernorm_bwd";
  DS_CHECK(ds_t(o, x) || ds_t(o, w) || ds_t(o, mean) || ds_t(o, rstd) || ds_t(o, dy) || ds_t(o, dxin) ||
           ds_t(o, dx) || ds_t(o, dw) || ds_t(o, db));
  DS_RUN(cpu_layernorm_bwd(be_cpu(), x, w, mean, rstd, dy, dxin, dx, dw, db));
}
static int ds_rmsnorm(backend *be, const tensor *x, const tensor *w, tensor *y, tensor *rstd, float eps) {
  (void)be;
  DS_CHECK(ds_t("rmsnorm", x) || ds_t("rmsnorm", w) || ds_t("rmsnorm", y) || ds_t("rmsnorm", rstd));
  DS_RUN(cpu_rmsnorm(be_cpu(), x, w, y, rstd, eps));
}
static int ds_rmsnorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *rstd, const tensor *dy,
                          const tensor *dxin, tensor *dx, tensor *dw) {
  (void)be;
  const char *o = "rmsnorm_bwd";
  DS_CHECK(ds_t(o, x) || ds_t(o, w) || ds_t(o, rstd) || ds_t(o, dy) || ds_t(o, dxin) || ds_t(o, dx) ||
           ds_t(o, dw));
  DS_RUN(cpu_rmsnorm_bwd(be_cpu(), x, w, rstd, dy, dxin, dx, dw));
}
static int ds_layernorm_act(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                            tensor *rstd, act_kind k, float eps) {
  (void)be;
  const char *o = "layernorm_act";
  DS_CHECK(ds_t(o, x) || ds_t(o, w) || ds_t(o, b) || ds_t(o, y) || ds_t(o, mean) || ds_t(o, rstd));
  DS_RUN(cpu_layernorm_act(be_cpu(), x, w, b, y, mean, rstd, k, eps));
}
static int ds_layernorm_act_bwd(backend *be, const tensor *x, const tensor *w, const tensor *b, const tensor *mean,
                                const tensor *rstd, const tensor *dy, tensor *dx, tensor *dw, tensor *db, act_kind k,
                                int dx_set) {
  (void)be;
  const char *o = "layernorm_act_bwd";
  DS_CHECK(ds_t(o, x) || ds_t(o, w) || ds_t(o, b) || ds_t(o, mean) || ds_t(o, rstd) || ds_t(o, dy) || ds_t(o, dx) ||
           ds_t(o, dw) || ds_t(o, db));
  DS_RUN(cpu_layernorm_act_bwd(be_cpu(), x, w, b, mean, rstd, dy, dx, dw, db, k, dx_set));
}
static int ds_layernorm_ch(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                           tensor *rstd, float eps) {
  (void)be;
  const char *o = "layernorm_ch";
  DS_CHECK(ds_t(o, x) || ds_t(o, w) || ds_t(o, b) || ds_t(o, y) || ds_t(o, mean) || ds_t(o, rstd));
  DS_RUN(cpu_layernorm_ch(be_cpu(), x, w, b, y, mean, rstd, eps));
}
static int ds_layernorm_ch_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean, const tensor *rstd,
                               const tensor *dy, tensor *dx, tensor *dw, tensor *db) {
  (void)be;
  const char *o = "layernorm_ch_bwd";
  DS_CHECK(ds_t(o, x) || ds_t(o, w) || ds_t(o, mean) || ds_t(o, rstd) || ds_t(o, dy) || ds_t(o, dx) || ds_t(o, dw) ||
           ds_t(o, db));
  DS_RUN(cpu_layernorm_ch_bwd(be_cpu(), x, w, mean, rstd, dy, dx, dw, db));
}
static int ds_groupnorm(backend *be, const tensor *x, const tensor *w, const tensor *b, tensor *y, tensor *mean,
                        tensor *rstd, int groups, float eps) {
  (void)be;
  const char *o = "groupnorm";
  DS_CHECK(ds_t(o, x) || ds_t(o, w) || ds_t(o, b) || ds_t(o, y) || ds_t(o, mean) || ds_t(o, rstd));
  DS_RUN(cpu_groupnorm(be_cpu(), x, w, b, y, mean, rstd, groups, eps));
}
static int ds_groupnorm_bwd(backend *be, const tensor *x, const tensor *w, const tensor *mean, const tensor *rstd,
                            const tensor *dy, tensor *dx, tensor *dw, tensor *db, int groups) {
  (void)be;
  const char *o = "groupnorm_bwd";
  DS_CHECK(ds_t(o, x) || ds_t(o, w) || ds_t(o, mean) || ds_t(o, rstd) || ds_t(o, dy) || ds_t(o, dx) ||
           ds_t(o, dw) || ds_t(o, db));
  DS_RUN(cpu_groupnorm_bwd(be_cpu(), x, w, mean, rstd, dy, dx, dw, db, groups));
}
static int ds_act(backend *be, act_kind k, const tensor *x, tensor *y) {
  (void)be;
  DS_CHECK(ds_t("act", x) || ds_t("act", y));
  DS_RUN(cpu_act(be_cpu(), k, x, y));
}
static int ds_act_bwd(backend *be, act_kind k, const tensor *x, const tensor *dy, tensor *dx, int set) {
  (void)be;
  DS_CHECK(ds_t("act_bwd", x) || ds_t("act_bwd", dy) || ds_t("act_bwd", dx));
  DS_RUN(cpu_act_bwd(be_cpu(), k, x, dy, dx, set));
}
static int ds_swiglu(backend *be, const tensor *g, const tensor *u, tensor *y) {
  (void)be;
  DS_CHECK(ds_t("swiglu", g) || ds_t("swiglu", u) || ds_t("swiglu", y));
  DS_RUN(cpu_swiglu(be_cpu(), g, u, y));
}
static int ds_swiglu_bwd(backend *be, const tensor *g, const tensor *u, const tensor *dy, tensor *dg, tensor *du,
                         int set) {
  (void)be;
  const char *o = "swiglu_bwd";
  DS_CHECK(ds_t(o, g) || ds_t(o, u) || ds_t(o, dy) || ds_t(o, dg) || ds_t(o, du));
  DS_RUN(cpu_swiglu_bwd(be_cpu(), g, u, dy, dg, du, set));
}
static int ds_softmax(backend *be, const tensor *x, tensor *y) {
  (void)be;
  DS_CHECK(ds_t("softmax", x) || ds_t("softmax", y));
  DS_RUN(cpu_softmax(be_cpu(), x, y));
}
static int ds_softmax_bwd(backend *be, const tensor *y, const tensor *dy, tensor *dx) {
  (void)be;
  DS_CHECK(ds_t("softmax_bwd", y) || ds_t("softmax_bwd", dy) || ds_t("softmax_bwd", dx));
  DS_RUN(cpu_softmax_bwd(be_cpu(), y, dy, dx));
}
static int ds_cfg(const char *o, const attn_cfg *c) {
  return ds_h(o, c->kv_len) || ds_h(o, c->q_pos0) || ds_t(o, c->bias);
}
/* attn_cfg.keep as a device backend uses it (backend.h): here a fingerprint of the forward's
 * q, k, v and out (values and shapes), which the backward checks, so that a caller passing
 * another call's keep, or changing the operands in between, is reported as a device backend
 * would silently compute from stale copies */
#define DS_KEEP_BYTES 64
static size_t ds_attn_keep_bytes(backend *be, const tensor *q, const tensor *k, const attn_cfg *cfg) {
  (void)be, (void)q, (void)k, (void)cfg;
  return DS_KEEP_BYTES;
}
static uint64_t ds_fp(uint64_t h, const tensor *t) {
  h = ds_bytes_fp(h, t->data, tensor_nbytes(t));
  for (int d = 0; d < t->ndim; d++) h = (h ^ (uint64_t)t->ne[d]) * 1099511628211ull;
  return h;
}
/* inside an open op: the fingerprint of the four operands */
static uint64_t ds_keep_fp(const tensor *q, const tensor *k, const tensor *v, const tensor *out) {
  return ds_fp(ds_fp(ds_fp(ds_fp(DS_FP0, q), k), v), out);
}
static int ds_keep(const char *o, const attn_keep *kp) {
  if (!kp) return 0;
  if (!kp->buf || kp->bytes < DS_KEEP_BYTES) return ds_violation(o, "keep: no buffer, or fewer bytes than attn_keep_bytes");
  if (ds_find(kp->buf, DS_KEEP_BYTES) < 0) return ds_violation(o, "keep: buffer outside device memory");
  return 0;
}
static int ds_attention(backend *be, const tensor *q, const tensor *k, const tensor *v, tensor *out, tensor *lse,
                        const attn_cfg *cfg) {
  (void)be;
  const char *o = "attention";
  DS_CHECK(ds_t(o, q) || ds_t(o, k) || ds_t(o, v) || ds_t(o, out) || ds_t(o, lse) || ds_cfg(o, cfg) ||
           ds_keep(o, cfg->keep));
  if (cfg->keep && cfg->keep->qkv) { /* the split that wrote q, k, v there must be this call's */
    uint64_t f, want;
    ds_open();
    f = ds_fp(ds_fp(ds_fp(DS_FP0, q), k), v);
    memcpy(&want, (char *)cfg->keep->buf + 8, sizeof want);
    ds_close();
    if (f != want) return ds_violation(o, "keep: its q, k, v are another split's, or changed since");
  }
  devsim_traffic_flops(ds_attn_flops(q, k, cfg));
  ds_open();
  int rc = cpu_attention(be_cpu(), q, k, v, out, lse, cfg);
  if (!rc && cfg->keep) {
    uint64_t f = ds_keep_fp(q, k, v, out);
    memcpy(cfg->keep->buf, &f, sizeof f);
    cfg->keep->made = 1;
  }
  ds_close();
  devsim_traffic_ran();
  return rc;
}
static int ds_attention_bwd(backend *be, const tensor *q, const tensor *k, const tensor *v, const tensor *out,
                            const tensor *lse, const tensor *dout, tensor *dq, tensor *dk, tensor *dv, tensor *dbias,
                            const attn_cfg *cfg) {
  (void)be;
  const char *o = "attention_bwd";
  DS_CHECK(ds_t(o, q) || ds_t(o, k) || ds_t(o, v) || ds_t(o, out) || ds_t(o, lse) || ds_t(o, dout) || ds_t(o, dq) ||
           ds_t(o, dk) || ds_t(o, dv) || ds_t(o, dbias) || ds_cfg(o, cfg) || ds_keep(o, cfg->keep));
  if (cfg->keep && cfg->keep->made) {
    uint64_t f, want;
    ds_open();
    f = ds_keep_fp(q, k, v, out);
    memcpy(&want, cfg->keep->buf, sizeof want);
    ds_close();
    if (f != want) return ds_violation(o, "keep: q, k, v or out changed since the forward that made it (or it is another call's)");
  }
  devsim_traffic_flops(2.5 * ds_attn_flops(q, k, cfg)); /* the scores recomputed, and four products */
  DS_RUN(cpu_attention_bwd(be_cpu(), q, k, v, out, lse, dout, dq, dk, dv, dbias, cfg));
}
static int ds_rope(backend *be, const tensor *x, tensor *y, const int32_t *pos, float theta, int inverse) {
  (void)be;
  DS_CHECK(ds_t("rope", x) || ds_t("rope", y) || ds_h("rope", pos));
  DS_RUN(cpu_rope(be_cpu(), x, y, pos, theta, inverse));
}
static int ds_split_heads(backend *be, tensor *x, tensor *q, tensor *k, tensor *v, const int32_t *pos,
                          const int32_t *kvrow, float theta, int merge, attn_keep *keep) {
  (void)be;
  const char *o = merge ? "merge_heads" : "split_heads";
  DS_CHECK(ds_t(o, x) || ds_t(o, q) || ds_t(o, k) || ds_t(o, v) || ds_h(o, pos) || ds_h(o, kvrow) ||
           ds_keep(o, keep));
  if (keep && (merge || kvrow)) return ds_violation(o, "keep given to a merge or a cache split");
  ds_open();
  int rc = cpu_split_heads(be_cpu(), x, q, k, v, pos, kvrow, theta, merge, NULL);
  if (!rc && keep) { /* the split's fingerprint, which the forward checks (ds_attention) */
    uint64_t f = ds_fp(ds_fp(ds_fp(DS_FP0, q), k), v);
    memcpy((char *)keep->buf + 8, &f, sizeof f);
    keep->qkv = 1;
  }
  ds_close();
  devsim_traffic_ran();
  return rc;
}
static int ds_conv1d(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y, int stride, int pad,
                     int groups) {
  (void)be;
  DS_CHECK(ds_t("conv1d", x) || ds_t("conv1d", w) || ds_t("conv1d", bias) || ds_t("conv1d", y));
  devsim_traffic_flops(ds_conv_flops(y, w));
  DS_RUN(cpu_conv1d(be_cpu(), x, w, bias, y, stride, pad, groups));
}
static int ds_conv1d_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                         tensor *dbias, int stride, int pad, int groups) {
  (void)be;
  const char *o = "conv1d_bwd";
  DS_CHECK(ds_t(o, x) || ds_t(o, w) || ds_t(o, dy) || ds_t(o, dx) || ds_t(o, dw) || ds_t(o, dbias));
  devsim_traffic_flops(ds_conv_flops(dy, w) * ((dx != NULL) + (dw != NULL)));
  DS_RUN(cpu_conv1d_bwd(be_cpu(), x, w, dy, dx, dw, dbias, stride, pad, groups));
}
static int ds_conv1d_cl(backend *be, const tensor *x, const tensor *w, const tensor *bias, tensor *y, int stride,
                        int pad, int groups) {
  (void)be;
  const char *o = "conv1d_cl";
  DS_CHECK(ds_t(o, x) || ds_t(o, w) || ds_t(o, bias) || ds_t(o, y));
  devsim_traffic_flops(ds_conv_flops(y, w));
  DS_RUN(cpu_conv1d_cl(be_cpu(), x, w, bias, y, stride, pad, groups));
}
static int ds_conv1d_cl_bwd(backend *be, const tensor *x, const tensor *w, const tensor *dy, tensor *dx, tensor *dw,
                            tensor *dbias, int stride, int pad, int groups, int dx_set) {
  (void)be;
  const char *o = "conv1d_cl_bwd";
  DS_CHECK(ds_t(o, x) || ds_t(o, w) || ds_t(o, dy) || ds_t(o, dx) || ds_t(o, dw) || ds_t(o, dbias));
  devsim_traffic_flops(ds_conv_flops(dy, w) * ((dx != NULL) + (dw != NULL)));
  DS_RUN(cpu_conv1d_cl_bwd(be_cpu(), x, w, dy, dx, dw, dbias, stride, pad, groups, dx_set));
}
static int ds_weightnorm(backend *be, const tensor *v, const tensor *g, tensor *w, tensor *norm, int dim) {
  (void)be;
  DS_CHECK(ds_t("weightnorm", v) || ds_t("weightnorm", g) || ds_t("weightnorm", w) || ds_t("weightnorm", norm));
  DS_RUN(cpu_weightnorm(be_cpu(), v, g, w, norm, dim));
}
static int ds_weightnorm_bwd(backend *be, const tensor *v, const tensor *g, const tensor *norm, const tensor *dw,
                             tensor *dv, tensor *dg, int dim) {
  (void)be;
  const char *o = "weightnorm_bwd";
  DS_CHECK(ds_t(o, v) || ds_t(o, g) || ds_t(o, norm) || ds_t(o, dw) || ds_t(o, dv) || ds_t(o, dg));
  DS_RUN(cpu_weightnorm_bwd(be_cpu(), v, g, norm, dw, dv, dg, dim));
}
static int ds_embed(backend *be, const tensor *table, const int32_t *ids, tensor *out) {
  (void)be;
  DS_CHECK(ds_t("embed", table) || ds_t("embed", out) || ds_h("embed", ids));
  DS_RUN(cpu_embed(be_cpu(), table, ids, out));
}
static int ds_embed_bwd(backend *be, const int32_t *ids, const tensor *dout, tensor *dtable) {
  (void)be;
  DS_CHECK(ds_t("embed_bwd", dout) || ds_t("embed_bwd", dtable) || ds_h("embed_bwd", ids));
  DS_RUN(cpu_embed_bwd(be_cpu(), ids, dout, dtable));
}
static int ds_set_rows(backend *be, const tensor *src, const int32_t *ids, tensor *dst) {
  (void)be;
  DS_CHECK(ds_t("set_rows", src) || ds_t("set_rows", dst) || ds_h("set_rows", ids));
  DS_RUN(cpu_set_rows(be_cpu(), src, ids, dst));
}
static int ds_sample(backend *be, const tensor *z, const sample_req *q, int32_t *tok, float *logp) {
  (void)be;
  const char *o = "sample";
  if (ds_in_step) return ds_violation(o, "tokens read back inside a decoding step (step_graph)");
  DS_CHECK(ds_t(o, z) || ds_h(o, q->ban_row) || ds_h(o, q->u) || ds_h(o, tok) || ds_h(o, logp));
  DS_RUN(cpu_sample(be_cpu(), z, q, tok, logp));
}
static int ds_framecat(backend *be, const tensor *x, tensor *y, int k) {
  (void)be;
  DS_CHECK(ds_t("framecat", x) || ds_t("framecat", y));
  DS_RUN(cpu_framecat(be_cpu(), x, y, k));
}
static int ds_framecat_bwd(backend *be, const tensor *dy, tensor *dx, int k) {
  (void)be;
  DS_CHECK(ds_t("framecat_bwd", dy) || ds_t("framecat_bwd", dx));
  DS_RUN(cpu_framecat_bwd(be_cpu(), dy, dx, k));
}
static int ds_xent(backend *be, tensor *logits, const int32_t *t, const float *w, float *losses, float gs) {
  (void)be;
  DS_CHECK(ds_t("xent", logits) || ds_h("xent", t) || ds_h("xent", w) || ds_h("xent", losses));
  DS_RUN(cpu_xent(be_cpu(), logits, t, w, losses, gs));
}
static int ds_adamw(backend *be, float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2,
                    float eps, float wd, int64_t t) {
  (void)be;
  size_t nb = sizeof(float) * (size_t)n;
  if (n > 0 && (ds_find(p, nb) < 0 || ds_find(g, nb) < 0 || ds_find(m, nb) < 0 || ds_find(v, nb) < 0))
    return ds_violation("adamw", "buffer outside device memory");
  if (n > 0 && ds_held("adamw", p, nb)) return TS_EDEVICE;
  ds_wfp_touch(p, nb); /* a device rounds its copy again after a plain AdamW */
  devsim_traffic_operand("adamw", 7 * nb); /* p, g, m, v read; p, m, v written */
  DS_RUN(cpu_adamw(be_cpu(), p, g, m, v, n, lr, b1, b2, eps, wd, t));
}
static int ds_adamw_runs(backend *be, float *p, const float *g, float *m, float *v, const adamw_run *runs, int nr,
                         float lr, float b1, float b2, float eps, float wd, int64_t t) {
  (void)be;
  if (nr > 0 && !runs) return ds_violation("adamw_runs", "no run table");
  for (int r = 0; r < nr; r++) {
    const int64_t o = runs[r].off;
    size_t nb = sizeof(float) * (size_t)runs[r].n;
    if (runs[r].n > 0 && (ds_find(p + o, nb) < 0 || ds_find(g + o, nb) < 0 || ds_find(m + o, nb) < 0 ||
                          ds_find(v + o, nb) < 0))
      return ds_violation("adamw_runs", "a run outside device memory");
    if (runs[r].n > 0 && ds_held("adamw_runs", p + o, nb)) return TS_EDEVICE;
  }
  for (int r = 0; r < nr; r++) devsim_traffic_operand("adamw_runs", 7 * sizeof(float) * (size_t)runs[r].n);
  ds_open();
  int rc = cpu_adamw_runs(be_cpu(), p, g, m, v, runs, nr, lr, b1, b2, eps, wd, t);
  ds_close();
  devsim_traffic_ran();
  /* runs over the copy's weights (all inside them) keep a device's copy current: what they wrote is
   * the new reference; other runs touch it (CUDA's cu_wcopy_follow) */
  int inside = g_wfp.set && (const void *)p == g_wfp.w;
  for (int r = 0; inside && r < nr; r++)
    inside = runs[r].off >= 0 && sizeof(float) * (size_t)(runs[r].off + runs[r].n) <= g_wfp.bytes;
  if (inside) g_wfp.fp = ds_wfp_of(g_wfp.w, g_wfp.bytes);
  else
    for (int r = 0; r < nr; r++) ds_wfp_touch(p + runs[r].off, sizeof(float) * (size_t)runs[r].n);
  return rc;
}
/* the hint must name device memory, and the weights it names must stay unchanged while it is
 * on (an op writing them is reported: the CPU's bf16 mirror of them would be stale); hints
 * nest, each off closing the innermost; the simulated device computes as the CPU does (its
 * bf16 mirror included) */
static int ds_weights_bf16(backend *be, const float *w, int64_t n, int on) {
  (void)be;
  if (on && n > 0 && ds_find(w, sizeof(float) * (size_t)n) < 0)
    return ds_violation("weights_bf16", "weights outside device memory");
  if (!on && !g_nheld) return TS_OK; /* nothing open here: nothing to close below either */
  if (on && g_nheld == DS_HELD) return ds_violation("weights_bf16", "hints nested deeper than 16");
  size_t wb = n > 0 ? sizeof(float) * (size_t)n : 0;
  if (on && g_wfp.set && g_wfp.w == (const void *)w && g_wfp.bytes == wb) {
    g_wfp.set = 0; /* checked once: a device takes its copy as current here, or rounds anew */
    if (ds_wfp_of(w, wb) != g_wfp.fp)
      return ds_violation("weights_bf16", "the weights changed since the last training hint or AdamW's runs, by "
                                          "an op a device does not see (not AdamW, a host copy, fill, copy or axpby): "
                                          "a device would take its bf16 copy of them as current, stale");
  }
  ds_open();
  int rc = be_cpu()->ops->weights_bf16(be_cpu(), w, n, on);
  ds_close();
  if (rc) return rc; /* refused: nothing was opened (or closed) */
  if (on) {
    g_held[g_nheld].w = w, g_held[g_nheld].bytes = n > 0 ? sizeof(float) * (size_t)n : 0, g_held[g_nheld].kind = on;
    g_nheld++;
  } else {
    g_nheld--;
    if (g_held[g_nheld].kind == 2) g_stepw.w = g_held[g_nheld].w, g_stepw.bytes = g_held[g_nheld].bytes;
    /* after a training step's hint a device keeps its copy, which mirrors these weights (the
     * hint held them unchanged); after a decoding hint it lets it go (CUDA's wkeep) */
    if (g_held[g_nheld].kind == 2) {
      g_wfp.w = g_held[g_nheld].w, g_wfp.bytes = g_held[g_nheld].bytes, g_wfp.set = g_wfp.bytes > 0;
      if (g_wfp.set) g_wfp.fp = ds_wfp_of(g_wfp.w, g_wfp.bytes);
    } else {
      g_wfp.set = 0;
    }
  }
  return TS_OK;
}

static double ds_sumsq(backend *be, const float *x, int64_t n) {
  (void)be;
  if (n > 0 && ds_find(x, sizeof(float) * (size_t)n) < 0) {
    ds_violation("sumsq", "buffer outside device memory");
    return 0.0 / 0.0;
  }
  if (n > 0) devsim_traffic_operand("sumsq", sizeof(float) * (size_t)n);
  ds_open();
  double r = cpu_sumsq(be_cpu(), x, n);
  ds_close();
  devsim_traffic_ran();
  return r;
}
static int ds_transpose(backend *be, const tensor *x, tensor *y, float beta) {
  (void)be;
  DS_CHECK(ds_t("transpose", x) || ds_t("transpose", y));
  DS_RUN(cpu_transpose(be_cpu(), x, y, beta));
}
static int ds_stats_pool(backend *be, const tensor *x, const int32_t *lens, tensor *y, const tensor *dy, tensor *dx,
                         float eps) {
  (void)be;
  const char *o = "stats_pool";
  DS_CHECK(ds_t(o, x) || ds_t(o, y) || ds_t(o, dy) || ds_t(o, dx) || ds_h(o, lens));
  DS_RUN(cpu_stats_pool(be_cpu(), x, lens, y, dy, dx, eps));
}

static const be_ops ds_ops = {
    .name = "devsim",
    .alloc = ds_alloc,
    .release = ds_release,
    .fresh = ds_fresh,
    .to_device = ds_copy_in,
    .to_host = ds_copy_out,
    .sync = ds_sync,
    .fill = ds_fill,
    .copy = ds_copy,
    .axpby = ds_axpby,
    .add = ds_add,
    .mul = ds_mul,
    .mul_bwd = ds_mul_bwd,
    .matmul = ds_matmul,
    .matmul_res = ds_matmul_res,
    .matmul_bwd = ds_matmul_bwd,
    .layernorm = ds_layernorm,
    .layernorm_bwd = ds_layernorm_bwd,
    .layernorm_act = ds_layernorm_act,
    .layernorm_act_bwd = ds_layernorm_act_bwd,
    .layernorm_ch = ds_layernorm_ch,
    .layernorm_ch_bwd = ds_layernorm_ch_bwd,
    .rmsnorm = ds_rmsnorm,
    .rmsnorm_bwd = ds_rmsnorm_bwd,
    .groupnorm = ds_groupnorm,
    .groupnorm_bwd = ds_groupnorm_bwd,
    .act = ds_act,
    .act_bwd = ds_act_bwd,
    .swiglu = ds_swiglu,
    .swiglu_bwd = ds_swiglu_bwd,
    .softmax = ds_softmax,
    .softmax_bwd = ds_softmax_bwd,
    .attention = ds_attention,
    .attn_keep_bytes = ds_attn_keep_bytes,
    .attention_bwd = ds_attention_bwd,
    .rope = ds_rope,
    .split_heads = ds_split_heads,
    .conv1d = ds_conv1d,
    .conv1d_bwd = ds_conv1d_bwd,
    .conv1d_cl = ds_conv1d_cl,
    .conv1d_cl_bwd = ds_conv1d_cl_bwd,
    .weightnorm = ds_weightnorm,
    .weightnorm_bwd = ds_weightnorm_bwd,
    .embed = ds_embed,
    .embed_bwd = ds_embed_bwd,
    .set_rows = ds_set_rows,
    .sample = ds_sample,
    .weights_bf16 = ds_weights_bf16,
    .act_dtype = cpu_act_dtype, /* the CPU's policy: devsim stands in for CUDA in the pipeline tests */
    .step_graph = ds_step_graph,
    .step_replay = ds_step_replay,
    .framecat = ds_framecat,
    .framecat_bwd = ds_framecat_bwd,
    .xent = ds_xent,
    .adamw = ds_adamw,
    .adamw_runs = ds_adamw_runs,
    .sumsq = ds_sumsq,
    .transpose = ds_transpose,
    .stats_pool = ds_stats_pool,
};

static backend ds_backend = {&ds_ops, DEV_SIM, NULL};

backend *be_devsim(void) { return &ds_backend; }
