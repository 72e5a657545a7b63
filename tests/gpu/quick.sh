# quick.sh — run.sh's quick phase (sourced after steps 3 and 3a, with run.sh's helpers: step,
# cap, ops_env, parity_env, no_worse, gpu_ops_row, san_run, san_fold, build, logs): a short device call
# (79 s on an H200 with the build in session 17 before q2', q4 and the benchmarks; expect ~3-4
# minutes) on what
# changed since the last full run:
#   q1. the bf16 op groups the bf16 training step takes (matmul, bf16_acts, attention, conv1d;
#       "attention" selects attention_keep's cases too: SDPA's operands kept for the backward,
#       session 20's default, bit for bit against not kept, and the out projection after it;
#       "conv1d" selects conv1d_cl's cases too: the encoder's channels-last convolution, the
#       default since session 19) with the defaults, at bf16's tolerance (1e-2): the backward GEMMs on the dC rounded by
#       the op that wrote it (act_bwd, packed swiglu_bwd, merge_heads), cuDNN's SDPA, the bf16
#       backward;
#   q1'. session 19's op groups in f32 at 1e-5: conv1d_cl and layernorm_act (the encoder's
#       channels-last convolution and its LayerNorm fused with the activation, both default),
#       and session 20's adamw group (adamw_runs: the parameter runs in one launch, default; its
#       cases also compare it with one launch per run on the device, bit for bit), the wcopy
#       case in bf16 (the weights' bf16 copy kept current by AdamW, default) and the bf16
#       parity with every skipped rounding checked (TSASR_CUDA_WCOPY_CHECK=1);
#   q1''. reproducible training: the parities with TSASR_PARITY_REPEAT=1 (the device trains twice,
#       the same bits required): f32 on the defaults and bf16 with TSASR_CUDA_DETERMINISTIC=1
#       required, bf16 on the defaults reported;
#   q2. cuDNN's modes 1, 2 (the default) and 3 (cuda_ctl.h: single-input-channel, and grouped,
#       convolutions on im2col): the conv1d group in f32 at 1e-5 and in bf16 with each, the f32
#       parity (must pass) and the bf16 parity (no worse than 3a's) with 3;
#   q2'. cuDNN's convolutions on bf16 data (TSASR_CUDA_CUDNN_BF16=1, off by default): the conv1d
#       and bf16_acts groups in bf16 and the bf16 parity;
#   q3. the bf16 parity without the fused rounding (TSASR_CUDA_FUSE_ROUND=0), no worse than 3a's;
#   q4. the element kernels' grid capped at 1 block per SM (TSASR_CUDA_ELEM_BLOCKS) with the
#       conversions eight values a thread-step (TSASR_CUDA_ELEM_VEC, which also takes the channel
#       LayerNorm's register forms, the decoding attention's four-column P V and, since session
#       19, the row LayerNorm a warp per row), both off by default: the layernorm groups (row,
#       channel, fused), the attention, act and adamw groups in f32, both parities; when they pass,
#       bench_gpu_ops elem (their TB/s against the cap and vec);
#   q4'. the decoding attention's merge folded into its chunks' launch (TSASR_CUDA_DECODE_ATTN=2,
#       off): the attention group in f32 alone and with vec, the bf16 parity;
#       Then data2vec's convolutions layer by layer on cuDNN and on im2col (bench_gpu_ops conv);
#   q5. bf16 SFT steps in one process, the defaults against each switch off (no_adamw_runs:
#       AdamW one launch per run, no_keep: SDPA's backward rounding q, k, v, out again, and
#       no_wsync: every step rounding all the weights, as before session 20; no_res: the
#       residual copied before its GEMM, as before session 21; no_cset: the convolution's dx
#       zero-filled and added to, as before session 22; det, when q1'' passed: cuDNN's
#       deterministic algorithms), the encoder's
#       channel-first layout (ct: TSASR_ENC_CL=0) alone and with cuDNN's modes (cudnn_all,
#       cudnn_ng1) and bf16 convolutions (dnn16), which only act there, the caps and vec (elem8, elem16, vec,
#       vec+elem8), the defaults twice (their spread); rollouts (8 x 512) for vec, dec_attn2 and
#       both, those whose checks passed, each round after the defaults, two rounds;
#   q6. with TSASR_QUICK_KPROF=1, the ncu part of the kprof phase (per-kernel GPU time);
#   q7. memcheck of the layernorm_ch and attention groups and racecheck of attention with vec
#       and dec_attn2 (30 s each, when compute-sanitizer is there and time is left).
# Exit status: run.sh's (0 once steps 3 passed).

q1=ok q1n=""
for grp in matmul bf16_acts attention conv1d; do
  ops_env "$build/quick16_$grp.log" "$grp" TSASR_CUDA_GEMM=bf16 TSASR_OPS_TOL=1e-2 || q1=FAIL
  q1n="$q1n$grp $(tail -n 1 "$build/quick16_$grp.log" | sed 's/^test_backend_ops: //');  "
done
step quick_ops16 "$q1" "$q1n$(grep -h -m1 '^cuDNN SDPA:' "$build/quick16_attention.log" 2> /dev/null)"

# q1'. session 19's ops in f32 at 1e-5: the channels-last convolution and the LayerNorm fused
# with the activation, the encoder's defaults since then; session 20's AdamW over runs and the
# activations' backwards writing dx (the act group's "written" cases); session 21's GEMM onto a
# residual (the matmul group's matmul_res cases, also in q1's bf16 matmul and bf16_acts runs) and
# the norms' backwards onto a residual's gradient or written (the layernorm group, which also
# selects layernorm_act; q4 runs it with vec, the warp-per-row forms); session 22's written dx of
# conv1d_cl's backward and layernorm_act's (their "dx written" cases, also in q1's bf16_acts run);
# session 23's fixed-order column reductions (the bias gradients in matmul, the norms' dw/db in
# layernorm, embed_bwd's per-id rows in embed)
q1b=ok q1bn=""
for grp in conv1d_cl layernorm adamw act matmul embed; do
  ops_env "$build/quick_$grp.log" "$grp" || q1b=FAIL
  q1bn="$q1bn$grp $(tail -n 1 "$build/quick_$grp.log" | sed 's/^test_backend_ops: //');  "
done
# session 20's weights' copy kept current by AdamW: the wcopy case in bf16 (its skipped
# roundings and wrong values), and the bf16 parity with every skipped rounding checked
# (TSASR_CUDA_WCOPY_CHECK=1: a value AdamW's copy got wrong is logged "differed from w")
ops_env "$build/quick_wcopy16.log" wcopy TSASR_CUDA_GEMM=bf16 TSASR_OPS_TOL=1e-2 || q1b=FAIL
parity_env "$build/quick_wcopy_parity_bf16.log" "$(cap 60)" "compare with 3a" TSASR_CUDA_WCOPY_CHECK=1 \
  TSASR_CUDA_GEMM=bf16 TSASR_PARITY_TOL=3e-2
no_worse "$build/quick_wcopy_parity_bf16.log" $par_rc || q1b=FAIL
wdiff=$(grep -c 'differed from w' "$build/quick_wcopy_parity_bf16.log")
[ "$wdiff" = 0 ] || q1b=FAIL
q1bn="$q1bn wcopy(bf16) $(grep -m1 -o 'roundings skipped [0-9]* (want [0-9]*), copy values found wrong [0-9]*' "$build/quick_wcopy16.log"); \
parity(bf16, copy checked) rc $par_rc vs 3a's $brc16, $wdiff wrong copies"
step quick_ops19 "$q1b" "$q1bn"

# q1''. reproducible training (session 23): run.sh's det_check
det_check
step determinism "$qd" "$qdn"

q2=ok q2n=""
[ "$dn" = ok ] || q2=SKIP q2n="this build has no cuDNN; "
for m in 1 2 3; do
  [ "$dn" = ok ] || break
  ops_env "$build/quick_dnn${m}_conv1d.log" conv1d TSASR_CUDA_CUDNN=$m || q2=FAIL
  ops_env "$build/quick_dnn${m}16_conv1d.log" conv1d TSASR_CUDA_CUDNN=$m TSASR_CUDA_GEMM=bf16 TSASR_OPS_TOL=1e-2 || q2=FAIL
  q2n="${q2n}mode $m: conv1d $(tail -n 1 "$build/quick_dnn${m}_conv1d.log" | sed 's/^test_backend_ops: //'), bf16 \
$(tail -n 1 "$build/quick_dnn${m}16_conv1d.log" | sed 's/^test_backend_ops: //'); "
done
if [ "$dn" = ok ]; then
  # the encoder channel-first (TSASR_ENC_CL=0): its convolutions reach cuDNN in that layout only
  parity_env "$build/quick_dnn3_parity.log" "$(cap 60)" "" TSASR_CUDA_CUDNN=3 TSASR_ENC_CL=0
  [ $par_rc = 0 ] || q2=FAIL
  q2n="${q2n}parity(3) $(tail -n 1 "$build/quick_dnn3_parity.log" | sed 's/^test_sft_parity: //')"
  parity_env "$build/quick_dnn3_parity_bf16.log" "$(cap 60)" "compare with 3a" TSASR_CUDA_CUDNN=3 \
    TSASR_CUDA_GEMM=bf16 TSASR_PARITY_TOL=3e-2 TSASR_ENC_CL=0
  no_worse "$build/quick_dnn3_parity_bf16.log" $par_rc || q2=FAIL
  q2n="$q2n; parity(bf16, 3) rc $par_rc vs 3a's $brc16"
fi
step cudnn_modes "$q2" "$q2n"

# q2'. cuDNN's convolutions on bf16 data (TSASR_CUDA_CUDNN_BF16=1, off by default): run.sh's
# d16_check
q2b=SKIP q2bn="this build has no cuDNN"
if [ "$dn" = ok ]; then
  d16_check
  q2b=$d16 q2bn=$d16n
fi
step dnn16 "$q2b" "$q2bn"

parity_env "$build/quick_nofuse_parity_bf16.log" "$(cap 60)" "compare with 3a" TSASR_CUDA_FUSE_ROUND=0 \
  TSASR_CUDA_GEMM=bf16 TSASR_PARITY_TOL=3e-2
q3=ok
no_worse "$build/quick_nofuse_parity_bf16.log" $par_rc || q3=FAIL
step no_fuse "$q3" "parity(bf16) rc $par_rc vs 3a's $brc16"

q4=ok
for grp in layernorm attention act adamw; do # "layernorm": the row, channel and fused groups; act, adamw: their eight- and four-a-step forms
  ops_env "$build/quick_elem_$grp.log" $grp TSASR_CUDA_ELEM_BLOCKS=1 TSASR_CUDA_ELEM_VEC=1 || q4=FAIL
done
parity_env "$build/quick_elem_parity.log" "$(cap 60)" "" TSASR_CUDA_ELEM_BLOCKS=1 TSASR_CUDA_ELEM_VEC=1
[ $par_rc = 0 ] || q4=FAIL
q4n="layernorm $(tail -n 1 "$build/quick_elem_layernorm.log" | sed 's/^test_backend_ops: //'); \
attention $(tail -n 1 "$build/quick_elem_attention.log" | sed 's/^test_backend_ops: //'); \
act $(tail -n 1 "$build/quick_elem_act.log" | sed 's/^test_backend_ops: //'); \
adamw $(tail -n 1 "$build/quick_elem_adamw.log" | sed 's/^test_backend_ops: //'); \
parity $(tail -n 1 "$build/quick_elem_parity.log" | sed 's/^test_sft_parity: //')"
parity_env "$build/quick_elem_parity_bf16.log" "$(cap 60)" "compare with 3a" TSASR_CUDA_ELEM_BLOCKS=1 \
  TSASR_CUDA_ELEM_VEC=1 TSASR_CUDA_GEMM=bf16 TSASR_PARITY_TOL=3e-2
no_worse "$build/quick_elem_parity_bf16.log" $par_rc || q4=FAIL
step elem "$q4" "cap 1/SM, vec: $q4n; parity(bf16) rc $par_rc vs 3a's $brc16"

# q4'. the decoding attention's merge in its chunks' launch (TSASR_CUDA_DECODE_ATTN=2, off): the
# attention group alone and with vec, the bf16 parity (its decoding) with it
q4d=ok
ops_env "$build/quick_dec_attn2.log" attention TSASR_CUDA_DECODE_ATTN=2 || q4d=FAIL
ops_env "$build/quick_dec_attn2_vec.log" attention TSASR_CUDA_DECODE_ATTN=2 TSASR_CUDA_ELEM_VEC=1 || q4d=FAIL
parity_env "$build/quick_dec_attn2_parity_bf16.log" "$(cap 60)" "compare with 3a" TSASR_CUDA_DECODE_ATTN=2 \
  TSASR_CUDA_GEMM=bf16 TSASR_PARITY_TOL=3e-2
no_worse "$build/quick_dec_attn2_parity_bf16.log" $par_rc || q4d=FAIL
step dec_attn2 "$q4d" "attention $(tail -n 1 "$build/quick_dec_attn2.log" | sed 's/^test_backend_ops: //'); \
with vec $(tail -n 1 "$build/quick_dec_attn2_vec.log" | sed 's/^test_backend_ops: //'); parity(bf16) rc $par_rc vs 3a's $brc16"
if [ "$q4" = ok ] && [ "$(cap 1000)" -ge 40 ]; then
  gpu_ops_row bench_elem elem elem_table.awk
fi
# data2vec's convolutions, cuDNN against im2col and the channels-last default (cl): timed whatever
# the cuDNN modes' checks said (a build without cuDNN still times im2col and cl, the rows that
# decide the layout); the cuDNN rows of a mode whose check failed are timings only
if [ "$(cap 1000)" -ge 40 ]; then
  gpu_ops_row bench_conv conv conv_table.awk "TSASR_BENCH_DNN16=$([ "$q2b" = ok ] && echo 1 || echo 0)"
fi

if [ "$(cap 1000)" -ge 30 ]; then
  # ct: the encoder's channel-first conv layout (TSASR_ENC_CL=0, the default before session 19),
  # against which the channels-last default is judged; cuDNN's modes only act there
  qv="default,ct,no_fuse,no_sdpa,no_bwd16,no_adamw_runs,no_keep,no_wsync,no_res,no_cset"
  [ "$qd" = ok ] && qv="$qv,det"
  [ "$q2" = ok ] && qv="$qv,ct+cudnn_all,ct+cudnn_ng1"
  [ "$q2b" = ok ] && qv="$qv,ct+dnn16"
  [ "$q4" = ok ] && qv="$qv,elem8,elem16,vec,vec+elem8"
  qv="$qv,default,ct"
  # rollouts for the decoding attention's session-18 forms whose checks passed (vec, dec_attn2),
  # each between the defaults
  rv=""
  [ "$q4" = ok ] && rv="$rv,vec"
  [ "$q4d" = ok ] && rv="$rv,dec_attn2"
  [ "$q4" = ok ] && [ "$q4d" = ok ] && rv="$rv,vec+dec_attn2"
  qr=""
  [ -n "$rv" ] && qr="--G 8 --new 512 --rollout-variants default$rv,default$rv"
  { echo; echo "== quick switches: SFT $qv${rv:+; rollouts default$rv twice} (bf16)"; } >> "$logs/bench.log"
  timeout "$(cap 150)" "$build/bench_device" --device cuda --geometry paper --batch 4 --seconds 20 --steps 3 \
    ${qr:---G 0} --gemm bf16 --sft-variants "$qv" > "$build/quick_switches.log" 2>&1
  qrc=$?
  cat "$build/quick_switches.log" >> "$logs/bench.log"
  grep -E '^(== variant|sft_step|   \()' "$build/quick_switches.log"
  step switches "$([ $qrc = 0 ] && echo ok || echo "FAIL($qrc)")" "$(awk '/^== variant/ { v = $3 }
    /^sft_tokens_per_s/ { printf "sft %s %s; ", v, $2 }
    /^rollout/ { for (i = 2; i <= NF; i++) if ($i == "tokens/s") printf "rollout %s %s; ", v, $(i - 1) }' \
    "$build/quick_switches.log")"
else
  step switches SKIP "no time left (TSASR_GPU_DEADLINE)"
fi

# q6. with TSASR_QUICK_KPROF=1: the SFT step (and a replayed decoding step) kernel by kernel
# under ncu on the defaults (tests/gpu/kprof.sh's ncu part, ~70 s; the table goes to
# profile.log), when time is left: the checks, timings and profile in one call
if [ "${TSASR_QUICK_KPROF:-0}" = 1 ]; then
  if [ "$(cap 1000)" -ge 90 ]; then
    TSASR_KPROF_PARTS=ncu
    . "$root/tests/gpu/kprof.sh"
  else
    step kprof SKIP "no time left for the profile (TSASR_GPU_DEADLINE)"
  fi
fi

# q7. the session-18 and -19 kernels under compute-sanitizer, last (the timings and the profile
# come first): memcheck of the conv1d_cl and layernorm_act (session 19), layernorm_ch and
# attention groups, racecheck of attention, with vec
# and the merge folded in together, 30 s each (PARTIAL when cut); a failure is reported, and
# it rules out making either switch a default
if [ -n "$san" ] && [ "$(cap 1000)" -ge 60 ]; then
  q7=ok q7n=""
  for sg in "memcheck conv1d_cl" "memcheck layernorm_act" "memcheck layernorm_ch" "memcheck attention" \
    "racecheck attention"; do
    [ "$(cap 1000)" -ge 20 ] || break
    read -r stool sgrp <<< "$sg"
    TSASR_CUDA_ELEM_VEC=1 TSASR_CUDA_DECODE_ATTN=2 san_run "$stool" "$(cap 30)" "$sgrp" \
      "quick: $stool, $sgrp group, vec + dec_attn2"
    san_fold q7
    q7n="$q7n$stool $sgrp: $san_st ($san_sum); "
  done
  step sanitizer18 "$q7" "vec + dec_attn2: $q7n"
else
  step sanitizer18 SKIP "no compute-sanitizer, TSASR_GPU_MEMCHECK=0 or no time left"
fi
