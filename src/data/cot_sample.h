/* cot_sample.h — the CoT facts of an assembled sample: durations from its timeline, each
 * source's span and gender, the enrollment's gender (the target's), and the similarity of each
 * source to the enrollment (from the manifest entry's "similarity", computed by a speaker
 * encoder), with levels by the paper's uniform quantisation. */
#ifndef TS_COT_SAMPLE_H
#define TS_COT_SAMPLE_H

#include "data/cot.h"
#include "data/sample.h"

/* similarity: (n_src) scores, or NULL to use s->entry->similarity; without any, every score
 * is 0 (level 1) and *has_sim is set to 0. Spans are clipped to the mixture. */
int cot_facts_from_sample(const sample *s, const double *similarity, cot_facts *f, int *has_sim, ts_err *e);
/* The full training response for a sample: CoT think + answer (transcript of the target). */
int cot_response_for(const sample *s, const double *similarity, const cot_opts *o, char **out, ts_err *e);

#endif
