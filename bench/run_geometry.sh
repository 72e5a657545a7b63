#!/usr/bin/env bash
# The paper's geometry (data2vec-audio large + Qwen2.5-0.5B, random weights): tsasr against
# PyTorch + transformers on the same shapes in the same run, at the same thread count.
# Needs a Python with transformers (PY, default .venv-ref/bin/python from tools/make_reference_venv.sh: a venv made with
# --system-site-packages over Debian's torch, `pip install transformers==4.40.2`).
# Usage: bench/run_geometry.sh [THREADS [SECONDS [TOKENS [GEMM]]]]   GEMM: f32 (default) or bf16 (our
# bf16 GEMM precision against PyTorch's CPU autocast to bf16)
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}" secs="${2:-20}" toks="${3:-300}"
export BENCH_GEMM="${4:-f32}"
py="${PY:-.venv-ref/bin/python}"
export OMP_NUM_THREADS="$threads" TSASR_THREADS="$threads"
echo "== tsasr (threads $threads, GEMM $BENCH_GEMM)"
ours=$(./build/bench_geometry "$secs" "$toks")
echo "$ours"
echo "== PyTorch $("$py" -c 'import torch, transformers; print(torch.__version__, "transformers", transformers.__version__)')"
theirs=$("$py" -c "import torch; torch.set_num_threads($threads); import runpy, sys; sys.argv=['x','$secs','$toks']; runpy.run_path('bench/bench_geometry_torch.py', run_name='__main__')" 2>/dev/null)
echo "$theirs"
# the encoder: PyTorch's no_grad forward against our inference forward (both keep nothing for
# backward), first run and second; our training forward (keeps what backward needs) is printed above
for k in "encoder_infer_first_${secs}s" "encoder_infer_${secs}s" "llm_fwd_T${toks}"; do
  a=$(echo "$ours" | awk -v k="$k" '$1 == k {print $2}')
  b=$(echo "$theirs" | awk -v k="$k" '$1 == k {print $2}')
  printf "%-22s tsasr %8.3f s  torch %8.3f s  ratio %.2f (ours/theirs; < 1 is faster)\n" "$k" "$a" "$b" "$(echo "$a / $b" | bc -l)"
done
