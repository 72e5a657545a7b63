#!/usr/bin/env python3
"""PyTorch reference of the fairseq data2vec 2.0 audio encoder (inference path, no masking),
written from the behaviour of fairseq's examples/data2vec modules (fairseq itself is not
installable here). Module attributes are laid out so that state_dict() gives fairseq's
checkpoint names:

  modality_encoders.AUDIO.local_encoder.conv_layers.{i}.0.weight      Conv1d (no bias)
  modality_encoders.AUDIO.local_encoder.conv_layers.{i}.2.1.weight|bias  LayerNorm over channels
  modality_encoders.AUDIO.project_features.{1,2}.*                    LayerNorm, Linear
  modality_encoders.AUDIO.relative_positional_encoder.{1..n}.0.*      grouped Conv1d (+LN no affine, GELU)
  modality_encoders.AUDIO.alibi_scale                                 (1, 1, H, 1, 1)
  modality_encoders.AUDIO.context_encoder.norm.*                      LN after x + pos
  modality_encoders.AUDIO.context_encoder.blocks.{j}.*                prenet blocks
  blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*       shared blocks

Forward (eval): conv features -> LN + Linear -> x + pos_conv(x) (padded frames are NOT zeroed,
as in fairseq) -> context_encoder.norm -> prenet blocks -> shared blocks, every block post-LN
(x = x + attn(x); r = norm1(x); x = norm2(r + mlp(r))) with attention scores
q k^T / sqrt(d) + alibi, alibi[h, i, j] = -slope_h |i - j| * clamp_min(alibi_scale_h, 0),
padded keys masked. The softmax runs in the input dtype (float64 for the fixtures).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallConfig:
    """A small configuration keeping every structural feature (7 convs, grouped pos convs,
    prenet + shared blocks, a non-power-of-two head count for the ALiBi slope rule)."""
    embed_dim = 48
    num_heads = 6
    depth = 2
    prenet_depth = 1
    mlp_ratio = 1.5
    norm_eps = 1e-5
    conv_pos_depth = 5
    conv_pos_width = 95  # k = max(3, 95 // 5) = 19
    conv_pos_groups = 16
    feature_encoder_spec = "[(12, 10, 5)] + [(16, 3, 2)] * 4 + [(16, 2, 2)] + [(20, 2, 2)]"


def conv_spec(cfg):
    return eval(cfg.feature_encoder_spec, {"__builtins__": {}}, {})


def conv_out_len(cfg, n):
    for _, k, s in conv_spec(cfg):
        n = (n - k) // s + 1
    return n


class TransposeLast(nn.Module):
    def forward(self, x):
        return x.transpose(-2, -1)


class SamePad(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.remove = 1 if k % 2 == 0 else 0

    def forward(self, x):
        return x[:, :, : -self.remove] if self.remove else x


class LocalEncoder(nn.Module):
    def __init__(self, spec):
        super().__init__()
        layers, cin = [], 1
        for dim, k, s in spec:
            layers.append(nn.Sequential(
                nn.Conv1d(cin, dim, k, stride=s, bias=False),
                nn.Dropout(0.0),
                nn.Sequential(TransposeLast(), nn.LayerNorm(dim, elementwise_affine=True), TransposeLast()),
                nn.GELU()))
            cin = dim
        self.conv_layers = nn.ModuleList(layers)

    def forward(self, x):
        x = x.unsqueeze(1)
        for layer in self.conv_layers:
            x = layer(x)
        return x


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, pad, alibi):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q * self.scale) @ k.transpose(-2, -1)
        a = a + alibi.to(a.dtype)
        if pad is not None and pad.any():
            a = a.masked_fill(pad[:, None, None, :], float("-inf"))
        a = a.softmax(dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """AltBlock with layer_norm_first = False."""
    def __init__(self, cfg):
        super().__init__()
        d = cfg.embed_dim
        self.norm1 = nn.LayerNorm(d, eps=cfg.norm_eps)
        self.attn = Attention(d, cfg.num_heads)
        self.norm2 = nn.LayerNorm(d, eps=cfg.norm_eps)
        self.mlp = Mlp(d, int(d * cfg.mlp_ratio))

    def forward(self, x, pad, alibi):
        x = x + self.attn(x, pad, alibi)
        r = self.norm1(x)
        return self.norm2(r + self.mlp(r))


class ContextEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.prenet_depth))
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)


def alibi_slopes(n):
    def pow2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start ** i for i in range(n)]

    if math.log2(n).is_integer():
        return pow2(n)
    p = 2 ** math.floor(math.log2(n))
    return pow2(p) + alibi_slopes(2 * p)[0::2][: n - p]


def alibi_base(T, H):
    """(H, T, T) float32: -slope_h |i - j| (slopes as a float32 tensor, like fairseq)."""
    slopes = torch.tensor(alibi_slopes(H), dtype=torch.float32)
    pos = -torch.abs(torch.arange(T)[None, :] - torch.arange(T)[:, None])
    return slopes[:, None, None] * pos[None]


class AudioEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        spec = conv_spec(cfg)
        d, k = cfg.embed_dim, max(3, cfg.conv_pos_width // cfg.conv_pos_depth)
        self.local_encoder = LocalEncoder(spec)
        self.project_features = nn.Sequential(TransposeLast(), nn.LayerNorm(spec[-1][0]), nn.Linear(spec[-1][0], d))
        self.relative_positional_encoder = nn.Sequential(
            TransposeLast(),
            *[nn.Sequential(nn.Conv1d(d, d, k, padding=k // 2, groups=cfg.conv_pos_groups), SamePad(k),
                            TransposeLast(), nn.LayerNorm(d, elementwise_affine=False), TransposeLast(), nn.GELU())
              for _ in range(cfg.conv_pos_depth)],
            TransposeLast())
        self.alibi_scale = nn.Parameter(torch.ones(1, 1, cfg.num_heads, 1, 1))
        self.context_encoder = ContextEncoder(cfg)


class Data2Vec2Audio(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.modality_encoders = nn.ModuleDict({"AUDIO": AudioEncoder(cfg)})
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))

    def forward(self, wav, padding_mask):
        """wav (B, L) normalised; padding_mask (B, L) True on padding -> (B, T, D)."""
        enc = self.modality_encoders["AUDIO"]
        x = enc.project_features(enc.local_encoder(wav))
        B, T, _ = x.shape
        lens = (~padding_mask).sum(-1)
        frames = torch.tensor([conv_out_len(self.cfg, int(n)) for n in lens])
        pad = torch.arange(T)[None, :] >= frames[:, None]
        x = x + enc.relative_positional_encoder(x)
        alibi = alibi_base(T, self.cfg.num_heads).to(x.dtype) * enc.alibi_scale.clamp_min(0).reshape(-1, 1, 1)
        x = enc.context_encoder.norm(x)
        for blk in enc.context_encoder.blocks:
            x = blk(x, pad, alibi)
        for blk in self.blocks:
            x = blk(x, pad, alibi)
        return x


def fairseq_cfg(cfg):
    """The model section of a data2vec 2.0 (data2vec_multi) training config."""
    return {
        "_name": "data2vec_multi",
        "embed_dim": cfg.embed_dim, "depth": cfg.depth, "num_heads": cfg.num_heads, "mlp_ratio": cfg.mlp_ratio,
        "norm_eps": cfg.norm_eps, "norm_affine": True, "layer_norm_first": False,
        "modalities": {"audio": {
            "type": "AUDIO", "prenet_depth": cfg.prenet_depth, "extractor_mode": "layer_norm",
            "feature_encoder_spec": cfg.feature_encoder_spec, "conv_pos_width": cfg.conv_pos_width,
            "conv_pos_groups": cfg.conv_pos_groups, "conv_pos_depth": cfg.conv_pos_depth, "conv_pos_pre_ln": False,
            "use_alibi_encoder": True, "alibi_scale": 1.0, "learned_alibi": False, "learned_alibi_scale": True,
            "learned_alibi_scale_per_head": True, "learned_alibi_scale_per_layer": False, "num_extra_tokens": 0,
        }},
    }


def save_fairseq_checkpoint(model, cfg, path, finetuned):
    """A synthetic checkpoint in fairseq's layout: {"model": state_dict, "cfg": {...}} with the
    pretraining-only parts a real one has (decoder, EMA teacher); fine-tuned CTC checkpoints
    wrap the encoder in w2v_encoder.w2v_model. and add w2v_encoder.proj."""
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(99)
    d = cfg.embed_dim
    sd["modality_encoders.AUDIO.decoder.blocks.0.0.weight"] = torch.randn(8, d // 8, 5, generator=g)
    sd["modality_encoders.AUDIO.decoder.proj.weight"] = torch.randn(d, 8, generator=g)
    sd["_ema"] = {"blocks.0.norm1.weight": torch.ones(d)}
    mcfg = fairseq_cfg(cfg)
    if finetuned:
        sd = {"w2v_encoder.w2v_model." + k: v for k, v in sd.items()}
        sd["w2v_encoder.proj.weight"] = torch.randn(32, d, generator=g)
        sd["w2v_encoder.proj.bias"] = torch.zeros(32)
        mcfg = {"_name": "data2vec_ctc", "w2v_path": "pretrained.pt", "w2v_args": {"model": mcfg}}
    torch.save({"model": sd, "cfg": {"model": mcfg, "task": {"normalize": True}}}, path)


def export_name(n):
    return n


def export_shape(n, shape):
    return (shape.numel(),) if n.endswith("alibi_scale") else tuple(shape)
