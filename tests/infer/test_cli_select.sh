#!/usr/bin/env bash
# test_cli_select.sh — `tsasr select` on tests/fixtures/infer/eval_small/base.jsonl, whose six
# samples are: s2 a format error; s1, m2a, m3a, m3b wrong; m2b correct. Checks each mode's
# counts, determinism for a seed, independence of the file order, a different seed, the
# manifest subset, and usage errors. Args: the tsasr binary, the build dir.
set -u
BIN="$1"
BUILD="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
DEC="$HERE/../fixtures/infer/eval_small/base.jsonl"
TMP="$(mktemp -d "$BUILD/cli_select.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ids() { sed -E 's/^\{"id":"([^"]*)".*/\1/' "$1" | tr '\n' ' '; }

# error-only, size 3: the format error first, then two wrong ones, never m2b
"$BIN" select "$DEC" --mode error-only --size 3 --seed 1 --out "$TMP/a.jsonl" >"$TMP/rep" 2>&1 || fail "select failed"
[ "$(wc -l <"$TMP/a.jsonl")" -eq 3 ] || fail "error-only: not 3 lines"
[ "$(head -1 "$TMP/a.jsonl" | ids /dev/stdin)" = "s2 " ] || fail "error-only: s2 is not first: $(ids "$TMP/a.jsonl")"
grep -q '"m2b"' "$TMP/a.jsonl" && fail "error-only chose the correct sample"
[ "$(grep -c '"category":"wrong"' "$TMP/a.jsonl")" -eq 2 ] || fail "error-only: not 2 wrong"
grep -q "format errors 1 of 1" "$TMP/rep" || fail "report: $(cat "$TMP/rep")"
grep -q "correct       0 of 1" "$TMP/rep" || fail "report: $(cat "$TMP/rep")"

# same seed: same file; reversed decode: same file
"$BIN" select "$DEC" --size 3 --seed 1 --out "$TMP/b.jsonl" >/dev/null 2>&1
cmp -s "$TMP/a.jsonl" "$TMP/b.jsonl" || fail "same seed, different output"
tac "$DEC" >"$TMP/rev.jsonl"
"$BIN" select "$TMP/rev.jsonl" --size 3 --seed 1 --out "$TMP/c.jsonl" >/dev/null 2>&1
cmp -s "$TMP/a.jsonl" "$TMP/c.jsonl" || fail "reversed decode, different output"
# another seed changes the choice of 2 of the 4 wrong ones for some seed in 2..20
differ=0
for s in $(seq 2 20); do
  "$BIN" select "$DEC" --size 3 --seed "$s" --out "$TMP/d.jsonl" >/dev/null 2>&1
  cmp -s "$TMP/a.jsonl" "$TMP/d.jsonl" || { differ=1; break; }
done
[ $differ -eq 1 ] || fail "no other seed changed the selection"

# balanced, size 6: round(6/6) = 1 correct, 5 errors (all of them)
"$BIN" select "$DEC" --mode balanced --size 6 --seed 3 --out "$TMP/e.jsonl" >/dev/null 2>&1 || fail "balanced failed"
[ "$(grep -c '"category":"correct"' "$TMP/e.jsonl")" -eq 1 ] || fail "balanced: not 1 correct"
[ "$(grep -c -v '"category":"correct"' "$TMP/e.jsonl")" -eq 5 ] || fail "balanced: not 5 errors"

# random, size 4: 4 distinct ids
"$BIN" select "$DEC" --mode random --size 4 --seed 3 --out "$TMP/f.jsonl" >/dev/null 2>&1 || fail "random failed"
[ "$(ids "$TMP/f.jsonl" | tr ' ' '\n' | sed '/^$/d' | sort -u | wc -l)" -eq 4 ] || fail "random: not 4 ids"

# manifest subset: the lines of the chosen ids, byte for byte, in manifest order
for id in m3b m3a m2b m2a s2 s1; do
  printf '{"id": "%s", "sources": [{"text": "t %s"}],   "target": 0}\n' "$id" "$id"
done >"$TMP/man.jsonl"
"$BIN" select "$DEC" --size 3 --seed 1 --out "$TMP/sub.jsonl" --manifest "$TMP/man.jsonl" >"$TMP/rep2" 2>&1 ||
  fail "manifest subset failed"
grep -F -x -f "$TMP/sub.jsonl" "$TMP/man.jsonl" >"$TMP/expect_order"
cmp -s "$TMP/sub.jsonl" "$TMP/expect_order" || fail "manifest lines changed or reordered"
[ "$(wc -l <"$TMP/sub.jsonl")" -eq 3 ] || fail "manifest subset: not 3 lines"
for id in $(ids "$TMP/a.jsonl"); do
  grep -q "\"id\": \"$id\"" "$TMP/sub.jsonl" || fail "manifest subset lacks $id"
done

# usage errors
"$BIN" select "$DEC" --mode best --out "$TMP/x.jsonl" >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad mode should exit 2"
"$BIN" select "$DEC" --size -5 --out "$TMP/x.jsonl" >/dev/null 2>&1
[ $? -eq 2 ] || fail "negative size should exit 2"
"$BIN" select "$DEC" >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing --out should exit 2"
"$BIN" select "$TMP/none.jsonl" --out "$TMP/x.jsonl" >/dev/null 2>"$TMP/err"
[ $? -eq 1 ] || fail "missing decode should exit 1"
grep -qF "$TMP/none.jsonl" "$TMP/err" || fail "missing decode not named"

[ $fails -eq 0 ] && echo "test_cli_select: ok"
exit $((fails > 0))
