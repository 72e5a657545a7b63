/* lua_rl.c — RL and evaluation bindings: ts.train.grpo{...}:run() (GRPO from a policy and its
 * frozen reference), ts.select{...} (RL data selection from a training-set decode) and
 * ts.eval{...} (Table 1 from decode JSONL files). ts.decode is in lua_decode.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "infer/eval.h"
#include "scripting/tslua_train.h"
#include "train/grpo.h"
#include "train/run.h"
#include "train/select.h"

#define GRPO_T "tsasr.grpo"

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

/* ---- GRPO ---- */

static const char *const grpo_known[] = {
    "model",  "ref",        "data",    "run_dir",       "prompts", "G",          "mu",       "micro_batch",
    "steps",  "lr",         "temperature", "max_new",   "format_reward", "beta", "epsilon", "epsilon_high",
    "agg",    "clip",       "wd",      "seed",          "ckpt_every", "keep",     "log_every", "threads",
    "freeze", "resume",     "bf16",    "silence",       "enroll_max", "on_step",  "progress", "cot_reward",
    "continuous", NULL};

static void push_grpo_info(lua_State *L, const void *p) {
  const grpo_step_info *i = p;
  lua_createtable(L, 0, 16);
  SETI("step", i->step);
  SETI("steps", i->steps);
  SETN("reward_mean", i->reward_mean);
  SETN("reward_std", i->reward_std);
  SETN("format_rate", i->format_rate);
  if (i->cot_steps >= 0) SETN("cot_steps", i->cot_steps);
  SETN("zero_std_share", i->zero_std_share);
  SETN("kl", i->kl);
  SETN("clip_frac", i->clip_frac);
  SETN("loss", i->loss);
  lua_createtable(L, 8, 0);
  for (int k = 0; k < 8; k++) {
    lua_pushnumber(L, i->update_loss[k]);
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, -2, "update_loss");
  SETN("completion_len", i->completion_len);
  SETN("lr", i->lr);
  SETN("grad_norm", i->grad_norm);
  SETN("secs", i->secs);
  SETN("tokens_per_s", i->tokens_per_s);
  SETN("llm_rows", (double)i->llm_rows);
  SETN("llm_rows_apart", (double)i->llm_rows_apart);
}

typedef struct grpo_lua {
  tsl_cb cb;
  int interrupted; /* Ctrl-C seen: the trainer saves and stops; run() then raises */
  grpo_step_info last;
  double reward_first;
  int64_t n;
} grpo_lua;

static int grpo_on_step(void *user, const grpo_step_info *info) {
  grpo_lua *s = user;
  if (run_interrupted()) s->interrupted = 1;
  if (s->n++ == 0) s->reward_first = info->reward_mean;
  s->last = *info;
  if (s->cb.progress) {
    char m[200], cs[32] = "";
    if (info->cot_steps >= 0) snprintf(cs, sizeof cs, " cot %.2f", info->cot_steps);
    snprintf(m, sizeof m, "reward %.3f±%.3f format %.2f%s kl %.4f clip %.3f len %.0f", info->reward_mean,
             info->reward_std, info->format_rate, cs, info->kl, info->clip_frac, info->completion_len);
    tsl_progress("grpo", info->step, info->steps, m);
  }
  return tsl_callback(&s->cb, push_grpo_info, info);
}

static int l_grpo_new(lua_State *L) {
  tsl_trainer_new(L, GRPO_T, "ts.train.grpo", grpo_known);
  return 1;
}

static int l_grpo_run(lua_State *L) {
  const char *fn = "ts.train.grpo";
  tsl_trainer_opts(L, GRPO_T);
  tsm *policy = tsl_opt_model(L, 1, fn, "model", 1);
  tsm *ref = tsl_opt_model(L, 1, fn, "ref", 0);
  grpo_run_cfg c;
  grpo_run_cfg_default(&c);
  c.run_dir = tsl_opt_req_str(L, 1, fn, "run_dir");
  c.manifest = tsl_opt_manifest(L, 1, fn, "data", c.run_dir, "rl_train.jsonl");
  c.prompts = (int)tsl_opt_int(L, 1, fn, "prompts", c.prompts);
  c.G = (int)tsl_opt_int(L, 1, fn, "G", c.G);
  c.mu = (int)tsl_opt_int(L, 1, fn, "mu", c.mu);
  c.micro_batch = (int)tsl_opt_int(L, 1, fn, "micro_batch", c.micro_batch);
  c.steps = tsl_opt_int(L, 1, fn, "steps", c.steps);
  c.lr = (float)tsl_opt_num(L, 1, fn, "lr", c.lr);
  c.temperature = (float)tsl_opt_num(L, 1, fn, "temperature", c.temperature);
  c.max_new = (int)tsl_opt_int(L, 1, fn, "max_new", c.max_new);
  c.format_reward = (float)tsl_opt_num(L, 1, fn, "format_reward", c.format_reward);
  c.cot_reward = (float)tsl_opt_num(L, 1, fn, "cot_reward", c.cot_reward);
  c.cot_continuous = tsl_opt_bool(L, 1, fn, "continuous", c.cot_continuous);
  c.loss.beta = (float)tsl_opt_num(L, 1, fn, "beta", c.loss.beta);
  c.loss.eps_low = (float)tsl_opt_num(L, 1, fn, "epsilon", c.loss.eps_low);
  c.loss.eps_high = (float)tsl_opt_num(L, 1, fn, "epsilon_high", c.loss.eps_low);
  c.loss.max_len = c.max_new;
  const char *agg = tsl_opt_str(L, 1, fn, "agg", "grpo");
  if (grpo_agg_parse(agg, &c.loss.agg))
    return luaL_error(L, "%s: option 'agg' must be \"grpo\", \"dapo\" or \"dr_grpo\", got \"%s\"", fn, agg);
  c.clip = (float)tsl_opt_num(L, 1, fn, "clip", c.clip);
  c.wd = (float)tsl_opt_num(L, 1, fn, "wd", c.wd);
  c.seed = (uint64_t)tsl_opt_int(L, 1, fn, "seed", (int64_t)c.seed);
  c.ckpt_every = (int)tsl_opt_int(L, 1, fn, "ckpt_every", c.ckpt_every);
  c.keep = (int)tsl_opt_int(L, 1, fn, "keep", c.keep);
  c.log_every = (int)tsl_opt_int(L, 1, fn, "log_every", c.log_every);
  c.threads = (int)tsl_opt_int(L, 1, fn, "threads", c.threads);
  c.resume = tsl_opt_bool(L, 1, fn, "resume", c.resume);
  c.save_bf16 = tsl_opt_bool(L, 1, fn, "bf16", c.save_bf16);
  tsl_opt_freeze(L, 1, fn, c.freeze, 8);
  tsl_opt_sample(L, 1, fn, &c.sample);
  if (c.G < 2) return luaL_error(L, "%s: option 'G' must be >= 2 (advantages are relative to the group)", fn);
  if (c.prompts < 1 || c.mu < 1 || c.micro_batch < 1 || c.steps < 1 || c.max_new < 1)
    return luaL_error(L, "%s: prompts, mu, micro_batch, steps and max_new must be >= 1", fn);
  if (c.loss.beta > 0 && !ref)
    return luaL_error(L, "%s: beta = %g needs option 'ref' (the frozen starting model), or set beta = 0", fn,
                      (double)c.loss.beta);
  if (ref == policy) return luaL_error(L, "%s: 'ref' must be a separate model object (a second load)", fn);
  if (!policy->ps.g || !policy->ps.m)
    return luaL_error(L, "%s: the policy has no gradient/optimizer buffers (load it with {train = true})", fn);
  grpo_lua s;
  memset(&s, 0, sizeof s);
  tsl_cb_init(&s.cb, L, 1, fn, "on_step");
  c.on_step = grpo_on_step;
  c.user = &s;
  ts_err e;
  tsl_mark(L, 1, "model", 1);
  tsl_mark(L, 1, "ref", 1);
  int rc = grpo_run(policy, c.loss.beta > 0 ? ref : NULL, &c, &e);
  tsl_mark(L, 1, "model", -1);
  tsl_mark(L, 1, "ref", -1);
  tsl_cb_done(&s.cb);
  if (s.cb.err) return luaL_error(L, "%s: on_step: %s", fn, s.cb.msg);
  if (rc) return tsl_raise(L, &e, fn);
  if (s.interrupted)
    return luaL_error(L, "%s: interrupted at step %d; the checkpoint in %s resumes it", fn, (int)s.last.step, c.run_dir);
  lua_createtable(L, 0, 6);
  SETI("steps", s.last.step);
  SETN("reward", s.last.reward_mean);
  SETN("reward_first", s.reward_first);
  SETN("format_rate", s.last.format_rate);
  SETN("kl", s.last.kl);
  lua_pushstring(L, c.run_dir);
  lua_setfield(L, -2, "run_dir");
  return 1;
}

static int l_grpo_reward(lua_State *L) {
  const char *out = luaL_checkstring(L, 1), *ref = luaL_checkstring(L, 2);
  float fr = (float)luaL_optnumber(L, 3, 1.0);
  int ok = 0;
  double r = grpo_reward(out, ref, fr, &ok);
  lua_pushnumber(L, r);
  lua_pushboolean(L, ok);
  return 2;
}

/* ---- select ---- */

/* ts.select{decode=, mode="error-only"|"balanced"|"random", size=, seed=, manifest=, out=, ids=}
 *   -> {n=, format_error=, wrong=, correct=, available={...}, written=, missing=, report=} */
static int l_select(lua_State *L) {
  const char *fn = "ts.select";
  static const char *const known[] = {"decode", "mode", "size", "seed", "manifest", "out", "ids", NULL};
  tsl_opts_check(L, 1, fn, known);
  const char *decode = tsl_opt_req_str(L, 1, fn, "decode");
  const char *mode_s = tsl_opt_str(L, 1, fn, "mode", "error-only");
  int64_t size = tsl_opt_int(L, 1, fn, "size", 20000);
  uint64_t seed = (uint64_t)tsl_opt_int(L, 1, fn, "seed", 1);
  const char *man = tsl_opt_str(L, 1, fn, "manifest", NULL);
  const char *out = tsl_opt_str(L, 1, fn, "out", NULL);
  const char *ids = tsl_opt_str(L, 1, fn, "ids", NULL);
  if (size < 0) return luaL_error(L, "%s: option 'size' must be >= 0", fn);
  if (out && !man) return luaL_error(L, "%s: option 'out' needs option 'manifest' (the entries to copy)", fn);
  ts_err e;
  sel_mode mode;
  if (sel_mode_parse(mode_s, &mode, &e)) return tsl_raise(L, &e, fn);
  sel_pool pool;
  if (sel_pool_init(&pool, &e)) return tsl_raise(L, &e, fn);
  sel_result r;
  memset(&r, 0, sizeof r);
  char *report = NULL;
  int64_t written = 0, missing = 0, bad = 0;
  int rc = sel_pool_load(&pool, decode, &e);
  if (!rc) rc = sel_choose(&pool, mode, size, seed, &r, &e);
  if (!rc && ids) rc = sel_write_ids(&pool, &r, ids, &e);
  if (!rc && out) rc = sel_write_manifest(&pool, &r, man, out, &written, &missing, &bad, &e);
  if (!rc) rc = sel_report(&pool, &r, &report, &e);
  if (!rc) {
    lua_createtable(L, 0, 10);
    SETI("n", r.n);
    lua_pushstring(L, sel_mode_name(r.mode));
    lua_setfield(L, -2, "mode");
    lua_createtable(L, 0, 3);
    for (int k = 0; k < SEL_NCAT; k++) {
      lua_pushinteger(L, r.chosen[k]);
      lua_setfield(L, -2, sel_cat_name((sel_cat)k));
    }
    lua_setfield(L, -2, "chosen");
    lua_createtable(L, 0, 3);
    for (int k = 0; k < SEL_NCAT; k++) {
      lua_pushinteger(L, r.avail[k]);
      lua_setfield(L, -2, sel_cat_name((sel_cat)k));
    }
    lua_setfield(L, -2, "available");
    SETI("written", written);
    SETI("missing", missing);
    SETI("skipped", pool.skipped);
    lua_pushstring(L, report);
    lua_setfield(L, -2, "report");
  }
  free(report);
  sel_result_free(&r);
  sel_pool_free(&pool);
  if (rc) return tsl_raise(L, &e, fn);
  return 1;
}

/* ---- eval ---- */

/* ts.eval{systems = {{name=, decodes={paths}}, ...} (or {name = path|{paths}}),
 *         columns = {"Single=single,test-clean", ...} (default: the paper's),
 *         markdown = path, json = path} -> {markdown=, json= (parsed table), ...} */
static int l_eval(lua_State *L) {
  const char *fn = "ts.eval";
  static const char *const known[] = {"systems", "columns", "markdown", "json", NULL};
  tsl_opts_check(L, 1, fn, known);
  const char *md_path = tsl_opt_str(L, 1, fn, "markdown", NULL);
  const char *js_path = tsl_opt_str(L, 1, fn, "json", NULL);
  eval_table *t = malloc(sizeof *t);
  if (!t) return luaL_error(L, "%s: out of memory", fn);
  eval_init(t);
  ts_err e;
  int rc = 0;
  char *md = NULL, *js = NULL;
  /* columns */
  int ct = lua_getfield(L, 1, "columns");
  if (ct == LUA_TTABLE) {
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n && !rc; i++) {
      lua_rawgeti(L, -1, i);
      const char *spec = lua_tostring(L, -1);
      if (!spec) {
        eval_free(t);
        free(t);
        return luaL_error(L, "%s: option 'columns' element %d must be \"LABEL=SET[,SET]\"", fn, (int)i);
      }
      rc = eval_add_column_spec(t, spec, &e);
      lua_pop(L, 1);
    }
  } else if (ct == LUA_TNIL) {
    rc = eval_default_columns(t, &e);
  } else {
    eval_free(t);
    free(t);
    return luaL_error(L, "%s: option 'columns' must be a list of \"LABEL=SET[,SET]\"", fn);
  }
  lua_pop(L, 1);
  /* systems */
  if (!rc && lua_getfield(L, 1, "systems") != LUA_TTABLE) {
    eval_free(t);
    free(t);
    return luaL_error(L, "%s: option 'systems' is required: {{name = ..., decodes = {paths}}, ...}", fn);
  }
  lua_Integer ns = rc ? 0 : luaL_len(L, -1);
  for (lua_Integer i = 1; i <= ns && !rc; i++) {
    lua_rawgeti(L, -1, i);
    if (!lua_istable(L, -1)) {
      eval_free(t);
      free(t);
      return luaL_error(L, "%s: systems[%d] must be a table {name = ..., decodes = {paths}}", fn, (int)i);
    }
    lua_getfield(L, -1, "name");
    const char *name = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (!name) {
      eval_free(t);
      free(t);
      return luaL_error(L, "%s: systems[%d] has no name", fn, (int)i);
    }
    eval_sys *s;
    rc = eval_system(t, name, &s, &e);
    int dt = lua_getfield(L, -1, "decodes");
    if (dt == LUA_TSTRING) {
      if (!rc) rc = eval_sys_load(s, lua_tostring(L, -1), &e);
    } else if (dt == LUA_TTABLE) {
      lua_Integer nd = luaL_len(L, -1);
      for (lua_Integer k = 1; k <= nd && !rc; k++) {
        lua_rawgeti(L, -1, k);
        const char *p = lua_tostring(L, -1);
        if (p) rc = eval_sys_load(s, p, &e);
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  if (!rc) rc = eval_markdown(t, &md, &e);
  if (!rc) rc = eval_json(t, &js, &e);
  if (!rc && md_path) rc = afile_write(md_path, md, strlen(md), &e);
  if (!rc && js_path) rc = afile_write(js_path, js, strlen(js), &e);
  eval_free(t);
  free(t);
  if (rc) {
    free(md), free(js);
    return tsl_raise(L, &e, fn);
  }
  lua_createtable(L, 0, 2);
  lua_pushstring(L, md);
  lua_setfield(L, -2, "markdown");
  lua_getglobal(L, "require");
  lua_pushstring(L, "tsasr");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "json");
  lua_getfield(L, -1, "decode");
  lua_pushstring(L, js);
  free(md), free(js);
  lua_call(L, 1, 1);
  lua_setfield(L, -4, "table");
  lua_pop(L, 2);
  return 1;
}

void tsl_open_decode(lua_State *L); /* lua_decode.c */

void tsl_open_rl(lua_State *L) {
  /* stack: module, train */
  static const luaL_Reg grpo_m[] = {{"run", l_grpo_run}, {NULL, NULL}};
  tsl_class(L, GRPO_T, grpo_m, NULL);
  lua_pushcfunction(L, l_grpo_new);
  lua_setfield(L, -2, "grpo");
  lua_pushcfunction(L, l_grpo_reward);
  lua_setfield(L, -2, "reward");
  lua_pushcfunction(L, l_select);
  lua_setfield(L, -3, "select");
  lua_pushcfunction(L, l_eval);
  lua_setfield(L, -3, "eval");
  lua_insert(L, -2); /* train below module: decode goes into the module */
  tsl_open_decode(L);
  lua_insert(L, -2);
}
