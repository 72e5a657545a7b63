/* adapter.c — frame-concatenation projector (see adapter.h). */
#include "model/adapter.h"

#include <stdio.h>
#include <string.h>

#include "base/jsonx.h"
#include "tensor/ops.h"

#define ADAPTER_MAX_SIZE (1 << 24) /* largest downsample or size a config may give */

#define TRY(x)           \
  do {                   \
    int rc_ = (x);       \
    if (rc_) return rc_; \
  } while (0)

int adapter_cfg_from_json(const cJSON *j, const char *what, adapter_cfg *c, ts_err *e) {
  memset(c, 0, sizeof *c);
  const char *kind = jsonx_str(j, "kind", 1, "mlp", what, e);
  if (!kind) return e->code;
  if (!strcmp(kind, "mlp"))
    c->kind = ADAPTER_MLP;
  else if (!strcmp(kind, "linear"))
    c->kind = ADAPTER_LINEAR;
  else
    return err_set(e, TS_EFORMAT, "%s: adapter kind \"%s\" (mlp or linear)", what, kind);
  int64_t k, cin, h, cout;
  int rc;
  if ((rc = jsonx_int(j, "downsample", &k, 1, 5, what, e))) return rc;
  if ((rc = jsonx_int(j, "input_size", &cin, 0, 0, what, e))) return rc;
  if ((rc = jsonx_int(j, "output_size", &cout, 0, 0, what, e))) return rc;
  if ((rc = jsonx_int(j, "hidden_size", &h, 1, 2048, what, e))) return rc;
  if (k < 1 || cin < 1 || cout < 1 || h < 1) return err_set(e, TS_EFORMAT, "%s: adapter sizes must be positive", what);
  /* k is kept in int and multiplies input_size: a bigger value is a corrupt config (it used to
   * be truncated to 0) */
  if (k > ADAPTER_MAX_SIZE || cin > ADAPTER_MAX_SIZE || cout > ADAPTER_MAX_SIZE || h > ADAPTER_MAX_SIZE)
    return err_set(e, TS_EFORMAT, "%s: adapter downsample %lld or size (%lld, %lld, %lld) out of range (up to %d)",
                   what, (long long)k, (long long)cin, (long long)h, (long long)cout, ADAPTER_MAX_SIZE);
  c->k = (int)k, c->Cin = cin, c->H = h, c->Cout = cout;
  return TS_OK;
}

int adapter_cfg_to_json(const adapter_cfg *c, cJSON *j, ts_err *e) {
  int ok = cJSON_AddStringToObject(j, "kind", c->kind == ADAPTER_MLP ? "mlp" : "linear") &&
           cJSON_AddNumberToObject(j, "downsample", c->k) && cJSON_AddNumberToObject(j, "input_size", (double)c->Cin) &&
           cJSON_AddNumberToObject(j, "output_size", (double)c->Cout);
  if (ok && c->kind == ADAPTER_MLP) ok = cJSON_AddNumberToObject(j, "hidden_size", (double)c->H) != NULL;
  return ok ? TS_OK : err_set(e, TS_ENOMEM, "adapter config: out of memory");
}

int adapter_declare(pset *ps, const char *prefix, const adapter_cfg *c, ts_err *e) {
  char nm[256];
  int64_t w1[2] = {c->kind == ADAPTER_MLP ? c->H : c->Cout, c->k * c->Cin}, b1[1] = {w1[0]};
  snprintf(nm, sizeof nm, "%slinear1.weight", prefix);
  if (pset_add(ps, nm, 2, w1, 1, e) < 0) return e->code;
  snprintf(nm, sizeof nm, "%slinear1.bias", prefix);
  if (pset_add(ps, nm, 1, b1, 0, e) < 0) return e->code;
  if (c->kind == ADAPTER_MLP) {
    int64_t w2[2] = {c->Cout, c->H}, b2[1] = {c->Cout};
    snprintf(nm, sizeof nm, "%slinear2.weight", prefix);
    if (pset_add(ps, nm, 2, w2, 1, e) < 0) return e->code;
    snprintf(nm, sizeof nm, "%slinear2.bias", prefix);
    if (pset_add(ps, nm, 1, b2, 0, e) < 0) return e->code;
  }
  return TS_OK;
}

static int adp_find(pset *ps, const char *prefix, const char *name, int *out, ts_err *e) {
  char nm[256];
  snprintf(nm, sizeof nm, "%s%s", prefix, name);
  if ((*out = pset_find(ps, nm)) < 0) return err_set(e, TS_EFORMAT, "adapter: parameter %s missing", nm);
  return TS_OK;
}

int adapter_bind(adapter *a, pset *ps, const char *prefix, const adapter_cfg *c, ts_err *e) {
  memset(a, 0, sizeof *a);
  a->c = *c;
  a->ps = ps;
  a->i_w2 = a->i_b2 = -1;
  TRY(adp_find(ps, prefix, "linear1.weight", &a->i_w1, e));
  TRY(adp_find(ps, prefix, "linear1.bias", &a->i_b1, e));
  if (c->kind == ADAPTER_MLP) {
    TRY(adp_find(ps, prefix, "linear2.weight", &a->i_w2, e));
    TRY(adp_find(ps, prefix, "linear2.bias", &a->i_b2, e));
  }
  return TS_OK;
}

int64_t adapter_out_len(const adapter_cfg *c, int64_t Tin) { return Tin / c->k; }

static float *adp_alloc(arena *ar, int64_t n, ts_err *e) {
  float *p = arena_alloc(ar, sizeof(float) * (size_t)(n + 1));
  if (!p) err_set(e, TS_ENOMEM, "adapter: arena out of memory");
  return p;
}

int adapter_forward(adapter *m, int64_t B, int64_t Tin, const float *x, float *y, adapter_acts *acts, arena *ar,
                    ts_err *e) {
  backend *be = m->ps->be;
  const adapter_cfg *c = &m->c;
  adapter_acts tmp;
  adapter_acts *a = acts ? acts : &tmp;
  memset(a, 0, sizeof *a);
  a->B = B, a->Tin = Tin, a->Tout = adapter_out_len(c, Tin), a->x = x;
  int64_t N = B * a->Tout, KC = c->k * c->Cin;
  if (!(a->cat = adp_alloc(ar, N * KC, e))) return TS_ENOMEM;
  tensor X = tensor_dev(be->device, (float *)x, 3, B, Tin, c->Cin, 0),
         CAT = tensor_dev(be->device, a->cat, 3, B, a->Tout, KC, 0);
  TRY(op_framecat(be, &X, &CAT, c->k, e));
  tensor C2 = tensor_dev(be->device, a->cat, 2, N, KC, 0, 0), W1 = pset_w(m->ps, m->i_w1), B1 = pset_w(m->ps, m->i_b1);
  if (c->kind == ADAPTER_LINEAR) {
    tensor Y = tensor_dev(be->device, y, 2, N, c->Cout, 0, 0);
    return op_matmul(be, &C2, &W1, &B1, &Y, 0, 1, 0.0f, e);
  }
  if (!(a->h = adp_alloc(ar, N * c->H, e)) || !(a->a = adp_alloc(ar, N * c->H, e))) return TS_ENOMEM;
  tensor Hh = tensor_dev(be->device, a->h, 2, N, c->H, 0, 0), A = tensor_dev(be->device, a->a, 2, N, c->H, 0, 0);
  TRY(op_matmul(be, &C2, &W1, &B1, &Hh, 0, 1, 0.0f, e));
  TRY(op_act(be, ACT_RELU, &Hh, &A, e));
  tensor W2 = pset_w(m->ps, m->i_w2), B2 = pset_w(m->ps, m->i_b2), Y = tensor_dev(be->device, y, 2, N, c->Cout, 0, 0);
  return op_matmul(be, &A, &W2, &B2, &Y, 0, 1, 0.0f, e);
}

int adapter_backward(adapter *m, const adapter_acts *a, const float *dy, float *dx, arena *ar, ts_err *e) {
  backend *be = m->ps->be;
  const adapter_cfg *c = &m->c;
  pset *ps = m->ps;
  int64_t N = a->B * a->Tout, KC = c->k * c->Cin;
  arena_mark mk = arena_get_mark(ar);
  float *dcat = adp_alloc(ar, N * KC, e);
  if (!dcat) return TS_ENOMEM;
  tensor DC = tensor_dev(be->device, dcat, 2, N, KC, 0, 0), C2 = tensor_dev(be->device, a->cat, 2, N, KC, 0, 0);
  tensor W1 = pset_w(ps, m->i_w1), GW1 = pset_g(ps, m->i_w1), GB1 = pset_g(ps, m->i_b1);
  int t1 = ps->g && !ps->v[m->i_w1].frozen;
  if (c->kind == ADAPTER_LINEAR) {
    tensor DY = tensor_dev(be->device, (float *)dy, 2, N, c->Cout, 0, 0);
    TRY(op_matmul_bwd_set(be, &C2, &W1, &DY, dx ? &DC : NULL, t1 ? &GW1 : NULL, t1 ? &GB1 : NULL, 0, 1, e));
  } else {
    float *dh = adp_alloc(ar, N * c->H, e), *da = adp_alloc(ar, N * c->H, e);
    if (!dh || !da) return TS_ENOMEM;
    tensor DA = tensor_dev(be->device, da, 2, N, c->H, 0, 0), DH = tensor_dev(be->device, dh, 2, N, c->H, 0, 0);
    tensor A = tensor_dev(be->device, a->a, 2, N, c->H, 0, 0), Hh = tensor_dev(be->device, a->h, 2, N, c->H, 0, 0);
    tensor W2 = pset_w(ps, m->i_w2), GW2 = pset_g(ps, m->i_w2), GB2 = pset_g(ps, m->i_b2);
    int t2 = ps->g && !ps->v[m->i_w2].frozen;
    tensor DY = tensor_dev(be->device, (float *)dy, 2, N, c->Cout, 0, 0);
    /* the gradients the GEMMs and the act write (op_matmul_bwd_set, op_act_bwd_set) need no zero fill first */
    TRY(op_matmul_bwd_set(be, &A, &W2, &DY, &DA, t2 ? &GW2 : NULL, t2 ? &GB2 : NULL, 0, 1, e));
    TRY(op_act_bwd_set(be, ACT_RELU, &Hh, &DA, &DH, e));
    TRY(op_matmul_bwd_set(be, &C2, &W1, &DH, dx ? &DC : NULL, t1 ? &GW1 : NULL, t1 ? &GB1 : NULL, 0, 1, e));
  }
  if (dx) {
    tensor DX = tensor_dev(be->device, dx, 3, a->B, a->Tin, c->Cin, 0),
           DC3 = tensor_dev(be->device, dcat, 3, a->B, a->Tout, KC, 0);
    TRY(op_framecat_bwd(be, &DC3, &DX, c->k, e));
  }
  arena_rewind(ar, mk);
  return TS_OK;
}
