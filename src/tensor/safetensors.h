/* safetensors.h — read (mmap, fully validated) and write (atomic) .safetensors files.
 *
 * Format: 8-byte little-endian header length N, N bytes of UTF-8 JSON (an object mapping tensor
 * names to {"dtype", "shape", "data_offsets": [begin, end]} plus an optional "__metadata__"
 * string map), then the data section; offsets are relative to its start. The reader checks
 * everything before handing out a pointer: a hostile file is rejected with a message naming the
 * file and the tensor, never read past its end. Like the reference implementation it requires
 * the tensors to tile the data section exactly (no overlap, no gap, no trailing bytes); unlike
 * it, duplicate and empty tensor names are rejected too. Assumes a little-endian host. */
#ifndef TS_SAFETENSORS_H
#define TS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "tensor/tensor.h"

#define ST_MAX_DIMS 8                       /* more dimensions are rejected */
#define ST_MAX_HEADER ((uint64_t)100000000) /* header length cap, as the reference */

/* Every dtype the format defines. Sub-byte types (F4, F6_*) are packed: a tensor's bit count
 * must be a whole number of bytes. */
typedef enum st_dtype {
  ST_BOOL = 0,
  ST_U8,
  ST_I8,
  ST_F8_E5M2,
  ST_F8_E4M3,
  ST_F8_E8M0,
  ST_F8_E4M3FNUZ,
  ST_F8_E5M2FNUZ,
  ST_I16,
  ST_U16,
  ST_F16,
  ST_BF16,
  ST_I32,
  ST_U32,
  ST_F32,
  ST_C64,
  ST_F64,
  ST_I64,
  ST_U64,
  ST_F4,
  ST_F6_E2M3,
  ST_F6_E3M2,
  ST_DTYPE_COUNT
} st_dtype;

const char *st_dtype_name(st_dtype d); /* "F32", "BF16", ...; "?" if out of range */
int st_dtype_bits(st_dtype d);         /* bits per element; 0 if out of range */
/* Parses a dtype name (exact, case-sensitive); returns 0 and sets *out, or -1. */
int st_dtype_parse(const char *s, st_dtype *out);
/* The project dtype for d (F32, BF16, F16, I32); returns 0, or -1 if there is none. */
int st_dtype_to_ts(st_dtype d, ts_dtype *out);

typedef struct st_tensor {
  const char *name;            /* owned by the st_file */
  st_dtype dtype;
  int ndim;                    /* 0 for a scalar */
  int64_t shape[ST_MAX_DIMS];  /* row-major, shape[ndim-1] innermost */
  int64_t numel;               /* product of shape (1 for a scalar, 0 if a dim is 0) */
  const void *data;            /* inside the mapping; NOT necessarily aligned to the dtype */
  size_t nbytes;
  uint64_t offset;             /* of the data, from the start of the file */
} st_tensor;

typedef struct st_kv {
  const char *key;
  const char *val;
} st_kv;

/* An open file. Read-only to callers; everything it points to is owned by it. */
typedef struct st_file {
  char *name;              /* path (or the name given to st_open_memory), used in messages */
  const uint8_t *base;     /* whole file */
  size_t size;
  int mapped;              /* base is an mmap this st_file unmaps */
  uint64_t header_len;     /* JSON bytes, without the 8-byte length */
  int n_tensors;
  st_tensor *tensors;      /* in data-offset order */
  int *by_name;            /* indices into tensors, sorted by name (for st_find) */
  int n_meta;
  st_kv *meta;             /* "__metadata__" entries in header order */
  void *json;              /* the parsed header (cJSON), owning names and metadata */
} st_file;

/* Maps path read-only and validates it. *out is set to a new st_file (free with st_close)
 * or NULL on error. A file that changes size while mapped is outside this contract. */
int st_open(const char *path, st_file **out, ts_err *e);
/* Same checks over n bytes at buf, which must outlive the st_file (it is not copied).
 * name labels messages (NULL: "<memory>"). */
int st_open_memory(const void *buf, size_t n, const char *name, st_file **out, ts_err *e);
void st_close(st_file *f); /* NULL is fine */

/* Lookup by exact name in O(log n); NULL if absent. */
const st_tensor *st_find(const st_file *f, const char *name);
/* Like st_find but a missing tensor is an error naming the file and the tensor. */
int st_get(const st_file *f, const char *name, const st_tensor **out, ts_err *e);
/* Value of a "__metadata__" key, or NULL. */
const char *st_meta(const st_file *f, const char *key);

/* Total parameters (sum of numel) and data bytes of all tensors. */
int64_t st_total_params(const st_file *f);
uint64_t st_total_bytes(const st_file *f);

/* Converts tensor t of f into n floats at dst (n must equal t->numel, else TS_ESHAPE).
 * F32, BF16, F16 and F64 convert; other dtypes give TS_EUNSUP naming the tensor. Handles
 * unaligned data. */
int st_read_f32(const st_file *f, const st_tensor *t, float *dst, int64_t n, ts_err *e);

/* One tensor to write: dtype is DT_F32, DT_BF16, DT_F16 or DT_I32; data holds
 * numel * dtype_size(dtype) bytes (may be NULL when numel is 0). */
typedef struct st_entry {
  const char *name;
  ts_dtype dtype;
  int ndim; /* 0..ST_MAX_DIMS */
  int64_t shape[ST_MAX_DIMS];
  const void *data;
} st_entry;

/* Writes n tensors and n_meta metadata pairs to path atomically (temp file, fsync, rename):
 * the header lists tensors in the given order, padded with spaces so the data section starts
 * 8-byte aligned; data is laid out widest dtype first (stable), so every tensor is aligned to
 * its element size. Names must be non-empty, unique and not "__metadata__". */
int st_write(const char *path, const st_entry *tensors, int n, const st_kv *meta, int n_meta,
             ts_err *e);

#endif
