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
common=(work_dir="$w" threads=2 ${TSASR_TEST_DEVICE:+device=$TSASR_TEST_DEVICE}) # TSASR_TEST_DEVICE: run the model stages there
run() { # stage args...
  local st=$1; shift
  local out rc
  out=$(timeout 600 "$bin" run "$src/recipes/small/$st.lua" "${common[@]}" "$@" 2>&1); rc=$?
  [ $rc -eq 0 ] || { echo "FAIL: stage $st exit $rc: $out" >&2; exit 1; }
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

# data: the synthetic TTS corpus, or (no espeak-ng here) a corpus of tones in the same layout
corpus_arg=()
if [ -n "${TSASR_TEST_NO_TTS:-}" ] || ! command -v espeak-ng >/dev/null; then
  echo "espeak-ng not installed: the small recipes run on a corpus of tones"
  "$bin" lua -e '
    local root = "'"$tmp"'/tones"
    ts.mkdirs(root)
    local f = assert(io.open(root .. "/SPEAKERS.TXT", "w"))
    local words = {"BIN BLUE AT F TWO NOW", "LAY GREEN BY G FIVE AGAIN", "PLACE RED IN H ONE SOON", "SET WHITE WITH J NINE"}
    for k, s in ipairs({"1", "2", "3"}) do f:write(string.format("%s | %s | x | 1 | N\n", s, k % 2 == 1 and "M" or "F")) end
    f:close()
    for ch, split in ipairs({"train", "test-seen"}) do -- chapter 1 / 2: ids unique across splits
      for k, s in ipairs({"1", "2", "3"}) do
        local dir = string.format("%s/%s/%s/%d", root, split, s, ch)
        ts.mkdirs(dir)
        local tr = assert(io.open(string.format("%s/%s-%d.trans.txt", dir, s, ch), "w"))
        for u = 1, 3 do
          local x = {}
          for i = 1, 8000 + 1600 * u do x[i] = 0.2 * math.sin(i * 0.004 * (k + 2) + u + ch) end
          ts.audio.write(string.format("%s/%s-%d-%04d.flac", dir, s, ch, u), {rate = 16000, samples = x})
          tr:write(string.format("%s-%d-%04d %s\n", s, ch, u, words[(k + u + ch) % 4 + 1]))
        end
        tr:close()
      end
    end' || die "could not write the tone corpus"
  corpus_arg=(corpus="$tmp/tones")
fi
out=$(run data voices=4 utts_per_voice=4 train_mix=6 warm_mix=4 test_mix=1 merges=120 speaker_steps=3 "${corpus_arg[@]}") || exit 1
[ -s "$w/data/tokenizer.json" ] || die "no tokenizer"
n=$(lines "$w/data/train.jsonl"); [ "$n" -ge 6 ] || die "train.jsonl has $n entries"
for s in single libri2mix libri3mix; do [ -s "$w/data/test_$s.jsonl" ] || die "no test set $s"; done
echo "$out" | grep -q "tokenizer .*merges" || die "data did not report the tokenizer: $out"
[ -s "$w/speaker/model.safetensors" ] || die "no speaker encoder"
[ "$(lines "$w/data/train_warm.jsonl")" = 4 ] || die "no 4 warm-up samples"
"$bin" lua -e '
  local ds = ts.manifest.read("'"$w"'/data/train_warm.jsonl")
  for i = 1, #ds do
    local e = ds:entry(i)
    assert(#e.sources == 1 and math.abs(e.enroll.duration - 0.45) < 1e-6, "warm-up sample " .. i .. " is not single-speaker with a 0.45 s enrollment")
  end' || die "warm-up samples"

# warm-up: a new model (fbank front end by default) on the single-speaker samples
out=$(run warm warm_steps=2 global_batch=2 micro_batch=1 ckpt_every=1) || exit 1
[ -s "$w/warm/final/model.safetensors" ] || die "no warm-up model: $out"
grep -q '"feature_type":[[:space:]]*"fbank"' "$w/warm/final/config.json" || die "the default model has no fbank front end"
[ "$(finite_losses "$w/warm/metrics.jsonl" ctc)" = 2 ] || die "warm-up metrics: not 2 finite CTC losses"

# BASE SFT, 2 steps, with the terminal progress bar forced on (elapsed<eta, loss)
out=$(TSASR_PROGRESS=bar run base sft_steps=2 global_batch=2 micro_batch=1 ckpt_every=1) || exit 1
echo "$out" | grep -qE 'sft \[#+\] 2/2 [0-9:]+<[0-9:]+ loss [0-9.]+' || die "no progress bar: $out"
echo "$out" | grep -q $'\r' || die "the bar does not redraw in place"
echo "$out" | grep -q "base: starting from the warm-up model" || die "BASE did not start from the warm-up model: $out"
[ -s "$w/base/final/model.safetensors" ] && [ -s "$w/base/final/config.json" ] || die "no BASE model"
[ "$(finite_losses "$w/base/metrics.jsonl" loss)" = 2 ] || die "BASE metrics: not 2 finite losses"

# CoT data with random reasoning (a BASE decode of the training set decides) + SFT, 2 steps
out=$(run cot cot_steps=2 global_batch=2 micro_batch=1 cot_data=random decode_max_new=8 decode_batch=4) || exit 1
echo "$out" | grep -qE "cot: BASE decode of the training set: [0-9]+ samples" || die "no BASE decode: $out"
echo "$out" | grep -qE "^sft 2/2 elapsed [0-9:]+ eta [0-9:]+ loss" || die "no plain progress line without a terminal: $out"
echo "$out" | grep -q $'\r' && die "plain progress lines must not redraw"
echo "$out" | grep -qE "cot: [0-9]+ full, [0-9]+ empty thinks \(0 not in the decode\)" || die "cot data report: $out"
echo "$out" | grep -qE "cot: speaker similarity \(encoder\): [1-9][0-9]* segments embedded, [0-9]+ reused, 0 entries failed" ||
  die "the CoT did not use the speaker encoder: $out"
[ "$(lines "$w/base/decode_train.jsonl")" = "$(lines "$w/data/train.jsonl")" ] || die "BASE decode does not cover the training set"
"$bin" lua -e '
  local dec = {}
  for line in io.lines("'"$w"'/base/decode_train.jsonl") do local r = ts.json.decode(line); dec[r.id] = r end
  local ds = ts.manifest.read("'"$w"'/cot/train_cot.jsonl")
  assert(#ds >= 6)
  for i = 1, #ds do
    local e = ds:entry(i)
    local p = ts.cot.parse(e.cot)
    local r = assert(dec[e.id], "entry not decoded")
    local wrong = not r.format_ok or r.sub + r.del + r.ins > 0
    assert(p.format_ok and p.answer == e.sources[e.target].text, "bad CoT target in entry " .. i)
    assert(e.similarity and #e.similarity == #e.sources, "entry without speaker similarities")
    for k, sp in pairs(p.speakers) do assert(sp.sim == ts.cot.level(e.similarity[k]), "level is not the encoder score") end
    if wrong then assert(not p.think_empty and p.target == e.target, "a wrongly decoded sample must get the full CoT") end
    if not p.think_empty then assert(p.target == e.target) end
  end' || die "CoT manifest check (random reasoning)"
[ -s "$w/cot/final/model.safetensors" ] || die "no CoT model"
[ "$(finite_losses "$w/cot/metrics.jsonl" loss)" = 2 ] || die "CoT metrics"

# RL selection from a CoT decode of the training set (error-only), 4 samples
out=$(run select rl_size=4 decode_max_new=8 decode_batch=4) || exit 1
[ "$(lines "$w/select/rl_train.jsonl")" = 4 ] || die "selection does not have 4 entries: $out"
[ "$(lines "$w/select/rl_ids.jsonl")" = 4 ] || die "selection ids"
"$bin" lua -e '
  for line in io.lines("'"$w"'/select/rl_ids.jsonl") do
    assert(ts.json.decode(line).category ~= "correct", "error-only selected a correct sample")
  end' || die "error-only selection picked a correct sample"

# GRPO on the selection, 2 steps, with the reasoning term (the selection carries similarities,
# so every step logs the share of right CoT steps)
run grpo grpo_steps=2 G=2 prompts=1 max_new=12 grpo_micro_batch=2 cot_reward=0.5 >/dev/null || exit 1
[ -s "$w/grpo/final/model.safetensors" ] || die "no GRPO model"
[ "$(finite_losses "$w/grpo/metrics.jsonl" kl)" = 2 ] || die "GRPO metrics"
[ "$(finite_losses "$w/grpo/metrics.jsonl" cot_steps)" = 2 ] || die "GRPO logged no cot_steps: $(head -1 "$w/grpo/metrics.jsonl")"

# evaluation: every system on every test set, Table 1
out=$(run eval eval_max_new=8 eval_batch=4) || exit 1
for sys in "TS-ASR Base" "TS-ASR + CoT" "TS-ASR + CoT + RL"; do
  echo "$out" | grep -qF "| $sys |" || die "Table 1 lacks $sys: $out"
done
[ -s "$w/eval/table1.md" ] && [ -s "$w/eval/table1.json" ] || die "no Table 1 files"
[ -s "$w/data/unseen_single.jsonl" ] || die "no unseen-voice test set"
[ -s "$w/eval/table1_unseen.md" ] && [ "$(lines "$w/eval/rl/single_unseen.jsonl")" = "$(lines "$w/data/unseen_single.jsonl")" ] ||
  die "no unseen-voice Table 1"
for sys in base cot rl; do for s in single libri2mix libri3mix; do
  [ "$(lines "$w/eval/$sys/$s.jsonl")" = "$(lines "$w/data/test_$s.jsonl")" ] || die "eval decode $sys/$s incomplete"
done; done
# a rerun resumes (nothing decoded again); after the RL model changes (more GRPO steps) its
# decodes are made afresh, not resumed from the earlier model's
out=$(run eval eval_max_new=8 eval_batch=4 systems=rl) || exit 1
echo "$out" | grep -q "decoding afresh" && die "an unchanged model's eval was decoded afresh"
sleep 1
touch "$w/grpo/final/model.safetensors"
out=$(run eval eval_max_new=8 eval_batch=4 systems=rl) || exit 1
[ "$(echo "$out" | grep -c "decoding afresh")" = "$(ls "$w"/eval/rl/*.jsonl | wc -l)" ] ||
  die "a changed model's eval resumed stale decodes: $out"
exit $fail
