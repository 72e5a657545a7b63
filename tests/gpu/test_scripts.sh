#!/bin/bash
# test_scripts.sh — the GPU machine's scripts checked here, where no GPU is: each parses
# (bash -n), run.sh's parity bisect (step 3z) names the switch whose run passes, using a
# stand-in parity program that fails unless one planted switch is off, and its det_check (3q)
# requires every repeat it asks for. run.sh's own helper
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
# det_check (step 3q / q1''): the repeat runs' counts decide it; a stand-in that repeats all three
# parts except in bf16 without TSASR_CUDA_DETERMINISTIC passes it, one whose f32 run repeats two fails
{
  echo "build=$tmp logs=$tmp/logs brc16=0; t0=\$(date +%s); deadline=500"
  sed -n '/^step() {/p; /^cap() {/p' "$g/run.sh"
  sed -n '/^parity_env() {/,/^}/p; /^det_reps() {/,/^}/p; /^det_check() {/,/^}/p' "$g/run.sh"
  echo 'det_check; echo "DET $qd|$qdn"'
} > "$tmp/d.sh"
plant_rep() { # N: repeats the f32 run shows
  cat > "$tmp/tests/gpu/test_sft_parity" <<P
#!/bin/bash
n=3
[ "\${TSASR_CUDA_GEMM:-}" = bf16 ] && [ "\${TSASR_CUDA_DETERMINISTIC:-0}" != 1 ] && n=1
[ "\${TSASR_CUDA_GEMM:-}" != bf16 ] && n=$1
for i in \$(seq \$n); do echo "     repeat: the device's second run equal bit for bit"; done
echo "test_sft_parity: PASS"
P
  chmod +x "$tmp/tests/gpu/test_sft_parity"
}
plant_rep 3
out=$(bash "$tmp/d.sh" 2>&1 | grep '^DET')
case "$out" in
  "DET ok|f32: rc 0, 3/3 repeated; bf16 deterministic: rc 0 vs 3a's 0, 3/3 repeated; bf16 defaults (reported): 1/3 repeated") ;;
  *) echo "test_scripts: det_check on a repeating device: $out"; fail=1 ;;
esac
plant_rep 2
out=$(bash "$tmp/d.sh" 2>&1 | grep '^DET')
case "$out" in "DET FAIL|f32: rc 0, 2/3 repeated"*) ;; *) echo "test_scripts: det_check missed an f32 run that did not repeat: $out"; fail=1 ;; esac
[ $fail = 0 ] && echo "test_scripts: ok (scripts parse; the bisect names a planted switch; det_check counts repeats)"
exit $fail
