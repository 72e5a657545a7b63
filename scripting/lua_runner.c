/* lua_runner.c — `tsasr run RECIPE.lua key=value ...` (headless recipes with progress and a
 * traceback on error) and `tsasr lua` (an interactive prompt with readline history and tab
 * completion of the tsasr API). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/cli.h"
#include "scripting/tslua.h"

#ifdef TS_HAVE_UI
#include <readline/history.h>
#include <readline/readline.h>
#endif

static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Runs the function on top of the stack with nargs arguments under the traceback handler. */
static int pcall_tb(lua_State *L, int nargs, int nres) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, msgh);
  lua_insert(L, base);
  int rc = lua_pcall(L, nargs, nres, base);
  lua_remove(L, base);
  return rc;
}

/* A fresh state with the standard libraries, require "tsasr" available and the recipe
 * search path: the recipe's folder, then recipes/lib (source tree or $TSASR_RECIPES). */
static lua_State *new_state(const char *recipe) {
  lua_State *L = luaL_newstate();
  if (!L) return NULL;
  luaL_openlibs(L);
  tsl_preload(L);
  lua_getglobal(L, "package");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (recipe) {
    const char *slash = strrchr(recipe, '/');
    if (slash) {
      luaL_addlstring(&b, recipe, (size_t)(slash - recipe));
      luaL_addstring(&b, "/?.lua;");
    } else {
      luaL_addstring(&b, "./?.lua;");
    }
  }
  const char *env = getenv("TSASR_RECIPES");
  if (env && *env) {
    luaL_addstring(&b, env);
    luaL_addstring(&b, "/lib/?.lua;");
  }
  luaL_addstring(&b, TSASR_SOURCE_DIR "/recipes/lib/?.lua;");
  lua_getfield(L, -2, "path");
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  return L;
}

/* "3" -> integer, "1e-6" -> float, "true"/"false" -> boolean, anything else a string. */
static void push_value(lua_State *L, const char *v) {
  if (!strcmp(v, "true"))
    lua_pushboolean(L, 1);
  else if (!strcmp(v, "false"))
    lua_pushboolean(L, 0);
  else if (!*v || !lua_stringtonumber(L, v))
    lua_pushstring(L, v);
}

static void run_usage(FILE *f) {
  fprintf(f,
          "usage: tsasr run [--dry-run] RECIPE.lua [key=value ...]\n\n"
          "Runs a Lua recipe. key=value pairs reach it as the global table `args` (numbers,\n"
          "true/false and strings); --dry-run (or dry_run=true) prints the resolved configuration\n"
          "and exits without touching data. Recipes: recipes/paper/*.lua, recipes/small/*.lua.\n");
}

int cli_run(int argc, char **argv) {
  const char *recipe = NULL;
  int dry = 0, first_kv = argc;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--dry-run") || !strcmp(argv[i], "-n")) {
      dry = 1;
    } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      run_usage(stdout);
      return 0;
    } else if (!recipe && argv[i][0] != '-' && !strchr(argv[i], '=')) {
      recipe = argv[i];
      first_kv = i + 1;
      break;
    } else {
      fprintf(stderr, "tsasr run: unexpected argument \"%s\" before the recipe\n", argv[i]);
      run_usage(stderr);
      return 2;
    }
  }
  if (!recipe) {
    run_usage(stderr);
    return 2;
  }
  if (access(recipe, R_OK)) {
    fprintf(stderr, "tsasr run: %s: %s\n", recipe, strerror(errno));
    return 2;
  }
  lua_State *L = new_state(recipe);
  if (!L) {
    fprintf(stderr, "tsasr run: cannot create a Lua state (out of memory)\n");
    return 1;
  }
  lua_newtable(L); /* args */
  for (int i = first_kv; i < argc; i++) {
    const char *eq = strchr(argv[i], '=');
    if (!strcmp(argv[i], "--dry-run")) {
      dry = 1;
      continue;
    }
    if (!eq || eq == argv[i]) {
      fprintf(stderr, "tsasr run: argument \"%s\" is not key=value\n", argv[i]);
      lua_close(L);
      return 2;
    }
    lua_pushlstring(L, argv[i], (size_t)(eq - argv[i]));
    push_value(L, eq + 1);
    lua_settable(L, -3);
  }
  if (dry) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "dry_run");
  }
  lua_setglobal(L, "args");
  lua_createtable(L, argc - first_kv, 1); /* arg, as the lua interpreter sets it */
  lua_pushstring(L, recipe);
  lua_rawseti(L, -2, 0);
  for (int i = first_kv; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - first_kv + 1);
  }
  lua_setglobal(L, "arg");
  int rc = luaL_loadfile(L, recipe);
  if (rc == LUA_OK) rc = pcall_tb(L, 0, 0);
  tsl_progress_end();
  if (rc != LUA_OK) {
    fprintf(stderr, "tsasr run: %s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    lua_close(L);
    return 1;
  }
  lua_close(L);
  return 0;
}

/* ---- interactive prompt ---- */

static lua_State *g_repl;

#ifdef TS_HAVE_UI
/* Completion: resolve "a.b.c" (or "a.b:c") up to the last separator, then list the keys of
 * that table (or of an object's methods) that start with the rest. */
static char **g_matches;
static int g_nmatch, g_capmatch;

static void add_match(const char *s) {
  if (g_nmatch + 2 > g_capmatch) {
    int cap = g_capmatch ? g_capmatch * 2 : 32;
    char **m = realloc(g_matches, sizeof(char *) * (size_t)cap);
    if (!m) return;
    g_matches = m, g_capmatch = cap;
  }
  g_matches[g_nmatch++] = strdup(s);
}

static void collect(lua_State *L, const char *head, size_t hl, const char *last, int depth) {
  /* table on top: its keys; then those of its metatable's __index (objects, classes) */
  if (depth > 2) return;
  int t = lua_type(L, -1);
  if (t == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      if (lua_type(L, -1) == LUA_TSTRING) {
        const char *k = lua_tostring(L, -1);
        if (!strncmp(k, last, strlen(last))) {
          char buf[512];
          snprintf(buf, sizeof buf, "%.*s%s", (int)hl, head, k);
          add_match(buf);
        }
      }
    }
  }
  if (lua_getmetatable(L, -1)) {
    if (lua_getfield(L, -1, "__index") == LUA_TTABLE) collect(L, head, hl, last, depth + 1);
    lua_pop(L, 2);
  }
}

static char *gen_match(const char *text, int state) {
  (void)text;
  static int i;
  if (!state) i = 0;
  return i < g_nmatch ? strdup(g_matches[i++]) : NULL; /* readline frees what it gets */
}

static char **complete(const char *text, int start, int end) {
  (void)start, (void)end;
  rl_attempted_completion_over = 1;
  lua_State *L = g_repl;
  for (int i = 0; i < g_nmatch; i++) free(g_matches[i]);
  g_nmatch = 0;
  const char *sep = NULL;
  for (const char *p = text; *p; p++)
    if (*p == '.' || *p == ':') sep = p;
  int top = lua_gettop(L);
  lua_pushglobaltable(L);
  if (sep) {
    const char *p = text;
    while (p < sep) {
      const char *q = p;
      while (q < sep && *q != '.' && *q != ':') q++;
      if (lua_type(L, -1) != LUA_TTABLE && lua_type(L, -1) != LUA_TUSERDATA) break;
      lua_pushlstring(L, p, (size_t)(q - p));
      if (lua_type(L, -2) == LUA_TTABLE)
        lua_rawget(L, -2);
      else
        lua_gettable(L, -2);
      lua_remove(L, -2);
      p = q + 1;
    }
  }
  const char *last = sep ? sep + 1 : text;
  collect(L, text, (size_t)(last - text), last, 0);
  lua_settop(L, top);
  if (!g_nmatch) return NULL;
  return rl_completion_matches(text, gen_match);
}
#endif

static char *read_line(const char *prompt, int tty) {
#ifdef TS_HAVE_UI
  if (tty) {
    char *l = readline(prompt);
    if (l && *l) add_history(l);
    return l;
  }
#endif
  (void)tty, (void)prompt;
  size_t cap = 0;
  char *l = NULL;
  ssize_t n = getline(&l, &cap, stdin);
  if (n < 0) {
    free(l);
    return NULL;
  }
  if (n && l[n - 1] == '\n') l[n - 1] = 0;
  return l;
}

static void print_results(lua_State *L, int base) {
  int n = lua_gettop(L) - base;
  if (n <= 0) return;
  lua_getglobal(L, "print");
  lua_insert(L, base + 1);
  if (lua_pcall(L, n, 0, 0) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

int cli_lua(int argc, char **argv) {
  lua_State *L = new_state(NULL);
  if (!L) return 1;
  g_repl = L;
  lua_getglobal(L, "require");
  lua_pushstring(L, "tsasr");
  if (pcall_tb(L, 1, 1) != LUA_OK) {
    fprintf(stderr, "tsasr lua: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  lua_setglobal(L, "ts");
  /* tsasr lua -e CODE | tsasr lua FILE [args]: run and exit */
  if (argc >= 3 && !strcmp(argv[1], "-e")) {
    int rc = luaL_loadstring(L, argv[2]);
    if (rc == LUA_OK) rc = pcall_tb(L, 0, 0);
    if (rc != LUA_OK) fprintf(stderr, "tsasr lua: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc == LUA_OK ? 0 : 1;
  }
  if (argc >= 2 && strcmp(argv[1], "-")) {
    int rc = luaL_loadfile(L, argv[1]);
    if (rc == LUA_OK) rc = pcall_tb(L, 0, 0);
    if (rc != LUA_OK) fprintf(stderr, "tsasr lua: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc == LUA_OK ? 0 : 1;
  }
  int tty = isatty(0) && isatty(1);
#ifdef TS_HAVE_UI
  char hist[4200] = "";
  if (tty) {
    rl_readline_name = "tsasr";
    rl_attempted_completion_function = complete;
    rl_completer_word_break_characters = " \t\n\"'`@$><=;|&{}()[],+-*/%^~#";
    const char *home = getenv("HOME");
    if (home) {
      snprintf(hist, sizeof hist, "%s/.tsasr_history", home);
      read_history(hist);
    }
  }
#endif
#ifdef TS_HAVE_UI
  if (tty) printf("tsasr %s, Lua 5.4 — `ts` is require \"tsasr\"; Tab completes; Ctrl-D quits\n", TSASR_VERSION);
#else
  if (tty) printf("tsasr %s, Lua 5.4 — `ts` is require \"tsasr\"; Ctrl-D quits\n", TSASR_VERSION);
#endif
  char *chunk = NULL;
  size_t chunk_n = 0;
  int status = 0;
  for (;;) {
    char *line = read_line(chunk ? ">> " : "> ", tty);
    if (!line) break;
    size_t ln = strlen(line);
    char *nc = realloc(chunk, chunk_n + ln + 2);
    if (!nc) {
      free(line);
      break;
    }
    chunk = nc;
    if (chunk_n) chunk[chunk_n++] = '\n';
    memcpy(chunk + chunk_n, line, ln + 1);
    chunk_n += ln;
    free(line);
    int base = lua_gettop(L);
    /* expression first (print its value), then statement */
    lua_pushfstring(L, "return %s;", chunk);
    int rc = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
    lua_remove(L, -2);
    if (rc != LUA_OK) {
      lua_pop(L, 1);
      rc = luaL_loadbuffer(L, chunk, chunk_n, "=stdin");
      if (rc == LUA_ERRSYNTAX) {
        const char *m = lua_tostring(L, -1);
        size_t ml = strlen(m);
        if (ml >= 5 && !strcmp(m + ml - 5, "<eof>")) { /* incomplete: read more */
          lua_pop(L, 1);
          continue;
        }
      }
    }
    if (rc == LUA_OK) rc = pcall_tb(L, 0, LUA_MULTRET);
    if (rc != LUA_OK) {
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
      lua_settop(L, base);
      status = 1;
    } else {
      print_results(L, base);
      lua_settop(L, base);
      status = 0;
    }
    free(chunk);
    chunk = NULL;
    chunk_n = 0;
  }
  free(chunk);
#ifdef TS_HAVE_UI
  if (tty && hist[0]) write_history(hist);
  for (int i = 0; i < g_nmatch; i++) free(g_matches[i]);
  free(g_matches);
  g_matches = NULL;
  g_nmatch = g_capmatch = 0;
#endif
  if (tty) printf("\n");
  lua_close(L);
  g_repl = NULL;
  return tty ? 0 : status;
}
