// cu_colred.cu — host side of the fixed-order column reductions (cu_colred.cuh): the partials'
// buffer, a bias gradient's column sum, the partials added up into the output, and the
// embedding's backward (per-id row sums from an index built on the host). A reduction
// over many rows runs in row chunks (grid.y) whose partial sums go to the buffer; one more
// launch adds them per column in chunk order. No float atomics: the same bits on every run.
#include "cu_colred.cuh"
#include "cu_common.h"

/* at most this many partial doubles (32 MiB): a wide output takes fewer row chunks */
#define CR_MAX_PART ((int64_t)1 << 22)

int64_t cu_colred_gy(int64_t rows, int64_t N, int64_t cap) {
  int64_t gy = (rows + 63) / 64, lim = CR_MAX_PART / (N > 0 ? N : 1);
  if (gy > cap) gy = cap;
  if (gy > lim) gy = lim;
  return gy < 1 ? 1 : gy;
}

int cu_colpart(backend *be, size_t bytes, double **out) {
  cu_ctx *c = cu_of(be);
  TS_TRY(cu_grow(be, &c->cpart, &c->cpart_cap, bytes, "cudaMalloc(column partials)"));
  *out = (double *)c->cpart;
  return TS_OK;
}

int cu_colpart_add(const double *part, int64_t gy, int64_t N, float *out) {
  if (N <= 0) return TS_OK;
  k_colpart_add<<<cu_blocks(N), 256, 0, cu_stream()>>>(part, gy, N, out);
  CU_LAUNCHED("k_colpart_add");
  return TS_OK;
}

int cu_colpart_add2(const double *pa, const double *pb, int64_t gy, int64_t N, float *a, float *b) {
  if (N <= 0 || (!a && !b)) return TS_OK;
  k_colpart_add2<<<cu_blocks(2 * N), 256, 0, cu_stream()>>>(pa, pb, gy, N, a, b);
  CU_LAUNCHED("k_colpart_add2");
  return TS_OK;
}

int cu_colsum_add(backend *be, const float *g, float *out, int64_t rows, int64_t N) {
  if (rows <= 0 || N <= 0) return TS_OK;
  if ((N + 31) / 32 > 2147483647LL) return cu_fail("colsum: too many columns", cudaErrorInvalidValue);
  int64_t gy = cu_colred_gy(rows, N, 128);
  double *part = NULL; /* (gy, N) */
  TS_TRY(cu_colpart(be, sizeof(double) * (size_t)(gy * N), &part));
  dim3 grid((unsigned)((N + 31) / 32), (unsigned)gy), blk(32, 8);
  k_colsum_part<<<grid, blk, 0, cu_stream()>>>(g, part, rows, N);
  CU_LAUNCHED("k_colsum_part");
  return cu_colpart_add(part, gy, N, out);
}

/* dtable[ids[i]] += dout[i]: each distinct id's rows added in position order (the CPU's adds, so
 * its bits), a block per id and column range; the same bits every run (no atomics) */
int cu_embed_bwd(backend *be, const int32_t *ids, const tensor *dout, tensor *dtable) {
  int64_t C = cu_last(dout), N = C ? cu_rows(dout) : 0;
  if (N <= 0) return TS_OK;
  if (N > (2147483647LL - 1) / 3 || (C + 255) / 256 > 65535)
    return cu_fail("embed_bwd: more rows or columns than its index takes", cudaErrorInvalidValue);
  int64_t U = 0;
  int32_t *idx = cr_embed_index(ids, N, &U);
  if (!idx) return TS_ENOMEM;
  size_t bytes = sizeof(int32_t) * (size_t)(2 * U + 1 + N);
  void *did = NULL;
  int rc = cu_scratch(be, bytes, &did);
  if (rc == TS_OK) rc = cu_h2d_kind(be, did, idx, bytes, SR_NONE); /* copied when it returns: idx may go */
  free(idx);
  TS_TRY(rc);
  const int32_t *uid = (const int32_t *)did, *off = uid + U, *pos = off + U + 1;
  dim3 grid((unsigned)U, (unsigned)((C + 255) / 256));
  k_embed_bwd_rows<<<grid, 256, 0, cu_stream()>>>(uid, off, pos, cu_f(dout), cu_f(dtable), C);
  CU_LAUNCHED("k_embed_bwd_rows");
  return TS_OK;
}
