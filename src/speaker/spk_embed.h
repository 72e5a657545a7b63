/* spk_embed.h — speaker embeddings of waveforms and file segments with the built-in encoder:
 * the segment scaled to RMS 0.05 (so a gain does not change the embedding), 80-dim Kaldi fbank
 * (25 ms / 10 ms) with per-utterance mean subtraction (as CAM++'s front end), then spk_forward
 * on one sequence. */
#ifndef TS_SPK_EMBED_H
#define TS_SPK_EMBED_H

#include <stdint.h>

#include "speaker/spk_model.h"

/* The encoder's features of x (n samples at cfg->sample_rate): *feats (T, n_mels) malloc'd,
 * owned by the caller. A segment shorter than one window is an error (TS_EFORMAT). */
int spk_features(const spk_cfg *c, const float *x, int64_t n, float **feats, int64_t *T, ts_err *e);
/* Embedding (E) of features (T, n_mels). */
int spk_embed_feats(spk_model *m, const float *feats, int64_t T, float *emb, ts_err *e);
/* Embedding (E) of a waveform at the model's sample rate. */
int spk_embed_wave(spk_model *m, const float *x, int64_t n, float *emb, ts_err *e);
/* Embedding of samples [s0, s0 + len) of an audio file (len <= 0: to the end), read and
 * resampled to the model's rate. The messages name the file. */
int spk_embed_file(spk_model *m, const char *path, int64_t s0, int64_t len, float *emb, ts_err *e);
/* Same with the segment in seconds: [start, start + duration) (duration <= 0: to the end);
 * start past the end is an error naming the file. */
int spk_embed_segment(spk_model *m, const char *path, double start, double duration, float *emb, ts_err *e);
/* Cosine of two vectors (0 when either is all zeros). */
double spk_cosine(const float *a, const float *b, int n);

#endif
