/* lua_data.c — data bindings: ts.corpus (LibriSpeech-layout index, the synthetic TTS corpus),
 * ts.mixer (seeded LibriMix-style specs -> a dataset), ts.librimix (metadata CSV + SpeakerBeam
 * list -> a dataset), ts.manifest (read/write) and the dataset object (#ds, ds:sample(i),
 * ds:entry(i), ds:cot{...}, ds:write(path)); ts.singles (one single-speaker entry per utterance). A dataset keeps its manifest in C memory; only
 * what a recipe asks for crosses into Lua. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "base/philox.h"
#include "data/corpus.h"
#include "data/cot.h"
#include "data/cot_rr.h"
#include "data/librimix.h"
#include "data/manifest.h"
#include "data/mixspec.h"
#include "data/sample.h"
#include "data/synth.h"
#include "scripting/tslua.h"

#define CORPUS_T "tsasr.corpus"
#define DS_T "tsasr.dataset"

void tsl_push_facts(lua_State *L, const cot_facts *f); /* lua_text.c */

/* ---- corpus ---- */

static void corpus_release(void *p) {
  corpus_free(p);
  free(p);
}

static void corpus_opts_from(lua_State *L, int idx, const char *fn, corpus_opts *o) {
  corpus_opts_default(o);
  if (lua_isnoneornil(L, idx)) return;
  static const char *const known[] = {"min_dur", "max_dur", "rate", "cache_dir", "no_cache", NULL};
  tsl_opts_check(L, idx, fn, known);
  o->min_dur = tsl_opt_num(L, idx, fn, "min_dur", o->min_dur);
  o->max_dur = tsl_opt_num(L, idx, fn, "max_dur", o->max_dur);
  o->rate = (int)tsl_opt_int(L, idx, fn, "rate", o->rate);
  o->cache_dir = tsl_opt_str(L, idx, fn, "cache_dir", o->cache_dir);
  o->no_cache = tsl_opt_bool(L, idx, fn, "no_cache", o->no_cache);
}

static int push_corpus(lua_State *L, const char *root, const corpus_opts *o, const char *fn) {
  corpus *c = calloc(1, sizeof *c);
  if (!c) return luaL_error(L, "%s: out of memory", fn);
  ts_err e;
  /* absolute paths, so manifests written elsewhere (run directories) still find the audio */
  char *abs = realpath(root, NULL);
  int rc = corpus_open(abs ? abs : root, o, c, &e);
  free(abs);
  if (rc) {
    free(c);
    return tsl_raise(L, &e, fn);
  }
  tsl_push(L, CORPUS_T, c, corpus_release);
  return 1;
}

static int l_librispeech(lua_State *L) {
  const char *root = luaL_checkstring(L, 1);
  corpus_opts o;
  corpus_opts_from(L, 2, "ts.corpus.librispeech", &o);
  return push_corpus(L, root, &o, "ts.corpus.librispeech");
}

static int l_corpus_len(lua_State *L) {
  corpus *c = tsl_check(L, 1, CORPUS_T);
  lua_pushinteger(L, c->n_utts);
  return 1;
}

static int l_corpus_utt(lua_State *L) {
  corpus *c = tsl_check(L, 1, CORPUS_T);
  lua_Integer i = luaL_checkinteger(L, 2);
  if (i < 1 || i > c->n_utts) return luaL_error(L, "corpus:utt: index %d out of range 1..%d", (int)i, (int)c->n_utts);
  const corpus_utt *u = &c->utts[i - 1];
  const corpus_spk *s = &c->spks[u->spk];
  lua_createtable(L, 0, 6);
  lua_pushstring(L, u->id);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, u->path);
  lua_setfield(L, -2, "path");
  lua_pushstring(L, u->text);
  lua_setfield(L, -2, "text");
  lua_pushstring(L, s->id);
  lua_setfield(L, -2, "speaker");
  char g[2] = {s->gender, 0};
  lua_pushstring(L, g);
  lua_setfield(L, -2, "gender");
  if (!isnan(u->dur)) {
    lua_pushnumber(L, u->dur);
    lua_setfield(L, -2, "duration");
  }
  return 1;
}

static int l_corpus_info(lua_State *L) {
  corpus *c = tsl_check(L, 1, CORPUS_T);
  double secs = 0;
  int nm = 0, nf = 0;
  for (int64_t i = 0; i < c->n_utts; i++)
    if (!isnan(c->utts[i].dur)) secs += c->utts[i].dur;
  for (int s = 0; s < c->n_spks; s++) nm += c->spks[s].gender == 'M', nf += c->spks[s].gender == 'F';
  lua_createtable(L, 0, 7);
  lua_pushstring(L, c->root);
  lua_setfield(L, -2, "root");
  lua_pushinteger(L, c->n_utts);
  lua_setfield(L, -2, "utterances");
  lua_pushinteger(L, c->n_spks);
  lua_setfield(L, -2, "speakers");
  lua_pushinteger(L, nm);
  lua_setfield(L, -2, "male");
  lua_pushinteger(L, nf);
  lua_setfield(L, -2, "female");
  lua_pushnumber(L, secs / 3600.0);
  lua_setfield(L, -2, "hours");
  lua_pushinteger(L, c->n_skipped);
  lua_setfield(L, -2, "skipped");
  return 1;
}

/* ts.corpus.synth{out=, split="train", seed=, voices=, utts_per_voice=, source="grid"|"book",
 * jobs=, force=} -> corpus of that split (generated when OUT/synth.json is absent) */
static int l_synth(lua_State *L) {
  const char *fn = "ts.corpus.synth";
  static const char *const known[] = {"out", "split", "seed", "voices", "utts_per_voice", "source",
                                      "jobs", "force", "regenerate", "quiet", NULL};
  tsl_opts_check(L, 1, fn, known);
  const char *out = tsl_opt_req_str(L, 1, fn, "out");
  const char *split = tsl_opt_str(L, 1, fn, "split", "train");
  synth_opts o;
  synth_opts_default(&o);
  o.seed = (uint64_t)tsl_opt_int(L, 1, fn, "seed", (int64_t)o.seed);
  o.voices = (int)tsl_opt_int(L, 1, fn, "voices", o.voices);
  o.utts_per_voice = (int)tsl_opt_int(L, 1, fn, "utts_per_voice", o.utts_per_voice);
  o.jobs = (int)tsl_opt_int(L, 1, fn, "jobs", o.jobs);
  o.force = tsl_opt_bool(L, 1, fn, "force", o.force);
  o.quiet = tsl_opt_bool(L, 1, fn, "quiet", 1);
  const char *src = tsl_opt_str(L, 1, fn, "source", "grid");
  if (!strcmp(src, "grid"))
    o.source = SYNTH_GRID;
  else if (!strcmp(src, "book"))
    o.source = SYNTH_BOOK;
  else
    return luaL_error(L, "%s: option 'source' must be \"grid\" or \"book\", got \"%s\"", fn, src);
  int regen = tsl_opt_bool(L, 1, fn, "regenerate", 0);
  char p[4200];
  snprintf(p, sizeof p, "%s/synth.json", out);
  ts_err e;
  FILE *f = fopen(p, "r");
  if (f) fclose(f);
  if (!f || regen) {
    synth_report r;
    if (regen) o.force = 1;
    if (synth_run(out, &o, &r, &e)) return tsl_raise(L, &e, fn);
  }
  snprintf(p, sizeof p, "%s/%s", out, split);
  corpus_opts co;
  corpus_opts_default(&co);
  return push_corpus(L, p, &co, fn);
}

/* ts.synth{out=, seed=, voices=, utts_per_voice=, source=, jobs=, force=, quiet=} -> report:
 * writes the synthetic corpus (always; force=true to write into a non-empty folder). */
static int l_synth_run(lua_State *L) {
  const char *fn = "ts.synth";
  static const char *const known[] = {"out", "seed", "voices", "utts_per_voice", "source", "jobs", "force", "quiet",
                                      NULL};
  tsl_opts_check(L, 1, fn, known);
  const char *out = tsl_opt_req_str(L, 1, fn, "out");
  synth_opts o;
  synth_opts_default(&o);
  o.seed = (uint64_t)tsl_opt_int(L, 1, fn, "seed", (int64_t)o.seed);
  o.voices = (int)tsl_opt_int(L, 1, fn, "voices", o.voices);
  o.utts_per_voice = (int)tsl_opt_int(L, 1, fn, "utts_per_voice", o.utts_per_voice);
  o.jobs = (int)tsl_opt_int(L, 1, fn, "jobs", o.jobs);
  o.force = tsl_opt_bool(L, 1, fn, "force", o.force);
  o.quiet = tsl_opt_bool(L, 1, fn, "quiet", 1);
  const char *src = tsl_opt_str(L, 1, fn, "source", "grid");
  if (!strcmp(src, "grid"))
    o.source = SYNTH_GRID;
  else if (!strcmp(src, "book"))
    o.source = SYNTH_BOOK;
  else
    return luaL_error(L, "%s: option 'source' must be \"grid\" or \"book\", got \"%s\"", fn, src);
  synth_report r;
  ts_err e;
  if (synth_run(out, &o, &r, &e)) return tsl_raise(L, &e, fn);
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, r.n_voices);
  lua_setfield(L, -2, "voices");
  lua_pushinteger(L, r.n_unseen);
  lua_setfield(L, -2, "unseen");
  lua_pushinteger(L, r.n_utts);
  lua_setfield(L, -2, "utterances");
  lua_pushnumber(L, r.audio_sec / 3600.0);
  lua_setfield(L, -2, "hours");
  lua_pushnumber(L, r.wall_sec);
  lua_setfield(L, -2, "secs");
  lua_pushinteger(L, r.vocab);
  lua_setfield(L, -2, "vocab");
  static const char *const splits[5] = {"train", "dev-seen", "test-seen", "dev-unseen", "test-unseen"};
  lua_createtable(L, 0, 5);
  for (int i = 0; i < 5; i++) {
    lua_pushinteger(L, r.per_split[i]);
    lua_setfield(L, -2, splits[i]);
  }
  lua_setfield(L, -2, "splits");
  return 1;
}

/* ---- dataset ---- */

typedef struct lds {
  manifest m;
  sample_opts so;
} lds;

static void ds_release(void *p) {
  lds *d = p;
  man_free(&d->m);
  free(d);
}

static const char *const sample_keys[] = {"silence", "enroll_max", "rate", "peak"};

static void sample_opts_from(lua_State *L, int idx, const char *fn, sample_opts *so) {
  sample_opts_default(so);
  if (lua_isnoneornil(L, idx)) return;
  so->silence = tsl_opt_num(L, idx, fn, "silence", so->silence);
  so->enroll_max = tsl_opt_num(L, idx, fn, "enroll_max", so->enroll_max);
  so->rate = (int)tsl_opt_int(L, idx, fn, "rate", so->rate);
  so->peak = tsl_opt_num(L, idx, fn, "peak", so->peak);
  if (so->silence < 0 || so->rate < 1000 || !(so->peak > 0))
    luaL_error(L, "%s: bad sample options (silence >= 0, rate >= 1000, peak > 0)", fn);
}

static lds *push_ds(lua_State *L, const char *fn) {
  lds *d = calloc(1, sizeof *d);
  if (!d) luaL_error(L, "%s: out of memory", fn);
  man_init(&d->m);
  sample_opts_default(&d->so);
  tsl_push(L, DS_T, d, ds_release);
  return d;
}

/* known = base keys + the sample keys */
static void check_with_sample(lua_State *L, int idx, const char *fn, const char *const *base) {
  const char *all[48];
  int n = 0;
  for (; base[n] && n < 40; n++) all[n] = base[n];
  for (int i = 0; i < 4; i++) all[n++] = sample_keys[i];
  all[n] = NULL;
  tsl_opts_check(L, idx, fn, all);
}

static void range_opt(lua_State *L, int idx, const char *fn, const char *key, double *lo, double *hi) {
  int t = lua_getfield(L, idx, key);
  if (t == LUA_TTABLE) {
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    if (!lua_isnumber(L, -2) || !lua_isnumber(L, -1))
      luaL_error(L, "%s: option '%s' must be {low, high} (two numbers)", fn, key);
    *lo = lua_tonumber(L, -2), *hi = lua_tonumber(L, -1);
    lua_pop(L, 2);
  } else if (t == LUA_TNUMBER) {
    *lo = *hi = lua_tonumber(L, -1);
  } else if (t != LUA_TNIL) {
    luaL_error(L, "%s: option '%s' must be {low, high}, got %s", fn, key, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}

/* ts.mixer{corpus=, n=, seed=, speakers={p1,p2,p3} | 2, lufs={-33,-25}, offset={0,0},
 *          enroll_dur=3, all_targets=true, set="", silence=, enroll_max=, peak=} */
static int l_mixer(lua_State *L) {
  const char *fn = "ts.mixer";
  static const char *const known[] = {"corpus",     "n",           "seed", "speakers", "lufs", "offset",
                                      "enroll_dur", "all_targets", "set",  NULL};
  check_with_sample(L, 1, fn, known);
  if (lua_getfield(L, 1, "corpus") == LUA_TNIL) return luaL_error(L, "%s: option 'corpus' is required", fn);
  corpus *c = tsl_check(L, -1, CORPUS_T);
  lua_pop(L, 1);
  mix_opts o;
  mix_opts_default(&o);
  int64_t n = tsl_opt_int(L, 1, fn, "n", 100);
  if (n < 0) return luaL_error(L, "%s: option 'n' must be >= 0", fn);
  o.seed = (uint64_t)tsl_opt_int(L, 1, fn, "seed", 1);
  int t = lua_getfield(L, 1, "speakers");
  if (t == LUA_TNUMBER) {
    lua_Integer k = lua_tointeger(L, -1);
    if (k < 1 || k > 3) return luaL_error(L, "%s: option 'speakers' must be 1, 2, 3 or {p1, p2, p3}", fn);
    o.p_spk[0] = o.p_spk[1] = o.p_spk[2] = 0;
    o.p_spk[k - 1] = 1;
  } else if (t == LUA_TTABLE) {
    for (int i = 0; i < 3; i++) {
      lua_rawgeti(L, -1, i + 1);
      o.p_spk[i] = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
      lua_pop(L, 1);
    }
  } else if (t != LUA_TNIL) {
    return luaL_error(L, "%s: option 'speakers' must be 1, 2, 3 or {p1, p2, p3}, got %s", fn,
                      luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  range_opt(L, 1, fn, "lufs", &o.lufs_lo, &o.lufs_hi);
  range_opt(L, 1, fn, "offset", &o.offset_lo, &o.offset_hi);
  o.enroll_dur = tsl_opt_num(L, 1, fn, "enroll_dur", o.enroll_dur);
  o.all_targets = tsl_opt_bool(L, 1, fn, "all_targets", o.all_targets);
  o.set = tsl_opt_str(L, 1, fn, "set", "");
  lds *d = push_ds(L, fn);
  sample_opts_from(L, 1, fn, &d->so);
  ts_err e;
  if (mix_make(c, &o, n, &d->m, NULL, &e)) return tsl_raise(L, &e, fn);
  return 1;
}

/* ts.singles{corpus=, seed=1, lufs={-33,-25}, enroll_dur=3, set="", + sample opts}: one
 * single-speaker entry per utterance (the paper's 960 h single-speaker part and the test-clean
 * single set), each with a seeded enrollment from another utterance of its speaker; speakers
 * with one utterance are skipped (counted in the second result). */
static int l_singles(lua_State *L) {
  const char *fn = "ts.singles";
  static const char *const known[] = {"corpus", "seed", "lufs", "enroll_dur", "set", NULL};
  check_with_sample(L, 1, fn, known);
  if (lua_getfield(L, 1, "corpus") == LUA_TNIL) return luaL_error(L, "%s: option 'corpus' is required", fn);
  corpus *c = tsl_check(L, -1, CORPUS_T);
  lua_pop(L, 1);
  uint64_t seed = (uint64_t)tsl_opt_int(L, 1, fn, "seed", 1);
  double lo = -33, hi = -25;
  range_opt(L, 1, fn, "lufs", &lo, &hi);
  double ed = tsl_opt_num(L, 1, fn, "enroll_dur", 3.0);
  const char *set = tsl_opt_str(L, 1, fn, "set", "");
  if (hi < lo || !(ed > 0)) return luaL_error(L, "%s: bad loudness range or enrollment length", fn);
  lds *d = push_ds(L, fn);
  sample_opts_from(L, 1, fn, &d->so);
  ts_err e;
  int64_t skipped = 0;
  for (int64_t u = 0; u < c->n_utts; u++) {
    const corpus_utt *cu = &c->utts[u];
    const corpus_spk *sp = &c->spks[cu->spk];
    if (sp->n_utts < 2) {
      skipped++;
      continue;
    }
    man_entry x;
    memset(&x, 0, sizeof x);
    x.id = strdup(cu->id);
    x.set = strdup(set);
    x.n_src = 1;
    x.src = calloc(1, sizeof *x.src);
    x.mode = MAN_MODE_MAX;
    x.duration = cu->dur;
    int rc = !x.id || !x.set || !x.src ? err_set(&e, TS_ENOMEM, "%s: out of memory", fn) : 0;
    if (!rc) {
      man_source *src = &x.src[0];
      philox_rng r;
      philox_init(&r, seed, philox_stream_id(0x51A61E, (uint64_t)u, 0));
      src->path = strdup(cu->path);
      src->speaker = strdup(sp->id);
      src->gender = sp->gender;
      src->text = strdup(cu->text);
      src->utt = strdup(cu->id);
      src->gain = NAN;
      src->lufs = lo + (hi - lo) * philox_uniform_d(&r);
      src->duration = cu->dur;
      if (!src->path || !src->speaker || !src->text || !src->utt) rc = err_set(&e, TS_ENOMEM, "%s: out of memory", fn);
    }
    if (!rc) rc = mix_pick_enroll(c, u, ed, lo, hi, seed, philox_stream_id(0x51A61E, (uint64_t)u, 1), &x.enroll, &e);
    if (!rc) rc = man_take(&d->m, &x, &e);
    if (rc) {
      man_entry_free(&x);
      return tsl_raise(L, &e, fn);
    }
  }
  lua_pushinteger(L, skipped);
  return 2;
}

/* ts.librimix{csv=, map=, corpus=, set=, enroll_dur=3, mode="max", seed=, + sample opts} */
static int l_librimix(lua_State *L) {
  const char *fn = "ts.librimix";
  static const char *const known[] = {"csv", "map", "corpus", "set", "enroll_dur", "mode", "seed", NULL};
  check_with_sample(L, 1, fn, known);
  const char *csv = tsl_opt_req_str(L, 1, fn, "csv");
  const char *map = tsl_opt_str(L, 1, fn, "map", NULL);
  if (lua_getfield(L, 1, "corpus") == LUA_TNIL) return luaL_error(L, "%s: option 'corpus' is required", fn);
  corpus *c = tsl_check(L, -1, CORPUS_T);
  lua_pop(L, 1);
  lmx_opts o;
  lmx_opts_default(&o);
  o.set = tsl_opt_str(L, 1, fn, "set", NULL);
  o.enroll_dur = tsl_opt_num(L, 1, fn, "enroll_dur", o.enroll_dur);
  o.seed = (uint64_t)tsl_opt_int(L, 1, fn, "seed", (int64_t)o.seed);
  const char *mode = tsl_opt_str(L, 1, fn, "mode", "max");
  if (!strcmp(mode, "max"))
    o.mode = MAN_MODE_MAX;
  else if (!strcmp(mode, "min"))
    o.mode = MAN_MODE_MIN;
  else
    return luaL_error(L, "%s: option 'mode' must be \"max\" or \"min\", got \"%s\"", fn, mode);
  lds *d = push_ds(L, fn);
  sample_opts_from(L, 1, fn, &d->so);
  ts_err e;
  if (lmx_import(csv, map, c, &o, &d->m, NULL, &e)) return tsl_raise(L, &e, fn);
  return 1;
}

/* ts.manifest.read(path [, sample opts]) -> dataset */
static int l_man_read(lua_State *L) {
  const char *fn = "ts.manifest.read";
  const char *path = luaL_checkstring(L, 1);
  static const char *const known[] = {"silence", "enroll_max", "rate", "peak", NULL};
  if (!lua_isnoneornil(L, 2)) tsl_opts_check(L, 2, fn, known);
  lds *d = push_ds(L, fn);
  sample_opts_from(L, 2, fn, &d->so);
  ts_err e;
  if (man_read(path, &d->m, &e)) return tsl_raise(L, &e, fn);
  if (d->m.n_bad) {
    lua_pushinteger(L, d->m.n_bad);
    lua_pushstring(L, d->m.first_bad);
    return 3;
  }
  return 1;
}

static int l_ds_len(lua_State *L) {
  lds *d = tsl_check(L, 1, DS_T);
  lua_pushinteger(L, d->m.n);
  return 1;
}

static const man_entry *ds_entry(lua_State *L, lds *d, int idx, const char *fn) {
  lua_Integer i = luaL_checkinteger(L, idx);
  if (i < 1 || i > d->m.n) luaL_error(L, "%s: index %d out of range 1..%d", fn, (int)i, (int)d->m.n);
  return &d->m.e[i - 1];
}

static int l_ds_entry(lua_State *L) {
  lds *d = tsl_check(L, 1, DS_T);
  const man_entry *x = ds_entry(L, d, 2, "dataset:entry");
  char *s;
  ts_err e;
  if (man_entry_to_json(x, &s, &e)) return tsl_raise(L, &e, "dataset:entry");
  cJSON *j = cJSON_Parse(s);
  free(s);
  if (!j) return luaL_error(L, "dataset:entry: out of memory");
  cJSON *t = cJSON_GetObjectItem(j, "target");
  if (cJSON_IsNumber(t)) cJSON_SetNumberValue(t, t->valuedouble + 1);
  tsl_push_json(L, j);
  cJSON_Delete(j);
  return 1;
}

static const char *span_kind(int k) {
  switch (k) {
  case SPAN_ENROLL: return "enroll";
  case SPAN_SILENCE: return "silence";
  case SPAN_MIXTURE: return "mixture";
  default: return "source";
  }
}

static cot_gender cg(char g) { return g == 'M' ? COT_MALE : g == 'F' ? COT_FEMALE : COT_GENDER_NONE; }

/* ds:sample(i) -> {id, set, wave = {rate, samples}, timeline = {...}, text, target, n_src,
 *                  facts (when the entry has similarities), cot (when present)} */
static int l_ds_sample(lua_State *L) {
  lds *d = tsl_check(L, 1, DS_T);
  const man_entry *x = ds_entry(L, d, 2, "dataset:sample");
  sample s;
  ts_err e;
  if (sample_build(x, &d->so, &s, &e)) return tsl_raise(L, &e, "dataset:sample");
  lua_createtable(L, 0, 10);
  lua_pushstring(L, x->id);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, x->set);
  lua_setfield(L, -2, "set");
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, s.rate);
  lua_setfield(L, -2, "rate");
  lua_pushnumber(L, s.total);
  lua_setfield(L, -2, "duration");
  tsl_push_floats(L, s.wave, s.n);
  lua_setfield(L, -2, "samples");
  lua_setfield(L, -2, "wave");
  lua_createtable(L, s.n_spans, 0);
  for (int i = 0; i < s.n_spans; i++) {
    const sample_span *sp = &s.spans[i];
    lua_createtable(L, 0, 6);
    lua_pushstring(L, span_kind(sp->kind));
    lua_setfield(L, -2, "kind");
    if (sp->src >= 0) {
      lua_pushinteger(L, sp->src + 1);
      lua_setfield(L, -2, "source");
    }
    lua_pushnumber(L, sp->start);
    lua_setfield(L, -2, "start");
    lua_pushnumber(L, sp->end);
    lua_setfield(L, -2, "end");
    if (sp->speaker) {
      lua_pushstring(L, sp->speaker);
      lua_setfield(L, -2, "speaker");
    }
    if (sp->kind == SPAN_SOURCE || sp->kind == SPAN_ENROLL) {
      char g[2] = {sp->gender, 0};
      lua_pushstring(L, g);
      lua_setfield(L, -2, "gender");
    }
    if (sp->text) {
      lua_pushstring(L, sp->text);
      lua_setfield(L, -2, "text");
    }
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "timeline");
  lua_pushstring(L, x->src[x->target].text);
  lua_setfield(L, -2, "text");
  lua_pushinteger(L, x->target + 1);
  lua_setfield(L, -2, "target");
  lua_pushinteger(L, x->n_src);
  lua_setfield(L, -2, "n_src");
  if (x->cot) {
    lua_pushstring(L, x->cot);
    lua_setfield(L, -2, "cot");
  }
  if (x->similarity && x->n_src <= COT_MAX_SPEAKERS) {
    cot_facts f;
    memset(&f, 0, sizeof f);
    f.enroll_dur = (double)s.enroll_n / s.rate;
    f.silence_dur = (double)s.silence_n / s.rate;
    f.mix_dur = (double)s.mix_n / s.rate;
    f.total_dur = s.total;
    f.enroll_gender = cg(x->src[x->target].gender);
    f.n_speakers = x->n_src;
    f.target = x->target;
    for (int k = 0; k < x->n_src; k++) {
      f.spk[k].gender = cg(x->src[k].gender);
      f.spk[k].start = s.spans[3 + k].start;
      f.spk[k].end = s.spans[3 + k].end;
      f.spk[k].score = x->similarity[k];
      f.spk[k].level = cot_level(x->similarity[k]);
    }
    tsl_push_facts(L, &f);
    lua_setfield(L, -2, "facts");
  }
  sample_free(&s);
  return 1;
}

/* Facts of an entry from its metadata (durations, offsets) and the sample options, without
 * reading audio; scores from sim (n_src). */
static int entry_facts(const man_entry *x, const sample_opts *so, const double *sim, cot_facts *f, ts_err *e) {
  memset(f, 0, sizeof *f);
  if (x->n_src < 1 || x->n_src > COT_MAX_SPEAKERS)
    return err_set(e, TS_EARG, "%s: %d sources (a CoT covers 1..%d)", x->id, x->n_src, COT_MAX_SPEAKERS);
  double ed = x->enroll.duration;
  if (so->enroll_max > 0 && ed > so->enroll_max) ed = so->enroll_max;
  if (!(ed > 0)) return err_set(e, TS_EFORMAT, "%s: the enrollment has no fixed duration", x->id);
  double mix = 0;
  for (int k = 0; k < x->n_src; k++) {
    if (isnan(x->src[k].duration))
      return err_set(e, TS_EFORMAT, "%s: source %d has no duration in the manifest", x->id, k + 1);
    double end = x->src[k].offset + x->src[k].duration;
    if (k == 0 || (x->mode == MAN_MODE_MAX ? end > mix : end < mix)) mix = end;
  }
  f->enroll_dur = ed;
  f->silence_dur = so->silence;
  f->mix_dur = mix;
  f->total_dur = ed + so->silence + mix;
  f->enroll_gender = cg(x->src[x->target].gender);
  f->n_speakers = x->n_src;
  f->target = x->target;
  double m0 = ed + so->silence;
  for (int k = 0; k < x->n_src; k++) {
    f->spk[k].gender = cg(x->src[k].gender);
    f->spk[k].start = m0 + x->src[k].offset;
    f->spk[k].end = fmin(m0 + x->src[k].offset + x->src[k].duration, f->total_dur);
    f->spk[k].score = sim[k];
    f->spk[k].level = cot_level(sim[k]);
  }
  return cot_facts_validate(f, NULL, e);
}

/* ds:cot{mode="full"|"random"|"empty", similarity="manifest"|"oracle", continuous=false,
 *        decode=PATH (random reasoning), p_empty=0.5, seed=1}
 * Sets every entry's "cot" (the SFT target). Returns {full=, empty=, missing=} counts. */
static int l_ds_cot(lua_State *L) {
  const char *fn = "dataset:cot";
  lds *d = tsl_check(L, 1, DS_T);
  static const char *const known[] = {"mode", "similarity", "continuous", "decode", "p_empty", "seed", NULL};
  tsl_opts_check(L, 2, fn, known);
  const char *mode = tsl_opt_str(L, 2, fn, "mode", "full");
  const char *simsrc = tsl_opt_str(L, 2, fn, "similarity", "manifest");
  cot_opts co = {0};
  co.continuous = tsl_opt_bool(L, 2, fn, "continuous", 0);
  const char *decode = tsl_opt_str(L, 2, fn, "decode", NULL);
  double p_empty = tsl_opt_num(L, 2, fn, "p_empty", COT_RR_P_EMPTY);
  uint64_t seed = (uint64_t)tsl_opt_int(L, 2, fn, "seed", 1);
  int m_full = !strcmp(mode, "full"), m_rand = !strcmp(mode, "random"), m_empty = !strcmp(mode, "empty");
  if (!m_full && !m_rand && !m_empty)
    return luaL_error(L, "%s: option 'mode' must be \"full\", \"random\" or \"empty\", got \"%s\"", fn, mode);
  int oracle = !strcmp(simsrc, "oracle");
  if (!oracle && strcmp(simsrc, "manifest"))
    return luaL_error(L, "%s: option 'similarity' must be \"manifest\" or \"oracle\", got \"%s\"", fn, simsrc);
  if (m_rand && !decode) return luaL_error(L, "%s: mode \"random\" needs option 'decode' (the BASE decode JSONL)", fn);
  if (!(p_empty >= 0 && p_empty <= 1)) return luaL_error(L, "%s: option 'p_empty' must be in [0, 1]", fn);
  ts_err e;
  /* random reasoning: id -> is_error from the decode, in a Lua table at stack top */
  lua_newtable(L);
  int map = lua_gettop(L);
  if (m_rand) {
    char *buf;
    size_t n;
    if (afile_read(decode, &buf, &n, &e)) return tsl_raise(L, &e, fn);
    int line = 0;
    for (char *p = buf, *q; p < buf + n; p = q + 1) {
      q = memchr(p, '\n', (size_t)(buf + n - p));
      if (!q) q = buf + n;
      line++;
      if (q == p) continue;
      char what[4300], id[1024];
      snprintf(what, sizeof what, "%s:%d", decode, line);
      int is_err;
      cot_think ch;
      if (cot_rr_line(p, (size_t)(q - p), what, seed, p_empty, id, sizeof id, &is_err, &ch, &e)) continue;
      lua_pushboolean(L, is_err);
      lua_setfield(L, map, id);
    }
    free(buf);
  }
  int64_t n_full = 0, n_empty = 0, n_missing = 0;
  for (int64_t i = 0; i < d->m.n; i++) {
    man_entry *x = &d->m.e[i];
    const char *text = x->src[x->target].text;
    char *out = NULL;
    int full = m_full;
    if (m_rand) {
      int t = lua_getfield(L, map, x->id);
      int is_err = t == LUA_TNIL ? 1 : lua_toboolean(L, -1);
      lua_pop(L, 1);
      if (t == LUA_TNIL) n_missing++;
      full = cot_rr_choose(x->id, is_err, seed, p_empty) == COT_THINK_FULL;
    }
    int rc;
    if (full) {
      double sim[MAN_MAX_SRC];
      if (oracle) {
        /* stand-in when no speaker encoder ran: the target scores high, interferers of the
         * enrollment's gender middle, others low (documented in docs/lua.md) */
        for (int k = 0; k < x->n_src; k++)
          sim[k] = k == x->target ? 0.85 : x->src[k].gender == x->src[x->target].gender ? 0.45 : 0.15;
      } else if (!x->similarity) {
        lua_pop(L, 1);
        return luaL_error(L, "%s: entry %s has no \"similarity\" (run a speaker encoder, or pass similarity=\"oracle\")",
                          fn, x->id);
      } else {
        for (int k = 0; k < x->n_src; k++) sim[k] = x->similarity[k];
      }
      cot_facts f;
      rc = entry_facts(x, &d->so, sim, &f, &e);
      if (!rc) rc = cot_build(&f, &co, text, &out, &e);
      n_full++;
    } else {
      rc = cot_build_empty(text, &out, &e);
      n_empty++;
    }
    if (rc) {
      lua_pop(L, 1);
      return tsl_raise(L, &e, fn);
    }
    free(x->cot);
    x->cot = out;
  }
  lua_pop(L, 1);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, n_full);
  lua_setfield(L, -2, "full");
  lua_pushinteger(L, n_empty);
  lua_setfield(L, -2, "empty");
  lua_pushinteger(L, n_missing);
  lua_setfield(L, -2, "missing");
  return 1;
}

static int l_ds_write(lua_State *L) {
  lds *d = tsl_check(L, 1, DS_T);
  const char *path = luaL_checkstring(L, 2);
  ts_err e;
  const char *slash = strrchr(path, '/');
  if (slash && slash != path) { /* the folder is created when missing */
    lua_pushlstring(L, path, (size_t)(slash - path));
    if (afile_mkdirs(lua_tostring(L, -1), &e)) return tsl_raise(L, &e, "dataset:write");
    lua_pop(L, 1);
  }
  if (man_write(path, &d->m, &e)) return tsl_raise(L, &e, "dataset:write");
  return 0;
}

/* ds:bake_gains() fixes every gain (what sample assembly would apply) */
static int l_ds_bake(lua_State *L) {
  lds *d = tsl_check(L, 1, DS_T);
  int64_t bad = 0;
  ts_err e;
  if (sample_bake_gains(&d->m, &d->so, &bad, &e)) return tsl_raise(L, &e, "dataset:bake_gains");
  lua_pushinteger(L, bad);
  return 1;
}

/* ds:set_similarity(i, {scores}) */
static int l_ds_set_sim(lua_State *L) {
  lds *d = tsl_check(L, 1, DS_T);
  man_entry *x = (man_entry *)ds_entry(L, d, 2, "dataset:set_similarity");
  luaL_checktype(L, 3, LUA_TTABLE);
  int64_t n = (int64_t)luaL_len(L, 3);
  if (n != x->n_src)
    return luaL_error(L, "dataset:set_similarity: %s has %d sources, got %d scores", x->id, x->n_src, (int)n);
  double *s = malloc(sizeof(double) * (size_t)n);
  if (!s) return luaL_error(L, "out of memory");
  for (int64_t k = 0; k < n; k++) {
    lua_rawgeti(L, 3, k + 1);
    int ok;
    s[k] = lua_tonumberx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok) {
      free(s);
      return luaL_error(L, "dataset:set_similarity: score %d is not a number", (int)(k + 1));
    }
  }
  free(x->similarity);
  x->similarity = s;
  return 0;
}

/* ds:concat(other) appends copies of other's entries */
static int l_ds_concat(lua_State *L) {
  lds *d = tsl_check(L, 1, DS_T);
  lds *o = tsl_check(L, 2, DS_T);
  ts_err e;
  int64_t n = o->m.n;
  for (int64_t i = 0; i < n; i++)
    if (man_add(&d->m, &o->m.e[i], &e)) return tsl_raise(L, &e, "dataset:concat");
  lua_settop(L, 1);
  return 1;
}

/* ds:head(n) -> new dataset with the first n entries */
static int l_ds_head(lua_State *L) {
  lds *d = tsl_check(L, 1, DS_T);
  lua_Integer n = luaL_checkinteger(L, 2);
  if (n < 0) return luaL_argerror(L, 2, "count must be >= 0");
  if (n > d->m.n) n = d->m.n;
  lds *o = push_ds(L, "dataset:head");
  o->so = d->so;
  ts_err e;
  for (lua_Integer i = 0; i < n; i++)
    if (man_add(&o->m, &d->m.e[i], &e)) return tsl_raise(L, &e, "dataset:head");
  return 1;
}

static int l_man_write(lua_State *L) {
  lua_settop(L, 2);
  if (lua_type(L, 1) == LUA_TSTRING) lua_insert(L, 1); /* (path, ds) -> (ds, path) */
  return l_ds_write(L);
}

void tsl_open_data(lua_State *L) {
  static const luaL_Reg corpus_m[] = {{"utt", l_corpus_utt}, {"info", l_corpus_info}, {NULL, NULL}};
  static const luaL_Reg corpus_mt[] = {{"__len", l_corpus_len}, {NULL, NULL}};
  tsl_class(L, CORPUS_T, corpus_m, corpus_mt);
  static const luaL_Reg corpus_f[] = {{"librispeech", l_librispeech}, {"synth", l_synth}, {NULL, NULL}};
  luaL_newlib(L, corpus_f);
  lua_setfield(L, -2, "corpus");

  static const luaL_Reg ds_m[] = {{"sample", l_ds_sample},
                                  {"entry", l_ds_entry},
                                  {"cot", l_ds_cot},
                                  {"write", l_ds_write},
                                  {"bake_gains", l_ds_bake},
                                  {"set_similarity", l_ds_set_sim},
                                  {"concat", l_ds_concat},
                                  {"head", l_ds_head},
                                  {NULL, NULL}};
  static const luaL_Reg ds_mt[] = {{"__len", l_ds_len}, {NULL, NULL}};
  tsl_class(L, DS_T, ds_m, ds_mt);
  lua_pushcfunction(L, l_mixer);
  lua_setfield(L, -2, "mixer");
  lua_pushcfunction(L, l_librimix);
  lua_setfield(L, -2, "librimix");
  lua_pushcfunction(L, l_singles);
  lua_setfield(L, -2, "singles");
  lua_pushcfunction(L, l_synth_run);
  lua_setfield(L, -2, "synth");
  static const luaL_Reg man_f[] = {{"read", l_man_read}, {"write", l_man_write}, {NULL, NULL}};
  luaL_newlib(L, man_f);
  lua_setfield(L, -2, "manifest");
}
