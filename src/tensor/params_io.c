/* params_io.c — safetensors load/save of parameter sets (see params_io.h). */
#include "tensor/params_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pio_shape_str(const int64_t *ne, int nd, char *buf, size_t n) {
  size_t off = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < nd && off < n; i++) off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)ne[i]);
  if (off < n) snprintf(buf + off, n - off, "]");
  return 0;
}

int pset_load_st(pset *ps, const st_file *f, const char *file_prefix, const char *ps_prefix, int *loaded,
                 int *unused, ts_err *e) {
  size_t lp = strlen(ps_prefix);
  int nl = 0;
  char name[512];
  if (!ps->w) return err_set(e, TS_EARG, "%s: parameter set not allocated", f->name);
  for (int i = 0; i < ps->n; i++) {
    const pview *v = &ps->v[i];
    if (strncmp(v->name, ps_prefix, lp)) continue;
    snprintf(name, sizeof name, "%s%s", file_prefix, v->name + lp);
    const st_tensor *t = st_find(f, name);
    if (!t) return err_set(e, TS_EFORMAT, "%s: tensor %s is missing (needed for %s)", f->name, name, v->name);
    int same = t->ndim == v->ndim;
    for (int d = 0; same && d < v->ndim; d++) same = t->shape[d] == v->ne[d];
    if (!same) {
      char a[128], b[128];
      pio_shape_str(t->shape, t->ndim, a, sizeof a);
      pio_shape_str(v->ne, v->ndim, b, sizeof b);
      return err_set(e, TS_ESHAPE, "%s: tensor %s has shape %s, the model's config needs %s", f->name, name, a, b);
    }
    if (ps->be->device == DEV_CPU) {
      int rc = st_read_f32(f, t, ps->w + v->off, v->n, e);
      if (rc) return rc;
    } else {
      float *tmp = malloc(sizeof(float) * (size_t)v->n);
      if (!tmp) return err_set(e, TS_ENOMEM, "%s: out of memory reading %s", f->name, name);
      int rc = st_read_f32(f, t, tmp, v->n, e);
      if (!rc) rc = ps->be->ops->to_device(ps->be, ps->w + v->off, tmp, sizeof(float) * (size_t)v->n, e);
      free(tmp);
      if (rc) return rc;
    }
    nl++;
  }
  if (loaded) *loaded = nl;
  if (unused) {
    size_t lf = strlen(file_prefix);
    int nu = 0;
    for (int i = 0; i < f->n_tensors; i++) {
      const char *tn = f->tensors[i].name;
      if (strncmp(tn, file_prefix, lf)) {
        nu++;
        continue;
      }
      snprintf(name, sizeof name, "%s%s", ps_prefix, tn + lf);
      if (pset_find(ps, name) < 0) nu++;
    }
    *unused = nu;
  }
  return TS_OK;
}

int pset_load_file(pset *ps, const char *path, const char *file_prefix, const char *ps_prefix, ts_err *e) {
  st_file *f;
  int rc = st_open(path, &f, e);
  if (rc) return rc;
  rc = pset_load_st(ps, f, file_prefix, ps_prefix, NULL, NULL, e);
  st_close(f);
  return rc;
}

static int pio_save(const pset *ps, const float *buf, const char *path, const char *name_prefix, int as_bf16,
                    const st_kv *meta, int n_meta, ts_err *e) {
  st_entry *ent = calloc((size_t)(ps->n ? ps->n : 1), sizeof(st_entry));
  char **names = calloc((size_t)(ps->n ? ps->n : 1), sizeof(char *));
  float *host = NULL;
  uint16_t *half = NULL;
  int rc = TS_OK;
  if (!ent || !names) {
    rc = err_set(e, TS_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  const float *src = buf;
  if (ps->be->device != DEV_CPU) {
    host = malloc(sizeof(float) * (size_t)(ps->total ? ps->total : 1));
    if (!host) {
      rc = err_set(e, TS_ENOMEM, "%s: out of memory", path);
      goto done;
    }
    if ((rc = ps->be->ops->to_host(ps->be, host, buf, sizeof(float) * (size_t)ps->total, e))) goto done;
    src = host;
  }
  if (as_bf16) {
    half = malloc(sizeof(uint16_t) * (size_t)(ps->total ? ps->total : 1));
    if (!half) {
      rc = err_set(e, TS_ENOMEM, "%s: out of memory", path);
      goto done;
    }
    dtype_from_f32(DT_BF16, src, half, ps->total);
  }
  for (int i = 0; i < ps->n; i++) {
    const pview *v = &ps->v[i];
    size_t ln = strlen(name_prefix) + strlen(v->name) + 1;
    names[i] = malloc(ln);
    if (!names[i]) {
      rc = err_set(e, TS_ENOMEM, "%s: out of memory", path);
      goto done;
    }
    snprintf(names[i], ln, "%s%s", name_prefix, v->name);
    ent[i].name = names[i];
    ent[i].dtype = as_bf16 ? DT_BF16 : DT_F32;
    ent[i].ndim = v->ndim;
    for (int d = 0; d < v->ndim; d++) ent[i].shape[d] = v->ne[d];
    ent[i].data = as_bf16 ? (const void *)(half + v->off) : (const void *)(src + v->off);
  }
  rc = st_write(path, ent, ps->n, meta, n_meta, e);
done:
  if (names)
    for (int i = 0; i < ps->n; i++) free(names[i]);
  free(names);
  free(ent);
  free(host);
  free(half);
  return rc;
}

int pset_save_file(const pset *ps, const char *path, int as_bf16, const st_kv *meta, int n_meta, ts_err *e) {
  return pio_save(ps, ps->w, path, "", as_bf16, meta, n_meta, e);
}

int pset_save_buffer(const pset *ps, const float *buf, const char *path, const char *name_prefix, ts_err *e) {
  return pio_save(ps, buf, path, name_prefix, 0, NULL, 0, e);
}

int pset_load_buffer(const pset *ps, float *buf, const char *path, const char *name_prefix, ts_err *e) {
  pset tmp = *ps; /* same views, pointed at buf */
  tmp.w = buf;
  return pset_load_file(&tmp, path, name_prefix, "", e);
}
