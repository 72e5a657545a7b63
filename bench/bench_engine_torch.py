#!/usr/bin/env python3
"""PyTorch side of bench/run_engine.sh: the same cases as bench_engine.c, same shapes, float32,
eager autograd (Debian's torch 1.13 has no fused attention; this is HF's eager path).
Prints: name median_ms GFLOP/s."""
import statistics
import sys
import time

import torch

torch.backends.mkldnn.enabled = False
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def median_ms(f):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def report(name, ms, flops):
    print(f"{name} {ms:.3f} {flops / (ms * 1e6):.2f}", flush=True)


TAG = ""  # "bf16_": the cases run under CPU autocast to bf16 (outputs bf16; ours stay f32)


def bench_matmul(M, N, K):
    x = torch.rand(M, K) * 2 - 1
    w = (torch.rand(N, K) * 2 - 1).requires_grad_()
    xg = x.clone().requires_grad_()
    dy = torch.rand(M, N)
    with torch.no_grad():
        report(f"{TAG}matmul_fwd_{M}x{N}x{K}", median_ms(lambda: x @ w.T), 2.0 * M * N * K)

    def fb():
        xg.grad = None
        w.grad = None
        (xg @ w.T).backward(dy)
    report(f"{TAG}matmul_fwdbwd_{M}x{N}x{K}", median_ms(fb), 6.0 * M * N * K)


def attention(q, k, v, causal):
    B, T, Hq, D = q.shape
    grp = Hq // k.shape[2]
    k = k.repeat_interleave(grp, dim=2)
    v = v.repeat_interleave(grp, dim=2)
    s = torch.einsum("bihd,bjhd->bhij", q, k) * D ** -0.5
    if causal:
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    return torch.einsum("bhij,bjhd->bihd", torch.softmax(s, -1), v)


def bench_attention(B, T, Hq, Hkv, D, causal):
    q = torch.randn(B, T, Hq, D, requires_grad=True)
    k = torch.randn(B, T, Hkv, D, requires_grad=True)
    v = torch.randn(B, T, Hkv, D, requires_grad=True)
    dout = torch.randn(B, T, Hq, D)

    def fb():
        q.grad = k.grad = v.grad = None
        attention(q, k, v, causal).backward(dout)
    flops = 2.0 * B * Hq * T * T * D * 2 + 2.0 * B * Hq * T * T * D * 5
    name = f"attention_fwdbwd_B{B}_T{T}_H{Hq}_{Hkv}_D{D}_{'causal' if causal else 'full'}"
    report(name, median_ms(fb), flops)


def rope(x, pos, theta):
    D = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, D, 2).float() / D))
    ang = pos.float()[..., None] * inv
    emb = torch.cat([ang, ang], -1)
    cos, sin = emb.cos()[:, :, None, :], emb.sin()[:, :, None, :]
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def bench_block(B, T):
    C, Hq, Hkv, D, F, eps, theta = 896, 14, 2, 64, 4864, 1e-6, 1e6

    def P(*s):
        return (torch.randn(*s) * 0.02).requires_grad_()
    p = dict(ln1=torch.ones(C, requires_grad=True), wq=P(Hq * D, C), bq=P(Hq * D), wk=P(Hkv * D, C), bk=P(Hkv * D),
             wv=P(Hkv * D, C), bv=P(Hkv * D), wo=P(C, Hq * D), ln2=torch.ones(C, requires_grad=True),
             wg=P(F, C), wu=P(F, C), wd=P(C, F))
    x = torch.rand(B, T, C) * 2 - 1
    dy = torch.rand(B, T, C) * 2 - 1
    pos = torch.arange(T)[None].repeat(B, 1)

    def rms(t, w):
        return t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + eps) * w

    def fb():
        for t in p.values():
            t.grad = None
        h = rms(x, p["ln1"])
        q = (h @ p["wq"].T + p["bq"]).view(B, T, Hq, D)
        k = (h @ p["wk"].T + p["bk"]).view(B, T, Hkv, D)
        v = (h @ p["wv"].T + p["bv"]).view(B, T, Hkv, D)
        a = attention(rope(q, pos, theta), rope(k, pos, theta), v, True)
        hh = x + a.reshape(B, T, Hq * D) @ p["wo"].T
        h2 = rms(hh, p["ln2"])
        y = hh + (torch.nn.functional.silu(h2 @ p["wg"].T) * (h2 @ p["wu"].T)) @ p["wd"].T
        y.backward(dy)
    params = sum(t.numel() for t in p.values())
    flops = 6.0 * params * B * T + 2.0 * B * 14 * T * T * 64 * 7
    report(f"{TAG}qwen2_0.5b_layer_fwdbwd_B{B}_T{T}", median_ms(fb), flops)


def bench_gelu(n):
    x = (torch.rand(n) * 2 - 1) * 4
    dy = torch.rand(n) * 2 - 1
    with torch.no_grad():
        report(f"gelu_fwd_{n}", median_ms(lambda: torch.nn.functional.gelu(x)), float(n))
    xg = x.clone().requires_grad_()

    def fb():
        xg.grad = None
        torch.nn.functional.gelu(xg).backward(dy)

    report(f"gelu_fwdbwd_{n}", median_ms(fb), float(n))


if __name__ == "__main__":
    bench_matmul(512, 512, 512)
    bench_matmul(256, 4864, 896)
    bench_attention(1, 256, 14, 2, 64, True)
    bench_attention(1, 500, 16, 16, 64, False)
    bench_block(1, 256)
    bench_gelu(4000 * 4096)
    TAG = "bf16_"
    # bf16 matmuls need oneDNN (without it torch 1.13 runs a naive loop at ~2 GFLOP/s); it is
    # off above only for its broken conv backward, which these cases do not use
    torch.backends.mkldnn.enabled = True
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bench_matmul(512, 512, 512)
        bench_matmul(256, 4864, 896)
        bench_matmul(1600, 768, 256)
        bench_block(1, 256)
