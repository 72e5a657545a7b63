/* loader.h — background threads assemble samples (sample.h) from a manifest ahead of the
 * consumer into a bounded queue, and hand them out in batches.
 *
 * Order: each epoch is a seeded shuffle of the manifest (or manifest order); with length
 * bucketing, pools of bucket*batch entries are sorted by mixture duration, cut into batches,
 * and the batches of the epoch are shuffled. The consumer always receives items in this order,
 * whatever the number of threads, so a run is reproducible. A batch never spans two epochs.
 * A callback (run on the loader threads) turns each sample into the consumer's item (the
 * trainer tokenises there); without one the item is the sample itself (sample *).
 * An entry that fails (missing, corrupt or wrong-rate audio, callback error) is skipped: a
 * warning names the entry and the file, and it is counted and listed in the stats; later
 * entries fill its place in the batch (so that batch's length spread may be a little wider). */
#ifndef TS_LOADER_H
#define TS_LOADER_H

#include <stdint.h>

#include "base/err.h"
#include "data/manifest.h"
#include "data/sample.h"

/* Turns s (owned by the callback: free it or keep its buffers, setting them NULL) into *item.
 * An error skips the entry. */
typedef int (*loader_fn)(sample *s, const man_entry *x, void *user, void **item, ts_err *e);
typedef void (*loader_free_fn)(void *item, void *user);

typedef struct loader_opts {
  int threads;      /* assembling threads: 2 */
  int queue;        /* items assembled ahead at most: 32 */
  int batch;        /* items per batch: 8 */
  int bucket;       /* length bucketing over pools of bucket * batch entries; 0 = off */
  int shuffle;      /* 1 (default): seeded shuffle each epoch */
  uint64_t seed;
  int64_t epochs;   /* 0 = endless */
  int drop_last;    /* 1: an epoch's last, short batch is not returned */
  sample_opts sample;
  loader_fn fn;     /* NULL: items are sample * (free with loader_batch_free) */
  loader_free_fn free_fn;
  void *user;
  int64_t start_pos; /* resume: first global position (a value from loader_position) */
} loader_opts;

typedef struct loader_batch {
  void **items;               /* (n) */
  const man_entry **entries;  /* (n) borrowed from the manifest */
  int n;                      /* 0 at the end */
  int64_t epoch;
} loader_batch;

#define LOADER_MAX_SKIP_NAMES 32
typedef struct loader_stats {
  int64_t n_ok;       /* items handed out */
  int64_t n_skipped;  /* entries skipped */
  int n_names;
  char names[LOADER_MAX_SKIP_NAMES][512]; /* "id: why" of the first skipped entries */
} loader_stats;

typedef struct loader loader;

void loader_opts_default(loader_opts *o);
/* The manifest must outlive the loader. */
int loader_open(const manifest *m, const loader_opts *o, loader **out, ts_err *e);
/* Blocks until the next batch is ready; b->n == 0 means the last epoch is done. */
int loader_next(loader *L, loader_batch *b, ts_err *e);
/* Frees the items (with free_fn, or as samples) and the batch arrays. */
void loader_batch_free(loader *L, loader_batch *b);
void loader_stats_get(loader *L, loader_stats *st);
/* Global position of the next item the consumer will get (epoch * entries + index); pass it
 * as start_pos to resume exactly after the batches already consumed. */
int64_t loader_position(loader *L);
/* Stops the threads and frees everything not handed out. */
void loader_close(loader *L);

#endif
