/* lua_speaker.c — ts.speaker: similarity of each source to the enrollment (paper §2.2) from the
 * built-in speaker encoder (a model directory, with an embedding cache) or from embeddings
 * computed elsewhere (e.g. CAM++, imported from JSONL): scorer:score(ds) fills a dataset's
 * "similarity", scorer:similarity(ds, i) returns one entry's, scorer:embed(wave) an embedding;
 * ts.speaker.train{...} trains the built-in encoder on a corpus split. */
#include <stdlib.h>
#include <string.h>

#include "data/manifest.h"
#include "scripting/tslua.h"
#include "speaker/spk_embed.h"
#include "speaker/spk_score.h"
#include "speaker/spk_train.h"

#define SPK_T "tsasr.speaker"
#define DS_T "tsasr.dataset"

static void scorer_release(void *p) {
  spk_scorer_close(p, NULL);
  free(p);
}

static int l_spk_load(lua_State *L) {
  const char *fn = "ts.speaker.load";
  const char *dir = luaL_checkstring(L, 1);
  const char *cache = NULL;
  if (!lua_isnoneornil(L, 2)) {
    static const char *const known[] = {"cache_dir", NULL};
    tsl_opts_check(L, 2, fn, known);
    cache = tsl_opt_str(L, 2, fn, "cache_dir", NULL);
  }
  spk_scorer *s = calloc(1, sizeof *s);
  if (!s) return luaL_error(L, "%s: out of memory", fn);
  ts_err e;
  if (spk_scorer_open_model(s, dir, cache, &e)) {
    free(s);
    return tsl_raise(L, &e, fn);
  }
  tsl_push(L, SPK_T, s, scorer_release);
  return 1;
}

static int l_spk_import(lua_State *L) {
  const char *fn = "ts.speaker.import";
  const char *path = luaL_checkstring(L, 1);
  spk_scorer *s = calloc(1, sizeof *s);
  if (!s) return luaL_error(L, "%s: out of memory", fn);
  ts_err e;
  if (spk_scorer_open_import(s, path, &e)) {
    free(s);
    return tsl_raise(L, &e, fn);
  }
  tsl_push(L, SPK_T, s, scorer_release);
  return 1;
}

/* The dataset's manifest (a dataset object begins with its manifest, see lua_data.c). */
static manifest *ds_manifest(lua_State *L, int idx) { return tsl_check(L, idx, DS_T); }

static int l_spk_score(lua_State *L) {
  spk_scorer *s = tsl_check(L, 1, SPK_T);
  manifest *m = ds_manifest(L, 2);
  int64_t bad = 0;
  ts_err e;
  if (spk_manifest_score(s, m, &bad, &e)) return tsl_raise(L, &e, "speaker:score");
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, bad);
  lua_setfield(L, -2, "bad");
  lua_pushinteger(L, s->n_embedded);
  lua_setfield(L, -2, "embedded");
  lua_pushinteger(L, s->n_reused);
  lua_setfield(L, -2, "reused");
  return 1;
}

static int l_spk_similarity(lua_State *L) {
  spk_scorer *s = tsl_check(L, 1, SPK_T);
  manifest *m = ds_manifest(L, 2);
  lua_Integer i = luaL_checkinteger(L, 3);
  if (i < 1 || i > m->n) return luaL_error(L, "speaker:similarity: index %d out of range 1..%d", (int)i, (int)m->n);
  double sim[MAN_MAX_SRC];
  ts_err e;
  if (spk_entry_similarity(s, &m->e[i - 1], sim, &e)) return tsl_raise(L, &e, "speaker:similarity");
  lua_createtable(L, m->e[i - 1].n_src, 0);
  for (int k = 0; k < m->e[i - 1].n_src; k++) {
    lua_pushnumber(L, sim[k]);
    lua_rawseti(L, -2, k + 1);
  }
  return 1;
}

static int l_spk_embed(lua_State *L) {
  spk_scorer *s = tsl_check(L, 1, SPK_T);
  if (s->from != SPK_FROM_MODEL) return luaL_error(L, "speaker:embed: an imported table has no encoder to run");
  luaL_checktype(L, 2, LUA_TTABLE);
  int64_t n;
  float *x;
  if (lua_getfield(L, 2, "samples") == LUA_TTABLE) {
    x = tsl_floats(L, -1, "speaker:embed", &n);
    lua_pop(L, 1);
  } else {
    lua_pop(L, 1);
    x = tsl_floats(L, 2, "speaker:embed", &n);
  }
  float *emb = malloc(sizeof(float) * (size_t)(s->dim > 0 ? s->dim : 1));
  ts_err e;
  int rc = emb ? spk_embed_wave(&s->model, x, n, emb, &e) : err_set(&e, TS_ENOMEM, "out of memory");
  free(x);
  if (rc) {
    free(emb);
    return tsl_raise(L, &e, "speaker:embed");
  }
  tsl_push_floats(L, emb, s->dim);
  free(emb);
  return 1;
}

/* ts.speaker.train{corpus=, split="train", out=, steps=, batch=, crop=, max_per_spk=, lr=, lr_min=,
 *                   warmup=, wd=, clip=, margin=, scale=, margin_warmup=, seed=, max_seconds=, quiet=}
 * -> {classes, utterances, steps, loss, acc, secs, params}: trains the built-in speaker encoder
 * (AAM softmax over the split's speakers) and writes its model directory. */
static int l_spk_train(lua_State *L) {
  const char *fn = "ts.speaker.train";
  static const char *const known[] = {"corpus", "split", "out",    "steps",         "batch", "crop",
                                      "max_per_spk", "lr", "lr_min", "warmup",     "wd",    "clip",
                                      "margin", "scale", "margin_warmup", "seed", "max_seconds", "quiet", NULL};
  tsl_opts_check(L, 1, fn, known);
  spk_train_opts o;
  spk_train_opts_default(&o);
  o.corpus_dir = tsl_opt_req_str(L, 1, fn, "corpus");
  o.out_dir = tsl_opt_req_str(L, 1, fn, "out");
  o.split = tsl_opt_str(L, 1, fn, "split", o.split);
  o.steps = (int)tsl_opt_int(L, 1, fn, "steps", o.steps);
  o.batch = (int)tsl_opt_int(L, 1, fn, "batch", o.batch);
  o.crop = (int)tsl_opt_int(L, 1, fn, "crop", o.crop);
  o.max_per_spk = (int)tsl_opt_int(L, 1, fn, "max_per_spk", o.max_per_spk);
  o.lr = tsl_opt_num(L, 1, fn, "lr", o.lr);
  o.lr_min = tsl_opt_num(L, 1, fn, "lr_min", o.lr_min);
  o.warmup = (int)tsl_opt_int(L, 1, fn, "warmup", o.warmup);
  o.wd = tsl_opt_num(L, 1, fn, "wd", o.wd);
  o.clip = tsl_opt_num(L, 1, fn, "clip", o.clip);
  o.margin = (float)tsl_opt_num(L, 1, fn, "margin", o.margin);
  o.scale = (float)tsl_opt_num(L, 1, fn, "scale", o.scale);
  o.margin_warmup = (int)tsl_opt_int(L, 1, fn, "margin_warmup", o.margin_warmup);
  o.seed = (uint64_t)tsl_opt_int(L, 1, fn, "seed", (int64_t)o.seed);
  o.max_seconds = tsl_opt_num(L, 1, fn, "max_seconds", o.max_seconds);
  o.quiet = tsl_opt_bool(L, 1, fn, "quiet", 1);
  if (o.steps < 1 || o.batch < 1 || o.crop < 1) return luaL_error(L, "%s: steps, batch and crop must be >= 1", fn);
  spk_train_report r;
  memset(&r, 0, sizeof r);
  ts_err e;
  if (spk_train(&o, &r, &e)) return tsl_raise(L, &e, fn);
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, r.n_cls);
  lua_setfield(L, -2, "classes");
  lua_pushinteger(L, r.n_utts);
  lua_setfield(L, -2, "utterances");
  lua_pushinteger(L, r.steps);
  lua_setfield(L, -2, "steps");
  lua_pushnumber(L, r.loss);
  lua_setfield(L, -2, "loss");
  lua_pushnumber(L, r.acc);
  lua_setfield(L, -2, "acc");
  lua_pushnumber(L, r.wall_sec);
  lua_setfield(L, -2, "secs");
  lua_pushinteger(L, r.n_params);
  lua_setfield(L, -2, "params");
  return 1;
}

static int l_spk_cosine(lua_State *L) {
  int64_t na, nb;
  float *a0 = tsl_floats(L, 1, "ts.speaker.cosine", &na);
  /* a goes to a Lua buffer, so that an error converting argument #2 does not leak it */
  float *a = lua_newuserdatauv(L, sizeof(float) * (size_t)(na ? na : 1), 0);
  memcpy(a, a0, sizeof(float) * (size_t)na);
  free(a0);
  float *b = tsl_floats(L, 2, "ts.speaker.cosine", &nb);
  if (na != nb) {
    free(b);
    return luaL_error(L, "ts.speaker.cosine: vectors of %d and %d values", (int)na, (int)nb);
  }
  lua_pushnumber(L, spk_cosine(a, b, (int)na));
  free(b);
  return 1;
}

void tsl_open_speaker(lua_State *L) {
  static const luaL_Reg m[] = {{"score", l_spk_score}, {"similarity", l_spk_similarity}, {"embed", l_spk_embed},
                               {NULL, NULL}};
  tsl_class(L, SPK_T, m, NULL);
  static const luaL_Reg f[] = {{"load", l_spk_load}, {"import", l_spk_import}, {"train", l_spk_train},
                               {"cosine", l_spk_cosine}, {NULL, NULL}};
  luaL_newlib(L, f);
  lua_setfield(L, -2, "speaker");
}
