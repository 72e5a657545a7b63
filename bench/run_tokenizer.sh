#!/usr/bin/env bash
# run_tokenizer.sh — our tokenizer vs Hugging Face `tokenizers` (python, pinned 0.23.3) on the
# same text with the real Qwen2 vocabulary, single thread; prints MB/s of each and the ratio.
# Usage: bench/run_tokenizer.sh [BUILD_DIR]   (needs: pip install tokenizers==0.23.3 jinja2==3.1.6)
# The text: the English reference documents of ../shared (about 150 kB) repeated to about
# 3 MB, plus a random-Unicode text (the HF-fixture cases), each run per line and as one doc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
shared=${TS_SHARED:-$root/../shared}
bin=$build/bench_tokenizer
[ -x "$bin" ] || { echo "build $bin first (cmake --build $build --target bench_tokenizer)"; exit 1; }
export TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$root/tools/gen_text_tok_fixtures.py" --shared "$shared" --save-json "$tmp/tokenizer.json"
for i in $(seq 20); do cat "$shared"/reference/*.md "$shared"/paper/*.txt; done > "$tmp/english.txt"
python3 - "$root/tests/fixtures/text/qwen2_random_hf.json" "$tmp/unicode.txt" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for _ in range(10):
        for c in cases:
            f.write(c["text"].replace("\n", " ").replace("\r", " ") + "\n")
PY
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for text in english unicode; do
  for mode in --lines --doc; do
    echo "== $text ($mode)"
    ours=$(taskset -c 0 "$bin" "$tmp/tokenizer.json" "$tmp/$text.txt" $mode)
    hf=$(taskset -c 0 python3 "$here/bench_tokenizer_hf.py" "$tmp/tokenizer.json" "$tmp/$text.txt" $mode)
    echo "$ours"
    echo "$hf"
    a=$(echo "$ours" | awk '{print $2}')
    b=$(echo "$hf" | awk '{print $2}')
    ca=$(echo "$ours" | sed 's/.*checksum \([0-9a-f]*\).*/\1/')
    cb=$(echo "$hf" | sed 's/.*checksum \([0-9a-f]*\).*/\1/')
    same=$([ "$ca" = "$cb" ] && echo "same ids" || echo "IDS DIFFER")
    echo "ratio ours/hf: $(ratio "$a" "$b")x  ($same)"
  done
done
