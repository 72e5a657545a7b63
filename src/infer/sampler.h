/* sampler.h — next-token choice from logits: greedy, or sampling with temperature, top-k and
 * top-p (nucleus) from a counter-based RNG; and a guard that notices endless repetition. */
#ifndef TS_SAMPLER_H
#define TS_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "base/philox.h"

typedef struct sample_cfg {
  float temperature; /* 0 = greedy */
  float top_p;       /* 1 = off */
  int top_k;         /* 0 = off */
} sample_cfg;

/* Inverse-CDF pick of a token from p_j = exp(z_j inv_t - lse) for u in [0, 1): u is scaled by
 * the summed total when it falls past it, and never returns a token of p = 0
 * (a masked row). Exposed for tests. */
int32_t sample_pick(const float *z, int64_t V, float inv_t, float lse, double u);
/* Chooses a token from logits (V). *logp receives log softmax(logits / T)[token] over the
 * FULL vocabulary at temperature T (T = 1 for greedy): exactly the log-probability GRPO
 * needs for a token sampled at that temperature (truncation by top-k/top-p is not part of
 * it, as in TRL). Top-k / top-p keep a prefix of the order (logit descending, id ascending):
 * top-k first, then the nucleus of what it kept, as Hugging Face applies them
 * (src/tensor/rowsample.h). The same arithmetic as the backends' sample op. */
int32_t sample_token(const float *logits, int64_t V, const sample_cfg *c, philox_rng *r, float *logp);

/* Repetition guard: true when the last `span` or more tokens of seq consist of one pattern of
 * period p (1 <= p <= max_period) repeated at least min_repeats times. */
typedef struct rep_guard {
  int max_period;   /* default 32 */
  int min_repeats;  /* default 4 */
  int min_span;     /* default 24 tokens */
} rep_guard;

int rep_guard_hit(const rep_guard *g, const int32_t *seq, int64_t n);

#endif
