#!/bin/bash
# test_scripts.sh — the GPU machine's scripts checked here, where no GPU is: each parses
# (bash -n), and run.sh's parity bisect (step 3z) names the switch whose run passes, using a
# stand-in parity program that fails unless one planted switch is off. run.sh's own helper
# functions are taken from it (step, cap, parity_env, the bisect), so this checks that code.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
g="$root/tests/gpu"
fail=0
for f in run.sh quick.sh goals.sh kprof.sh fetch_debs.sh bf16_spread.sh; do
  bash -n "$g/$f" || { echo "test_scripts: $f does not parse"; fail=1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/tests/gpu" "$tmp/logs"
# harness: run.sh's helpers, then the bisect for the parities whose rc is given
{
  echo "build=$tmp logs=$tmp/logs; t0=\$(date +%s); deadline=500"
  sed -n '/^step() {/p; /^cap() {/p' "$g/run.sh"
  sed -n '/^parity_env() {/,/^}/p' "$g/run.sh"
  sed -n '/^bisect_sw=/,/^\[ "\$brc16" = 0 \]/p' "$g/run.sh"
  echo 'for i in "${!S_NAME[@]}"; do echo "ROW ${S_NAME[$i]}|${S_STAT[$i]}|${S_NOTE[$i]}"; done'
} > "$tmp/h.sh"
grep -q '^parity_bisect()' "$tmp/h.sh" || { echo "test_scripts: run.sh's parity_bisect not found"; exit 1; }
# plant: $1 is the variable that must be 0 for the parity to pass; "" for a failure nothing cures
plant() {
  cat > "$tmp/tests/gpu/test_sft_parity" <<P
#!/bin/bash
[ -n "$1" ] && [ "\${$1:-1}" = 0 ] && { echo "test_sft_parity: ok"; exit 0; }
echo "test_sft_parity: 1 MISMATCH"; exit 1
P
  chmod +x "$tmp/tests/gpu/test_sft_parity"
}
expect() { # NAME WANT_STATUS WANT_IN_NOTE OUTPUT
  local row
  row=$(grep "^ROW $1|" <<< "$4")
  case "$row" in
    "ROW $1|$2|"*"$3"*) ;;
    *) echo "test_scripts: want $1 $2 with '$3', got: ${row:-no row}"; fail=1 ;;
  esac
}
plant TSASR_CUDA_CONV_SET
out=$(prc=1 brc16=0 bash "$tmp/h.sh" 2>&1)
expect parity_bisect_f32 found "passes with CONV_SET ALL off" "$out"
grep -q "^ROW parity_bisect_bf16" <<< "$out" && { echo "test_scripts: a bf16 bisect ran after a bf16 pass"; fail=1; }
grep -q "TSASR_CUDA_GEMM=bf16" "$tmp/logs/sft_parity.log" && { echo "test_scripts: the f32 bisect ran in bf16"; fail=1; }
plant TSASR_ENC_CL
out=$(prc=0 brc16=1 bash "$tmp/h.sh" 2>&1)
expect parity_bisect_bf16 found "passes with ENC_CL ALL off" "$out"
grep -q "TSASR_ENC_CL=0 TSASR_CUDA_GEMM=bf16" "$tmp/logs/sft_parity.log" || { echo "test_scripts: the bf16 bisect ran without bf16"; fail=1; }
plant ""
out=$(prc=1 brc16=1 bash "$tmp/h.sh" 2>&1)
expect parity_bisect_f32 none "ALL:rc1" "$out"
expect parity_bisect_bf16 none "ENC_CL:rc1" "$out"
out=$(prc=0 brc16=0 bash "$tmp/h.sh" 2>&1)
grep -q "^ROW" <<< "$out" && { echo "test_scripts: a bisect ran though both parities passed"; fail=1; }
[ $fail = 0 ] && echo "test_scripts: ok (scripts parse; the bisect names a planted switch)"
exit $fail
