# conv_table.awk — one line from bench_gpu_ops conv's rows (run.sh's bench_conv and quick.sh's
# rows): per convolution, forward + backward milliseconds on cuDNN with f32 data, cuDNN16 (bf16
# data, when timed) and im2col ("L1 512 k3 s2 T=63999: cuDNN 1.234, im2col 2.345, cuDNN16
# 0.8; ..."). Rows look like "conv <tag words> fwd|bwd <how> <ms> ms <rate> TFLOP/s
# cudnn=<calls>/<fallbacks>"; each row is printed twice (as it runs, then in the table), so a
# value is kept, not summed, per (convolution, path, direction).
$1 == "conv" {
  tag = ""
  for (i = 2; i <= NF; i++) {
    if ($i == "fwd" || $i == "bwd") break
    tag = tag (tag == "" ? "" : " ") $i
  }
  if (i > NF || $(i + 3) != "ms") next
  if (!(tag in seen)) { seen[tag] = 1; order[++k] = tag }
  mode = $(i + 1)
  if (!((tag, mode) in has)) { has[tag, mode] = 1; modes[tag] = modes[tag] " " mode }
  v[tag, mode, $i] = $(i + 2) + 0
}
END {
  for (j = 1; j <= k; j++) {
    t = order[j]
    n = split(modes[t], ms, " ")
    printf "%s:", t
    for (m = 1; m <= n; m++)
      printf "%s %s %.3f", (m > 1 ? "," : ""), ms[m], v[t, ms[m], "fwd"] + v[t, ms[m], "bwd"]
    printf "; "
  }
  printf "\n"
}
