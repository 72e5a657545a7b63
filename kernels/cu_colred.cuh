// cu_colred.cuh — column reductions in a fixed order, so that the bias, norm-weight and
// embedding gradients are the same bits on every run: no floating-point atomics. Each block of a
// reduction writes its columns' partial sums (double) to a (gy, N) array, and k_colpart_add adds
// them in block order into the f32 output. The embedding's backward adds each table row's
// gradient rows in position order, the CPU's order, so its bits are the CPU's; its index is
// built on the host (cr_embed_index, plain C++). Included by cu_colred.cu alone (which launches
// the kernels) and by the emulator test test_colred_emu, which runs them on the CPU.
#pragma once
#include <stdlib.h>

#include "cu_dev.cuh"

/* part[blockIdx.y * N + j] = the sum (double) of g[r, j] over the block's rows: r = blockIdx.y * 8
 * + threadIdx.y, stepping gridDim.y * 8, each thread's rows in order, then the 8 threads of a
 * column in threadIdx.y order. blockDim (32, 8), grid (ceil(N / 32), gy). */
__global__ void k_colsum_part(const float *g, double *part, int64_t rows, int64_t N) {
  __shared__ double sh[8][33];
  int64_t j = (int64_t)blockIdx.x * 32 + threadIdx.x;
  double s = 0;
  if (j < N)
    for (int64_t r = blockIdx.y * 8 + threadIdx.y; r < rows; r += (int64_t)gridDim.y * 8) s += g[r * N + j];
  sh[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && j < N) {
    for (int y = 1; y < 8; y++) s += sh[y][threadIdx.x];
    part[blockIdx.y * N + j] = s;
  }
}

/* out[j] += (float)(part[0][j] + part[1][j] + ... + part[gy - 1][j]), added in that order (double);
 * one thread a column */
__global__ void k_colpart_add(const double *part, int64_t gy, int64_t N, float *out) {
  CU_LOOP(j, N) {
    double s = 0;
    for (int64_t y = 0; y < gy; y++) s += part[y * N + j];
    out[j] += (float)s;
  }
}

/* the same for two outputs in one launch (a norm's weight and bias gradients): a (N) += the sums of
 * pa (gy, N), b (N) += those of pb; either pair may be NULL */
__global__ void k_colpart_add2(const double *pa, const double *pb, int64_t gy, int64_t N, float *a, float *b) {
  CU_LOOP(i, 2 * N) {
    int second = i >= N;
    int64_t j = second ? i - N : i;
    const double *p = second ? pb : pa;
    float *out = second ? b : a;
    if (!out) continue;
    double s = 0;
    for (int64_t y = 0; y < gy; y++) s += p[y * N + j];
    out[j] += (float)s;
  }
}

/* dt[uid[u], c] += g[pos[i], c] for i = off[u] .. off[u + 1] - 1, one add at a time in that order
 * (positions ascending: the CPU backend's order, so the same bits). grid (U, ceil(C / blockDim.x)):
 * a block per distinct id and column range; no two blocks write one value. */
__global__ void k_embed_bwd_rows(const int32_t *uid, const int32_t *off, const int32_t *pos, const float *g, float *dt,
                                 int64_t C) {
  int64_t u = blockIdx.x, c = (int64_t)blockIdx.y * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float *d = dt + (int64_t)uid[u] * C + c;
  float t = *d;
  for (int32_t i = off[u]; i < off[u + 1]; i++) t += g[(int64_t)pos[i] * C + c];
  *d = t;
}

/* positions ordered by (id, position) */
static inline int cr_key_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* k_embed_bwd_rows's index from the host's ids (N of them, each in [0, 2^31)): one array holding
 * uid (U: the distinct ids, ascending), off (U + 1: where each id's positions start in pos, then N)
 * and pos (N: the positions grouped by id, ascending within an id); *U the distinct ids. NULL
 * when out of memory; free() it. */
static inline int32_t *cr_embed_index(const int32_t *ids, int64_t N, int64_t *U) {
  uint64_t *key = (uint64_t *)malloc(sizeof(uint64_t) * (size_t)(N > 0 ? N : 1));
  int32_t *idx = (int32_t *)malloc(sizeof(int32_t) * (size_t)(3 * N + 1));
  if (!key || !idx) {
    free(key);
    free(idx);
    return NULL;
  }
  for (int64_t i = 0; i < N; i++) key[i] = (uint64_t)(uint32_t)ids[i] << 32 | (uint64_t)i;
  qsort(key, (size_t)N, sizeof *key, cr_key_cmp);
  int64_t u = 0;
  for (int64_t i = 0; i < N; i++)
    if (i == 0 || key[i] >> 32 != key[i - 1] >> 32) idx[u++] = (int32_t)(key[i] >> 32);
  int32_t *off = idx + u, *pos = off + u + 1;
  for (int64_t i = 0, k = 0; i < N; i++) {
    if (i == 0 || key[i] >> 32 != key[i - 1] >> 32) off[k++] = (int32_t)i;
    pos[i] = (int32_t)(key[i] & 0xffffffffu);
  }
  off[u] = (int32_t)N;
  free(key);
  *U = u;
  return idx;
}
