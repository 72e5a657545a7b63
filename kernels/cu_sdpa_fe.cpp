// cu_sdpa_fe.cpp — cuDNN's fused flash attention graphs through cuDNN's frontend (C++17,
// header-only; cu_sdpa.h is the interface, kernels/cu_sdpa.cu the op's side). One graph per
// (shapes, causal, padded, direction, scale): bf16 input and output tensors, f32 softmax and
// compute; the forward writes O and the softmax statistics (f32, (B, Hq, Tq, 1)); the backward
// reads Q, K, V, O, dO and those statistics and writes dQ, dK, dV. The op's (B, T, H, D)
// tensors are cuDNN's (B, H, T, D) dims with strides (T H D, D, H D, 1). A graph is validated,
// lowered, given the heuristic's plans (mode A) and built once; a refusal is logged once with
// the frontend's message and remembered. Built only with cuDNN's frontend (TS_HAVE_CUDNN_FE).
#if defined(TS_HAVE_CUDNN) && defined(TS_HAVE_CUDNN_FE)
#include <cudnn_frontend.h>
#include <stdio.h>
#include <string.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>

#include "kernels/cu_sdpa.h"

extern "C" {
#include "base/log.h"
}

namespace fe = cudnn_frontend;
using fe_tensor = std::shared_ptr<fe::graph::Tensor_attributes>;

namespace {

struct sd_plan {
  std::shared_ptr<fe::graph::Graph> g; /* NULL: cuDNN refused this shape */
  int64_t ws = 0;
};

using sd_map_key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, int, uint32_t, int>;
std::map<sd_map_key, sd_plan> g_plans;

/* the uids of the graphs' tensors: their slots in sdfe_exec's table, plus one */
int64_t uid_of(int slot) { return (int64_t)slot + 1; }

fe_tensor bthd(fe::graph::Graph &g, const char *name, int slot, int64_t B, int64_t T, int64_t H, int64_t D) {
  return g.tensor(fe::graph::Tensor_attributes()
                      .set_name(name)
                      .set_uid(uid_of(slot))
                      .set_dim({B, H, T, D})
                      .set_stride({T * H * D, D, H * D, 1}));
}

void out_bthd(const fe_tensor &t, int slot, int64_t B, int64_t T, int64_t H, int64_t D) {
  (void)t->set_output(true).set_uid(uid_of(slot)).set_dim({B, H, T, D}).set_stride({T * H * D, D, H * D, 1});
}

/* true when a frontend call succeeded; else its message into why */
bool ok(fe::error_t st, std::string &why) {
  if (st.is_good()) return true;
  why = st.get_message();
  return false;
}

void build(sd_plan &p, cudnnHandle_t h, const sdfe_key &k) {
  auto g = std::make_shared<fe::graph::Graph>();
  (void)g->set_io_data_type(fe::DataType_t::BFLOAT16)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  fe_tensor Q = bthd(*g, "Q", SDFE_Q, k.B, k.Tq, k.Hq, k.D), K = bthd(*g, "K", SDFE_K, k.B, k.Tk, k.Hkv, k.D),
            V = bthd(*g, "V", SDFE_V, k.B, k.Tk, k.Hkv, k.D), sq, skv;
  if (k.padded) {
    auto seq = [&](const char *name, int slot) {
      return g->tensor(fe::graph::Tensor_attributes()
                           .set_name(name)
                           .set_uid(uid_of(slot))
                           .set_dim({k.B, 1, 1, 1})
                           .set_stride({1, 1, 1, 1})
                           .set_data_type(fe::DataType_t::INT32));
    };
    sq = seq("seq_q", SDFE_SEQ_Q), skv = seq("seq_kv", SDFE_SEQ_KV);
  }
  const std::vector<int64_t> sdim = {k.B, k.Hq, k.Tq, 1}, sstr = {k.Hq * k.Tq, k.Tq, 1, 1};
  if (!k.bwd) {
    auto o = fe::graph::SDPA_attributes().set_name("sdpa").set_generate_stats(true).set_attn_scale(k.scale);
    if (k.causal) (void)o.set_causal_mask(true);
    if (k.padded) (void)o.set_padding_mask(true).set_seq_len_q(sq).set_seq_len_kv(skv);
    auto [O, S] = g->sdpa(Q, K, V, o);
    out_bthd(O, SDFE_O, k.B, k.Tq, k.Hq, k.D);
    (void)S->set_output(true).set_uid(uid_of(SDFE_STATS)).set_data_type(fe::DataType_t::FLOAT).set_dim(sdim).set_stride(
        sstr);
  } else {
    fe_tensor O = bthd(*g, "O", SDFE_O, k.B, k.Tq, k.Hq, k.D), dO = bthd(*g, "dO", SDFE_DO, k.B, k.Tq, k.Hq, k.D);
    fe_tensor S = g->tensor(fe::graph::Tensor_attributes()
                                .set_name("stats")
                                .set_uid(uid_of(SDFE_STATS))
                                .set_dim(sdim)
                                .set_stride(sstr)
                                .set_data_type(fe::DataType_t::FLOAT));
    auto o = fe::graph::SDPA_backward_attributes().set_name("sdpa_bwd").set_attn_scale(k.scale);
    if (k.causal) (void)o.set_causal_mask(true);
    if (k.padded) (void)o.set_padding_mask(true).set_seq_len_q(sq).set_seq_len_kv(skv);
    if (k.det) (void)o.set_deterministic_algorithm(true); /* refused: the flash kernels take the shape */
    auto [dQ, dK, dV] = g->sdpa_backward(Q, K, V, O, dO, S, o);
    out_bthd(dQ, SDFE_DQ, k.B, k.Tq, k.Hq, k.D);
    out_bthd(dK, SDFE_DK, k.B, k.Tk, k.Hkv, k.D);
    out_bthd(dV, SDFE_DV, k.B, k.Tk, k.Hkv, k.D);
  }
  std::string why;
  int64_t ws = 0;
  bool good = ok(g->validate(), why) && ok(g->build_operation_graph(h), why) &&
              ok(g->create_execution_plans({fe::HeurMode_t::A}), why) && ok(g->check_support(h), why) &&
              ok(g->build_plans(h), why) && ok(g->get_workspace_size(ws), why);
  if (!good) {
    log_warn("cuda: cuDNN SDPA %s refused B %lld Tq %lld Tk %lld heads %lld/%lld D %lld%s%s (%s); the backend's "
             "kernels take it",
             k.bwd ? "backward" : "forward", (long long)k.B, (long long)k.Tq, (long long)k.Tk, (long long)k.Hq,
             (long long)k.Hkv, (long long)k.D, k.causal ? " causal" : "", k.padded ? " padded" : "", why.c_str());
    return;
  }
  p.g = g, p.ws = ws;
}

}  // namespace

extern "C" void *sdfe_plan(void *handle, const sdfe_key *k, int64_t *ws) {
  uint32_t sb;
  memcpy(&sb, &k->scale, sizeof sb);
  sd_map_key key(k->B, k->Tq, k->Tk, k->Hq, k->Hkv, k->D, k->causal, k->padded, k->bwd, sb, k->bwd ? k->det : 0);
  auto it = g_plans.find(key);
  if (it == g_plans.end()) {
    it = g_plans.emplace(key, sd_plan()).first;
    try {
      build(it->second, (cudnnHandle_t)handle, *k);
    } catch (const std::exception &ex) { /* the frontend's JSON or allocation failures */
      log_warn("cuda: cuDNN SDPA: %s; the backend's kernels take this shape", ex.what());
      it->second.g.reset();
    }
  }
  *ws = it->second.ws;
  return it->second.g ? (void *)&it->second : NULL;
}

extern "C" int sdfe_exec(void *handle, void *plan, void *const *ptrs, void *ws, char *why, size_t n) {
  sd_plan *p = (sd_plan *)plan;
  try {
    std::unordered_map<int64_t, void *> vp;
    for (int s = 0; s < SDFE_N; s++)
      if (ptrs[s]) vp[uid_of(s)] = ptrs[s];
    fe::error_t st = p->g->execute((cudnnHandle_t)handle, vp, ws);
    if (st.is_good()) return 0;
    snprintf(why, n, "%s", st.get_message().c_str());
    return (int)st.get_code() ? (int)st.get_code() : -1;
  } catch (const std::exception &ex) {
    snprintf(why, n, "%s", ex.what());
    return -1;
  }
}
#endif
