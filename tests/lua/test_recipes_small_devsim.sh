#!/bin/bash
# test_recipes_small_devsim.sh — the small recipes end to end (test_recipes_small.sh) with every
# model stage on the simulated device (device=devsim: CPU kernels, device-memory rules), so a
# recipe that touches device memory from the host fails here instead of on a GPU.
# $1: tsasr binary, $2: build dir.
TSASR_TEST_DEVICE=devsim exec bash "$(dirname "$0")/test_recipes_small.sh" "$@"
