#!/usr/bin/env bash
# test_speaker_cli.sh — `tsasr speaker`: scoring a manifest from imported embeddings, and the
# messages and exit codes of bad inputs (missing model directory, malformed import file,
# dimension mismatch, missing embedding, bad usage). Args: TSASR_BIN BUILD_DIR.
set -u
bin="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
# expect RC PATTERN CMD...: exit code RC and stderr matching PATTERN
expect() {
  local want_rc="$1" pat="$2"
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq "$want_rc" ] && ok || bad "$*: exit $rc, expected $want_rc: $(cat "$tmp/err")"
  grep -Eq -- "$pat" "$tmp/err" && ok || bad "$*: stderr does not match /$pat/: $(cat "$tmp/err")"
}

cat >"$tmp/man.jsonl" <<'JS'
{"id":"m1-s0","set":"t","sources":[{"path":"/a/1-1-0001.flac","speaker":"1","gender":"M","text":"A B","utt":"1-1-0001"},{"path":"/a/2-1-0001.flac","speaker":"2","gender":"F","text":"C D","utt":"2-1-0001"}],"target":0,"enroll":{"path":"/a/1-1-0002.flac","utt":"1-1-0002","start":0.5,"duration":3}}
JS
cat >"$tmp/emb.jsonl" <<'JS'
{"utt": "1-1-0002", "start": 0.5, "duration": 3, "emb": [1, 0, 0]}
{"utt": "1-1-0001", "emb": [0.5, 1, 0]}
{"utt": "2-1-0001", "emb": [0, 0, 1]}
JS
# --- a good import: the similarities are the cosines
"$bin" speaker score "$tmp/man.jsonl" --import "$tmp/emb.jsonl" --out "$tmp/scored.jsonl" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && ok || bad "import score: exit $rc: $(cat "$tmp/err")"
grep -q "\"similarity\":\[0.4472135[0-9]*,0\]" "$tmp/scored.jsonl" && ok || bad "scored manifest: $(cat "$tmp/scored.jsonl")"
grep -q '1 entries scored, 0 failed' "$tmp/out" && ok || bad "summary: $(cat "$tmp/out")"
grep -q 'target sources: 0 0 1 0 0; other sources: 1 0 0 0 0' "$tmp/out" && ok || bad "levels: $(cat "$tmp/out")"

# --- bad inputs
expect 1 "nomodel: no such directory" "$bin" speaker score "$tmp/man.jsonl" --model "$tmp/nomodel" --out "$tmp/o.jsonl"
mkdir -p "$tmp/empty"
expect 1 "config.json is missing" "$bin" speaker score "$tmp/man.jsonl" --model "$tmp/empty" --out "$tmp/o.jsonl"
expect 1 "nomodel: no such directory" "$bin" speaker eval "$tmp" --model "$tmp/nomodel"
printf '{"utt": "x", "emb": [1, 2, 3]}\n{"utt": "y", "emb": [1, 2]}\n' >"$tmp/dim.jsonl"
expect 1 "dim.jsonl:2: embedding has 2 values, expected 3 \(dimension mismatch\)" \
  "$bin" speaker score "$tmp/man.jsonl" --import "$tmp/dim.jsonl" --out "$tmp/o.jsonl"
printf '{"utt": "x", "emb": [1, 2, 3]}\n{"utt": "y" "emb": [1, 2, 3]}\n' >"$tmp/json.jsonl"
expect 1 "json.jsonl:2: not a JSON object" "$bin" speaker score "$tmp/man.jsonl" --import "$tmp/json.jsonl" --out "$tmp/o.jsonl"
printf '{"utt": "1-1-0002", "start": 0.5, "duration": 3, "emb": [1, 0]}\n' >"$tmp/few.jsonl"
expect 1 "m1-s0: no imported embedding for source 1 \(utt 1-1-0001" \
  "$bin" speaker score "$tmp/man.jsonl" --import "$tmp/few.jsonl" --out "$tmp/o.jsonl"
expect 1 "none.jsonl" "$bin" speaker score "$tmp/man.jsonl" --import "$tmp/none.jsonl" --out "$tmp/o.jsonl"
expect 2 "one of --model or --import" "$bin" speaker score "$tmp/man.jsonl" --out "$tmp/o.jsonl"
expect 1 "nomodel: no such directory" "$bin" speaker embed --model "$tmp/nomodel" "$tmp/a.wav"
expect 2 "needs --model DIR and audio files" "$bin" speaker embed --model "$tmp/nomodel"
expect 2 "usage: tsasr speaker" "$bin" speaker
expect 2 "unknown subcommand" "$bin" speaker frobnicate
expect 2 "usage" "$bin" speaker train "$tmp"
expect 1 "nocorpus: No such file or directory" "$bin" speaker train "$tmp/nocorpus" --out "$tmp/m" --quiet

echo "speaker cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
