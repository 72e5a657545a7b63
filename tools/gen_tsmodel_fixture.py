#!/usr/bin/env python3
"""Composed-model parity fixture: a tiny HF Data2VecAudioModel -> adapter (2-frame concat,
Linear-ReLU-Linear, written here in torch) -> tiny Qwen2ForCausalLM fed with inputs_embeds,
on two waveforms of different lengths whose prompts hold one <|audio|> placeholder; the
response-token cross-entropy (mean) and the gradient of every parameter of all three parts.
Written as a tsasr model directory (config.json, model.safetensors, tokenizer.json) plus the
reference values.

    /tmp/q2-venv/bin/python tools/gen_tsmodel_fixture.py     (transformers 4.40.2, torch 1.13)
"""
import json
import os
import shutil
import sys

import numpy as np
import torch

torch.backends.mkldnn.enabled = False
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import (Data2VecAudioConfig, Data2VecAudioModel, Qwen2Config, Qwen2ForCausalLM,  # noqa: E402
                          Wav2Vec2FeatureExtractor)

assert transformers.__version__ == "4.40.2", transformers.__version__
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_engine_fixtures as gef  # noqa: E402

ROOT = os.path.join(HERE, "..", "tests", "fixtures", "tsmodel")
TOKENIZER = os.path.join(HERE, "..", "tests", "fixtures", "text", "bpe_trained.json")
AUDIO_ID, IM_END = 659, 658


def main(ctc_weight=0.0, name="tiny"):
    torch.manual_seed(5)
    ecfg = Data2VecAudioConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=40,
                               conv_dim=[12, 16, 16, 16, 16, 16, 20], conv_kernel=[10, 3, 3, 3, 3, 2, 2],
                               conv_stride=[5, 2, 2, 2, 2, 2, 2], num_conv_pos_embeddings=5,
                               num_conv_pos_embedding_groups=4, conv_pos_kernel_size=5, hidden_act="gelu",
                               layerdrop=0.0, mask_time_prob=0.0, vocab_size=32)
    enc = Data2VecAudioModel(ecfg).eval()
    lcfg = Qwen2Config(vocab_size=672, hidden_size=24, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, intermediate_size=40, rope_theta=10000.0, rms_norm_eps=1e-6,
                       tie_word_embeddings=True, max_position_embeddings=256, attn_implementation="eager")
    llm = Qwen2ForCausalLM(lcfg).eval()
    k, H = 2, 28
    lin1, lin2 = torch.nn.Linear(k * 32, H), torch.nn.Linear(H, 24)
    with torch.no_grad():
        for mod in (enc, llm, lin1, lin2):
            for n, p in mod.named_parameters():
                p.normal_(0, 0.15)
                if "norm" in n and "weight" in n:
                    p.add_(1.0)
    # inputs: two utterances of different lengths
    rng = np.random.default_rng(3)
    lens = [5200, 3700]
    waves = []
    for i, n in enumerate(lens):
        t = np.arange(n) / 16000
        waves.append((0.3 * np.sin(2 * np.pi * (200 + 90 * i) * t) + 0.1 * rng.standard_normal(n)).astype(np.float32))
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                  return_attention_mask=True)
    fx_in = fe(waves, sampling_rate=16000, padding=True, return_tensors="pt", return_attention_mask=True)
    ctc = torch.nn.Linear(32, 29)
    with torch.no_grad():
        ctc.weight.normal_(0, 0.3, generator=torch.Generator().manual_seed(9))
        ctc.bias.normal_(0, 0.3, generator=torch.Generator().manual_seed(10))
    hid = enc(fx_in["input_values"], attention_mask=fx_in["attention_mask"]).last_hidden_state  # (B, T, 32)
    frames = enc._get_feat_extract_output_lengths(torch.tensor(lens)).tolist()
    # token sequences: prompt with one <|audio|>, response, <|im_end|>
    g = torch.Generator().manual_seed(7)
    seqs, spans = [], []
    for i, (np_, nr) in enumerate([(6, 5), (4, 7)]):
        pre = torch.randint(0, 656, (np_,), generator=g).tolist()
        mid = torch.randint(0, 656, (3,), generator=g).tolist()
        resp = torch.randint(0, 656, (nr,), generator=g).tolist() + [IM_END]
        ids = pre + [AUDIO_ID] + mid + resp
        seqs.append(ids)
        spans.append((len(pre) + 1 + len(mid), len(ids)))
    emb = llm.model.embed_tokens
    rows, targets, Ss = [], [], []
    parts = []
    for i, ids in enumerate(seqs):
        p = ids.index(AUDIO_ID)
        na = frames[i] // k
        cat = hid[i, : na * k].reshape(na, k * 32)
        aud = lin2(torch.relu(lin1(cat)))
        x = torch.cat([emb(torch.tensor(ids[:p])), aud, emb(torch.tensor(ids[p + 1:]))], 0)
        parts.append(x)
        Ss.append(x.shape[0])
        for j in range(*spans[i]):
            rows.append((i, j - 1 + na - 1))
            targets.append(ids[j])
    Tm = max(Ss)
    X = torch.zeros(len(seqs), Tm, 24)
    am = torch.zeros(len(seqs), Tm, dtype=torch.long)
    for i, x in enumerate(parts):
        X[i, : x.shape[0]] = x
        am[i, : x.shape[0]] = 1
    logits = llm(inputs_embeds=X, attention_mask=am).logits
    sel = torch.stack([logits[i, t] for i, t in rows])
    loss = torch.nn.functional.cross_entropy(sel, torch.tensor(targets))
    texts = ["BIN A", "IT'S"]  # short enough for 16 and 11 frames
    if ctc_weight:
        # characters: blank 0, space 1, apostrophe 2, A..Z 3..28 (nn/ctc.h)
        def chars(t):
            return [1 if c == " " else 2 if c == "'" else 3 + ord(c) - 65 for c in t]
        lp = torch.log_softmax(ctc(hid), -1).transpose(0, 1)  # (T, B, 29)
        tg = [chars(t) for t in texts]
        cl = torch.nn.functional.ctc_loss(lp, torch.tensor(sum(tg, [])), torch.tensor(frames),
                                          torch.tensor([len(t) for t in tg]), blank=0, reduction="mean")
        loss = loss + ctc_weight * cl
    loss.backward()
    # model directory
    d = os.path.join(ROOT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    ej = json.loads(ecfg.to_json_string())
    ej["do_normalize"] = True
    lj = json.loads(lcfg.to_json_string())
    config = {"encoder": ej, "adapter": {"kind": "mlp", "downsample": k, "input_size": 32, "hidden_size": H,
                                         "output_size": 24},
              "llm": lj, "prompt": {"instruction": "Transcribe the target speaker."}}
    if ctc_weight:
        config["ctc"] = {"weight": ctc_weight, "vocab": "chars"}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    tensors = {}
    for n, p in enc.named_parameters():
        tensors["encoder." + n] = p.detach().contiguous()
    for n, p in llm.named_parameters():
        tensors["llm." + n] = p.detach().contiguous()
    for n, m in (("linear1", lin1), ("linear2", lin2)):
        tensors[f"adapter.{n}.weight"] = m.weight.detach().contiguous()
        tensors[f"adapter.{n}.bias"] = m.bias.detach().contiguous()
    if ctc_weight:
        tensors["ctc.weight"] = ctc.weight.detach().contiguous()
        tensors["ctc.bias"] = ctc.bias.detach().contiguous()
    save_file(tensors, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(TOKENIZER, os.path.join(d, "tokenizer.json"))
    if not ctc_weight:  # the same parts as Hugging Face directories (for tsasr model assemble)
        hf = os.path.join(ROOT, "tiny_hf")
        if os.path.isdir(hf):
            shutil.rmtree(hf)
        llm.save_pretrained(os.path.join(hf, "llm"), safe_serialization=True)
        shutil.copy(TOKENIZER, os.path.join(hf, "llm", "tokenizer.json"))
        enc.save_pretrained(os.path.join(hf, "encoder"), safe_serialization=True)
        fe.save_pretrained(os.path.join(hf, "encoder"))
    fx = gef.Fixture()
    fx.scalar("lens", lens)
    fx.scalar("frames", frames)
    fx.scalar("ids", seqs)
    fx.scalar("spans", [list(s) for s in spans])
    fx.scalar("loss", loss.item())
    fx.add("wav0", torch.from_numpy(waves[0]))
    fx.add("wav1", torch.from_numpy(waves[1]))
    for mod, pre in ((enc, "encoder."), (llm, "llm.")):
        for n, p in mod.named_parameters():
            fx.add("g." + pre + n, p.grad)
    for n, m in (("linear1", lin1), ("linear2", lin2)):
        fx.add(f"g.adapter.{n}.weight", m.weight.grad)
        fx.add(f"g.adapter.{n}.bias", m.bias.grad)
    if ctc_weight:
        fx.add("g.ctc.weight", ctc.weight.grad)
        fx.add("g.ctc.bias", ctc.bias.grad)
        fx.scalar("ctc_texts", texts)
        fx.scalar("ctc_weight", ctc_weight)
    gef.OUT = ROOT
    fx.save(name + "_ref")
    print("frames", frames, "loss", loss.item(), file=sys.stderr)


if __name__ == "__main__":
    main()
    main(ctc_weight=0.3, name="tiny_ctc")
