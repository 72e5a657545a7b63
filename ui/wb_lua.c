/* wb_lua.c — the workbench's `lua EXPR` command: one Lua state per session with the tsasr
 * module loaded as the global `ts`; an expression's values (or a statement's print output)
 * are shown in the message line, errors as messages. */
#include <stdio.h>
#include <string.h>

#include "ui/wb_state.h"
#ifdef TS_HAVE_LUA
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "scripting/tslua.h"

/* print() collects into the registry buffer instead of writing to the terminal */
static int wbl_print(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_getfield(L, LUA_REGISTRYINDEX, "wb_out");
  luaL_addvalue(&b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, ' ');
  luaL_pushresult(&b);
  lua_setfield(L, LUA_REGISTRYINDEX, "wb_out");
  return 0;
}

static lua_State *wbl_state(wb *w) {
  if (w->lua) return w->lua;
  lua_State *L = luaL_newstate();
  if (!L) return NULL;
  luaL_openlibs(L);
  tsl_preload(L);
  lua_pushcfunction(L, wbl_print);
  lua_setglobal(L, "print");
  if (luaL_dostring(L, "ts = require 'tsasr'")) {
    wb_msg(w, 1, "lua: %s", lua_tostring(L, -1));
    lua_close(L);
    return NULL;
  }
  w->lua = L;
  return L;
}

void wb_lua_eval(wb *w, const char *code) {
  lua_State *L = wbl_state(w);
  if (!L) return;
  lua_pushliteral(L, "");
  lua_setfield(L, LUA_REGISTRYINDEX, "wb_out");
  int top = lua_gettop(L);
  char ret[2100];
  snprintf(ret, sizeof ret, "return %s", code);
  /* an expression first (as the REPL does), else a statement */
  if (luaL_loadstring(L, ret) != LUA_OK) {
    lua_pop(L, 1);
    if (luaL_loadstring(L, code) != LUA_OK) {
      wb_msg(w, 1, "lua: %s", lua_tostring(L, -1));
      lua_settop(L, top);
      return;
    }
  }
  if (lua_pcall(L, 0, LUA_MULTRET, 0) != LUA_OK) {
    wb_msg(w, 1, "lua: %s", luaL_tolstring(L, -1, NULL)); /* error objects need not be strings */
    lua_settop(L, top);
    return;
  }
  int n = lua_gettop(L) - top;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_getfield(L, LUA_REGISTRYINDEX, "wb_out");
  luaL_addvalue(&b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addstring(&b, ", ");
    luaL_tolstring(L, top + i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  const char *s = lua_tostring(L, -1);
  wb_msg(w, 0, "= %s", s && *s ? s : "(no value)");
  lua_settop(L, top);
}

void wb_lua_close(void *L) {
  if (L) lua_close((lua_State *)L);
}
#else
void wb_lua_eval(wb *w, const char *code) {
  (void)code;
  wb_msg(w, 1, "lua: this build has no Lua (configure with -DTSASR_LUA=ON)");
}

void wb_lua_close(void *L) { (void)L; }
#endif
