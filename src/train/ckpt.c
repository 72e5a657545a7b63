/* ckpt.c — crash-safe checkpoints (see ckpt.h). */
#include "train/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "tensor/params_io.h"

static int ckpt_rmtree(const char *path) {
  DIR *d = opendir(path);
  if (!d) return unlink(path);
  struct dirent *de;
  char p[4400];
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", path, de->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      ckpt_rmtree(p);
    else
      unlink(p);
  }
  closedir(d);
  return rmdir(path);
}

static int ckpt_cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

/* the steps of the checkpoint-N entries of run_dir, sorted ascending (at most max); -1 when the
 * directory cannot be read */
static int ckpt_list(const char *run_dir, long long *steps, int max) {
  DIR *d = opendir(run_dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) && n < max) {
    long long s;
    char tail;
    if (sscanf(de->d_name, "checkpoint-%lld%c", &s, &tail) == 1) steps[n++] = s;
  }
  closedir(d);
  qsort(steps, (size_t)n, sizeof steps[0], ckpt_cmp_ll);
  return n;
}

/* removes checkpoint-N directories older than the newest `keep` (never `current`) */
static void ckpt_prune(const char *run_dir, long long current, int keep) {
  long long steps[4096];
  int n = ckpt_list(run_dir, steps, 4096);
  char p[4400];
  if (n < 0) return;
  for (int i = 0; i < n - keep; i++) {
    if (steps[i] == current) continue;
    snprintf(p, sizeof p, "%s/checkpoint-%lld", run_dir, steps[i]);
    ckpt_rmtree(p);
  }
}

/* AdamW moments of every tensor as "m.NAME" and "v.NAME" in one safetensors file. */
static int ckpt_save_moments(const pset *ps, const char *path, ts_err *e) {
  size_t bytes = sizeof(float) * (size_t)(ps->total ? ps->total : 1);
  float *hm = malloc(bytes), *hv = malloc(bytes);
  st_entry *ent = calloc((size_t)(2 * ps->n + 1), sizeof(st_entry));
  char **names = calloc((size_t)(2 * ps->n + 1), sizeof(char *));
  int rc = (!hm || !hv || !ent || !names) ? err_set(e, TS_ENOMEM, "%s: out of memory", path) : TS_OK;
  if (!rc) rc = ps->be->ops->to_host(ps->be, hm, ps->m, sizeof(float) * (size_t)ps->total, e);
  if (!rc) rc = ps->be->ops->to_host(ps->be, hv, ps->s, sizeof(float) * (size_t)ps->total, e);
  for (int i = 0; !rc && i < 2 * ps->n; i++) {
    const pview *v = &ps->v[i % ps->n];
    size_t ln = strlen(v->name) + 3;
    if (!(names[i] = malloc(ln))) {
      rc = err_set(e, TS_ENOMEM, "%s: out of memory", path);
      break;
    }
    snprintf(names[i], ln, "%s%s", i < ps->n ? "m." : "v.", v->name);
    ent[i].name = names[i];
    ent[i].dtype = DT_F32;
    ent[i].ndim = v->ndim;
    for (int d = 0; d < v->ndim; d++) ent[i].shape[d] = v->ne[d];
    ent[i].data = (i < ps->n ? hm : hv) + v->off;
  }
  if (!rc) rc = st_write(path, ent, 2 * ps->n, NULL, 0, e);
  if (names)
    for (int i = 0; i < 2 * ps->n; i++) free(names[i]);
  free(names);
  free(ent);
  free(hm);
  free(hv);
  return rc;
}

int ckpt_save(const char *run_dir, long long step, const pset *ps, const cJSON *state, ckpt_save_model_fn save_model,
              void *user, int keep, ts_err *e) {
  char dir[4200], p[4400];
  snprintf(dir, sizeof dir, "%s/checkpoint-%lld", run_dir, step);
  ckpt_rmtree(dir); /* a half-written one from a crash at this step */
  int rc = afile_mkdirs(dir, e);
  if (!rc && save_model) rc = save_model(user, dir, e);
  if (!rc && ps->m && ps->s) {
    snprintf(p, sizeof p, "%s/trainer_state.safetensors", dir);
    rc = ckpt_save_moments(ps, p, e);
  }
  if (!rc) {
    snprintf(p, sizeof p, "%s/trainer_state.json", dir);
    rc = jsonx_save(p, state, e);
  }
  if (!rc) { /* publish */
    char name[64];
    int len = snprintf(name, sizeof name, "checkpoint-%lld\n", step);
    snprintf(p, sizeof p, "%s/latest", run_dir);
    rc = afile_write(p, name, (size_t)len, e);
  }
  if (!rc && keep > 0) ckpt_prune(run_dir, step, keep);
  return rc;
}

int ckpt_find(const char *run_dir, char *dir, size_t n, int *found, ts_err *e) {
  char p[4200], *buf;
  size_t len;
  struct stat st;
  *found = 0;
  if (stat(run_dir, &st) != 0) { /* a new run; any other failure (I/O, permissions) is no proof of one */
    if (errno == ENOENT) return TS_OK;
    return err_set(e, TS_EIO, "%s: cannot read the run directory: %s", run_dir, strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return err_set(e, TS_EARG, "%s: the run path exists and is not a directory", run_dir);
  snprintf(p, sizeof p, "%s/latest", run_dir);
  if (lstat(p, &st) != 0) { /* never published, or removed: the newest complete checkpoint */
    if (errno != ENOENT) return err_set(e, TS_EIO, "%s: %s", p, strerror(errno));
    long long steps[4096];
    int ns = ckpt_list(run_dir, steps, 4096);
    if (ns < 0) return err_set(e, TS_EIO, "%s: cannot list the run directory: %s", run_dir, strerror(errno));
    for (int i = ns - 1; i >= 0; i--) {
      snprintf(dir, n, "%s/checkpoint-%lld", run_dir, steps[i]);
      char q[4500];
      snprintf(q, sizeof q, "%s/trainer_state.json", dir); /* written last */
      if (stat(q, &st) == 0 && S_ISREG(st.st_mode)) {
        log_warn("%s is missing: taking the newest complete checkpoint, %s", p, dir);
        *found = 1;
        return TS_OK;
      }
    }
    return TS_OK; /* only half-written ones (a crash before the first publish) */
  }
  /* latest exists: it must name a checkpoint of this run; never start over past a damaged one */
  const char *fix = "fix it to name a checkpoint-N directory of the run, or pass --fresh to start over";
  if (!S_ISREG(st.st_mode)) return err_set(e, TS_EFORMAT, "%s: not a regular file; %s", p, fix);
  int rc = afile_read(p, &buf, &len, e);
  if (rc) return rc;
  while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ')) buf[--len] = 0;
  long long step;
  char tail;
  if (!len || strlen(buf) != len || sscanf(buf, "checkpoint-%lld%c", &step, &tail) != 1 || step < 0) {
    free(buf);
    return err_set(e, TS_EFORMAT, "%s: malformed (expected \"checkpoint-N\"); %s", p, fix);
  }
  snprintf(dir, n, "%s/%s", run_dir, buf);
  free(buf);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return err_set(e, TS_EFORMAT, "%s: names %s, which is missing or not a directory; %s", p, dir, fix);
  *found = 1;
  return TS_OK;
}

int ckpt_latest(const char *run_dir, char *dir, size_t n, ts_err *e) {
  int found = 0, rc = ckpt_find(run_dir, dir, n, &found, e);
  if (!rc && !found) rc = err_set(e, TS_EIO, "%s: no checkpoint to resume from", run_dir);
  return rc;
}

int ckpt_load_state(const char *ckpt_dir, pset *ps, cJSON **state, ts_err *e) {
  char p[4400];
  int rc = TS_OK;
  if (state) *state = NULL;
  if (ps->m && ps->s) {
    snprintf(p, sizeof p, "%s/trainer_state.safetensors", ckpt_dir);
    rc = pset_load_buffer(ps, ps->m, p, "m.", e);
    if (!rc) rc = pset_load_buffer(ps, ps->s, p, "v.", e);
  }
  snprintf(p, sizeof p, "%s/trainer_state.json", ckpt_dir);
  if (!rc && state) rc = jsonx_load(p, state, e);
  return rc;
}
