#!/usr/bin/env bash
# test_cli_info.sh — `tsasr info`: lists a good file (and a model directory), rejects every
# malformed fixture with its expected message and exit code 1. Args: TSASR_BIN BUILD_DIR.
set -u
bin="$1"
fx="$(cd "$(dirname "$0")/../fixtures/st" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# --- a good file written by the reference library
"$bin" info "$fx/ref/ref.safetensors" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && ok || bad "ref: exit $rc: $(cat "$tmp/err")"
[ ! -s "$tmp/err" ] && ok || bad "ref: unexpected stderr: $(cat "$tmp/err")"
# name, dtype, shape of each kind of tensor, and the totals (13 tensors of the fixture:
# 4+5+0+12+12+1+12+0+30+3+12+24+3 = 118 elements in 337 bytes)
for want in \
  '^encoder\.conv\.weight +F32 +\[4, 1, 3\]$' \
  '^llm\.embed_tokens\.weight +BF16 +\[5, 6\]$' \
  '^llm\.layers\.0\.mlp\.up_proj\.weight +F16 +\[2, 3, 2, 2\]$' \
  '^f64\.values +F64 +\[5\]$' \
  '^scalar +F32 +\[\]$' \
  '^empty +F32 +\[0\]$' \
  '^empty2d\.bf16 +BF16 +\[2, 0\]$' \
  '^ids +I64 +\[4\]$' \
  '^mask +BOOL +\[3\]$' \
  '^metadata: format = pt$' \
  '^total: 13 tensors, 118 parameters, 337 bytes$'; do
  grep -Eq -- "$want" "$tmp/out" && ok || bad "ref: no line matching /$want/ in: $(cat "$tmp/out")"
done
n=$(grep -Ec ' (F32|BF16|F16|F64|I64|BOOL) +\[' "$tmp/out")
[ "$n" -eq 13 ] && ok || bad "ref: $n tensor lines, want 13"

# --- a model directory means its model.safetensors
mkdir "$tmp/model"
cp "$fx/ref/ref.safetensors" "$tmp/model/model.safetensors"
"$bin" info "$tmp/model" >"$tmp/out2" 2>&1 && ok || bad "model dir: exit $?"
grep -q '^total: 13 tensors' "$tmp/out2" && ok || bad "model dir: $(cat "$tmp/out2")"

# --- every malformed fixture: exit 1, the expected problem and the file named on stderr
nbad=0
for f in "$fx"/bad/*.safetensors; do
  want="$(head -n1 "${f%.safetensors}.txt")"
  "$bin" info "$f" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  nbad=$((nbad + 1))
  [ "$rc" -eq 1 ] || { bad "$f: exit $rc"; continue; }
  grep -qF -- "$want" "$tmp/err" || { bad "$f: stderr lacks '$want': $(cat "$tmp/err")"; continue; }
  grep -qF -- "$f" "$tmp/err" || { bad "$f: stderr does not name the file"; continue; }
  [ ! -s "$tmp/out" ] || { bad "$f: printed on stdout"; continue; }
  ok
done
[ "$nbad" -ge 40 ] && ok || bad "only $nbad malformed fixtures found"

# --- missing file, no argument
"$bin" info "$tmp/none.safetensors" >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] && grep -q 'none.safetensors: cannot open' "$tmp/err" && ok || bad "missing file: exit $rc: $(cat "$tmp/err")"
"$bin" info >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] && ok || bad "no argument: exit $rc, want 2"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
