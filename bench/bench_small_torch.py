#!/usr/bin/env python3
"""PyTorch side of bench/run_small.sh: the same small model (transformers Data2VecAudioModel,
a torch adapter, Qwen2ForCausalLM fed with inputs_embeds), float32, eager, one training step
(forward + backward + AdamW) and greedy generation of the same number of tokens with the
KV cache (model.generate with min_new_tokens = max_new_tokens).
argv: BATCH SECONDS [waveform|fbank]; fbank = models/small's architecture: torchaudio's Kaldi
fbank (80 bins) + per-utterance mean/variance normalisation computed in every forward, the
first conv taking 80 channels, convs k3 s2 x2, adapter k=2."""
import sys
import time

import torch

torch.backends.mkldnn.enabled = False
from transformers import Data2VecAudioConfig, Data2VecAudioModel, Qwen2Config, Qwen2ForCausalLM  # noqa: E402

B = int(sys.argv[1]) if len(sys.argv) > 1 else 8
secs = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
FBANK = len(sys.argv) > 3 and sys.argv[3] == "fbank"
P, R, NEW, K = 40, 30, 30, (2 if FBANK else 4)
torch.manual_seed(0)
if FBANK:
    import types

    import torchaudio.compliance.kaldi as kaldi

    enc = Data2VecAudioModel(Data2VecAudioConfig(hidden_size=192, num_hidden_layers=4, num_attention_heads=4,
                                                 intermediate_size=512, conv_dim=[192, 192], conv_kernel=[3, 3],
                                                 conv_stride=[2, 2], num_feat_extract_layers=2, conv_bias=False,
                                                 num_conv_pos_embeddings=3, conv_pos_kernel_size=5,
                                                 num_conv_pos_embedding_groups=4, layer_norm_eps=1e-5,
                                                 mask_time_prob=0.0, layerdrop=0.0))
    enc.feature_extractor.conv_layers[0].conv = torch.nn.Conv1d(80, 192, 3, stride=2, bias=False)

    def fe_forward(self, feats):  # (B, 80, T) features instead of the waveform
        for conv in self.conv_layers:
            feats = conv(feats)
        return feats

    enc.feature_extractor.forward = types.MethodType(fe_forward, enc.feature_extractor)
else:
    enc = Data2VecAudioModel(Data2VecAudioConfig(hidden_size=192, num_hidden_layers=4, num_attention_heads=4,
                                                 intermediate_size=768, conv_dim=[128] * 7, conv_bias=True,
                                                 num_conv_pos_embeddings=2, conv_pos_kernel_size=19,
                                                 num_conv_pos_embedding_groups=16, layer_norm_eps=1e-5,
                                                 mask_time_prob=0.0, layerdrop=0.0))
AH = 256 if FBANK else 512
ad = torch.nn.Sequential(torch.nn.Linear(K * 192, AH), torch.nn.ReLU(), torch.nn.Linear(AH, 256))
llm = Qwen2ForCausalLM(Qwen2Config(vocab_size=672, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                                   num_key_value_heads=2, intermediate_size=768, rms_norm_eps=1e-6,
                                   tie_word_embeddings=True, attn_implementation="eager"))
params = list(enc.parameters()) + list(ad.parameters()) + list(llm.parameters())
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
x = torch.randn(B, int(secs * 16000)) * 0.1
ids = torch.randint(0, 650, (B, P + R))


def features():
    if not FBANK:
        return x
    out = []
    for b in range(B):
        f = kaldi.fbank(x[b:b + 1], num_mel_bins=80, frame_length=25.0, frame_shift=10.0, dither=0.0,
                        window_type="povey", preemphasis_coefficient=0.97, remove_dc_offset=True, use_power=True,
                        low_freq=20.0, high_freq=0.0, snip_edges=True, sample_frequency=16000.0)
        out.append(((f - f.mean(0)) / torch.sqrt(f.var(0, unbiased=False) + 1e-7)).T)
    return torch.stack(out)


def audio_embeds():
    h = enc(features()).last_hidden_state
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
