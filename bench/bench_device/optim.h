/* optim.h — bench_device's optimizer-step row: a real trainer's step after the SFT steps'
 * gradients (src/train/sft.c: the global gradient norm, then the clip's scaling and AdamW). */
#ifndef TS_BENCH_OPTIM_H
#define TS_BENCH_OPTIM_H

#include <stdint.h>

#include "tensor/params.h"

/* Prints the row "optim_step ...": the gradient norm as pset_grad_norm takes it (one sum of
 * squares per run of trainable tensors) and as session 17's trainer took it (one per run of
 * equal weight decay: on a GPU each sum is a wait), then the clip's scaling and AdamW at steps
 * from `step` on, in milliseconds, medians of 5 runs between the backend's syncs. It updates the
 * parameters of ps (5 AdamW steps). */
void bdopt_print(pset *ps, int64_t step);

#endif
