/* tslua.h — internals of the `tsasr` Lua module: boxed C objects with explicit lifetimes,
 * option tables that reject unknown keys, and the per-area registration functions.
 *
 * Every object is a full userdata holding a box {p, release}: obj:free() releases the C object
 * at once, __gc and __close (Lua 5.4 `<close>`) do the same as a safety net, and using a freed
 * object is a Lua error ("tsasr.model: object used after free()"), never a crash. */
#ifndef TS_TSLUA_H
#define TS_TSLUA_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>

#include "base/err.h"

typedef struct tsl_box {
  void *p;                   /* the C object, NULL once freed */
  void (*release)(void *p);  /* frees p */
  int busy;                  /* > 0 while a C call (trainer, decode) uses it: free() refuses */
} tsl_box;

/* Registers a class: a metatable named tname whose methods are `methods` plus free, __gc,
 * __close, __tostring and __name. Extra metamethods (e.g. __len) go in meta (may be NULL). */
void tsl_class(lua_State *L, const char *tname, const luaL_Reg *methods, const luaL_Reg *meta);
/* Pushes a new object of class tname owning p. On allocation failure of the userdata p is
 * released (Lua raises the memory error). */
void *tsl_push(lua_State *L, const char *tname, void *p, void (*release)(void *));
/* The live C object at idx (argument error when not of that class; error when freed). */
void *tsl_check(lua_State *L, int idx, const char *tname);
/* obj:free() as a C function (also usable as ts.X.free(obj)); freeing twice is harmless. */
int tsl_obj_free(lua_State *L);
/* Marks the object at idx (if it is one) as in use (delta +1) or no longer (-1). */
void tsl_busy(lua_State *L, int idx, int delta);
/* Raises a Lua error with the message of e (prefixed by what, when not NULL). */
int tsl_raise(lua_State *L, const ts_err *e, const char *what);

/* ---- option tables ({key = value, ...}) ---- */
/* Raises "FN: unknown option 'x' (did you mean 'y'?)" for a key not in known (NULL-ended);
 * also rejects a non-table (argument error naming FN). */
void tsl_opts_check(lua_State *L, int idx, const char *fn, const char *const *known);
/* Getters: absent (nil) gives def; a value of the wrong type raises an error naming the
 * function and the option. */
double tsl_opt_num(lua_State *L, int idx, const char *fn, const char *key, double def);
int64_t tsl_opt_int(lua_State *L, int idx, const char *fn, const char *key, int64_t def);
int tsl_opt_bool(lua_State *L, int idx, const char *fn, const char *key, int def);
/* The string stays valid while the table is alive (it is a value of it). */
const char *tsl_opt_str(lua_State *L, int idx, const char *fn, const char *key, const char *def);
/* A required string option. */
const char *tsl_opt_req_str(lua_State *L, int idx, const char *fn, const char *key);
/* The option as a function (pushed on the stack, returns 1) or absent (returns 0). */
int tsl_opt_fn(lua_State *L, int idx, const char *fn, const char *key);

/* ---- conversions ---- */
/* A Lua array of numbers -> malloc'd floats / int32 (error names the function and argument). */
float *tsl_floats(lua_State *L, int idx, const char *fn, int64_t *n);
int32_t *tsl_ints(lua_State *L, int idx, const char *fn, int64_t *n);
void tsl_push_floats(lua_State *L, const float *x, int64_t n);
/* rows x cols floats as a table of row tables */
void tsl_push_matrix(lua_State *L, const float *x, int64_t rows, int64_t cols);
/* A Lua table as a cJSON object / value (numbers, booleans, strings, arrays, tables);
 * raises on functions or cycles. The caller deletes the result. */
struct cJSON *tsl_to_json(lua_State *L, int idx);
/* Pushes a cJSON value as a Lua value. */
void tsl_push_json(lua_State *L, const struct cJSON *j);

/* ---- areas (each adds its functions to the module table at the top of the stack) ---- */
void tsl_open_text(lua_State *L);   /* tokenizer, wer, normalize, cot */
void tsl_open_audio(lua_State *L);  /* audio.read/write/fbank */
void tsl_open_model(lua_State *L);  /* llm, encoder, model */
void tsl_open_data(lua_State *L);   /* corpus, synth, mixer, dataset, manifest */
void tsl_open_train(lua_State *L);  /* train.sft, train.grpo, decode, eval, select */
void tsl_open_speaker(lua_State *L); /* speaker similarity (built-in encoder or imported) */

/* The module loader (package.preload["tsasr"]). */
int luaopen_tsasr(lua_State *L);
/* Registers the module in package.preload and sets the runtime hooks. */
void tsl_preload(lua_State *L);

/* ---- progress (runner): bars with ETA on a terminal, plain lines otherwise ---- */
/* Reports progress of task `what`: done of total (total <= 0: unknown), a short metrics
 * string (may be NULL). Rate-limited on a terminal; every `every`-th call in plain mode. */
void tsl_progress(const char *what, int64_t done, int64_t total, const char *metrics);
void tsl_progress_end(void);

#endif
