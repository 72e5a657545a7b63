/* wb_audio.h — playback for the workbench: the mixture, the enrollment, one source or the whole
 * input of a sample, with a cursor in input time (play.h; a silent sink without a device). */
#ifndef TS_WB_AUDIO_H
#define TS_WB_AUDIO_H

#include "base/err.h"
#include "data/manifest.h"

typedef struct wb_audio wb_audio;

enum { WB_PLAY_MIX = 0, WB_PLAY_ENROLL, WB_PLAY_SOURCE, WB_PLAY_INPUT };

/* Starts playing part `what` (source index src for WB_PLAY_SOURCE, 0-based) of the entry's
 * input; *a is created on first use. The assembled sample is cached per entry id. */
int wb_audio_play(wb_audio **a, const man_entry *ent, int what, int src, ts_err *e);
void wb_audio_stop(wb_audio *a);
/* 1 while playing. */
int wb_audio_active(wb_audio *a);
/* The cursor in input seconds for the entry with this id; -1 when it is not the one played. */
double wb_audio_cursor(wb_audio *a, const char *id);
/* 1 when the player is the silent sink (no audio device). */
int wb_audio_silent(const wb_audio *a);
/* What is playing or was played last ("mixture", "enrollment", "source 2", "input"). */
const char *wb_audio_what(const wb_audio *a);
void wb_audio_free(wb_audio *a);

#endif
