/* lua_decode.c — ts.decode{...}: decoding a manifest into a decode JSONL (bound once the
 * decode runner is merged; until then ts.decode raises a clear error). */
#include "scripting/tslua_train.h"

static int l_decode_missing(lua_State *L) {
  return luaL_error(L, "ts.decode: the decode runner (src/infer/decode.c) is not in this build yet");
}

void tsl_open_decode(lua_State *L) {
  lua_pushcfunction(L, l_decode_missing);
  lua_setfield(L, -2, "decode");
}
