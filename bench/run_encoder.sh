#!/usr/bin/env bash
# Encoder benchmark: tsasr's data2vec-audio base encoder against the same Hugging Face model in
# PyTorch (eager, float32), same input, same run, threads 1 and 2 (or those given). Prints
# audio-seconds per second for both and the ratio ours/theirs (> 1 means tsasr is faster).
# Usage: bench/run_encoder.sh [SECONDS [REPS [THREADS...]]]   (build first: scripts/build.sh)
# Python with transformers: $TSASR_ENC_PYTHON, else .venv-ref/bin/python (tools/make_reference_venv.sh; see
# tools/gen_encoder_fixtures.py for the venv).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
reps="${2:-3}"
shift $(( $# < 2 ? $# : 2 ))
if [ $# -gt 0 ]; then threads=("$@"); else threads=(1 2); fi
bin=build/bench_encoder
py="${TSASR_ENC_PYTHON:-.venv-ref/bin/python}"
[ -x "$bin" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
"$py" -c "import transformers" 2>/dev/null || { echo "no transformers for $py (set TSASR_ENC_PYTHON)" >&2; exit 1; }
printf "data2vec-audio base geometry, %s s input, batch 1, median of %s (audio s per s); load: %s\n" "$secs" "$reps" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-8s %-24s %10s %10s %8s\n" threads case tsasr torch ratio
for t in "${threads[@]}"; do
  ours=$(mktemp) theirs=$(mktemp)
  OMP_NUM_THREADS="$t" TSASR_THREADS="$t" "$bin" "$secs" "$reps" >"$ours" 2>/dev/null
  OMP_NUM_THREADS="$t" "$py" bench/bench_encoder_torch.py "$secs" "$reps" "$t" >"$theirs" 2>/dev/null
  join <(sort "$ours") <(sort "$theirs") | while read -r name _oms ors _tms trs; do
    printf "%-8s %-24s %10.3f %10.3f %8.2f\n" "$t" "$name" "$ors" "$trs" "$(echo "$ors / $trs" | bc -l)"
  done
  rm -f "$ours" "$theirs"
done
