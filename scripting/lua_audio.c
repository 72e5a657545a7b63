/* lua_audio.c — ts.audio: read/write mono audio files and Kaldi-compatible fbank features.
 * Waves cross into Lua as tables of floats (small clips: tests, inspection); datasets and
 * trainers keep their audio in C. Without TS_HAVE_AUDIO the functions raise a clear error. */
#include <stdlib.h>

#include "scripting/tslua.h"
#ifdef TS_HAVE_AUDIO
#include "audio/audio_io.h"
#include "audio/fbank.h"
#endif

#ifdef TS_HAVE_AUDIO
static int l_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int rate = (int)luaL_optinteger(L, 2, 0);
  audio_buf b;
  ts_err e;
  if (audio_read(path, rate, &b, &e)) return tsl_raise(L, &e, "ts.audio.read");
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, b.rate);
  lua_setfield(L, -2, "rate");
  lua_pushnumber(L, (double)b.n / b.rate);
  lua_setfield(L, -2, "duration");
  tsl_push_floats(L, b.samples, b.n);
  lua_setfield(L, -2, "samples");
  audio_free(&b);
  return 1;
}

/* samples: a wave table {rate=, samples=} or a plain table of floats */
static float *wave_arg(lua_State *L, int idx, const char *fn, int64_t *n, int *rate) {
  luaL_checktype(L, idx, LUA_TTABLE);
  *rate = 16000;
  if (lua_getfield(L, idx, "samples") == LUA_TTABLE) {
    if (lua_getfield(L, idx, "rate") == LUA_TNUMBER) *rate = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    float *x = tsl_floats(L, -1, fn, n);
    lua_pop(L, 1);
    return x;
  }
  lua_pop(L, 1);
  return tsl_floats(L, idx, fn, n);
}

static int l_write(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int64_t n;
  int rate;
  /* argument #3 is checked before the samples are copied: a Lua error after that leaks them */
  if (!lua_isnoneornil(L, 3)) luaL_checkinteger(L, 3);
  float *x = wave_arg(L, 2, "ts.audio.write", &n, &rate);
  rate = (int)luaL_optinteger(L, 3, rate);
  ts_err e;
  int rc = audio_write(path, x, n, rate, &e);
  free(x);
  if (rc) return tsl_raise(L, &e, "ts.audio.write");
  return 0;
}

static int l_fbank(lua_State *L) {
  const char *fn = "ts.audio.fbank";
  int64_t n;
  int rate;
  fbank_cfg c = fbank_cfg_default();
  /* the options are read before the samples are copied: a Lua error after that leaks them */
  if (!lua_isnoneornil(L, 2)) {
    static const char *const known[] = {"bins", "frame_length_ms", "frame_shift_ms", "input_scale",
                                        "subtract_mean", NULL};
    tsl_opts_check(L, 2, fn, known);
    c.num_mel_bins = (int)tsl_opt_int(L, 2, fn, "bins", c.num_mel_bins);
    c.frame_length_ms = tsl_opt_num(L, 2, fn, "frame_length_ms", c.frame_length_ms);
    c.frame_shift_ms = tsl_opt_num(L, 2, fn, "frame_shift_ms", c.frame_shift_ms);
    c.input_scale = (float)tsl_opt_num(L, 2, fn, "input_scale", c.input_scale);
    c.subtract_mean = tsl_opt_bool(L, 2, fn, "subtract_mean", c.subtract_mean);
  }
  float *x = wave_arg(L, 1, fn, &n, &rate);
  c.sample_rate = rate;
  float *out = NULL;
  int64_t frames = 0;
  ts_err e;
  int rc = fbank_compute(&c, x, n, &out, &frames, &e);
  free(x);
  if (rc) return tsl_raise(L, &e, fn);
  tsl_push_matrix(L, out, frames, c.num_mel_bins);
  free(out);
  return 1;
}
#else
static int l_noaudio(lua_State *L) {
  return luaL_error(L, "ts.audio: this build has no audio support (configure with -DTSASR_AUDIO=ON)");
}
#define l_read l_noaudio
#define l_write l_noaudio
#define l_fbank l_noaudio
#endif

void tsl_open_audio(lua_State *L) {
  static const luaL_Reg f[] = {{"read", l_read}, {"write", l_write}, {"fbank", l_fbank}, {NULL, NULL}};
  luaL_newlib(L, f);
  lua_setfield(L, -2, "audio");
}
