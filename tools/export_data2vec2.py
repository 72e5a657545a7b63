#!/usr/bin/env python3
"""Exports a fairseq data2vec 2.0 audio checkpoint (pretrained `data2vec_multi`, or a
fine-tuned `data2vec_ctc` / `wav2vec_ctc` one that wraps it in w2v_encoder.w2v_model.) to the
layout tsasr loads: OUTDIR/config.json (model_type "data2vec2-audio") + OUTDIR/model.safetensors.

    python3 tools/export_data2vec2.py CHECKPOINT.pt OUTDIR

Tensor names stay fairseq's (modality_encoders.AUDIO.*, blocks.*) without the fine-tuning
wrapper; pretraining-only parts (decoder, EMA teacher) and the CTC projection are dropped;
modality_encoders.AUDIO.alibi_scale is stored flat as (H,) (or (1,) for one shared scale)
instead of (1, 1, H, 1, 1). Only what the C encoder implements is accepted: audio modality,
layer_norm extractor, post-LN blocks (layer_norm_first false), ALiBi with a scale shared by
all layers, no extra tokens, no learned ALiBi table; anything else is refused with a message.
Needs torch (and omegaconf when the checkpoint's config is an OmegaConf object).
"""
import json
import os
import sys

import torch

WRAP = "w2v_encoder.w2v_model."
AUDIO = "modality_encoders.AUDIO."


def to_dict(c):
    if isinstance(c, dict):
        return {k: to_dict(v) for k, v in c.items()}
    try:
        from omegaconf import OmegaConf  # real checkpoints store DictConfig objects
        if OmegaConf.is_config(c):
            return OmegaConf.to_container(c, resolve=True)
    except ImportError:
        pass
    if hasattr(c, "__dict__") and not isinstance(c, (str, int, float, bool)):  # argparse.Namespace
        return {k: to_dict(v) for k, v in vars(c).items()}
    return c


def fail(msg):
    sys.exit(f"export_data2vec2: {msg}")


def model_cfg(ckpt):
    cfg = to_dict(ckpt.get("cfg") or {})
    m = cfg.get("model") or {}
    if m.get("w2v_args"):
        m = to_dict(m["w2v_args"]).get("model") or {}
    if "embed_dim" not in m or "modalities" not in m:
        fail("checkpoint config has no data2vec 2.0 model section (embed_dim, modalities)")
    return m, cfg.get("task") or {}


def export(ckpt_path, out_dir):
    ckpt = torch.load(ckpt_path, map_location="cpu")
    if "model" not in ckpt:
        fail(f"{ckpt_path}: no 'model' state dict")
    m, task = model_cfg(ckpt)
    a = to_dict(m["modalities"]).get("audio")
    if not a:
        fail("no audio modality in the checkpoint config")
    if m.get("layer_norm_first", False):
        fail("layer_norm_first=true (pre-LN blocks) is not supported")
    if not m.get("norm_affine", True):
        fail("norm_affine=false is not supported")
    if a.get("extractor_mode", "layer_norm") != "layer_norm":
        fail(f"extractor_mode {a.get('extractor_mode')!r}: only 'layer_norm' is supported")
    if a.get("conv_pos_pre_ln", False):
        fail("conv_pos_pre_ln=true is not supported")
    if a.get("num_extra_tokens", 0):
        fail("num_extra_tokens > 0 is not supported")
    use_alibi = bool(a.get("use_alibi_encoder", False))
    if use_alibi and a.get("learned_alibi", False):
        fail("learned_alibi (a learned bias table) is not supported")
    if use_alibi and a.get("learned_alibi_scale_per_layer", False):
        fail("learned_alibi_scale_per_layer is not supported")
    spec = eval(a.get("feature_encoder_spec", "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]"),
                {"__builtins__": {}}, {})
    D, H = int(m["embed_dim"]), int(m.get("num_heads", 12))
    depth, prenet = int(m.get("depth", 12)), int(a.get("prenet_depth", 4))
    pos_depth = int(a.get("conv_pos_depth", 5))
    k = max(3, int(a.get("conv_pos_width", 95)) // pos_depth)

    sd = ckpt["model"]
    if any(kk.startswith(WRAP) for kk in sd):
        sd = {kk[len(WRAP):]: v for kk, v in sd.items() if kk.startswith(WRAP)}
    out, dropped = {}, []
    for name, v in sd.items():
        if not torch.is_tensor(v):
            dropped.append(name)
            continue
        keep = name.startswith("blocks.") or (name.startswith(AUDIO) and not name.startswith(AUDIO + "decoder."))
        if not keep:
            dropped.append(name)
            continue
        v = v.detach().to(torch.float32).contiguous()
        if name == AUDIO + "alibi_scale":
            if v.dim() == 4:  # older checkpoints (fairseq upgrades them the same way)
                v = v.unsqueeze(0)
            if v.shape[0] != 1:
                fail(f"{name} has shape {list(v.shape)}: per-layer scales are not supported")
            v = v.reshape(-1).clone()
        out[name] = v
    if use_alibi and AUDIO + "alibi_scale" not in out:
        fail(f"use_alibi_encoder is set but {AUDIO}alibi_scale is missing")
    qkv_bias = "blocks.0.attn.qkv.bias" in out or (prenet and AUDIO + "context_encoder.blocks.0.attn.qkv.bias" in out)
    config = {
        "model_type": "data2vec2-audio",
        "hidden_size": D,
        "num_attention_heads": H,
        "intermediate_size": int(D * float(m.get("mlp_ratio", 4.0))),
        "num_hidden_layers": depth,
        "num_prenet_layers": prenet,
        "conv_dim": [int(s[0]) for s in spec],
        "conv_kernel": [int(s[1]) for s in spec],
        "conv_stride": [int(s[2]) for s in spec],
        "conv_bias": False,
        "feat_extract_norm": "layer",
        "feat_extract_activation": "gelu",
        "hidden_act": "gelu",
        "num_conv_pos_embeddings": pos_depth,
        "conv_pos_kernel_size": k,
        "num_conv_pos_embedding_groups": int(a.get("conv_pos_groups", 16)),
        "layer_norm_eps": float(m.get("norm_eps", 1e-5)),
        "qkv_bias": bool(qkv_bias),
        "use_alibi": use_alibi,
        "alibi_scale_per_head": bool(a.get("learned_alibi_scale_per_head", False)) if use_alibi else False,
        "do_normalize": bool(task.get("normalize", True)),
        "normalize_eps": 1e-5,
        "exported_from": os.path.basename(ckpt_path),
    }
    if use_alibi and out[AUDIO + "alibi_scale"].numel() not in (1, H):
        fail(f"{AUDIO}alibi_scale has {out[AUDIO + 'alibi_scale'].numel()} values for {H} heads")
    config["alibi_scale_per_head"] = bool(use_alibi and out[AUDIO + "alibi_scale"].numel() == H and H > 1)
    os.makedirs(out_dir, exist_ok=True)
    from safetensors.torch import save_file

    save_file(out, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt", "source": "fairseq data2vec 2.0"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"export_data2vec2: {len(out)} tensors, {sum(v.numel() for v in out.values())} parameters -> {out_dir}"
          f" (dropped {len(dropped)}: decoder/EMA/CTC head)")
    return out, config


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    export(sys.argv[1], sys.argv[2])
