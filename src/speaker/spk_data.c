/* spk_data.c — loading a corpus split as features and labels (spk_data.h). */
#include "speaker/spk_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef TS_HAVE_AUDIO
#include "audio/audio_io.h"
#endif
#include "base/jsonx.h"
#include "base/log.h"
#include "data/corpus.h"
#include "speaker/spk_embed.h"

void spk_set_free(spk_set *s) {
  for (int i = 0; i < s->n; i++) {
    if (s->feats) free(s->feats[i]);
    if (s->path) free(s->path[i]);
  }
  for (int i = 0; i < s->n_cls; i++) free(s->cls_id[i]);
  free(s->feats), free(s->T), free(s->label), free(s->path), free(s->cls_id), free(s->cls_gender);
  memset(s, 0, sizeof *s);
}

static int in_split(const corpus *c, const char *path, const char *split) {
  if (!split || !*split) return 1;
  size_t r = strlen(c->root), k = strlen(split);
  if (strncmp(path, c->root, r)) return 0;
  const char *rel = path + r;
  while (*rel == '/') rel++;
  return !strncmp(rel, split, k) && rel[k] == '/';
}

/* Voice group of each speaker id from synth.json ("voices": [{"speaker", "group"}]); -1 = none. */
static void voice_groups(const char *corpus_dir, const corpus *c, int *grp) {
  for (int k = 0; k < c->n_spks; k++) grp[k] = -1;
  char p[4200];
  snprintf(p, sizeof p, "%s/synth.json", corpus_dir);
  cJSON *j = NULL;
  ts_err le = {0};
  if (access(p, R_OK) != 0 || jsonx_load(p, &j, &le)) return;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "voices"), *x;
  cJSON_ArrayForEach(x, v) {
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(x, "speaker"), *g = cJSON_GetObjectItemCaseSensitive(x, "group");
    if (!cJSON_IsNumber(g)) continue;
    char id[32];
    if (cJSON_IsNumber(sp)) snprintf(id, sizeof id, "%d", (int)sp->valuedouble);
    else if (cJSON_IsString(sp)) snprintf(id, sizeof id, "%s", sp->valuestring);
    else continue;
    int k = corpus_find_spk(c, id);
    if (k >= 0) grp[k] = (int)g->valuedouble;
  }
  cJSON_Delete(j);
}

int spk_set_load(const char *corpus_dir, const char *split, const spk_cfg *cfg, int max_per_spk, int by_person,
                 spk_set *s, ts_err *e) {
  memset(s, 0, sizeof *s);
  corpus c;
  corpus_opts o;
  corpus_opts_default(&o);
  int rc = corpus_open(corpus_dir, &o, &c, e);
  if (rc) return rc;
  int *grp = NULL;
  int *cls_of = malloc(sizeof(int) * (size_t)(c.n_spks ? c.n_spks : 1));
  int64_t *pick = malloc(sizeof(int64_t) * (size_t)(c.n_utts ? c.n_utts : 1));
  s->cls_id = calloc((size_t)(c.n_spks ? c.n_spks : 1), sizeof(char *));
  s->cls_gender = calloc((size_t)(c.n_spks ? c.n_spks : 1), 1);
  if (!cls_of || !pick || !s->cls_id || !s->cls_gender) {
    rc = err_set(e, TS_ENOMEM, "%s: out of memory", corpus_dir);
    goto done;
  }
  grp = malloc(sizeof(int) * (size_t)(c.n_spks ? c.n_spks : 1));
  if (!grp) {
    rc = err_set(e, TS_ENOMEM, "%s: out of memory", corpus_dir);
    goto done;
  }
  voice_groups(corpus_dir, &c, grp);
  if (!by_person)
    for (int k = 0; k < c.n_spks; k++) grp[k] = -1;
  int n = 0;
  for (int k = 0; k < c.n_spks; k++) cls_of[k] = -1;
  for (int k = 0; k < c.n_spks; k++) {
    int taken = 0;
    for (int j = 0; j < c.spks[k].n_utts; j++) {
      int64_t u = c.spks[k].utts[j];
      if (!in_split(&c, c.utts[u].path, split)) continue;
      if (max_per_spk > 0 && taken >= max_per_spk) break;
      for (int q = 0; cls_of[k] < 0 && grp[k] >= 0 && q < k; q++) /* same person: join its class */
        if (grp[q] == grp[k] && cls_of[q] >= 0) {
          cls_of[k] = cls_of[q];
          char *nid = malloc(strlen(s->cls_id[cls_of[q]]) + strlen(c.spks[k].id) + 2);
          if (nid) {
            sprintf(nid, "%s+%s", s->cls_id[cls_of[q]], c.spks[k].id);
            free(s->cls_id[cls_of[q]]);
            s->cls_id[cls_of[q]] = nid;
          }
        }
      if (cls_of[k] < 0) {
        cls_of[k] = s->n_cls;
        s->cls_id[s->n_cls] = strdup(c.spks[k].id);
        s->cls_gender[s->n_cls] = c.spks[k].gender;
        s->n_cls++;
      }
      pick[n++] = u;
      taken++;
    }
  }
  if (!n) {
    rc = err_set(e, TS_EFORMAT, "%s: no utterances in split \"%s\" (folder %s/%s)", corpus_dir, split ? split : "",
                 corpus_dir, split ? split : "");
    goto done;
  }
  s->feats = calloc((size_t)n, sizeof(float *));
  s->T = calloc((size_t)n, sizeof(int64_t));
  s->label = calloc((size_t)n, sizeof(int));
  s->path = calloc((size_t)n, sizeof(char *));
  if (!s->feats || !s->T || !s->label || !s->path) {
    rc = err_set(e, TS_ENOMEM, "%s: out of memory", corpus_dir);
    goto done;
  }
  s->n = n;
  int n_fail = 0;
  ts_err first = {0};
#pragma omp parallel for schedule(dynamic, 8) reduction(+ : n_fail)
  for (int i = 0; i < n; i++) {
    const corpus_utt *u = &c.utts[pick[i]];
    ts_err le = {0};
#ifdef TS_HAVE_AUDIO
    audio_buf a;
    int r = audio_read(u->path, cfg->sample_rate, &a, &le);
    if (!r) {
      r = spk_features(cfg, a.samples, a.n, &s->feats[i], &s->T[i], &le);
      audio_free(&a);
    }
#else
    int r = err_set(&le, TS_EUNSUP, "%s: this build has no audio support", u->path);
#endif
    s->label[i] = cls_of[u->spk];
    s->path[i] = strdup(u->path);
    if (r) {
      n_fail++;
#pragma omp critical(spk_data_err)
      if (!first.code) first = le;
    }
  }
  if (n_fail) {
    rc = err_set(e, first.code, "%s: %d utterances failed; first: %s", corpus_dir, n_fail, first.msg);
    goto done;
  }
  rc = TS_OK;
done:
  free(grp);
  free(cls_of);
  free(pick);
  corpus_free(&c);
  if (rc) spk_set_free(s);
  return rc;
}
