#!/usr/bin/env bash
# The main job: installs what tsasr needs, builds it, prepares the demo set of the shipped small
# model (data/demo, made here from the synthetic corpus generator; nothing is downloaded) and
# opens the workbench on models/small with the model's outputs on the demo set. Without a
# terminal it prints the same: `tsasr demo` (CoT traces checked step by step, answers vs
# references, the results table).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
./build/tsasr doctor
bash scripts/demo_data.sh build
if [ -t 0 ] && [ -t 1 ]; then
  ./build/tsasr demo models/small data/demo/demo.jsonl | tail -n 12
  exec ./build/tsasr wb models/small data/demo/demo.jsonl data/demo/demo.decode.jsonl
fi
./build/tsasr demo models/small data/demo/demo.jsonl
