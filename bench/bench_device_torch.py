#!/usr/bin/env python3
"""PyTorch + Hugging Face side of bench_device (tests/gpu/run.sh step 6): the same geometry with
random weights on the same device, measured the way people run it today.

SFT: transformers Data2VecAudioModel + an MLP adapter (k frames concatenated) + Qwen2ForCausalLM
fed with inputs_embeds; B inputs of S seconds, a 60-token prompt with the audio spliced in at
position 30 and R response tokens; cross-entropy on the response, backward, AdamW. Precision
"f32" (eager float32, PyTorch's defaults: cuDNN's convolutions on TF32 tensor cores, matmuls in
f32), "f32x" (f32 with TF32 off everywhere, as tsasr's f32; SFT only) or "bf16" (torch.autocast
bfloat16, SDPA attention: the usual recipe).
Rollouts: one input, HF generate with do_sample, num_return_sequences = G and exactly NEW new
tokens (min_new_tokens = max_new_tokens), in the given precision. "bf16w" runs the rollout only,
with the weights cast to bfloat16 and SDPA: faster than autocast, which re-casts every weight at
every step (HF's default dynamic cache; no static cache or torch.compile).

argv: DEVICE GEOMETRY(paper|small) B S R STEPS G NEW PRECISION[,PRECISION...] [ACCUM]
ACCUM (default 1), as bench_device's --accum: a step is ACCUM micro-batches' forwards and
backwards (the loss divided by ACCUM), then (ACCUM > 1) clip_grad_norm_ at 1 and AdamW once.
Prints lines with the keys bench_device prints (sft_tokens_per_s, rollout ... tokens/s). With
TSASR_TORCH_PROFILE=1, one more SFT step runs under torch.profiler and its kernels' device time
is printed by kernel (the 30 slowest; tests/gpu/kprof.sh compares them with tsasr's)."""
import os
import sys
import time

import torch

torch.backends.mkldnn.enabled = False
import transformers  # noqa: E402
from transformers import Data2VecAudioConfig, Data2VecAudioModel, Qwen2Config, Qwen2ForCausalLM  # noqa: E402

dev = sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu")
geo = sys.argv[2] if len(sys.argv) > 2 else "paper"
B, S, R, STEPS, G, NEW = (int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]),
                          int(sys.argv[8])) if len(sys.argv) > 8 else (4, 20.0, 40, 3, 8, 512)
precs = (sys.argv[9] if len(sys.argv) > 9 else "f32").split(",")
ACCUM = int(sys.argv[10]) if len(sys.argv) > 10 else 1
P = 60
torch.manual_seed(0)

if geo == "paper":
    ecfg = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                conv_dim=[512] * 7, conv_bias=True, num_conv_pos_embeddings=5, conv_pos_kernel_size=19,
                num_conv_pos_embedding_groups=16)
    K, AH, C, V = 5, 2048, 896, 151936
    lcfg = dict(vocab_size=V, hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                intermediate_size=4864, rope_theta=1000000.0)
else:
    ecfg = dict(hidden_size=192, num_hidden_layers=4, num_attention_heads=4, intermediate_size=768, conv_dim=[128] * 7,
                conv_bias=True, num_conv_pos_embeddings=3, conv_pos_kernel_size=19, num_conv_pos_embedding_groups=16)
    K, AH, C, V = 2, 256, 256, 608
    lcfg = dict(vocab_size=V, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=768, rope_theta=1000000.0)


def with_attn(make, attn):
    """make(attn) with the preferred attention, else eager (old torch or transformers)"""
    try:
        return make(attn), attn
    except (ValueError, ImportError):
        return make("eager"), "eager"


def build(prec):
    # bf16 on the CPU needs oneDNN (off above for Debian torch's broken conv backward: the CPU
    # bf16 numbers include that risk; our CPU reference runs use rollouts)
    torch.backends.mkldnn.enabled = prec == "bf16" and dev == "cpu"
    attn = "sdpa" if prec == "bf16" else "eager"
    enc, ea = with_attn(lambda a: Data2VecAudioModel(Data2VecAudioConfig(
        **ecfg, layer_norm_eps=1e-5, mask_time_prob=0.0, layerdrop=0.0, attn_implementation=a)), attn)
    ad = torch.nn.Sequential(torch.nn.Linear(K * ecfg["hidden_size"], AH), torch.nn.ReLU(), torch.nn.Linear(AH, C))
    llm, la = with_attn(lambda a: Qwen2ForCausalLM(Qwen2Config(
        **lcfg, rms_norm_eps=1e-6, tie_word_embeddings=True, attn_implementation=a)), attn)
    return enc.to(dev), ad.to(dev), llm.to(dev), f"attention {ea}/{la}"


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


x = torch.randn(B, int(S * 16000), device=dev) * 0.1
ids = torch.randint(0, min(V - 8, 150000), (B, P + R), device=dev)
print(f"torch {torch.__version__}, transformers {transformers.__version__} on "
      f"{torch.cuda.get_device_name() if dev == 'cuda' else 'cpu'}: {geo} geometry")


def audio(enc, ad, xb):
    """encoder + adapter on a batch of waveforms: (adapter output, audio frames)"""
    h = enc(xb).last_hidden_state
    na = h.shape[1] // K
    return ad(h[:, : na * K].reshape(xb.shape[0], na, K * ecfg["hidden_size"])), na


def rollout(enc, ad, llm, ctx, xb, reps=1):
    """G samples of exactly NEW tokens from one input with HF generate, after an untimed one of
    32 tokens (as bench_device warms up); the best of reps; prints the rollout line"""
    best, times = 1e30, []
    for rep in range(-1, reps):
        new = min(NEW, 32) if rep < 0 else NEW
        with torch.no_grad(), ctx:
            sync()
            t0 = time.perf_counter()
            a, _ = audio(enc, ad, xb)
            emb = llm.model.embed_tokens
            xs = torch.cat([emb(ids[:1, :30]), a, emb(ids[:1, 31:P])], 1)
            out = llm.generate(inputs_embeds=xs, attention_mask=torch.ones(xs.shape[:2], dtype=torch.long, device=dev),
                               max_new_tokens=new, min_new_tokens=new, do_sample=True, top_p=1.0, top_k=0,
                               temperature=1.0, num_return_sequences=G, pad_token_id=0, eos_token_id=V - 1)
            sync()
            dt = time.perf_counter() - t0
        if rep >= 0:
            times.append(f"{dt:.2f}")
            best = min(best, dt)
    print(f"rollout G={G} x {NEW} new tokens (HF generate, {out.shape[1]} tokens each): {best:.2f} s, "
          f"{G * NEW / best:.0f} tokens/s (best of {reps} after a warm-up: {', '.join(times)} s)")


def profile_step(step, prec):
    """one SFT step under torch.profiler: the kernels' device time, slowest first (the table's
    sort key is named self_device_time_total in newer torch, self_cuda_time_total before)"""
    from torch.profiler import ProfilerActivity, profile
    sync()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        step()
        sync()
    print(f"== torch {prec} SFT step under torch.profiler")
    ka = prof.key_averages()
    for key in ("self_device_time_total", "self_cuda_time_total"):
        try:
            print(ka.table(sort_by=key, row_limit=30, max_name_column_width=70))
            return
        except (AttributeError, KeyError, TypeError):
            continue
    print("(this torch's profiler table has neither sort key)")


def run(prec):
    # "f32x": f32 with TF32 off for convolutions too (PyTorch's default lets cuDNN's f32
    # convolutions run on TF32 tensor cores, allow_tf32; tsasr's f32 keeps FMA kernels): the
    # like-for-like row for tsasr's f32, SFT only
    exact = prec == "f32x"
    tf32 = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    if exact:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        run_prec(prec, exact)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32


def run_prec(prec, exact):
    enc, ad, llm, attn_used = build("bf16" if prec == "bf16w" else "f32" if exact else prec)
    n = sum(p.numel() for m in (enc, ad, llm) for p in m.parameters())
    if prec == "bf16w":  # rollout only, with the weights in bfloat16 and no autocast
        enc, ad, llm = enc.to(torch.bfloat16), ad.to(torch.bfloat16), llm.to(torch.bfloat16)
        print(f"-- torch bf16w ({n / 1e6:.1f}M parameters in bfloat16, {attn_used}; rollout only)")
        if G > 0 and NEW > 0:
            # the fastest HF setting, the rollout baseline: the best of 2 as bench_device's
            rollout(enc, ad, llm, torch.autocast(dev, enabled=False), x[:1].to(torch.bfloat16), reps=2)
        return
    opt = torch.optim.AdamW(list(enc.parameters()) + list(ad.parameters()) + list(llm.parameters()), lr=1e-5,
                            weight_decay=0.0)
    ctx = torch.autocast(dev, dtype=torch.bfloat16) if prec == "bf16" else torch.autocast(dev, enabled=False)

    params = [p for m in (enc, ad, llm) for p in m.parameters()]

    def step():
        opt.zero_grad(set_to_none=True)
        for _ in range(ACCUM):
            with ctx:
                a, na = audio(enc, ad, x)
                emb = llm.model.embed_tokens
                xs = torch.cat([emb(ids[:, :30]), a, emb(ids[:, 31:])], 1)
                logits = llm(inputs_embeds=xs).logits[:, -R - 1:-1]
                loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, V), ids[:, P:].reshape(-1))
            (loss / ACCUM).backward()
        if ACCUM > 1:
            torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return na

    best = 1e30
    for k in range(STEPS + 1):
        sync()
        t0 = time.perf_counter()
        na = step()
        sync()
        t = time.perf_counter() - t0
        if k:
            best = min(best, t)
    T = P - 1 + na + R
    tf = f", TF32 convolutions {torch.backends.cudnn.allow_tf32}, matmuls {torch.backends.cuda.matmul.allow_tf32}"
    print(f"-- torch {prec} ({n / 1e6:.1f}M parameters, {attn_used}{tf if prec != 'bf16' else ''})")
    acc = f", accumulated over {ACCUM} micro-batches (global batch {B * ACCUM}, one AdamW)" if ACCUM > 1 else ""
    print(f"sft_step batch {B} x {S:.0f} s{acc}, {T} LLM tokens each: {best:.3f} s (best of {STEPS})")
    print(f"sft_tokens_per_s {B * ACCUM * T / best:.0f}  audio_s_per_s {B * ACCUM * S / best:.1f}")
    if os.environ.get("TSASR_TORCH_PROFILE") == "1" and dev == "cuda":
        profile_step(step, prec)
    del opt
    if G > 0 and NEW > 0 and not exact:
        rollout(enc, ad, llm, ctx, x[:1])


for prec in precs:
    try:
        run(prec)  # its models are freed when it returns
        if dev == "cuda":
            torch.cuda.empty_cache()
    except (RuntimeError, ValueError) as exc:  # e.g. bf16 autocast on an old CPU torch
        print(f"-- torch {prec}: failed: {str(exc).splitlines()[0]}")
