/* lua_train.c — trainer bindings: ts.train.sft{...} -> trainer, trainer:run() with a step
 * callback and progress display. Options are checked (unknown keys named) when the trainer is
 * made and read again by run(); the options table (and so the model and every string in it)
 * is kept alive as the trainer's user value. A Lua error inside a callback stops training
 * cleanly (the C trainer returns, saving) and is raised again after it returned. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "data/manifest.h"
#include "scripting/tslua.h"
#include "scripting/tslua_train.h"
#include "train/run.h"
#include "train/sft.h"

#define SFT_T "tsasr.sft"

/* ---- shared plumbing (tslua_train.h) ---- */

static void trainer_release(void *p) { free(p); }

void tsl_trainer_new(lua_State *L, const char *tname, const char *fn, const char *const *known) {
  tsl_opts_check(L, 1, fn, known);
  int *tag = malloc(sizeof *tag);
  if (!tag) luaL_error(L, "%s: out of memory", fn);
  *tag = 1;
  tsl_push(L, tname, tag, trainer_release);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
}

void tsl_trainer_opts(lua_State *L, const char *tname) {
  tsl_check(L, 1, tname);
  lua_getiuservalue(L, 1, 1);
  lua_replace(L, 1); /* options table at index 1 from here on */
}

void *tsl_opt_model(lua_State *L, int idx, const char *fn, const char *key, int required) {
  int t = lua_getfield(L, idx, key);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    if (required) luaL_error(L, "%s: option '%s' is required (a ts.model object)", fn, key);
    return NULL;
  }
  if (!luaL_testudata(L, -1, "tsasr.model"))
    luaL_error(L, "%s: option '%s' must be a ts.model object, got %s", fn, key, luaL_typename(L, -1));
  void *m = tsl_check(L, -1, "tsasr.model");
  lua_pop(L, 1);
  return m;
}

const char *tsl_opt_manifest(lua_State *L, int idx, const char *fn, const char *key, const char *dir,
                             const char *fallback_name) {
  int t = lua_getfield(L, idx, key);
  if (t == LUA_TSTRING) {
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1);
    return s;
  }
  if (t == LUA_TUSERDATA && luaL_testudata(L, -1, "tsasr.dataset")) {
    /* a dataset: written into the run directory as a manifest */
    const manifest *m = tsl_check(L, -1, "tsasr.dataset"); /* lds begins with its manifest */
    ts_err e;
    if (afile_mkdirs(dir, &e)) tsl_raise(L, &e, fn);
    lua_pushfstring(L, "%s/%s", dir, fallback_name);
    const char *path = lua_tostring(L, -1);
    if (man_write(path, m, &e)) tsl_raise(L, &e, fn);
    lua_setfield(L, idx, "__manifest_path"); /* keeps the string alive */
    lua_pop(L, 1);
    lua_getfield(L, idx, "__manifest_path");
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1);
    return s;
  }
  if (t == LUA_TNIL) luaL_error(L, "%s: option '%s' is required (a manifest path or a dataset)", fn, key);
  luaL_error(L, "%s: option '%s' must be a manifest path or a dataset, got %s", fn, key, luaL_typename(L, -1));
  return NULL;
}

void tsl_mark(lua_State *L, int idx, const char *key, int delta) {
  lua_getfield(L, idx, key);
  tsl_busy(L, -1, delta);
  lua_pop(L, 1);
}

void tsl_opt_freeze(lua_State *L, int idx, const char *fn, const char **freeze, int max) {
  for (int i = 0; i < max; i++) freeze[i] = NULL;
  int t = lua_getfield(L, idx, "freeze");
  if (t == LUA_TSTRING) {
    freeze[0] = lua_tostring(L, -1);
  } else if (t == LUA_TTABLE) {
    lua_Integer n = luaL_len(L, -1);
    if (n > max) luaL_error(L, "%s: option 'freeze' takes at most %d prefixes", fn, max);
    for (lua_Integer i = 1; i <= n; i++) {
      if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
        luaL_error(L, "%s: option 'freeze' element %d must be a string (a tensor name prefix)", fn, (int)i);
      freeze[i - 1] = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
  } else if (t != LUA_TNIL) {
    luaL_error(L, "%s: option 'freeze' must be a prefix or a list of prefixes, got %s", fn, luaL_typename(L, -1));
  }
  lua_pop(L, 1); /* strings stay referenced by the options table */
}

void tsl_opt_sample(lua_State *L, int idx, const char *fn, sample_opts *so) {
  /* without the option: -1, the model's own layout (tsm.silence) */
  so->silence = tsl_opt_num(L, idx, fn, "silence", -1.0);
  if (so->silence < 0 && so->silence != -1.0) luaL_error(L, "%s: option 'silence' must be >= 0", fn);
  so->enroll_max = tsl_opt_num(L, idx, fn, "enroll_max", so->enroll_max);
}

int tsl_callback(tsl_cb *cb, void (*push_info)(lua_State *, const void *), const void *info) {
  if (cb->err) return 1;
  lua_State *L = cb->L;
  int top = lua_gettop(L);
  if (cb->ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, cb->ref);
    push_info(L, info);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
      const char *m = lua_tostring(L, -1);
      snprintf(cb->msg, sizeof cb->msg, "%s", m ? m : "error in callback");
      cb->err = 1;
      lua_settop(L, top);
      return 1;
    }
    int stop = lua_toboolean(L, -1) || (lua_isstring(L, -1) && !strcmp(lua_tostring(L, -1), "stop"));
    lua_settop(L, top);
    if (stop) return 1;
  }
  return 0;
}

void tsl_cb_init(tsl_cb *cb, lua_State *L, int idx, const char *fn, const char *key) {
  memset(cb, 0, sizeof *cb);
  cb->L = L;
  cb->ref = LUA_NOREF;
  cb->progress = tsl_opt_bool(L, idx, fn, "progress", 1);
  if (tsl_opt_fn(L, idx, fn, key)) cb->ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void tsl_cb_done(tsl_cb *cb) {
  if (cb->ref != LUA_NOREF) luaL_unref(cb->L, LUA_REGISTRYINDEX, cb->ref);
  cb->ref = LUA_NOREF;
  tsl_progress_end();
}

#define SETN(k, v)          \
  do {                      \
    lua_pushnumber(L, (v)); \
    lua_setfield(L, -2, k); \
  } while (0)
#define SETI(k, v)                        \
  do {                                    \
    lua_pushinteger(L, (lua_Integer)(v)); \
    lua_setfield(L, -2, k);               \
  } while (0)

/* ---- SFT ---- */

static const char *const sft_known[] = {
    "model",     "data",   "run_dir",     "target",     "micro_batch", "accum",  "steps",     "lr_start",
    "lr_peak",   "lr_min", "warmup",      "clip",       "wd",          "beta1",  "beta2",     "eps",
    "max_text",  "seed",   "ckpt_every",  "keep",       "log_every",   "threads", "bucket",   "freeze",
    "resume",    "bf16",   "silence",     "enroll_max", "on_step",     "progress", "global_batch", "ctc_weight",
    "cot_continuous", NULL};

static void push_sft_info(lua_State *L, const void *p) {
  const sft_step_info *i = p;
  lua_createtable(L, 0, 14);
  SETI("step", i->step);
  SETI("steps", i->steps);
  SETN("loss", i->loss);
  SETN("acc", i->acc);
  SETN("ctc", i->ctc);
  SETN("lr", i->lr);
  SETN("grad_norm", i->grad_norm);
  SETI("tokens", i->tokens);
  SETI("samples", i->samples);
  SETI("skipped", i->skipped);
  SETN("secs", i->secs);
  SETN("samples_per_s", i->samples_per_s);
  SETN("tokens_per_s", i->tokens_per_s);
}

typedef struct sft_lua {
  tsl_cb cb;
  int interrupted; /* Ctrl-C seen: the trainer saves and stops; run() then raises */
  sft_step_info last;
  double loss_first;
  int64_t n;
} sft_lua;

static int sft_on_step(void *user, const sft_step_info *info) {
  sft_lua *s = user;
  if (run_interrupted()) s->interrupted = 1;
  if (s->n++ == 0) s->loss_first = info->loss;
  s->last = *info;
  if (s->cb.progress) {
    char m[160];
    int k = snprintf(m, sizeof m, "loss %.4f acc %.3f lr %.2e |g| %.2f %.1f tok/s", info->loss, info->acc, info->lr,
                     info->grad_norm, info->tokens_per_s);
    if (info->ctc > 0 && k > 0 && k < (int)sizeof m) snprintf(m + k, sizeof m - (size_t)k, " ctc %.3f", info->ctc);
    tsl_progress("sft", info->step, info->steps, m);
  }
  return tsl_callback(&s->cb, push_sft_info, info);
}

static int l_sft_new(lua_State *L) {
  tsl_trainer_new(L, SFT_T, "ts.train.sft", sft_known);
  return 1;
}

static int l_sft_run(lua_State *L) {
  const char *fn = "ts.train.sft";
  tsl_trainer_opts(L, SFT_T);
  tsm *m = tsl_opt_model(L, 1, fn, "model", 1);
  sft_cfg c;
  sft_cfg_default(&c);
  c.run_dir = tsl_opt_req_str(L, 1, fn, "run_dir");
  c.manifest = tsl_opt_manifest(L, 1, fn, "data", c.run_dir, "train.jsonl");
  const char *target = tsl_opt_str(L, 1, fn, "target", "base");
  if (!strcmp(target, "base"))
    c.target = SFT_TARGET_BASE;
  else if (!strcmp(target, "cot"))
    c.target = SFT_TARGET_COT;
  else
    return luaL_error(L, "%s: option 'target' must be \"base\" or \"cot\", got \"%s\"", fn, target);
  c.micro_batch = (int)tsl_opt_int(L, 1, fn, "micro_batch", c.micro_batch);
  int64_t gb = tsl_opt_int(L, 1, fn, "global_batch", 0);
  c.accum = (int)tsl_opt_int(L, 1, fn, "accum", gb > 0 && c.micro_batch > 0 ? (gb + c.micro_batch - 1) / c.micro_batch : c.accum);
  if (gb > 0 && (int64_t)c.accum * c.micro_batch != gb)
    return luaL_error(L, "%s: global_batch %d is not micro_batch %d x accum %d", fn, (int)gb, c.micro_batch, c.accum);
  c.steps = tsl_opt_int(L, 1, fn, "steps", c.steps);
  c.lr.start = tsl_opt_num(L, 1, fn, "lr_start", c.lr.start);
  c.lr.peak = tsl_opt_num(L, 1, fn, "lr_peak", c.lr.peak);
  c.lr.min = tsl_opt_num(L, 1, fn, "lr_min", c.lr.min);
  c.lr.warmup = tsl_opt_int(L, 1, fn, "warmup", c.lr.warmup);
  c.lr.total = c.steps;
  c.clip = (float)tsl_opt_num(L, 1, fn, "clip", c.clip);
  c.wd = (float)tsl_opt_num(L, 1, fn, "wd", c.wd);
  c.beta1 = (float)tsl_opt_num(L, 1, fn, "beta1", c.beta1);
  c.beta2 = (float)tsl_opt_num(L, 1, fn, "beta2", c.beta2);
  c.eps = (float)tsl_opt_num(L, 1, fn, "eps", c.eps);
  c.max_text = (int)tsl_opt_int(L, 1, fn, "max_text", c.max_text);
  c.seed = (uint64_t)tsl_opt_int(L, 1, fn, "seed", (int64_t)c.seed);
  c.ckpt_every = (int)tsl_opt_int(L, 1, fn, "ckpt_every", c.ckpt_every);
  c.keep = (int)tsl_opt_int(L, 1, fn, "keep", c.keep);
  c.log_every = (int)tsl_opt_int(L, 1, fn, "log_every", c.log_every);
  c.threads = (int)tsl_opt_int(L, 1, fn, "threads", c.threads);
  c.bucket = (int)tsl_opt_int(L, 1, fn, "bucket", c.bucket);
  c.resume = tsl_opt_bool(L, 1, fn, "resume", c.resume);
  c.save_bf16 = tsl_opt_bool(L, 1, fn, "bf16", c.save_bf16);
  c.ctc_weight = (float)tsl_opt_num(L, 1, fn, "ctc_weight", c.ctc_weight);
  c.cot_continuous = tsl_opt_bool(L, 1, fn, "cot_continuous", c.cot_continuous);
  tsl_opt_freeze(L, 1, fn, c.freeze, 8);
  tsl_opt_sample(L, 1, fn, &c.sample);
  if (c.micro_batch < 1 || c.accum < 1 || c.steps < 1)
    return luaL_error(L, "%s: micro_batch, accum and steps must be >= 1", fn);
  if (!m->ps.g || !m->ps.m)
    return luaL_error(L, "%s: the model has no gradient/optimizer buffers (load it with {train = true})", fn);
  sft_lua s;
  memset(&s, 0, sizeof s);
  tsl_cb_init(&s.cb, L, 1, fn, "on_step");
  c.on_step = sft_on_step;
  c.user = &s;
  ts_err e;
  tsl_mark(L, 1, "model", 1);
  int rc = sft_run(m, &c, &e);
  tsl_mark(L, 1, "model", -1);
  tsl_cb_done(&s.cb);
  if (s.cb.err) return luaL_error(L, "%s: on_step: %s", fn, s.cb.msg);
  if (rc) return tsl_raise(L, &e, fn);
  if (s.interrupted)
    return luaL_error(L, "%s: interrupted at step %d; the checkpoint in %s resumes it", fn, (int)s.last.step, c.run_dir);
  lua_createtable(L, 0, 6);
  SETI("steps", s.last.step);
  SETN("loss", s.last.loss);
  SETN("loss_first", s.loss_first);
  SETN("acc", s.last.acc);
  lua_pushstring(L, c.run_dir);
  lua_setfield(L, -2, "run_dir");
  return 1;
}

void tsl_open_train(lua_State *L) {
  static const luaL_Reg sft_m[] = {{"run", l_sft_run}, {NULL, NULL}};
  tsl_class(L, SFT_T, sft_m, NULL);
  lua_newtable(L);
  lua_pushcfunction(L, l_sft_new);
  lua_setfield(L, -2, "sft");
  tsl_open_rl(L); /* grpo (into the train table) and decode/eval/select (into the module) */
  lua_setfield(L, -2, "train");
}
