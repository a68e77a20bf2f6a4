#!/usr/bin/env bash
# The GPU path, measured on one GPU in under 8 minutes (see benchmarks/gpu_check.py for what and how):
#   (a) training-step throughput and MFU at GPT-2-medium/large shapes, bf16 fast loop vs naive fp32 loop;
#   (b) the pipeline at the paper's scale (4K/4K/4K pairs, max_length 512) and the projected GPT-2 grid;
#   (c) bf16 vs fp32 agreement of the four losses and their gradients.
# No network: random-initialised models at real shapes, synthetic data. Writes $OUT/gpu_check.json
# (or ./gpu_check.json) and prints a summary. Extra arguments go to the Python script (e.g. --tiny).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout "${GPU_CHECK_TIMEOUT:-470}" "${PYTHON:-python3}" benchmarks/gpu_check.py --out "${OUT:-.}/gpu_check.json" "$@"
