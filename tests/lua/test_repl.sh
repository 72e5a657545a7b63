#!/bin/bash
# test_repl.sh — `tsasr lua` without a terminal reads statements from stdin: expressions print
# their values, multi-line chunks are completed, errors are reported and the prompt goes on,
# and the `ts` global is the tsasr module. $1: tsasr binary, $2: build dir.
set -u
bin=$1
fail=0
die() { echo "FAIL: $*" >&2; fail=1; }
out=$(printf '%s\n' '1 + 2' 'for i = 1, 2 do' '  print("line", i)' 'end' 'error("oops")' \
      'print(type(ts.wer), ts.version ~= nil)' 'ts.normalize("hi there!")' | timeout 30 "$bin" lua 2>&1)
rc=$?
[ $rc -eq 0 ] || [ $rc -eq 1 ] || die "exit $rc (a crash?): $out"
for want in "3" "line	1" "line	2" "oops" "function	true" "HI THERE"; do
  echo "$out" | grep -qF -- "$want" || die "output lacks '$want': $out"
done
# the last statement succeeded, so the exit status is 0
[ $rc -eq 0 ] || die "exit $rc after a successful last statement"
out=$(echo 'error("last fails")' | timeout 30 "$bin" lua 2>&1)
[ $? -eq 1 ] || die "a failing last statement should exit 1: $out"
# tsasr lua FILE and -e
f=$(mktemp "$2/test_repl.XXXXXX.lua")
echo 'print("file ran", #ts.cot.empty("A"))' > "$f"
"$bin" lua "$f" | grep -qF "file ran	33" || die "tsasr lua FILE"
rm -f "$f"
"$bin" lua -e 'print(ts.cot.level(0.5))' | grep -qx 3 || die "tsasr lua -e"
exit $fail
