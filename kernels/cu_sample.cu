// cu_sample.cu — the sample op on the device (backend.h sample_req; the kernels are in
// cu_sample.cuh). The row's passes are split over blocks first (k_sample_part, grid (chunks,
// rows): each chunk's max and sum of exp for the full-row log-sum-exp, the temperature pick's
// and its greedy pick; k_sample_mass adds the chunks' pick masses for the plain temperature
// pick). Then one block per row combines them in chunk order into the log-sum-exp (the
// reported log-prob), masks the banned ids, and takes the greedy argmax or the inverse-CDF
// pick with the row's uniform, so that only the ids and log-probs cross to the host. The pick
// finds the chunk the draw falls in, splits that chunk into one contiguous sub-chunk per
// thread, scans their sums, and the thread whose sub-chunk holds the draw walks it in order; the sums are in double as on the CPU, but their order differs, so
// a draw that falls within rounding of a boundary may pick the neighbouring token. With top-k
// / top-p the row is cut by radix selection on the logits' order keys (4 passes of 256 bins,
// one per key byte) with fixed-point masses, and the draw is the fixed-point inverse-CDF pick
// in id order: the definitions of src/tensor/rowsample.h, in integers, so the kept set and the
// token equal the CPU's whenever the weights exp() gives are the same.
#include <math.h>

#include "cu_common.h"
#include "cu_sample.cuh"

int cu_sample(backend *be, const tensor *z, const sample_req *q, int32_t *tok, float *logp) {
  int64_t R = z->ne[0], V = z->ne[1];
  if (R <= 0) return TS_OK;
  size_t bu = q->u ? sizeof(double) * (size_t)R : 0, bb = q->ban_row ? sizeof(int32_t) * (size_t)R : 0,
         bt = sizeof(int32_t) * (size_t)R, bl = sizeof(float) * (size_t)R,
         bp = sizeof(smp_part) * (size_t)R * (size_t)smp_nb(V);
  char *cur;
  TS_TRY(cu_scratch(be, cu_rnd(bu) + cu_rnd(bb) + cu_rnd(bt) + cu_rnd(bl) + cu_rnd(bp) + 1024, (void **)&cur));
  void *du = cu_carve(&cur, bu), *db = cu_carve(&cur, bb), *dt = cu_carve(&cur, bt), *dl = cu_carve(&cur, bl),
       *dp = cu_carve(&cur, bp);
  TS_TRY(cu_h2d(be, du, q->u, bu));
  TS_TRY(cu_h2d(be, db, q->ban_row, bb));
  const int32_t *ban_row = bb ? (const int32_t *)db : NULL;
  /* 0: k_sample makes every pass itself (the split's grid has the rows in y: at most 65535) */
  int nb = cu_of(be)->no_smp_split || R > 65535 ? 0 : smp_nb(V);
  bool plain = smp_plain(q->temperature, (long long)q->top_k, q->top_p, V);
  dim3 pg((unsigned)nb, (unsigned)R);
  if (nb > 0) {
    k_sample_part<<<pg, SMP_PART_THREADS, 0, cu_stream()>>>(cu_f(z), V, q->n_real, q->ban, ban_row, q->temperature,
                                                            plain, (smp_part *)dp);
    CU_LAUNCHED("k_sample_part");
  }
  if (nb > 0 && plain) {
    k_sample_mass<<<pg, SMP_PART_THREADS, 0, cu_stream()>>>(cu_f(z), V, q->n_real, q->ban, ban_row, q->temperature,
                                                            (smp_part *)dp);
    CU_LAUNCHED("k_sample_mass");
  }
  k_sample<<<(unsigned)R, SMP_THREADS, 0, cu_stream()>>>(cu_f(z), V, q->n_real, q->ban, ban_row, (const double *)du,
                                                         q->temperature, (long long)q->top_k, q->top_p, (int32_t *)dt,
                                                         (float *)dl, nb > 0 ? (const smp_part *)dp : NULL, nb);
  CU_LAUNCHED("k_sample");
  CU_TRY(cudaMemcpy(tok, dt, bt, cudaMemcpyDeviceToHost));
  CU_TRY(cudaMemcpy(logp, dl, bl, cudaMemcpyDeviceToHost));
  return TS_OK;
}
