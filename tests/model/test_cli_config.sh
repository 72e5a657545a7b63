#!/usr/bin/env bash
# test_cli_config.sh — a model directory with a wrong config.json: `tsasr info DIR` exits 1 with
# a message naming the config file and the bad key, never a crash, a sanitizer report, a huge
# allocation, a hang, a silently truncated size, or a tensor listing instead of the error.
# Args: TSASR_BIN BUILD_DIR.
set -u
bin="$1"
fx="$(cd "$(dirname "$0")/../fixtures/tsmodel/tiny" && pwd)"
tmp="$(mktemp -d "$2/test_cli_config.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# case NAME WANT SED_SCRIPT: the fixture's config edited by SED_SCRIPT must fail with WANT
case_sed() {
  local name=$1 want=$2 script=$3 d="$tmp/$1"
  mkdir -p "$d"
  ln -s "$fx/model.safetensors" "$fx/tokenizer.json" "$d/"
  sed -e "$script" "$fx/config.json" >"$d/config.json"
  cmp -s "$fx/config.json" "$d/config.json" && { bad "$name: the edit changed nothing"; return; }
  check "$name" "$want"
}
check() {
  local name=$1 want=$2 d="$tmp/$1" rc
  timeout 60 "$bin" info "$d" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq 1 ] || { bad "$name: exit $rc, want 1: $(head -c 600 "$tmp/err")"; return; }
  grep -qE "Sanitizer|runtime error:" "$tmp/err" && { bad "$name: sanitizer report: $(head -c 600 "$tmp/err")"; return; }
  grep -qF -- "$d/config.json" "$tmp/err" || { bad "$name: stderr does not name the config: $(cat "$tmp/err")"; return; }
  grep -qF -- "$want" "$tmp/err" || { bad "$name: stderr lacks '$want': $(cat "$tmp/err")"; return; }
  [ ! -s "$tmp/out" ] || { bad "$name: printed on stdout: $(head -c 300 "$tmp/out")"; return; }
  ok
}

# the fixture itself loads
"$bin" info "$fx" >"$tmp/out" 2>&1 && ok || bad "fixture: $(cat "$tmp/out")"

llm='/"llm"/,/}/'
enc='/"encoder"/,/"adapter"/'
# sizes that used to be allocated (ASan abort, or gigabytes zeroed) or to hang declaring layers
case_sed layers "num_hidden_layers = 1000000 out of range" "$llm s/\"num_hidden_layers\": 2/\"num_hidden_layers\": 1000000/"
# fewer layers than the weights hold: the last layer's tensors used to be left out silently
case_sed fewer_layers "holds tensor llm.model.layers.1." "$llm s/\"num_hidden_layers\": 2/\"num_hidden_layers\": 1/"
case_sed vocab "vocab_size 1099511627776" "$llm s/\"vocab_size\": 672/\"vocab_size\": 1099511627776/"
case_sed vocab_1e300 "key \"vocab_size\" = 1e+300 is out of range" "$llm s/\"vocab_size\": 672/\"vocab_size\": 1e300/"
case_sed ffn "intermediate_size 2147483648" "$llm s/\"intermediate_size\": 40/\"intermediate_size\": 2147483648/"
case_sed params "the config declares" "$llm s/\"vocab_size\": 672/\"vocab_size\": 16000000/"
# values that were accepted and made the model compute NaN
case_sed theta "rope_theta = 0 must be a positive float" "$llm s/\"rope_theta\": 10000.0/\"rope_theta\": 0/"
case_sed eps "rms_norm_eps = -1 must be in (0, 1)" "$llm s/\"rms_norm_eps\": 1e-06/\"rms_norm_eps\": -1/"
# a context that would size the decoding cache past memory, or leave no room for a token
case_sed ctx_huge "max_position_embeddings = 4294967296 out of range" "$llm s/\"max_position_embeddings\": 256/\"max_position_embeddings\": 4294967296/"
case_sed ctx_one "max_position_embeddings = 1 out of range" "$llm s/\"max_position_embeddings\": 256/\"max_position_embeddings\": 1/"
case_sed ctc_weight "ctc.weight = -1" 's/^ "prompt": {/ "ctc": {"weight": -1},\n "prompt": {/'
# ints beyond int range that were truncated: 2^33 + 10 read as 10, 2^32 as a stride of 0
# (division by zero), 2^32 + 4 groups as 4, 2^40 frames per adapter step as 0
case_sed conv_kernel "\"conv_kernel\"[0] must be an integer in 1..16777216" "/\"conv_kernel\"/,/]/ s/^   10,/   8589934602,/"
case_sed conv_stride "\"conv_stride\"[0] must be an integer in 1..16777216" "/\"conv_stride\"/,/]/ s/^   5,/   4294967296,/"
case_sed pos_groups "\"num_conv_pos_embedding_groups\" = 4294967300 out of range" \
  "$enc s/\"num_conv_pos_embedding_groups\": 4/\"num_conv_pos_embedding_groups\": 4294967300/"
case_sed downsample "adapter downsample 1099511627776" '/"adapter"/,/}/ s/"downsample": 2/"downsample": 1099511627776/'
# a broken or incomplete config.json is reported, not skipped in favour of a tensor listing
case_sed not_json "invalid JSON" '1s/{/{ oops/'
case_sed no_llm "missing section \"llm\"" 's/"llm": {/"llm_": {/'
# a config.json that is JSON but not an object
mkdir -p "$tmp/array" && ln -s "$fx/model.safetensors" "$fx/tokenizer.json" "$tmp/array/" && echo '[1, 2]' >"$tmp/array/config.json"
check array "not a JSON object"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
