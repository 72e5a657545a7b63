#!/usr/bin/env python3
"""Qwen2 parity fixtures from Hugging Face transformers: small random Qwen2ForCausalLM models
that keep every structural feature (float32 reference) (GQA 7:1 tied, GQA 2:1 untied, q/k/v biases, RoPE theta),
saved as HF model directories (config.json + model.safetensors, plus a bf16 copy), with the
logits of a right-padded batch, a response-token loss and the gradient of every parameter.

    /usr/bin/python3 -m venv --system-site-packages /tmp/q2-venv
    /tmp/q2-venv/bin/pip install transformers==4.40.2 safetensors==0.4.3
    /tmp/q2-venv/bin/python tools/gen_qwen2_fixtures.py
"""
import copy
import os
import sys

import torch

torch.backends.mkldnn.enabled = False
import transformers  # noqa: E402
from transformers import Qwen2Config, Qwen2ForCausalLM  # noqa: E402

assert transformers.__version__ == "4.40.2", transformers.__version__
sys.path.insert(0, os.path.dirname(__file__))
from gen_engine_fixtures import Fixture  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "qwen2")


def make(name, cfg, seed):
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(Qwen2Config(**cfg, attn_implementation="eager")).float()
    with torch.no_grad():  # bigger than the default init, so every part matters
        for p in model.parameters():
            p.normal_(0, 0.2)
        for n, p in model.named_parameters():
            if "norm" in n:
                p.add_(1.0)
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    os.makedirs(d + "-bf16", exist_ok=True)
    copy.deepcopy(model).to(torch.bfloat16).save_pretrained(d + "-bf16", safe_serialization=True)
    # the reference runs in float32 (transformers' masks do not support float64 here)
    V = cfg["vocab_size"]
    B, T, lens = 2, 9, [9, 6]
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, V, (B, T), generator=g)
    mask = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        mask[b, : lens[b]] = 1
    out = model(input_ids=ids, attention_mask=mask)
    logits = out.logits
    # response-token loss: predict ids[t+1] at positions 3..len-2
    weights = torch.zeros(B, T, dtype=torch.float32)
    targets = torch.full((B, T), -1, dtype=torch.long)
    for b in range(B):
        for t in range(3, lens[b] - 1):
            weights[b, t] = 1.0
            targets[b, t] = ids[b, t + 1]
    lp = torch.log_softmax(logits, -1)
    nll = -lp.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    loss = (nll * weights).sum() / weights.sum()
    loss.backward()
    fx = Fixture()
    fx.scalar("B", B)
    fx.scalar("T", T)
    fx.scalar("lens", lens)
    fx.scalar("ids", ids.reshape(-1).tolist())
    fx.scalar("targets", targets.reshape(-1).tolist())
    fx.scalar("weights", weights.reshape(-1).tolist())
    fx.scalar("loss", loss.item())
    fx.add("logits", logits)
    for n, p in model.named_parameters():
        if p.grad is not None:
            fx.add("g." + n, p.grad)
    import gen_engine_fixtures
    gen_engine_fixtures.OUT = ROOT
    fx.save(name + "_ref")


if __name__ == "__main__":
    base = dict(vocab_size=64, num_hidden_layers=2, intermediate_size=80, max_position_embeddings=128,
                rms_norm_eps=1e-6, hidden_act="silu")
    make("gqa7_tied", dict(base, hidden_size=56, num_attention_heads=7, num_key_value_heads=1,
                           rope_theta=1000000.0, tie_word_embeddings=True), 10)
    make("gqa2_untied", dict(base, hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
                             rope_theta=10000.0, tie_word_embeddings=False), 20)
