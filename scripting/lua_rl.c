/* lua_rl.c — GRPO, decode, eval and select bindings (bound once their C implementations are
 * merged; see git log). */
#include "scripting/tslua_train.h"

void tsl_open_rl(lua_State *L) { (void)L; }
