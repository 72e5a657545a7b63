#!/usr/bin/env bash
# bf16_spread.sh — how far bf16 GEMMs move the tiny model's training from f32, on the CPU: runs
# test_sft_parity twice against a second CPU backend (each run must agree with itself bit for
# bit), once in f32 and once with every GEMM in bf16 (TSASR_PARITY_CPU_GEMM=bf16-all), and
# prints per step the relative difference of the CPU's loss and grad norm between the two runs.
# It is the yardstick for tests/gpu/run.sh's bf16 run on a GPU (CUDA bf16 against CPU f32),
# whose grad-norm differences of a few per cent would otherwise look like a bug.
# Fails when the bf16 run's losses leave f32's by more than 1e-2 (measured: 3.5e-3; a broken
# bf16 path moves them by far more), or when a run fails; skips (77) without a CPU bf16 GEMM.
#   bash tests/gpu/bf16_spread.sh BUILD_DIR
set -uo pipefail
bin="${1:-build}/tests/gpu/test_sft_parity"
[ -x "$bin" ] || { echo "bf16_spread: no $bin"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
TSASR_PARITY_DEVICE=cpu "$bin" > "$tmp/f32" 2>&1 || { echo "bf16_spread: the f32 run failed:"; cat "$tmp/f32"; exit 1; }
TSASR_PARITY_DEVICE=cpu TSASR_PARITY_CPU_GEMM=bf16-all "$bin" > "$tmp/bf16" 2>&1
rc=$?
if [ $rc = 77 ]; then head -n 1 "$tmp/bf16"; exit 77; fi
[ $rc = 0 ] || { echo "bf16_spread: the bf16 run failed:"; cat "$tmp/bf16"; exit 1; }
# rows "step loss_cpu loss_dev rel ctc_rel gnorm_cpu ..." of parts B and C, keyed by part and step
rows() { awk '/^[BC]  / { part++ } part && NF >= 8 && $1 ~ /^[0-9]+$/ { print part, $1, $2, $6 }' "$1"; }
rows "$tmp/f32" > "$tmp/f.rows"
rows "$tmp/bf16" > "$tmp/b.rows"
[ -s "$tmp/f.rows" ] && [ "$(wc -l < "$tmp/f.rows")" = "$(wc -l < "$tmp/b.rows")" ] ||
  { echo "bf16_spread: the two runs' tables differ in shape"; exit 1; }
paste -d ' ' "$tmp/f.rows" "$tmp/b.rows" | awk '
  function rel(a, b) { d = a - b; if (d < 0) d = -d; m = a < 0 ? -a : a; return m > 0 ? d / m : d }
  BEGIN { print "part step   loss f32   loss bf16   rel    gnorm f32  gnorm bf16   rel" }
  {
    rl = rel($3, $7); rg = rel($4, $8)
    printf "%4d %4d %10.6f %10.6f %8.1e %10.6f %10.6f %8.1e\n", $1, $2, $3, $7, rl, $4, $8, rg
    if (rl > ml) ml = rl
    if (rg > mg) mg = rg
  }
  END {
    printf "bf16 against f32 (CPU, every GEMM bf16): losses within %.1e, grad norms within %.1e\n", ml, mg
    if (ml > 1e-2) { print "bf16_spread: FAIL: the losses moved by more than 1e-2"; exit 1 }
  }'
