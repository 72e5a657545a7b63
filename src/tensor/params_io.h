/* params_io.h — parameter sets to and from safetensors files: load by Hugging Face name
 * (with prefix mapping, dtype conversion and checks that name the offending tensor) and
 * atomic save. */
#ifndef TS_PARAMS_IO_H
#define TS_PARAMS_IO_H

#include "tensor/params.h"
#include "tensor/safetensors.h"

/* For every tensor of ps whose name starts with ps_prefix, reads the tensor named
 * file_prefix + (rest of the name) from f (F32/BF16/F16/F64 -> f32). A missing tensor or a
 * shape that differs is an error naming both. Returns the number loaded in *loaded (may be
 * NULL). Tensors in f that ps does not use are counted in *unused (may be NULL). */
int pset_load_st(pset *ps, const st_file *f, const char *file_prefix, const char *ps_prefix, int *loaded,
                 int *unused, ts_err *e);
/* Opens path and loads as above. */
int pset_load_file(pset *ps, const char *path, const char *file_prefix, const char *ps_prefix, ts_err *e);
/* Writes every tensor of ps (weights, f32, or bf16 when as_bf16) with metadata pairs. */
int pset_save_file(const pset *ps, const char *path, int as_bf16, const st_kv *meta, int n_meta, ts_err *e);
/* Writes a buffer laid out like ps (gradients or moments) under the same names. */
int pset_save_buffer(const pset *ps, const float *buf, const char *path, const char *name_prefix,
                     ts_err *e);
/* Reads a buffer written by pset_save_buffer back into buf (same layout). */
int pset_load_buffer(const pset *ps, float *buf, const char *path, const char *name_prefix, ts_err *e);

#endif
