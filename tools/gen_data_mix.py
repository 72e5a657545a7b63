#!/usr/bin/env python3
# gen_data_mix.py — reference mixtures for tests/audio/test_data_mixref.c, made the way LibriMix
# makes them (scripts/create_librimix_metadata.py: pyloudnorm loudness normalisation, a source
# that would clip rescaled to peak 0.9, the max-mode mixture scaled down to peak 0.9) and
# assembled as tsasr's sample: enrollment crop (normalised the same way) ‖ silence ‖ mixture.
#
# Reference: pyloudnorm==0.2.0 and soundfile==0.14.0 from PyPI, numpy.
# Run with the default python3:  python3 tools/gen_data_mix.py
# Writes tests/fixtures/data/mixref_*.flac, mixref.jsonl (the manifest, relative paths) and
# mixref_expected.json (gains and every 37th sample of each expected input).
import importlib.metadata
import json
import os
import sys

import numpy as np
import pyloudnorm as pyln
import soundfile as sf

PINS = {"pyloudnorm": "0.2.0", "soundfile": "0.14.0"}
for pkg, ver in PINS.items():
    have = importlib.metadata.version(pkg)
    if have != ver:
        sys.exit(f"{pkg} {have} installed, this script is pinned to {ver}")

RATE = 16000
MAX_AMP = 0.9
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "data")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261126)


def voice(sec, f0, level):
    n = int(round(sec * RATE))
    t = np.arange(n) / RATE
    ph = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))) / RATE
    v = sum(np.sin(h * ph) / h for h in range(1, 9))
    env = 0.5 * (1 - np.cos(2 * np.pi * 3.3 * t))
    x = level * (0.4 * v * env + 0.01 * rng.standard_normal(n))
    return np.round(np.clip(x, -1, 32767 / 32768) * 32768) / 32768  # exact in PCM16


files = {
    "mixref_a.flac": voice(2.6, 120.0, 0.20),
    "mixref_b.flac": voice(3.1, 210.0, 0.05),
    "mixref_c.flac": voice(2.2, 160.0, 0.10),
    "mixref_e.flac": voice(3.5, 125.0, 0.30),
}
for name, x in files.items():
    sf.write(os.path.join(OUT, name), x, RATE, subtype="PCM_16")
# read back what the tests will read
audio = {name: sf.read(os.path.join(OUT, name), dtype="float64")[0] for name in files}
meter = pyln.Meter(RATE)


def librimix_gains(sources, targets):
    """Per-source gains as LibriMix derives them, plus the mixture guard weight."""
    norm, gains = [], []
    for s, tgt in zip(sources, targets):
        loud = meter.integrated_loudness(s)
        g = 10.0 ** ((tgt - loud) / 20.0)
        if np.max(np.abs(s * g)) >= 1:
            g = MAX_AMP / np.max(np.abs(s))
        norm.append(s * g)
        gains.append(g)
    n = max(len(s) for s in norm)
    mix = np.zeros(n)
    for s in norm:
        mix[: len(s)] += s
    peak = np.max(np.abs(mix))
    w = MAX_AMP / peak if peak > MAX_AMP else 1.0
    return [g * w for g in gains], w, mix * w


cases = [
    # id, sources, target LUFS, enrollment (file, start s, duration s, LUFS), silence s
    ("quiet", ["mixref_a.flac", "mixref_b.flac"], [-31.5, -26.0], ("mixref_e.flac", 0.25, 3.0, -28.0), 3.0),
    ("guard", ["mixref_a.flac", "mixref_b.flac", "mixref_c.flac"], [-9.0, -8.0, -10.0], ("mixref_e.flac", 0.0, 2.0, -30.0), 1.0),
    ("clip", ["mixref_c.flac", "mixref_b.flac"], [-2.0, -33.0], ("mixref_e.flac", 1.0, 1.5, -25.0), 0.5),
]
lines, expected = [], {}
for cid, srcs, tgts, (ef, es, ed, elufs), sil in cases:
    gains, w, mix = librimix_gains([audio[s] for s in srcs], tgts)
    e = audio[ef][int(round(es * RATE)): int(round(es * RATE)) + int(round(ed * RATE))]
    eg = 10.0 ** ((elufs - meter.integrated_loudness(e)) / 20.0)
    if np.max(np.abs(e * eg)) >= 1:
        eg = MAX_AMP / np.max(np.abs(e))
    wave = np.concatenate([e * eg, np.zeros(int(round(sil * RATE))), mix])
    lines.append(json.dumps({
        "id": cid, "set": "mixref",
        "sources": [{"path": s, "speaker": str(i), "gender": "M" if i % 2 == 0 else "F",
                     "text": f"SOURCE {i}", "lufs": t, "offset": 0}
                    for i, (s, t) in enumerate(zip(srcs, tgts))],
        "target": 0,
        "enroll": {"path": ef, "start": es, "duration": ed, "lufs": elufs},
    }))
    expected[cid] = {"silence": sil, "gains": gains, "guard": w, "enroll_gain": eg, "n": len(wave),
                     "every37": [round(float(v), 8) for v in wave[::37]]}
with open(os.path.join(OUT, "mixref.jsonl"), "w") as f:
    f.write("\n".join(lines) + "\n")
with open(os.path.join(OUT, "mixref_expected.json"), "w") as f:
    json.dump(expected, f)
print("wrote", OUT)
