/* params.h — a model's parameters in one contiguous buffer carved into named views (Hugging
 * Face tensor names), with gradients and AdamW moments in buffers of the same layout. Zeroing,
 * the global grad norm, clipping, the optimizer step and checkpoint I/O are then passes over
 * a few contiguous runs instead of hundreds of small tensors. */
#ifndef TS_PARAMS_H
#define TS_PARAMS_H

#include <stdint.h>

#include "tensor/backend.h"

typedef struct pview {
  char *name;       /* Hugging Face name, e.g. "llm.model.layers.0.self_attn.q_proj.weight" */
  int ndim;
  int64_t ne[TENSOR_MAX_DIMS];
  int64_t off;      /* offset in floats from the buffer start (64-byte aligned unless packed) */
  int64_t n;        /* number of floats */
  int decay;        /* 1: AdamW weight decay applies (matrices); 0: norms, biases */
  int frozen;       /* 1: not trained (no optimizer step; gradient kept at zero) */
  int packed;       /* 1: stored right after the previous view (pset_add_packed) */
} pview;

typedef struct pset {
  backend *be;
  pview *v;
  int n, cap;
  int64_t total;    /* floats in each buffer */
  float *w;         /* (total) weights */
  float *g;         /* (total) gradients, or NULL */
  float *m, *s;     /* (total) AdamW first/second moments, or NULL */
} pset;

void pset_init(pset *ps, backend *be);
/* Declares a tensor; returns its index (>= 0) or -1 with e set (duplicate name, bad shape). */
int pset_add(pset *ps, const char *name, int ndim, const int64_t *ne, int decay, ts_err *e);
/* Allocates the weight buffer (zeroed) and, when asked, gradients and moments. */
int pset_alloc(pset *ps, int with_grad, int with_adam, ts_err *e);
/* Like pset_add, but stores the tensor right after the previously declared one, with no
 * alignment gap: matrices with the same column count declared this way form one matrix
 * (q/k/v projections as one (Hq*D + 2*Hkv*D, C) weight), so one GEMM can replace several. */
int pset_add_packed(pset *ps, const char *name, int ndim, const int64_t *ne, int decay, ts_err *e);
/* One view over `count` consecutive tensors starting at index `first`, stacked as rows
 * (2-D with equal column counts, or 1-D) and stored back to back; base is ps->w or ps->g
 * (NULL gives a view with no data) into *t. Errors (not stackable, not adjacent) set e. */
int pset_rows(const pset *ps, float *base, int first, int count, tensor *t, ts_err *e);
int pset_find(const pset *ps, const char *name);
/* f32 views of tensor i in the weight / gradient buffer. */
tensor pset_w(const pset *ps, int i);
tensor pset_g(const pset *ps, int i);
float *pset_wp(const pset *ps, int i);
float *pset_gp(const pset *ps, int i);
int64_t pset_count(const pset *ps, const char *prefix); /* floats under a name prefix ("" = all) */
/* Freezes (1) or unfreezes (0) every tensor whose name starts with prefix; returns how many. */
int pset_freeze(pset *ps, const char *prefix, int frozen);
void pset_zero_grad(pset *ps);
/* Global L2 norm of the gradients of trainable tensors. */
double pset_grad_norm(pset *ps);
/* Scales all gradients by s. */
void pset_scale_grad(pset *ps, float s);
/* One AdamW step (step t >= 1) on every trainable tensor; weight decay only where decay. */
int pset_adamw(pset *ps, float lr, float beta1, float beta2, float eps, float wd, int64_t t, ts_err *e);
/* Fills the weights with N(0, std) (matrices) from a seeded stream per tensor (keyed by its
 * name, so the declaration order does not matter), norms' weights with 1, biases with 0 — a
 * default initialisation for models trained from scratch. Returns TS_OK
 * or an error (staging memory, upload) for device parameter sets. */
int pset_init_normal(pset *ps, float std, uint64_t seed, ts_err *e);
/* Host access to the weights for code that reads or fills them in loops: on the CPU the
 * weights themselves; on a device a downloaded copy, written back (when write_back) and
 * freed by pset_host_end. NULL with e set on failure. */
float *pset_host_begin(const pset *ps, ts_err *e);
int pset_host_end(const pset *ps, float *host, int write_back, ts_err *e);
void pset_free(pset *ps);

#endif
