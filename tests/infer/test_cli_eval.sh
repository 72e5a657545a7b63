#!/usr/bin/env bash
# test_cli_eval.sh — `tsasr eval` on the committed decode set (tests/fixtures/infer/eval_small):
# Table 1 rows (worked out in tests/infer/test_eval.c), --md/--json files, pooling positional
# files, custom columns, usage and file errors. Args: the tsasr binary, the build dir.
set -u
BIN="$1"
BUILD="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
FX="$HERE/../fixtures/infer/eval_small"
TMP="$(mktemp -d "$BUILD/cli_eval.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
has() { grep -qF -- "$2" "$1" || fail "$1 lacks: $2"; }

# three systems, the third pooled from two files (one cut line in rl_mix.jsonl)
"$BIN" eval --systems "BASE=$FX/base.jsonl,+CoT=$FX/cot.jsonl,+CoT+RL=$FX/rl_single.jsonl,+CoT+RL=$FX/rl_mix.jsonl" \
  --md "$TMP/t.md" --json "$TMP/t.json" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] || fail "eval exited $rc: $(cat "$TMP/err")"
has "$TMP/out" "| System | Single | Libri2Mix | Libri3Mix | Avg |"
has "$TMP/out" "| BASE | 60.00 | 12.50 | 63.64 | 40.54 |"   # 6/10, 2/16, 7/11, 15/37
has "$TMP/out" "| +CoT | 10.00 | 6.25 | 54.55 | 21.62 |"   # 1/10, 1/16, 6/11, 8/37
has "$TMP/out" "| +CoT+RL | 0.00 | 0.00 | 9.09 | 2.70 |"  # 0/10, 0/16, 1/11, 1/37
has "$TMP/out" "| BASE | libri3mix | 2 | 11 | 3 | 3 | 1 | 7 | 63.64 | 0 (0.00%) | 1/2 (50.00%) | - | 0 |"
has "$TMP/err" "rl_mix.jsonl:2:"                              # the cut line, named
cmp -s "$TMP/out" "$TMP/t.md" || fail "--md file differs from stdout"
[ "$(grep -c '"name":' "$TMP/t.json")" -eq 3 ] || fail "JSON: not 3 systems"
grep -Eq '"errors":[[:space:]]*15,' "$TMP/t.json" || fail "JSON: no BASE average of 15 errors"
grep -Eq '"words":[[:space:]]*37,' "$TMP/t.json" || fail "JSON: no average over 37 words"
grep -Eq '"skipped_lines":[[:space:]]*1,' "$TMP/t.json" || fail "JSON: skipped line not counted"

# positional files pool into one system named by --name
"$BIN" eval "$FX/rl_single.jsonl" "$FX/rl_mix.jsonl" --name RL >"$TMP/out2" 2>/dev/null || fail "pooled eval failed"
has "$TMP/out2" "| RL | 0.00 | 0.00 | 9.09 | 2.70 |"

# custom columns: the average covers only their sets: (6 + 2) / (10 + 16) = 30.77 %
"$BIN" eval "$FX/base.jsonl" --name B --col "One=single" --col "Two=LIBRI2MIX" >"$TMP/out3" 2>/dev/null ||
  fail "eval --col failed"
has "$TMP/out3" "| System | One | Two | Avg |"
has "$TMP/out3" "| B | 60.00 | 12.50 | 30.77 |"

# errors: usage (2), unreadable file (1, named), bad column (2)
"$BIN" eval >/dev/null 2>&1
[ $? -eq 2 ] || fail "no arguments should exit 2"
"$BIN" eval --bogus x >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown option should exit 2"
"$BIN" eval "$TMP/none.jsonl" >/dev/null 2>"$TMP/err4"
[ $? -eq 1 ] || fail "missing file should exit 1"
has "$TMP/err4" "$TMP/none.jsonl"
"$BIN" eval "$FX/base.jsonl" --col "nolabel" >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad --col should exit 2"
"$BIN" eval --systems "justname" >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad --systems should exit 2"

[ $fails -eq 0 ] && echo "test_cli_eval: ok"
exit $((fails > 0))
