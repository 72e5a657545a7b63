/* cu_sdpa.h — between kernels/cu_sdpa.cu (the op's side: applicability, bf16 copies, lengths,
 * gradients added) and kernels/cu_sdpa_fe.cpp (cuDNN's frontend: one SDPA graph per shape, built
 * once, and its execution), so that the frontend's heavy C++ headers are compiled once by the
 * host compiler rather than by nvcc. Only in builds with cuDNN's frontend (TS_HAVE_CUDNN_FE). */
#ifndef TS_CU_SDPA_H
#define TS_CU_SDPA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* what identifies a graph: the op's shapes (q (B, Tq, Hq, D), k and v (B, Tk, Hkv, D)), causal
 * (top-left), padded (seq_len_q / seq_len_kv given), backward, the scale, deterministic */
typedef struct sdfe_key {
  int64_t B, Tq, Tk, Hq, Hkv, D;
  int causal, padded, bwd;
  float scale;
  int det; /* the backward's deterministic algorithm (cuda_set_deterministic) */
} sdfe_key;

/* the tensors' slots in sdfe_exec's pointer table (bf16 unless said): q, k, v, o, the f32
 * statistics (B, Hq, Tq), do, dq, dk, dv, the int32 lengths (B) */
enum { SDFE_Q, SDFE_K, SDFE_V, SDFE_O, SDFE_STATS, SDFE_DO, SDFE_DQ, SDFE_DK, SDFE_DV, SDFE_SEQ_Q, SDFE_SEQ_KV, SDFE_N };

/* the graph for k on the cuDNN handle (a cudnnHandle_t), built at its first use and kept; NULL
 * when cuDNN refuses the shape (the reason logged once, and remembered); *ws: its workspace
 * bytes */
void *sdfe_plan(void *handle, const sdfe_key *k, int64_t *ws);
/* runs a plan on the handle's stream with the tensors at ptrs (SDFE_N slots; those the graph
 * has not, NULL); 0, or cuDNN's status with its message in why (n bytes) */
int sdfe_exec(void *handle, void *plan, void *const *ptrs, void *ws, char *why, size_t n);

#ifdef __cplusplus
}
#endif
#endif
