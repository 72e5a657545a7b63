/* tslua_train.h — plumbing shared by the trainer and runner bindings (lua_train.c, lua_rl.c):
 * trainer objects that keep their options table, model/manifest/freeze options, and Lua
 * callbacks called from C under pcall (an error stops the C loop and is re-raised after). */
#ifndef TS_TSLUA_TRAIN_H
#define TS_TSLUA_TRAIN_H

#include "data/sample.h"
#include "scripting/tslua.h"

typedef struct tsl_cb {
  lua_State *L;
  int ref;         /* registry reference of the callback, or LUA_NOREF */
  int progress;    /* show progress */
  int err;         /* the callback raised an error */
  char msg[1024];
} tsl_cb;

/* Trainer object of class tname from the options table at index 1 (checked against known). */
void tsl_trainer_new(lua_State *L, const char *tname, const char *fn, const char *const *known);
/* In a method: replaces the object at index 1 by its options table. */
void tsl_trainer_opts(lua_State *L, const char *tname);
/* A ts.model option (NULL when absent and not required). */
void *tsl_opt_model(lua_State *L, int idx, const char *fn, const char *key, int required);
/* A manifest path, or a dataset written to dir/fallback_name. */
const char *tsl_opt_manifest(lua_State *L, int idx, const char *fn, const char *key, const char *dir,
                             const char *fallback_name);
/* Marks the object in option `key` of the table at idx busy (+1) or free again (-1). */
void tsl_mark(lua_State *L, int idx, const char *key, int delta);
void tsl_opt_freeze(lua_State *L, int idx, const char *fn, const char **freeze, int max);
void tsl_opt_sample(lua_State *L, int idx, const char *fn, sample_opts *so);
/* The callback option `key` (and "progress") of the table at idx. */
void tsl_cb_init(tsl_cb *cb, lua_State *L, int idx, const char *fn, const char *key);
/* Calls the callback with the table push_info makes; non-zero = stop (it returned true or
 * "stop", or raised an error: cb->err). */
int tsl_callback(tsl_cb *cb, void (*push_info)(lua_State *, const void *), const void *info);
void tsl_cb_done(tsl_cb *cb);

/* lua_rl.c: grpo into the table on top (ts.train), decode/eval/select into the table below. */
void tsl_open_rl(lua_State *L);

#endif
