#!/usr/bin/env bash
# run.sh — builds the libFuzzer targets with clang (fuzzer + ASan + UBSan) into build-fuzz/,
# seeds each corpus from the committed fixtures and fuzzes each target for a bounded time.
# Env: FUZZ_SECONDS (per target, default 60), FUZZ_TARGETS (default: all below),
# FUZZ_CC (default clang). Exits non-zero when a target crashes, leaks or fails to build;
# the crashing input is left in build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${FUZZ_SECONDS:-60}"
cc="${FUZZ_CC:-clang}"
out=build-fuzz
targets="${FUZZ_TARGETS:-safetensors cot manifest}"

command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (scripts/install-deps.sh installs it)"; exit 1; }
mkdir -p "$out/artifacts"
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
  -Wall -Wextra -Wno-unused-parameter -Isrc $(pkg-config --cflags libcjson))
libs=($(pkg-config --libs libcjson) -lm -lpthread)

# Sources each target needs, and where its seeds come from.
sources_for() {
  case "$1" in
    safetensors) echo src/tensor/safetensors.c src/tensor/tensor.c src/base/*.c ;;
    cot) echo src/infer/cot_parse.c src/data/cot.c src/base/*.c ;;
    manifest) echo src/data/manifest.c src/base/*.c ;;
    *) echo "fuzz: unknown target $1" >&2; return 1 ;;
  esac
}
seeds_for() {
  case "$1" in
    safetensors) find tests/fixtures/st -name '*.safetensors' ;;
    cot) find tests/fuzz/seeds/cot -type f ;;
    manifest) find tests/fuzz/seeds/manifest -type f ;;
  esac
}

status=0
for t in $targets; do
  bin="$out/fuzz_$t"
  srcs=$(sources_for "$t")
  echo "fuzz: building $bin"
  # shellcheck disable=SC2086
  "$cc" "${cflags[@]}" "tests/fuzz/fuzz_$t.c" $srcs -o "$bin" "${libs[@]}"
  seeds="$out/seeds_$t"
  corpus="$out/corpus_$t"
  rm -rf "$seeds"
  mkdir -p "$seeds" "$corpus"
  seeds_for "$t" | while read -r f; do cp "$f" "$seeds/"; done
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  echo "fuzz: $t for ${secs}s ($(ls "$seeds" | wc -l) seeds, corpus $corpus)"
  if ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" "$bin" "$corpus" "$seeds" "${dict[@]}" \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -artifact_prefix="$out/artifacts/${t}-" -print_final_stats=1 >"$out/fuzz_$t.log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::peak_rss|^#[0-9]+ +DONE' "$out/fuzz_$t.log" || true
    echo "fuzz: $t ok"
  else
    tail -n 60 "$out/fuzz_$t.log"
    echo "fuzz: $t FAILED (log $out/fuzz_$t.log, input in $out/artifacts/)"
    status=1
  fi
done
exit "$status"
