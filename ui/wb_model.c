/* wb_model.c — model loading and generation for the workbench (tsm_load + tsm_generate). */
#include "wb_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "data/sample.h"
#include "infer/generate.h"
#include "tensor/backend.h"

struct wb_model {
  tsm *m;
  char dir[4096];
};

int wb_model_open(const char *dir, wb_model **out, ts_err *e) {
  *out = NULL;
  wb_model *w = calloc(1, sizeof *w);
  if (!w) return err_set(e, TS_ENOMEM, "%s: out of memory", dir);
  if (tsm_load(dir, be_cpu(), 0, 0, &w->m, e)) {
    free(w);
    return err_prefix(e, "model %s", dir);
  }
  snprintf(w->dir, sizeof w->dir, "%s", dir);
  *out = w;
  return TS_OK;
}

void wb_model_free(wb_model *m) {
  if (!m) return;
  tsm_free(m->m);
  free(m);
}

const char *wb_model_dir(const wb_model *m) { return m ? m->dir : ""; }

double wb_model_silence(const wb_model *m) { return m->m->silence; }

void wb_model_brief(const wb_model *m, char *buf, size_t n) {
  snprintf(buf, n, "%s: LLM %d layers, width %d, vocab %d; inputs with %.2g s of silence", m->dir, (int)m->m->lcfg.L,
           (int)m->m->lcfg.C, (int)m->m->lcfg.V, m->m->silence);
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

int wb_model_generate(wb_model *m, const man_entry *ent, double temp, int top_k, double top_p, int G, int max_new,
                      uint64_t seed, char ***raws, int *rep, ts_err *e) {
  *raws = NULL;
  if (G < 1 || (temp <= 0 && G != 1)) return err_set(e, TS_EARG, "generate: G = %d at temperature %g", G, temp);
  sample_opts so;
  sample_opts_default(&so);
  so.silence = m->m->silence;
  sample s;
  memset(&s, 0, sizeof s);
  if (sample_build(ent, &so, &s, e)) return e->code;
  int32_t *prompt = NULL, np = 0;
  gen_output *outs = NULL;
  arena ar;
  arena_init(&ar, 1 << 22);
  int rc = tsm_prompt_ids(m->m, &prompt, &np, e);
  if (rc) goto done;
  outs = calloc((size_t)G, sizeof *outs);
  char **r = calloc((size_t)G, sizeof *r);
  if (!outs || !r) {
    free(r);
    rc = err_set(e, TS_ENOMEM, "generate: out of memory");
    goto done;
  }
  const int32_t *ids[1] = {prompt};
  int32_t n_ids[1] = {np};
  int64_t len[1] = {s.n};
  uint64_t key[1] = {fnv1a(ent->id)};
  gen_input in = {1, s.wave, s.n, len, ids, n_ids, key};
  gen_cfg c;
  memset(&c, 0, sizeof c);
  c.samp.temperature = (float)(temp > 0 ? temp : 0);
  c.samp.top_p = (float)top_p;
  c.samp.top_k = top_k;
  c.max_new = max_new;
  c.G = G;
  c.seed = seed;
  rc = tsm_generate(m->m, &in, &c, outs, &ar, e);
  if (rc) {
    free(r);
    goto done;
  }
  for (int g = 0; g < G; g++) {
    r[g] = strdup(outs[g].text ? outs[g].text : "");
    if (rep) rep[g] = outs[g].repetition;
    if (!r[g]) rc = err_set(e, TS_ENOMEM, "generate: out of memory");
  }
  if (rc) {
    for (int g = 0; g < G; g++) free(r[g]);
    free(r);
  } else {
    *raws = r;
  }
done:
  if (outs)
    for (int g = 0; g < G; g++) gen_output_free(&outs[g]);
  free(outs);
  free(prompt);
  arena_free(&ar);
  sample_free(&s);
  return rc;
}
