/* corpus.c — LibriSpeech-layout corpus index with an on-disk header cache. */
#include "data/corpus.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef TS_HAVE_AUDIO
#include <sndfile.h>
#endif

#include "base/afile.h"
#include "base/log.h"
#include "data/manifest.h"

#define CORPUS_CACHE_MAGIC "tsasr-corpus-index"
#define CORPUS_CACHE_VERSION 1
#define CORPUS_MAX_DEPTH 6

void corpus_opts_default(corpus_opts *o) {
  memset(o, 0, sizeof *o);
  o->rate = 16000;
}

static void skip_note(corpus *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip_note(corpus *c, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_warn("%s (skipped)", msg);
  if (!c->n_skipped) snprintf(c->first_skip, sizeof c->first_skip, "%s", msg);
  c->n_skipped++;
}

/* ---- building by hand ---- */

void corpus_init(corpus *c, const char *root) {
  memset(c, 0, sizeof *c);
  c->root = strdup(root ? root : "");
}

void corpus_free(corpus *c) {
  if (!c) return;
  for (int64_t i = 0; i < c->n_utts; i++) {
    free(c->utts[i].id);
    free(c->utts[i].path);
    free(c->utts[i].text);
    if (c->pend_spk) free(c->pend_spk[i]);
  }
  free(c->pend_spk);
  free(c->utts);
  for (int i = 0; i < c->n_spks; i++) {
    free(c->spks[i].id);
    free(c->spks[i].subset);
    free(c->spks[i].name);
    free(c->spks[i].utts);
  }
  free(c->spks);
  for (int i = 0; i < c->n_trans; i++) free(c->trans_files[i]);
  free(c->trans_files);
  free(c->speakers_txt);
  free(c->root);
  memset(c, 0, sizeof *c);
}

int corpus_add_speaker(corpus *c, const char *id, char gender, const char *subset, ts_err *e) {
  if (c->n_spks == c->cap_spks) {
    int nc = c->cap_spks ? c->cap_spks * 2 : 64;
    corpus_spk *ns = realloc(c->spks, sizeof *ns * (size_t)nc);
    if (!ns) return err_set(e, TS_ENOMEM, "corpus: out of memory");
    c->spks = ns;
    c->cap_spks = nc;
  }
  corpus_spk *s = &c->spks[c->n_spks];
  memset(s, 0, sizeof *s);
  s->id = strdup(id);
  s->gender = gender ? gender : '?';
  s->subset = subset ? strdup(subset) : NULL;
  if (!s->id) return err_set(e, TS_ENOMEM, "corpus: out of memory");
  c->n_spks++;
  return TS_OK;
}

static int add_utt_full(corpus *c, const char *id, const char *spk_id, const char *path,
                        const char *text, int64_t frames, int rate, int trans, int line,
                        ts_err *e) {
  if (c->n_utts == c->cap_utts) {
    int64_t nc = c->cap_utts ? c->cap_utts * 2 : 256;
    corpus_utt *nu = realloc(c->utts, sizeof *nu * (size_t)nc);
    if (!nu) return err_set(e, TS_ENOMEM, "corpus: out of memory");
    c->utts = nu;
    char **np = realloc(c->pend_spk, sizeof *np * (size_t)nc);
    if (!np) return err_set(e, TS_ENOMEM, "corpus: out of memory");
    c->pend_spk = np;
    c->cap_utts = nc;
  }
  corpus_utt *u = &c->utts[c->n_utts];
  memset(u, 0, sizeof *u);
  u->id = strdup(id);
  u->path = strdup(path);
  u->text = strdup(text);
  u->spk = -1;
  u->trans = trans;
  u->line = line;
  u->frames = frames;
  u->rate = rate;
  u->dur = (frames >= 0 && rate > 0) ? (double)frames / rate : NAN;
  c->pend_spk[c->n_utts] = strdup(spk_id);
  c->n_utts++;
  if (!u->id || !u->path || !u->text || !c->pend_spk[c->n_utts - 1])
    return err_set(e, TS_ENOMEM, "corpus: out of memory");
  return TS_OK;
}

int corpus_add_utt(corpus *c, const char *id, const char *spk_id, const char *path,
                   const char *text, int64_t frames, int rate, ts_err *e) {
  return add_utt_full(c, id, spk_id, path, text, frames, rate, -1, 0, e);
}

static int cmp_utt(const void *a, const void *b) {
  return strcmp(((const corpus_utt *)a)->id, ((const corpus_utt *)b)->id);
}
static int cmp_spk(const void *a, const void *b) {
  return strcmp(((const corpus_spk *)a)->id, ((const corpus_spk *)b)->id);
}

int corpus_finish(corpus *c, ts_err *e) {
  /* sort utterances together with their pending speaker ids */
  typedef struct {
    corpus_utt u;
    char *spk;
  } pair;
  pair *p = malloc(sizeof *p * (size_t)(c->n_utts ? c->n_utts : 1));
  if (!p) return err_set(e, TS_ENOMEM, "corpus: out of memory");
  for (int64_t i = 0; i < c->n_utts; i++) {
    p[i].u = c->utts[i];
    p[i].spk = c->pend_spk ? c->pend_spk[i] : NULL;
  }
  qsort(p, (size_t)c->n_utts, sizeof *p, cmp_utt); /* u is the first member */
  int64_t w = 0;
  for (int64_t i = 0; i < c->n_utts; i++) {
    if (w > 0 && !strcmp(p[w - 1].u.id, p[i].u.id)) {
      if (p[i].u.trans >= 0)
        skip_note(c, "%s:%d: utterance %s listed twice", c->trans_files[p[i].u.trans], p[i].u.line,
                  p[i].u.id);
      else
        skip_note(c, "utterance %s added twice", p[i].u.id);
      free(p[i].u.id);
      free(p[i].u.path);
      free(p[i].u.text);
      free(p[i].spk);
      continue;
    }
    p[w++] = p[i];
  }
  c->n_utts = w;
  for (int64_t i = 0; i < w; i++) {
    c->utts[i] = p[i].u;
    c->pend_spk[i] = p[i].spk;
  }
  free(p);
  /* speakers: sort, drop duplicates, add the missing ones */
  qsort(c->spks, (size_t)c->n_spks, sizeof *c->spks, cmp_spk);
  int ws = 0;
  for (int i = 0; i < c->n_spks; i++) {
    if (ws > 0 && !strcmp(c->spks[ws - 1].id, c->spks[i].id)) {
      free(c->spks[i].id);
      free(c->spks[i].subset);
      free(c->spks[i].name);
      continue;
    }
    c->spks[ws++] = c->spks[i];
  }
  c->n_spks = ws;
  int added = 0;
  for (int64_t i = 0; i < c->n_utts; i++) {
    if (corpus_find_spk(c, c->pend_spk[i]) >= 0) continue;
    int rc = corpus_add_speaker(c, c->pend_spk[i], '?', NULL, e);
    if (rc) return rc;
    qsort(c->spks, (size_t)c->n_spks, sizeof *c->spks, cmp_spk);
    added++;
  }
  (void)added;
  for (int i = 0; i < c->n_spks; i++) {
    free(c->spks[i].utts);
    c->spks[i].utts = NULL;
    c->spks[i].n_utts = 0;
  }
  int *cnt = calloc((size_t)(c->n_spks ? c->n_spks : 1), sizeof *cnt);
  if (!cnt) return err_set(e, TS_ENOMEM, "corpus: out of memory");
  for (int64_t i = 0; i < c->n_utts; i++) {
    c->utts[i].spk = corpus_find_spk(c, c->pend_spk[i]);
    cnt[c->utts[i].spk]++;
  }
  for (int i = 0; i < c->n_spks; i++) {
    c->spks[i].utts = malloc(sizeof(int64_t) * (size_t)(cnt[i] ? cnt[i] : 1));
    if (!c->spks[i].utts) {
      free(cnt);
      return err_set(e, TS_ENOMEM, "corpus: out of memory");
    }
  }
  for (int64_t i = 0; i < c->n_utts; i++) {
    corpus_spk *s = &c->spks[c->utts[i].spk];
    s->utts[s->n_utts++] = i;
  }
  free(cnt);
  return TS_OK;
}

int64_t corpus_find_utt(const corpus *c, const char *id) {
  int64_t lo = 0, hi = c->n_utts - 1;
  while (lo <= hi) {
    int64_t mid = (lo + hi) / 2;
    int r = strcmp(c->utts[mid].id, id);
    if (!r) return mid;
    if (r < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

int corpus_find_spk(const corpus *c, const char *id) {
  int lo = 0, hi = c->n_spks - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    int r = strcmp(c->spks[mid].id, id);
    if (!r) return mid;
    if (r < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

const char *corpus_utt_where(const corpus *c, int64_t u, char *buf, int n) {
  if (n <= 0) return buf;
  if (u < 0 || u >= c->n_utts) {
    snprintf(buf, (size_t)n, "?");
  } else if (c->utts[u].trans >= 0 && c->utts[u].trans < c->n_trans) {
    snprintf(buf, (size_t)n, "%s:%d", c->trans_files[c->utts[u].trans], c->utts[u].line);
  } else {
    snprintf(buf, (size_t)n, "%s", c->utts[u].path);
  }
  return buf;
}

/* ---- audio headers ---- */

int corpus_probe_audio(const char *path, int64_t *frames, int *rate, ts_err *e) {
  *frames = -1;
  *rate = 0;
#ifdef TS_HAVE_AUDIO
  SF_INFO info;
  memset(&info, 0, sizeof info);
  SNDFILE *f = sf_open(path, SFM_READ, &info);
  if (!f) return err_set(e, TS_EFORMAT, "%s: cannot read audio header: %s", path, sf_strerror(NULL));
  sf_close(f);
  if (info.frames <= 0 || info.samplerate <= 0)
    return err_set(e, TS_EFORMAT, "%s: audio header has %lld frames at %d Hz", path,
                   (long long)info.frames, info.samplerate);
  *frames = info.frames;
  *rate = info.samplerate;
  return TS_OK;
#else
  return err_set(e, TS_EUNSUP, "%s: built without audio support (TSASR_AUDIO=OFF)", path);
#endif
}

/* ---- walking the tree ---- */

typedef struct afent {
  char *rel;  /* relative path */
  char *stem; /* file name without extension */
  int64_t size, mtime_ns, frames;
  int rate;
  int used;
} afent;

typedef struct walk {
  const char *root;
  afent *audio;
  int64_t n_audio, cap_audio;
  char **trans;
  int n_trans, cap_trans;
} walk;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}
static int cmp_af_rel(const void *a, const void *b) {
  return strcmp(((const afent *)a)->rel, ((const afent *)b)->rel);
}

static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

static int walk_dir(walk *w, const char *rel, int depth, ts_err *e) {
  char dpath[8192];
  snprintf(dpath, sizeof dpath, "%s%s%s", w->root, rel[0] ? "/" : "", rel);
  DIR *d = opendir(dpath);
  if (!d) return err_set(e, TS_EIO, "%s: cannot open folder: %s", dpath, strerror(errno));
  char **names = NULL;
  int n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **nn = realloc(names, sizeof *nn * (size_t)cap);
      if (!nn) break;
      names = nn;
    }
    names[n++] = strdup(de->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  int rc = TS_OK;
  for (int i = 0; i < n && !rc; i++) {
    char r[8192], full[8192];
    snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
    snprintf(full, sizeof full, "%s/%s", w->root, r);
    struct stat st;
    if (stat(full, &st)) continue;
    if (S_ISDIR(st.st_mode)) {
      if (depth < CORPUS_MAX_DEPTH) rc = walk_dir(w, r, depth + 1, e);
    } else if (S_ISREG(st.st_mode)) {
      if (ends_with(names[i], ".trans.txt")) {
        if (w->n_trans == w->cap_trans) {
          w->cap_trans = w->cap_trans ? w->cap_trans * 2 : 64;
          char **nt = realloc(w->trans, sizeof *nt * (size_t)w->cap_trans);
          if (!nt) {
            rc = err_set(e, TS_ENOMEM, "corpus: out of memory");
            break;
          }
          w->trans = nt;
        }
        w->trans[w->n_trans++] = strdup(r);
      } else if (ends_with(names[i], ".flac") || ends_with(names[i], ".wav")) {
        if (w->n_audio == w->cap_audio) {
          w->cap_audio = w->cap_audio ? w->cap_audio * 2 : 256;
          afent *na = realloc(w->audio, sizeof *na * (size_t)w->cap_audio);
          if (!na) {
            rc = err_set(e, TS_ENOMEM, "corpus: out of memory");
            break;
          }
          w->audio = na;
        }
        afent *a = &w->audio[w->n_audio++];
        memset(a, 0, sizeof *a);
        a->rel = strdup(r);
        a->stem = strdup(names[i]);
        char *dot = strrchr(a->stem, '.');
        if (dot) *dot = 0;
        a->size = (int64_t)st.st_size;
        a->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        a->frames = -1;
      }
    }
  }
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

/* ---- cache ---- */

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static void cache_path(const char *root_real, const corpus_opts *o, char *out, size_t n) {
  const char *dir = o->cache_dir;
  char tmp[4096];
  if (!dir || !dir[0]) {
    const char *t = getenv("TSASR_CACHE");
    const char *x = getenv("XDG_CACHE_HOME");
    const char *h = getenv("HOME");
    if (t && t[0])
      dir = t;
    else if (x && x[0]) {
      snprintf(tmp, sizeof tmp, "%s/tsasr", x);
      dir = tmp;
    } else {
      snprintf(tmp, sizeof tmp, "%s/.cache/tsasr", h && h[0] ? h : "/tmp");
      dir = tmp;
    }
  }
  snprintf(out, n, "%s/corpus-%016llx.tsv", dir, (unsigned long long)fnv1a(root_real));
}

typedef struct centry {
  char *rel;
  int64_t size, mtime_ns, frames;
  int rate;
} centry;

static int cmp_ce(const void *a, const void *b) {
  return strcmp(((const centry *)a)->rel, ((const centry *)b)->rel);
}

/* Loads a cache; any problem just means "no cache" (logged at info level). */
static centry *cache_load(const char *path, const char *root_real, int64_t *n_out) {
  *n_out = 0;
  char *buf;
  size_t n;
  ts_err le = {0};
  if (afile_read(path, &buf, &n, &le)) return NULL;
  centry *ce = NULL;
  int64_t cnt = 0, cap = 0;
  char *save = NULL;
  char *line = strtok_r(buf, "\n", &save);
  char head[8400];
  snprintf(head, sizeof head, "%s\t%d\t%s", CORPUS_CACHE_MAGIC, CORPUS_CACHE_VERSION, root_real);
  if (!line || strcmp(line, head)) {
    log_info("%s: not a cache of %s (rebuilding)", path, root_real);
    free(buf);
    return NULL;
  }
  int ok = 1;
  while ((line = strtok_r(NULL, "\n", &save))) {
    char *f[5];
    int k = 0;
    char *p = line;
    f[k++] = p;
    while (k < 5 && (p = strchr(p, '\t'))) {
      *p++ = 0;
      f[k++] = p;
    }
    if (k != 5) {
      ok = 0;
      break;
    }
    if (cnt == cap) {
      cap = cap ? cap * 2 : 1024;
      centry *nc = realloc(ce, sizeof *nc * (size_t)cap);
      if (!nc) {
        ok = 0;
        break;
      }
      ce = nc;
    }
    centry *c = &ce[cnt++];
    c->rel = strdup(f[0]);
    c->size = strtoll(f[1], NULL, 10);
    c->mtime_ns = strtoll(f[2], NULL, 10);
    c->frames = strtoll(f[3], NULL, 10);
    c->rate = (int)strtol(f[4], NULL, 10);
  }
  free(buf);
  if (!ok) {
    log_info("%s: damaged cache (rebuilding)", path);
    for (int64_t i = 0; i < cnt; i++) free(ce[i].rel);
    free(ce);
    return NULL;
  }
  qsort(ce, (size_t)cnt, sizeof *ce, cmp_ce);
  *n_out = cnt;
  return ce;
}

static const centry *cache_find(const centry *ce, int64_t n, const char *rel) {
  int64_t lo = 0, hi = n - 1;
  while (lo <= hi) {
    int64_t mid = (lo + hi) / 2;
    int r = strcmp(ce[mid].rel, rel);
    if (!r) return &ce[mid];
    if (r < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return NULL;
}

static int cache_save(const char *path, const char *root_real, const afent *a, int64_t n,
                      ts_err *e) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *sl = strrchr(dir, '/');
  if (sl) {
    *sl = 0;
    int rc = afile_mkdirs(dir, e);
    if (rc) return rc;
  }
  afile f;
  int rc = afile_open(&f, path, e);
  if (rc) return rc;
  char line[8400];
  int len = snprintf(line, sizeof line, "%s\t%d\t%s\n", CORPUS_CACHE_MAGIC, CORPUS_CACHE_VERSION,
                     root_real);
  rc = afile_put(&f, line, (size_t)len, e);
  for (int64_t i = 0; i < n && !rc; i++) {
    if (a[i].frames < 0) continue;
    len = snprintf(line, sizeof line, "%s\t%lld\t%lld\t%lld\t%d\n", a[i].rel, (long long)a[i].size,
                   (long long)a[i].mtime_ns, (long long)a[i].frames, a[i].rate);
    rc = afile_put(&f, line, (size_t)len, e);
  }
  if (rc) {
    afile_abort(&f);
    return rc;
  }
  return afile_commit(&f, e);
}

/* ---- SPEAKERS.TXT ---- */

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *t = s + strlen(s);
  while (t > s && isspace((unsigned char)t[-1])) *--t = 0;
  return s;
}

static int read_speakers(corpus *c, const char *path, ts_err *e) {
  char *buf;
  size_t n;
  int rc = afile_read(path, &buf, &n, e);
  if (rc) return rc;
  int line = 0;
  char *p = buf;
  while (p && *p) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = 0;
    line++;
    char *l = trim(p);
    p = nl ? nl + 1 : NULL;
    if (!l[0] || l[0] == ';') continue;
    char *col[5] = {0};
    int k = 0;
    char *q = l;
    col[k++] = q;
    while (k < 5 && (q = strchr(q, '|'))) {
      *q++ = 0;
      col[k++] = q;
    }
    if (k < 2) {
      skip_note(c, "%s:%d: expected \"ID | SEX | SUBSET | MINUTES | NAME\"", path, line);
      continue;
    }
    char *id = trim(col[0]);
    char *sex = trim(col[1]);
    char g = man_gender_parse(sex);
    if (!id[0] || g == '?') {
      skip_note(c, "%s:%d: bad speaker id \"%s\" or sex \"%s\" (M or F)", path, line, id, sex);
      continue;
    }
    rc = corpus_add_speaker(c, id, g, k > 2 ? trim(col[2]) : NULL, e);
    if (rc) break;
    if (k > 4) {
      c->spks[c->n_spks - 1].name = strdup(trim(col[4]));
    }
  }
  free(buf);
  return rc;
}

/* ---- transcripts ---- */

static int valid_utt_id(const char *id, const char *spk, const char *chap) {
  size_t ls = strlen(spk), lc = strlen(chap);
  if (strncmp(id, spk, ls) || id[ls] != '-' || strncmp(id + ls + 1, chap, lc) ||
      id[ls + 1 + lc] != '-')
    return 0;
  const char *u = id + ls + 1 + lc + 1;
  if (!*u) return 0;
  for (; *u; u++)
    if (!isalnum((unsigned char)*u)) return 0;
  return 1;
}

int corpus_open(const char *root, const corpus_opts *opts, corpus *c, ts_err *e) {
  corpus_opts dflt;
  if (!opts) {
    corpus_opts_default(&dflt);
    opts = &dflt;
  }
  char real[4096];
  if (!realpath(root, real)) {
    memset(c, 0, sizeof *c);
    return err_set(e, TS_EIO, "%s: %s", root, strerror(errno));
  }
  corpus_init(c, real);
  walk w = {.root = real};
  int rc = walk_dir(&w, "", 0, e);
  if (rc) goto fail;
  qsort(w.audio, (size_t)w.n_audio, sizeof *w.audio, cmp_af_rel);

  /* SPEAKERS.TXT in root or up to two parents */
  {
    char cand[4200];
    snprintf(cand, sizeof cand, "%s", real);
    for (int up = 0; up < 3; up++) {
      char f[4300];
      snprintf(f, sizeof f, "%s/SPEAKERS.TXT", cand);
      struct stat st;
      if (!stat(f, &st) && S_ISREG(st.st_mode)) {
        c->speakers_txt = strdup(f);
        break;
      }
      char *sl = strrchr(cand, '/');
      if (!sl || sl == cand) break;
      *sl = 0;
    }
    if (c->speakers_txt && (rc = read_speakers(c, c->speakers_txt, e))) goto fail;
    if (!c->speakers_txt) log_info("%s: no SPEAKERS.TXT: genders unknown", real);
  }

  /* cache */
  char cpath[8400];
  cache_path(real, opts, cpath, sizeof cpath);
  int64_t n_ce = 0;
  centry *ce = opts->no_cache ? NULL : cache_load(cpath, real, &n_ce);

  c->trans_files = calloc((size_t)(w.n_trans ? w.n_trans : 1), sizeof *c->trans_files);
  if (!c->trans_files) {
    rc = err_set(e, TS_ENOMEM, "corpus: out of memory");
    goto fail_ce;
  }
  int changed = 0;
  for (int t = 0; t < w.n_trans; t++) {
    char tpath[8400];
    snprintf(tpath, sizeof tpath, "%s/%s", real, w.trans[t]);
    c->trans_files[c->n_trans++] = strdup(tpath);
    /* SPEAKER-CHAPTER from the file name, folder of the transcript */
    char dir[8192], spk[256] = "", chap[256] = "";
    snprintf(dir, sizeof dir, "%s", w.trans[t]);
    char *sl = strrchr(dir, '/');
    const char *fname = sl ? sl + 1 : dir;
    if (sl)
      *sl = 0;
    else
      dir[0] = 0;
    if (sscanf(fname, "%255[^-]-%255[^.]", spk, chap) != 2) {
      skip_note(c, "%s: transcript name is not SPEAKER-CHAPTER.trans.txt", tpath);
      continue;
    }
    char *buf;
    size_t n;
    ts_err le = {0};
    if (afile_read(tpath, &buf, &n, &le)) {
      skip_note(c, "%s", le.msg);
      continue;
    }
    int line = 0;
    char *p = buf;
    while (p && *p) {
      char *nl = strchr(p, '\n');
      if (nl) *nl = 0;
      line++;
      char *l = trim(p);
      p = nl ? nl + 1 : NULL;
      if (!l[0]) continue;
      char *sp = l;
      while (*sp && !isspace((unsigned char)*sp)) sp++;
      char *text = "";
      if (*sp) {
        *sp = 0;
        text = trim(sp + 1);
      }
      if (!valid_utt_id(l, spk, chap)) {
        skip_note(c, "%s:%d: utterance id \"%s\" is not %s-%s-NNNN", tpath, line, l, spk, chap);
        continue;
      }
      if (!text[0]) {
        skip_note(c, "%s:%d: %s has no text", tpath, line, l);
        continue;
      }
      /* the audio file: same folder, stem == id */
      afent *a = NULL;
      for (int ext = 0; ext < 2 && !a; ext++) {
        char rel[8400];
        snprintf(rel, sizeof rel, "%s%s%s%s", dir, dir[0] ? "/" : "", l, ext ? ".wav" : ".flac");
        afent key = {.rel = rel};
        a = bsearch(&key, w.audio, (size_t)w.n_audio, sizeof *w.audio, cmp_af_rel);
      }
      if (!a) {
        skip_note(c, "%s:%d: no audio file %s.flac or .wav beside the transcript", tpath, line, l);
        continue;
      }
      a->used = 1;
      char apath[8400];
      snprintf(apath, sizeof apath, "%s/%s", real, a->rel);
      if (a->frames < 0) {
        const centry *hit = ce ? cache_find(ce, n_ce, a->rel) : NULL;
        if (hit && hit->size == a->size && hit->mtime_ns == a->mtime_ns) {
          a->frames = hit->frames;
          a->rate = hit->rate;
        } else {
          ts_err pe = {0};
          int prc = corpus_probe_audio(apath, &a->frames, &a->rate, &pe);
          if (prc == TS_EUNSUP) {
            a->frames = -1;
            a->rate = 0;
          } else if (prc) {
            skip_note(c, "%s:%d: %s", tpath, line, pe.msg);
            a->frames = -2; /* unreadable: stays out of the cache */
            continue;
          } else {
            c->n_probed++;
            changed = 1;
          }
        }
      }
      if (a->frames == -2) {
        skip_note(c, "%s:%d: %s: unreadable audio", tpath, line, apath);
        continue;
      }
      if (opts->rate > 0 && a->rate > 0 && a->rate != opts->rate) {
        skip_note(c, "%s:%d: %s: sample rate %d Hz, expected %d Hz", tpath, line, apath, a->rate,
                  opts->rate);
        continue;
      }
      double dur = (a->frames >= 0 && a->rate > 0) ? (double)a->frames / a->rate : NAN;
      if (!isnan(dur) && ((opts->min_dur > 0 && dur < opts->min_dur) ||
                          (opts->max_dur > 0 && dur > opts->max_dur))) {
        c->n_short++;
        continue;
      }
      rc = add_utt_full(c, l, spk, apath, text, a->frames, a->rate, c->n_trans - 1, line, e);
      if (rc) {
        free(buf);
        goto fail_ce;
      }
    }
    free(buf);
  }
  for (int64_t i = 0; i < w.n_audio; i++)
    if (!w.audio[i].used) skip_note(c, "%s/%s: audio file without a transcript line", real, w.audio[i].rel);

  /* subset from the folder when SPEAKERS.TXT did not say (ROOT/SUBSET/SPK/CHAP/x) */
  rc = corpus_finish(c, e);
  if (rc) goto fail_ce;
  for (int i = 0; i < c->n_spks; i++) {
    corpus_spk *s = &c->spks[i];
    if (s->gender == '?')
      log_warn("%s: speaker %s is not in %s: gender unknown", real, s->id,
               c->speakers_txt ? c->speakers_txt : "SPEAKERS.TXT");
    if (!s->subset && s->n_utts > 0) {
      const char *rel = c->utts[s->utts[0]].path + strlen(real) + 1;
      int slashes = 0;
      for (const char *q = rel; *q; q++) slashes += *q == '/';
      if (slashes >= 3) {
        s->subset = strndup(rel, (size_t)(strchr(rel, '/') - rel));
      }
    }
  }
  /* write the cache when anything differs from what it held */
  if (!opts->no_cache) {
    int64_t n_cacheable = 0;
    for (int64_t i = 0; i < w.n_audio; i++) n_cacheable += w.audio[i].frames >= 0;
    if (!changed && n_cacheable != n_ce) changed = 1;
    if (changed) {
      ts_err ce_err = {0};
      if (cache_save(cpath, real, w.audio, w.n_audio, &ce_err))
        log_warn("corpus cache not written: %s", ce_err.msg);
      else
        c->cache_written = 1;
    }
  }
  rc = TS_OK;
fail_ce:
  for (int64_t i = 0; i < n_ce; i++) free(ce[i].rel);
  free(ce);
fail:
  for (int64_t i = 0; i < w.n_audio; i++) {
    free(w.audio[i].rel);
    free(w.audio[i].stem);
  }
  free(w.audio);
  for (int i = 0; i < w.n_trans; i++) free(w.trans[i]);
  free(w.trans);
  if (rc) corpus_free(c);
  return rc;
}
