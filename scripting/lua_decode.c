/* lua_decode.c — ts.decode{...}: decoding a manifest (or a dataset) with a model into a decode
 * JSONL (DESIGN §9), with progress display and a callback; returns the summary. */
#include <limits.h>
#include <string.h>

#include "infer/decode.h"
#include "scripting/tslua_train.h"

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

typedef struct dec_progress {
  int64_t done, total;
  double wer;
} dec_progress;

static void push_dec_info(lua_State *L, const void *p) {
  const dec_progress *d = p;
  lua_createtable(L, 0, 3);
  SETI("done", d->done);
  SETI("total", d->total);
  SETN("wer", d->wer);
}

static int dec_on_progress(void *user, int64_t done, int64_t total, double wer) {
  tsl_cb *cb = user;
  if (cb->progress) {
    char m[64];
    snprintf(m, sizeof m, "WER %.2f%%", 100.0 * wer);
    tsl_progress("decode", done, total, m);
  }
  dec_progress d = {done, total, wer};
  return tsl_callback(cb, push_dec_info, &d);
}

/* ts.decode{model=, data=, out=, batch=, max_new=, temperature=, top_p=, top_k=, seed=, limit=,
 *           resume=, threads=, silence=, enroll_max=, prefix=, on_progress=, progress=} -> summary */
static int l_decode(lua_State *L) {
  const char *fn = "ts.decode";
  static const char *const known[] = {"model", "data",  "out",     "batch",   "max_new",    "temperature",
                                      "top_p", "top_k", "seed",    "limit",   "resume",     "threads",
                                      "silence", "enroll_max", "prefix", "on_progress", "progress", NULL};
  tsl_opts_check(L, 1, fn, known);
  tsm *m = tsl_opt_model(L, 1, fn, "model", 1);
  decode_cfg c;
  decode_cfg_default(&c);
  c.out = tsl_opt_req_str(L, 1, fn, "out");
  /* a dataset is written beside the output */
  lua_pushfstring(L, "%s.d", c.out);
  c.manifest = tsl_opt_manifest(L, 1, fn, "data", lua_tostring(L, -1), "manifest.jsonl");
  lua_pop(L, 1);
  c.batch = (int)tsl_opt_int(L, 1, fn, "batch", c.batch);
  c.gen.max_new = (int)tsl_opt_int(L, 1, fn, "max_new", c.gen.max_new);
  c.gen.samp.temperature = (float)tsl_opt_num(L, 1, fn, "temperature", c.gen.samp.temperature);
  c.gen.samp.top_p = (float)tsl_opt_num(L, 1, fn, "top_p", c.gen.samp.top_p);
  int64_t top_k = tsl_opt_int(L, 1, fn, "top_k", c.gen.samp.top_k);
  if (top_k < 0 || top_k > INT_MAX) return luaL_error(L, "%s: top_k %I is outside 0..%d", fn, (lua_Integer)top_k, INT_MAX);
  c.gen.samp.top_k = (int)top_k;
  c.gen.seed = (uint64_t)tsl_opt_int(L, 1, fn, "seed", (int64_t)c.gen.seed);
  c.limit = tsl_opt_int(L, 1, fn, "limit", c.limit);
  c.resume = tsl_opt_bool(L, 1, fn, "resume", c.resume);
  c.threads = (int)tsl_opt_int(L, 1, fn, "threads", c.threads);
  c.prefix = tsl_opt_str(L, 1, fn, "prefix", NULL); /* a forced response prefix (decode.h) */
  tsl_opt_sample(L, 1, fn, &c.sample);
  if (c.batch < 1 || c.gen.max_new < 1 || c.limit < 0)
    return luaL_error(L, "%s: batch and max_new must be >= 1, limit >= 0", fn);
  tsl_cb cb;
  tsl_cb_init(&cb, L, 1, fn, "on_progress");
  c.on_progress = dec_on_progress;
  c.user = &cb;
  decode_summary s;
  memset(&s, 0, sizeof s);
  ts_err e;
  tsl_mark(L, 1, "model", 1);
  int rc = decode_run(m, &c, &s, &e);
  tsl_mark(L, 1, "model", -1);
  tsl_cb_done(&cb);
  if (cb.err) return luaL_error(L, "%s: on_progress: %s", fn, cb.msg);
  if (rc) return tsl_raise(L, &e, fn);
  lua_createtable(L, 0, 12);
  SETI("n", s.n);
  SETN("wer", s.wer);
  SETI("format_errors", s.format_errors);
  SETI("repetition", s.repetition);
  SETI("sub", s.sub);
  SETI("del", s.del);
  SETI("ins", s.ins);
  SETI("words", s.words);
  SETN("secs", s.secs);
  SETN("tokens_per_s", s.tokens_per_s);
  lua_pushstring(L, c.out);
  lua_setfield(L, -2, "out");
  return 1;
}

void tsl_open_decode(lua_State *L) {
  lua_pushcfunction(L, l_decode);
  lua_setfield(L, -2, "decode");
}
