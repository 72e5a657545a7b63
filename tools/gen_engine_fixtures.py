#!/usr/bin/env python3
"""Generates the engine parity fixtures from PyTorch (Debian's python3-torch 1.13, CPU):
attention cases (GQA, masks, bias) and a 2-layer toy Qwen2-style transformer (forward,
loss and every gradient). The reference is written here from torch primitives in float64;
fixtures are stored as float32. Run with /usr/bin/python3 from the repo root:

    /usr/bin/python3 tools/gen_engine_fixtures.py

Output format (read by tests/common/fixture.c): NAME.json maps tensor names to
{"shape": [...], "offset": floats} in NAME.bin (little-endian float32), plus scalars.
"""
import json
import os
import sys

import torch

torch.backends.mkldnn.enabled = False
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "engine")


class Fixture:
    def __init__(self):
        self.index, self.chunks, self.off = {}, [], 0

    def add(self, name, t):
        a = t.detach().to(torch.float32).contiguous().reshape(-1)
        self.index[name] = {"shape": list(t.shape), "offset": self.off}
        self.chunks.append(a)
        self.off += a.numel()

    def scalar(self, name, v):
        self.index[name] = {"value": v}

    def save(self, name):
        os.makedirs(OUT, exist_ok=True)
        data = torch.cat(self.chunks) if self.chunks else torch.zeros(0)
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(data.numpy().astype("<f4").tobytes())
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(self.index, f, indent=1)
            f.write("\n")


def rope(x, pos, theta):
    """Half-split rotary embedding as Hugging Face Qwen2 computes it (angles in float32)."""
    D = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    ang = pos.float()[..., None] * inv  # (B, T, D/2) float32
    emb = torch.cat([ang, ang], -1)
    cos, sin = emb.cos().double()[:, :, None, :], emb.sin().double()[:, :, None, :]
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def attention(q, k, v, causal, kv_len=None, q_pos0=None, bias=None, scale=None):
    """q (B,Tq,Hq,D), k/v (B,Tk,Hkv,D) -> (B,Tq,Hq,D)."""
    B, Tq, Hq, D = q.shape
    Tk, Hkv = k.shape[1], k.shape[2]
    grp = Hq // Hkv
    k = k.repeat_interleave(grp, dim=2)
    v = v.repeat_interleave(grp, dim=2)
    scale = scale if scale is not None else D ** -0.5
    s = torch.einsum("bihd,bjhd->bhij", q, k) * scale
    if bias is not None:
        s = s + bias[None]
    vis = torch.ones(B, 1, Tq, Tk, dtype=torch.bool)
    j = torch.arange(Tk)[None, :]
    i = torch.arange(Tq)[:, None]
    for b in range(B):
        if kv_len is not None:
            vis[b, 0] &= j < kv_len[b]
        if causal:
            p0 = q_pos0[b] if q_pos0 is not None else 0
            vis[b, 0] &= j <= i + p0
    s = s.masked_fill(~vis, float("-inf"))
    p = torch.softmax(s, -1)
    return torch.einsum("bhij,bjhd->bihd", p, v)


def gen_attention():
    g = torch.Generator().manual_seed(1)
    cases = [
        # B, Tq, Tk, Hq, Hkv, D, causal, kv_len, q_pos0, bias
        (2, 6, 6, 4, 4, 8, False, None, None, False),
        (2, 6, 6, 14, 2, 8, True, None, None, False),
        (3, 5, 5, 6, 3, 16, False, [5, 3, 2], None, False),
        (2, 4, 4, 4, 1, 8, False, None, None, True),
        (2, 3, 9, 4, 2, 8, True, [9, 6], [6, 3], False),
    ]
    fx = Fixture()
    fx.scalar("count", len(cases))
    for n, (B, Tq, Tk, Hq, Hkv, D, causal, kv_len, q_pos0, has_bias) in enumerate(cases):
        q = torch.randn(B, Tq, Hq, D, generator=g, dtype=torch.float64).float().double().requires_grad_()
        k = torch.randn(B, Tk, Hkv, D, generator=g, dtype=torch.float64).float().double().requires_grad_()
        v = torch.randn(B, Tk, Hkv, D, generator=g, dtype=torch.float64).float().double().requires_grad_()
        bias = torch.randn(Hq, Tq, Tk, generator=g, dtype=torch.float64).float().double().requires_grad_() if has_bias else None
        out = attention(q, k, v, causal, kv_len, q_pos0, bias)
        dout = torch.randn(out.shape, generator=g, dtype=torch.float64).float().double()
        (out * dout).sum().backward()
        p = f"case{n}."
        fx.scalar(p + "dims", [B, Tq, Tk, Hq, Hkv, D])
        fx.scalar(p + "causal", int(causal))
        fx.scalar(p + "kv_len", kv_len or [])
        fx.scalar(p + "q_pos0", q_pos0 or [])
        for name, t in [("q", q), ("k", k), ("v", v), ("out", out), ("dout", dout), ("dq", q.grad), ("dk", k.grad),
                        ("dv", v.grad)]:
            fx.add(p + name, t)
        if has_bias:
            fx.add(p + "bias", bias)
            fx.add(p + "dbias", bias.grad)
    fx.save("attention")


def gen_toy():
    """2-layer Qwen2-style decoder: embed -> 2 x (rms, GQA attn with RoPE and q/k/v bias,
    rms, SwiGLU MLP) -> rms -> untied head; weighted token cross-entropy on a padded batch."""
    g = torch.Generator().manual_seed(2)
    V, C, Hq, Hkv, D, F, L = 50, 32, 4, 2, 8, 48, 2
    eps, theta = 1e-6, 10000.0
    B, T, lens = 2, 7, [7, 5]

    def P(*shape, std=0.2):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * std).float().double().requires_grad_()

    params = {"model.embed_tokens.weight": P(V, C, std=0.5)}
    for l in range(L):
        p = f"model.layers.{l}."
        params[p + "input_layernorm.weight"] = (1 + P(C, std=0.1)).detach().requires_grad_()
        params[p + "self_attn.q_proj.weight"] = P(Hq * D, C)
        params[p + "self_attn.q_proj.bias"] = P(Hq * D, std=0.1)
        params[p + "self_attn.k_proj.weight"] = P(Hkv * D, C)
        params[p + "self_attn.k_proj.bias"] = P(Hkv * D, std=0.1)
        params[p + "self_attn.v_proj.weight"] = P(Hkv * D, C)
        params[p + "self_attn.v_proj.bias"] = P(Hkv * D, std=0.1)
        params[p + "self_attn.o_proj.weight"] = P(C, Hq * D)
        params[p + "post_attention_layernorm.weight"] = (1 + P(C, std=0.1)).detach().requires_grad_()
        params[p + "mlp.gate_proj.weight"] = P(F, C)
        params[p + "mlp.up_proj.weight"] = P(F, C)
        params[p + "mlp.down_proj.weight"] = P(C, F)
    params["model.norm.weight"] = (1 + P(C, std=0.1)).detach().requires_grad_()
    params["lm_head.weight"] = P(V, C)

    ids = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    weights = torch.zeros(B, T, dtype=torch.float64)
    for b in range(B):
        weights[b, 2:lens[b]] = 1.0  # loss on "response" tokens only, none on padding
    pos = torch.arange(T)[None, :].repeat(B, 1)

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    x = params["model.embed_tokens.weight"][ids]
    for l in range(L):
        p = f"model.layers.{l}."
        h = rms(x, params[p + "input_layernorm.weight"])
        q = (h @ params[p + "self_attn.q_proj.weight"].T + params[p + "self_attn.q_proj.bias"]).view(B, T, Hq, D)
        k = (h @ params[p + "self_attn.k_proj.weight"].T + params[p + "self_attn.k_proj.bias"]).view(B, T, Hkv, D)
        v = (h @ params[p + "self_attn.v_proj.weight"].T + params[p + "self_attn.v_proj.bias"]).view(B, T, Hkv, D)
        a = attention(rope(q, pos, theta), rope(k, pos, theta), v, True, kv_len=lens)
        x = x + a.reshape(B, T, Hq * D) @ params[p + "self_attn.o_proj.weight"].T
        h = rms(x, params[p + "post_attention_layernorm.weight"])
        gte = h @ params[p + "mlp.gate_proj.weight"].T
        up = h @ params[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gte) * up) @ params[p + "mlp.down_proj.weight"].T
    x = rms(x, params["model.norm.weight"])
    logits = x @ params["lm_head.weight"].T
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none")
    loss = (ce * weights.reshape(-1)).sum() / weights.sum()
    loss.backward()

    fx = Fixture()
    fx.scalar("config", {"V": V, "C": C, "Hq": Hq, "Hkv": Hkv, "D": D, "F": F, "L": L, "eps": eps,
                         "theta": theta, "B": B, "T": T, "lens": lens})
    fx.scalar("ids", ids.reshape(-1).tolist())
    fx.scalar("targets", targets.reshape(-1).tolist())
    fx.scalar("weights", weights.reshape(-1).tolist())
    fx.scalar("loss", loss.item())
    fx.add("logits", logits)
    for n, t in params.items():
        fx.add("w." + n, t)
        fx.add("g." + n, t.grad)
    fx.save("toy_block")


if __name__ == "__main__":
    print("torch", torch.__version__, file=sys.stderr)
    gen_attention()
    gen_toy()
