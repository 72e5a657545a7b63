#!/usr/bin/env python3
# gen_audio_loudness.py — loudness fixtures for tests/audio/test_loudness.c: a few short
# PCM16 signals and their integrated loudness measured by pyloudnorm (ITU-R BS.1770-4).
#
# Reference: pyloudnorm==0.2.0 from PyPI (pip install pyloudnorm==0.2.0), numpy.
# Run with the default python3:  python3 tools/gen_audio_loudness.py
# Writes tests/fixtures/audio/loud_*.wav and tests/fixtures/audio/loudness.txt.
import importlib.metadata
import os
import sys
import wave

import numpy as np
import pyloudnorm

PYLOUDNORM_VERSION = "0.2.0"
have = importlib.metadata.version("pyloudnorm")
if have != PYLOUDNORM_VERSION:
    sys.exit(f"pyloudnorm {have} installed, this script is pinned to {PYLOUDNORM_VERSION}")

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "audio")
rng = np.random.default_rng(20261126)


def t(rate, dur):
    return np.arange(int(round(rate * dur))) / rate


def lowpass_noise(n, k):
    """White noise smoothed by a k-tap moving average (a crude low-pass)."""
    w = rng.standard_normal(n + k)
    return np.convolve(w, np.ones(k) / k, mode="valid")[:n]


def bursts(rate, dur):
    """Speech-like: noisy syllables of varying level separated by pauses (exercises both gates)."""
    n = int(rate * dur)
    x = np.zeros(n)
    at = 0
    while at < n:
        seg = int(rate * rng.uniform(0.12, 0.35))
        gap = int(rate * rng.uniform(0.05, 0.3))
        level = 10 ** (rng.uniform(-35, -8) / 20)
        tt = np.arange(seg) / rate
        f0 = rng.uniform(100, 250)
        voiced = sum(np.sin(2 * np.pi * f0 * h * tt) / h for h in range(1, 8))
        env = np.sin(np.pi * np.arange(seg) / seg) ** 2
        s = (0.7 * voiced + 0.5 * lowpass_noise(seg, 3)) * env * level
        m = min(seg, n - at)
        x[at:at + m] = s[:m]
        at += seg + gap
    return x


def signals():
    yield "sine1k", 16000, 0.25 * np.sin(2 * np.pi * 1000 * t(16000, 1.0))
    yield "sine60", 16000, 0.5 * np.sin(2 * np.pi * 60 * t(16000, 1.0))
    yield "sine6k", 16000, 0.1 * np.sin(2 * np.pi * 6000 * t(16000, 1.0))
    yield "noise", 16000, 0.05 * rng.standard_normal(16000)
    yield "bursts", 16000, bursts(16000, 2.5)
    yield "quiet", 16000, 0.002 * lowpass_noise(16000, 4)
    yield "short", 16000, 0.3 * np.sin(2 * np.pi * 440 * t(16000, 0.5))
    yield "noise48k", 48000, 0.1 * lowpass_noise(int(48000 * 0.6), 6)
    tt = t(22050, 0.8)
    yield "chirp22k", 22050, 0.2 * np.sin(2 * np.pi * (200 * tt + 2500 * tt ** 2))


def write_pcm16(path, x, rate):
    q = np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(q.tobytes())
    return q.astype(np.float64) / 32768.0  # exactly what a reader scaling by 1/32768 gets back


def main():
    os.makedirs(OUT, exist_ok=True)
    lines = [f"# name rate lufs  (pyloudnorm {PYLOUDNORM_VERSION}, Meter(rate), K-weighting)"]
    for name, rate, x in signals():
        q = write_pcm16(os.path.join(OUT, f"loud_{name}.wav"), x, rate)
        lufs = pyloudnorm.Meter(rate).integrated_loudness(q)
        lines.append(f"{name} {rate} {lufs:.6f}")
        print(lines[-1])
    with open(os.path.join(OUT, "loudness.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
