/* wb_facts.c — a sample's truth for the CoT check (timeline, genders, similarity levels, target)
 * and the scoring of a model output (format, answer, normalisation, WER, chosen target). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/sample.h"
#include "model/tsmodel.h"
#include "text/normalize.h"
#include "text/wer.h"
#include "wb_state.h"

double wb_input_silence = TSM_DEFAULT_SILENCE;

static cot_gender gender_of(char g) { return g == 'M' ? COT_MALE : g == 'F' ? COT_FEMALE : COT_GENDER_NONE; }

/* Timeline from the manifest alone (when the audio cannot be read): needs every duration. */
static int facts_from_manifest(const man_entry *m, double silence, cot_facts *f, ts_err *e) {
  if (!(m->enroll.duration > 0)) return err_set(e, TS_EFORMAT, "%s: enrollment duration unknown", m->id);
  double e0 = m->enroll.duration, s0 = silence, mix = 0;
  for (int k = 0; k < m->n_src; k++) {
    if (!isfinite(m->src[k].duration))
      return err_set(e, TS_EFORMAT, "%s: source %d: duration unknown", m->id, k + 1);
    double end = m->src[k].offset + m->src[k].duration;
    if (k == 0 || (m->mode == MAN_MODE_MAX ? end > mix : end < mix)) mix = end;
  }
  if (isfinite(m->duration) && m->duration > 0) mix = m->duration;
  f->enroll_dur = e0;
  f->silence_dur = s0;
  f->mix_dur = mix;
  f->total_dur = e0 + s0 + mix;
  for (int k = 0; k < m->n_src; k++) {
    double a = e0 + s0 + m->src[k].offset, b = a + m->src[k].duration;
    f->spk[k].start = a;
    f->spk[k].end = b < f->total_dur ? b : f->total_dur;
  }
  return TS_OK;
}

int wb_item_facts(wb_item *x, ts_err *e) {
  if (x->facts_state == WB_FACTS_OK) return TS_OK;
  if (x->facts_state == WB_FACTS_BAD) return err_set(e, TS_EFORMAT, "%s", x->facts_err);
  cot_facts *f = &x->facts;
  memset(f, 0, sizeof *f);
  ts_err le;
  err_clear(&le);
  int rc = TS_OK;
  if (!x->has_ent) {
    rc = err_set(&le, TS_EARG, "%s: no manifest entry (open the manifest for the truth)", x->id);
    goto out;
  }
  const man_entry *m = &x->ent;
  if (m->n_src < 1 || m->n_src > COT_MAX_SPEAKERS) {
    rc = err_set(&le, TS_EUNSUP, "%s: %d speakers; the CoT covers 1..%d", m->id, m->n_src, COT_MAX_SPEAKERS);
    goto out;
  }
  sample_opts so;
  sample_opts_default(&so);
  so.silence = wb_input_silence;
  sample s;
  memset(&s, 0, sizeof s);
  ts_err se;
  if (sample_build(m, &so, &s, &se) == TS_OK) {
    f->enroll_dur = s.spans[0].end - s.spans[0].start;
    f->silence_dur = s.spans[1].end - s.spans[1].start;
    f->mix_dur = s.spans[2].end - s.spans[2].start;
    f->total_dur = s.total;
    for (int i = 3; i < s.n_spans; i++) {
      int k = s.spans[i].src;
      if (k < 0 || k >= m->n_src) continue;
      f->spk[k].start = s.spans[i].start;
      f->spk[k].end = s.spans[i].end;
    }
    sample_free(&s);
  } else if (facts_from_manifest(m, so.silence, f, &le)) {
    err_prefix(&le, "no timeline (audio: %s)", se.msg);
    rc = le.code;
    goto out;
  }
  f->n_speakers = m->n_src;
  f->target = m->target;
  f->enroll_gender = gender_of(m->src[m->target].gender);
  x->has_sim = m->similarity != NULL;
  for (int k = 0; k < m->n_src; k++) {
    f->spk[k].gender = gender_of(m->src[k].gender);
    f->spk[k].score = m->similarity && isfinite(m->similarity[k]) ? m->similarity[k] : 0.0;
  }
  cot_facts_set_levels(f);
  rc = cot_facts_validate(f, NULL, &le);
out:
  if (rc) {
    x->facts_state = WB_FACTS_BAD;
    snprintf(x->facts_err, sizeof x->facts_err, "%s", le.msg);
    return err_set(e, (ts_code)rc, "%s", le.msg);
  }
  x->facts_state = WB_FACTS_OK;
  return TS_OK;
}

int wb_score(wb_item *x, const char *raw, wb_out *o, ts_err *e) {
  memset(o, 0, sizeof *o);
  o->wrong_target = -1;
  o->repetition = -1;
  size_t n = strlen(raw);
  size_t a0, a1, t0, t1;
  o->fmt = (int)cot_format_check(raw, n, &a0, &a1, &t0, &t1);
  o->format_ok = o->fmt == COT_FMT_OK;
  char *ans = NULL;
  wer_result wr;
  memset(&wr, 0, sizeof wr);
  int rc = TS_OK;
  o->raw = strdup(raw);
  if (!o->raw) return err_set(e, TS_ENOMEM, "%s: out of memory", x->id);
  if ((rc = cot_answer(raw, n, &ans, e))) goto fail;
  if ((rc = norm_librispeech(ans, strlen(ans), &o->hyp, NULL, e))) goto fail;
  const char *rt = x->ref_text ? x->ref_text : "";
  if ((rc = norm_librispeech(rt, strlen(rt), &o->ref, NULL, e))) goto fail;
  if ((rc = wer_align(o->ref, o->hyp, &wr, e))) goto fail;
  o->sub = wr.st.sub;
  o->del = wr.st.del;
  o->ins = wr.st.ins;
  o->n = wr.st.n_ref;
  wer_result_free(&wr);
  free(ans);
  if (x->target >= 0) {
    cot_parsed p;
    if (cot_parse(raw, n, &p, NULL) == TS_OK && p.target >= 0) o->wrong_target = p.target != x->target;
  }
  return TS_OK;
fail:
  free(ans);
  wer_result_free(&wr);
  wb_out_free(o);
  return err_prefix(e, "%s", x->id);
}

int wb_check_cot(wb_item *x, const wb_out *o, int continuous, cot_parsed *p, cot_check *c, ts_err *e) {
  if (!o || !o->raw || !*o->raw) return err_set(e, TS_EARG, "no model output to check");
  if (cot_parse(o->raw, strlen(o->raw), p, e)) return e->code;
  if (wb_item_facts(x, e)) return e->code;
  cot_check_opts co;
  memset(&co, 0, sizeof co);
  co.continuous = continuous;
  return cot_check_run(p, &x->facts, &co, c, e);
}
