#!/usr/bin/env bash
# run_loader.sh — bench_loader (C loader, 1 and 2 threads) next to the Python reference
# (bench/ref_loader.py: soundfile + pyloudnorm + numpy, one process) on the same 2-speaker
# samples, and the ratio. usage: bench/run_loader.sh [BUILD_DIR] [SAMPLES]
set -euo pipefail
build=${1:-build}
n=${2:-200}
tmp=$(mktemp -d /tmp/tsasr_run_loader_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
c_out=$("$build/bench_loader" --make "$tmp/corpus" --manifest "$tmp/m.jsonl" --samples "$n" --threads 2)
echo "$c_out"
py_out=$(python3 "$(dirname "$0")/ref_loader.py" "$tmp/m.jsonl")
echo "$py_out"
c1=$(echo "$c_out" | sed -n 's/.*threads 1: .* = \([0-9.]*\) samples\/s.*/\1/p')
py=$(echo "$py_out" | sed -n 's/.* = \([0-9.]*\) samples\/s.*/\1/p')
awk -v c="$c1" -v p="$py" 'BEGIN { printf "ratio (C 1 thread / Python): %.2fx\n", c / p }'
