/* ctc.h — connectionist temporal classification loss (Graves et al. 2006) with its gradient
 * with respect to the logits, in log space (forward-backward over the label sequence with
 * blanks interleaved). Used as the auxiliary loss of an encoder CTC head: a small model
 * trained from scratch otherwise learns the text prior and ignores the audio. */
#ifndef TS_CTC_H
#define TS_CTC_H

#include <stdint.h>

#include "base/err.h"

/* One sequence: logits (T, V) row-major (CPU), labels (L) in 1..V-1 (blank = 0).
 * Returns the negative log-likelihood in *loss; when dlogits is not NULL it receives
 * scale * d loss / d logits (T, V) (softmax inside). An impossible alignment (T too short for
 * the labels and their repeats) gives loss = +inf and zero gradient (*feasible = 0). */
int ctc_loss(const float *logits, int64_t T, int64_t V, const int32_t *labels, int64_t L, float scale, double *loss,
             float *dlogits, int *feasible, ts_err *e);

/* Character vocabulary for LibriSpeech-style transcripts: blank 0, space 1, apostrophe 2,
 * A..Z 3..28 (V = 29). Other characters are skipped. Returns the label count. */
#define CTC_CHAR_VOCAB 29
int64_t ctc_chars(const char *text, int32_t *labels, int64_t max);

#endif
