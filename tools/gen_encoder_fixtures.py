#!/usr/bin/env python3
"""Generates the speech-encoder parity fixtures (tests/fixtures/encoder/).

Reference implementations:
  * Hugging Face transformers==4.38.2 (Data2VecAudioModel, Wav2Vec2Model and
    Wav2Vec2FeatureExtractor for the input normalisation), on Debian's torch 1.13;
  * data2vec 2.0 (fairseq, not installable here): tools/data2vec2_ref.py, written from the
    fairseq modules' documented behaviour; its checkpoint goes through
    tools/export_data2vec2.py like a real one.

Set up once (a venv that sees Debian's torch):
    /usr/bin/python3 -m venv --system-site-packages /tmp/enc-venv
    /tmp/enc-venv/bin/pip install transformers==4.38.2
    /tmp/enc-venv/bin/python tools/gen_encoder_fixtures.py

For each small random model NAME (every structural feature kept: 7 conv layers of small
width, grouped positional convs, a batch of two utterances of different lengths):
  NAME/config.json, NAME/model.safetensors (F32) [, NAME/preprocessor_config.json]
  NAME.json + NAME.bin (format of tests/common/fixture.h):
    wav (B, L) raw waveforms (the C side normalises them itself), len (B), frames (B),
    out (B, T, C) last hidden state (float64 reference, stored f32), dout (B, T, C) fixed
    random weights, zero on padded frames; loss = sum(out * dout);
    grad.<tensor name> for every parameter.
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch

torch.backends.mkldnn.enabled = False  # Debian's oneDNN conv backward is broken
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "encoder")
sys.path.insert(0, HERE)

# d2v, w2v_*, d2v2 were written with 4.38.2, d2v_fbank with 4.40.2 (tools/make_reference_venv.sh);
# the Data2VecAudio / Wav2Vec2 modules are the same in both
TRANSFORMERS_VERSIONS = ("4.38.2", "4.40.2")


class Fixture:
    def __init__(self):
        self.index, self.chunks, self.off = {}, [], 0

    def add(self, name, t):
        a = torch.as_tensor(t).detach().to(torch.float32).contiguous().reshape(-1)
        self.index[name] = {"shape": list(torch.as_tensor(t).shape), "offset": self.off}
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


SMALL = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=48,
    conv_dim=(12, 16, 16, 16, 16, 16, 20),
    conv_kernel=(10, 3, 3, 3, 3, 2, 2),
    conv_stride=(5, 2, 2, 2, 2, 2, 2),
    hidden_dropout=0.0,
    attention_dropout=0.0,
    activation_dropout=0.0,
    feat_proj_dropout=0.0,
    final_dropout=0.0,
    layerdrop=0.0,
    mask_time_prob=0.0,
    mask_feature_prob=0.0,
    vocab_size=8,
)
LENS = [5200, 3700]  # samples: 16 and 11 frames


def perturb(model, seed):
    """Random values for every parameter so that every gradient is exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            elif p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def waveforms(seed):
    rng = np.random.default_rng(seed)
    ws = []
    for i, n in enumerate(LENS):
        t = np.arange(n) / 16000.0
        w = 0.3 * np.sin(2 * np.pi * (220 + 70 * i) * t) + 0.1 * rng.standard_normal(n) + 0.05 * (i + 1)
        ws.append(w.astype(np.float32))
    return ws


def run_reference(model, make, input_values, attention_mask, frames, seed, out_fn):
    """float64 forward; loss = sum(out * dout) over valid frames; grads of every parameter.
    make() builds a fresh model of the same class (deepcopy fails on weight-normed convs)."""
    ref = make()
    ref.load_state_dict(model.state_dict())
    ref = ref.double().eval()
    x = input_values.double()
    out = out_fn(ref, x, attention_mask)
    B, T, C = out.shape
    g = torch.Generator().manual_seed(seed + 7)
    dout = torch.randn(B, T, C, generator=g, dtype=torch.float64)
    for b in range(B):
        dout[b, frames[b]:] = 0
    loss = (out * dout).sum()
    loss.backward()
    grads = {n: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for n, p in ref.named_parameters()}
    return out.detach(), dout, grads


def hf_model(name, cls_cfg, cls_model, extra, seed):
    from transformers import Wav2Vec2FeatureExtractor

    cfg = cls_cfg(**SMALL, **extra)
    torch.manual_seed(seed)
    model = cls_model(cfg).eval()
    perturb(model, seed)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                  return_attention_mask=True)
    fe.save_pretrained(d)
    ws = waveforms(seed)
    enc = fe(ws, sampling_rate=16000, padding=True, return_tensors="pt", return_attention_mask=True)
    mask = enc["attention_mask"]
    lens = mask.sum(-1)
    frames = [int(v) for v in model._get_feat_extract_output_lengths(lens)]

    def fwd(m, x, am):
        return m(x, attention_mask=am).last_hidden_state

    out, dout, grads = run_reference(model, lambda: cls_model(cfg), enc["input_values"], mask, frames, seed, fwd)
    fx = Fixture()
    L = max(LENS)
    raw = torch.zeros(len(ws), L)
    for b, w in enumerate(ws):
        raw[b, : len(w)] = torch.from_numpy(w)
    fx.add("wav", raw)
    fx.scalar("len", [int(v) for v in lens])
    fx.scalar("frames", frames)
    fx.add("out", out)
    fx.add("dout", dout)
    for n, gr in grads.items():
        fx.add("grad." + n, gr)
    fx.scalar("names", sorted(grads.keys()))
    fx.save(name)
    print(f"{name}: out {tuple(out.shape)}, frames {frames}, {sum(p.numel() for p in model.parameters())} params")


def data2vec2_model(name, seed):
    import data2vec2_ref as R

    cfg = R.SmallConfig()
    torch.manual_seed(seed)
    model = R.Data2Vec2Audio(cfg).eval()
    perturb(model, seed)
    with torch.no_grad():  # one negative scale: clamp_min(0) zeroes that head's bias and gradient
        model.modality_encoders.AUDIO.alibi_scale.view(-1)[:] = torch.tensor([1.3, 0.7, -0.2, 2.0, 0.5, 1.0][: cfg.num_heads])
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    ckpt_path = os.path.join(d, "..", name + "_fairseq.pt")
    R.save_fairseq_checkpoint(model, cfg, ckpt_path, finetuned=True)
    subprocess.run([sys.executable, os.path.join(HERE, "export_data2vec2.py"), ckpt_path, d], check=True)
    os.remove(ckpt_path)
    # the pretrained (unwrapped) layout must export to the same tensors and config
    import tempfile
    import export_data2vec2 as X
    from safetensors.torch import load_file
    with tempfile.TemporaryDirectory() as td:
        p2 = os.path.join(td, "pre.pt")
        R.save_fairseq_checkpoint(model, cfg, p2, finetuned=False)
        out2, cfg2 = X.export(p2, os.path.join(td, "out"))
    out1 = load_file(os.path.join(d, "model.safetensors"))
    assert sorted(out1) == sorted(out2), "wrapped and pretrained exports differ in names"
    assert all(torch.equal(out1[k], out2[k]) for k in out1), "wrapped and pretrained exports differ"
    assert sorted(out1) == sorted(n for n, _ in model.named_parameters()), "export misses or adds tensors"
    # what the C encoder does not implement is refused, not silently mis-exported
    with tempfile.TemporaryDirectory() as td:
        for key, val in (("layer_norm_first", True), ("learned_alibi_scale_per_layer", True),
                         ("extractor_mode", "default"), ("num_extra_tokens", 1)):
            p3 = os.path.join(td, "bad.pt")
            R.save_fairseq_checkpoint(model, cfg, p3, finetuned=False)
            ck = torch.load(p3)
            tgt = ck["cfg"]["model"] if key == "layer_norm_first" else ck["cfg"]["model"]["modalities"]["audio"]
            tgt[key] = val
            torch.save(ck, p3)
            try:
                X.export(p3, os.path.join(td, "bad"))
                raise AssertionError(f"export accepted {key}={val}")
            except SystemExit as ex:
                assert key.split("_")[0] in str(ex) or "supported" in str(ex), ex
    ws = waveforms(seed)
    B, L = len(ws), max(LENS)
    raw = torch.zeros(B, L)
    norm = torch.zeros(B, L)
    for b, w in enumerate(ws):
        t = torch.from_numpy(w)
        raw[b, : len(w)] = t
        norm[b, : len(w)] = torch.nn.functional.layer_norm(t, t.shape)  # fairseq task.normalize
    frames = [R.conv_out_len(cfg, n) for n in LENS]
    padding_mask = torch.ones(B, L, dtype=torch.bool)
    for b, n in enumerate(LENS):
        padding_mask[b, :n] = False

    def fwd(m, x, pm):
        return m(x, pm)

    out, dout, grads = run_reference(model, lambda: R.Data2Vec2Audio(cfg), norm, padding_mask, frames, seed, fwd)
    fx = Fixture()
    fx.add("wav", raw)
    fx.scalar("len", LENS)
    fx.scalar("frames", frames)
    fx.add("out", out)
    fx.add("dout", dout)
    for n, gr in grads.items():
        fx.add("grad." + R.export_name(n), gr.reshape(R.export_shape(n, gr.shape)))
    fx.scalar("names", sorted(R.export_name(n) for n in grads.keys()))
    fx.save(name)
    print(f"{name}: out {tuple(out.shape)}, frames {frames}, {sum(p.numel() for p in model.parameters())} params")


FBANK_LENS = [8000, 5600]  # samples: 48 and 33 fbank frames -> 11 and 7 encoder frames


def fbank_model(name, cls_cfg, cls_model, seed):
    """Our fbank front end ("feature_type": "fbank"): an HF Data2VecAudio whose first conv takes
    80 input channels, fed Kaldi fbank frames (torchaudio.compliance.kaldi.fbank with the
    options of fbank_cfg_default()) normalised per utterance and bin: (x - mean) /
    sqrt(var + 1e-7) over the valid frames (population variance), zero padding."""
    import types

    import torchaudio.compliance.kaldi as kaldi

    small = dict(SMALL, conv_dim=(16, 20), conv_kernel=(3, 3), conv_stride=(2, 2), num_feat_extract_layers=2)
    cfg = cls_cfg(**small, num_conv_pos_embeddings=3, conv_pos_kernel_size=5, num_conv_pos_embedding_groups=4)
    torch.manual_seed(seed)
    model = cls_model(cfg).eval()
    model.feature_extractor.conv_layers[0].conv = torch.nn.Conv1d(80, 16, 3, stride=2, bias=False)

    def fe_forward(self, x):  # (B, 80, T): no [:, None] of the waveform front end
        for conv in self.conv_layers:
            x = conv(x)
        return x

    def patch(m):
        m.feature_extractor.conv_layers[0].conv = torch.nn.Conv1d(80, 16, 3, stride=2, bias=False)
        m.feature_extractor.forward = types.MethodType(fe_forward, m.feature_extractor)
        return m

    patch(model)
    perturb(model, seed)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    with open(os.path.join(d, "config.json")) as f:
        cj = json.load(f)
    cj.update(feature_type="fbank", num_mel_bins=80)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cj, f, indent=2)
    rng = np.random.default_rng(seed)
    ws = []
    for i, n in enumerate(FBANK_LENS):
        t = np.arange(n) / 16000.0
        w = 0.3 * np.sin(2 * np.pi * (220 + 70 * i) * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.standard_normal(n)
        w[2000:2600] = 0.0  # digital silence: the log floor
        ws.append(w.astype(np.float32))
    feats = []
    for w in ws:
        f = kaldi.fbank(torch.from_numpy(w)[None], num_mel_bins=80, frame_length=25.0, frame_shift=10.0, dither=0.0,
                        window_type="povey", preemphasis_coefficient=0.97, remove_dc_offset=True, use_power=True,
                        low_freq=20.0, high_freq=0.0, snip_edges=True, sample_frequency=16000.0).double()
        mu = f.mean(0, keepdim=True)
        var = ((f - mu) ** 2).mean(0, keepdim=True)
        feats.append((f - mu) / torch.sqrt(var + 1e-7))
    B, Tf = len(ws), max(x.shape[0] for x in feats)
    x = torch.zeros(B, 80, Tf, dtype=torch.float64)
    mask = torch.zeros(B, Tf, dtype=torch.long)
    for b, f in enumerate(feats):
        x[b, :, : f.shape[0]] = f.T
        mask[b, : f.shape[0]] = 1
    frames = [int(v) for v in model._get_feat_extract_output_lengths(mask.sum(-1))]

    def fwd(m, xx, am):
        return m(xx, attention_mask=am).last_hidden_state

    out, dout, grads = run_reference(model, lambda: patch(cls_model(cfg)), x, mask, frames, seed, fwd)
    fx = Fixture()
    raw = torch.zeros(B, max(FBANK_LENS))
    for b, w in enumerate(ws):
        raw[b, : len(w)] = torch.from_numpy(w)
    fx.add("wav", raw)
    fx.scalar("len", FBANK_LENS)
    fx.scalar("frames", frames)
    fx.add("out", out)
    fx.add("dout", dout)
    for n, gr in grads.items():
        fx.add("grad." + n, gr)
    fx.scalar("names", sorted(grads.keys()))
    fx.save(name)
    print(f"{name}: out {tuple(out.shape)}, frames {frames}, {sum(p.numel() for p in model.parameters())} params")


def main():
    import transformers

    if transformers.__version__ not in TRANSFORMERS_VERSIONS:
        sys.exit(f"needs transformers in {TRANSFORMERS_VERSIONS}, found {transformers.__version__}")
    from transformers import Data2VecAudioConfig, Data2VecAudioModel, Wav2Vec2Config, Wav2Vec2Model

    only = sys.argv[1:]
    if not only or "d2v" in only:
        hf_model("d2v", Data2VecAudioConfig, Data2VecAudioModel,
                 dict(num_conv_pos_embeddings=5, conv_pos_kernel_size=19, num_conv_pos_embedding_groups=16), 1)
    if not only or "w2v_base" in only:
        hf_model("w2v_base", Wav2Vec2Config, Wav2Vec2Model,
                 dict(feat_extract_norm="group", do_stable_layer_norm=False, conv_bias=False,
                      num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4), 2)
    if not only or "w2v_large" in only:
        hf_model("w2v_large", Wav2Vec2Config, Wav2Vec2Model,
                 dict(feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True,
                      num_conv_pos_embeddings=12, num_conv_pos_embedding_groups=16), 3)
    if not only or "d2v2" in only:
        data2vec2_model("d2v2", 4)
    if not only or "d2v_fbank" in only:
        fbank_model("d2v_fbank", Data2VecAudioConfig, Data2VecAudioModel, 5)


if __name__ == "__main__":
    main()
