#!/usr/bin/env bash
# Training and decoding throughput of a small model of the paper's family: tsasr against
# PyTorch + transformers (same architecture and batch) in the same run, same threads.
# PY: a Python with transformers (default .venv-ref/bin/python, see tools/make_reference_venv.sh).
# Usage: bench/run_small.sh [THREADS [BATCH [SECONDS [waveform|fbank]]]]
# (fbank: the shipped models/small architecture, features computed in every forward on both sides)
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-1}" batch="${2:-8}" secs="${3:-5}" front="${4:-waveform}"
py="${PY:-.venv-ref/bin/python}"
export OMP_NUM_THREADS="$threads" TSASR_THREADS="$threads"
ours=$(./build/bench_small "$batch" "$secs" "$front")
theirs=$("$py" -c "import torch; torch.set_num_threads($threads); import runpy, sys; sys.argv=['x','$batch','$secs','$front']; runpy.run_path('bench/bench_small_torch.py', run_name='__main__')" 2>/dev/null)
echo "== tsasr (threads $threads)"; echo "$ours"
echo "== PyTorch"; echo "$theirs"
for k in train_step decode; do
  a=$(echo "$ours" | awk -v k="$k" '$1 == k {print $2}')
  b=$(echo "$theirs" | awk -v k="$k" '$1 == k {print $2}')
  printf "%-10s tsasr %.4f s  torch %.4f s  ratio %.2f (ours/theirs; < 1 is faster)\n" "$k" "$a" "$b" "$(echo "$a / $b" | bc -l)"
done
