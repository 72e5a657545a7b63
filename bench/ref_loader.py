#!/usr/bin/env python3
# ref_loader.py — the Python reference for bench_loader: assembles the samples of a manifest
# the way LibriMix's scripts would (soundfile, pyloudnorm, numpy: loudness targets, clip rule,
# 0.9 mixture guard, max mode) plus tsasr's enrollment ‖ 3 s silence ‖ mixture, one process,
# and prints samples/s.
# Reference: pyloudnorm==0.2.0, soundfile==0.14.0 (PyPI), numpy.
import json
import sys
import time

import numpy as np
import pyloudnorm as pyln
import soundfile as sf

RATE, MAX_AMP, SILENCE = 16000, 0.9, 3.0
meter = pyln.Meter(RATE)


def gain_for(x, lufs):
    g = 10.0 ** ((lufs - meter.integrated_loudness(x)) / 20.0)
    return MAX_AMP / np.max(np.abs(x)) if np.max(np.abs(x * g)) >= 1 else g


def assemble(e):
    srcs = [sf.read(s["path"], dtype="float32")[0] for s in e["sources"]]
    norm = [x * gain_for(x, s["lufs"]) for x, s in zip(srcs, e["sources"])]
    mix = np.zeros(max(len(x) for x in norm), dtype=np.float32)
    for x in norm:
        mix[: len(x)] += x
    peak = np.max(np.abs(mix))
    if peak > MAX_AMP:
        mix *= MAX_AMP / peak
    en = sf.read(e["enroll"]["path"], dtype="float32")[0]
    a = int(round(e["enroll"]["start"] * RATE))
    en = en[a: a + int(round(e["enroll"]["duration"] * RATE))]
    en = en * gain_for(en, e["enroll"]["lufs"])
    return np.concatenate([en, np.zeros(int(SILENCE * RATE), dtype=np.float32), mix])


entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
t0 = time.perf_counter()
total = 0
for e in entries:
    total += len(assemble(e))
dt = time.perf_counter() - t0
print(f"ref_loader: {len(entries)} samples in {dt:.2f} s = {len(entries) / dt:.1f} samples/s "
      f"({total / RATE / dt:.0f} s of input audio/s)")
