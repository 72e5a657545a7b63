/* play.c — PortAudio playback with a playback cursor, and the silent sink used without a device. */
#include "play.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <portaudio.h>

#include "audio/audio_io.h"
#include "base/log.h"

struct play {
  int silent;
  int pa_up; /* Pa_Initialize succeeded: Pa_Terminate on close */
  PaStream *stream;
  float *buf; /* (len) what the device plays: the input, resampled when needed */
  int64_t len;
  int64_t n;      /* input samples */
  int rate;       /* input rate */
  double ratio;   /* device samples per input sample */
  _Atomic int64_t dev_pos; /* next device sample (written by the callback) */
  int64_t from;   /* cursor at start, in input samples */
  double t0;      /* silent sink: monotonic start time */
  int64_t stopped_at; /* cursor when stopped; -1 while running */
  int started;
};

/* Process-wide: the "no audio device" notice is logged once. */
static atomic_int play_notice_given;

static double play_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void play_notice(const char *why) {
  if (atomic_exchange(&play_notice_given, 1) == 0)
    log_warn("audio: no playback device (%s); using a silent sink that only advances the cursor", why);
}

/* PortAudio's host APIs (ALSA, JACK) print their probing failures straight to stderr, which
 * would scribble over the workbench's screen. Around PortAudio's set-up calls stderr points to
 * /dev/null (unless TSASR_AUDIO_VERBOSE=1); our own messages go through log_* afterwards. */
static int play_mute(void) {
  const char *v = getenv("TSASR_AUDIO_VERBOSE");
  if (v && strcmp(v, "1") == 0) return -1;
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (saved < 0 || nul < 0 || dup2(nul, STDERR_FILENO) < 0) {
    if (saved >= 0) close(saved);
    if (nul >= 0) close(nul);
    return -1;
  }
  close(nul);
  return saved;
}

static void play_unmute(int saved) {
  if (saved < 0) return;
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
}

static int play_cb(const void *input, void *output, unsigned long count,
                   const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags flags, void *user) {
  play *p = user;
  float *o = output;
  int64_t at = atomic_load(&p->dev_pos);
  unsigned long m = 0;
  if (at < p->len) {
    int64_t left = p->len - at;
    m = left < (int64_t)count ? (unsigned long)left : count;
    memcpy(o, p->buf + at, m * sizeof *o);
  }
  if (m < count) memset(o + m, 0, (count - m) * sizeof *o);
  atomic_store(&p->dev_pos, at + (int64_t)m);
  return at + (int64_t)m >= p->len ? paComplete : paContinue;
}

int play_open(play **out, int flags, ts_err *e) {
  if (!out) return err_set(e, TS_EARG, "play_open: NULL output");
  *out = NULL;
  play *p = calloc(1, sizeof *p);
  if (!p) return err_set(e, TS_ENOMEM, "play_open: out of memory");
  p->stopped_at = 0;
  const char *env = getenv("TSASR_AUDIO_SILENT");
  if ((flags & PLAY_SILENT) || (env && strcmp(env, "1") == 0)) {
    p->silent = 1;
  } else {
    int muted = play_mute();
    PaError pe = Pa_Initialize();
    PaDeviceIndex dev = pe == paNoError ? Pa_GetDefaultOutputDevice() : paNoDevice;
    play_unmute(muted);
    if (pe != paNoError) {
      play_notice(Pa_GetErrorText(pe));
      p->silent = 1;
    } else {
      p->pa_up = 1;
      if (dev == paNoDevice) {
        play_notice("PortAudio found no output device");
        p->silent = 1;
      }
    }
  }
  *out = p;
  return TS_OK;
}

int play_is_silent(const play *p) { return p ? p->silent : 1; }

static void play_close_stream(play *p) {
  if (p->stream) {
    Pa_AbortStream(p->stream);
    Pa_CloseStream(p->stream);
    p->stream = NULL;
  }
}

void play_stop(play *p) {
  if (!p || !p->started || p->stopped_at >= 0) return;
  int64_t pos = play_position(p);
  play_close_stream(p);
  p->stopped_at = pos;
}

void play_close(play *p) {
  if (!p) return;
  play_stop(p);
  play_close_stream(p);
  if (p->pa_up) {
    int muted = play_mute();
    Pa_Terminate();
    play_unmute(muted);
  }
  free(p->buf);
  free(p);
}

/* Opens the default output at rate; 0 on success. */
static PaError play_open_stream(play *p, double rate) {
  int muted = play_mute();
  PaError pe = Pa_OpenDefaultStream(&p->stream, 0, 1, paFloat32, rate,
                                    paFramesPerBufferUnspecified, play_cb, p);
  play_unmute(muted);
  return pe;
}

static int play_start_device(play *p, const float *x, int64_t n, int rate, int64_t from, ts_err *e) {
  PaError pe = play_open_stream(p, rate);
  if (pe != paNoError) p->stream = NULL;
  float *dev = NULL;
  int64_t dn = n - from;
  p->ratio = 1.0;
  if (pe == paInvalidSampleRate) {
    const PaDeviceInfo *di = Pa_GetDeviceInfo(Pa_GetDefaultOutputDevice());
    int drate = di ? (int)di->defaultSampleRate : 0;
    if (drate <= 0) return err_set(e, TS_EDEVICE, "play: the output device refuses %d Hz", rate);
    int rc = audio_resample(x + from, n - from, rate, drate, &dev, &dn, e);
    if (rc) return err_prefix(e, "play: resampling %d -> %d Hz for the device", rate, drate);
    p->ratio = (double)drate / rate;
    pe = play_open_stream(p, drate);
  } else if (pe == paNoError) {
    dev = malloc((size_t)(dn > 0 ? dn : 1) * sizeof *dev);
    if (!dev) {
      play_close_stream(p);
      return err_set(e, TS_ENOMEM, "play: out of memory for %lld samples", (long long)dn);
    }
    if (dn > 0) memcpy(dev, x + from, (size_t)dn * sizeof *dev);
  }
  if (pe != paNoError) {
    free(dev);
    p->stream = NULL;
    return err_set(e, TS_EDEVICE, "play: cannot open the output stream at %d Hz: %s", rate,
                   Pa_GetErrorText(pe));
  }
  free(p->buf);
  p->buf = dev;
  p->len = dn;
  atomic_store(&p->dev_pos, 0);
  pe = Pa_StartStream(p->stream);
  if (pe != paNoError) {
    play_close_stream(p);
    return err_set(e, TS_EDEVICE, "play: cannot start the output stream: %s", Pa_GetErrorText(pe));
  }
  return TS_OK;
}

int play_start(play *p, const float *x, int64_t n, int rate, int64_t from, ts_err *e) {
  if (!p) return err_set(e, TS_EARG, "play_start: NULL player");
  if (n < 0 || (n > 0 && !x) || rate <= 0)
    return err_set(e, TS_EARG, "play_start: bad buffer (n=%lld, rate=%d Hz)", (long long)n, rate);
  if (from < 0 || from > n)
    return err_set(e, TS_EARG, "play_start: start sample %lld outside 0..%lld", (long long)from,
                   (long long)n);
  play_stop(p);
  p->n = n;
  p->rate = rate;
  p->from = from;
  p->started = 1;
  p->stopped_at = -1;
  if (!p->silent) {
    ts_err de = {TS_OK, ""};
    int rc = play_start_device(p, x, n, rate, from, &de);
    if (rc == TS_EDEVICE) {
      /* a device that exists but will not play: keep the cursor going silently */
      play_notice(de.msg);
      p->silent = 1;
    } else if (rc) {
      p->stopped_at = from;
      if (e) *e = de;
      return rc;
    }
  }
  p->t0 = play_now();
  return TS_OK;
}

int64_t play_position(play *p) {
  if (!p || !p->started) return 0;
  if (p->stopped_at >= 0) return p->stopped_at;
  int64_t pos;
  if (p->silent) {
    double adv = (play_now() - p->t0) * p->rate;
    pos = p->from + (int64_t)adv;
  } else {
    int64_t d = atomic_load(&p->dev_pos);
    pos = d >= p->len ? p->n : p->from + (int64_t)((double)d / p->ratio);
  }
  return pos < p->n ? pos : p->n;
}

double play_seconds(play *p) {
  if (!p || !p->started || p->rate <= 0) return 0.0;
  return (double)play_position(p) / p->rate;
}

int play_active(play *p) {
  if (!p || !p->started || p->stopped_at >= 0) return 0;
  return play_position(p) < p->n;
}
