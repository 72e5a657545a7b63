#!/usr/bin/env bash
# demo_data.sh BUILD_DIR — makes the demo set of the shipped small model (models/small) under
# data/demo/: the synthetic corpus the model was trained on (tsasr synth: same seed, same
# bytes), then seeded 1/2/3-speaker mixtures of held-out sentences of seen voices (test-seen)
# and of unseen voices (test-unseen), with speaker similarities from the shipped speaker
# encoder. Nothing is downloaded. Idempotent: an existing demo set is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build}/tsasr"
out=data/demo
[ -s "$out/demo.jsonl" ] && { echo "demo set: $out/demo.jsonl (exists)"; exit 0; }
mkdir -p "$out"
# the corpus of models/small/MODEL_CARD.md (about a minute on 2 cores)
[ -s "$out/synth/SPEAKERS.TXT" ] || "$bin" synth "$out/synth" --seed 1 --voices 24 --utts-per-voice 80 --source grid --quiet
: >"$out/mix.jsonl"
for split in test-seen test-unseen; do
  k=0
  for set in single:1,0,0 libri2mix:0,1,0 libri3mix:0,0,1; do
    k=$((k + 1))
    "$bin" mix "$out/synth/$split" --n 2 --speakers "${set#*:}" --seed $((10 * k + ${#split})) --enroll 1 \
      --set "${set%%:*}" --out "$out/part.jsonl" >/dev/null
    cat "$out/part.jsonl" >>"$out/mix.jsonl"
  done
done
"$bin" speaker score "$out/mix.jsonl" --model models/small/speaker --out "$out/demo.jsonl" --no-cache >/dev/null
rm -f "$out/part.jsonl" "$out/mix.jsonl"
echo "demo set: $out/demo.jsonl ($(wc -l <"$out/demo.jsonl") samples)"
