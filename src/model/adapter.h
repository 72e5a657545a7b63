/* adapter.h — the projector between the speech encoder and the LLM: concatenate k
 * consecutive encoder frames (50 Hz -> 50/k Hz), then Linear -> ReLU -> Linear into the LLM
 * width (SLAM-LLM's "linear" projector), or a single Linear. Tensor names:
 * "<prefix>linear1.weight" (H, k*Cin), "linear1.bias", "linear2.weight" (Cout, H),
 * "linear2.bias"; the single-Linear kind has only linear1 (Cout, k*Cin). */
#ifndef TS_ADAPTER_H
#define TS_ADAPTER_H

#include <cjson/cJSON.h>

#include "base/arena.h"
#include "tensor/params.h"

typedef enum adapter_kind { ADAPTER_MLP = 0, ADAPTER_LINEAR } adapter_kind;

typedef struct adapter_cfg {
  adapter_kind kind;
  int k;         /* frames concatenated (downsampling factor) */
  int64_t Cin;   /* encoder hidden size */
  int64_t H;     /* hidden width of the MLP kind */
  int64_t Cout;  /* LLM hidden size */
} adapter_cfg;

typedef struct adapter {
  adapter_cfg c;
  pset *ps;
  int i_w1, i_b1, i_w2, i_b2;
} adapter;

/* Saved activations; N = B * T/k output frames. */
typedef struct adapter_acts {
  int64_t B, Tin, Tout;
  const float *x;  /* (B, Tin, Cin) input, caller-owned */
  float *cat;      /* (N, k*Cin) */
  float *h;        /* (N, H) linear1 output (before ReLU) */
  float *a;        /* (N, H) after ReLU */
} adapter_acts;

int adapter_cfg_from_json(const cJSON *j, const char *what, adapter_cfg *c, ts_err *e);
int adapter_cfg_to_json(const adapter_cfg *c, cJSON *j, ts_err *e);
int adapter_declare(pset *ps, const char *prefix, const adapter_cfg *c, ts_err *e);
int adapter_bind(adapter *a, pset *ps, const char *prefix, const adapter_cfg *c, ts_err *e);
/* Output frames for Tin input frames. */
int64_t adapter_out_len(const adapter_cfg *c, int64_t Tin);
/* x (B, Tin, Cin) -> y (B, Tout, Cout). */
int adapter_forward(adapter *m, int64_t B, int64_t Tin, const float *x, float *y, adapter_acts *acts, arena *ar,
                    ts_err *e);
/* dy (B, Tout, Cout) -> dx (B, Tin, Cin) added (dx may be NULL); parameter gradients added. */
int adapter_backward(adapter *m, const adapter_acts *acts, const float *dy, float *dx, arena *ar, ts_err *e);

#endif
