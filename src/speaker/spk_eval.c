/* spk_eval.c — EER and level histograms over all utterance pairs (spk_eval.h). */
#include "speaker/spk_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/cot.h"
#include "speaker/spk_embed.h"

typedef struct trial {
  double s;
  unsigned char tgt;
} trial;

static int trial_cmp(const void *a, const void *b) {
  double x = ((const trial *)a)->s, y = ((const trial *)b)->s;
  return x < y ? -1 : x > y;
}

int spk_eer(const double *score, const unsigned char *is_target, int64_t n, double *eer, double *thr, ts_err *e) {
  int64_t nt = 0, nn = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(score[i])) return err_set(e, TS_EARG, "eer: score %lld is not finite", (long long)i);
    is_target[i] ? nt++ : nn++;
  }
  if (!nt || !nn)
    return err_set(e, TS_EARG, "eer: %lld target and %lld non-target trials; both kinds are needed", (long long)nt,
                   (long long)nn);
  trial *t = malloc(sizeof(trial) * (size_t)n);
  if (!t) return err_set(e, TS_ENOMEM, "eer: out of memory");
  for (int64_t i = 0; i < n; i++) t[i] = (trial){score[i], is_target[i]};
  qsort(t, (size_t)n, sizeof *t, trial_cmp);
  /* threshold before sorted index i (accept score >= threshold): rejected = t[0..i) */
  int64_t rej_t = 0, rej_n = 0;
  double best = 2, be = 1, bt = t[0].s;
  for (int64_t i = 0; i <= n; i++) {
    if (i == 0 || i == n || t[i].s != t[i - 1].s) { /* only between distinct scores */
      double frr = (double)rej_t / nt, far = (double)(nn - rej_n) / nn;
      if (fabs(frr - far) < best) {
        best = fabs(frr - far);
        be = 0.5 * (frr + far);
        bt = i < n ? t[i].s : t[n - 1].s;
      }
    }
    if (i < n) t[i].tgt ? rej_t++ : rej_n++;
  }
  free(t);
  *eer = be;
  if (thr) *thr = bt;
  return TS_OK;
}

int spk_eval_set(spk_model *m, const spk_set *s, spk_eval_out *o, ts_err *e) {
  memset(o, 0, sizeof *o);
  int E = m->c.emb_dim, n = s->n;
  float *emb = malloc(sizeof(float) * (size_t)n * (size_t)E);
  int64_t np = (int64_t)n * (n - 1) / 2;
  double *sc = malloc(sizeof(double) * (size_t)(np ? np : 1));
  unsigned char *tg = malloc((size_t)(np ? np : 1));
  int rc = TS_OK;
  if (!emb || !sc || !tg) {
    rc = err_set(e, TS_ENOMEM, "speaker eval: out of memory");
    goto done;
  }
  for (int i = 0; i < n; i++)
    if ((rc = spk_embed_feats(m, s->feats[i], s->T[i], emb + (size_t)i * E, e))) {
      err_prefix(e, "%s", s->path[i]);
      goto done;
    }
  int C = s->n_cls;
  double *pc = calloc((size_t)C * (size_t)C, sizeof(double));
  int64_t *pn = calloc((size_t)C * (size_t)C, sizeof(int64_t));
  if (!pc || !pn) {
    free(pc), free(pn);
    rc = err_set(e, TS_ENOMEM, "speaker eval: out of memory");
    goto done;
  }
  int64_t k = 0;
  double ss = 0, sd = 0;
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++, k++) {
      sc[k] = spk_cosine(emb + (size_t)i * E, emb + (size_t)j * E, E);
      tg[k] = s->label[i] == s->label[j];
      int lv = cot_level(sc[k]) - 1;
      if (tg[k]) o->n_same++, o->hist_same[lv]++, ss += sc[k];
      else o->n_diff++, o->hist_diff[lv]++, sd += sc[k];
      int a = s->label[i] < s->label[j] ? s->label[i] : s->label[j], b = s->label[i] ^ s->label[j] ^ a;
      pc[a * C + b] += sc[k], pn[a * C + b]++;
    }
  for (int q = 0; q < 3; q++) o->close_cos[q] = -2, o->close_pair[q][0] = o->close_pair[q][1] = -1;
  for (int a = 0; a < C; a++)
    for (int b = a + 1; b < C; b++) {
      if (!pn[a * C + b]) continue;
      double v = pc[a * C + b] / (double)pn[a * C + b];
      for (int q = 0; q < 3; q++)
        if (v > o->close_cos[q]) { /* insert at q */
          for (int r = 2; r > q; r--) {
            o->close_cos[r] = o->close_cos[r - 1];
            o->close_pair[r][0] = o->close_pair[r - 1][0], o->close_pair[r][1] = o->close_pair[r - 1][1];
          }
          o->close_cos[q] = v, o->close_pair[q][0] = a, o->close_pair[q][1] = b;
          break;
        }
    }
  free(pc), free(pn);
  o->n_utts = n, o->n_spk = s->n_cls;
  o->mean_same = o->n_same ? ss / (double)o->n_same : NAN;
  o->mean_diff = o->n_diff ? sd / (double)o->n_diff : NAN;
  rc = spk_eer(sc, tg, np, &o->eer, &o->thr, e);
done:
  free(emb), free(sc), free(tg);
  return rc;
}
