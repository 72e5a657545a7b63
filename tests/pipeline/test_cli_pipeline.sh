#!/usr/bin/env bash
# test_cli_pipeline.sh — the paper's stages from the command line on a tiny synthetic corpus:
# synth -> mix -> model new -> train sft (BASE; run twice, the same bits) -> decode -> eval ->
# select -> train grpo -> decode again, then a resume of the finished SFT run, and clear errors
# for bad input.
# Args: TSASR_BIN BUILD_DIR
set -u
bin="$1"
work="$2/test_cli_pipeline.$$"
fx="$(cd "$(dirname "$0")/../fixtures" && pwd)"
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { "$@" > "$work/out.txt" 2> "$work/err.txt" || { cat "$work/out.txt" "$work/err.txt" >&2; fail "$*"; }; }
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
command -v espeak-ng > /dev/null || fail "espeak-ng is missing (scripts/install-deps.sh installs it)"

run "$bin" synth "$work/corpus" --voices 4 --utts-per-voice 6 --engines espeak --unseen 0.25 --quiet
run "$bin" mix "$work/corpus/train" --n 12 --speakers 0.5,0.5,0 --enroll 1.0 --seed 3 --out "$work/train.jsonl"
grep -q '"enroll"' "$work/train.jsonl" || fail "mix wrote no enrollment"
run "$bin" model new "$fx/tsmodel/tiny/config.json" --tokenizer "$fx/tsmodel/tiny/tokenizer.json" --out "$work/m0"
run "$bin" info "$work/m0"
grep -q "llm: qwen2" "$work/out.txt" || fail "info does not describe the model"

run "$bin" train sft "$work/m0" "$work/train.jsonl" --run "$work/base" --steps 3 --micro-batch 2 --accum 2 \
  --warmup 1 --lr 1e-3 --silence 0.5 --ckpt-every 2
test -f "$work/base/latest" || fail "no checkpoint"
test "$(wc -l < "$work/base/metrics.jsonl")" -eq 3 || fail "metrics.jsonl should have 3 lines"
ck="$work/base/$(cat "$work/base/latest")"
# the same run again in another process gives the same bits: weights, AdamW state and the logged
# losses and grad norms (timings aside)
run "$bin" train sft "$work/m0" "$work/train.jsonl" --run "$work/base2" --steps 3 --micro-batch 2 --accum 2 \
  --warmup 1 --lr 1e-3 --silence 0.5 --ckpt-every 2
for f in model.safetensors trainer_state.safetensors; do
  cmp -s "$ck/$f" "$work/base2/$(cat "$work/base2/latest")/$f" || fail "a second identical SFT run differs in $f"
done
strip_t() { sed 's/"tokens_per_s":[^,}]*//' "$1"; }
[ "$(strip_t "$work/base/metrics.jsonl")" = "$(strip_t "$work/base2/metrics.jsonl")" ] ||
  fail "a second identical SFT run logged other numbers"
# a finished run resumes to the same end without training again
run "$bin" train sft "$work/m0" "$work/train.jsonl" --run "$work/base" --steps 3 --micro-batch 2 --accum 2 \
  --warmup 1 --lr 1e-3 --silence 0.5
test "$(wc -l < "$work/base/metrics.jsonl")" -eq 3 || fail "resuming a finished run added lines"

run "$bin" decode "$ck" "$work/train.jsonl" --out "$work/dec.jsonl" --max-new 24 --silence 0.5 --limit 6
test "$(wc -l < "$work/dec.jsonl")" -eq 6 || fail "decode should write 6 lines"
grep -q '"format_ok"' "$work/dec.jsonl" || fail "decode lines lack format_ok"
# a resumed decode with a limit decodes the first N entries, not N more; its summary covers all N
run "$bin" decode "$ck" "$work/train.jsonl" --out "$work/dec.jsonl" --max-new 24 --limit 8
test "$(wc -l < "$work/dec.jsonl")" -eq 8 || fail "resumed decode --limit 8 should leave 8 lines, not $(wc -l < "$work/dec.jsonl")"
grep -q ": 8 outputs" "$work/out.txt" || fail "the resumed summary should count 8 outputs: $(cat "$work/out.txt")"
run "$bin" decode "$ck" "$work/train.jsonl" --out "$work/dec.jsonl" --max-new 24 --limit 8
test "$(wc -l < "$work/dec.jsonl")" -eq 8 || fail "a finished decode should add nothing"
grep -q ": 8 outputs" "$work/out.txt" || fail "a finished decode should still report its 8 outputs"
# a forced response prefix: in front of every record's raw text (so it is parsed with it) and
# not among the generated tokens (at most --max-new)
run "$bin" decode "$ck" "$work/train.jsonl" --out "$work/pre.jsonl" --max-new 24 --limit 3 \
  --prefix '<think></think><answer>'
test "$(grep -c '"raw":"<think></think><answer>' "$work/pre.jsonl")" -eq 3 || fail "--prefix is not in front of the raw outputs"
grep -o '"tokens":[0-9]*' "$work/pre.jsonl" | awk -F: '$2 > 24 { bad = 1 } END { exit bad }' ||
  fail "--prefix tokens counted as generated"
# ... and the model continues from it: not the plain outputs with the prefix pasted in front
run "$bin" decode "$ck" "$work/train.jsonl" --out "$work/nop.jsonl" --max-new 24 --limit 3
"$bin" lua -e '
  local function raws(path)
    local t = {}
    for line in io.lines(path) do t[#t + 1] = ts.json.decode(line).raw end
    return t
  end
  local a, b, same = raws("'"$work/pre.jsonl"'"), raws("'"$work/nop.jsonl"'"), 0
  for i = 1, #a do if a[i] == "<think></think><answer>" .. b[i] then same = same + 1 end end
  assert(#a == 3 and same < 3, "the prefix was not fed to the model")' > "$work/out.txt" 2>&1 ||
  fail "--prefix: $(cat "$work/out.txt")"
head -6 "$work/dec.jsonl" > "$work/dec6.jsonl" && mv "$work/dec6.jsonl" "$work/dec.jsonl"
run "$bin" eval "$work/dec.jsonl" --md "$work/table.md"
grep -q "WER" "$work/table.md" || fail "no table"
run "$bin" select "$work/dec.jsonl" --mode error-only --size 4 --seed 1 --manifest "$work/train.jsonl" --out "$work/rl.jsonl"
test -s "$work/rl.jsonl" || fail "empty RL selection"
run "$bin" train grpo "$ck" "$work/rl.jsonl" --run "$work/grpo" --steps 2 --prompts 1 --G 2 --micro-batch 2 \
  --max-new 16 --silence 0.5 --lr 1e-5
grep -q reward_mean "$work/grpo/metrics.jsonl" || fail "grpo logged no reward"

# the model records the input layout it was trained with; decode and demo use it by default
grep -A1 '"input"' "$ck/config.json" | grep -q '"silence":[[:space:]]*0.5' || fail "the checkpoint does not record silence 0.5"
run "$bin" demo "$ck" "$work/train.jsonl" --n 2 --max-new 24
grep -q "0.5 s silence" "$work/out.txt" || fail "demo does not use the model's silence: $(head -2 "$work/out.txt")"
test "$(grep -c '^== ' "$work/out.txt")" -eq 2 || fail "demo should show 2 samples"
grep -q "REF  " "$work/out.txt" && grep -q "HYP  " "$work/out.txt" || fail "demo shows no answer vs reference"
grep -q "Table 1" "$work/out.txt" || fail "demo prints no table"
test "$(wc -l < "$work/train.decode.jsonl")" -eq "$(wc -l < "$work/train.jsonl")" || fail "demo did not decode the whole set"
"$bin" demo "$ck" "$work/none.jsonl" > /dev/null 2> "$work/err.txt" && fail "demo without a demo set should fail"
grep -q "none.jsonl" "$work/err.txt" && grep -q "setup.sh" "$work/err.txt" || fail "demo error does not name the file and the fix"

# bad input: messages that name the problem, non-zero exits, no crash
"$bin" train sft "$work/m0" "$work/missing.jsonl" --run "$work/x" --steps 1 > /dev/null 2> "$work/err.txt" &&
  fail "a missing manifest should fail"
grep -q "missing.jsonl" "$work/err.txt" || fail "the message does not name the manifest"
"$bin" train sft "$work/m0" "$work/train.jsonl" --run "$work/x" --stepz 1 > /dev/null 2> "$work/err.txt"
test $? -eq 2 || fail "a misspelled option should exit 2"
grep -q -- "--stepz" "$work/err.txt" || fail "the message does not name the option"
"$bin" decode /nonexistent "$work/train.jsonl" --out "$work/d2.jsonl" > /dev/null 2> "$work/err.txt" &&
  fail "a missing model should fail"
grep -q "/nonexistent/config.json" "$work/err.txt" || fail "the message does not name the model's config"
echo "cli pipeline ok"
