#!/bin/bash
# test_recipes_dry.sh — every recipe parses and prints its fully resolved configuration with
# --dry-run (and dry_run=true) without any data present; the paper's settings are the defaults;
# overrides reach the configuration. $1: tsasr binary, $2: build dir.
set -u
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "$2/test_lua_dry.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
die() { echo "FAIL: $*" >&2; fail=1; }
cd "$tmp" # no data, no models here

for dir in paper small; do
  for r in data base cot select grpo eval pipeline; do
    out=$("$bin" run --dry-run "$src/recipes/$dir/$r.lua" librispeech=/nonexistent 2>&1)
    rc=$?
    if [ "$dir" = small ] && [ $rc -ne 0 ]; then # small has no librispeech option
      out=$("$bin" run --dry-run "$src/recipes/$dir/$r.lua" 2>&1); rc=$?
    fi
    [ $rc -eq 0 ] || die "$dir/$r --dry-run exit $rc: $out"
    echo "$out" | grep -q "resolved configuration" || die "$dir/$r prints no configuration"
    [ -e exp ] && die "$dir/$r --dry-run wrote files"
  done
done

# the paper's §3.2 settings are the defaults
paper=$("$bin" run "$src/recipes/paper/pipeline.lua" dry_run=true 2>&1) || die "pipeline dry_run=true failed"
for want in 'base.lr_peak = 7e-05' 'base.lr_start = 1e-07' 'base.lr_min = 1e-06' 'base.warmup = 3000' \
            'base.global_batch = 112' 'base.max_text = 512' 'base.sft_steps = 240000' \
            'cot.cot_data = "random"' 'cot.sim_format = "level"' 'cot.p_empty = 0.5' \
            'select.rl_select = "error-only"' 'select.rl_size = 20000' \
            'grpo.grpo_lr = 1e-06' 'grpo.grpo_steps = 2000' 'grpo.G = 8' 'grpo.temperature = 1.0' \
            'grpo.max_new = 512' 'grpo.beta = 0.04' 'grpo.epsilon = 0.2' 'grpo.format_reward = 1.0' \
            'data.enroll_dur = 3.0' 'data.lufs_lo = -33.0' 'data.lufs_hi = -25.0' 'data.silence = 3.0' \
            'base.llm = "models/Qwen2.5-0.5B-Instruct"'; do
  echo "$paper" | grep -qF "$want" || die "paper pipeline: missing '$want'"
done
for st in data base cot select grpo eval; do
  echo "$paper" | grep -q "^-- $st: resolved configuration" || die "pipeline dry run lacks stage $st"
done

# ablations (Tables 2, 3) are options; overrides reach every stage that uses them
abl=$("$bin" run --dry-run "$src/recipes/paper/pipeline.lua" cot_data=full sim_format=score rl_select=balanced \
      grpo_lr=2e-6 G=4 seed=7 2>&1) || die "ablation overrides failed: $abl"
for want in 'cot.cot_data = "full"' 'cot.sim_format = "score"' 'select.rl_select = "balanced"' \
            'grpo.grpo_lr = 2e-06' 'grpo.G = 4' 'data.seed = 7' 'grpo.seed = 7'; do
  echo "$abl" | grep -qF "$want" || die "override missing: '$want'"
done
"$bin" run --dry-run "$src/recipes/paper/select.lua" rl_select=random | grep -qF 'select.rl_select = "random"' ||
  die "rl_select=random"

# ablation variants write to their own folders; data and BASE stay shared
"$bin" lua -e '
  package.path = "'"$src"'/recipes/paper/?.lua;" .. package.path
  local C = require "config"
  local P = C.paths{work_dir = "w", tag = "t", rl_tag = "r"}
  assert(P.base_model == "w/base/final" and P.train == "w/data/train.jsonl", "shared paths")
  assert(P.cot_model == "w/t/cot/final" and P.cot_train == "w/t/cot/train_cot.jsonl", "CoT variant " .. P.cot_model)
  assert(P.rl_train == "w/t/r/select/rl_train.jsonl" and P.rl_model == "w/t/r/grpo/final" and P.eval == "w/t/r/eval", "RL variant")
  P = C.paths{work_dir = "w", tag = "", rl_tag = ""}
  assert(P.cot_model == "w/cot/final" and P.rl_model == "w/grpo/final", "no variant")' || die "variant paths"

# the GEMM precision the recipes ask for: paper "auto" is bf16 on cuda and f32 elsewhere; a named
# precision is asked for on every device
"$bin" lua -e '
  package.path = "'"$src"'/recipes/lib/?.lua;" .. package.path
  local S = require "stages"
  assert(S.gemm{gemm = "auto", device = "cuda"} == "bf16" and S.gemm{gemm = "auto", device = "cpu"} == "f32", "auto")
  assert(S.gemm{gemm = "auto", device = "devsim"} == "f32" and S.gemm{gemm = "bf16", device = "cpu"} == "bf16", "named")' ||
  die "recipe GEMM precision"
"$bin" run --dry-run "$src/recipes/paper/pipeline.lua" 2>&1 | grep -qF 'base.gemm = "auto"' || die "paper pipeline: gemm not auto"

# the small pipeline is sized for a CPU
small=$("$bin" run --dry-run "$src/recipes/small/pipeline.lua" 2>&1) || die "small pipeline dry run"
for want in 'base.device = "cpu"' 'base.threads = 2' 'base.lr_peak = 0.001' 'grpo.G = 8' 'grpo.max_new = 300' 'warm.warm_steps = 2500' 'warm.front_end = "fbank"' 'cot.cot_steps = 6000'; do
  echo "$small" | grep -qF "$want" || die "small pipeline: missing '$want'"
done
# stages= must name stages: an unknown one or none at all is an error, not a silent no-op
for bad in "stages=nonsense" "stages=" "stages=,,"; do
  out=$("$bin" run --dry-run "$src/recipes/small/pipeline.lua" "$bad" 2>&1) && die "pipeline $bad: exit 0"
  echo "$out" | grep -q "stages=" || die "pipeline $bad: message does not name stages=: $out"
done
exit $fail
