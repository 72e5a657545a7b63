/* ctc.c — CTC loss and gradient (see ctc.h). */
#include "nn/ctc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double ctc_lse(double a, double b) {
  if (a == -INFINITY) return b;
  if (b == -INFINITY) return a;
  return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

int64_t ctc_chars(const char *text, int32_t *labels, int64_t max) {
  int64_t n = 0;
  for (const unsigned char *p = (const unsigned char *)text; *p && n < max; p++) {
    unsigned c = *p;
    if (c >= 'a' && c <= 'z') c -= 32;
    if (c == ' ')
      labels[n++] = 1;
    else if (c == '\'')
      labels[n++] = 2;
    else if (c >= 'A' && c <= 'Z')
      labels[n++] = 3 + (int32_t)(c - 'A');
  }
  return n;
}

int ctc_loss(const float *z, int64_t T, int64_t V, const int32_t *lab, int64_t L, float scale, double *loss,
             float *dz, int *feasible, ts_err *e) {
  int64_t S = 2 * L + 1;
  for (int64_t i = 0; i < L; i++)
    if (lab[i] <= 0 || lab[i] >= V) return err_set(e, TS_EARG, "ctc: label %d outside 1..%lld", lab[i], (long long)V - 1);
  double *lp = malloc(sizeof(double) * (size_t)(T * V + 1)); /* log-softmax */
  double *al = malloc(sizeof(double) * (size_t)(T * S + 1)), *be = malloc(sizeof(double) * (size_t)(T * S + 1));
  if (!lp || !al || !be) {
    free(lp), free(al), free(be);
    return err_set(e, TS_ENOMEM, "ctc: out of memory");
  }
  for (int64_t t = 0; t < T; t++) {
    const float *r = z + t * V;
    double mx = -INFINITY, s = 0;
    for (int64_t v = 0; v < V; v++) mx = r[v] > mx ? r[v] : mx;
    for (int64_t v = 0; v < V; v++) s += exp(r[v] - mx);
    double lse = mx + log(s);
    for (int64_t v = 0; v < V; v++) lp[t * V + v] = r[v] - lse;
  }
#define LAB(s) ((s) % 2 ? lab[(s) / 2] : 0)
  for (int64_t i = 0; i < T * S; i++) al[i] = be[i] = -INFINITY;
  if (T > 0) {
    al[0] = lp[0];
    if (S > 1) al[1] = lp[LAB(1)];
  }
  for (int64_t t = 1; t < T; t++)
    for (int64_t s = 0; s < S; s++) {
      double a = al[(t - 1) * S + s];
      if (s > 0) a = ctc_lse(a, al[(t - 1) * S + s - 1]);
      if (s > 1 && LAB(s) != 0 && LAB(s) != LAB(s - 2)) a = ctc_lse(a, al[(t - 1) * S + s - 2]);
      al[t * S + s] = a == -INFINITY ? a : a + lp[t * V + LAB(s)];
    }
  if (T > 0) {
    be[(T - 1) * S + S - 1] = lp[(T - 1) * V + LAB(S - 1)];
    if (S > 1) be[(T - 1) * S + S - 2] = lp[(T - 1) * V + LAB(S - 2)];
  }
  for (int64_t t = T - 2; t >= 0; t--)
    for (int64_t s = S - 1; s >= 0; s--) {
      double b = be[(t + 1) * S + s];
      if (s < S - 1) b = ctc_lse(b, be[(t + 1) * S + s + 1]);
      if (s < S - 2 && LAB(s) != 0 && LAB(s) != LAB(s + 2)) b = ctc_lse(b, be[(t + 1) * S + s + 2]);
      be[t * S + s] = b == -INFINITY ? b : b + lp[t * V + LAB(s)];
    }
  double ll = -INFINITY;
  if (T > 0) {
    ll = al[(T - 1) * S + S - 1];
    if (S > 1) ll = ctc_lse(ll, al[(T - 1) * S + S - 2]);
  }
  int ok = ll != -INFINITY;
  if (feasible) *feasible = ok;
  *loss = ok ? -ll : INFINITY;
  if (dz) {
    if (!ok) {
      memset(dz, 0, sizeof(float) * (size_t)(T * V));
    } else {
      /* d(-ll)/dz[t,v] = softmax[t,v] - (1/p) sum_{s: lab(s)=v} alpha beta / y[t,v] */
      double *occ = malloc(sizeof(double) * (size_t)(V + 1));
      if (!occ) {
        free(lp), free(al), free(be);
        return err_set(e, TS_ENOMEM, "ctc: out of memory");
      }
      for (int64_t t = 0; t < T; t++) {
        for (int64_t v = 0; v < V; v++) occ[v] = -INFINITY;
        for (int64_t s = 0; s < S; s++) {
          double ab = al[t * S + s] + be[t * S + s];
          if (ab != -INFINITY) occ[LAB(s)] = ctc_lse(occ[LAB(s)], ab - lp[t * V + LAB(s)]);
        }
        for (int64_t v = 0; v < V; v++) {
          double g = exp(lp[t * V + v]) - (occ[v] == -INFINITY ? 0.0 : exp(occ[v] - ll));
          dz[t * V + v] = (float)(scale * g);
        }
      }
      free(occ);
    }
  }
#undef LAB
  free(lp), free(al), free(be);
  return TS_OK;
}
