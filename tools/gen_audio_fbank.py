#!/usr/bin/python3
# gen_audio_fbank.py — fbank fixtures for tests/audio/test_fbank.c: one short test signal and
# its features from torchaudio.compliance.kaldi.fbank under the options fbank_cfg_default()
# mirrors (80 bins, 25/10 ms, Povey, pre-emphasis 0.97, DC removal, dither 0, snip_edges,
# power spectrum, low 20 Hz, high = Nyquist), plus variants.
#
# Reference: Debian's python3-torch and python3-torchaudio (apt-get install python3-torchaudio);
# run with /usr/bin/python3:  /usr/bin/python3 tools/gen_audio_fbank.py
# Writes tests/fixtures/audio/fbank_in.f32 (float32 little-endian samples),
# fbank_<variant>.f32 (float32 (frames, 80) row-major) and fbank.txt (one variant a line).
import os

import numpy as np
import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "audio")
RATE = 16000


def test_signal():
    """1 s: a voiced, formant-modulated tone with noise and a DC offset, 0.1 s of digital
    silence inside (exercises the log floor), then a louder noisy tail."""
    rng = np.random.default_rng(7)
    n = RATE
    t = np.arange(n) / RATE
    f0 = 120 + 30 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(h * phase) * np.exp(-((h * 120 - 700) / 500) ** 2) for h in range(1, 30))
    x = 0.08 * voiced + 0.01 * rng.standard_normal(n) + 0.01
    x[4000:5600] = 0.0
    x[11000:] += 0.2 * rng.standard_normal(n - 11000)
    return x.astype(np.float32)


VARIANTS = [
    # name, samples, input scale, subtract_mean
    ("default", RATE, 1.0, False),
    ("cmn", RATE, 1.0, True),
    ("int16scale", RATE, 32768.0, False),
    ("short", 1000, 1.0, False),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    x = test_signal()
    x.astype("<f4").tofile(os.path.join(OUT, "fbank_in.f32"))
    lines = [f"# name samples input_scale subtract_mean frames bins  (torch {torch.__version__}, "
             f"torchaudio {torchaudio.__version__})"]
    for name, n, scale, cmn in VARIANTS:
        wav = torch.from_numpy(x[:n].copy()).unsqueeze(0) * scale
        f = kaldi.fbank(wav, num_mel_bins=80, frame_length=25.0, frame_shift=10.0, dither=0.0,
                        window_type="povey", preemphasis_coefficient=0.97, remove_dc_offset=True,
                        round_to_power_of_two=True, snip_edges=True, use_energy=False,
                        use_log_fbank=True, use_power=True, low_freq=20.0, high_freq=0.0,
                        sample_frequency=float(RATE), subtract_mean=cmn)
        f.numpy().astype("<f4").tofile(os.path.join(OUT, f"fbank_{name}.f32"))
        lines.append(f"{name} {n} {scale:g} {int(cmn)} {f.shape[0]} {f.shape[1]}")
        print(lines[-1])
    with open(os.path.join(OUT, "fbank.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
