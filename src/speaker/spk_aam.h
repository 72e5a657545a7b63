/* spk_aam.h — additive angular margin softmax (AAM, ArcFace) loss for training the speaker
 * encoder. With unit-normalised embeddings ê_b and class weights ŵ_n, c_bn = ê_b · ŵ_n:
 *   logit_bn = s * c_bn                       for n != y_b
 *   logit_by = s * phi(c_by),  phi(c) = cos(acos(c) + m) = c cos m - sqrt(1 - c^2) sin m
 *              while acos(c) + m <= pi, else c - m sin m (keeps phi decreasing in the angle)
 *   loss = mean_b [ logsumexp_n(logit_bn) - logit_by ]
 * The matrix products and norms run through the op table; the margin touches one entry per
 * row and is applied on the host (the logits are CPU memory). */
#ifndef TS_SPK_AAM_H
#define TS_SPK_AAM_H

#include <stdint.h>

#include "base/arena.h"
#include "tensor/backend.h"

typedef struct spk_aam_out {
  double loss;     /* mean over the batch */
  double acc;      /* share of rows whose largest cosine is their own class */
  double mean_cos; /* mean target cosine (no margin) */
} spk_aam_out;

/* emb (B, E), w (N, E) class weights, labels (B) in 0..N-1 (host). Gradients of the mean loss
 * are ADDED into demb (B, E) and dw (N, E) when non-NULL. Scratch from ar (rewound). */
int spk_aam_loss(backend *be, const float *emb, const float *w, const int32_t *labels, int64_t B, int64_t E,
                 int64_t N, float margin, float scale, float *demb, float *dw, spk_aam_out *out, arena *ar,
                 ts_err *e);

#endif
