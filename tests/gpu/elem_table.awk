# elem_table.awk — one line from bench_gpu_ops elem's rows (run.sh's bench_elem and quick.sh's
# rows): for each kernel and size, its TB/s without a cap on the grid, then the best cap's
# ("gelu f32->bf16 n=4091904: 1.35 -> 2.90 (8/SM); ...", the rate alone for a kernel timed
# without caps). Rows look like
# "elem <kernel words> n=<items> cap=<c>/SM   <ms> ms  <rate> TB/s".
$1 == "elem" && $(NF) == "TB/s" {
  n = ""; c = ""
  name = ""
  for (i = 2; i <= NF; i++) {
    if ($i ~ /^n=/) { n = $i; c = $(i + 1); break }
    name = name (name == "" ? "" : " ") $i
  }
  sub(/^cap=/, "", c)
  key = name " " n
  rate = $(NF - 1) + 0
  if (!(key in base)) { order[++k] = key; base[key] = -1; best[key] = -1 }
  if (c == "0/SM") base[key] = rate
  else if (rate > best[key]) { best[key] = rate; bestc[key] = c }
}
END {
  for (i = 1; i <= k; i++) {
    key = order[i]
    if (best[key] < 0) printf "%s: %.2f; ", key, base[key] # no capped rows (layernorm_ch)
    else printf "%s: %.2f -> %.2f (%s); ", key, base[key], best[key], bestc[key]
  }
  printf "\n"
}
