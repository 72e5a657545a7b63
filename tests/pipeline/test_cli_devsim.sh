#!/usr/bin/env bash
# test_cli_devsim.sh — the CLI's training and decoding on the simulated device (--device devsim:
# device memory the host cannot touch outside ops, the CPU's kernels) must reproduce the CPU run
# exactly: SFT with the encoder CTC loss, a resume whose weights and AdamW moments are loaded
# into device memory, greedy and sampled decoding, and GRPO rollouts with their rewards, KL
# and bookkeeping (the tiny random model earns no reward, so its GRPO updates are zero; the
# update math on the device is compared in tests/gpu/test_sft_parity.c, part C).
# Usage: test_cli_devsim.sh TSASR_BIN BUILD_DIR
set -u
bin=$1
fx="$(cd "$(dirname "$0")/../fixtures" && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { "$@" > "$work/out.txt" 2> "$work/err.txt" || { cat "$work/out.txt" "$work/err.txt" >&2; fail "$*"; }; }
# metrics without the timing fields
strip() { sed -E 's/,"(tokens_per_s|elapsed_s|step_s|gen_s|train_s|samples_per_s)":[-0-9.e+]+//g' "$1"; }
same() { cmp -s <(strip "$1") <(strip "$2") || { diff <(strip "$1") <(strip "$2") | head -5 >&2; fail "$3"; }; }

command -v espeak-ng > /dev/null || fail "espeak-ng is missing (scripts/install-deps.sh installs it)"
run "$bin" synth "$work/corpus" --voices 4 --utts-per-voice 6 --engines espeak --unseen 0.25 --quiet
run "$bin" mix "$work/corpus/train" --n 12 --speakers 0.5,0.5,0 --enroll 1.0 --seed 3 --out "$work/train.jsonl"
run "$bin" model new "$fx/tsmodel/tiny_ctc/config.json" --tokenizer "$fx/tsmodel/tiny_ctc/tokenizer.json" --out "$work/m0"

sft=(train sft "$work/m0" "$work/train.jsonl" --steps 3 --micro-batch 2 --accum 2 --silence 0.5 --ckpt-every 1)
run "$bin" "${sft[@]}" --run "$work/sft_cpu" --device cpu
run "$bin" "${sft[@]}" --run "$work/sft_dev" --device devsim
grep -q '"ctc":' "$work/sft_dev/metrics.jsonl" || fail "the devsim SFT run logged no CTC loss"
same "$work/sft_cpu/metrics.jsonl" "$work/sft_dev/metrics.jsonl" "SFT on devsim differs from the CPU"
cmp -s "$work/sft_cpu/checkpoint-3/model.safetensors" "$work/sft_dev/checkpoint-3/model.safetensors" ||
  fail "the devsim checkpoint's weights differ from the CPU's"
cmp -s "$work/sft_cpu/checkpoint-3/trainer_state.safetensors" "$work/sft_dev/checkpoint-3/trainer_state.safetensors" ||
  fail "the devsim checkpoint's optimizer state differs from the CPU's"

# resume on the device from the CPU run's step-2 checkpoint: step 3 must come out the same
cp -r "$work/sft_cpu" "$work/sft_res"
rm -rf "$work/sft_res/checkpoint-3"
echo checkpoint-2 > "$work/sft_res/latest"
head -2 "$work/sft_cpu/metrics.jsonl" > "$work/sft_res/metrics.jsonl"
run "$bin" "${sft[@]}" --run "$work/sft_res" --device devsim
same "$work/sft_cpu/metrics.jsonl" "$work/sft_res/metrics.jsonl" "a devsim resume from step 2 differs from the CPU run"
cmp -s "$work/sft_cpu/checkpoint-3/model.safetensors" "$work/sft_res/checkpoint-3/model.safetensors" ||
  fail "the weights after a devsim resume differ from the CPU run's"

ck="$work/sft_cpu/checkpoint-3"
for d in cpu devsim; do
  run "$bin" decode "$ck" "$work/train.jsonl" --out "$work/dec_$d.jsonl" --max-new 16 --limit 4 --batch 2 --device $d
  run "$bin" decode "$ck" "$work/train.jsonl" --out "$work/samp_$d.jsonl" --max-new 16 --limit 2 --samples 2 \
    --temperature 1 --seed 5 --device $d
  run "$bin" decode "$ck" "$work/train.jsonl" --out "$work/trunc_$d.jsonl" --max-new 16 --limit 2 --samples 2 \
    --temperature 1 --top-k 20 --top-p 0.9 --seed 5 --device $d
done
same "$work/dec_cpu.jsonl" "$work/dec_devsim.jsonl" "greedy decoding on devsim differs from the CPU"
same "$work/samp_cpu.jsonl" "$work/samp_devsim.jsonl" "sampled decoding on devsim differs from the CPU"
same "$work/trunc_cpu.jsonl" "$work/trunc_devsim.jsonl" "top-k / top-p decoding on devsim differs from the CPU"

run "$bin" select "$work/dec_cpu.jsonl" --mode random --size 2 --seed 1 --manifest "$work/train.jsonl" --out "$work/rl.jsonl"
grpo=(train grpo "$ck" "$work/rl.jsonl" --steps 2 --prompts 1 --G 2 --micro-batch 2 --max-new 16 --beta 0.04)
run "$bin" "${grpo[@]}" --run "$work/grpo_cpu" --device cpu
run "$bin" "${grpo[@]}" --run "$work/grpo_dev" --device devsim
grep -q reward_mean "$work/grpo_dev/metrics.jsonl" || fail "the devsim GRPO run logged no reward"
same "$work/grpo_cpu/metrics.jsonl" "$work/grpo_dev/metrics.jsonl" "GRPO on devsim differs from the CPU"

# Lua: a model loaded on the device generates and scores like the CPU one
"$bin" lua -e '
  local w = {}
  for i = 1, 16000 do w[i] = 0.1 * math.sin(i * 0.05) * math.cos(i * 0.0031) end
  local out = {}
  for _, dev in ipairs({"cpu", "devsim"}) do
    local m = ts.model.load("'"$ck"'", {device = dev})
    local g = m:generate(w, {max_new = 12, temperature = 1, n = 2, seed = 3})
    local sc = m:score(w, "<think></think><answer>BIN BLUE</answer>")
    out[dev] = table.concat(g, "|") .. "#" .. ts.json.encode(sc)
  end
  assert(out.cpu == out.devsim, "lua on devsim differs:\n" .. out.cpu .. "\n" .. out.devsim)' > "$work/out.txt" 2>&1 ||
  fail "Lua generate/score on devsim: $(cat "$work/out.txt")"

# an unknown device is refused by name
"$bin" decode "$ck" "$work/train.jsonl" --out "$work/x.jsonl" --device tpu > "$work/out.txt" 2>&1 && fail "--device tpu accepted"
grep -q "device must be cpu, cuda or devsim" "$work/out.txt" || fail "unclear message for a bad device: $(cat "$work/out.txt")"
# the GEMM precision: bf16 runs on cpu and devsim (oneDNN; tests/unit/test_gemm_bf16.c checks its
# numbers), tf32 needs cuda, an unknown one is refused (CLI and Lua); the device a model is on is
# reported as it is
"$bin" doctor | grep -Eq "^few-row f32 GEMM .*: (own kernel|BLAS)" || fail "doctor does not say which few-row f32 GEMM runs"
if "$bin" doctor | grep -q "on cpu): oneDNN"; then
  run "$bin" train sft "$ck" "$work/train.jsonl" --run "$work/g" --steps 1 --device devsim --gemm bf16
  grep -q '"step":1' "$work/g/metrics.jsonl" || fail "--gemm bf16 on devsim logged no step"
fi
"$bin" train sft "$ck" "$work/train.jsonl" --run "$work/g2" --steps 1 --device devsim --gemm tf32 > "$work/out.txt" 2>&1 &&
  fail "--gemm tf32 accepted on devsim"
grep -q "tf32 needs the cuda device" "$work/out.txt" || fail "unclear --gemm message: $(cat "$work/out.txt")"
"$bin" decode "$ck" "$work/train.jsonl" --out "$work/x.jsonl" --gemm fp8 > "$work/out.txt" 2>&1 && fail "--gemm fp8 accepted"
grep -q "gemm must be f32, tf32 or bf16" "$work/out.txt" || fail "unclear --gemm message: $(cat "$work/out.txt")"
"$bin" lua -e '
  local ok, err = pcall(ts.model.load, "'"$ck"'", {device = "cpu", gemm = "tf32"})
  assert(not ok and err:find("tf32 needs the cuda device"), tostring(err))
  ok, err = pcall(ts.model.load, "'"$ck"'", {device = "cuda", gemm = "int8"})
  assert(not ok and err:find("option .gemm. must be"), tostring(err))
  assert(ts.model.load("'"$ck"'", {device = "devsim", gemm = "f32"}):info().device == "devsim")' > "$work/out.txt" 2>&1 ||
  fail "Lua gemm option: $(cat "$work/out.txt")"
echo "ok: SFT (with CTC), resume, greedy, sampled and top-k/top-p decoding, GRPO and Lua generate/score on devsim equal the CPU; --gemm / gemm= checked"
