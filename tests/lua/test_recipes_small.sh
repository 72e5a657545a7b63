#!/bin/bash
# test_recipes_small.sh — the small recipes end to end on a tiny synthetic corpus, a couple of
# steps each: data (TTS corpus, BPE vocabulary, mixtures, test sets), BASE SFT, CoT data + SFT,
# GRPO on a selection, evaluation; checks each stage's outputs. $1: tsasr binary, $2: build dir.
set -u
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "$2/test_lua_small.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
die() { echo "FAIL: $*" >&2; fail=1; }
w="$tmp/exp"
common=(work_dir="$w" threads=2)
run() { # stage args...
  local st=$1; shift
  local out rc
  out=$(timeout 600 "$bin" run "$src/recipes/small/$st.lua" "${common[@]}" "$@" 2>&1); rc=$?
  [ $rc -eq 0 ] || { die "stage $st exit $rc: $out"; echo "$out" >&2; exit 1; }
  echo "$out"
}
lines() { grep -c . "$1" 2>/dev/null || echo 0; }
finite_losses() { # metrics.jsonl key -> every value is a finite number
  "$bin" lua -e '
    local n = 0
    for line in io.lines(arg and arg[1] or "'"$1"'") do
      local v = ts.json.decode(line)["'"$2"'"]
      assert(type(v) == "number" and v == v and v > -math.huge and v < math.huge, "bad '"$2"': " .. line)
      n = n + 1
    end
    print(n)'
}

# data
out=$(run data voices=4 utts_per_voice=5 train_mix=8 test_mix=2 merges=120)
[ -s "$w/data/tokenizer.json" ] || die "no tokenizer"
n=$(lines "$w/data/train.jsonl"); [ "$n" -ge 8 ] || die "train.jsonl has $n entries"
for s in single libri2mix libri3mix; do [ -s "$w/data/test_$s.jsonl" ] || die "no test set $s"; done
echo "$out" | grep -q "tokenizer .*merges" || die "data did not report the tokenizer: $out"

# BASE SFT, 2 steps
run base sft_steps=2 global_batch=2 micro_batch=1 ckpt_every=1 >/dev/null
[ -s "$w/base/final/model.safetensors" ] && [ -s "$w/base/final/config.json" ] || die "no BASE model"
[ "$(finite_losses "$w/base/metrics.jsonl" loss)" = 2 ] || die "BASE metrics: not 2 finite losses"

# CoT data (full CoT, oracle similarity) + SFT, 2 steps
out=$(run cot sft_steps=2 global_batch=2 micro_batch=1 cot_data=full)
echo "$out" | grep -qE "cot: [0-9]+ full, 0 empty" || die "cot data report: $out"
"$bin" lua -e '
  local ds = ts.manifest.read("'"$w"'/cot/train_cot.jsonl")
  assert(#ds >= 8)
  for i = 1, #ds do
    local e = ds:entry(i)
    local p = ts.cot.parse(e.cot)
    assert(p.format_ok and p.target == e.target, "bad CoT in entry " .. i)
    assert(p.answer == e.sources[e.target].text, "CoT answer is not the target transcript")
  end' || die "CoT manifest check"
[ -s "$w/cot/final/model.safetensors" ] || die "no CoT model"
[ "$(finite_losses "$w/cot/metrics.jsonl" loss)" = 2 ] || die "CoT metrics"

# GRPO on the CoT training set as the selection, 2 steps
mkdir -p "$w/select" && cp "$w/cot/train_cot.jsonl" "$w/select/rl_train.jsonl"
run grpo grpo_steps=2 G=2 prompts=1 max_new=12 grpo_micro_batch=2 >/dev/null
[ -s "$w/grpo/final/model.safetensors" ] || die "no GRPO model"
[ "$(finite_losses "$w/grpo/metrics.jsonl" kl)" = 2 ] || die "GRPO metrics"
exit $fail
