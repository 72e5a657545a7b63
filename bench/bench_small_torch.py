#!/usr/bin/env python3
"""PyTorch side of bench/run_small.sh: the same small model (transformers Data2VecAudioModel,
a torch adapter, Qwen2ForCausalLM fed with inputs_embeds), float32, eager, one training step
(forward + backward + AdamW) and greedy generation of the same number of tokens with the
KV cache (model.generate with min_new_tokens = max_new_tokens)."""
import sys
import time

import torch

torch.backends.mkldnn.enabled = False
from transformers import Data2VecAudioConfig, Data2VecAudioModel, Qwen2Config, Qwen2ForCausalLM  # noqa: E402

B = int(sys.argv[1]) if len(sys.argv) > 1 else 8
secs = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
P, R, NEW, K = 40, 30, 30, 4
torch.manual_seed(0)
enc = Data2VecAudioModel(Data2VecAudioConfig(hidden_size=192, num_hidden_layers=4, num_attention_heads=4,
                                             intermediate_size=768, conv_dim=[128] * 7, conv_bias=True,
                                             num_conv_pos_embeddings=2, conv_pos_kernel_size=19,
                                             num_conv_pos_embedding_groups=16, layer_norm_eps=1e-5,
                                             mask_time_prob=0.0, layerdrop=0.0))
ad = torch.nn.Sequential(torch.nn.Linear(K * 192, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256))
llm = Qwen2ForCausalLM(Qwen2Config(vocab_size=672, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                                   num_key_value_heads=2, intermediate_size=768, rms_norm_eps=1e-6,
                                   tie_word_embeddings=True, attn_implementation="eager"))
params = list(enc.parameters()) + list(ad.parameters()) + list(llm.parameters())
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
x = torch.randn(B, int(secs * 16000)) * 0.1
ids = torch.randint(0, 650, (B, P + R))


def audio_embeds():
    h = enc(x).last_hidden_state
    na = h.shape[1] // K
    return ad(h[:, : na * K].reshape(B, na, K * 192)), na


def step():
    opt.zero_grad()
    a, na = audio_embeds()
    emb = llm.model.embed_tokens
    p = P // 2
    xs = torch.cat([emb(ids[:, :p]), a, emb(ids[:, p + 1:])], 1)
    logits = llm(inputs_embeds=xs).logits[:, -R - 1:-1]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 672), ids[:, P:].reshape(-1))
    loss.backward()
    opt.step()
    return na


best = 1e30
for k in range(4):
    t0 = time.perf_counter()
    na = step()
    t = time.perf_counter() - t0
    if k:
        best = min(best, t)
print(f"train_step {best:.4f} s  {B / best:.1f} samples/s  {B * (P + R - 1 + na) / best:.0f} llm-tokens/s  "
      f"({na} audio tokens per sample)")
best = 1e30
with torch.no_grad():
    for k in range(4):
        t0 = time.perf_counter()
        a, na = audio_embeds()
        emb = llm.model.embed_tokens
        xs = torch.cat([emb(ids[:, :P // 2]), a, emb(ids[:, P // 2 + 1:P])], 1)
        llm.generate(inputs_embeds=xs, attention_mask=torch.ones(xs.shape[:2], dtype=torch.long),
                     max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False, pad_token_id=0, eos_token_id=658)
        t = time.perf_counter() - t0
        if k:
            best = min(best, t)
print(f"decode {best:.4f} s  {B * NEW / best:.1f} new-tokens/s  (batch {B}, {NEW} new tokens each)")
