// cuda_graph.cu — decoding steps submitted as CUDA graphs and replayed (be_ops.step_graph and
// step_replay; on by default, off with TSASR_CUDA_GRAPHS=0 or cuda_set_graphs(0)). generate brackets each decoding step's layers and
// head with BEGIN and END. From the third step of a decoding on, BEGIN starts a capture of the
// backend's stream: the ops run their host code as always, but their launches, cuBLAS calls
// and staging copies (from the pinned ring, read when the graph runs) are recorded instead of
// submitted. END ends the capture, updates the executable graph kept from the last step with it
// (cudaGraphExecUpdate: the same kernels with new arguments; a new instantiation when the
// step's shape changed, as when a sequence stops) and launches it: one submission for the
// step's few hundred launches. The work is the eager step's, so results are the same.
//
// Replay (cu_step_replay, before each step's BEGIN): the caller declares the step's rows (its
// token ids and which rows take a token). When they match the last captured step's, and no
// device buffer was freed since, the kept executable graph is launched again without running
// the step's host code at all: the capture noted each host array it staged, in pinned memory
// of its own, with a rule for the next step (step_replay.h: positions, cache rows and key
// lengths advance by the rows' new tokens, the token ids are read again, the rest stays), so
// only those bytes are rewritten before the launch. A decoding step then costs one graph
// launch of host time instead of a few hundred op calls. TSASR_CUDA_GRAPHS_CHECK=1 has the
// caller run each replayed step again eagerly and compare the KV cache and logits bit for bit.
//
// A step must not read results back or sync (the devsim backend reports both inside a step).
// Buffers that grow during a captured step (scratch, staging) are replaced without cudaFree
// until the stream is idle again (cu_free_later). A failed capture loses the step's work: END
// then returns an error, and graphs stay off for the rest of the process.
#include <cuda_profiler_api.h>

#include "cu_common.h"

extern "C" {
#include "base/log.h"
#include "tensor/ops_prof.h"
}

/* eager steps at the start of each decoding, before the first capture */
#define GR_WARM 2
/* the first replay of the process that TSASR_CUDA_PROFILE_REPLAYS profiles (the ones before
 * warm caches and clocks) */
#define RP_PROF0 8

/* the pinned memory of captured steps' copies and the event after each launch (no replay
 * without them) */
static void rp_init(cu_ctx *c) {
  c->gpin_state = -1;
  if (cudaHostAlloc((void **)&c->gpin, CU_PIN_HALF, cudaHostAllocDefault) != cudaSuccess) {
    cudaGetLastError();
    c->gpin = NULL;
    return;
  }
  if (cudaEventCreateWithFlags(&c->rp_ev, cudaEventDisableTiming) != cudaSuccess) {
    cudaGetLastError();
    cudaFreeHost(c->gpin);
    c->gpin = NULL;
    return;
  }
  c->gpin_state = 1;
}

/* after a captured step that did not run: the copies it recorded never happened, so no staged
 * array or fused rounding may be taken as present, and the ring starts over */
static void gr_forget(cu_ctx *c) {
  for (int i = 0; i < 8; i++) c->hc[i].bytes = 0;
  c->xs_y = NULL;
  c->pin_cur = 0, c->pin_off = 0, c->pin_left[0] = c->pin_left[1] = 0;
}

/* graphs off for good (the work of a captured step is lost: the caller reports it). The failed
 * call's error is taken off the runtime's last-error slot, or the next op's launch check would
 * report it as its own. */
static int gr_fail(cu_ctx *c, const char *what, cudaError_t st) {
  int rc = cu_fail(what, st);
  cudaGetLastError();
  c->gr_off = 1;
  c->gr_capturing = 0;
  sr_clear(&c->rp);
  if (c->gr_exec) cudaGraphExecDestroy(c->gr_exec);
  c->gr_exec = NULL;
  gr_forget(c);
  return rc;
}

/* the captured step into the executable graph, then its launch */
static int gr_launch(cu_ctx *c, cudaGraph_t g) {
  cudaError_t st = cudaSuccess;
  if (c->gr_exec) {
    cudaGraphExecUpdateResultInfo info;
    if (cudaGraphExecUpdate(c->gr_exec, g, &info) != cudaSuccess) { /* another shape: instantiate anew */
      cudaGetLastError();
      cudaGraphExecDestroy(c->gr_exec);
      c->gr_exec = NULL;
    }
  }
  if (!c->gr_exec && (st = cudaGraphInstantiate(&c->gr_exec, g, 0)) != cudaSuccess) {
    c->gr_exec = NULL;
    return gr_fail(c, "cudaGraphInstantiate (a decoding step's work is lost)", st);
  }
  if ((st = cudaGraphLaunch(c->gr_exec, c->st)) != cudaSuccess)
    return gr_fail(c, "cudaGraphLaunch (a decoding step's work is lost)", st);
  c->gr_launched++;
  return TS_OK;
}

int cu_step_graph(backend *be, int phase) {
  cu_ctx *c = cu_of(be);
  if (phase == TS_STEP_ABORT || phase == TS_STEP_DONE) {
    if (c->gr_capturing) { /* a step failed while captured: close the capture, drop its record */
      cudaGraph_t g = NULL;
      cudaStreamEndCapture(c->st, &g);
      cudaGetLastError();
      if (g) cudaGraphDestroy(g);
      c->gr_capturing = 0;
      c->gr_off = 1; /* what failed in it may fail again: eager from here */
      gr_forget(c);
    }
    sr_clear(&c->rp);
    c->rp_just = 0;
    if (phase == TS_STEP_DONE) {
      if (c->gr_exec) cudaGraphExecDestroy(c->gr_exec);
      c->gr_exec = NULL;
      c->gr_warm = 0;
      c->rp_ids = c->rp_nnew = NULL, c->rp_B = 0;
      cu_free_dead(be); /* cudaFree waits for the device */
    }
    return TS_OK;
  }
  if (phase == TS_STEP_BEGIN) {
    /* off, failed before, timed op by op (the profile syncs between ops), or without what a
     * capture needs (the pinned ring, a fixed cuBLAS workspace) */
    if (c->gr_capturing) return TS_OK;
    if (c->rp_just) { /* the eager rerun of a replayed step (TSASR_CUDA_GRAPHS_CHECK=1) */
      c->rp_just = 0;
      return TS_OK;
    }
    /* any other eager step moves the cache on past the record's bytes: it may not replay */
    if (!c->graphs || c->gr_off || ops_prof_on()) {
      sr_clear(&c->rp);
      return TS_OK;
    }
    if (!cu_pin_ready(be) || !c->blas_ws) {
      c->gr_off = 1;
      log_warn("cuda: decoding steps stay eager: no %s for CUDA graphs", c->blas_ws ? "pinned staging" : "cuBLAS workspace");
      return TS_OK;
    }
    if (c->gr_warm < GR_WARM) {
      c->gr_warm++;
      return TS_OK;
    }
    /* the pinned ring starts over (a capture must not wait on its events): the last step's work
     * is done, as its tokens were read back */
    CU_TRY(cudaStreamSynchronize(c->st));
    cu_free_dead(be); /* buffers the last captured step replaced */
    c->pin_cur = 0, c->pin_off = 0, c->pin_left[0] = c->pin_left[1] = 0;
    /* the replay record of this capture: its copies into gpin, from the start */
    if (!c->gpin_state) rp_init(c);
    c->gpin_off = 0;
    sr_clear(&c->rp);
    if (c->gpin_state > 0 && sr_begin(&c->rp, c->rp_ids, c->rp_nnew, c->rp_B)) sr_clear(&c->rp);
    c->gr_serial++;
    cudaError_t st = cudaStreamBeginCapture(c->st, cudaStreamCaptureModeRelaxed);
    if (st != cudaSuccess) { /* nothing recorded yet: the step runs eagerly */
      gr_fail(c, "cudaStreamBeginCapture (decoding goes on without graphs)", st);
      return TS_OK;
    }
    c->gr_capturing = 1;
    return TS_OK;
  }
  if (!c->gr_capturing) return TS_OK; /* an eager step */
  c->gr_capturing = 0;
  cudaGraph_t g = NULL;
  cudaError_t st = cudaStreamEndCapture(c->st, &g);
  if (st != cudaSuccess || !g) {
    if (g) cudaGraphDestroy(g);
    return gr_fail(c, "cudaStreamEndCapture (a decoding step's work is lost)", st ? st : cudaErrorUnknown);
  }
  int rc = gr_launch(c, g);
  cudaGraphDestroy(g);
  if (rc) return rc;
  /* kept for replay: unless a buffer it uses was replaced while it was captured (freed at the
   * next BEGIN), until a device buffer is freed */
  if (c->ndead) sr_clear(&c->rp);
  c->rp_epoch = c->mem_epoch;
  if (c->rp.ok && cudaEventRecord(c->rp_ev, c->st) != cudaSuccess) {
    cudaGetLastError();
    sr_clear(&c->rp);
  }
  return TS_OK;
}

int cu_step_replay(backend *be, const int32_t *ids, const int32_t *n_new, int64_t B, int *mode) {
  cu_ctx *c = cu_of(be);
  *mode = 0;
  c->rp_ids = ids, c->rp_nnew = n_new, c->rp_B = B; /* what the next capture records */
  if (!c->graphs || c->gr_off || ops_prof_on() || c->gr_capturing || !c->gr_exec) {
    sr_clear(&c->rp); /* the step runs eagerly (or is captured anew): the record falls behind */
    return TS_OK;
  }
  if (!sr_matches(&c->rp, ids, n_new, B) || c->rp_epoch != c->mem_epoch) return TS_OK;
  /* the last launch's copies have read the pinned bytes (the step's tokens were read back
   * since, so this does not wait). A failure here or at the launch runs nothing: graphs go
   * off (the reason logged) and the caller runs the step's ops eagerly */
  cudaError_t st = cudaEventSynchronize(c->rp_ev);
  /* TSASR_CUDA_PROFILE_REPLAYS=N: replays RP_PROF0 .. RP_PROF0 + N - 1 in the profiler's range
   * (a profiler refusing is no reason to stop decoding: its errors are cleared) */
  const long k = c->rp_replayed - RP_PROF0;
  if (st == cudaSuccess && c->prof_replays && k == 0 && cudaProfilerStart() != cudaSuccess) cudaGetLastError();
  if (st == cudaSuccess) {
    sr_apply(&c->rp);
    st = cudaGraphLaunch(c->gr_exec, c->st);
  }
  if (st == cudaSuccess && c->prof_replays && k == c->prof_replays - 1 &&
      (cudaStreamSynchronize(c->st) != cudaSuccess || cudaProfilerStop() != cudaSuccess))
    cudaGetLastError();
  if (st != cudaSuccess) {
    gr_fail(c, "replaying a decoding step (decoding goes on without graphs)", st);
    log_warn("cuda: %s", cuda_last_error());
    return TS_OK;
  }
  if (cudaEventRecord(c->rp_ev, c->st) != cudaSuccess) { /* the step ran; no replay after it */
    cudaGetLastError();
    sr_clear(&c->rp);
  }
  c->gr_launched++;
  c->rp_replayed++;
  /* the graph rewrote the device copies of the arrays it stages, and wrote the step's
   * activations: no staged array or fused rounding made before is current */
  for (int i = 0; i < 8; i++) c->hc[i].bytes = 0;
  c->xs_y = NULL;
  *mode = c->rp_check ? 2 : 1;
  c->rp_just = c->rp_check;
  return TS_OK;
}
