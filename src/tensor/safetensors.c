/* safetensors.c — validating safetensors reader (mmap or memory) and atomic writer. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/afile.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

/* Largest integer a JSON number (a double in cJSON) holds exactly. */
#define ST_MAX_JSON_INT 9007199254740992.0

static const struct {
  const char *name;
  int bits;
} st_dtypes[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 8},
    [ST_U8] = {"U8", 8},
    [ST_I8] = {"I8", 8},
    [ST_F8_E5M2] = {"F8_E5M2", 8},
    [ST_F8_E4M3] = {"F8_E4M3", 8},
    [ST_F8_E8M0] = {"F8_E8M0", 8},
    [ST_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
    [ST_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
    [ST_I16] = {"I16", 16},
    [ST_U16] = {"U16", 16},
    [ST_F16] = {"F16", 16},
    [ST_BF16] = {"BF16", 16},
    [ST_I32] = {"I32", 32},
    [ST_U32] = {"U32", 32},
    [ST_F32] = {"F32", 32},
    [ST_C64] = {"C64", 64},
    [ST_F64] = {"F64", 64},
    [ST_I64] = {"I64", 64},
    [ST_U64] = {"U64", 64},
    [ST_F4] = {"F4", 4},
    [ST_F6_E2M3] = {"F6_E2M3", 6},
    [ST_F6_E3M2] = {"F6_E3M2", 6},
};

const char *st_dtype_name(st_dtype d) {
  return ((unsigned)d < ST_DTYPE_COUNT) ? st_dtypes[d].name : "?";
}

int st_dtype_bits(st_dtype d) { return ((unsigned)d < ST_DTYPE_COUNT) ? st_dtypes[d].bits : 0; }

int st_dtype_parse(const char *s, st_dtype *out) {
  for (int i = 0; i < ST_DTYPE_COUNT; i++)
    if (!strcmp(s, st_dtypes[i].name)) {
      *out = (st_dtype)i;
      return 0;
    }
  return -1;
}

int st_dtype_to_ts(st_dtype d, ts_dtype *out) {
  switch (d) {
    case ST_F32: *out = DT_F32; return 0;
    case ST_BF16: *out = DT_BF16; return 0;
    case ST_F16: *out = DT_F16; return 0;
    case ST_I32: *out = DT_I32; return 0;
    default: return -1;
  }
}

/* ---- helpers ---- */

/* Offset of the first byte that breaks UTF-8 (or is NUL) in s[0..n), or n if all is well. */
static size_t st_utf8_check(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c == 0) return i;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return n;
}

/* A printable, bounded copy of a name from an untrusted file, for messages. */
static const char *st_show(const char *s, char *buf, size_t n) {
  size_t j = 0, i = 0;
  const size_t keep = n > 4 ? n - 4 : 0;
  for (; s[i] && j < keep; i++) {
    unsigned char c = (unsigned char)s[i];
    buf[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  if (s[i] && n >= 4) {
    memcpy(buf + j, "...", 3);
    j += 3;
  }
  buf[j < n ? j : n - 1] = 0;
  return buf;
}

static const char *st_shape_str(const int64_t *shape, int ndim, char *buf, size_t n) {
  size_t off = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < ndim && off < n; i++)
    off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (off < n) snprintf(buf + off, n - off, "]");
  return buf;
}

/* A JSON number that is a whole number in [0, 2^53]. */
static int st_json_uint(const cJSON *it, uint64_t *out) {
  if (!cJSON_IsNumber(it)) return -1;
  double v = it->valuedouble;
  if (!(v >= 0.0) || v > ST_MAX_JSON_INT || v != (double)(uint64_t)v) return -1;
  *out = (uint64_t)v;
  return 0;
}

void st_close(st_file *f) {
  if (!f) return;
  if (f->mapped && f->base) munmap((void *)f->base, f->size);
  if (f->json) cJSON_Delete((cJSON *)f->json);
  free(f->tensors);
  free(f->by_name);
  free(f->meta);
  free(f->name);
  free(f);
}

/* ---- parsing ---- */

static int st_cmp_offset(const void *a, const void *b) {
  const st_tensor *x = a, *y = b;
  if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
  if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
  return 0;
}

static int st_cmp_name(const void *a, const void *b, void *ctx) {
  const st_tensor *t = ctx;
  return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

static int st_parse_meta(st_file *f, const cJSON *m, ts_err *e) {
  char sb[160];
  if (!cJSON_IsObject(m))
    return err_set(e, TS_EFORMAT, "%s: \"__metadata__\" is not an object", f->name);
  int n = cJSON_GetArraySize(m);
  f->meta = calloc((size_t)(n > 0 ? n : 1), sizeof *f->meta);
  if (!f->meta) return err_set(e, TS_ENOMEM, "%s: out of memory", f->name);
  for (const cJSON *it = m->child; it; it = it->next) {
    if (!cJSON_IsString(it) || !it->valuestring)
      return err_set(e, TS_EFORMAT, "%s: \"__metadata__\" value of \"%s\" is not a string", f->name,
                     st_show(it->string ? it->string : "", sb, sizeof sb));
    f->meta[f->n_meta].key = it->string ? it->string : "";
    f->meta[f->n_meta].val = it->valuestring;
    f->n_meta++;
  }
  return TS_OK;
}

/* Fills t from one header entry; data_size bounds the offsets. */
static int st_parse_entry(st_file *f, const cJSON *it, uint64_t data_start, uint64_t data_size,
                          st_tensor *t, ts_err *e) {
  char sb[160], shp[256];
  const char *nm = st_show(it->string, sb, sizeof sb);
  t->name = it->string;
  if (!cJSON_IsObject(it))
    return err_set(e, TS_EFORMAT, "%s: tensor \"%s\": entry is not an object", f->name, nm);

  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
  if (!dt) return err_set(e, TS_EFORMAT, "%s: tensor \"%s\": missing \"dtype\"", f->name, nm);
  if (!cJSON_IsString(dt) || !dt->valuestring)
    return err_set(e, TS_EFORMAT, "%s: tensor \"%s\": \"dtype\" is not a string", f->name, nm);
  if (st_dtype_parse(dt->valuestring, &t->dtype) != 0) {
    char db[64];
    return err_set(e, TS_EFORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"", f->name, nm,
                   st_show(dt->valuestring, db, sizeof db));
  }

  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
  if (!sh) return err_set(e, TS_EFORMAT, "%s: tensor \"%s\": missing \"shape\"", f->name, nm);
  if (!cJSON_IsArray(sh))
    return err_set(e, TS_EFORMAT, "%s: tensor \"%s\": \"shape\" is not a list", f->name, nm);
  int nd = cJSON_GetArraySize(sh);
  if (nd > ST_MAX_DIMS)
    return err_set(e, TS_EUNSUP, "%s: tensor \"%s\": shape has %d dimensions, more than %d",
                   f->name, nm, nd, ST_MAX_DIMS);
  t->ndim = 0;
  uint64_t numel = 1;
  int overflow = 0;
  for (const cJSON *d = sh->child; d; d = d->next) {
    uint64_t v;
    if (st_json_uint(d, &v) != 0)
      return err_set(e, TS_EFORMAT,
                     "%s: tensor \"%s\": shape entry %d is not a non-negative integer", f->name,
                     nm, t->ndim);
    t->shape[t->ndim++] = (int64_t)v;
    if (__builtin_mul_overflow(numel, v, &numel) || numel > (uint64_t)INT64_MAX) overflow = 1;
  }
  /* A zero dimension makes the product 0 whatever the others are; the reference still rejects
   * a product that overflows on the way, and so do we. */
  if (overflow)
    return err_set(e, TS_EFORMAT, "%s: tensor \"%s\": shape %s: element count overflows",
                   f->name, nm, st_shape_str(t->shape, t->ndim, shp, sizeof shp));
  uint64_t bits;
  if (__builtin_mul_overflow(numel, (uint64_t)st_dtype_bits(t->dtype), &bits))
    return err_set(e, TS_EFORMAT, "%s: tensor \"%s\": shape %s: byte size overflows", f->name, nm,
                   st_shape_str(t->shape, t->ndim, shp, sizeof shp));
  if (bits % 8)
    return err_set(e, TS_EFORMAT,
                   "%s: tensor \"%s\": %llu elements of %s do not fill whole bytes", f->name, nm,
                   (unsigned long long)numel, st_dtype_name(t->dtype));
  t->numel = (int64_t)numel;
  uint64_t need = bits / 8;

  const cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
  if (!off)
    return err_set(e, TS_EFORMAT, "%s: tensor \"%s\": missing \"data_offsets\"", f->name, nm);
  uint64_t b, en;
  if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || st_json_uint(off->child, &b) != 0 ||
      st_json_uint(off->child->next, &en) != 0)
    return err_set(e, TS_EFORMAT,
                   "%s: tensor \"%s\": \"data_offsets\" is not a list of two non-negative integers",
                   f->name, nm);
  if (b > en)
    return err_set(e, TS_EFORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu]: begin > end",
                   f->name, nm, (unsigned long long)b, (unsigned long long)en);
  if (en > data_size)
    return err_set(e, TS_EFORMAT,
                   "%s: tensor \"%s\": data_offsets [%llu, %llu] out of range: the data section "
                   "has %llu bytes",
                   f->name, nm, (unsigned long long)b, (unsigned long long)en,
                   (unsigned long long)data_size);
  if (en - b != need)
    return err_set(e, TS_EFORMAT,
                   "%s: tensor \"%s\": size mismatch: data_offsets span %llu bytes but %s %s "
                   "needs %llu",
                   f->name, nm, (unsigned long long)(en - b), st_dtype_name(t->dtype),
                   st_shape_str(t->shape, t->ndim, shp, sizeof shp), (unsigned long long)need);
  t->nbytes = (size_t)need;
  t->offset = data_start + b;
  t->data = f->base + t->offset;
  return TS_OK;
}

/* Validates f->base[0..f->size) and fills the tables of f. */
static int st_parse(st_file *f, ts_err *e) {
  char sb[160], sb2[160];
  if (f->size < 8)
    return err_set(e, TS_EFORMAT, "%s: file is %zu bytes, shorter than the 8-byte header length",
                   f->name, f->size);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->base[i];
  if (hlen > ST_MAX_HEADER)
    return err_set(e, TS_EFORMAT, "%s: header length %llu exceeds the limit of %llu bytes",
                   f->name, (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER);
  if (hlen > f->size - 8)
    return err_set(e, TS_EFORMAT,
                   "%s: header length %llu runs past the end of the file (%zu bytes)", f->name,
                   (unsigned long long)hlen, f->size);
  f->header_len = hlen;
  const uint8_t *h = f->base + 8;
  size_t bad = st_utf8_check(h, (size_t)hlen);
  if (bad < hlen && h[bad] == 0)
    return err_set(e, TS_EFORMAT, "%s: header contains a NUL byte (byte %zu of the header)",
                   f->name, bad);
  if (bad < hlen)
    return err_set(e, TS_EFORMAT, "%s: header is not valid UTF-8 text (byte %zu of the header)",
                   f->name, bad);

  /* cJSON gets a NUL-terminated copy, so it cannot run past the header whatever it does. */
  char *txt = malloc((size_t)hlen + 1);
  if (!txt) return err_set(e, TS_ENOMEM, "%s: out of memory for a %llu-byte header", f->name,
                           (unsigned long long)hlen);
  memcpy(txt, h, (size_t)hlen);
  txt[hlen] = 0;
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithOpts(txt, &end, 0);
  if (!j) {
    long at = end ? (long)(end - txt) : -1;
    free(txt);
    return err_set(e, TS_EFORMAT, "%s: header is not valid JSON (near byte %ld of the header)",
                   f->name, at);
  }
  size_t rest = (size_t)(end - txt);
  while (rest < hlen && (txt[rest] == ' ' || txt[rest] == '\t' || txt[rest] == '\n' ||
                         txt[rest] == '\r'))
    rest++;
  free(txt);
  f->json = j;
  if (rest < hlen)
    return err_set(e, TS_EFORMAT,
                   "%s: header is not valid JSON: trailing bytes after the JSON value (byte %zu)",
                   f->name, rest);
  if (!cJSON_IsObject(j)) return err_set(e, TS_EFORMAT, "%s: header is not a JSON object", f->name);

  const uint64_t data_start = 8 + hlen, data_size = f->size - data_start;
  int n = 0;
  const cJSON *meta = NULL;
  for (const cJSON *it = j->child; it; it = it->next) {
    if (!it->string) return err_set(e, TS_EFORMAT, "%s: header entry without a name", f->name);
    if (!strcmp(it->string, "__metadata__")) {
      if (meta) return err_set(e, TS_EFORMAT, "%s: duplicate \"__metadata__\"", f->name);
      meta = it;
    } else {
      n++;
    }
  }
  if (meta) {
    int rc = st_parse_meta(f, meta, e);
    if (rc) return rc;
  }
  f->tensors = calloc((size_t)(n > 0 ? n : 1), sizeof *f->tensors);
  f->by_name = calloc((size_t)(n > 0 ? n : 1), sizeof *f->by_name);
  if (!f->tensors || !f->by_name) return err_set(e, TS_ENOMEM, "%s: out of memory", f->name);
  int k = 0;
  for (const cJSON *it = j->child; it; it = it->next) {
    if (it == meta) continue;
    if (!it->string[0])
      return err_set(e, TS_EFORMAT, "%s: empty tensor name (header entry %d)", f->name, k);
    int rc = st_parse_entry(f, it, data_start, data_size, &f->tensors[k], e);
    if (rc) return rc;
    k++;
  }
  f->n_tensors = n;

  /* Names: unique (a JSON object may repeat a key; cJSON keeps both). */
  for (int i = 0; i < n; i++) f->by_name[i] = i;
  qsort_r(f->by_name, (size_t)n, sizeof *f->by_name, st_cmp_name, f->tensors);
  for (int i = 1; i < n; i++)
    if (!strcmp(f->tensors[f->by_name[i]].name, f->tensors[f->by_name[i - 1]].name))
      return err_set(e, TS_EFORMAT, "%s: duplicate tensor name \"%s\"", f->name,
                     st_show(f->tensors[f->by_name[i]].name, sb, sizeof sb));

  /* Layout: the tensors tile the data section exactly. */
  qsort(f->tensors, (size_t)n, sizeof *f->tensors, st_cmp_offset);
  uint64_t pos = data_start;
  const st_tensor *prev = NULL;
  for (int i = 0; i < n; i++) {
    const st_tensor *t = &f->tensors[i];
    if (t->offset < pos)
      return err_set(e, TS_EFORMAT,
                     "%s: tensors \"%s\" and \"%s\" overlap (data bytes [%llu, %llu) and "
                     "[%llu, %llu))",
                     f->name, st_show(prev->name, sb, sizeof sb), st_show(t->name, sb2, sizeof sb2),
                     (unsigned long long)(prev->offset - data_start),
                     (unsigned long long)(prev->offset - data_start + prev->nbytes),
                     (unsigned long long)(t->offset - data_start),
                     (unsigned long long)(t->offset - data_start + t->nbytes));
    if (t->offset > pos)
      return err_set(e, TS_EFORMAT,
                     "%s: gap of %llu unused bytes in the data section before tensor \"%s\"",
                     f->name, (unsigned long long)(t->offset - pos), st_show(t->name, sb, sizeof sb));
    pos = t->offset + t->nbytes;
    prev = t;
  }
  if (pos != f->size)
    return err_set(e, TS_EFORMAT,
                   "%s: %llu trailing bytes after the last tensor: the data section is not "
                   "fully covered",
                   f->name, (unsigned long long)(f->size - pos));
  /* by_name held indices into the header order; redo it for the offset order. */
  for (int i = 0; i < n; i++) f->by_name[i] = i;
  qsort_r(f->by_name, (size_t)n, sizeof *f->by_name, st_cmp_name, f->tensors);
  return TS_OK;
}

int st_open_memory(const void *buf, size_t n, const char *name, st_file **out, ts_err *e) {
  *out = NULL;
  if (!name) name = "<memory>";
  if (!buf && n) return err_set(e, TS_EARG, "%s: NULL buffer", name);
  st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->name = strdup(name))) {
    free(f);
    return err_set(e, TS_ENOMEM, "%s: out of memory", name);
  }
  static const uint8_t empty[1];
  f->base = buf ? buf : empty;
  f->size = n;
  int rc = st_parse(f, e);
  if (rc) {
    st_close(f);
    return rc;
  }
  *out = f;
  return TS_OK;
}

int st_open(const char *path, st_file **out, ts_err *e) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return err_set(e, TS_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat stt;
  if (fstat(fd, &stt) != 0) {
    int rc = err_set(e, TS_EIO, "%s: cannot stat: %s", path, strerror(errno));
    close(fd);
    return rc;
  }
  if (!S_ISREG(stt.st_mode)) {
    close(fd);
    return err_set(e, TS_EIO, "%s: not a regular file", path);
  }
  st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->name = strdup(path))) {
    free(f);
    close(fd);
    return err_set(e, TS_ENOMEM, "%s: out of memory", path);
  }
  static const uint8_t empty[1];
  f->base = empty;
  f->size = (size_t)stt.st_size;
  if (f->size >= 8) {
    void *p = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int rc = err_set(e, TS_EIO, "%s: cannot mmap %zu bytes: %s", path, f->size, strerror(errno));
      close(fd);
      f->size = 0;
      st_close(f);
      return rc;
    }
    f->base = p;
    f->mapped = 1;
  }
  close(fd);
  int rc = st_parse(f, e);
  if (rc) {
    st_close(f);
    return rc;
  }
  *out = f;
  return TS_OK;
}

/* ---- queries ---- */

const st_tensor *st_find(const st_file *f, const char *name) {
  if (!f || !name) return NULL;
  int lo = 0, hi = f->n_tensors - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    const st_tensor *t = &f->tensors[f->by_name[mid]];
    int c = strcmp(name, t->name);
    if (!c) return t;
    if (c < 0)
      hi = mid - 1;
    else
      lo = mid + 1;
  }
  return NULL;
}

int st_get(const st_file *f, const char *name, const st_tensor **out, ts_err *e) {
  *out = st_find(f, name);
  if (!*out)
    return err_set(e, TS_EFORMAT, "%s: no tensor named \"%s\"", f ? f->name : "?",
                   name ? name : "(null)");
  return TS_OK;
}

const char *st_meta(const st_file *f, const char *key) {
  for (int i = 0; f && key && i < f->n_meta; i++)
    if (!strcmp(f->meta[i].key, key)) return f->meta[i].val;
  return NULL;
}

int64_t st_total_params(const st_file *f) {
  int64_t s = 0;
  for (int i = 0; i < f->n_tensors; i++) s += f->tensors[i].numel;
  return s;
}

uint64_t st_total_bytes(const st_file *f) {
  uint64_t s = 0;
  for (int i = 0; i < f->n_tensors; i++) s += f->tensors[i].nbytes;
  return s;
}

int st_read_f32(const st_file *f, const st_tensor *t, float *dst, int64_t n, ts_err *e) {
  const char *fn = f ? f->name : "?";
  char sb[160];
  if (!t) return err_set(e, TS_EARG, "%s: st_read_f32: no tensor", fn);
  if (n != t->numel)
    return err_set(e, TS_ESHAPE, "%s: tensor \"%s\" has %lld elements, destination holds %lld", fn,
                   st_show(t->name, sb, sizeof sb), (long long)t->numel, (long long)n);
  if (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16 && t->dtype != ST_F64)
    return err_set(e, TS_EUNSUP, "%s: tensor \"%s\" has dtype %s, which does not convert to f32",
                   fn, st_show(t->name, sb, sizeof sb), st_dtype_name(t->dtype));
  if (n == 0) return TS_OK;
  const uint8_t *src = t->data;
  switch (t->dtype) {
    case ST_F32: memcpy(dst, src, (size_t)n * 4); return TS_OK;
    case ST_BF16:
    case ST_F16: {
      ts_dtype d = t->dtype == ST_BF16 ? DT_BF16 : DT_F16;
      if (((uintptr_t)src & 1) == 0) {
        dtype_to_f32(d, src, dst, n);
        return TS_OK;
      }
      uint16_t tmp[1024]; /* unaligned data goes through an aligned bounce buffer */
      for (int64_t i = 0; i < n; i += 1024) {
        int64_t c = n - i < 1024 ? n - i : 1024;
        memcpy(tmp, src + i * 2, (size_t)c * 2);
        dtype_to_f32(d, tmp, dst + i, c);
      }
      return TS_OK;
    }
    case ST_F64:
      for (int64_t i = 0; i < n; i++) {
        double v;
        memcpy(&v, src + i * 8, 8);
        dst[i] = (float)v;
      }
      return TS_OK;
    default: return err_set(e, TS_EINTERNAL, "%s: st_read_f32: unhandled dtype", fn);
  }
}

/* ---- writing ---- */

typedef struct st_sb {
  char *p;
  size_t n, cap;
  int oom;
} st_sb;

static void st_sb_put(st_sb *s, const char *d, size_t n) {
  if (s->oom) return;
  if (s->n + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->n + n + 1) cap *= 2;
    char *np = realloc(s->p, cap);
    if (!np) {
      s->oom = 1;
      return;
    }
    s->p = np;
    s->cap = cap;
  }
  memcpy(s->p + s->n, d, n);
  s->n += n;
  s->p[s->n] = 0;
}

static void st_sb_str(st_sb *s, const char *d) { st_sb_put(s, d, strlen(d)); }

static void st_sb_json_str(st_sb *s, const char *d) {
  st_sb_put(s, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)d; *c; c++) {
    char esc[8];
    if (*c == '"' || *c == '\\') {
      esc[0] = '\\', esc[1] = (char)*c;
      st_sb_put(s, esc, 2);
    } else if (*c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *c);
      st_sb_put(s, esc, 6);
    } else {
      st_sb_put(s, (const char *)c, 1);
    }
  }
  st_sb_put(s, "\"", 1);
}

static int st_check_text(const char *path, const char *what, const char *s, ts_err *e) {
  if (!s) return err_set(e, TS_EARG, "%s: %s is NULL", path, what);
  size_t n = strlen(s);
  if (st_utf8_check((const uint8_t *)s, n) != n)
    return err_set(e, TS_EARG, "%s: %s is not valid UTF-8", path, what);
  return TS_OK;
}

static int st_cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks the entries and computes their byte sizes into nb. */
static int st_write_check(const char *path, const st_entry *ts, int n, const st_kv *meta,
                          int n_meta, size_t *nb, ts_err *e) {
  char sb[160];
  int rc = TS_OK;
  const char **names = calloc((size_t)(n > n_meta ? n : n_meta) + 1, sizeof *names);
  if (!names) return err_set(e, TS_ENOMEM, "%s: out of memory", path);
  for (int i = 0; i < n && !rc; i++) {
    const st_entry *t = &ts[i];
    if ((rc = st_check_text(path, "a tensor name", t->name, e))) break;
    const char *nm = st_show(t->name, sb, sizeof sb);
    if (!t->name[0]) {
      rc = err_set(e, TS_EARG, "%s: tensor %d has an empty name", path, i);
    } else if (!strcmp(t->name, "__metadata__")) {
      rc = err_set(e, TS_EARG, "%s: \"__metadata__\" cannot name a tensor", path);
    } else if (t->dtype != DT_F32 && t->dtype != DT_BF16 && t->dtype != DT_F16 &&
               t->dtype != DT_I32) {
      rc = err_set(e, TS_EARG, "%s: tensor \"%s\": dtype %d cannot be written", path, nm,
                   (int)t->dtype);
    } else if (t->ndim < 0 || t->ndim > ST_MAX_DIMS) {
      rc = err_set(e, TS_EARG, "%s: tensor \"%s\": %d dimensions (0..%d allowed)", path, nm,
                   t->ndim, ST_MAX_DIMS);
    } else {
      uint64_t numel = 1;
      for (int d = 0; d < t->ndim && !rc; d++) {
        if (t->shape[d] < 0)
          rc = err_set(e, TS_EARG, "%s: tensor \"%s\": negative dimension %lld", path, nm,
                       (long long)t->shape[d]);
        else if (__builtin_mul_overflow(numel, (uint64_t)t->shape[d], &numel))
          rc = err_set(e, TS_EARG, "%s: tensor \"%s\": element count overflows", path, nm);
      }
      uint64_t bytes = 0;
      if (!rc && (__builtin_mul_overflow(numel, (uint64_t)dtype_size(t->dtype), &bytes) ||
                  bytes > (uint64_t)INT64_MAX))
        rc = err_set(e, TS_EARG, "%s: tensor \"%s\": byte size overflows", path, nm);
      if (!rc && bytes && !t->data)
        rc = err_set(e, TS_EARG, "%s: tensor \"%s\": NULL data", path, nm);
      nb[i] = (size_t)bytes;
    }
    names[i] = t->name;
  }
  if (!rc) {
    qsort(names, (size_t)n, sizeof *names, st_cmp_str);
    for (int i = 1; i < n && !rc; i++)
      if (!strcmp(names[i], names[i - 1]))
        rc = err_set(e, TS_EARG, "%s: duplicate tensor name \"%s\"", path,
                     st_show(names[i], sb, sizeof sb));
  }
  for (int i = 0; i < n_meta && !rc; i++) {
    if ((rc = st_check_text(path, "a metadata key", meta[i].key, e))) break;
    if ((rc = st_check_text(path, "a metadata value", meta[i].val, e))) break;
    names[i] = meta[i].key;
  }
  if (!rc) {
    qsort(names, (size_t)n_meta, sizeof *names, st_cmp_str);
    for (int i = 1; i < n_meta && !rc; i++)
      if (!strcmp(names[i], names[i - 1]))
        rc = err_set(e, TS_EARG, "%s: duplicate metadata key \"%s\"", path,
                     st_show(names[i], sb, sizeof sb));
  }
  free(names);
  return rc;
}

int st_write(const char *path, const st_entry *ts, int n, const st_kv *meta, int n_meta,
             ts_err *e) {
  if (!path) return err_set(e, TS_EARG, "st_write: NULL path");
  if (n < 0 || n_meta < 0 || (n && !ts) || (n_meta && !meta))
    return err_set(e, TS_EARG, "%s: bad tensor or metadata list", path);
  size_t *nb = calloc((size_t)n + 1, sizeof *nb);
  int *order = calloc((size_t)n + 1, sizeof *order);
  uint64_t *off = calloc((size_t)n + 1, sizeof *off);
  st_sb h = {0};
  int rc = TS_OK;
  if (!nb || !order || !off) {
    rc = err_set(e, TS_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  if ((rc = st_write_check(path, ts, n, meta, n_meta, nb, e))) goto done;

  /* Data order: widest element first, otherwise as given; so each tensor is aligned. */
  int k = 0;
  for (size_t w = 8; w >= 1; w /= 2)
    for (int i = 0; i < n; i++)
      if (dtype_size(ts[i].dtype) == w) order[k++] = i;
  uint64_t pos = 0;
  for (int i = 0; i < n; i++) {
    off[order[i]] = pos;
    pos += nb[order[i]];
  }

  st_sb_str(&h, "{");
  if (n_meta > 0) {
    st_sb_str(&h, "\"__metadata__\":{");
    for (int i = 0; i < n_meta; i++) {
      if (i) st_sb_str(&h, ",");
      st_sb_json_str(&h, meta[i].key);
      st_sb_str(&h, ":");
      st_sb_json_str(&h, meta[i].val);
    }
    st_sb_str(&h, "}");
  }
  for (int i = 0; i < n; i++) {
    char num[64];
    if (i || n_meta > 0) st_sb_str(&h, ",");
    st_sb_json_str(&h, ts[i].name);
    st_sb_str(&h, ":{\"dtype\":");
    st_sb_json_str(&h, dtype_name(ts[i].dtype));
    st_sb_str(&h, ",\"shape\":[");
    for (int d = 0; d < ts[i].ndim; d++) {
      snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)ts[i].shape[d]);
      st_sb_str(&h, num);
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off[i],
             (unsigned long long)(off[i] + nb[i]));
    st_sb_str(&h, num);
  }
  st_sb_str(&h, "}");
  while (!h.oom && h.n % 8) st_sb_str(&h, " ");
  if (h.oom) {
    rc = err_set(e, TS_ENOMEM, "%s: out of memory for the header", path);
    goto done;
  }
  if ((uint64_t)h.n > ST_MAX_HEADER) {
    rc = err_set(e, TS_EARG, "%s: header of %zu bytes exceeds the %llu-byte limit", path, h.n,
                 (unsigned long long)ST_MAX_HEADER);
    goto done;
  }

  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
  afile af;
  if ((rc = afile_open(&af, path, e))) goto done;
  rc = afile_put(&af, len8, 8, e);
  if (!rc) rc = afile_put(&af, h.p, h.n, e);
  for (int i = 0; i < n && !rc; i++)
    if (nb[order[i]]) rc = afile_put(&af, ts[order[i]].data, nb[order[i]], e);
  if (rc)
    afile_abort(&af);
  else
    rc = afile_commit(&af, e);

done:
  free(h.p);
  free(nb);
  free(order);
  free(off);
  return rc;
}
