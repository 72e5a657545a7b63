#!/usr/bin/env bash
# test_gpu_scripts.sh — the arithmetic of the GPU machine's scripts, checked here on made-up inputs
# (they run on a GPU only when a device is lent): bench/run_traffic.sh's line through two
# micro-batches and its bound, and tests/gpu/floor_cmp.awk's join of a profile with the floors.
# Args: the tsasr binary and the build directory (unused).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "test_gpu_scripts: $*" >&2; exit 1; }

# counts: a step moves 10 GB once (AdamW 8 GB + the zero fill 4 x 0.5e9 params); each micro-batch
# 1 GB of other ops and 2 GB of products; each input 3 GB of other ops, 4 GB and 1 TFLOP of products
cat > "$t/counts" <<'C'
traffic_counts batch 1 accum 1 other_bytes 1.4e10 product_bytes 6e9 product_flops 1e12 model_flops 1e12 params 500000000 adamw_bytes 8e9
traffic_op adamw_runs 1 8e9 0
traffic_op matmul 10 6e9 1e12
traffic_op copy 3 6e9 0
traffic_counts batch 2 accum 1 other_bytes 1.7e10 product_bytes 1e10 product_flops 2e12 model_flops 2e12 params 500000000 adamw_bytes 8e9
traffic_op adamw_runs 1 8e9 0
traffic_op matmul 20 1e10 2e12
traffic_op copy 6 9e9 0
C
TRAFFIC_COUNTS="$t/counts" bash "$root/bench/run_traffic.sh" build "$t/ops" > "$t/out" 2> "$t/err" || fail "run_traffic.sh failed: $(cat "$t/err")"
grep -q '^a step: 10.00 GB once .*, 1.00 GB a micro-batch in other ops and 2.00 GB in products' "$t/out" ||
  fail "the fit's fixed parts: $(head -n 1 "$t/out")"
grep -q 'per 20 s input 3.00 GB other ops, 4.00 GB and 1.000 TFLOP in products' "$t/out" || fail "the fit's slopes"
# micro-batch 4, one AdamW, H100 at the peak: other 10 + 1 + 12 = 23 GB -> 6.866 ms; products
# 4 TFLOP at 989 -> 4.045 ms (their 18 GB at 3.35 TB/s: 5.373 ms, the slower); MFU 4e12 / (12.239 ms x 989e12)
grep -Eq '^micro-batch 4, GEMMs at 100% +H100 +41\.0 +6\.87 +5\.37 +12\.24 +33\.0%' "$t/out" ||
  fail "the H100 row: $(grep -m1 'H100' "$t/out")"
# 28 micro-batches: (10 + 8 x 0.5) / 28 = 0.5 GB of what a step moves once (the norm and clip
# included), + 1 + 12 GB of other ops, + 2 + 16 GB of products
grep -Eq '^micro-batch 4 x 28, GEMMs at 100% +H100 +31\.5 +4\.03 ' "$t/out" || fail "the accumulation row: $(grep -m1 'x 28' "$t/out")"
# each op at micro-batch 4 on the line through 1 and 2
grep -q '^matmul 40 1.8000e+10 4.0000e+12$' "$t/ops" || fail "the ops file: $(cat "$t/ops")"
grep -q '^copy 12 1.5000e+10 0.0000e+00$' "$t/ops" || fail "the ops file's copy row"

# floor_cmp.awk: a profile's SFT table against the floors just written, at 1 TB/s and 1000 TFLOP/s:
# copy 15 ms floor, measured 30 (2.0x); matmul max(4 ms, 18 ms) = 18 ms, measured 20; fill not in the floors
cat > "$t/profile" <<'P'
== phase: SFT, 1 step(s) after the warm-up, GEMM bf16
op profile (TSASR_PROFILE=shapes): 3 op calls, 60.0 ms in ops
op                    calls     total ms   share      mean us
copy                     12        30.00   50.0%       2500.0
matmul                   40        20.00   33.3%        500.0
fill                      5        10.00   16.7%       2000.0
== phase: rollout G=8 x 64 new tokens, GEMM bf16
matmul                 6307       147.89   50.5%         23.4
P
awk -v bw=1 -v peak=1000 -f "$root/tests/gpu/floor_cmp.awk" "$t/ops" "$t/profile" > "$t/cmp" || fail "floor_cmp.awk failed"
[ "$(awk 'NR == 2 { print $1 }' "$t/cmp")" = copy ] || fail "the largest gap first: $(cat "$t/cmp")"
grep -Eq '^copy +12 +12 +30\.00 +15\.000 +2\.0$' "$t/cmp" || fail "the copy row: $(grep '^copy' "$t/cmp")"
grep -Eq '^matmul +40 +40 +20\.00 +18\.000 +1\.1$' "$t/cmp" || fail "the matmul row (the rollout's must not count)"
grep -Eq '^fill +5 +- +10\.00 +0\.000 +-$' "$t/cmp" || fail "an op without a floor"
grep -q '^floor_total measured 60.00 ms in ops, floor 41.00 ms at 1.00 TB/s and 1000 TFLOP/s (1.5x); not in the profile: adamw_runs$' "$t/cmp" ||
  fail "the total: $(grep floor_total "$t/cmp")"
echo "test_gpu_scripts: ok"
