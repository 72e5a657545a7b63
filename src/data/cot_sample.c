/* cot_sample.c — CoT facts from an assembled sample (see cot_sample.h). */
#include "data/cot_sample.h"

#include <math.h>
#include <string.h>

static cot_gender cs_gender(char g) { return g == 'M' ? COT_MALE : g == 'F' ? COT_FEMALE : COT_GENDER_NONE; }

int cot_facts_from_sample(const sample *s, const double *similarity, cot_facts *f, int *has_sim, ts_err *e) {
  memset(f, 0, sizeof *f);
  if (s->n_src < 1 || s->n_src > COT_MAX_SPEAKERS)
    return err_set(e, TS_EARG, "cot facts: %d speakers (the CoT template covers 1..%d)", s->n_src, COT_MAX_SPEAKERS);
  const double *sim = similarity ? similarity : (s->entry ? s->entry->similarity : NULL);
  double rate = (double)s->rate;
  f->enroll_dur = (double)s->enroll_n / rate;
  f->silence_dur = (double)s->silence_n / rate;
  f->mix_dur = (double)s->mix_n / rate;
  f->total_dur = s->total;
  f->n_speakers = s->n_src;
  f->target = s->target;
  for (int i = 0; i < s->n_spans; i++) {
    const sample_span *sp = &s->spans[i];
    if (sp->kind == SPAN_ENROLL) f->enroll_gender = cs_gender(sp->gender);
    if (sp->kind != SPAN_SOURCE || sp->src < 0 || sp->src >= s->n_src) continue;
    cot_speaker *k = &f->spk[sp->src];
    k->gender = cs_gender(sp->gender);
    k->start = sp->start;
    k->end = sp->end;
  }
  for (int i = 0; i < s->n_src; i++) {
    double sc = sim && isfinite(sim[i]) ? sim[i] : 0.0;
    f->spk[i].score = sc;
    f->spk[i].level = cot_level(sc);
  }
  if (has_sim) *has_sim = sim != NULL;
  return TS_OK;
}

int cot_response_for(const sample *s, const double *similarity, const cot_opts *o, char **out, ts_err *e) {
  cot_facts f;
  int rc = cot_facts_from_sample(s, similarity, &f, NULL, e);
  if (rc) return rc;
  const man_entry *x = s->entry;
  const char *text = x && x->src[x->target].text ? x->src[x->target].text : "";
  return cot_build(&f, o, text, out, e);
}
