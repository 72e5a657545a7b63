/* tdata.h — tiny synthetic training data for trainer tests: eight 0.4 s tone "utterances" of
 * two speakers written as wav files, and a manifest over them (needs TS_HAVE_AUDIO). */
#ifndef TS_TDATA_H
#define TS_TDATA_H

/* Writes dir/u0..u7.wav and dir/train.jsonl; the manifest path goes into man (size n).
 * Returns 0 on success. */
int td_make_tiny(const char *dir, char *man, unsigned long n);
/* Same, but every utterance says the same sentence (a toy task whose answer is easy to learn,
 * so sampling noise is what RL has to remove). */
int td_make_tiny_same(const char *dir, char *man, unsigned long n);

#endif
