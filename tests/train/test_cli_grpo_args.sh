#!/usr/bin/env bash
# test_cli_grpo_args.sh — `tsasr train grpo` refuses settings it cannot train with (a negative
# KL weight or clip range, no new tokens, a zero temperature, non-finite numbers, a --ref with
# another vocabulary, an integer past int's range, which used to be truncated) with a message
# naming it, before reading the manifest or touching the run directory; a seed takes 64 bits.
# Args: TSASR_BIN BUILD_DIR.
set -u
bin="$1"
fx="$(cd "$(dirname "$0")/../fixtures/tsmodel/tiny" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
: > "$tmp/rl.jsonl"
# option, the text the message must hold, the exit status
while IFS='|' read -r opt want code; do
  # shellcheck disable=SC2086
  "$bin" train grpo "$fx" "$tmp/rl.jsonl" --run "$tmp/run" --steps 1 $opt > "$tmp/out" 2> "$tmp/err"
  rc=$?
  [ "$rc" -eq "$code" ] || bad "$opt: exit $rc, want $code: $(cat "$tmp/err")"
  grep -q -- "$want" "$tmp/err" || bad "$opt: message lacks \"$want\": $(cat "$tmp/err")"
  [ ! -e "$tmp/run" ] || bad "$opt: the run directory was created"
done <<'CASES'
--beta -1|beta -1|1
--epsilon -0.5|epsilon -0.5|1
--max-new 0|max_new 0|1
--max-new -4|max_new -4|1
--temperature 0|temperature 0|1
--temperature -1|temperature -1|1
--lr nan|--lr expects a finite number|2
--temperature inf|--temperature expects a finite number|2
--G 1|grpo: G 1,.*G must be >= 2|1
--prompts 0|prompts 0,.*prompts, mu and steps >= 1|1
--max-new 4294967297|--max-new 4294967297 is out of range|2
--prompts 2147483648|--prompts 2147483648 is out of range|2
CASES
# a reference model with another tokenizer (the small model's 608-token vocabulary)
"$bin" train grpo "$fx" "$tmp/rl.jsonl" --run "$tmp/run" --steps 1 --ref "$(dirname "$0")/../../models/small" \
  > "$tmp/out" 2> "$tmp/err"
grep -q "reference model's tokenizer .*small/tokenizer.json.* differs" "$tmp/err" || bad "--ref: $(cat "$tmp/err")"
[ ! -e "$tmp/run" ] || bad "--ref: the run directory was created"
# a 64-bit seed is a setting like any other: the empty manifest is what it stops on
"$bin" train grpo "$fx" "$tmp/rl.jsonl" --run "$tmp/run" --steps 1 --seed 123456789012345 > "$tmp/out" 2> "$tmp/err"
grep -q "rl.jsonl: no usable entries" "$tmp/err" || bad "--seed 123456789012345: $(cat "$tmp/err")"
rm -rf "$tmp/run"
# the settings are fine: the empty manifest is what it stops on
"$bin" train grpo "$fx" "$tmp/rl.jsonl" --run "$tmp/run" --steps 1 > "$tmp/out" 2> "$tmp/err"
grep -q "rl.jsonl: no usable entries" "$tmp/err" || bad "empty manifest: $(cat "$tmp/err")"
# a run that fails before its first step draws no progress line (one at the total read as finished)
grep -q "grpo .*1/1" "$tmp/err" && bad "a progress line at the total after an early failure: $(cat "$tmp/err")"
[ "$fail" -eq 0 ] || exit 1
echo "ok"
