#!/usr/bin/env python3
"""PyTorch side of bench/run_encoder.sh: the same data2vec-audio base geometry as
bench_encoder.c in Hugging Face transformers (Data2VecAudioModel, eval mode, float32, random
weights), one utterance: forward (no_grad) and forward + backward of sum(out * w) w.r.t. every
parameter. Prints: name median_ms audio_seconds_per_second.
Usage: bench_encoder_torch.py SECONDS REPS THREADS  (needs transformers, see tools/gen_encoder_fixtures.py)"""
import statistics
import sys
import time

import torch

torch.backends.mkldnn.enabled = False  # as in the fixtures: Debian's oneDNN conv backward is broken
secs, reps, threads = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
from transformers import Data2VecAudioConfig, Data2VecAudioModel  # noqa: E402

cfg = Data2VecAudioConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                          num_conv_pos_embeddings=5, conv_pos_kernel_size=19, num_conv_pos_embedding_groups=16,
                          mask_time_prob=0.0)
torch.manual_seed(0)
model = Data2VecAudioModel(cfg).eval()
L = int(secs * 16000)
x = torch.rand(1, L) - 0.5
mask = torch.ones(1, L, dtype=torch.long)


def timed(f):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def fwd():
    with torch.no_grad():
        model(x, attention_mask=mask)


w = None


def fwdbwd():
    global w
    model.zero_grad(set_to_none=True)
    out = model(x, attention_mask=mask).last_hidden_state
    if w is None:
        w = torch.rand_like(out) - 0.5
    (out * w).sum().backward()


for name, f in (("fwd", fwd), ("fwd+bwd", fwdbwd)):
    ms = timed(f)
    print(f"encoder_{name}_{secs:g}s {ms:.1f} {secs / (ms / 1e3):.3f}", flush=True)
