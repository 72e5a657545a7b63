#!/bin/bash
# test_no_float_atomics.sh — the CUDA kernels keep their results the same bits on every run: no
# floating-point atomicAdd (its order, and so the sum's last bits, changes from run to run). Each
# atomicAdd in kernels/ must be one of the integer ones listed here (counters and histograms,
# whose order does not matter); a new one fails this test until it is shown to be an integer add
# and listed, or replaced by a fixed-order reduction (kernels/cu_colred.cuh).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
allowed=(
  'cu_matmul.cu:if (k) atomicAdd(cnt, k);'                                  # unsigned count of non-finite values
  'cu_sample.cuh:if (cb >= 0 && acc) atomicAdd(&h[cb], acc);'              # unsigned long long histogram
  'cu_decode.cuh:if (threadIdx.x == 0) last = atomicAdd(cnt + r, 1u) == (unsigned)(ns - 1);' # arrival counter
)
fail=0 n=0
while IFS= read -r line; do
  file=$(basename "${line%%:*}")
  code=$(sed 's/^[^:]*:[0-9]*://; s/^[[:space:]]*//' <<< "$line")
  case "$code" in '//'* | '/*'* | '*'*) continue ;; esac # comments
  n=$((n + 1))
  ok=0
  for a in "${allowed[@]}"; do [ "$file:$code" = "$a" ] && ok=1; done
  [ $ok = 1 ] || { echo "test_no_float_atomics: not an allowed integer atomic: $line"; fail=1; }
done < <(grep -rn 'atomicAdd' "$root/kernels" --include='*.cu' --include='*.cuh' --include='*.h')
[ $n -ge 3 ] || { echo "test_no_float_atomics: found only $n atomicAdd lines (the scan is broken?)"; fail=1; }
[ $fail = 0 ] && echo "test_no_float_atomics: ok ($n integer atomics, all listed)"
exit $fail
