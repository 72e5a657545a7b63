# floor_cmp.awk — the SFT step's per-op profile (bench_device with TSASR_PROFILE, ops timed
# between syncs) against each op's floor (tests/gpu/floor_paper_b4.txt, from bench/run_traffic.sh:
# its operands' bytes at bw TB/s, its products' FLOPs at peak TFLOP/s, whichever is slower), the
# ops furthest above their floor first (calls: the profile's; devsim: the floor's). Ops timed
# between syncs carry a launch and a sync each (~10-20 us), which the floor does not. Usage:
#   awk -v bw=4.8 -v peak=989 -f tests/gpu/floor_cmp.awk tests/gpu/floor_paper_b4.txt profile.log
FNR == NR {
  if ($1 !~ /^#/ && NF == 4) { fc[$1] = $2; fb[$1] = $3; ff[$1] = $4 }
  next
}
# the first SFT phase's table: "op calls total-ms share mean-us" rows until the next section
/^== phase: SFT/ { if (!seen) { insft = 1; seen = 1 }; next }
/^(==|by operand)/ { insft = 0 }
insft && NF == 5 && $2 ~ /^[0-9]+$/ {
  o = $1
  sub(/_packed/, "", o) # the packed SwiGLU is devsim's swiglu
  mc[o] += $2; mt[o] += $3
}
END {
  if (!bw) bw = 3.35
  if (!peak) peak = 989
  n = 0
  for (o in mt) {
    fl = 0
    if (o in fb) { fl = fb[o] / (bw * 1e12); t = ff[o] / (peak * 1e12); if (t > fl) fl = t }
    gap[o] = mt[o] / 1e3 - fl; fms[o] = fl * 1e3; ord[++n] = o
  }
  for (i = 1; i <= n; i++) # the largest gap first (insertion sort: a few dozen ops)
    for (j = i; j > 1 && gap[ord[j]] > gap[ord[j - 1]]; j--) { x = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = x }
  printf "%-20s %6s %6s %11s %9s %8s\n", "op", "calls", "devsim", "measured ms", "floor ms", "x floor"
  for (i = 1; i <= n; i++) {
    o = ord[i]; tm += mt[o]; tf += fms[o]
    r = "-"; if (fms[o] > 0) r = sprintf("%.1f", mt[o] / fms[o])
    c = "-"; if (o in fc) c = fc[o]
    printf "%-20s %6d %6s %11.2f %9.3f %8s\n", o, mc[o], c, mt[o], fms[o], r
  }
  for (o in fb) if (!(o in mt)) { fl = fb[o] / (bw * 1e12); t = ff[o] / (peak * 1e12); tf += 1e3 * (t > fl ? t : fl); miss = miss " " o }
  x = 0; if (tf > 0) x = tm / tf
  m = ""; if (miss != "") m = "; not in the profile:" miss
  printf "floor_total measured %.2f ms in ops, floor %.2f ms at %.2f TB/s and %.0f TFLOP/s (%.1fx)%s\n", tm, tf, bw, peak, x, m
}
