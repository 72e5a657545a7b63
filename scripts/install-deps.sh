#!/usr/bin/env bash
# Installs everything tsasr needs on Debian 12 (run as root). Idempotent: quiet and
# fast when every package is already present.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config ninja-build clang libclang-rt-14-dev
  libopenblas-openmp-dev libopenblas-dev libdnnl-dev libcjson-dev libpcre2-dev libutf8proc-dev
  libsndfile1-dev libsamplerate0-dev libebur128-dev portaudio19-dev
  libncurses-dev libreadline-dev liblua5.4-dev lua5.4 libfftw3-dev libcmocka-dev
  tmux espeak-ng flite festival sox
  # TTS voices for the synthetic corpus (tsasr synth): festival's English voices
  festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
  # public-domain book for `tsasr synth --source book`: Project Gutenberg's "The Adventures of
  # Tom Sawyer", shipped as test data in /usr/share/gocode/src/github.com/klauspost/compress/testdata/
  golang-github-klauspost-compress-dev
)
# Optional: reference implementations for fixture generation and benchmarks only
# (tests never need them: fixtures are committed). tools/gen_audio_loudness.py also needs
# pyloudnorm==0.2.0 from PyPI (pip install pyloudnorm==0.2.0 into the default python3).
OPT_PKGS=(python3-torch python3-torchaudio python3-numpy)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${TSASR_WITH_REFERENCE:-0}" = 1 ]; then
  for p in "${OPT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
