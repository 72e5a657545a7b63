/* lua_util.c — the Lua module's plumbing: boxed objects with explicit lifetimes, option
 * tables with unknown-key detection, array and JSON conversions, and progress display. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scripting/tslua.h"

/* ---- objects ---- */

static tsl_box *box_at(lua_State *L, int idx) {
  tsl_box *b = lua_touserdata(L, idx);
  if (!b || !lua_getmetatable(L, idx)) return NULL;
  lua_getfield(L, -1, "__tsasr");
  int ours = lua_toboolean(L, -1);
  lua_pop(L, 2);
  return ours ? b : NULL;
}

int tsl_obj_free(lua_State *L) {
  tsl_box *b = box_at(L, 1);
  if (!b) return luaL_argerror(L, 1, "tsasr object expected");
  if (b->p && b->busy > 0) {
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "__name");
    return luaL_error(L, "%s: cannot free an object that a running call (trainer, decode) is using",
                      lua_tostring(L, -1));
  }
  if (b->p && b->release) b->release(b->p);
  b->p = NULL;
  return 0;
}

static int obj_tostring(lua_State *L) {
  tsl_box *b = box_at(L, 1);
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "__name");
  const char *name = lua_tostring(L, -1);
  if (b && b->p)
    lua_pushfstring(L, "%s: %p", name ? name : "tsasr object", b->p);
  else
    lua_pushfstring(L, "%s (freed)", name ? name : "tsasr object");
  return 1;
}

void tsl_class(lua_State *L, const char *tname, const luaL_Reg *methods, const luaL_Reg *meta) {
  if (!luaL_newmetatable(L, tname)) {
    lua_pop(L, 1);
    return;
  }
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "__tsasr");
  lua_newtable(L); /* methods */
  if (methods) luaL_setfuncs(L, methods, 0);
  lua_pushcfunction(L, tsl_obj_free);
  lua_setfield(L, -2, "free");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, tsl_obj_free);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, tsl_obj_free);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, obj_tostring);
  lua_setfield(L, -2, "__tostring");
  if (meta) luaL_setfuncs(L, meta, 0);
  lua_pop(L, 1);
}

void *tsl_push(lua_State *L, const char *tname, void *p, void (*release)(void *)) {
  /* (if the userdata allocation itself fails Lua raises a memory error and p leaks: a
   * box of 16 bytes failing means the process is out of memory anyway) */
  tsl_box *b = lua_newuserdatauv(L, sizeof *b, 1);
  b->p = p;
  b->release = release;
  b->busy = 0;
  luaL_setmetatable(L, tname);
  return p;
}

void *tsl_check(lua_State *L, int idx, const char *tname) {
  tsl_box *b = luaL_testudata(L, idx, tname);
  if (!b) luaL_typeerror(L, idx, tname);
  if (!b->p) luaL_error(L, "%s: object used after free()", tname);
  return b->p;
}

void tsl_busy(lua_State *L, int idx, int delta) {
  tsl_box *b = box_at(L, idx);
  if (b) b->busy += delta;
}

int tsl_raise(lua_State *L, const ts_err *e, const char *what) {
  const char *msg = e && e->msg[0] ? e->msg : "unknown error";
  if (what) return luaL_error(L, "%s: %s", what, msg);
  return luaL_error(L, "%s", msg);
}

/* ---- options ---- */

static int edit_distance(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  if (na > 63 || nb > 63) return 99;
  int d[64][64];
  for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= na; i++)
    for (size_t j = 1; j <= nb; j++) {
      int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c)
        c = d[i - 2][j - 2] + 1;
      d[i][j] = c;
    }
  return d[na][nb];
}

void tsl_opts_check(lua_State *L, int idx, const char *fn, const char *const *known) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE)
    luaL_error(L, "%s: expects a table of options ({key = value, ...}), got %s", fn, luaL_typename(L, idx));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      luaL_error(L, "%s: options are named (key = value); got a positional value", fn);
    }
    const char *k = lua_tostring(L, -1);
    int ok = 0, best = 99;
    const char *sug = NULL;
    for (int i = 0; known[i]; i++) {
      if (!strcmp(known[i], k)) {
        ok = 1;
        break;
      }
      int d = edit_distance(k, known[i]);
      if (d < best) best = d, sug = known[i];
    }
    if (!ok) {
      size_t kl = strlen(k);
      if (sug && best <= (kl > 6 ? 3 : 2))
        luaL_error(L, "%s: unknown option '%s' (did you mean '%s'?)", fn, k, sug);
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (int i = 0; known[i]; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, known[i]);
      }
      luaL_pushresult(&b);
      luaL_error(L, "%s: unknown option '%s' (options: %s)", fn, k, lua_tostring(L, -1));
    }
  }
}

static int opt_get(lua_State *L, int idx, const char *key) {
  return lua_getfield(L, idx, key);
}

static void opt_type_error(lua_State *L, const char *fn, const char *key, const char *want) {
  luaL_error(L, "%s: option '%s' must be %s, got %s", fn, key, want, luaL_typename(L, -1));
}

double tsl_opt_num(lua_State *L, int idx, const char *fn, const char *key, double def) {
  int t = opt_get(L, idx, key);
  double v = def;
  if (t == LUA_TNUMBER)
    v = lua_tonumber(L, -1);
  else if (t != LUA_TNIL)
    opt_type_error(L, fn, key, "a number");
  lua_pop(L, 1);
  return v;
}

int64_t tsl_opt_int(lua_State *L, int idx, const char *fn, const char *key, int64_t def) {
  int t = opt_get(L, idx, key);
  int64_t v = def;
  if (t == LUA_TNUMBER) {
    int isint;
    lua_Integer i = lua_tointegerx(L, -1, &isint);
    if (!isint) {
      double d = lua_tonumber(L, -1);
      lua_pop(L, 1);
      luaL_error(L, "%s: option '%s' must be an integer, got %f", fn, key, d);
    }
    v = i;
  } else if (t != LUA_TNIL)
    opt_type_error(L, fn, key, "an integer");
  lua_pop(L, 1);
  return v;
}

int tsl_opt_bool(lua_State *L, int idx, const char *fn, const char *key, int def) {
  int t = opt_get(L, idx, key);
  int v = def;
  if (t == LUA_TBOOLEAN)
    v = lua_toboolean(L, -1);
  else if (t != LUA_TNIL)
    opt_type_error(L, fn, key, "a boolean");
  lua_pop(L, 1);
  return v;
}

const char *tsl_opt_str(lua_State *L, int idx, const char *fn, const char *key, const char *def) {
  int t = opt_get(L, idx, key);
  const char *v = def;
  if (t == LUA_TSTRING)
    v = lua_tostring(L, -1);
  else if (t != LUA_TNIL)
    opt_type_error(L, fn, key, "a string");
  lua_pop(L, 1); /* the string stays referenced by the table */
  return v;
}

const char *tsl_opt_req_str(lua_State *L, int idx, const char *fn, const char *key) {
  const char *v = tsl_opt_str(L, idx, fn, key, NULL);
  if (!v) luaL_error(L, "%s: option '%s' is required (a string)", fn, key);
  return v;
}

int tsl_opt_fn(lua_State *L, int idx, const char *fn, const char *key) {
  int t = opt_get(L, idx, key);
  if (t == LUA_TFUNCTION) return 1;
  if (t != LUA_TNIL) opt_type_error(L, fn, key, "a function");
  lua_pop(L, 1);
  return 0;
}

/* ---- arrays ---- */

float *tsl_floats(lua_State *L, int idx, const char *fn, int64_t *n) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  int64_t k = (int64_t)luaL_len(L, idx);
  float *x = malloc(sizeof(float) * (size_t)(k ? k : 1));
  if (!x) {
    luaL_error(L, "%s: out of memory for %d floats", fn, (int)k);
    return NULL;
  }
  for (int64_t i = 0; i < k; i++) {
    lua_rawgeti(L, idx, i + 1);
    int ok;
    double v = lua_tonumberx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok) {
      free(x);
      luaL_error(L, "%s: argument #%d: element %d is not a number", fn, idx, (int)(i + 1));
      return NULL;
    }
    x[i] = (float)v;
  }
  *n = k;
  return x;
}

int32_t *tsl_ints(lua_State *L, int idx, const char *fn, int64_t *n) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  int64_t k = (int64_t)luaL_len(L, idx);
  int32_t *x = malloc(sizeof(int32_t) * (size_t)(k ? k : 1));
  if (!x) {
    luaL_error(L, "%s: out of memory", fn);
    return NULL;
  }
  for (int64_t i = 0; i < k; i++) {
    lua_rawgeti(L, idx, i + 1);
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok || v < INT32_MIN || v > INT32_MAX) {
      free(x);
      luaL_error(L, "%s: argument #%d: element %d is not an integer id", fn, idx, (int)(i + 1));
      return NULL;
    }
    x[i] = (int32_t)v;
  }
  *n = k;
  return x;
}

void tsl_push_floats(lua_State *L, const float *x, int64_t n) {
  lua_createtable(L, (int)n, 0);
  for (int64_t i = 0; i < n; i++) {
    lua_pushnumber(L, x[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

void tsl_push_matrix(lua_State *L, const float *x, int64_t rows, int64_t cols) {
  lua_createtable(L, (int)rows, 0);
  for (int64_t r = 0; r < rows; r++) {
    tsl_push_floats(L, x + r * cols, cols);
    lua_rawseti(L, -2, r + 1);
  }
}

/* ---- JSON ---- */

static cJSON *to_json(lua_State *L, int idx, int depth) {
  idx = lua_absindex(L, idx);
  if (depth > 64) luaL_error(L, "table nested too deeply (a cycle?) for JSON");
  switch (lua_type(L, idx)) {
  case LUA_TNIL: return cJSON_CreateNull();
  case LUA_TBOOLEAN: return cJSON_CreateBool(lua_toboolean(L, idx));
  case LUA_TNUMBER: return cJSON_CreateNumber(lua_tonumber(L, idx));
  case LUA_TSTRING: return cJSON_CreateString(lua_tostring(L, idx));
  case LUA_TTABLE: {
    lua_Integer n = luaL_len(L, idx);
    int is_array = n > 0;
    if (n == 0) { /* empty or a map */
      lua_pushnil(L);
      if (!lua_next(L, idx)) return cJSON_CreateArray();
      lua_pop(L, 2);
    }
    if (is_array) {
      cJSON *a = cJSON_CreateArray();
      for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        cJSON_AddItemToArray(a, to_json(L, -1, depth + 1));
        lua_pop(L, 1);
      }
      return a;
    }
    cJSON *o = cJSON_CreateObject();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      if (lua_type(L, -1) == LUA_TFUNCTION || lua_type(L, -1) == LUA_TUSERDATA) {
        lua_pop(L, 1);
        continue; /* callbacks and objects are not configuration */
      }
      lua_pushvalue(L, -2);
      const char *k = lua_tostring(L, -1);
      cJSON_AddItemToObject(o, k ? k : "?", to_json(L, -2, depth + 1));
      lua_pop(L, 2);
    }
    return o;
  }
  default: return cJSON_CreateString(luaL_typename(L, idx));
  }
}

cJSON *tsl_to_json(lua_State *L, int idx) { return to_json(L, idx, 0); }

void tsl_push_json(lua_State *L, const cJSON *j) {
  if (!j || cJSON_IsNull(j)) {
    lua_pushnil(L);
  } else if (cJSON_IsBool(j)) {
    lua_pushboolean(L, cJSON_IsTrue(j));
  } else if (cJSON_IsNumber(j)) {
    double v = j->valuedouble;
    if (v == floor(v) && fabs(v) < 9e15)
      lua_pushinteger(L, (lua_Integer)v);
    else
      lua_pushnumber(L, v);
  } else if (cJSON_IsString(j)) {
    lua_pushstring(L, j->valuestring);
  } else if (cJSON_IsArray(j)) {
    lua_createtable(L, cJSON_GetArraySize(j), 0);
    int i = 1;
    for (const cJSON *c = j->child; c; c = c->next) {
      tsl_push_json(L, c);
      lua_rawseti(L, -2, i++);
    }
  } else {
    lua_newtable(L);
    for (const cJSON *c = j->child; c; c = c->next) {
      tsl_push_json(L, c);
      lua_setfield(L, -2, c->string);
    }
  }
}

/* ---- progress ---- */

static struct {
  char what[64];
  double t0, last;
  int active, tty, tty_known;
  int64_t calls;
} g_prog;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_dur(double s, char *buf, size_t n) {
  if (!(s >= 0) || s > 1e8) {
    snprintf(buf, n, "--:--");
    return;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

void tsl_progress(const char *what, int64_t done, int64_t total, const char *metrics) {
  if (!g_prog.tty_known) {
    const char *force = getenv("TSASR_PROGRESS");
    g_prog.tty = force ? !strcmp(force, "bar") : isatty(2);
    g_prog.tty_known = 1;
  }
  double t = now_s();
  if (!g_prog.active || strcmp(g_prog.what, what)) {
    if (g_prog.active && g_prog.tty) fputc('\n', stderr);
    snprintf(g_prog.what, sizeof g_prog.what, "%s", what);
    g_prog.t0 = t;
    g_prog.last = 0;
    g_prog.active = 1;
    g_prog.calls = 0;
  }
  g_prog.calls++;
  int final = total > 0 && done >= total;
  double el = t - g_prog.t0;
  double eta = done > 0 && total > 0 ? el / (double)done * (double)(total - done) : -1;
  char se[32], sa[32];
  fmt_dur(el, se, sizeof se);
  fmt_dur(eta, sa, sizeof sa);
  if (g_prog.tty) {
    if (!final && t - g_prog.last < 0.1) return;
    g_prog.last = t;
    char bar[32];
    int w = 24, fill = total > 0 ? (int)((double)w * (double)done / (double)total) : 0;
    if (fill > w) fill = w;
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
    bar[w] = 0;
    if (total > 0)
      fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %s<%s %s", what, bar, (long long)done, (long long)total, se, sa,
              metrics ? metrics : "");
    else
      fprintf(stderr, "\r\033[K%s %lld %s %s", what, (long long)done, se, metrics ? metrics : "");
    if (final) {
      fputc('\n', stderr);
      g_prog.active = 0;
    }
  } else {
    if (!final && t - g_prog.last < 5.0 && g_prog.calls > 1 && done % 10) return;
    g_prog.last = t;
    if (total > 0)
      fprintf(stderr, "%s %lld/%lld elapsed %s eta %s %s\n", what, (long long)done, (long long)total, se, sa,
              metrics ? metrics : "");
    else
      fprintf(stderr, "%s %lld elapsed %s %s\n", what, (long long)done, se, metrics ? metrics : "");
    if (final) g_prog.active = 0;
  }
  fflush(stderr);
}

void tsl_progress_end(void) {
  if (g_prog.active && g_prog.tty) fputc('\n', stderr);
  g_prog.active = 0;
}
