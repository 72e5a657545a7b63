# conv_table.awk — one line from bench_gpu_ops conv's rows (run.sh's bench_conv and quick.sh's
# rows): per convolution, forward + backward milliseconds on cuDNN with f32 data, cuDNN16 (bf16
# data) and im2col ("L1 512 k3 s2 T=63999: cuDNN 1.234, cuDNN16 0.8, im2col 2.345; ..."). Rows
# look like "conv <tag words> fwd|bwd cuDNN|cuDNN16|im2col   <ms> ms  <rate> TFLOP/s".
$1 == "conv" && ($(NF) == "TFLOP/s") {
  tag = ""
  for (i = 2; i <= NF; i++) {
    if ($i == "fwd" || $i == "bwd") break
    tag = tag (tag == "" ? "" : " ") $i
  }
  mode = $(i + 1)
  ms = $(i + 2) + 0
  if (!(tag in seen)) { seen[tag] = 1; order[++k] = tag }
  sum[tag, mode] += ms
}
END {
  for (j = 1; j <= k; j++) {
    t = order[j]
    printf "%s: cuDNN %.3f, cuDNN16 %.3f, im2col %.3f; ", t, sum[t, "cuDNN"], sum[t, "cuDNN16"], sum[t, "im2col"]
  }
  printf "\n"
}
