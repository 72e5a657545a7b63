/* tdata.h — tiny synthetic training data for trainer tests: eight 0.4 s tone "utterances" of
 * two speakers written as wav files, and a manifest over them (needs TS_HAVE_AUDIO). */
#ifndef TS_TDATA_H
#define TS_TDATA_H

/* Writes dir/u0..u7.wav and dir/train.jsonl; the manifest path goes into man (size n).
 * Returns 0 on success. */
int td_make_tiny(const char *dir, char *man, unsigned long n);

#endif
