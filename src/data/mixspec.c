/* mixspec.c — seeded LibriMix-style mixture specs (speakers, loudness, offsets, enrollment). */
#include "data/mixspec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/philox.h"

#define MIX_STREAM_TAG 0x6d6978737065630aULL /* "mixspec" */

void mix_opts_default(mix_opts *o) {
  memset(o, 0, sizeof *o);
  o->p_spk[1] = 1.0;
  o->lufs_lo = -33.0;
  o->lufs_hi = -25.0;
  o->enroll_dur = 3.0;
  o->all_targets = 1;
  o->set = "";
}

static double unif(philox_rng *r, double lo, double hi) {
  return hi > lo ? lo + (hi - lo) * philox_uniform_d(r) : lo;
}

/* Open-addressing set of 64-bit hashes (mixture ids already used). */
typedef struct hset {
  uint64_t *v;
  int64_t cap, n;
} hset;

static int hset_add(hset *h, uint64_t x) { /* 1 added, 0 present, -1 no memory */
  if (!x) x = 1;
  if (2 * (h->n + 1) > h->cap) {
    int64_t nc = h->cap ? h->cap * 2 : 1024;
    uint64_t *nv = calloc((size_t)nc, sizeof *nv);
    if (!nv) return -1;
    for (int64_t i = 0; i < h->cap; i++) {
      if (!h->v[i]) continue;
      int64_t j = (int64_t)(h->v[i] % (uint64_t)nc);
      while (nv[j]) j = (j + 1) % nc;
      nv[j] = h->v[i];
    }
    free(h->v);
    h->v = nv;
    h->cap = nc;
  }
  int64_t j = (int64_t)(x % (uint64_t)h->cap);
  while (h->v[j]) {
    if (h->v[j] == x) return 0;
    j = (j + 1) % h->cap;
  }
  h->v[j] = x;
  h->n++;
  return 1;
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static int usable(const corpus_utt *u) { return isnan(u->dur) || u->dur > 0; }

/* The enrollment of target utterance tu: another utterance of the same speaker, preferring
 * those at least enroll_dur long; a crop of enroll_dur at a random start (whole samples). */
static void pick_enroll(const corpus *c, int64_t tu, const mix_opts *o, philox_rng *r,
                        man_enroll *en) {
  const corpus_spk *s = &c->spks[c->utts[tu].spk];
  int n_long = 0, n_other = 0;
  for (int i = 0; i < s->n_utts; i++) {
    const corpus_utt *u = &c->utts[s->utts[i]];
    if (s->utts[i] == tu || !usable(u)) continue;
    n_other++;
    if (isnan(u->dur) || u->dur >= o->enroll_dur) n_long++;
  }
  int want_long = n_long > 0;
  int k = (int)philox_below(r, (uint64_t)(want_long ? n_long : n_other));
  int64_t eu = -1;
  for (int i = 0; i < s->n_utts; i++) {
    const corpus_utt *u = &c->utts[s->utts[i]];
    if (s->utts[i] == tu || !usable(u)) continue;
    if (want_long && !(isnan(u->dur) || u->dur >= o->enroll_dur)) continue;
    if (k-- == 0) {
      eu = s->utts[i];
      break;
    }
  }
  const corpus_utt *u = &c->utts[eu];
  en->path = strdup(u->path);
  en->utt = strdup(u->id);
  en->speaker = strdup(s->id);
  en->gain = NAN;
  en->lufs = unif(r, o->lufs_lo, o->lufs_hi);
  if (u->frames > 0 && u->rate > 0) {
    int64_t len = (int64_t)llround(o->enroll_dur * u->rate);
    if (len > u->frames || len <= 0) len = u->frames;
    int64_t start = (int64_t)philox_below(r, (uint64_t)(u->frames - len + 1));
    en->start = (double)start / u->rate;
    en->duration = (double)len / u->rate;
  } else {
    (void)philox_u32(r); /* keep the draw count independent of header knowledge */
    en->start = 0;
    en->duration = o->enroll_dur;
  }
}

int mix_pick_enroll(const corpus *c, int64_t tu, double enroll_dur, double lufs_lo, double lufs_hi,
                    uint64_t seed, uint64_t stream, man_enroll *en, ts_err *e) {
  memset(en, 0, sizeof *en);
  const corpus_spk *s = &c->spks[c->utts[tu].spk];
  int other = 0;
  for (int i = 0; i < s->n_utts; i++) other += s->utts[i] != tu && usable(&c->utts[s->utts[i]]);
  if (!other) {
    char where[4300];
    return err_set(e, TS_EARG, "%s: speaker %s has a single utterance (%s): no enrollment possible",
                   corpus_utt_where(c, tu, where, sizeof where), s->id, c->utts[tu].id);
  }
  mix_opts o;
  mix_opts_default(&o);
  o.enroll_dur = enroll_dur;
  o.lufs_lo = lufs_lo;
  o.lufs_hi = lufs_hi;
  philox_rng r;
  philox_init(&r, seed, stream);
  pick_enroll(c, tu, &o, &r, en);
  if (!en->path || !en->utt || !en->speaker) return err_set(e, TS_ENOMEM, "mix_pick_enroll: out of memory");
  return TS_OK;
}

int mix_make(const corpus *c, const mix_opts *opts, int64_t n_mix, manifest *out, mix_stats *st,
             ts_err *e) {
  mix_opts dflt;
  if (!opts) {
    mix_opts_default(&dflt);
    opts = &dflt;
  }
  mix_stats tmp;
  if (!st) st = &tmp;
  memset(st, 0, sizeof *st);
  double psum = opts->p_spk[0] + opts->p_spk[1] + opts->p_spk[2];
  if (!(psum > 0) || opts->p_spk[0] < 0 || opts->p_spk[1] < 0 || opts->p_spk[2] < 0)
    return err_set(e, TS_EARG, "mix_make: speaker-count probabilities must be >= 0 with a positive sum");
  if (opts->lufs_hi < opts->lufs_lo || opts->offset_hi < opts->offset_lo || opts->offset_lo < 0 ||
      !(opts->enroll_dur > 0))
    return err_set(e, TS_EARG, "mix_make: bad loudness/offset range or enrollment length");
  int kmax = opts->p_spk[2] > 0 ? 3 : opts->p_spk[1] > 0 ? 2 : 1;

  /* eligible utterances: speakers with >= 2 usable utterances */
  int64_t *elig = malloc(sizeof *elig * (size_t)(c->n_utts ? c->n_utts : 1));
  if (!elig) return err_set(e, TS_ENOMEM, "mix_make: out of memory");
  int64_t n_elig = 0;
  for (int s = 0; s < c->n_spks; s++) {
    const corpus_spk *sp = &c->spks[s];
    int nu = 0;
    for (int i = 0; i < sp->n_utts; i++) nu += usable(&c->utts[sp->utts[i]]);
    if (nu == 1) {
      char where[4300];
      int64_t u0 = -1;
      for (int i = 0; i < sp->n_utts && u0 < 0; i++)
        if (usable(&c->utts[sp->utts[i]])) u0 = sp->utts[i];
      log_warn("%s: speaker %s has a single utterance (%s): no enrollment possible, speaker skipped",
               corpus_utt_where(c, u0, where, sizeof where), sp->id, c->utts[u0].id);
      st->n_single++;
      continue;
    }
    if (nu < 2) continue;
    st->n_eligible_spk++;
    for (int i = 0; i < sp->n_utts; i++)
      if (usable(&c->utts[sp->utts[i]])) elig[n_elig++] = sp->utts[i];
  }
  if (st->n_eligible_spk < kmax) {
    free(elig);
    return err_set(e, TS_EARG,
                   "%s: %d speakers with at least two utterances; %d-speaker mixtures need %d",
                   c->root, st->n_eligible_spk, kmax, kmax);
  }
  hset seen = {0};
  int rc = TS_OK;
  for (int64_t m = 0; m < n_mix && !rc; m++) {
    philox_rng r;
    philox_init(&r, opts->seed, philox_stream_id(MIX_STREAM_TAG, (uint64_t)m, 0));
    int64_t utt[3];
    int k = 1;
    char mixid[1024];
    double uk = philox_uniform_d(&r) * psum;
    k = uk < opts->p_spk[0] ? 1 : uk < opts->p_spk[0] + opts->p_spk[1] ? 2 : 3;
    for (int attempt = 0;; attempt++) {
      for (int i = 0; i < k; i++) {
        for (int tries = 0;; tries++) {
          int64_t cand = elig[philox_below(&r, (uint64_t)n_elig)];
          int clash = 0;
          for (int j = 0; j < i; j++) clash |= c->utts[utt[j]].spk == c->utts[cand].spk;
          if (!clash) {
            utt[i] = cand;
            break;
          }
          if (tries > 10000) { /* pathological: scan deterministically */
            for (int64_t q = 0; q < n_elig; q++) {
              int cl = 0;
              for (int j = 0; j < i; j++) cl |= c->utts[utt[j]].spk == c->utts[elig[q]].spk;
              if (!cl) {
                utt[i] = elig[q];
                break;
              }
            }
            break;
          }
        }
      }
      int len = 0;
      mixid[0] = 0;
      for (int i = 0; i < k; i++)
        len += snprintf(mixid + len, sizeof mixid - (size_t)len, "%s%s", i ? "_" : "", c->utts[utt[i]].id);
      int added = hset_add(&seen, hash_str(mixid));
      if (added < 0) {
        rc = err_set(e, TS_ENOMEM, "mix_make: out of memory");
        break;
      }
      if (added || attempt >= 20) {
        if (!added) { /* tiny corpus: make the id unique instead */
          snprintf(mixid + len, sizeof mixid - (size_t)len, "~%lld", (long long)m);
          hset_add(&seen, hash_str(mixid));
        }
        break;
      }
    }
    if (rc) break;
    man_entry x;
    memset(&x, 0, sizeof x);
    x.n_src = k;
    x.src = calloc((size_t)k, sizeof *x.src);
    if (!x.src) {
      rc = err_set(e, TS_ENOMEM, "mix_make: out of memory");
      break;
    }
    x.set = strdup(opts->set ? opts->set : "");
    x.mode = MAN_MODE_MAX;
    double dur = 0;
    for (int i = 0; i < k; i++) {
      const corpus_utt *u = &c->utts[utt[i]];
      const corpus_spk *sp = &c->spks[u->spk];
      man_source *s = &x.src[i];
      s->path = strdup(u->path);
      s->speaker = strdup(sp->id);
      s->gender = sp->gender;
      s->text = strdup(u->text);
      s->utt = strdup(u->id);
      s->gain = NAN;
      s->lufs = unif(&r, opts->lufs_lo, opts->lufs_hi);
      double off = i ? unif(&r, opts->offset_lo, opts->offset_hi) : 0.0;
      if (u->rate > 0) off = (double)llround(off * u->rate) / u->rate; /* whole samples */
      s->offset = off;
      s->duration = u->dur;
      dur = fmax(dur, off + u->dur);
    }
    x.duration = dur;
    int t0 = 0, t1 = k;
    if (!opts->all_targets) {
      t0 = (int)philox_below(&r, (uint64_t)k);
      t1 = t0 + 1;
    }
    for (int t = t0; t < t1 && !rc; t++) {
      man_entry y;
      rc = man_entry_copy(&y, &x, e);
      if (rc) break;
      y.target = t;
      char id[1100];
      snprintf(id, sizeof id, "%s-s%d", mixid, t + 1);
      free(y.id);
      y.id = strdup(id);
      /* the enrollment draw has its own stream: independent of the target order */
      philox_rng er;
      philox_init(&er, opts->seed, philox_stream_id(MIX_STREAM_TAG, (uint64_t)m, (uint64_t)t + 1));
      pick_enroll(c, utt[t], opts, &er, &y.enroll);
      if (!y.id || !y.enroll.path) {
        man_entry_free(&y);
        rc = err_set(e, TS_ENOMEM, "mix_make: out of memory");
        break;
      }
      rc = man_take(out, &y, e);
      if (rc) man_entry_free(&y);
      st->n_entries++;
    }
    man_entry_free(&x);
    st->n_mix++;
  }
  free(seen.v);
  free(elig);
  return rc;
}
