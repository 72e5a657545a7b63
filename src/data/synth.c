/* synth.c — synthetic LibriSpeech-layout corpus from Debian TTS voices (espeak-ng, flite,
 * festival): planning (voices, splits, sentences), TTS subprocesses, 16 kHz FLAC output. */
#include "data/synth.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/philox.h"
#include "data/synth_text.h"

#ifdef TS_HAVE_AUDIO
#include "audio/audio_io.h"
#endif

extern char **environ;

/* The voices, interleaved so that the first N of any size mix genders and engines. Groups:
 * flite kal16 / festival kal_diphone (100) and flite slt / festival slt HTS (101) are the same
 * speakers. espeak-ng voices are an accent + a variant at a fixed pitch (-p) and speed (-s). */
static const synth_voice VOICES[] = {
    {SYNTH_ESPEAK, "en-us+m1", 'M', 30, 150, 0},
    {SYNTH_ESPEAK, "en-gb-x-rp+f1", 'F', 45, 150, 1},
    {SYNTH_ESPEAK, "en-gb+m2", 'M', 37, 163, 2},
    {SYNTH_ESPEAK, "en-gb-x-gbclan+f2", 'F', 56, 167, 3},
    {SYNTH_ESPEAK, "en-gb-scotland+m3", 'M', 44, 176, 4},
    {SYNTH_ESPEAK, "en-gb-x-gbcwmd+f3", 'F', 67, 184, 5},
    {SYNTH_FLITE, "kal16", 'M', 0, 0, 100},
    {SYNTH_ESPEAK, "en-gb-x-rp+m4", 'M', 51, 189, 7},
    {SYNTH_ESPEAK, "en-029+f4", 'F', 48, 155, 8},
    {SYNTH_ESPEAK, "en-gb-x-gbclan+m5", 'M', 33, 156, 9},
    {SYNTH_ESPEAK, "en-us-nyc+f5", 'F', 59, 172, 10},
    {SYNTH_ESPEAK, "en-gb-x-gbcwmd+m6", 'M', 40, 169, 11},
    {SYNTH_ESPEAK, "en-us+Alicia", 'F', 70, 189, 12},
    {SYNTH_FESTIVAL, "ked_diphone", 'M', 0, 0, 13},
    {SYNTH_ESPEAK, "en-029+m7", 'M', 47, 182, 14},
    {SYNTH_ESPEAK, "en-gb+Andrea", 'F', 51, 160, 15},
    {SYNTH_ESPEAK, "en-us-nyc+m8", 'M', 54, 195, 16},
    {SYNTH_ESPEAK, "en-gb-scotland+Annie", 'F', 62, 177, 17},
    {SYNTH_ESPEAK, "en-us+Andy", 'M', 36, 162, 18},
    {SYNTH_ESPEAK, "en-gb-x-rp+anika", 'F', 73, 194, 19},
    {SYNTH_FLITE, "slt", 'F', 0, 0, 101},
    {SYNTH_ESPEAK, "en-gb+Denis", 'M', 43, 175, 21},
    {SYNTH_ESPEAK, "en-gb-x-gbclan+aunty", 'F', 54, 165, 22},
    {SYNTH_ESPEAK, "en-gb-scotland+Henrique", 'M', 50, 188, 23},
    {SYNTH_ESPEAK, "en-gb-x-gbcwmd+belinda", 'F', 65, 182, 24},
    {SYNTH_ESPEAK, "en-gb-x-rp+Hugo", 'M', 32, 155, 25},
    {SYNTH_ESPEAK, "en-029+grandma", 'F', 46, 153, 26},
    {SYNTH_FESTIVAL, "kal_diphone", 'M', 0, 0, 100},
    {SYNTH_ESPEAK, "en-gb-x-gbclan+Lee", 'M', 39, 168, 28},
    {SYNTH_ESPEAK, "en-us-nyc+linda", 'F', 57, 170, 29},
    {SYNTH_ESPEAK, "en-gb-x-gbcwmd+Marco", 'M', 46, 181, 30},
    {SYNTH_ESPEAK, "en-us+steph", 'F', 68, 187, 31},
    {SYNTH_ESPEAK, "en-029+antonio", 'M', 53, 194, 32},
    {SYNTH_ESPEAK, "en-gb+steph2", 'F', 49, 158, 33},
    {SYNTH_FLITE, "awb", 'M', 0, 0, 34},
    {SYNTH_ESPEAK, "en-us-nyc+michel", 'M', 35, 161, 35},
    {SYNTH_ESPEAK, "en-gb-scotland+steph3", 'F', 60, 175, 36},
    {SYNTH_ESPEAK, "en-us+miguel", 'M', 42, 174, 37},
    {SYNTH_ESPEAK, "en-029+f1", 'F', 86, 192, 38},
    {SYNTH_ESPEAK, "en-gb+sandro", 'M', 49, 187, 39},
    {SYNTH_ESPEAK, "en-us-nyc+f2", 'F', 67, 163, 40},
    {SYNTH_FESTIVAL, "cmu_us_slt_arctic_hts", 'F', 0, 0, 101},
    {SYNTH_ESPEAK, "en-gb-scotland+travis", 'M', 31, 154, 42},
    {SYNTH_ESPEAK, "en-us+f3", 'F', 78, 180, 43},
    {SYNTH_ESPEAK, "en-gb-x-rp+victor", 'M', 38, 167, 44},
    {SYNTH_ESPEAK, "en-gb+f4", 'F', 89, 151, 45},
    {SYNTH_ESPEAK, "en-gb-x-gbclan+Storm", 'M', 45, 180, 46},
    {SYNTH_ESPEAK, "en-gb-scotland+f5", 'F', 70, 168, 47},
    {SYNTH_FLITE, "rms", 'M', 0, 0, 48},
    {SYNTH_ESPEAK, "en-gb-x-gbcwmd+Diogo", 'M', 52, 193, 49},
    {SYNTH_ESPEAK, "en-gb-x-rp+Annie", 'F', 81, 185, 50},
};
#define NV ((int)(sizeof VOICES / sizeof *VOICES))
#define SYNTH_TAG 0x73796e7468ULL /* "synth" */

enum { SP_TRAIN = 0, SP_DEV_SEEN, SP_TEST_SEEN, SP_DEV_UNSEEN, SP_TEST_UNSEEN, SP_N };
static const char *SPLIT_NAME[SP_N] = {"train", "dev-seen", "test-seen", "dev-unseen", "test-unseen"};
__attribute__((unused)) static const char *ENGINE_NAME[3] = {"espeak-ng", "flite", "festival"};

void synth_opts_default(synth_opts *o) {
  memset(o, 0, sizeof *o);
  o->utts_per_voice = 100;
  o->source = SYNTH_GRID;
  o->jobs = 1;
  o->unseen_frac = 0.2;
}

const synth_voice *synth_voice_table(int *n) {
  if (n) *n = NV;
  return VOICES;
}

/* Runs argv with stdout/stderr to /dev/null; returns the exit status or -1. */
static int run_quiet(char *const argv[]) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc) return -1;
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *FESTIVAL_DIRS[] = {"/usr/share/festival/voices/english/kal_diphone",
                                      "/usr/share/festival/voices/english/ked_diphone",
                                      "/usr/share/festival/voices/us/cmu_us_slt_arctic_hts"};

__attribute__((unused)) static int voice_installed(const synth_voice *v) {
  if (v->engine != SYNTH_FESTIVAL) return 1;
  for (size_t i = 0; i < sizeof FESTIVAL_DIRS / sizeof *FESTIVAL_DIRS; i++)
    if (strstr(FESTIVAL_DIRS[i], v->voice)) return access(FESTIVAL_DIRS[i], R_OK) == 0;
  return 0;
}

int synth_engine_available(int engine) {
  if (engine == SYNTH_ESPEAK) {
    char *a[] = {"espeak-ng", "--version", NULL};
    return run_quiet(a) == 0;
  }
  if (engine == SYNTH_FLITE) {
    char *a[] = {"flite", "-lv", NULL};
    return run_quiet(a) == 0;
  }
  if (engine == SYNTH_FESTIVAL) {
    char *a[] = {"festival", "--version", NULL};
    if (run_quiet(a) != 0) return 0;
    for (size_t i = 0; i < sizeof FESTIVAL_DIRS / sizeof *FESTIVAL_DIRS; i++)
      if (access(FESTIVAL_DIRS[i], R_OK) == 0) return 1;
  }
  return 0;
}

/* Sentence class from its text alone (not the seed): 0 train, 1 dev, 2 test. */
__attribute__((unused)) static int sent_class(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  h ^= h >> 29;
  int r = (int)(h % 10);
  return r == 0 ? 2 : r == 1 ? 1 : 0;
}
__attribute__((unused)) static const int SPLIT_CLASS[SP_N] = {0, 1, 2, 1, 2};

typedef struct uplan {
  int split;
  int idx;    /* number within its chapter */
  char *text; /* transcript */
} uplan;

typedef struct vplan {
  int vi;     /* index in VOICES */
  int spk;    /* speaker id */
  int kind;   /* SP_TRAIN (seen voice), SP_DEV_UNSEEN or SP_TEST_UNSEEN */
  uplan *u;
  int n;
  int64_t frames[SP_N];
  int n_split[SP_N];
} vplan;

typedef struct sjob {
  const char *out;
  vplan *v;
  int nv;
  atomic_int next;
  atomic_int failed;
  atomic_int done;
  pthread_mutex_t mu;
  ts_err err;
  int quiet;
  struct timespec t0;
} sjob;

static int chapter_of(int split) { return 101 + split; }

__attribute__((unused)) static void utt_paths(const char *out, const vplan *v, const uplan *u, char *dir, size_t nd,
                      char *flac, size_t nf) {
  snprintf(dir, nd, "%s/%s/%d/%d", out, SPLIT_NAME[u->split], v->spk, chapter_of(u->split));
  snprintf(flac, nf, "%s/%d-%d-%04d.flac", dir, v->spk, chapter_of(u->split), u->idx);
}

#ifdef TS_HAVE_AUDIO
/* Reads a TTS wav, brings it to 16 kHz, keeps the peak below 0.99, writes FLAC. */
static int convert(const char *wav, const char *flac, int64_t *frames, ts_err *e) {
  audio_buf b;
  int rc = audio_read(wav, 0, &b, e);
  if (rc) return rc;
  float *y = b.samples;
  int64_t ny = b.n;
  if (b.rate != 16000) {
    rc = audio_resample(b.samples, b.n, b.rate, 16000, &y, &ny, e);
    if (rc) {
      audio_free(&b);
      return err_prefix(e, "%s", wav);
    }
  }
  float pk = 0;
  for (int64_t i = 0; i < ny; i++) pk = fmaxf(pk, fabsf(y[i]));
  if (pk > 0.99f)
    for (int64_t i = 0; i < ny; i++) y[i] *= 0.99f / pk;
  rc = audio_write(flac, y, ny, 16000, e);
  if (y != b.samples) free(y);
  audio_free(&b);
  *frames = ny;
  return rc;
}

static int synth_voice_run(sjob *J, vplan *v, ts_err *e) {
  const synth_voice *sv = &VOICES[v->vi];
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s/.synth-tmp-%d", J->out, v->spk);
  int rc = afile_mkdirs(tmp, e);
  if (rc) return rc;
  char dir[4400], flac[4600], wav[4400], tts[2200];
  /* festival: one process reads a script that writes every utterance */
  if (sv->engine == SYNTH_FESTIVAL) {
    char scm[4400];
    snprintf(scm, sizeof scm, "%s/script.scm", tmp);
    FILE *f = fopen(scm, "w");
    if (!f) return err_set(e, TS_EIO, "%s: %s", scm, strerror(errno));
    fprintf(f, "(voice_%s)\n", sv->voice);
    for (int i = 0; i < v->n; i++) {
      stext_for_tts(v->u[i].text, tts, sizeof tts);
      fprintf(f, "(utt.save.wave (utt.synth (Utterance Text \"%s\")) \"%s/%05d.wav\" 'riff)\n", tts, tmp, i);
    }
    fclose(f);
    char *argv[] = {"festival", "-b", scm, NULL};
    if (run_quiet(argv) != 0) return err_set(e, TS_EIO, "%s: festival failed (voice %s)", scm, sv->voice);
    unlink(scm);
  }
  for (int i = 0; i < v->n; i++) {
    if (atomic_load(&J->failed)) return TS_OK;
    uplan *u = &v->u[i];
    snprintf(wav, sizeof wav, "%s/%05d.wav", tmp, i);
    utt_paths(J->out, v, u, dir, sizeof dir, flac, sizeof flac);
    if ((rc = afile_mkdirs(dir, e))) return rc;
    stext_for_tts(u->text, tts, sizeof tts);
    if (sv->engine == SYNTH_ESPEAK) {
      char p[16], s[16];
      snprintf(p, sizeof p, "%d", sv->pitch);
      snprintf(s, sizeof s, "%d", sv->speed);
      char *argv[] = {"espeak-ng", "-v", (char *)sv->voice, "-p", p, "-s", s, "-w", wav, tts, NULL};
      if (run_quiet(argv) != 0)
        return err_set(e, TS_EIO, "espeak-ng -v %s failed on \"%s\"", sv->voice, tts);
    } else if (sv->engine == SYNTH_FLITE) {
      char *argv[] = {"flite", "-voice", (char *)sv->voice, "-t", tts, "-o", wav, NULL};
      if (run_quiet(argv) != 0) return err_set(e, TS_EIO, "flite -voice %s failed on \"%s\"", sv->voice, tts);
    }
    int64_t fr = 0;
    if ((rc = convert(wav, flac, &fr, e))) return err_prefix(e, "%s %s", ENGINE_NAME[sv->engine], sv->voice);
    unlink(wav);
    v->frames[u->split] += fr;
  }
  rmdir(tmp);
  /* transcripts, one per chapter (split) */
  for (int sp = 0; sp < SP_N; sp++) {
    if (!v->n_split[sp]) continue;
    size_t cap = 256, len = 0;
    char *buf = malloc(cap);
    if (!buf) return err_set(e, TS_ENOMEM, "synth: out of memory");
    for (int i = 0; i < v->n; i++) {
      if (v->u[i].split != sp) continue;
      size_t need = strlen(v->u[i].text) + 64;
      if (len + need > cap) {
        cap = 2 * (len + need);
        char *nb = realloc(buf, cap);
        if (!nb) {
          free(buf);
          return err_set(e, TS_ENOMEM, "synth: out of memory");
        }
        buf = nb;
      }
      len += (size_t)snprintf(buf + len, cap - len, "%d-%d-%04d %s\n", v->spk, chapter_of(sp), v->u[i].idx,
                              v->u[i].text);
    }
    char tp[4700];
    snprintf(tp, sizeof tp, "%s/%s/%d/%d/%d-%d.trans.txt", J->out, SPLIT_NAME[sp], v->spk, chapter_of(sp),
             v->spk, chapter_of(sp));
    rc = afile_write(tp, buf, len, e);
    free(buf);
    if (rc) return rc;
  }
  return TS_OK;
}

static void *synth_worker(void *arg) {
  sjob *J = arg;
  for (;;) {
    int k = atomic_fetch_add(&J->next, 1);
    if (k >= J->nv || atomic_load(&J->failed)) break;
    ts_err le = {0};
    int rc = synth_voice_run(J, &J->v[k], &le);
    if (rc) {
      pthread_mutex_lock(&J->mu);
      if (!atomic_load(&J->failed)) J->err = le;
      atomic_store(&J->failed, 1);
      pthread_mutex_unlock(&J->mu);
      break;
    }
    int d = atomic_fetch_add(&J->done, 1) + 1;
    if (!J->quiet) {
      const synth_voice *sv = &VOICES[J->v[k].vi];
      log_info("synth: voice %d/%d done: speaker %d, %s %s, %d utterances", d, J->nv, J->v[k].spk,
               ENGINE_NAME[sv->engine], sv->voice, J->v[k].n);
    }
  }
  return NULL;
}
#endif

static void free_plan(vplan *v, int nv) {
  for (int i = 0; v && i < nv; i++) {
    for (int k = 0; k < v[i].n; k++) free(v[i].u[k].text);
    free(v[i].u);
  }
  free(v);
}

static int dir_nonempty(const char *path) {
  DIR *d = opendir(path);
  if (!d) return 0;
  struct dirent *de;
  int n = 0;
  while ((de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
  closedir(d);
  return n > 0;
}

__attribute__((unused)) static int cmpq(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int synth_run(const char *out, const synth_opts *opts, synth_report *r, ts_err *e) {
  synth_opts dflt;
  if (!opts) {
    synth_opts_default(&dflt);
    opts = &dflt;
  }
  synth_report tmp;
  if (!r) r = &tmp;
  memset(r, 0, sizeof *r);
#ifndef TS_HAVE_AUDIO
  (void)out;
  (void)free_plan;
  (void)dir_nonempty;
  return err_set(e, TS_EUNSUP, "synth: needs audio support (TSASR_AUDIO=ON)");
#else
  if (opts->utts_per_voice < 1 || opts->voices < 0 || opts->jobs < 1 || opts->jobs > 256 ||
      opts->unseen_frac < 0 || opts->unseen_frac >= 1)
    return err_set(e, TS_EARG, "synth: bad settings (utts-per-voice >= 1, voices >= 0, jobs 1..256, unseen share [0, 1))");
  if (dir_nonempty(out) && !opts->force)
    return err_set(e, TS_EARG, "%s: folder exists and is not empty (use --force to write into it)", out);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int avail[3];
  for (int k = 0; k < 3; k++)
    avail[k] = (!opts->engines || (opts->engines & (1u << k))) && synth_engine_available(k);
  int sel[NV], nsel = 0;
  for (int i = 0; i < NV; i++) {
    if (!avail[VOICES[i].engine] || !voice_installed(&VOICES[i])) continue;
    if (opts->voices && nsel >= opts->voices) break;
    sel[nsel++] = i;
  }
  if (nsel == 0) return err_set(e, TS_EUNSUP, "synth: no TTS voice installed (espeak-ng, flite, festival)");
  if (opts->voices > nsel)
    log_warn("synth: %d voices asked for, %d installed: using %d", opts->voices, nsel, nsel);
  for (int k = 0; k < 3; k++)
    if ((!opts->engines || (opts->engines & (1u << k))) && !avail[k])
      log_warn("synth: %s not installed: its voices are left out", ENGINE_NAME[k]);

  /* held-out voices: whole groups, in a seeded order */
  vplan *v = calloc((size_t)nsel, sizeof *v);
  if (!v) return err_set(e, TS_ENOMEM, "synth: out of memory");
  for (int i = 0; i < nsel; i++) {
    v[i].vi = sel[i];
    v[i].spk = 1000 + sel[i];
    v[i].kind = SP_TRAIN;
  }
  int n_unseen_want = nsel >= 3 && opts->unseen_frac > 0 ? (int)lround(opts->unseen_frac * nsel) : 0;
  if (nsel >= 3 && opts->unseen_frac > 0 && n_unseen_want < 1) n_unseen_want = 1;
  if (n_unseen_want > nsel - 2) n_unseen_want = nsel - 2;
  {
    int64_t order[NV];
    for (int i = 0; i < nsel; i++) order[i] = i;
    philox_rng rr;
    philox_init(&rr, opts->seed, philox_stream_id(SYNTH_TAG, 1, 0));
    philox_shuffle(&rr, order, nsel);
    int n_un = 0, turn = 0;
    for (int k = 0; k < nsel && n_un < n_unseen_want; k++) {
      vplan *a = &v[order[k]];
      if (a->kind != SP_TRAIN) continue;
      int kind = turn++ % 2 == 0 ? SP_TEST_UNSEEN : SP_DEV_UNSEEN;
      for (int j = 0; j < nsel; j++) /* the whole group */
        if (VOICES[v[j].vi].group == VOICES[a->vi].group) {
          v[j].kind = kind;
          n_un++;
        }
    }
    r->n_unseen = n_un;
  }

  /* sentences */
  stext_pool pool = {0};
  int *cls_idx[3] = {0}, cls_n[3] = {0};
  if (opts->source == SYNTH_BOOK) {
    const char *book = opts->book ? opts->book : SYNTH_BOOK_DEFAULT;
    int rc = stext_book(book, 4, 24, &pool, e);
    if (rc) {
      free_plan(v, nsel);
      return err_prefix(e, "synth");
    }
    for (int c = 0; c < 3; c++) cls_idx[c] = malloc(sizeof(int) * (size_t)pool.n);
    for (int i = 0; i < pool.n; i++) {
      int c = sent_class(pool.s[i]);
      cls_idx[c][cls_n[c]++] = i;
    }
    r->n_sentences = pool.n;
    for (int c = 0; c < 3; c++) r->class_sentences[c] = cls_n[c];
    r->vocab = stext_vocab(pool.s, pool.n);
    for (int c = 0; c < 3; c++)
      if (!cls_n[c]) {
        free_plan(v, nsel);
        stext_pool_free(&pool);
        return err_set(e, TS_EFORMAT, "%s: too few sentences for train/dev/test", book);
      }
  } else {
    r->vocab = stext_grid_vocab();
  }
  const int U = opts->utts_per_voice;
  const int E = U / 10 > 2 ? (U + 9) / 10 : 2;
  const int EU = U / 5 > 2 ? (U + 4) / 5 : 2;
  int rc = TS_OK;
  for (int i = 0; i < nsel && !rc; i++) {
    int cnt[SP_N] = {0};
    if (v[i].kind == SP_TRAIN) {
      cnt[SP_TRAIN] = U;
      cnt[SP_DEV_SEEN] = E;
      cnt[SP_TEST_SEEN] = E;
    } else {
      cnt[v[i].kind] = EU;
    }
    int total = 0;
    for (int sp = 0; sp < SP_N; sp++) total += cnt[sp];
    v[i].u = calloc((size_t)total, sizeof *v[i].u);
    if (!v[i].u) {
      rc = err_set(e, TS_ENOMEM, "synth: out of memory");
      break;
    }
    for (int sp = 0; sp < SP_N; sp++) {
      if (!cnt[sp]) continue;
      philox_rng rr;
      philox_init(&rr, opts->seed, philox_stream_id(SYNTH_TAG, 2 + (uint64_t)v[i].vi, (uint64_t)sp));
      int c = SPLIT_CLASS[sp];
      int64_t *perm = NULL;
      int np = 0;
      for (int k = 0; k < cnt[sp]; k++) {
        char buf[2048];
        if (opts->source == SYNTH_BOOK) {
          if (k % cls_n[c] == 0) { /* a fresh permutation of the class each time round */
            free(perm);
            np = cls_n[c];
            perm = malloc(sizeof *perm * (size_t)np);
            if (!perm) {
              rc = err_set(e, TS_ENOMEM, "synth: out of memory");
              break;
            }
            for (int q = 0; q < np; q++) perm[q] = cls_idx[c][q];
            philox_shuffle(&rr, perm, np);
          }
          snprintf(buf, sizeof buf, "%s", pool.s[perm[k % np]]);
        } else {
          do stext_grid(&rr, buf, sizeof buf);
          while (sent_class(buf) != c);
        }
        uplan *u = &v[i].u[v[i].n++];
        u->split = sp;
        u->idx = k;
        u->text = strdup(buf);
        v[i].n_split[sp]++;
        r->per_split[sp]++;
      }
      free(perm);
    }
  }
  for (int c = 0; c < 3; c++) free(cls_idx[c]);
  stext_pool_free(&pool);
  if (opts->source == SYNTH_GRID && !rc) { /* distinct sentences used */
    int64_t tot = 0;
    for (int i = 0; i < nsel; i++) tot += v[i].n;
    char **all = malloc(sizeof *all * (size_t)(tot ? tot : 1));
    if (all) {
      int64_t k = 0;
      for (int i = 0; i < nsel; i++)
        for (int q = 0; q < v[i].n; q++) all[k++] = v[i].u[q].text;
      qsort(all, (size_t)tot, sizeof *all, cmpq);
      int d = 0;
      for (int64_t q = 0; q < tot; q++)
        if (q == 0 || strcmp(all[q], all[q - 1])) {
          d++;
          r->class_sentences[sent_class(all[q])]++;
        }
      r->n_sentences = d;
      free(all);
    }
  }
  if (rc) {
    free_plan(v, nsel);
    return rc;
  }
  if ((rc = afile_mkdirs(out, e))) {
    free_plan(v, nsel);
    return rc;
  }

  /* synthesis */
  sjob J;
  memset(&J, 0, sizeof J);
  J.out = out;
  J.v = v;
  J.nv = nsel;
  J.quiet = opts->quiet;
  J.t0 = t0;
  atomic_init(&J.next, 0);
  atomic_init(&J.failed, 0);
  atomic_init(&J.done, 0);
  pthread_mutex_init(&J.mu, NULL);
  int nj = opts->jobs < nsel ? opts->jobs : nsel;
  pthread_t th[256];
  int started = 0;
  for (int k = 1; k < nj; k++)
    if (!pthread_create(&th[started], NULL, synth_worker, &J)) started++;
  synth_worker(&J);
  for (int k = 0; k < started; k++) pthread_join(th[k], NULL);
  pthread_mutex_destroy(&J.mu);
  if (atomic_load(&J.failed)) {
    free_plan(v, nsel);
    return err_set(e, J.err.code ? J.err.code : TS_EIO, "%s", J.err.msg);
  }

  /* SPEAKERS.TXT and synth.json */
  size_t cap = 4096 + (size_t)nsel * 160, len = 0;
  char *spk = malloc(cap);
  cJSON *js = cJSON_CreateObject();
  if (!spk || !js) {
    free(spk);
    cJSON_Delete(js);
    free_plan(v, nsel);
    return err_set(e, TS_ENOMEM, "synth: out of memory");
  }
  len += (size_t)snprintf(spk + len, cap - len,
                          "; Synthetic speakers written by tsasr synth (seed %llu, %s sentences).\n"
                          "; SUBSET is the voice's split: train voices also read dev-seen and test-seen.\n"
                          ";ID    |SEX| SUBSET       |MINUTES| NAME\n",
                          (unsigned long long)opts->seed, opts->source == SYNTH_BOOK ? "book" : "grid");
  cJSON_AddNumberToObject(js, "seed", (double)opts->seed);
  cJSON_AddStringToObject(js, "source", opts->source == SYNTH_BOOK ? "book" : "grid");
  if (opts->source == SYNTH_BOOK) cJSON_AddStringToObject(js, "book", opts->book ? opts->book : SYNTH_BOOK_DEFAULT);
  cJSON_AddNumberToObject(js, "utts_per_voice", U);
  cJSON_AddNumberToObject(js, "vocabulary", r->vocab);
  cJSON_AddNumberToObject(js, "sentences", r->n_sentences);
  cJSON *cs = cJSON_AddObjectToObject(js, "sentence_classes");
  cJSON_AddNumberToObject(cs, "train", r->class_sentences[0]);
  cJSON_AddNumberToObject(cs, "dev", r->class_sentences[1]);
  cJSON_AddNumberToObject(cs, "test", r->class_sentences[2]);
  cJSON *va = cJSON_AddArrayToObject(js, "voices");
  int64_t frames_all = 0;
  for (int i = 0; i < nsel; i++) {
    const synth_voice *sv = &VOICES[v[i].vi];
    int64_t fr = 0;
    for (int sp = 0; sp < SP_N; sp++) fr += v[i].frames[sp];
    frames_all += fr;
    char name[128];
    if (sv->engine == SYNTH_ESPEAK)
      snprintf(name, sizeof name, "espeak-ng %s p%d s%d", sv->voice, sv->pitch, sv->speed);
    else
      snprintf(name, sizeof name, "%s %s", ENGINE_NAME[sv->engine], sv->voice);
    if (len + 256 > cap) {
      cap *= 2;
      char *ns = realloc(spk, cap);
      if (!ns) break;
      spk = ns;
    }
    len += (size_t)snprintf(spk + len, cap - len, "%-6d | %c | %-12s | %5.2f | %s\n", v[i].spk, sv->gender,
                            SPLIT_NAME[v[i].kind], (double)fr / 16000 / 60, name);
    cJSON *vo = cJSON_CreateObject();
    cJSON_AddNumberToObject(vo, "speaker", v[i].spk);
    cJSON_AddStringToObject(vo, "engine", ENGINE_NAME[sv->engine]);
    cJSON_AddStringToObject(vo, "voice", sv->voice);
    char g[2] = {sv->gender, 0};
    cJSON_AddStringToObject(vo, "gender", g);
    if (sv->engine == SYNTH_ESPEAK) {
      cJSON_AddNumberToObject(vo, "pitch", sv->pitch);
      cJSON_AddNumberToObject(vo, "speed", sv->speed);
    }
    cJSON_AddNumberToObject(vo, "group", sv->group);
    cJSON_AddStringToObject(vo, "split", SPLIT_NAME[v[i].kind]);
    cJSON_AddNumberToObject(vo, "utterances", v[i].n);
    cJSON_AddNumberToObject(vo, "seconds", (double)fr / 16000);
    cJSON_AddItemToArray(va, vo);
  }
  cJSON *so = cJSON_AddObjectToObject(js, "splits");
  for (int sp = 0; sp < SP_N; sp++) cJSON_AddNumberToObject(so, SPLIT_NAME[sp], (double)r->per_split[sp]);
  cJSON_AddNumberToObject(js, "audio_seconds", (double)frames_all / 16000);
  char sp_path[4200], js_path[4200];
  snprintf(sp_path, sizeof sp_path, "%s/SPEAKERS.TXT", out);
  snprintf(js_path, sizeof js_path, "%s/synth.json", out);
  rc = afile_write(sp_path, spk, len, e);
  if (!rc) rc = jsonx_save(js_path, js, e);
  free(spk);
  cJSON_Delete(js);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  r->n_voices = nsel;
  for (int i = 0; i < nsel; i++) r->n_utts += v[i].n;
  r->audio_sec = (double)frames_all / 16000;
  r->wall_sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  r->utts_per_sec = r->wall_sec > 0 ? (double)r->n_utts / r->wall_sec : 0;
  free_plan(v, nsel);
  return rc;
#endif
}
