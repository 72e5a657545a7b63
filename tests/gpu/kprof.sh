# kprof.sh — run.sh's kprof phase (sourced after the build; uses its step, cap, build, logs):
# where the GPU's time goes, kernel by kernel, in the paper geometry's bf16 SFT step and in
# replayed decoding steps, from Nsight Compute (ncu, one metric: gpu__time_duration.sum; clocks
# and caches left alone). ncu starts with its collection off; bench_device --profile-range 1
# brackets the last SFT step with cudaProfilerStart/Stop, and TSASR_CUDA_PROFILE_REPLAYS=8 the
# process's replays 8-15, so only those kernels are profiled. Kernels run one at a time under
# ncu: their sum is the GPU's busy time; the same step's wall time without ncu, less that sum,
# is time the GPU waited on the host. Then, without ncu: the SFT step's wall time and host time
# per op (TSASR_PROFILE=host), a decoding step's GEMMs timed in CUDA graphs (bench_gpu_ops
# decode), and rollouts with the small-row GEMM on every shape (dec2) and on none (no_dec2)
# against the default (the small projections), after the matmul group passes with each; last,
# PyTorch's bf16 SFT step under torch.profiler (TSASR_TORCH_PROFILE=1), by kernel.
# Tables go to $logs/profile.log and $logs/bench.log; a short call (~2-4 minutes; 200 s on an
# H100 with the build). TSASR_KPROF_PARTS picks parts (default ncu,host,gemms,rollouts,torch).

kprof_parts=",${TSASR_KPROF_PARTS:-ncu,host,gemms,rollouts,torch},"
kpart() { [[ $kprof_parts == *",$1,"* ]]; }
kprof_py=$(command -v python3 || true)
ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2> /dev/null | head -n 1 || true)
bd=("$build/bench_device" --device cuda --geometry paper --batch 4 --seconds 20 --gemm bf16)
: > "$logs/profile.log"

# kprof_ncu NAME ARGS...: bench_device ARGS with its range under ncu, the CSV into $build/NAME.csv
kprof_ncu() {
  local name=$1
  shift
  timeout -k 10 "$(cap 150)" "$ncu" --profile-from-start off --clock-control none --cache-control none \
    --metrics gpu__time_duration.sum --csv --print-units base --log-file "$build/$name.csv" \
    "${bd[@]}" --profile-range 1 "$@" > "$build/$name.out" 2>&1
}

if ! kpart ncu; then
  :
elif [ -z "$ncu" ] || [ -z "$kprof_py" ]; then
  step kprof SKIP "no ncu or no python3 on this machine"
else
  # the SFT step: one step after the warm-up
  if kprof_ncu kprof_sft --steps 1 --G 0 && "$kprof_py" tests/gpu/kprof_table.py "$build/kprof_sft.csv" --top 40 \
       > "$build/kprof_sft.txt" 2>&1; then
    { echo "== SFT step under ncu (bf16, 4 x 20 s; the step's time below is under ncu, so inflated)"; grep -m1 '^sft_step' "$build/kprof_sft.out"; cat "$build/kprof_sft.txt"; } \
      >> "$logs/profile.log"
    step kprof_sft ok "$(head -n 1 "$build/kprof_sft.txt")"
  else
    step kprof_sft FAIL "$(tail -n 3 "$build/kprof_sft.out" "$build/kprof_sft.txt" 2> /dev/null | tr '\n' ' ' | cut -c1-300)"
  fi
  # replayed decoding steps: the process's replays 8-15 (TSASR_CUDA_PROFILE_REPLAYS, in the
  # first rollout), per step; no --profile-range here
  if [ "$(cap 1000)" -lt 40 ]; then
    step kprof_decode SKIP "under 40 s left before the deadline"
  elif TSASR_CUDA_PROFILE_REPLAYS=8 timeout -k 10 "$(cap 90)" "$ncu" --profile-from-start off --clock-control none \
       --cache-control none --metrics gpu__time_duration.sum --csv --print-units base --log-file "$build/kprof_dec.csv" \
       "${bd[@]}" --steps 0 --G 8 --new 32 > "$build/kprof_dec.out" 2>&1 &&
     "$kprof_py" tests/gpu/kprof_table.py "$build/kprof_dec.csv" --per 8 --top 30 > "$build/kprof_dec.txt" 2>&1; then
    { echo; echo "== replayed decoding steps under ncu (bf16, G = 8; the process's replays 8-15)";
      grep -h '^rollout' "$build/kprof_dec.out"; cat "$build/kprof_dec.txt"; } >> "$logs/profile.log"
    step kprof_decode ok "$(head -n 1 "$build/kprof_dec.txt")"
  else
    step kprof_decode FAIL "$(tail -n 3 "$build/kprof_dec.out" "$build/kprof_dec.txt" 2> /dev/null | tr '\n' ' ' | cut -c1-300)"
  fi
fi

# the SFT step's wall time and host time per op, without syncs (the ops' launches and waits),
# and the host's time between ops (the model code's own)
kpart host && {
TSASR_PROFILE=host timeout "$(cap 90)" "${bd[@]}" --steps 1 --G 0 > "$build/kprof_host.log" 2>&1
hrc=$?
{ echo; echo "== SFT step, TSASR_PROFILE=host (host time per op, no syncs)"; cat "$build/kprof_host.log"; } >> "$logs/profile.log"
step kprof_host "$([ $hrc = 0 ] && echo ok || echo "FAIL($hrc)")" "$(grep -m1 '^sft_step' "$build/kprof_host.log"); $(grep -m1 'op profile' "$build/kprof_host.log"); $(grep -m1 'host time between' "$build/kprof_host.log")"
# the GPU's clocks and power over 20 SFT steps (nvidia-smi every 100 ms): whether a sustained
# step runs slower clocks than the kernels ncu timed one at a time
if command -v nvidia-smi > /dev/null 2>&1; then
  nvidia-smi --query-gpu=clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_throttle_reasons.active,utilization.gpu \
    --format=csv,noheader,nounits -lms 100 > "$build/kprof_smi.csv" 2>&1 &
  smi=$!
  timeout "$(cap 60)" "${bd[@]}" --steps 20 --G 0 > "$build/kprof_clk.log" 2>&1
  kill "$smi" 2> /dev/null
  wait "$smi" 2> /dev/null
  clk=$(awk -F', *' '$1 + 0 > 0 && $6 + 0 >= 50 { n++; c += $1; if (!lo || $1 < lo) lo = $1; if ($1 > hi) hi = $1; p += $3
      if ($3 > pm) pm = $3; r[$5]++ }
    END { if (!n) { print "no samples"; exit }
          printf "SM clock MHz min %d mean %.0f max %d; power W mean %.0f max %.0f; throttle reasons:", lo, c / n, hi, p / n, pm
          for (k in r) printf " %s x%d", k, r[k]; printf " (%d samples at >= 50 %% busy)", n }' "$build/kprof_smi.csv")
  { echo; echo "== 20 SFT steps with nvidia-smi every 100 ms"; grep -E '^sft_' "$build/kprof_clk.log"; echo "$clk"; } >> "$logs/profile.log"
  step kprof_clocks ok "$(grep -m1 '^sft_step' "$build/kprof_clk.log" | sed 's/.*: //'); $clk"
fi
}

# a decoding step's GEMMs, host-fed and in graphs
kpart gemms && {
timeout "$(cap 90)" "$build/bench_gpu_ops" decode > "$logs/bench.log" 2>&1
brc=$?
step decode_gemms "$([ $brc = 0 ] && echo ok || echo "FAIL($brc)")" "$(grep -m1 "^decode step's GEMMs" "$logs/bench.log")"
}

# the small-row GEMM on every shape (1) and on none (0): checked, then timed against the default
d2ok=1
kpart rollouts || d2ok=0
kpart rollouts && for v in 1 0; do
  TSASR_CUDA_DECODE_KERNELS=$v timeout "$(cap 60)" "$build/tests/gpu/test_backend_ops" matmul > "$build/kprof_dec$v.log" 2>&1 || d2ok=0
done
kpart rollouts && step kprof_dec2_ops "$([ $d2ok = 1 ] && echo ok || echo FAIL)" "$(tail -n 1 "$build/kprof_dec1.log"); $(tail -n 1 "$build/kprof_dec0.log")"
if [ $d2ok = 1 ]; then
  rv="default,dec2,no_dec2,default,dec2,no_dec2"
  { echo; echo "== rollouts $rv (bf16)"; } >> "$logs/bench.log"
  timeout "$(cap 150)" "${bd[@]}" --steps 0 --G 8 --new 512 --rollout-variants "$rv" > "$build/kprof_sw.log" 2>&1
  swrc=$?
  cat "$build/kprof_sw.log" >> "$logs/bench.log"
  step kprof_rollouts "$([ $swrc = 0 ] && echo ok || echo "FAIL($swrc)")" "$(awk '/^== variant/ { v = $3 }
    /^rollout/ { for (i = 2; i <= NF; i++) if ($i == "tokens/s") printf "%s %s; ", v, $(i - 1) }' "$build/kprof_sw.log")"
fi
cat "$logs/profile.log"

# PyTorch's bf16 SFT step on the same shapes under torch.profiler: its kernels by device time
# (where it is faster than tsasr), when torch and transformers import here
if ! kpart torch; then
  :
elif [ -n "$kprof_py" ] && [ "$(cap 1000)" -ge 60 ] &&
   "$kprof_py" -c "import torch, transformers; assert torch.cuda.is_available()" > /dev/null 2>&1; then
  TSASR_TORCH_PROFILE=1 timeout "$(cap 120)" "$kprof_py" bench/bench_device_torch.py cuda paper 4 20 40 2 0 0 bf16 \
    > "$logs/bench_torch.log" 2>&1
  trc=$?
  step kprof_torch "$([ $trc = 0 ] && echo ok || echo "FAIL($trc)")" "$(grep -m1 sft_tokens_per_s "$logs/bench_torch.log")"
  grep -v -i warn "$logs/bench_torch.log" | sed -n '/^== torch/,$p' | head -n 45
else
  step kprof_torch SKIP "no torch with CUDA here, or too little time left"
fi
