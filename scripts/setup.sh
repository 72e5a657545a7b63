#!/usr/bin/env bash
# The main job: installs what tsasr needs, builds it and runs it on the bundled default.
# (Until the workbench and the small default model land, the main job is `tsasr doctor`.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
./build/tsasr doctor
