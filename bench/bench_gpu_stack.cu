// bench_gpu_stack.cu — the GPU benchmark's rows for the SFT step's work besides its GEMMs and
// attention (bench_gpu_ops elem, conv): the element kernels' TB/s against the grid's cap and
// their wide forms, the feature extractor's channel LayerNorm, and data2vec's convolutions layer by layer on cuDNN (f32 and bf16 data) and
// on im2col.
#include <string.h>

extern "C" {
#include "tensor/ops.h"
}
#include "bench_gpu_rig.h"

/* The element kernels' rate (TB/s of the bytes each must move) on n items against the grid's
 * cap (cuda_set_elem_blocks: 0 = one thread per item, else at most that many 256-thread
 * blocks per SM, each thread striding over several items), GPU time per call in CUDA graphs:
 * GELU f32 -> bf16 (6 bytes an item: a bf16 activation's forward), GELU's backward (16: x, g,
 * dx read and written), axpby (12), AdamW (28: p, g, m, v read, p, m, v written) and the
 * rounding f32 -> bf16 (6: the weights' copy, as GEMM operands and SDPA's inputs are rounded);
 * then GELU, AdamW and the rounding again with cuda_set_elem_vec (eight values, four for AdamW,
 * a thread-step: "vec"). */
void bench_elem(int64_t n) {
  float *x = dbuf(n), *g = dbuf(n), *y = dbuf(n), *m = dbuf(n);
  unsigned short *yb = (unsigned short *)g_be->ops->alloc(g_be, sizeof(unsigned short) * (size_t)n);
  if (!yb) {
    fprintf(stderr, "bench_gpu_ops: out of device memory (%lld bf16)\n", (long long)n);
    exit(1);
  }
  tensor X = T(x, 1, n), G = T(g, 1, n), Y = T(y, 1, n), Yb = T((float *)yb, 1, n);
  Yb.dtype = DT_BF16;
  OK(g_be->ops->fill(g_be, &G, 0.0f)); /* GELU's dy and AdamW's v: zeros keep every value finite */
  static const int caps[] = {0, 4, 8, 16};
  struct kern {
    const char *name;
    double bytes;
  } ks[] = {{"gelu f32->bf16", 6}, {"gelu bwd", 16}, {"axpby", 12}, {"adamw", 28}, {"round f32->bf16", 6}};
  /* the rounding through the weights' bf16 copy, which the bf16 precision makes: made once
   * here, outside the graphs (its buffer's cudaMalloc) */
  char prec[16];
  snprintf(prec, sizeof prec, "%s", cuda_gemm_name());
  OK(cuda_set_gemm("bf16"));
  OK(g_be->ops->weights_bf16(g_be, x, n, 1));
  /* no fused rounding: GELU's backward then writes its 16 bytes an item at every n (with it, 18
   * below the rounding buffer's cap and 16 above) */
  const char *fr = getenv("TSASR_CUDA_FUSE_ROUND");
  OK(cuda_set_fuse_round(0));
  for (int vec = 0; vec < 2; vec++)
    for (int c : caps) {
      OK(cuda_set_elem_blocks(c));
      OK(cuda_set_elem_vec(vec));
      for (int k = 0; k < 5; k++) {
        if (vec && k == 2) continue; /* axpby has no eight-a-step form */
        auto fn = [&] {
          if (k == 0) OK(g_be->ops->act(g_be, ACT_GELU, &X, &Yb));
          if (k == 1) OK(g_be->ops->act_bwd(g_be, ACT_GELU, &X, &G, &Y, 0));
          if (k == 2) OK(g_be->ops->axpby(g_be, &X, 0.5f, &Y, 0.5f));
          if (k == 3) OK(g_be->ops->adamw(g_be, y, x, m, g, n, 1e-7f, 0.9f, 0.999f, 1e-8f, 0.0f, 1));
          if (k == 4) OK(g_be->ops->weights_bf16(g_be, x, n, 1));
        };
        fn(); /* eager once: whatever it allocates is made outside the graph's capture */
        CK(cudaDeviceSynchronize());
        double ms = time_graph_ms(fn, n > (1 << 26) ? 4 : 16);
        char name[96], rate[64];
        snprintf(name, sizeof name, "elem %s%s n=%lld cap=%d/SM", ks[k].name, vec ? " vec" : "", (long long)n, c);
        snprintf(rate, sizeof rate, "%.2f TB/s", ms > 0 ? ks[k].bytes * (double)n / (ms * 1e-3) / 1e12 : 0.0);
        report(name, ms, rate);
      }
    }
  OK(cuda_set_elem_blocks(0));
  OK(cuda_set_elem_vec(0));
  OK(g_be->ops->weights_bf16(g_be, NULL, 0, 0));
  OK(cuda_set_gemm(prec));
  OK(cuda_set_fuse_round(!(fr && !strcmp(fr, "0"))));
  g_be->ops->release(g_be, x), g_be->ops->release(g_be, g), g_be->ops->release(g_be, y), g_be->ops->release(g_be, m);
  g_be->ops->release(g_be, yb);
}

/* The channel LayerNorm of data2vec's feature extractor on (B, C, T) (its first layer's output:
 * 4 x 512 x 63,999 on 4 x 20 s), forward (8 bytes a value: x read, y written) and backward with
 * dx, dw, db (16: x, g, dx read, dx written), first as written (three reads of x in the forward,
 * a separate pass for dw, db) then in the register forms (cuda_set_elem_vec: "vec"), GPU time
 * per call in CUDA graphs. Rows in bench_elem's form ("elem layernorm_ch ..." at cap 0). */
void bench_lnc(int64_t B, int64_t C, int64_t Tn) {
  const int64_t n = B * C * Tn;
  float *x = dbuf(n), *y = dbuf(n), *g = dbuf(n), *w = dbuf(C), *b = dbuf(C), *mn = dbuf(B * Tn), *rs = dbuf(B * Tn);
  float *dw = dbuf(C), *db = dbuf(C);
  tensor X = T(x, 3, B, C, Tn), Y = T(y, 3, B, C, Tn), G = T(g, 3, B, C, Tn), W = T(w, 1, C), Bs = T(b, 1, C);
  tensor M = T(mn, 1, B * Tn), R = T(rs, 1, B * Tn), DW = T(dw, 1, C), DB = T(db, 1, C);
  for (int vec = 0; vec < 2; vec++) {
    OK(cuda_set_elem_vec(vec));
    for (int k = 0; k < 2; k++) {
      auto fn = [&] {
        if (k == 0) OK(op_layernorm_ch(g_be, &X, &W, &Bs, &Y, &M, &R, 1e-5f, &g_e));
        else OK(op_layernorm_ch_bwd(g_be, &X, &W, &M, &R, &G, &Y, &DW, &DB, &g_e));
      };
      fn(); /* eager once: the backward's scratch for its partials is made outside the capture */
      CK(cudaDeviceSynchronize());
      double ms = time_graph_ms(fn, 4);
      char name[96], rate[64];
      snprintf(name, sizeof name, "elem layernorm_ch %s%s n=%lld cap=0/SM", k ? "bwd" : "fwd", vec ? " vec" : "",
               (long long)n);
      snprintf(rate, sizeof rate, "%.2f TB/s", ms > 0 ? (k ? 16.0 : 8.0) * (double)n / (ms * 1e-3) / 1e12 : 0.0);
      report(name, ms, rate);
    }
  }
  OK(cuda_set_elem_vec(0));
  for (float *p : {x, y, g, w, b, mn, rs, dw, db}) g_be->ops->release(g_be, p);
}

/* One convolution of data2vec's stack at the paper geometry's micro-batch (4 x 20 s), bf16
 * precision, forward and backward (dx unless the input is the waveform, dW, db), on cuDNN
 * with f32 data (mode 1), on cuDNN with bf16 data (cuda_set_cudnn_bf16), on the im2col
 * path (mode 0) and channels-last (op_conv1d_cl), host-fed between events (cuDNN's calls are not captured). x is a bf16 activation as in training (the GELU before it stores bf16), except
 * the waveform's. Which path wins per shape is what cuda_set_cudnn's modes choose; session
 * 17's profile put ~27 ms of a 99 ms step in this stack without saying which layer took what. */
void bench_conv(const char *tag, int64_t B, int64_t Cin, int64_t Tn, int64_t Cout, int64_t K, int stride, int pad,
                int groups) {
  const int64_t To = op_conv1d_out_len(Tn, K, stride, pad), nx = B * Cin * Tn;
  const bool wav = Cin == 1;
  float *xf = dbuf(nx), *w = dbuf(Cout * (Cin / groups) * K), *bs = dbuf(Cout), *y = dbuf(B * Cout * To);
  float *dy = dbuf(B * Cout * To), *dx = wav ? NULL : dbuf(nx), *dw = dbuf(Cout * (Cin / groups) * K), *db = dbuf(Cout);
  void *xb = NULL;
  if (!wav) {
    CK(cudaMalloc(&xb, 2 * (size_t)nx));
    bench_to_bf16(xf, xb, nx);
  }
  tensor X = T(wav ? xf : (float *)xb, 3, B, Cin, Tn), W = T(w, 3, Cout, Cin / groups, K), Bs = T(bs, 1, Cout);
  if (!wav) X.dtype = DT_BF16;
  tensor Y = T(y, 3, B, Cout, To), DY = T(dy, 3, B, Cout, To), DW = T(dw, 3, Cout, Cin / groups, K), DB = T(db, 1, Cout);
  tensor DX = wav ? tensor{} : T(dx, 3, B, Cin, Tn);
  /* the same buffers channels-last for op_conv1d_cl: (B, T, C) */
  tensor XC = X, YC = T(y, 3, B, To, Cout), DYC = T(dy, 3, B, To, Cout), DXC = wav ? tensor{} : T(dx, 3, B, Tn, Cin);
  XC.ne[1] = Tn, XC.ne[2] = Cin;
  const double fl = 2.0 * (double)B * To * Cout * (Cin / groups) * K; /* one direction's FLOPs */
  /* cuDNN on f32 data, im2col, then cuDNN on bf16 data (cuda_set_cudnn_bf16) last and only when
   * the caller says its checks passed (TSASR_BENCH_DNN16=1: run.sh 3o, quick.sh q2'), so that a
   * failure there (an exit) costs no other row */
  /* "cl": op_conv1d_cl on the same buffers channels-last (the encoder's layout since session 19:
   * per-tap cuBLAS GEMMs, or a row im2col for the waveform and the grouped convolution) */
  static const char *const how[] = {"cuDNN", "im2col", "cl", "cuDNN16"};
  const bool d16 = getenv("TSASR_BENCH_DNN16") && !strcmp(getenv("TSASR_BENCH_DNN16"), "1");
  for (int v = 0; v < (d16 ? 4 : 3); v++) {
    int mode = v != 1 && v != 2;
    if ((v != 2 && cuda_set_cudnn(mode)) || cuda_set_cudnn_bf16(v == 3))
      continue; /* a build without cuDNN: im2col and cl only */
    long c0, f0, c1, f1;
    cuda_cudnn_counts(&c0, &f0);
    double f = time_ms(
        [&] {
          if (v == 2)
            OK(op_conv1d_cl(g_be, &XC, &W, &Bs, &YC, stride, pad, groups, &g_e));
          else
            OK(op_conv1d(g_be, &X, &W, &Bs, &Y, stride, pad, groups, &g_e));
        },
        2, 5);
    double b = time_ms(
        [&] {
          if (v == 2)
            OK(op_conv1d_cl_bwd(g_be, &XC, &W, &DYC, wav ? NULL : &DXC, &DW, &DB, stride, pad, groups, &g_e));
          else
            OK(op_conv1d_bwd(g_be, &X, &W, &DY, wav ? NULL : &DX, &DW, &DB, stride, pad, groups, &g_e));
        },
        2, 5);
    cuda_cudnn_counts(&c1, &f1); /* what ran on cuDNN and what fell back (a cuDNN16 row on im2col) */
    char name[96], rate[64];
    snprintf(name, sizeof name, "conv %s fwd %s", tag, how[v]);
    snprintf(rate, sizeof rate, "%.1f TFLOP/s cudnn=%ld/%ld", fl / (f * 1e-3) / 1e12, c1 - c0, f1 - f0);
    report(name, f, rate);
    snprintf(name, sizeof name, "conv %s bwd %s", tag, how[v]);
    snprintf(rate, sizeof rate, "%.1f TFLOP/s cudnn=%ld/%ld", (wav ? 1.0 : 2.0) * fl / (b * 1e-3) / 1e12, c1 - c0,
             f1 - f0);
    report(name, b, rate);
  }
  cuda_set_cudnn(2); /* the defaults again (TS_EUNSUP without cuDNN: nothing to restore) */
  cuda_set_cudnn_bf16(0);
  for (float *p : {xf, w, bs, y, dy, dx, dw, db})
    if (p) g_be->ops->release(g_be, p);
  if (xb) CK(cudaFree(xb));
}
