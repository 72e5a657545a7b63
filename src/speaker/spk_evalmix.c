/* spk_evalmix.c — similarity levels of targets and interferers in simulated mixtures (spk_eval.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "data/cot.h"
#include "data/mixspec.h"
#include "speaker/spk_eval.h"
#include "speaker/spk_score.h"

int spk_eval_mixtures(spk_scorer *s, const char *corpus_dir, const char *split, int64_t n_mix, uint64_t seed,
                      spk_mixeval_out *o, manifest *keep, ts_err *e) {
  memset(o, 0, sizeof *o);
  char root[4200];
  snprintf(root, sizeof root, "%s%s%s", corpus_dir, split && *split ? "/" : "", split ? split : "");
  corpus c;
  corpus_opts co;
  corpus_opts_default(&co);
  int rc = corpus_open(root, &co, &c, e);
  if (rc) return rc;
  mix_opts mo;
  mix_opts_default(&mo);
  mo.seed = seed;
  manifest m;
  man_init(&m);
  if ((rc = mix_make(&c, &mo, n_mix, &m, NULL, e))) goto done;
  double st = 0, so = 0;
  int64_t nt = 0, no = 0;
  for (int64_t i = 0; i < m.n; i++) {
    man_entry *x = &m.e[i];
    double sim[MAN_MAX_SRC];
    ts_err le = {0};
    if (spk_entry_similarity(s, x, sim, &le)) {
      if (!o->n_bad) log_warn("speaker eval: %s", le.msg);
      o->n_bad++;
      continue;
    }
    o->n_entries++;
    if (keep) {
      free(x->similarity);
      if ((x->similarity = malloc(sizeof(double) * (size_t)x->n_src)))
        memcpy(x->similarity, sim, sizeof(double) * (size_t)x->n_src);
    }
    int top_s = 1, top_l = 1, lt = cot_level(sim[x->target]);
    for (int k = 0; k < x->n_src; k++) {
      int lv = cot_level(sim[k]);
      if (k == x->target) {
        o->hist_target[lv - 1]++, st += sim[k], nt++;
      } else {
        o->hist_other[lv - 1]++, so += sim[k], no++;
        top_s &= sim[x->target] > sim[k];
        top_l &= lt > lv;
      }
    }
    o->n_top_score += top_s, o->n_top_level += top_l;
  }
  o->mean_target = nt ? st / (double)nt : 0;
  o->mean_other = no ? so / (double)no : 0;
  for (int64_t i = 0; keep && i < m.n && !rc; i++) rc = man_add(keep, &m.e[i], e);
done:
  man_free(&m);
  corpus_free(&c);
  return rc;
}
