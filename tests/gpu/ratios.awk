# ratios.awk — throughput ratios of bench_device (first file) over bench_device_torch.py (second
# file) per precision, for tests/gpu/run.sh. Sections start with "-- GEMM <p>" / "-- torch <p>".
# "f32x" (PyTorch's f32 with cuDNN's TF32 off, as tsasr's f32) gets a row of its own; the last
# lines compare each side at its best: the fastest tsasr precision against the fastest
# PyTorch one (for rollouts that includes "bf16w", HF generate with bfloat16 weights).
FNR == 1 { f++ }
/^-- (GEMM|torch) / { p = $3 }
/^sft_tokens_per_s/ { v[f, p, "sft"] = $2; if ($2 > best[f, "sft"]) { best[f, "sft"] = $2; bp[f, "sft"] = p } }
/^rollout/ {
  for (i = 1; i <= NF; i++) if ($i == "tokens/s") {
    v[f, p, "roll"] = $(i - 1)
    if ($(i - 1) > best[f, "roll"]) { best[f, "roll"] = $(i - 1); bp[f, "roll"] = p }
  }
}
END {
  print "throughput ratios (tsasr / PyTorch+HF, same GPU; > 1 = tsasr faster):"
  n = split("f32 bf16", ps, " ")
  for (i = 1; i <= n; i++) for (k = 1; k <= 2; k++) {
    w = k == 1 ? "sft" : "roll"
    if (v[1, ps[i], w] > 0 && v[2, ps[i], w] > 0)
      printf "  %-5s %-8s tsasr %10.0f  torch %10.0f  ratio %.2f\n", ps[i], w == "sft" ? "SFT" : "rollout", v[1, ps[i], w], v[2, ps[i], w], v[1, ps[i], w] / v[2, ps[i], w]
  }
  if (v[1, "f32", "sft"] > 0 && v[2, "f32x", "sft"] > 0) # PyTorch's f32 with TF32 off in cuDNN too
    printf "  f32   SFT      tsasr %10.0f  torch %10.0f  ratio %.2f (torch without TF32 convolutions)\n", v[1, "f32", "sft"], v[2, "f32x", "sft"], v[1, "f32", "sft"] / v[2, "f32x", "sft"]
  for (k = 1; k <= 2; k++) {
    w = k == 1 ? "sft" : "roll"
    if (best[1, w] > 0 && best[2, w] > 0)
      printf "  best  %-8s tsasr %10.0f (%s)  torch %10.0f (%s)  ratio %.2f\n", w == "sft" ? "SFT" : "rollout", best[1, w], bp[1, w], best[2, w], bp[2, w], best[1, w] / best[2, w]
  }
}
