/* spk_data.h — the utterances of one split of a LibriSpeech-layout corpus (e.g. the synthetic
 * corpus of `tsasr synth`) as encoder features with speaker labels, for training and for
 * verification trials. */
#ifndef TS_SPK_DATA_H
#define TS_SPK_DATA_H

#include <stdint.h>

#include "speaker/spk_model.h"

typedef struct spk_set {
  int n;            /* utterances */
  float **feats;    /* (n) each (T[i], n_mels), mean-normalised fbank */
  int64_t *T;       /* (n) frames */
  int *label;       /* (n) class 0..n_cls-1 */
  char **path;      /* (n) audio file */
  int n_cls;
  char **cls_id;    /* (n_cls) speaker ids */
  char *cls_gender; /* (n_cls) 'M', 'F', '?' */
} spk_set;

/* Loads the utterances under CORPUS_DIR/SPLIT/ (every utterance when split is NULL or ""), at
 * most max_per_spk per speaker (0 = all), computing features with threads. A split with no
 * utterances is an error naming the folder. With by_person, speakers that CORPUS_DIR/synth.json
 * puts in one voice group (the same person read by two TTS engines, e.g. flite kal16 and
 * festival kal_diphone) share one label (cls_id "A+B"); without synth.json nothing changes. */
int spk_set_load(const char *corpus_dir, const char *split, const spk_cfg *c, int max_per_spk, int by_person,
                 spk_set *s, ts_err *e);
void spk_set_free(spk_set *s);

#endif
