# ratios.awk — throughput ratios of bench_device (first file) over bench_device_torch.py (second
# file) per GEMM precision, for tests/gpu/run.sh. Sections start with "-- GEMM <p>" / "-- torch <p>".
FNR == 1 { f++ }
/^-- (GEMM|torch) / { p = $3 }
/^sft_tokens_per_s/ { v[f, p, "sft"] = $2 }
/^rollout/ { for (i = 1; i <= NF; i++) if ($i == "tokens/s") v[f, p, "roll"] = $(i - 1) }
END {
  print "throughput ratios (tsasr / PyTorch+HF, same GPU; > 1 = tsasr faster):"
  n = split("f32 bf16", ps, " ")
  for (i = 1; i <= n; i++) for (k = 1; k <= 2; k++) {
    w = k == 1 ? "sft" : "roll"
    if (v[1, ps[i], w] > 0 && v[2, ps[i], w] > 0)
      printf "  %-5s %-8s tsasr %10.0f  torch %10.0f  ratio %.2f\n", ps[i], w == "sft" ? "SFT" : "rollout", v[1, ps[i], w], v[2, ps[i], w], v[1, ps[i], w] / v[2, ps[i], w]
  }
}
