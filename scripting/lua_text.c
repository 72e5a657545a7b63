/* lua_text.c — text bindings: ts.tokenizer (load, encode/decode, train), ts.wer,
 * ts.normalize and ts.cot (build from facts, parse and check model outputs). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "data/cot.h"
#include "data/cot_json.h"
#include "infer/cot_parse.h"
#include "scripting/tslua.h"
#include "text/bpe_train.h"
#include "text/normalize.h"
#include "text/tokenizer.h"
#include "text/wer.h"

#define TOK_T "tsasr.tokenizer"

/* ---- tokenizer ---- */

static void tok_release(void *p) { tok_free(p); }

static int l_tok_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  tok *t;
  ts_err e;
  if (tok_load(path, &t, &e)) return tsl_raise(L, &e, "ts.tokenizer.load");
  tsl_push(L, TOK_T, t, tok_release);
  return 1;
}

static int l_tok_encode(lua_State *L) {
  tok *t = tsl_check(L, 1, TOK_T);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  int flags = 0;
  if (lua_istable(L, 3)) {
    static const char *const known[] = {"split_special", NULL};
    tsl_opts_check(L, 3, "tokenizer:encode", known);
    if (tsl_opt_bool(L, 3, "tokenizer:encode", "split_special", 0)) flags |= TOK_ENC_SPLIT_SPECIAL;
  }
  tok_ids ids = {0};
  ts_err e;
  if (tok_encode(t, s, n, flags, &ids, &e)) {
    tok_ids_free(&ids);
    return tsl_raise(L, &e, "tokenizer:encode");
  }
  lua_createtable(L, (int)ids.n, 0);
  for (size_t i = 0; i < ids.n; i++) {
    lua_pushinteger(L, ids.v[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  tok_ids_free(&ids);
  return 1;
}

static int l_tok_decode(lua_State *L) {
  tok *t = tsl_check(L, 1, TOK_T);
  int flags = 0;
  if (!lua_isnoneornil(L, 3)) {
    static const char *const known[] = {"skip_special", "skip_unknown", NULL};
    tsl_opts_check(L, 3, "tokenizer:decode", known);
    if (tsl_opt_bool(L, 3, "tokenizer:decode", "skip_special", 0)) flags |= TOK_DEC_SKIP_SPECIAL;
    if (tsl_opt_bool(L, 3, "tokenizer:decode", "skip_unknown", 0)) flags |= TOK_DEC_SKIP_UNKNOWN;
  }
  int64_t n;
  int32_t *ids = tsl_ints(L, 2, "tokenizer:decode", &n);
  char *out = NULL;
  size_t len = 0;
  ts_err e;
  int rc = tok_decode(t, ids, (size_t)n, flags, &out, &len, &e);
  free(ids);
  if (rc) return tsl_raise(L, &e, "tokenizer:decode");
  lua_pushlstring(L, out, len);
  free(out);
  return 1;
}

static int l_tok_size(lua_State *L) {
  lua_pushinteger(L, tok_n_ids(tsl_check(L, 1, TOK_T)));
  return 1;
}

static int l_tok_id(lua_State *L) {
  tok *t = tsl_check(L, 1, TOK_T);
  int32_t id = tok_find(t, luaL_checkstring(L, 2));
  if (id < 0)
    lua_pushnil(L);
  else
    lua_pushinteger(L, id);
  return 1;
}

static int l_tok_token(lua_State *L) {
  tok *t = tsl_check(L, 1, TOK_T);
  lua_Integer id = luaL_checkinteger(L, 2);
  size_t len;
  const char *b = id >= 0 && id < tok_n_ids(t) ? tok_id_bytes(t, (int32_t)id, &len) : NULL;
  if (!b)
    lua_pushnil(L);
  else
    lua_pushlstring(L, b, len);
  return 1;
}

static int l_tok_train(lua_State *L) {
  static const char *const known[] = {"files", "texts", "merges", "min_freq", "out", NULL};
  const char *fn = "ts.tokenizer.train";
  tsl_opts_check(L, 1, fn, known);
  bpetrain_cfg c = {0};
  c.n_merges = (int)tsl_opt_int(L, 1, fn, "merges", 500);
  c.min_freq = tsl_opt_int(L, 1, fn, "min_freq", 2);
  const char *out = tsl_opt_req_str(L, 1, fn, "out");
  if (c.n_merges < 0) return luaL_error(L, "%s: option 'merges' must be >= 0", fn);
  if (c.min_freq < 1) return luaL_error(L, "%s: option 'min_freq' must be >= 1", fn);
  bpetrain *b;
  ts_err e;
  if (bpetrain_new(&c, &b, &e)) return tsl_raise(L, &e, fn);
  int rc = 0;
  for (int pass = 0; pass < 2 && !rc; pass++) {
    const char *key = pass ? "texts" : "files";
    int t = lua_getfield(L, 1, key);
    if (t == LUA_TSTRING) { /* a single file or text */
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      rc = pass ? bpetrain_feed(b, s, n, &e) : bpetrain_feed_file(b, s, &e);
    } else if (t == LUA_TTABLE) {
      lua_Integer k = luaL_len(L, -1);
      for (lua_Integer i = 1; i <= k && !rc; i++) {
        if (lua_rawgeti(L, -1, i) != LUA_TSTRING) {
          bpetrain_free(b);
          return luaL_error(L, "%s: option '%s' element %d must be a string", fn, key, (int)i);
        }
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        rc = pass ? bpetrain_feed(b, s, n, &e) : bpetrain_feed_file(b, s, &e);
        lua_pop(L, 1);
      }
    } else if (t != LUA_TNIL) {
      bpetrain_free(b);
      return luaL_error(L, "%s: option '%s' must be a string or a list of strings, got %s", fn, key,
                        luaL_typename(L, -1));
    }
    lua_pop(L, 1);
  }
  if (!rc) rc = bpetrain_run(b, &e);
  if (!rc) rc = bpetrain_save(b, out, &e);
  int merges = rc ? 0 : bpetrain_n_merges(b);
  bpetrain_free(b);
  if (rc) return tsl_raise(L, &e, fn);
  tok *t;
  if (tok_load(out, &t, &e)) return tsl_raise(L, &e, fn);
  tsl_push(L, TOK_T, t, tok_release);
  lua_pushinteger(L, merges);
  return 2;
}

/* ---- wer / normalize ---- */

static const char *op_name(wer_op_type t) {
  switch (t) {
  case WER_EQUAL: return "equal";
  case WER_SUB: return "sub";
  case WER_DEL: return "del";
  default: return "ins";
  }
}

static int l_wer(lua_State *L) {
  const char *ref = luaL_checkstring(L, 1), *hyp = luaL_checkstring(L, 2);
  wer_result r;
  ts_err e;
  if (wer_align(ref, hyp, &r, &e)) return tsl_raise(L, &e, "ts.wer");
  lua_createtable(L, 0, 8);
  lua_pushnumber(L, wer_stats_rate(&r.st));
  lua_setfield(L, -2, "wer");
  lua_pushinteger(L, r.st.sub);
  lua_setfield(L, -2, "sub");
  lua_pushinteger(L, r.st.del);
  lua_setfield(L, -2, "del");
  lua_pushinteger(L, r.st.ins);
  lua_setfield(L, -2, "ins");
  lua_pushinteger(L, r.st.hit);
  lua_setfield(L, -2, "hit");
  lua_pushinteger(L, r.st.n_ref);
  lua_setfield(L, -2, "n");
  lua_pushinteger(L, wer_stats_errors(&r.st));
  lua_setfield(L, -2, "errors");
  lua_createtable(L, (int)r.n_ops, 0);
  for (size_t i = 0; i < r.n_ops; i++) {
    const wer_op *o = &r.ops[i];
    lua_createtable(L, 0, 3);
    lua_pushstring(L, op_name(o->type));
    lua_setfield(L, -2, "op");
    if (o->ref) {
      lua_pushstring(L, o->ref);
      lua_setfield(L, -2, "ref");
    }
    if (o->hyp) {
      lua_pushstring(L, o->hyp);
      lua_setfield(L, -2, "hyp");
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "align");
  wer_result_free(&r);
  return 1;
}

static int l_normalize(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  char *out;
  size_t len;
  ts_err e;
  if (norm_librispeech(s, n, &out, &len, &e)) return tsl_raise(L, &e, "ts.normalize");
  lua_pushlstring(L, out, len);
  free(out);
  return 1;
}

/* ---- cot ---- */

/* Lua facts table (1-based target) -> cot_facts. Keys as cot_json.h plus "text". */
static void check_facts(lua_State *L, int idx, const char *fn, cot_facts *f) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) luaL_error(L, "%s: expects a facts table, got %s", fn, luaL_typename(L, idx));
  static const char *const known[] = {"enroll_dur", "silence_dur", "mix_dur",     "total_dur", "enroll_gender",
                                      "target",     "speakers",    "text",        "continuous", NULL};
  tsl_opts_check(L, idx, fn, known);
  cJSON *j = tsl_to_json(L, idx);
  cJSON_DeleteItemFromObject(j, "text");
  cJSON_DeleteItemFromObject(j, "continuous");
  cJSON *t = cJSON_GetObjectItem(j, "target");
  if (cJSON_IsNumber(t)) cJSON_SetNumberValue(t, t->valuedouble - 1); /* Lua 1-based -> 0-based */
  ts_err e;
  int rc = cot_facts_from_json(j, fn, f, &e);
  cJSON_Delete(j);
  if (rc) tsl_raise(L, &e, NULL);
}

void tsl_push_facts(lua_State *L, const cot_facts *f);
void tsl_push_facts(lua_State *L, const cot_facts *f) {
  cJSON *j = cot_facts_to_json(f);
  if (!j) luaL_error(L, "out of memory");
  tsl_push_json(L, j);
  cJSON_Delete(j);
  lua_getfield(L, -1, "target");
  lua_Integer t = lua_tointeger(L, -1);
  lua_pop(L, 1);
  lua_pushinteger(L, t + 1);
  lua_setfield(L, -2, "target");
}

static int l_cot_build(lua_State *L) {
  const char *fn = "ts.cot.build";
  cot_facts f;
  check_facts(L, 1, fn, &f);
  cot_opts o = {0};
  o.continuous = tsl_opt_bool(L, 1, fn, "continuous", 0);
  const char *text = tsl_opt_str(L, 1, fn, "text", NULL);
  if (!lua_isnoneornil(L, 2)) text = luaL_checkstring(L, 2);
  char *out;
  ts_err e;
  int rc = text ? cot_build(&f, &o, text, &out, &e) : cot_build_think(&f, &o, &out, &e);
  if (rc) return tsl_raise(L, &e, fn);
  lua_pushstring(L, out);
  free(out);
  return 1;
}

static int l_cot_empty(lua_State *L) {
  char *out;
  ts_err e;
  if (cot_build_empty(luaL_checkstring(L, 1), &out, &e)) return tsl_raise(L, &e, "ts.cot.empty");
  lua_pushstring(L, out);
  free(out);
  return 1;
}

static int l_cot_level(lua_State *L) {
  lua_pushinteger(L, cot_level(luaL_checknumber(L, 1)));
  return 1;
}

static int l_cot_random_facts(lua_State *L) {
  cot_facts f;
  cot_facts_random(&f, (uint64_t)luaL_checkinteger(L, 1), (uint64_t)luaL_optinteger(L, 2, 0));
  tsl_push_facts(L, &f);
  return 1;
}

static void set_num(lua_State *L, const char *k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

static int l_cot_parse(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  cot_parsed *p = malloc(sizeof *p);
  if (!p) return luaL_error(L, "ts.cot.parse: out of memory");
  ts_err e;
  if (cot_parse(s, n, p, &e)) {
    free(p);
    return tsl_raise(L, &e, "ts.cot.parse");
  }
  lua_createtable(L, 0, 16);
  lua_pushboolean(L, p->format_ok);
  lua_setfield(L, -2, "format_ok");
  lua_pushstring(L, cot_fmt_err_name(p->fmt));
  lua_setfield(L, -2, "format");
  lua_pushlstring(L, s + p->answer_off, p->answer_len);
  lua_setfield(L, -2, "answer");
  if (p->format_ok) {
    lua_pushlstring(L, s + p->think_off, p->think_len);
    lua_setfield(L, -2, "think");
  }
  lua_pushboolean(L, p->think_empty);
  lua_setfield(L, -2, "think_empty");
  if (p->n_speakers) {
    lua_pushinteger(L, p->n_speakers);
    lua_setfield(L, -2, "n_speakers");
  }
  if (p->has_total) set_num(L, "total", p->total);
  if (p->has_enroll) set_num(L, "enroll_end", p->enroll_end);
  if (p->has_mixture) {
    set_num(L, "mix_start", p->mix_start);
    set_num(L, "mix_end", p->mix_end);
  }
  if (p->enroll_gender != COT_GENDER_NONE) {
    lua_pushstring(L, cot_gender_name(p->enroll_gender));
    lua_setfield(L, -2, "enroll_gender");
  }
  lua_newtable(L);
  for (int k = 0; k < COT_PARSE_MAX_SPK; k++) {
    const cot_parsed_spk *ps = &p->spk[k];
    if (!ps->present) continue;
    lua_newtable(L);
    if (ps->gender != COT_GENDER_NONE) {
      lua_pushstring(L, cot_gender_name(ps->gender));
      lua_setfield(L, -2, "gender");
    }
    if (ps->has_span) {
      set_num(L, "start", ps->start);
      set_num(L, "end", ps->end);
    }
    if (ps->has_sim) set_num(L, "sim", ps->sim);
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, -2, "speakers");
  if (p->has_ranking) {
    lua_createtable(L, p->rank_n, 0);
    for (int i = 0; i < p->rank_n; i++) {
      lua_createtable(L, 0, 3);
      if (p->rank_spk[i] >= 0) { /* absent when the number was out of range */
        lua_pushinteger(L, p->rank_spk[i] + 1);
        lua_setfield(L, -2, "speaker");
      }
      set_num(L, "value", p->rank_val[i]);
      if (i + 1 < p->rank_n) {
        char rel[2] = {p->rank_rel[i], 0};
        lua_pushstring(L, rel);
        lua_setfield(L, -2, "rel");
      }
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "ranking");
  }
  lua_pushstring(L, cot_reason_name(p->reason));
  lua_setfield(L, -2, "reason");
  if (p->target >= 0) {
    lua_pushinteger(L, p->target + 1);
    lua_setfield(L, -2, "target");
  }
  free(p);
  return 1;
}

static int l_cot_check(lua_State *L) {
  const char *fn = "ts.cot.check";
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  cot_facts f;
  check_facts(L, 2, fn, &f);
  cot_check_opts o = {0};
  o.continuous = tsl_opt_bool(L, 2, fn, "continuous", 0);
  cot_parsed *p = malloc(sizeof *p);
  cot_check *c = malloc(sizeof *c);
  ts_err e;
  int rc = !p || !c ? err_set(&e, TS_ENOMEM, "out of memory") : cot_parse(s, n, p, &e);
  if (!rc) rc = cot_check_run(p, &f, &o, c, &e);
  if (rc) {
    free(p), free(c);
    return tsl_raise(L, &e, fn);
  }
  lua_createtable(L, 0, 5);
  lua_pushboolean(L, c->n_wrong == 0 && c->n_missing == 0);
  lua_setfield(L, -2, "ok");
  lua_pushinteger(L, c->n_ok);
  lua_setfield(L, -2, "n_ok");
  lua_pushinteger(L, c->n_wrong);
  lua_setfield(L, -2, "n_wrong");
  lua_pushinteger(L, c->n_missing);
  lua_setfield(L, -2, "n_missing");
  lua_createtable(L, c->n_steps, 0);
  for (int i = 0; i < c->n_steps; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, c->step[i].name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, cot_step_status_name(c->step[i].status));
    lua_setfield(L, -2, "status");
    lua_pushstring(L, c->step[i].detail);
    lua_setfield(L, -2, "detail");
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "steps");
  free(p), free(c);
  return 1;
}

void tsl_open_text(lua_State *L) {
  static const luaL_Reg tok_m[] = {{"encode", l_tok_encode}, {"decode", l_tok_decode}, {"size", l_tok_size},
                                   {"id", l_tok_id},         {"token", l_tok_token},   {NULL, NULL}};
  static const luaL_Reg tok_mt[] = {{"__len", l_tok_size}, {NULL, NULL}};
  tsl_class(L, TOK_T, tok_m, tok_mt);
  static const luaL_Reg tok_f[] = {{"load", l_tok_load}, {"train", l_tok_train}, {NULL, NULL}};
  luaL_newlib(L, tok_f);
  lua_setfield(L, -2, "tokenizer");
  lua_pushcfunction(L, l_wer);
  lua_setfield(L, -2, "wer");
  lua_pushcfunction(L, l_normalize);
  lua_setfield(L, -2, "normalize");
  static const luaL_Reg cot_f[] = {{"build", l_cot_build},   {"empty", l_cot_empty},
                                   {"parse", l_cot_parse},   {"check", l_cot_check},
                                   {"level", l_cot_level},   {"random_facts", l_cot_random_facts},
                                   {NULL, NULL}};
  luaL_newlib(L, cot_f);
  lua_setfield(L, -2, "cot");
}
