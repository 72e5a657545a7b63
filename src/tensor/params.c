/* params.c — named views over one parameter buffer (see params.h). */
#include "tensor/params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/philox.h"
#include "tensor/ops.h"

#define PSET_ALIGN 16 /* floats: 64 bytes */

void pset_init(pset *ps, backend *be) {
  memset(ps, 0, sizeof *ps);
  ps->be = be;
}

static int pset_place(pset *ps, const char *name, int ndim, const int64_t *ne, int decay, int packed, ts_err *e) {
  if (ps->w) return err_set(e, TS_EARG, "parameter %s: set already allocated", name), -1;
  if (ndim < 1 || ndim > TENSOR_MAX_DIMS) return err_set(e, TS_ESHAPE, "parameter %s: %d dims", name, ndim), -1;
  if (pset_find(ps, name) >= 0) return err_set(e, TS_EARG, "parameter %s declared twice", name), -1;
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (ne[i] <= 0) return err_set(e, TS_ESHAPE, "parameter %s: dim %d is %lld", name, i, (long long)ne[i]), -1;
    n *= ne[i];
  }
  if (ps->n == ps->cap) {
    int cap = ps->cap ? ps->cap * 2 : 64;
    pview *nv = realloc(ps->v, sizeof(pview) * (size_t)cap);
    if (!nv) return err_set(e, TS_ENOMEM, "parameter %s: out of memory", name), -1;
    ps->v = nv;
    ps->cap = cap;
  }
  pview *v = &ps->v[ps->n];
  memset(v, 0, sizeof *v);
  v->name = strdup(name);
  if (!v->name) return err_set(e, TS_ENOMEM, "parameter %s: out of memory", name), -1;
  v->ndim = ndim;
  for (int i = 0; i < ndim; i++) v->ne[i] = ne[i];
  v->n = n;
  /* packed: right after the previous view's last float, inside its alignment gap or past it */
  v->off = packed && ps->n ? ps->v[ps->n - 1].off + ps->v[ps->n - 1].n : ps->total;
  v->decay = decay;
  v->packed = packed && ps->n;
  ps->total = (v->off + n + PSET_ALIGN - 1) / PSET_ALIGN * PSET_ALIGN;
  return ps->n++;
}

int pset_add(pset *ps, const char *name, int ndim, const int64_t *ne, int decay, ts_err *e) {
  return pset_place(ps, name, ndim, ne, decay, 0, e);
}

int pset_add_packed(pset *ps, const char *name, int ndim, const int64_t *ne, int decay, ts_err *e) {
  return pset_place(ps, name, ndim, ne, decay, 1, e);
}

int pset_rows(const pset *ps, float *base, int first, int count, tensor *t, ts_err *e) {
  memset(t, 0, sizeof *t);
  if (first < 0 || count < 1 || first + count > ps->n)
    return err_set(e, TS_EARG, "parameters: views %d..%d out of range", first, first + count - 1);
  const pview *v0 = &ps->v[first];
  int64_t rows = 0, inner = v0->ndim == 2 ? v0->ne[1] : 1;
  for (int i = first; i < first + count; i++) {
    const pview *v = &ps->v[i];
    if (v->ndim != v0->ndim || v->ndim > 2 || (v->ndim == 2 && v->ne[1] != inner))
      return err_set(e, TS_ESHAPE, "parameters: %s and %s do not stack as rows", v0->name, v->name);
    if (v->off != v0->off + rows * inner)
      return err_set(e, TS_EARG, "parameters: %s is not stored right after %s", v->name, ps->v[i - 1].name);
    rows += v->ne[0];
  }
  t->data = base ? base + v0->off : NULL;
  t->dtype = DT_F32;
  t->device = ps->be->device;
  t->ndim = v0->ndim;
  t->ne[0] = rows;
  if (v0->ndim == 2) t->ne[1] = inner;
  return TS_OK;
}

static float *pset_buf(pset *ps, ts_err *e) {
  size_t bytes = sizeof(float) * (size_t)(ps->total ? ps->total : 1);
  float *p = ps->be->ops->alloc(ps->be, bytes);
  if (!p) {
    err_set(e, TS_ENOMEM, "parameters: cannot allocate %.1f MiB", bytes / 1048576.0);
    return NULL;
  }
  tensor t = {p, DT_F32, ps->be->device, 1, {ps->total ? ps->total : 1}};
  ps->be->ops->fill(ps->be, &t, 0.0f);
  return p;
}

int pset_alloc(pset *ps, int with_grad, int with_adam, ts_err *e) {
  if (!ps->w && !(ps->w = pset_buf(ps, e))) return e ? e->code : TS_ENOMEM;
  if (with_grad && !ps->g && !(ps->g = pset_buf(ps, e))) return e ? e->code : TS_ENOMEM;
  if (with_adam && !ps->m && !(ps->m = pset_buf(ps, e))) return e ? e->code : TS_ENOMEM;
  if (with_adam && !ps->s && !(ps->s = pset_buf(ps, e))) return e ? e->code : TS_ENOMEM;
  return TS_OK;
}

int pset_find(const pset *ps, const char *name) {
  for (int i = 0; i < ps->n; i++)
    if (!strcmp(ps->v[i].name, name)) return i;
  return -1;
}

static tensor pset_view(const pset *ps, float *base, int i) {
  tensor t;
  memset(&t, 0, sizeof t);
  const pview *v = &ps->v[i];
  t.data = base ? base + v->off : NULL;
  t.dtype = DT_F32;
  t.device = ps->be->device;
  t.ndim = v->ndim;
  for (int d = 0; d < v->ndim; d++) t.ne[d] = v->ne[d];
  return t;
}

tensor pset_w(const pset *ps, int i) { return pset_view(ps, ps->w, i); }
tensor pset_g(const pset *ps, int i) { return pset_view(ps, ps->g, i); }
float *pset_wp(const pset *ps, int i) { return ps->w + ps->v[i].off; }
float *pset_gp(const pset *ps, int i) { return ps->g ? ps->g + ps->v[i].off : NULL; }

int64_t pset_count(const pset *ps, const char *prefix) {
  int64_t n = 0;
  size_t lp = strlen(prefix);
  for (int i = 0; i < ps->n; i++)
    if (!strncmp(ps->v[i].name, prefix, lp)) n += ps->v[i].n;
  return n;
}

int pset_freeze(pset *ps, const char *prefix, int frozen) {
  int k = 0;
  size_t lp = strlen(prefix);
  for (int i = 0; i < ps->n; i++)
    if (!strncmp(ps->v[i].name, prefix, lp)) {
      ps->v[i].frozen = frozen;
      k++;
    }
  return k;
}

void pset_zero_grad(pset *ps) {
  if (!ps->g) return;
  tensor t = {ps->g, DT_F32, ps->be->device, 1, {ps->total}};
  ts_err e = {0};
  op_fill(ps->be, &t, 0.0f, &e); /* through the op layer: an op profile sees it */
}

/* Calls fn on maximal runs of consecutive views that are trainable (and share `decay` when
 * split_decay). A run spans the alignment gaps between its views, whose gradients stay zero
 * (allocated zeroed, written through no view). */
typedef void (*pset_run_fn)(pset *ps, int64_t off, int64_t n, int decay, void *user);

static void pset_runs(pset *ps, int split_decay, pset_run_fn fn, void *user) {
  int i = 0;
  while (i < ps->n) {
    if (ps->v[i].frozen) {
      i++;
      continue;
    }
    int j = i + 1;
    while (j < ps->n && !ps->v[j].frozen && (!split_decay || ps->v[j].decay == ps->v[i].decay)) j++;
    int64_t off = ps->v[i].off, end = ps->v[j - 1].off + ps->v[j - 1].n;
    fn(ps, off, end - off, ps->v[i].decay, user);
    i = j;
  }
}

static void pset_sumsq_run(pset *ps, int64_t off, int64_t n, int decay, void *user) {
  *(double *)user += ps->be->ops->sumsq(ps->be, ps->g + off, n);
}

/* one sum per run of trainable tensors, whatever their decay: with nothing frozen one sum in
 * all (a device backend waits for each; split at every decay change, the paper geometry's grad
 * norm took 368 of them a step) */
double pset_grad_norm(pset *ps) {
  if (!ps->g) return 0.0;
  double s = 0;
  pset_runs(ps, 0, pset_sumsq_run, &s);
  return sqrt(s);
}

void pset_scale_grad(pset *ps, float s) {
  if (!ps->g) return;
  tensor t = {ps->g, DT_F32, ps->be->device, 1, {ps->total}};
  ps->be->ops->axpby(ps->be, &t, 0.0f, &t, s);
}

/* the runs of trainable tensors, split at every change of decay, into a table */
typedef struct pset_run_tab {
  adamw_run *r;
  int n, cap, oom;
} pset_run_tab;

static void pset_tab_run(pset *ps, int64_t off, int64_t n, int decay, void *user) {
  (void)ps;
  pset_run_tab *t = user;
  if (t->oom) return;
  if (t->n == t->cap) {
    int cap = t->cap ? 2 * t->cap : 64;
    adamw_run *nr = realloc(t->r, sizeof *nr * (size_t)cap);
    if (!nr) {
      t->oom = 1;
      return;
    }
    t->r = nr, t->cap = cap;
  }
  t->r[t->n++] = (adamw_run){off, n, decay};
}

/* one update over every run (weights decay, biases and norms do not): one launch on a device
 * backend rather than one per run (the paper geometry has 368) */
int pset_adamw(pset *ps, float lr, float beta1, float beta2, float eps, float wd, int64_t t, ts_err *e) {
  if (!ps->g || !ps->m || !ps->s) return err_set(e, TS_EARG, "adamw: gradients or moments not allocated");
  if (t < 1) return err_set(e, TS_EARG, "adamw: step must start at 1");
  pset_run_tab tab = {0};
  pset_runs(ps, 1, pset_tab_run, &tab);
  int rc = tab.oom ? err_set(e, TS_ENOMEM, "adamw: cannot allocate the table of %d runs", tab.n)
                   : op_adamw_runs(ps->be, ps->w, ps->g, ps->m, ps->s, tab.r, tab.n, lr, beta1, beta2, eps, wd, t, e);
  free(tab.r);
  return rc;
}

float *pset_host_begin(const pset *ps, ts_err *e) {
  if (!ps->w) {
    err_set(e, TS_EARG, "parameters: not allocated");
    return NULL;
  }
  if (ps->be->device == DEV_CPU) return ps->w;
  size_t bytes = sizeof(float) * (size_t)(ps->total ? ps->total : 1);
  float *h = malloc(bytes);
  if (!h) {
    err_set(e, TS_ENOMEM, "parameters: cannot allocate a %.1f MiB host copy", bytes / 1048576.0);
    return NULL;
  }
  if (ps->be->ops->to_host(ps->be, h, ps->w, bytes, e)) {
    free(h);
    err_set(e, TS_EDEVICE, "parameters: copy from the %s device failed", ps->be->ops->name);
    return NULL;
  }
  return h;
}

int pset_host_end(const pset *ps, float *host, int write_back, ts_err *e) {
  if (!host || host == ps->w) return TS_OK;
  int rc = TS_OK;
  if (write_back && ps->be->ops->to_device(ps->be, ps->w, host, sizeof(float) * (size_t)(ps->total ? ps->total : 1), e))
    rc = err_set(e, TS_EDEVICE, "parameters: copy to the %s device failed", ps->be->ops->name);
  free(host);
  return rc;
}

/* FNV-1a of a tensor's name: its Philox stream */
static uint64_t pset_name_key(const char *name) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
  return h;
}

int pset_init_normal(pset *ps, float std, uint64_t seed, ts_err *e) {
  float *hw = pset_host_begin(ps, e);
  if (!hw) return e ? e->code : TS_ENOMEM;
  /* one Philox stream per tensor, keyed by its name: filling tensors in parallel gives the same
   * weights, and declaring tensors in another order (or adding one) changes no other tensor's */
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < ps->n; i++) {
    pview *v = &ps->v[i];
    float *w = hw + v->off;
    size_t ln = strlen(v->name);
    int is_bias = ln >= 4 && !strcmp(v->name + ln - 4, "bias");
    if (v->ndim == 1) {
      float fill = is_bias ? 0.0f : 1.0f;
      for (int64_t j = 0; j < v->n; j++) w[j] = fill;
      continue;
    }
    philox_rng r;
    philox_init(&r, seed, pset_name_key(v->name));
    for (int64_t j = 0; j < v->n; j++) w[j] = std * philox_normal(&r);
  }
  return pset_host_end(ps, hw, 1, e);
}

void pset_free(pset *ps) {
  for (int i = 0; i < ps->n; i++) free(ps->v[i].name);
  free(ps->v);
  if (ps->w) ps->be->ops->release(ps->be, ps->w);
  if (ps->g) ps->be->ops->release(ps->be, ps->g);
  if (ps->m) ps->be->ops->release(ps->be, ps->m);
  if (ps->s) ps->be->ops->release(ps->be, ps->s);
  memset(ps, 0, sizeof *ps);
}
