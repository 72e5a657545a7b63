/* gemm.h — GEMM on row-major f32 matrices: OpenBLAS when built with it, otherwise a
 * cache-blocked OpenMP kernel; and the bf16 precision mode (oneDNN). C (M,N) = alpha op(A) op(B) + beta C, where
 * op(A) is (M,K) [A stored (K,M) when ta] and op(B) is (K,N) [B stored (N,K) when tb]. */
#ifndef TS_GEMM_H
#define TS_GEMM_H

#include <stddef.h>
#include <stdint.h>

void gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* f32 C (M,N) = alpha A (M,K) W^T + beta C with W stored (N, K) (ldw): the kernel gemm_f32 takes
 * for this form from 1 to GEMM_SMALLM_MAX_M rows (decoding's x W^T; OpenBLAS is 1.5-3x slower
 * there), threaded from GEMM_SMALLM_PAR weight values. beta == 0 does not read C. Built for
 * AVX-512 only (GEMM_SMALLM_ON); elsewhere it is gemm_f32 itself. */
#ifdef __AVX512F__
#define GEMM_SMALLM_ON 1
#else
#define GEMM_SMALLM_ON 0
#endif
#define GEMM_SMALLM_MAX_M 16
#define GEMM_SMALLM_PAR (1LL << 17)
void gemm_f32_smallm(int M, int N, int K, float alpha, const float *A, int lda, const float *W, int ldw, float beta,
                     float *C, int ldc);

/* The built-in kernel, always available (tests compare it with BLAS). */
void gemm_f32_builtin(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc);

/* GEMM precision of the CPU kernels (process-wide; the CPU and devsim backends): "f32" (the
 * default) or "bf16": op(A) and op(B) rounded to bf16 (nearest even), exact products summed in
 * f32, C stays f32 — the definition of cuBLAS's FAST_16BF on the CUDA backend. bf16 runs on
 * oneDNN (AMX / AVX512-BF16). Returns TS_OK, TS_EARG for another name, TS_EUNSUP for bf16 in a
 * build without oneDNN or on a machine where oneDNN does not start. */
int gemm_set_precision(const char *name);
const char *gemm_precision(void);

/* The GEMM of the ops that follow the precision setting (matmul, conv1d, attention): gemm_f32,
 * or, in bf16 mode, gemm_bf16 for GEMMs of at least GEMM_BF16_MIN_MACS multiply-adds (M·N·K)
 * with M and N at least GEMM_BF16_MIN_MN. The others stay f32: there the per-call cost (operand
 * rounding, ~7 us of oneDNN) outweighs the faster kernel (measured: 6 M MACs no gain, 44 M MACs
 * 1.3-2.4x), unless an operand is a mirrored weight (gemm_mirror below). Where oneDNN refuses a call (out of memory, before writing C) it
 * runs gemm_f32 instead. gemm_bf16_fallbacks counts those; gemm_bf16_errors counts calls that
 * failed after writing part of C (never seen: oneDNN's CPU matmul refuses when it is built). */
#define GEMM_BF16_MIN_MACS (1LL << 23)
#define GEMM_BF16_MIN_MN 64
#define GEMM_MIRROR_MIN_W (1LL << 16)
#define GEMM_MIRROR_MIN_ROWS 8
#define GEMM_MIRROR_BIG_W (1LL << 19)
void gemm_mp(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);
/* gemm_mp with one operand stored as bf16 bits (a16 or b16; an activation stored in bf16,
 * op_act_dtype): where gemm_mp would take the bf16 GEMM, its bits go in as they are (no
 * rounding pass); where it would take gemm_f32, the operand is widened (exactly) into the
 * calling thread's SCRATCH_ACT16 buffer first. The result is gemm_mp's on the widened values.
 * 0, TS_ENOMEM (C untouched) when the scratch cannot grow, TS_EARG when both are bf16. */
int gemm_mp16(int ta, int tb, int M, int N, int K, float alpha, const void *A, int a16, int lda, const void *B,
              int b16, int ldb, float beta, float *C, int ldc);
/* Grows the calling thread's widening scratch to n values up front, so that an op can fail
 * before it writes anything: gemm_mp16 calls with a bf16 operand of at most n values then cannot
 * run out of memory. 0 or TS_ENOMEM. */
int gemm_mp16_reserve(int64_t n);
/* bf16 mirrors of weight blocks (gemm_mirror.c), driven by the weights hint (op_weights_bf16)
 * on the CPU and devsim: on (1) rounds the n values at w into a mirror once, in the bf16
 * precision only (otherwise nothing happens); until the matching off (0), a bf16 GEMM reads an
 * operand that lies inside the block from the mirror instead of rounding it per call (the same
 * bits, so the same result), and a GEMM of few rows against such a weight takes the bf16 kernel
 * too: from GEMM_MIRROR_MIN_ROWS rows against GEMM_MIRROR_MIN_W weight values, and at any rows
 * from GEMM_MIRROR_BIG_W (decoding, 8 rows: 1.5-1.9x the f32 path). The caller keeps the block
 * unchanged while it is on. Hints on the same block nest (a generate call inside a training
 * step). Up to 4 blocks at once; a mirror's memory is kept for the next hint (freed by
 * gemm_mirror_release). TS_OK always: without memory for a
 * mirror, every call rounds, as without the hint. Hints come from one thread (the one running
 * the model), between ops; GEMMs on any thread may look mirrors up between two hint calls, not
 * during one. */
int gemm_mirror(const float *w, int64_t n, int on);
/* the mirror's bits for the extent values at p (rounded now where they were not yet), NULL when
 * no open block holds all of them; gemm_mirror_has only says whether one does (nothing rounded) */
const uint16_t *gemm_mirror_find(const float *p, int64_t extent);
int gemm_mirror_has(const float *p, int64_t extent);
void gemm_mirror_release(void);
long gemm_bf16_fallbacks(void);
long gemm_bf16_errors(void);
/* Reference runs only (slow): in bf16 mode every GEMM goes to gemm_bf16, whatever its size,
 * so that a whole model's arithmetic is bf16 GEMMs (tests/gpu/bf16_spread.sh measures how far
 * that moves the tiny model's training from f32). Off by default. */
void gemm_bf16_all(int on);

/* The bf16 GEMM itself (gemm_bf16.c): 0; -1 when it could not run (C untouched, counted as a
 * fallback); -2 when it failed part way (counted as an error). */
int gemm_bf16(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* the same with either operand given as bf16 bits (a16, b16), copied instead of rounded */
int gemm_bf16_ex(int ta, int tb, int M, int N, int K, float alpha, const void *A, int a16, int lda,
                 const void *B, int b16, int ldb, float beta, float *C, int ldc);
int gemm_bf16_available(void);
/* "oneDNN 2.6.3 (AMX)" or the reason there is no bf16 GEMM, into buf (n bytes) */
void gemm_bf16_describe(char *buf, size_t n);

#endif
