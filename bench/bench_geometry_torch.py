#!/usr/bin/env python3
"""PyTorch + transformers side of bench/run_geometry.sh: data2vec-audio large forward on the
same input length, and Qwen2.5-0.5B forward over the same number of tokens (HF computes the
logits of every position), random weights, float32, eager; each timed on a second run. Prints
the same lines as bench_geometry.c."""
import os
import sys
import time

import torch

# BENCH_GEMM=bf16: both models and the input cast to bf16 (CPU autocast fails in HF's
# Data2VecAudio under torch 1.13: a layer norm gets f32 weights and bf16 input), which needs
# oneDNN; otherwise oneDNN stays off (Debian's build has a broken conv backward, unused here).
# Pure bf16 also stores weights and activations in bf16, which our GEMM precision does not.
bf16 = os.environ.get("BENCH_GEMM") == "bf16"
torch.backends.mkldnn.enabled = bf16
from transformers import Data2VecAudioConfig, Data2VecAudioModel, Qwen2Config, Qwen2ForCausalLM  # noqa: E402

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
T = int(sys.argv[2]) if len(sys.argv) > 2 else 300
enc = Data2VecAudioModel(Data2VecAudioConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                             intermediate_size=4096, conv_bias=True, num_conv_pos_embeddings=5,
                                             conv_pos_kernel_size=19, num_conv_pos_embedding_groups=16,
                                             layer_norm_eps=1e-5)).eval()
llm = Qwen2ForCausalLM(Qwen2Config(vocab_size=151936, hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                                   num_key_value_heads=2, intermediate_size=4864, rms_norm_eps=1e-6,
                                   rope_theta=1e6, tie_word_embeddings=True, attn_implementation="eager")).eval()
x = torch.randn(1, int(secs * 16000)) * 0.1
if bf16:
    enc, llm, x = enc.to(torch.bfloat16), llm.to(torch.bfloat16), x.to(torch.bfloat16)
with torch.no_grad():
    for k in range(2):  # a first run (allocator, thread pool), then the timed one
        t0 = time.perf_counter()
        h = enc(x).last_hidden_state
        te = time.perf_counter() - t0
        if k == 0:
            print(f"encoder_infer_first_{secs:.0f}s {te:.3f} s")
    print(f"encoder_infer_{secs:.0f}s {te:.3f} s  {secs / te:.2f} audio-s/s  ({h.shape[1]} frames; no_grad)")
    ids = torch.randint(0, 150000, (1, T))
    for k in range(2):
        t0 = time.perf_counter()
        llm(input_ids=ids)
        tl = time.perf_counter() - t0
    print(f"llm_fwd_T{T} {tl:.3f} s  {T / tl:.1f} tokens/s")
