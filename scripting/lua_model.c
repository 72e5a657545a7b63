/* lua_model.c — model bindings: ts.llm (an HF Qwen2 directory: logits of a token sequence),
 * ts.encoder (an HF Data2VecAudio / Wav2Vec2 directory or our export: hidden states of a
 * wave) and ts.model (the composed model: load, new, assemble, save, info, generate). */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/jsonx.h"
#include "infer/generate.h"
#include "model/encoder.h"
#include "model/qwen2.h"
#include "model/tsmodel.h"
#include "scripting/tslua.h"
#include "tensor/be_mem.h"
#include "tensor/devsim.h"
#include "tensor/params_io.h"

#define LLM_T "tsasr.llm"
#define ENC_T "tsasr.encoder"
#define MODEL_T "tsasr.model"

/* ---- ts.llm ---- */

typedef struct lllm {
  qwen2_cfg c;
  pset ps;
  qwen2 m;
} lllm;

static void llm_release(void *p) {
  lllm *x = p;
  pset_free(&x->ps);
  free(x);
}

static int l_llm_load(lua_State *L) {
  const char *dir = luaL_checkstring(L, 1);
  lllm *x = calloc(1, sizeof *x);
  if (!x) return luaL_error(L, "ts.llm.load: out of memory");
  pset_init(&x->ps, be_cpu());
  char path[4200];
  ts_err e;
  snprintf(path, sizeof path, "%s/config.json", dir);
  int rc = qwen2_cfg_load(path, &x->c, &e);
  if (!rc) rc = qwen2_declare(&x->ps, "", &x->c, &e);
  if (!rc) rc = pset_alloc(&x->ps, 0, 0, &e);
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  if (!rc) rc = pset_load_file(&x->ps, path, "", "", &e);
  if (!rc) rc = qwen2_bind(&x->m, &x->ps, "", &x->c, &e);
  if (rc) {
    llm_release(x);
    return tsl_raise(L, &e, "ts.llm.load");
  }
  tsl_push(L, LLM_T, x, llm_release);
  return 1;
}

static int l_llm_logits(lua_State *L) {
  lllm *x = tsl_check(L, 1, LLM_T);
  int64_t T;
  int32_t *ids = tsl_ints(L, 2, "llm:logits", &T);
  if (T < 1) {
    free(ids);
    return luaL_argerror(L, 2, "at least one token id expected");
  }
  for (int64_t i = 0; i < T; i++)
    if (ids[i] < 0 || ids[i] >= x->c.V) {
      int32_t bad = ids[i];
      free(ids);
      return luaL_error(L, "llm:logits: token id %d at position %d is outside the vocabulary (0..%d)", (int)bad,
                        (int)(i + 1), (int)(x->c.V - 1));
    }
  int64_t C = x->c.C, V = x->c.V;
  float *xe = malloc(sizeof(float) * (size_t)(T * C));
  float *lg = malloc(sizeof(float) * (size_t)(T * V));
  int32_t *pos = malloc(sizeof(int32_t) * (size_t)T);
  int32_t kv = (int32_t)T;
  arena ar;
  arena_init(&ar, 1 << 20);
  ts_err e;
  int rc = !xe || !lg || !pos ? err_set(&e, TS_ENOMEM, "out of memory for %lld tokens", (long long)T) : 0;
  qwen2_acts acts;
  attn_cfg mask = {0};
  mask.kv_len = &kv;
  if (!rc) {
    for (int64_t i = 0; i < T; i++) pos[i] = (int32_t)i;
    rc = qwen2_embed(&x->m, ids, T, xe, &e);
  }
  if (!rc) rc = qwen2_forward(&x->m, 1, T, xe, pos, &mask, &acts, &ar, &e);
  if (!rc) rc = qwen2_head(&x->m, acts.hid, T, lg, &e);
  if (!rc) tsl_push_matrix(L, lg, T, V);
  free(ids), free(xe), free(pos), free(lg);
  arena_free(&ar);
  if (rc) return tsl_raise(L, &e, "llm:logits");
  return 1;
}

static void push_qwen2_cfg(lua_State *L, const qwen2_cfg *c) {
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, c->V);
  lua_setfield(L, -2, "vocab_size");
  lua_pushinteger(L, c->C);
  lua_setfield(L, -2, "hidden_size");
  lua_pushinteger(L, c->L);
  lua_setfield(L, -2, "layers");
  lua_pushinteger(L, c->Hq);
  lua_setfield(L, -2, "heads");
  lua_pushinteger(L, c->Hkv);
  lua_setfield(L, -2, "kv_heads");
  lua_pushinteger(L, c->F);
  lua_setfield(L, -2, "intermediate_size");
  lua_pushboolean(L, c->tied);
  lua_setfield(L, -2, "tied");
  lua_pushinteger(L, qwen2_param_count(c));
  lua_setfield(L, -2, "params");
}

static int l_llm_info(lua_State *L) {
  lllm *x = tsl_check(L, 1, LLM_T);
  push_qwen2_cfg(L, &x->c);
  return 1;
}

/* ---- ts.encoder ---- */

typedef struct lenc {
  enc_cfg c;
  pset ps;
  enc_model m;
} lenc;

static void enc_release(void *p) {
  lenc *x = p;
  pset_free(&x->ps);
  free(x);
}

static int l_enc_load(lua_State *L) {
  const char *dir = luaL_checkstring(L, 1);
  lenc *x = calloc(1, sizeof *x);
  if (!x) return luaL_error(L, "ts.encoder.load: out of memory");
  pset_init(&x->ps, be_cpu());
  ts_err e;
  int rc = enc_config_load(dir, &x->c, &e);
  if (!rc) rc = enc_declare(&x->ps, "", &x->c, &e);
  if (!rc) rc = pset_alloc(&x->ps, 0, 0, &e);
  if (!rc) rc = enc_bind(&x->m, &x->ps, "", &x->c, &e);
  if (!rc) rc = enc_load_file(&x->m, dir, &e);
  if (rc) {
    enc_release(x);
    return tsl_raise(L, &e, "ts.encoder.load");
  }
  tsl_push(L, ENC_T, x, enc_release);
  return 1;
}

/* wave: a table of floats, or {samples = {...}} as ts.audio.read returns */
static float *wave_floats(lua_State *L, int idx, const char *fn, int64_t *n) {
  luaL_checktype(L, idx, LUA_TTABLE);
  if (lua_getfield(L, idx, "samples") == LUA_TTABLE) {
    float *x = tsl_floats(L, -1, fn, n);
    lua_pop(L, 1);
    return x;
  }
  lua_pop(L, 1);
  return tsl_floats(L, idx, fn, n);
}

static int l_enc_forward(lua_State *L) {
  lenc *x = tsl_check(L, 1, ENC_T);
  int64_t n;
  float *w = wave_floats(L, 2, "encoder:forward", &n);
  if (enc_frames(&x->c, n) < 1) {
    free(w);
    return luaL_error(L, "encoder:forward: %d samples are too short for one frame", (int)n);
  }
  arena ar;
  arena_init(&ar, 1 << 20);
  enc_acts a;
  ts_err e;
  int rc = enc_forward(&x->m, 1, n, w, &n, &a, &ar, &e);
  if (!rc) tsl_push_matrix(L, a.out, a.frames[0], x->c.C);
  free(w);
  arena_free(&ar);
  if (rc) return tsl_raise(L, &e, "encoder:forward");
  return 1;
}

static int l_enc_info(lua_State *L) {
  lenc *x = tsl_check(L, 1, ENC_T);
  char buf[512];
  lua_createtable(L, 0, 4);
  lua_pushstring(L, enc_describe(&x->c, buf, sizeof buf));
  lua_setfield(L, -2, "text");
  lua_pushinteger(L, x->c.C);
  lua_setfield(L, -2, "hidden_size");
  lua_pushinteger(L, x->c.L);
  lua_setfield(L, -2, "layers");
  lua_pushinteger(L, pset_count(&x->ps, ""));
  lua_setfield(L, -2, "params");
  lua_pushinteger(L, enc_hop(&x->c));
  lua_setfield(L, -2, "hop");
  return 1;
}

/* ---- ts.model ---- */

static void model_release(void *p) { tsm_free(p); }

tsm *tsl_check_model(lua_State *L, int idx);
tsm *tsl_check_model(lua_State *L, int idx) { return tsl_check(L, idx, MODEL_T); }

/* options device (cpu, cuda, devsim) and gemm (GEMM precision, process-wide for the device's
 * kind: f32, bf16 (oneDNN on cpu/devsim, tensor cores on cuda) or tf32 (cuda); be_set_gemm) */
static backend *device_opt(lua_State *L, int idx, const char *fn) {
  const char *dev = tsl_opt_str(L, idx, fn, "device", "cpu");
  const char *gemm = tsl_opt_str(L, idx, fn, "gemm", NULL);
  if (gemm && !be_gemm_known(gemm))
    luaL_error(L, "%s: option 'gemm' must be \"f32\", \"tf32\" or \"bf16\", got \"%s\"", fn, gemm);
  backend *be = NULL;
  if (!strcmp(dev, "cpu")) {
    be = be_cpu();
  } else if (!strcmp(dev, "devsim")) {
    be = be_devsim(); /* the simulated device (tests) */
  } else if (!strcmp(dev, "cuda")) {
    ts_err e;
    be = be_cuda(&e);
    if (!be) tsl_raise(L, &e, fn);
  } else {
    luaL_error(L, "%s: option 'device' must be \"cpu\", \"cuda\" or \"devsim\", got \"%s\"", fn, dev);
  }
  ts_err e = {0};
  if (gemm && be_set_gemm(be, gemm, &e)) luaL_error(L, "%s: option gemm = \"%s\": %s", fn, gemm, e.msg);
  return be;
}

static int l_model_load(lua_State *L) {
  const char *fn = "ts.model.load";
  const char *dir = luaL_checkstring(L, 1);
  backend *be = be_cpu();
  int train = 0;
  if (!lua_isnoneornil(L, 2)) {
    static const char *const known[] = {"device", "gemm", "train", NULL};
    tsl_opts_check(L, 2, fn, known);
    be = device_opt(L, 2, fn);
    train = tsl_opt_bool(L, 2, fn, "train", 0);
  }
  tsm *m;
  ts_err e;
  if (tsm_load(dir, be, train, train, &m, &e)) return tsl_raise(L, &e, fn);
  tsl_push(L, MODEL_T, m, model_release);
  return 1;
}

static int l_model_new(lua_State *L) {
  const char *fn = "ts.model.new";
  static const char *const known[] = {"config", "tokenizer", "seed", "init_std", "device", "gemm", "train", NULL};
  tsl_opts_check(L, 1, fn, known);
  const char *tokp = tsl_opt_req_str(L, 1, fn, "tokenizer");
  uint64_t seed = (uint64_t)tsl_opt_int(L, 1, fn, "seed", 1);
  float std = (float)tsl_opt_num(L, 1, fn, "init_std", 0.02);
  backend *be = device_opt(L, 1, fn);
  int train = tsl_opt_bool(L, 1, fn, "train", 1);
  cJSON *cfg = NULL;
  ts_err e;
  int t = lua_getfield(L, 1, "config");
  if (t == LUA_TSTRING) {
    if (jsonx_load(lua_tostring(L, -1), &cfg, &e)) return tsl_raise(L, &e, fn);
  } else if (t == LUA_TTABLE) {
    cfg = tsl_to_json(L, -1);
  } else {
    return luaL_error(L, "%s: option 'config' must be a table or a config.json path, got %s", fn,
                      luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  tsm *m;
  int rc = tsm_new(cfg, tokp, seed, std, be, train, train, &m, &e);
  cJSON_Delete(cfg);
  if (rc) return tsl_raise(L, &e, fn);
  tsl_push(L, MODEL_T, m, model_release);
  return 1;
}

static int l_model_assemble(lua_State *L) {
  const char *fn = "ts.model.assemble";
  static const char *const known[] = {"llm", "encoder", "adapter", "adapter_k", "adapter_hidden", "seed",
                                      "device", "gemm", "train", NULL};
  tsl_opts_check(L, 1, fn, known);
  const char *llm = tsl_opt_req_str(L, 1, fn, "llm");
  const char *enc = tsl_opt_req_str(L, 1, fn, "encoder");
  const char *kind = tsl_opt_str(L, 1, fn, "adapter", "mlp");
  adapter_cfg a = {0};
  if (!strcmp(kind, "mlp"))
    a.kind = ADAPTER_MLP;
  else if (!strcmp(kind, "linear"))
    a.kind = ADAPTER_LINEAR;
  else
    return luaL_error(L, "%s: option 'adapter' must be \"mlp\" or \"linear\", got \"%s\"", fn, kind);
  a.k = (int)tsl_opt_int(L, 1, fn, "adapter_k", 5);
  a.H = tsl_opt_int(L, 1, fn, "adapter_hidden", 2048);
  uint64_t seed = (uint64_t)tsl_opt_int(L, 1, fn, "seed", 1);
  backend *be = device_opt(L, 1, fn);
  int train = tsl_opt_bool(L, 1, fn, "train", 1);
  tsm *m;
  ts_err e;
  if (tsm_assemble(llm, enc, &a, seed, be, train, train, &m, &e)) return tsl_raise(L, &e, fn);
  tsl_push(L, MODEL_T, m, model_release);
  return 1;
}

static int l_model_save(lua_State *L) {
  tsm *m = tsl_check(L, 1, MODEL_T);
  const char *dir = luaL_checkstring(L, 2);
  int bf16 = 0;
  if (!lua_isnoneornil(L, 3)) {
    static const char *const known[] = {"bf16", NULL};
    tsl_opts_check(L, 3, "model:save", known);
    bf16 = tsl_opt_bool(L, 3, "model:save", "bf16", 0);
  }
  ts_err e;
  if (tsm_save(m, dir, bf16, &e)) return tsl_raise(L, &e, "model:save");
  return 0;
}

static int l_model_info(lua_State *L) {
  tsm *m = tsl_check(L, 1, MODEL_T);
  int batch = (int)luaL_optinteger(L, 2, 1);
  double secs = luaL_optnumber(L, 3, 20.0);
  char *buf = malloc(8192);
  if (!buf) return luaL_error(L, "model:info: out of memory");
  tsm_describe(m, batch, secs, buf, 8192);
  lua_createtable(L, 0, 8);
  lua_pushstring(L, buf);
  lua_setfield(L, -2, "text");
  free(buf);
  lua_pushinteger(L, pset_count(&m->ps, ""));
  lua_setfield(L, -2, "params");
  lua_pushinteger(L, pset_count(&m->ps, "encoder."));
  lua_setfield(L, -2, "encoder_params");
  lua_pushinteger(L, pset_count(&m->ps, "adapter."));
  lua_setfield(L, -2, "adapter_params");
  lua_pushinteger(L, pset_count(&m->ps, "llm."));
  lua_setfield(L, -2, "llm_params");
  push_qwen2_cfg(L, &m->lcfg);
  lua_setfield(L, -2, "llm");
  char eb[512];
  lua_pushstring(L, enc_describe(&m->ecfg, eb, sizeof eb));
  lua_setfield(L, -2, "encoder");
  lua_pushinteger(L, m->acfg.k);
  lua_setfield(L, -2, "adapter_k");
  lua_pushinteger(L, tok_n_ids(m->tok));
  lua_setfield(L, -2, "vocab");
  lua_pushstring(L, !m->be || m->be->device == DEV_CPU ? "cpu" : m->be->device == DEV_SIM ? "devsim" : "cuda");
  lua_setfield(L, -2, "device");
  return 1;
}

/* model:generate(wave [, {max_new=, temperature=, top_p=, top_k=, n=, seed=}]) -> {texts} */
static int l_model_generate(lua_State *L) {
  const char *fn = "model:generate";
  tsm *m = tsl_check(L, 1, MODEL_T);
  int64_t n;
  gen_cfg c;
  memset(&c, 0, sizeof c);
  c.max_new = 512;
  c.G = 1;
  if (!lua_isnoneornil(L, 3)) {
    static const char *const known[] = {"max_new", "temperature", "top_p", "top_k", "n", "seed", NULL};
    tsl_opts_check(L, 3, fn, known);
    c.max_new = (int)tsl_opt_int(L, 3, fn, "max_new", 512);
    c.samp.temperature = (float)tsl_opt_num(L, 3, fn, "temperature", 0);
    c.samp.top_p = (float)tsl_opt_num(L, 3, fn, "top_p", 1);
    int64_t top_k = tsl_opt_int(L, 3, fn, "top_k", 0);
    if (top_k < 0 || top_k > INT_MAX) return luaL_error(L, "%s: top_k %I is outside 0..%d", fn, (lua_Integer)top_k, INT_MAX);
    c.samp.top_k = (int)top_k;
    c.G = (int)tsl_opt_int(L, 3, fn, "n", 1);
    c.seed = (uint64_t)tsl_opt_int(L, 3, fn, "seed", 1);
  } else {
    c.samp.top_p = 1;
  }
  if (c.G < 1 || c.max_new < 1) return luaL_error(L, "%s: options 'n' and 'max_new' must be >= 1", fn);
  /* the wave is copied after the options: a Lua error raised after that would leak it */
  float *w = wave_floats(L, 2, fn, &n);
  int32_t *ids = NULL, nid = 0;
  ts_err e;
  int rc = tsm_prompt_ids(m, &ids, &nid, &e);
  gen_output *outs = rc ? NULL : calloc((size_t)c.G, sizeof *outs);
  if (!rc && !outs) rc = err_set(&e, TS_ENOMEM, "out of memory");
  arena ar;
  if (be_arena_init(&ar, m->be, 1 << 20, rc ? NULL : &e) && !rc) rc = TS_ENOMEM;
  if (!rc) {
    const int32_t *const pids[1] = {ids};
    gen_input in = {1, w, n, &n, pids, &nid, NULL};
    rc = tsm_generate(m, &in, &c, outs, &ar, &e);
  }
  if (!rc) {
    lua_createtable(L, c.G, 0);
    for (int g = 0; g < c.G; g++) {
      lua_pushstring(L, outs[g].text ? outs[g].text : "");
      lua_rawseti(L, -2, g + 1);
    }
  }
  if (outs)
    for (int g = 0; g < c.G; g++) gen_output_free(&outs[g]);
  free(outs), free(ids), free(w);
  arena_free(&ar);
  if (rc) return tsl_raise(L, &e, fn);
  return 1;
}

/* model:score(wave, response [, {temperature = 1}]) -> {loss (mean NLL per token), loss_sum,
 * tokens, correct, logp = {per response token, the <|im_end|> included}} — teacher forcing,
 * no gradients. */
static int l_model_score(lua_State *L) {
  const char *fn = "model:score";
  tsm *m = tsl_check(L, 1, MODEL_T);
  const char *resp = luaL_checkstring(L, 3);
  float tau = 1.0f;
  if (!lua_isnoneornil(L, 4)) {
    static const char *const known[] = {"temperature", NULL};
    tsl_opts_check(L, 4, fn, known);
    tau = (float)tsl_opt_num(L, 4, fn, "temperature", 1.0);
    if (!(tau > 0)) return luaL_error(L, "%s: option 'temperature' must be > 0", fn);
  }
  int64_t n;
  float *w = wave_floats(L, 2, fn, &n);
  int32_t *ids = NULL, nid = 0, rs = 0, re = 0;
  ts_err e;
  int rc = tsm_train_ids(m, resp, &ids, &nid, &rs, &re, &e);
  float *lp = rc ? NULL : malloc(sizeof(float) * (size_t)(re - rs + 1));
  if (!rc && !lp) rc = err_set(&e, TS_ENOMEM, "out of memory");
  arena ar;
  if (be_arena_init(&ar, m->be, 1 << 20, rc ? NULL : &e) && !rc) rc = TS_ENOMEM;
  tsm_loss out;
  memset(&out, 0, sizeof out);
  if (!rc) {
    const int32_t *const pids[1] = {ids};
    tsm_batch b;
    memset(&b, 0, sizeof b);
    b.B = 1;
    b.wav = w;
    b.L = n;
    b.wav_len = &n;
    b.ids = pids;
    b.n_ids = &nid;
    b.resp_start = &rs;
    b.resp_end = &re;
    b.temperature = tau;
    b.logp_out = lp;
    rc = tsm_train_step(m, &b, 0.0f, &out, &ar, &e);
  }
  if (!rc) {
    lua_createtable(L, 0, 5);
    lua_pushnumber(L, out.tokens ? out.loss_sum / (double)out.tokens : 0.0);
    lua_setfield(L, -2, "loss");
    lua_pushnumber(L, out.loss_sum);
    lua_setfield(L, -2, "loss_sum");
    lua_pushinteger(L, out.tokens);
    lua_setfield(L, -2, "tokens");
    lua_pushinteger(L, out.correct);
    lua_setfield(L, -2, "correct");
    tsl_push_floats(L, lp, out.tokens);
    lua_setfield(L, -2, "logp");
  }
  free(w), free(ids), free(lp);
  arena_free(&ar);
  if (rc) return tsl_raise(L, &e, fn);
  return 1;
}

/* model:freeze(prefix [, frozen=true]) -> number of tensors */
static int l_model_freeze(lua_State *L) {
  tsm *m = tsl_check(L, 1, MODEL_T);
  const char *pre = luaL_checkstring(L, 2);
  int fr = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
  lua_pushinteger(L, pset_freeze(&m->ps, pre, fr));
  return 1;
}

static int l_model_prompt(lua_State *L) {
  tsm *m = tsl_check(L, 1, MODEL_T);
  int32_t *ids;
  int32_t n;
  ts_err e;
  if (tsm_prompt_ids(m, &ids, &n, &e)) return tsl_raise(L, &e, "model:prompt_ids");
  lua_createtable(L, n, 0);
  for (int32_t i = 0; i < n; i++) {
    lua_pushinteger(L, ids[i]);
    lua_rawseti(L, -2, i + 1);
  }
  free(ids);
  return 1;
}

void tsl_open_model(lua_State *L) {
  static const luaL_Reg llm_m[] = {{"logits", l_llm_logits}, {"info", l_llm_info}, {NULL, NULL}};
  tsl_class(L, LLM_T, llm_m, NULL);
  static const luaL_Reg llm_f[] = {{"load", l_llm_load}, {NULL, NULL}};
  luaL_newlib(L, llm_f);
  lua_setfield(L, -2, "llm");

  static const luaL_Reg enc_m[] = {{"forward", l_enc_forward}, {"info", l_enc_info}, {NULL, NULL}};
  tsl_class(L, ENC_T, enc_m, NULL);
  static const luaL_Reg enc_f[] = {{"load", l_enc_load}, {NULL, NULL}};
  luaL_newlib(L, enc_f);
  lua_setfield(L, -2, "encoder");

  static const luaL_Reg model_m[] = {{"save", l_model_save},         {"info", l_model_info},
                                     {"generate", l_model_generate}, {"score", l_model_score},
                                     {"freeze", l_model_freeze},
                                     {"prompt_ids", l_model_prompt}, {NULL, NULL}};
  tsl_class(L, MODEL_T, model_m, NULL);
  static const luaL_Reg model_f[] = {{"load", l_model_load}, {"new", l_model_new}, {"assemble", l_model_assemble},
                                     {"save", l_model_save}, {"info", l_model_info}, {"free", tsl_obj_free},
                                     {NULL, NULL}};
  luaL_newlib(L, model_f);
  lua_setfield(L, -2, "model");
}
