/* manifest.h — the sample manifest: JSONL, one target-speaker sample a line (DESIGN.md §6).
 *
 * A line: {"id","set","sources":[{"path","speaker","gender","text","gain","offset",...}],
 *          "target","enroll":{"path","start","duration",...},"cot"?,"similarity"?}
 * Extra keys written here and read back: source "utt", "lufs" (target loudness, used when
 * "gain" is absent), "duration" (seconds of the source file); enroll "utt", "speaker", "gain",
 * "lufs"; entry "mode" ("max" or "min") and "duration" (mixture seconds).
 * The reader skips a bad line with a warning naming the file and line, counts it, and goes on. */
#ifndef TS_MANIFEST_H
#define TS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define MAN_MAX_SRC 8
/* Bounds the reader enforces: a position in a file (source offset, enrollment start) past 24 h,
 * a length (source or enrollment duration) above an hour (a mixture's above two) or a gain above
 * 1e6 is a corrupt value, not a recording. A sample is built in memory, and larger values
 * overflow its sample counts, ask for huge buffers or make its floats infinite. */
#define MAN_MAX_OFFSET 86400.0
#define MAN_MAX_SECONDS 3600.0
#define MAN_MAX_GAIN 1e6
/* target loudness of a source: beyond these the gain underflows to 0 or overflows */
#define MAN_MIN_LUFS (-120.0)
#define MAN_MAX_LUFS 20.0

typedef struct man_source {
  char *path;     /* audio file */
  char *speaker;  /* speaker id */
  char gender;    /* 'M', 'F' or '?' */
  char *text;     /* transcript (LibriSpeech style) */
  char *utt;      /* utterance id, may be NULL */
  double gain;    /* linear gain; NAN = not fixed: use lufs */
  double lufs;    /* target loudness (LUFS); NAN = none */
  double offset;  /* start in the mixture (seconds) */
  double duration; /* seconds of the file; NAN = unknown */
} man_source;

typedef struct man_enroll {
  char *path;
  char *utt;     /* may be NULL */
  char *speaker; /* may be NULL */
  double start;    /* crop start (seconds) */
  double duration; /* crop length (seconds); 0 = to the end of the file */
  double gain;     /* NAN = use lufs, or 1 when lufs is NAN too */
  double lufs;
} man_enroll;

enum { MAN_MODE_MAX = 0, MAN_MODE_MIN = 1 };

typedef struct man_entry {
  char *id;
  char *set;       /* never NULL ("" when absent) */
  man_source *src; /* (n_src) */
  int n_src;
  int target;      /* index into src */
  man_enroll enroll;
  int mode;        /* MAN_MODE_MAX (pad to longest, LibriMix "max") or MAN_MODE_MIN */
  double duration; /* mixture seconds; NAN = unknown */
  char *cot;       /* may be NULL */
  double *similarity; /* (n_src) or NULL */
} man_entry;

typedef struct manifest {
  man_entry *e; /* (n) */
  int64_t n, cap;
  int64_t n_bad;          /* lines skipped by man_read */
  char first_bad[512];    /* message of the first skipped line */
} manifest;

void man_init(manifest *m);
void man_free(manifest *m);
void man_entry_free(man_entry *x);
/* Deep copy of src into dst. */
int man_entry_copy(man_entry *dst, const man_entry *src, ts_err *e);
/* Appends a deep copy of x. */
int man_add(manifest *m, const man_entry *x, ts_err *e);
/* Appends x itself: the manifest takes ownership of its memory (x is zeroed). */
int man_take(manifest *m, man_entry *x, ts_err *e);

/* Validates x (indices, gains, offsets); the message names what is wrong. */
int man_entry_check(const man_entry *x, ts_err *e);
/* One compact JSON line without the newline; malloc'd. */
int man_entry_to_json(const man_entry *x, char **out, ts_err *e);
/* Parses one line; what names the source ("file:line") in messages. Relative paths are
 * resolved against base_dir when it is not NULL. */
int man_entry_from_json(const char *text, size_t n, const char *what, const char *base_dir,
                        man_entry *x, ts_err *e);

/* Writes every entry, one line each, atomically. */
int man_write(const char *path, const manifest *m, ts_err *e);
/* Reads a manifest, appending to m. Bad lines are skipped with log_warn("file:line: why")
 * and counted in m->n_bad; only an unreadable file is an error. Relative audio paths are
 * resolved against the manifest's folder. */
int man_read(const char *path, manifest *m, ts_err *e);

/* Gender helpers: 'M'/'F'/'?' from "M", "F", "male", "female" (any case). */
char man_gender_parse(const char *s);

#endif
