#!/usr/bin/env bash
# run_traffic.sh — how fast the SFT step could be on a GPU with the op sequence as it stands:
# devsim's traffic count (bench_device --device devsim, tensor/devsim_traffic.h) of one paper-
# geometry step in the bf16 precision at micro-batch 1 and 2, a line through the two (the fixed
# part: AdamW's arrays, the gradients' zero fill, the embedding table; the rest grows with the
# inputs), then the step's lower bound and the MFU it allows at micro-batch 4 and at the paper's
# global batch (4 x 28 micro-batches, one AdamW), on an H100 SXM (3.35 TB/s) and an H200
# (4.8 TB/s), 989 TFLOP/s dense bf16, with the products (GEMMs, convolutions, attention) at that
# peak and at 70 % of it. Every other op is taken at full bandwidth, moving each operand once:
# a floor for this op sequence with devsim's storage types (the bf16 precision's: GEMM-only
# activations in bf16, the rest f32), not an estimate of a kernel's time. It errs both ways: an
# accumulated output counts once (a kernel reads and writes it), the embedding's table in full (a
# gather reads rows), and CUDA reads its bf16 weight copy and kept bf16 attention operands where
# devsim counts f32 ones.
# With OPS_FILE, each op's floor at micro-batch 4 goes there too (its calls, bytes and FLOPs on the
# same line through micro-batches 1 and 2): tests/gpu/floor_paper_b4.txt is such a file, which
# tests/gpu/run.sh compares with the measured per-op profile of the same step.
# Needs ~20 GB of memory and ~4-6 minutes on 2 cores. Usage: bench/run_traffic.sh [BUILD_DIR [OPS_FILE]]
# With TRAFFIC_COUNTS=FILE the counts are read from FILE (bench_device's traffic_counts and
# traffic_op lines for micro-batches 1 and 2) instead of being made: the test of this script.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
ops_file=${2:-}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if [ -n "${TRAFFIC_COUNTS:-}" ]; then
  cat "$TRAFFIC_COUNTS" > "$out"
else
  bin="$build/bench_device"
  [ -x "$bin" ] || { echo "run_traffic: $bin not built (cmake --build $build)" >&2; exit 2; }
  for b in 1 2; do
    echo "== micro-batch $b (devsim, paper geometry, bf16)" >&2
    "$bin" --device devsim --geometry paper --batch "$b" --seconds 20 --steps 1 --G 0 --gemm bf16 | tee -a "$out" |
      grep -E '^(sft_step|traffic_bound)' >&2
  done
fi
awk '
/^traffic_counts/ { b = $3; ob[b] = $7; pb[b] = $9; pf[b] = $11; mf[b] = $13; np = $15; aw = $17 }
END {
  if (!(1 in ob) || !(2 in ob)) { print "run_traffic: a count is missing" > "/dev/stderr"; exit 1 }
  # per input (slope) and fixed (intercept) bytes; the products and the model FLOPs grow with the inputs.
  # The other ops intercept splits into what a step moves once (AdamW, the gradients zero fill: sa)
  # and what each micro-batch moves whatever its size (the embedding table, ...: mb); a step of
  # several micro-batches adds the trainers gradient norm and clip (a read and a write of the
  # gradients, 8 bytes a parameter). The products intercept (the weights) is each micro-batchs.
  so = ob[2] - ob[1]; fo = ob[1] - so; sp = pb[2] - pb[1]; fp = pb[1] - sp; sf = pf[2] - pf[1]; sm = mf[2] - mf[1]
  sa = aw + 4 * np; mb = fo - sa
  printf "a step: %.2f GB once (AdamW, the zero fill), %.2f GB a micro-batch in other ops and %.2f GB in products",
    sa / 1e9, mb / 1e9, fp / 1e9
  printf " (the weights); per 20 s input %.2f GB other ops, %.2f GB and %.3f TFLOP in products\n", so / 1e9, sp / 1e9,
    sf / 1e12
  print "per micro-batch of 4 inputs (with 28 of them a step, each carries 1/28 of what a step moves once,"
  print "the norm and clip included):"
  printf "%-34s %-6s %8s %9s %9s %9s %9s\n", "configuration", "GPU", "GB", "other ms", "prod ms", "ms", "MFU <="
  split("3.35 4.8", bw, " "); split("H100 H200", gpu, " ")
  for (c = 1; c <= 4; c++) {
    n = 4; acc = c > 2 ? 28 : 1; eff = c % 2 ? 1.0 : 0.7
    name = sprintf("micro-batch 4%s, GEMMs at %d%%", acc > 1 ? " x 28" : "", eff * 100)
    for (g = 1; g <= 2; g++) {
      other = (sa + (acc > 1 ? 8 * np : 0)) / acc + mb + so * n; prod_b = fp + sp * n
      tother = other / (bw[g] * 1e12)
      tprod = sf * n / (989e12 * eff); if (prod_b / (bw[g] * 1e12) > tprod) tprod = prod_b / (bw[g] * 1e12)
      step = tother + tprod
      printf "%-34s %-6s %8.1f %9.2f %9.2f %9.2f %8.1f%%\n", name, gpu[g], (other + prod_b) / 1e9, 1e3 * tother,
        1e3 * tprod, 1e3 * step, 100 * sm * n / step / 989e12
    }
  }
}' "$out"
if [ -n "$ops_file" ]; then
  {
    echo "# each op's floor in one paper-geometry SFT step at micro-batch 4 (4 x 20 s, bf16 precision, one"
    echo "# AdamW): calls, bytes of its device operands (each once a call), FLOPs of its products; a line"
    echo "# through devsim's counts at micro-batches 1 and 2 (bench/run_traffic.sh, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo "# op calls bytes flops"
    awk '/^traffic_counts/ { b = $3 } /^traffic_op/ { c[b, $2] = $3; by[b, $2] = $4; f[b, $2] = $5; ops[$2] = 1 }
      END { for (o in ops) printf "%s %d %.4e %.4e\n", o, c[1, o] + 3 * (c[2, o] - c[1, o]),
                                  by[1, o] + 3 * (by[2, o] - by[1, o]), f[1, o] + 3 * (f[2, o] - f[1, o]) }' "$out" |
      sort -k3,3gr
  } > "$ops_file"
  echo "run_traffic: each op's floor at micro-batch 4 in $ops_file" >&2
fi
