/* loader.c — sample assembly on background threads into a bounded, ordered queue; batches with
 * seeded shuffling and length bucketing; skipped entries counted and named. */
#include "data/loader.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/philox.h"

#define LOADER_TAG 0x6c6f61646572ULL /* "loader" */
#define LOADER_MAX_THREADS 64
#define EPOCH_CACHE 4

enum { SLOT_EMPTY = 0, SLOT_READY, SLOT_SKIPPED };

typedef struct slot {
  int64_t pos;
  int state;
  void *item;
  int64_t entry;
  char why[512];
} slot;

struct loader {
  const manifest *m;
  loader_opts o;
  int64_t n;          /* entries per epoch */
  int64_t total;      /* positions in all epochs; -1 = endless */
  slot *ring;         /* (queue) */
  int64_t next_pos;   /* next position a worker takes */
  int64_t consumed;   /* next position the consumer takes */
  int stop;
  pthread_mutex_t mu;
  pthread_cond_t space, ready;
  pthread_t th[LOADER_MAX_THREADS];
  int n_threads;
  int64_t ep_id[EPOCH_CACHE]; /* epoch orders, computed on demand */
  int64_t *ep_seq[EPOCH_CACHE];
  int ep_next;
  loader_stats st;
};

void loader_opts_default(loader_opts *o) {
  memset(o, 0, sizeof *o);
  o->threads = 2;
  o->queue = 32;
  o->batch = 8;
  o->shuffle = 1;
  o->epochs = 1;
  sample_opts_default(&o->sample);
}

typedef struct dkey {
  double d;
  int64_t k; /* position in the shuffled order: ties keep it */
  int64_t idx;
} dkey;

static int cmp_dkey(const void *a, const void *b) {
  const dkey *x = a, *y = b;
  if (x->d != y->d) return x->d < y->d ? -1 : 1;
  return (x->k > y->k) - (x->k < y->k);
}

/* The order of epoch ep: entry indices (n). */
static int64_t *epoch_order(const loader *L, int64_t ep) {
  int64_t n = L->n;
  int64_t *seq = malloc(sizeof *seq * (size_t)n);
  if (!seq) return NULL;
  for (int64_t i = 0; i < n; i++) seq[i] = i;
  philox_rng r;
  philox_init(&r, L->o.seed, philox_stream_id(LOADER_TAG, (uint64_t)ep, 0));
  if (L->o.shuffle) philox_shuffle(&r, seq, n);
  if (L->o.bucket > 0 && L->o.batch > 1) {
    int64_t pool = (int64_t)L->o.bucket * L->o.batch;
    dkey *k = malloc(sizeof *k * (size_t)pool);
    if (!k) {
      free(seq);
      return NULL;
    }
    for (int64_t a = 0; a < n; a += pool) {
      int64_t len = n - a < pool ? n - a : pool;
      for (int64_t i = 0; i < len; i++) {
        double d = L->m->e[seq[a + i]].duration;
        k[i] = (dkey){isnan(d) ? 0.0 : d, i, seq[a + i]};
      }
      qsort(k, (size_t)len, sizeof *k, cmp_dkey);
      for (int64_t i = 0; i < len; i++) seq[a + i] = k[i].idx;
    }
    free(k);
    /* shuffle whole batches (the last, short one stays last) */
    int64_t nb = n / L->o.batch;
    if (L->o.shuffle && nb > 1) {
      int64_t *bo = malloc(sizeof *bo * (size_t)nb);
      int64_t *tmp = malloc(sizeof *tmp * (size_t)(nb * L->o.batch));
      if (!bo || !tmp) {
        free(bo);
        free(tmp);
        free(seq);
        return NULL;
      }
      for (int64_t i = 0; i < nb; i++) bo[i] = i;
      philox_shuffle(&r, bo, nb);
      for (int64_t i = 0; i < nb; i++)
        memcpy(tmp + i * L->o.batch, seq + bo[i] * L->o.batch, sizeof *tmp * (size_t)L->o.batch);
      memcpy(seq, tmp, sizeof *tmp * (size_t)(nb * L->o.batch));
      free(bo);
      free(tmp);
    }
  }
  return seq;
}

/* Entry at a global position; call with the mutex held. -1 when out of memory. */
static int64_t entry_at(loader *L, int64_t pos) {
  int64_t ep = pos / L->n, i = pos % L->n;
  for (int c = 0; c < EPOCH_CACHE; c++)
    if (L->ep_seq[c] && L->ep_id[c] == ep) return L->ep_seq[c][i];
  int64_t *seq = epoch_order(L, ep);
  if (!seq) return -1;
  int c = L->ep_next;
  L->ep_next = (L->ep_next + 1) % EPOCH_CACHE;
  free(L->ep_seq[c]);
  L->ep_seq[c] = seq;
  L->ep_id[c] = ep;
  return seq[i];
}

static void free_item(loader *L, void *item) {
  if (!item) return;
  if (L->o.fn) {
    if (L->o.free_fn) L->o.free_fn(item, L->o.user);
  } else {
    sample_free(item);
    free(item);
  }
}

static void *worker(void *arg) {
  loader *L = arg;
  pthread_mutex_lock(&L->mu);
  for (;;) {
    while (!L->stop && L->next_pos >= L->consumed + L->o.queue &&
           (L->total < 0 || L->next_pos < L->total))
      pthread_cond_wait(&L->space, &L->mu);
    if (L->stop || (L->total >= 0 && L->next_pos >= L->total)) break;
    int64_t pos = L->next_pos++;
    int64_t ei = entry_at(L, pos);
    pthread_mutex_unlock(&L->mu);

    slot res;
    memset(&res, 0, sizeof res);
    res.pos = pos;
    res.entry = ei;
    if (ei < 0) {
      res.state = SLOT_SKIPPED;
      snprintf(res.why, sizeof res.why, "loader: out of memory for the epoch order");
    } else {
      const man_entry *x = &L->m->e[ei];
      sample *s = calloc(1, sizeof *s);
      ts_err le = {0};
      int rc = s ? sample_build(x, &L->o.sample, s, &le) : err_set(&le, TS_ENOMEM, "%s: out of memory", x->id);
      if (!rc && L->o.fn) {
        void *item = NULL;
        rc = L->o.fn(s, x, L->o.user, &item, &le);
        if (rc) err_prefix(&le, "%s: callback", x->id);
        sample_free(s);
        free(s);
        s = NULL;
        res.item = item;
      } else if (!rc) {
        res.item = s;
        s = NULL;
      }
      if (s) {
        sample_free(s);
        free(s);
      }
      if (rc) {
        res.state = SLOT_SKIPPED;
        snprintf(res.why, sizeof res.why, "%s", le.msg);
        if (res.item) free_item(L, res.item);
        res.item = NULL;
      } else {
        res.state = SLOT_READY;
      }
    }
    pthread_mutex_lock(&L->mu);
    if (L->stop) {
      free_item(L, res.item);
      break;
    }
    L->ring[pos % L->o.queue] = res;
    pthread_cond_broadcast(&L->ready);
  }
  pthread_mutex_unlock(&L->mu);
  return NULL;
}

int loader_open(const manifest *m, const loader_opts *o, loader **out, ts_err *e) {
  *out = NULL;
  loader_opts dflt;
  if (!o) {
    loader_opts_default(&dflt);
    o = &dflt;
  }
  if (m->n <= 0) return err_set(e, TS_EARG, "loader: the manifest is empty");
  if (o->threads < 1 || o->threads > LOADER_MAX_THREADS || o->queue < 1 || o->batch < 1 || o->bucket < 0 ||
      o->epochs < 0)
    return err_set(e, TS_EARG, "loader: bad settings (threads 1..%d, queue >= 1, batch >= 1)", LOADER_MAX_THREADS);
  loader *L = calloc(1, sizeof *L);
  if (!L) return err_set(e, TS_ENOMEM, "loader: out of memory");
  L->m = m;
  L->o = *o;
  L->n = m->n;
  L->total = o->epochs ? o->epochs * m->n : -1;
  L->ring = calloc((size_t)o->queue, sizeof *L->ring);
  if (!L->ring) {
    free(L);
    return err_set(e, TS_ENOMEM, "loader: out of memory");
  }
  for (int i = 0; i < o->queue; i++) L->ring[i].pos = -1;
  for (int c = 0; c < EPOCH_CACHE; c++) L->ep_id[c] = -1;
  if (o->start_pos < 0 || (L->total >= 0 && o->start_pos > L->total)) {
    free(L->ring);
    free(L);
    return err_set(e, TS_EARG, "loader: start position %lld outside the run", (long long)o->start_pos);
  }
  L->next_pos = L->consumed = o->start_pos; /* resume: nothing before it is assembled */
  pthread_mutex_init(&L->mu, NULL);
  pthread_cond_init(&L->space, NULL);
  pthread_cond_init(&L->ready, NULL);
  for (int i = 0; i < o->threads; i++) {
    if (pthread_create(&L->th[i], NULL, worker, L)) break;
    L->n_threads++;
  }
  if (!L->n_threads) {
    loader_close(L);
    return err_set(e, TS_EINTERNAL, "loader: cannot start a thread");
  }
  *out = L;
  return TS_OK;
}

int loader_next(loader *L, loader_batch *b, ts_err *e) {
  memset(b, 0, sizeof *b);
  int B = L->o.batch;
  b->items = calloc((size_t)B, sizeof *b->items);
  b->entries = calloc((size_t)B, sizeof *b->entries);
  if (!b->items || !b->entries) {
    free(b->items);
    free(b->entries);
    memset(b, 0, sizeof *b);
    return err_set(e, TS_ENOMEM, "loader: out of memory");
  }
  b->epoch = -1;
  pthread_mutex_lock(&L->mu);
  for (;;) {
    int64_t p = L->consumed;
    if (L->total >= 0 && p >= L->total) break;
    int64_t ep = p / L->n;
    if (b->n > 0 && ep != b->epoch) break; /* batches stay within an epoch */
    slot *s = &L->ring[p % L->o.queue];
    while (!(s->pos == p && s->state != SLOT_EMPTY)) pthread_cond_wait(&L->ready, &L->mu);
    slot r = *s;
    s->state = SLOT_EMPTY;
    s->pos = -1;
    s->item = NULL;
    L->consumed++;
    pthread_cond_broadcast(&L->space);
    if (r.state == SLOT_SKIPPED) {
      L->st.n_skipped++;
      const char *id = r.entry >= 0 ? L->m->e[r.entry].id : "?";
      char name[1100];
      size_t li = strlen(id);
      if (!strncmp(r.why, id, li) && r.why[li] == ':') /* the message already starts with the id */
        snprintf(name, sizeof name, "%s", r.why);
      else
        snprintf(name, sizeof name, "%s: %s", id, r.why);
      if (L->st.n_names < LOADER_MAX_SKIP_NAMES)
        snprintf(L->st.names[L->st.n_names++], sizeof L->st.names[0], "%s", name);
      pthread_mutex_unlock(&L->mu);
      log_warn("loader: skipped %s", name);
      pthread_mutex_lock(&L->mu);
      continue;
    }
    if (b->n == 0) b->epoch = ep;
    b->items[b->n] = r.item;
    b->entries[b->n] = &L->m->e[r.entry];
    b->n++;
    L->st.n_ok++;
    if (b->n == B) break;
  }
  pthread_mutex_unlock(&L->mu);
  if (b->n > 0 && b->n < B && L->o.drop_last) {
    /* an epoch's last short batch: drop it and go on with the next epoch */
    loader_batch_free(L, b);
    return loader_next(L, b, e);
  }
  return TS_OK;
}

void loader_batch_free(loader *L, loader_batch *b) {
  if (!b) return;
  for (int i = 0; i < b->n; i++) free_item(L, b->items[i]);
  free(b->items);
  free(b->entries);
  memset(b, 0, sizeof *b);
}

void loader_stats_get(loader *L, loader_stats *st) {
  pthread_mutex_lock(&L->mu);
  *st = L->st;
  pthread_mutex_unlock(&L->mu);
}

void loader_close(loader *L) {
  if (!L) return;
  pthread_mutex_lock(&L->mu);
  L->stop = 1;
  pthread_cond_broadcast(&L->space);
  pthread_cond_broadcast(&L->ready);
  pthread_mutex_unlock(&L->mu);
  for (int i = 0; i < L->n_threads; i++) pthread_join(L->th[i], NULL);
  for (int i = 0; i < L->o.queue; i++)
    if (L->ring[i].state == SLOT_READY) free_item(L, L->ring[i].item);
  for (int c = 0; c < EPOCH_CACHE; c++) free(L->ep_seq[c]);
  free(L->ring);
  pthread_mutex_destroy(&L->mu);
  pthread_cond_destroy(&L->space);
  pthread_cond_destroy(&L->ready);
  free(L);
}

int64_t loader_position(loader *L) {
  pthread_mutex_lock(&L->mu);
  int64_t p = L->consumed;
  pthread_mutex_unlock(&L->mu);
  return p;
}
