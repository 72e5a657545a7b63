#!/bin/bash
# test_errors.sh — scripts and recipes with mistakes fail cleanly: a Lua error whose message
# names the option / file / argument, a traceback, a non-zero exit, never a crash (signal) or
# a hang. $1: tsasr binary, $2: build dir.
set -u
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
fix="$src/tests/fixtures"
tmp=$(mktemp -d "$2/test_lua_errors.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
die() { echo "FAIL: $*" >&2; fail=1; }

# expect CODE WANT_RC PATTERN... : runs `tsasr lua -e CODE`, checks exit status and message
expect_lua() {
  local code=$1 want=$2; shift 2
  local out rc
  out=$(cd "$tmp" && timeout 60 "$bin" lua -e "$code" 2>&1); rc=$?
  [ $rc -eq "$want" ] || die "[$code] exit $rc, want $want: $out"
  echo "$out" | grep -qE "Sanitizer|runtime error:" && die "[$code] sanitizer report: $out"
  for p in "$@"; do echo "$out" | grep -qF -- "$p" || die "[$code] message lacks '$p': $out"; done
}
# expect_run WANT_RC RECIPE ARGS... -- PATTERNS...
expect_run() {
  local want=$1; shift
  local args=() pats=() seen=0
  for a in "$@"; do
    if [ "$a" = "--" ]; then seen=1; elif [ $seen -eq 0 ]; then args+=("$a"); else pats+=("$a"); fi
  done
  local out rc
  out=$(cd "$tmp" && timeout 120 "$bin" run "${args[@]}" 2>&1); rc=$?
  [ $rc -eq "$want" ] || die "[run ${args[*]}] exit $rc, want $want: $out"
  echo "$out" | grep -qE "Sanitizer|runtime error:" && die "[run ${args[*]}] sanitizer report: $out"
  for p in "${pats[@]}"; do echo "$out" | grep -qF -- "$p" || die "[run ${args[*]}] message lacks '$p': $out"; done
}

# misspelled options: binding and recipe, with a suggestion
expect_lua 'ts.model.load("'"$fix"'/tsmodel/tiny", {devce = "cpu"})' 1 "ts.model.load: unknown option 'devce' (did you mean 'device'?)" "stack traceback"
expect_lua 'ts.train.sft{model = 1, lr_peek = 1}' 1 "ts.train.sft: unknown option 'lr_peek' (did you mean 'lr_peak'?)"
expect_lua 'ts.train.grpo{bogus_option = 1}' 1 "ts.train.grpo: unknown option 'bogus_option'" "options:"
expect_run 1 "$src/recipes/paper/grpo.lua" bta=0.1 -- "grpo: unknown option 'bta' (did you mean 'beta'?)" "stack traceback"
expect_run 1 "$src/recipes/small/base.lua" sft_step=3 -- "unknown option 'sft_step' (did you mean 'sft_steps'?)"

# wrong types: the argument / option is named
expect_lua 'ts.model.load("'"$fix"'/tsmodel/tiny", {device = 3})' 1 "option 'device' must be a string, got number"
expect_lua 'ts.wer({}, "A")' 1 "bad argument #1 to 'wer' (string expected, got table)"
expect_lua 'local t = ts.tokenizer.load("'"$fix"'/text/bpe_trained.json"); t:decode({1, "x"})' 1 "element 2 is not an integer id"
expect_lua 'ts.mixer{corpus = "x"}' 1 "tsasr.corpus expected, got string"
# an argument error after a wave was copied to C used to leak it (LeakSanitizer in the ASan build)
expect_lua 'ts.speaker.cosine({1, 2}, {1, "x"})' 1 "argument #2: element 2 is not a number"
expect_lua 'ts.audio.fbank({1, 2, 3}, {bogus = 1})' 1 "ts.audio.fbank: unknown option 'bogus'"
expect_lua 'ts.audio.write("'"$tmp"'/w.wav", {0.1, 0.2}, "fast")' 1 "bad argument #3"
expect_lua 'ts.model.load("'"$fix"'/tsmodel/tiny"):generate({0.1, 0.2}, {max_new = 1, bogus = 1})' 1 "model:generate: unknown option 'bogus'"
expect_lua 'ts.train.sft{steps = 1.5, model = nil, run_dir = "r", data = "d"}:run()' 1 "option 'model' is required"
expect_run 1 "$src/recipes/paper/grpo.lua" beta=high -- "grpo: option 'beta' must be a number, got string (high)"
expect_run 1 "$src/recipes/paper/grpo.lua" loss_agg=sum -- "option 'loss_agg' must be one of grpo, dapo, dr_grpo, got 'sum'"
expect_run 1 "$src/recipes/paper/select.lua" rl_size=many -- "option 'rl_size' must be a number"
# values out of an option's range are refused before any stage runs (a negative step count used
# to pass --dry-run and fail only when its stage came, after the stages before it)
expect_run 1 --dry-run "$src/recipes/small/pipeline.lua" sft_steps=-5 -- "option 'sft_steps' must be a whole number >= 1, got -5"
expect_run 1 "$src/recipes/paper/grpo.lua" temperature=0 -- "option 'temperature' must be a number > 0, got 0"
expect_run 1 "$src/recipes/paper/grpo.lua" G=1 -- "option 'G' must be a whole number >= 2, got 1"
expect_run 1 "$src/recipes/paper/grpo.lua" grpo_micro_batch=1000 -- "option 'grpo_micro_batch' must be a whole number in [1, 256], got 1000"
expect_run 1 "$src/recipes/paper/cot.lua" p_empty=1.5 -- "option 'p_empty' must be a number in [0, 1], got 1.5"
expect_run 1 "$src/recipes/small/base.lua" threads=2.5 -- "option 'threads' must be a whole number in [1, 1024], got 2.5"
expect_run 1 "$src/recipes/small/base.lua" lr_peak=1e999 -- "option 'lr_peak' must be a number in [0, 1], got inf"
expect_run 1 "$src/recipes/paper/data.lua" mix2=-3 -- "option 'mix2' must be a whole number >= 0, got -3"
# a whole float is taken as the integer; "auto" still passes a number|auto option
printf 'local R = require "recipe"\nlocal c = R.config("t", {n = {1, "n", int = true, min = 0}, a = {"auto", "a", int = true, min = 0}}, args)\nassert(math.type(c.n) == "integer" and c.n == 3 and c.a == "auto")\nprint("range ok")\n' > "$tmp/range.lua"
expect_run 0 "$tmp/range.lua" n=3.0 -- "range ok"
# a recipe's own default out of its range is an error too
printf 'local R = require "recipe"\nR.config("t", {n = {-1, "n", min = 0}}, {})\n' > "$tmp/range_def.lua"
expect_run 1 "$tmp/range_def.lua" -- "t: option 'n' must be a number >= 0, got -1"

# missing files: the file is named
expect_lua 'ts.model.load("'"$tmp"'/no_model")' 1 "$tmp/no_model/config.json"
expect_lua 'ts.audio.read("'"$tmp"'/no.wav")' 1 "$tmp/no.wav"
expect_lua 'ts.tokenizer.load("'"$tmp"'/tok.json")' 1 "$tmp/tok.json"
expect_lua 'ts.manifest.read("'"$tmp"'/m.jsonl")' 1 "$tmp/m.jsonl"
expect_lua 'ts.corpus.librispeech("'"$tmp"'/LibriSpeech")' 1 "$tmp/LibriSpeech"
expect_run 1 "$src/recipes/paper/base.lua" work_dir="$tmp/exp" -- "missing input: $tmp/exp/data/train.jsonl" "run data.lua first"
expect_run 1 "$src/recipes/paper/data.lua" librispeech="$tmp/none" -- "missing input: $tmp/none/train-clean-100" "set librispeech=DIR"
expect_run 2 "$tmp/no_recipe.lua" -- "no_recipe.lua: No such file or directory"

# a training run whose manifest is missing names it; a callback error stops training and is reported
expect_lua 'local m = ts.model.load("'"$fix"'/tsmodel/tiny", {train = true})
            ts.train.sft{model = m, data = "'"$tmp"'/missing.jsonl", run_dir = "'"$tmp"'/run", steps = 1}:run()' 1 "$tmp/missing.jsonl"
expect_lua 'local m = ts.model.load("'"$fix"'/tsmodel/tiny")
            ts.train.sft{model = m, data = "x.jsonl", run_dir = "'"$tmp"'/run", steps = 1}:run()' 1 "load it with {train = true}"

# freeing the model from inside its trainer's callback is refused; the error ends training
mkdir -p "$tmp/d"
"$bin" lua -e '
  local x = {}
  for i = 1, 4000 do x[i] = 0.2 * math.sin(i * 0.05) end
  ts.audio.write("'"$tmp"'/d/a.wav", {rate = 16000, samples = x})
  local f = io.open("'"$tmp"'/d/m.jsonl", "w")
  for i = 1, 2 do
    f:write(string.format([[{"id":"s%d","set":"t","sources":[{"path":"a.wav","speaker":"1","gender":"M","text":"A B","gain":1,"offset":0}],"target":0,"enroll":{"path":"a.wav","start":0,"duration":0.1,"gain":1}}]] .. "\n", i))
  end
  f:close()' || die "could not write the callback fixture"
expect_lua 'local m = ts.model.load("'"$fix"'/tsmodel/tiny", {train = true})
            ts.train.sft{model = m, data = "'"$tmp"'/d/m.jsonl", run_dir = "'"$tmp"'/run_cb", steps = 3, micro_batch = 1,
                         accum = 1, silence = 0.1, progress = false, on_step = function() m:free() end}:run()' 1 \
  "on_step:" "cannot free an object that a running call (trainer, decode) is using"
expect_lua 'local m = ts.model.load("'"$fix"'/tsmodel/tiny", {train = true})
            local n = 0
            local r = ts.train.sft{model = m, data = "'"$tmp"'/d/m.jsonl", run_dir = "'"$tmp"'/run_stop", steps = 5,
                                   micro_batch = 1, accum = 1, silence = 0.1, progress = false,
                                   on_step = function(i) n = n + 1; return i.step == 2 end}:run()
            assert(n == 2 and r.steps == 2, "stopped at " .. tostring(r.steps))
            m:free(); print("stopped ok")' 0 "stopped ok"
expect_lua 'local m = ts.model.load("'"$fix"'/tsmodel/tiny", {train = true})
            ts.train.sft{model = m, data = "'"$tmp"'/d/m.jsonl", run_dir = "'"$tmp"'/run_err", steps = 3, micro_batch = 1,
                         accum = 1, silence = 0.1, progress = false, on_step = function() error("from the callback") end}:run()' 1 \
  "ts.train.sft: on_step:" "from the callback"

# Ctrl-C during training: the trainer saves a checkpoint, run() raises, the recipe exits 1
cat > "$tmp/long.lua" <<LUA
local ts = require "tsasr"
local m = ts.model.load("$fix/tsmodel/tiny", {train = true})
ts.train.sft{model = m, data = "$tmp/d/m.jsonl", run_dir = "$tmp/run_int", steps = 100000, micro_batch = 1,
             accum = 1, silence = 0.1, ckpt_every = 0}:run()
print("not reached")
LUA
(cd "$tmp" && TSASR_PROGRESS=lines timeout 120 "$bin" run "$tmp/long.lua" > "$tmp/long.out" 2>&1) &
pid=$!
for _ in $(seq 1 300); do grep -q "^sft 1/" "$tmp/long.out" 2>/dev/null && break; sleep 0.1; done
# to the tsasr process itself (timeout would pass the signal on twice: a second Ctrl-C kills)
tpid=$(pgrep -f "^$bin run $tmp/long.lua" | head -1)
[ -n "$tpid" ] && kill -INT "$tpid" || die "could not find the training process"
wait $pid; rc=$?
[ $rc -eq 1 ] || die "interrupted run: exit $rc: $(cat "$tmp/long.out")"
grep -qF "ts.train.sft: interrupted at step" "$tmp/long.out" || die "no interruption message: $(cat "$tmp/long.out")"
grep -qF "not reached" "$tmp/long.out" && die "the recipe went on after Ctrl-C"
[ -e "$tmp/run_int/latest" ] || die "no checkpoint after Ctrl-C: $(ls "$tmp/run_int")"

# use after free is an error, not a crash
expect_lua 'local m = ts.model.load("'"$fix"'/tsmodel/tiny"); m:free(); m:info()' 1 "tsasr.model: object used after free()"
expect_lua 'local l = ts.llm.load("'"$fix"'/qwen2/gqa2_untied"); l:free(); l:logits({1})' 1 "tsasr.llm: object used after free()"

# syntax and runtime errors in a recipe: message with file:line and traceback
printf 'local x = = 1\n' > "$tmp/syntax.lua"
expect_run 1 "$tmp/syntax.lua" -- "syntax.lua:1:" "unexpected symbol"
printf 'local function f() error("boom at depth") end\nlocal function g() f() end\ng()\n' > "$tmp/runtime.lua"
expect_run 1 "$tmp/runtime.lua" -- "runtime.lua:1: boom at depth" "stack traceback" "in local 'g'"
printf 'error({code = 3})\n' > "$tmp/obj.lua"
expect_run 1 "$tmp/obj.lua" -- "error object is a table value"
# an error inside a stage run by a pipeline keeps the stage's file:line and one traceback
printf 'local R = require "recipe"\nR.stage("%s", "inner.lua", {})\n' "$tmp" > "$tmp/outer.lua"
printf 'local function f() error("inner failure") end\nf()\n' > "$tmp/inner.lua"
expect_run 1 "$tmp/outer.lua" -- "inner.lua:1: inner failure" "in local 'f'" "outer.lua:2: in main chunk"
out=$(cd "$tmp" && "$bin" run "$tmp/outer.lua" 2>&1)
[ "$(echo "$out" | grep -c 'stack traceback')" = 1 ] || die "stage error has more than one traceback: $out"
expect_run 2 "$src/recipes/paper/base.lua" notkeyvalue -- "is not key=value"

# args reach the recipe, typed
printf 'assert(args.n == 3 and math.type(args.n) == "integer")\nassert(args.lr == 1e-6)\nassert(args.flag == true and args.off == false)\nassert(args.name == "abc" and args.path == "a=b")\nprint("args ok")\n' > "$tmp/args.lua"
expect_run 0 "$tmp/args.lua" n=3 lr=1e-6 flag=true off=false name=abc path=a=b -- "args ok"

exit $fail
