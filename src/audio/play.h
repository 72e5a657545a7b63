/* play.h — non-blocking playback of a mono float buffer through PortAudio, with a playback
 * cursor; without an output device it falls back to a silent sink that advances in real time. */
#ifndef TS_PLAY_H
#define TS_PLAY_H

#include <stdint.h>

#include "base/err.h"

typedef struct play play;

enum {
  PLAY_SILENT = 1 /* never touch PortAudio: always use the silent sink (tests, headless runs) */
};

/* Opens a player. Without PLAY_SILENT (and unless the environment sets TSASR_AUDIO_SILENT=1)
 * it initialises PortAudio and takes the default output device; when there is none, or
 * PortAudio fails to start, the player uses the silent sink and a notice is logged once per
 * process (log_warn). PortAudio's own probing chatter on stderr is muted while it sets up
 * (TSASR_AUDIO_VERBOSE=1 keeps it); stderr is briefly redirected then, so call this from the
 * thread that owns the terminal. *out is freed with play_close. */
int play_open(play **out, int flags, ts_err *e);
void play_close(play *p);

/* 1 when the player is the silent sink. */
int play_is_silent(const play *p);

/* Starts playing x (n) at rate Hz from sample `from` and returns at once; the samples are
 * copied. A playback already running is stopped first. When the device refuses the rate, the
 * copy is resampled to the device's default rate (the cursor still counts input samples).
 * When the device cannot be opened or started at all, the player turns into the silent sink
 * (with the once-per-process notice) rather than failing. */
int play_start(play *p, const float *x, int64_t n, int rate, int64_t from, ts_err *e);

/* Stops playback; the cursor stays where it stopped. Safe when nothing plays. */
void play_stop(play *p);

/* The cursor in input samples (0 .. n) and in seconds; 0 before the first start. */
int64_t play_position(play *p);
double play_seconds(play *p);

/* 1 while playing (started, not stopped and not past the end). */
int play_active(play *p);

#endif
