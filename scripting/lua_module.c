/* lua_module.c — the `tsasr` Lua module table: registers every area, plus small helpers
 * recipes need (JSON, files, progress, threads, log level, version). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "scripting/tslua.h"
#include "tensor/backend.h"

static int l_json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  int pretty = lua_toboolean(L, 2);
  cJSON *j = tsl_to_json(L, 1);
  char *s = pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (!s) return luaL_error(L, "ts.json.encode: out of memory");
  lua_pushstring(L, s);
  free(s);
  return 1;
}

static int l_json_decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  cJSON *j;
  ts_err e;
  if (jsonx_parse(s, n, "ts.json.decode", &j, &e)) return tsl_raise(L, &e, NULL);
  tsl_push_json(L, j);
  cJSON_Delete(j);
  return 1;
}

static int l_json_read(lua_State *L) {
  cJSON *j;
  ts_err e;
  if (jsonx_load(luaL_checkstring(L, 1), &j, &e)) return tsl_raise(L, &e, "ts.json.read");
  tsl_push_json(L, j);
  cJSON_Delete(j);
  return 1;
}

static int l_json_write(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checkany(L, 2);
  cJSON *j = tsl_to_json(L, 2);
  ts_err e;
  int rc = jsonx_save(path, j, &e);
  cJSON_Delete(j);
  if (rc) return tsl_raise(L, &e, "ts.json.write");
  return 0;
}

static int l_exists(lua_State *L) {
  struct stat st;
  lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0);
  return 1;
}

/* ts.mtime(path) -> modification time in seconds (with the nanoseconds), or nil when missing */
static int l_mtime(lua_State *L) {
  struct stat st;
  if (stat(luaL_checkstring(L, 1), &st) != 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + (lua_Number)st.st_mtim.tv_nsec * 1e-9);
  return 1;
}

static int l_mkdirs(lua_State *L) {
  ts_err e;
  if (afile_mkdirs(luaL_checkstring(L, 1), &e)) return tsl_raise(L, &e, "ts.mkdirs");
  return 0;
}

static int l_threads(lua_State *L) {
  int n = (int)luaL_checkinteger(L, 1);
  if (n < 1) return luaL_argerror(L, 1, "thread count must be >= 1");
  be_cpu_set_threads(n);
  return 0;
}

static int l_log_level(lua_State *L) {
  static const char *const names[] = {"debug", "info", "warn", "error", "quiet", NULL};
  log_set_level((log_level)luaL_checkoption(L, 1, NULL, names));
  return 0;
}

static int l_progress(lua_State *L) {
  const char *what = luaL_checkstring(L, 1);
  lua_Integer done = luaL_checkinteger(L, 2);
  lua_Integer total = luaL_optinteger(L, 3, 0);
  const char *metrics = luaL_optstring(L, 4, NULL);
  tsl_progress(what, done, total, metrics);
  return 0;
}

static int l_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
  return 1;
}

static int l_has(lua_State *L) {
  const char *what = luaL_checkstring(L, 1);
  int v = 0;
#ifdef TS_HAVE_AUDIO
  if (!strcmp(what, "audio")) v = 1;
#endif
#ifdef TS_HAVE_CUDA
  if (!strcmp(what, "cuda")) v = 1;
#endif
#ifdef TS_HAVE_UI
  if (!strcmp(what, "ui")) v = 1;
#endif
  if (!strcmp(what, "lua")) v = 1;
  lua_pushboolean(L, v);
  return 1;
}

int luaopen_tsasr(lua_State *L) {
  static const luaL_Reg f[] = {{"exists", l_exists},     {"mtime", l_mtime},       {"mkdirs", l_mkdirs},     {"threads", l_threads},
                               {"log_level", l_log_level}, {"progress", l_progress}, {"clock", l_clock},
                               {"has", l_has},           {NULL, NULL}};
  luaL_newlib(L, f);
  lua_pushstring(L, TSASR_VERSION);
  lua_setfield(L, -2, "version");
  static const luaL_Reg jf[] = {{"encode", l_json_encode}, {"decode", l_json_decode}, {"read", l_json_read},
                                {"write", l_json_write},   {NULL, NULL}};
  luaL_newlib(L, jf);
  lua_setfield(L, -2, "json");
  tsl_open_text(L);
  tsl_open_audio(L);
  tsl_open_model(L);
  tsl_open_data(L);
  tsl_open_train(L);
  tsl_open_speaker(L);
  return 1;
}

void tsl_preload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_tsasr);
  lua_setfield(L, -2, "tsasr");
  lua_pop(L, 1);
}
