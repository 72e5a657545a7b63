#!/usr/bin/env bash
# Makes .venv-ref/: a Python venv over Debian's python3-torch (--system-site-packages) with
# the pinned reference packages the benchmarks and fixture generators compare against.
# Only needed to regenerate fixtures or run bench/run_*.sh; tests never need it.
set -euo pipefail
cd "$(dirname "$0")/.."
TSASR_WITH_REFERENCE=1 bash scripts/install-deps.sh
[ -x .venv-ref/bin/python ] || /usr/bin/python3 -m venv --system-site-packages .venv-ref
.venv-ref/bin/pip install -q "transformers==4.40.2" "safetensors==0.4.3"
.venv-ref/bin/python -c 'import torch, transformers; print("reference venv: torch", torch.__version__, "transformers", transformers.__version__)'
