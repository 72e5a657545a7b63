#!/usr/bin/env bash
# Engine benchmark: tsasr's CPU engine against PyTorch (Debian's python3-torch, eager) on the
# same cases in the same run, at the same thread count. Prints ours/theirs time ratios
# (< 1 means tsasr is faster) and both GFLOP/s.
# Usage: bench/run_engine.sh [THREADS [REPS]]   (build first: scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
reps="${2:-5}"
bin=build/bench_engine
[ -x "$bin" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
export OMP_NUM_THREADS="$threads" TSASR_THREADS="$threads"
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
"$bin" "$reps" >"$ours"
/usr/bin/python3 -c "import torch; torch.set_num_threads($threads); import runpy, sys; sys.argv=['x','$reps']; runpy.run_path('bench/bench_engine_torch.py', run_name='__main__')" >"$theirs"
printf "threads=%s reps=%s (median ms)\n" "$threads" "$reps"
printf "%-44s %10s %10s %8s %10s %10s\n" case tsasr_ms torch_ms ratio tsasr_GF/s torch_GF/s
join <(sort "$ours") <(sort "$theirs") | while read -r name oms ogf tms tgf; do
  printf "%-44s %10.2f %10.2f %8.2f %10.1f %10.1f\n" "$name" "$oms" "$tms" "$(echo "$oms / $tms" | bc -l)" "$ogf" "$tgf"
done
