#!/usr/bin/env bash
# Builds and runs every test: the release build (warnings are errors), then the same
# suite under AddressSanitizer + UBSan, then the bounded fuzz run. ctest is the runner.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"

echo "== release build"
bash scripts/build.sh build
(cd build && ctest --output-on-failure -j 2)

echo "== AddressSanitizer + UBSan build"
bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DTSASR_SANITIZE=ON -DTSASR_CUDA=OFF
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
(cd build-asan && ctest --output-on-failure -j 2 -E "${TSASR_ASAN_EXCLUDE:-^$}")

if [ -x tests/fuzz/run.sh ]; then
  echo "== fuzzing (bounded)"
  bash tests/fuzz/run.sh
fi
