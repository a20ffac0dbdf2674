#!/usr/bin/env bash
# The CUDA checks, for a machine with an NVIDIA GPU and its driver (CI has none): the tiny-model
# logits against transformers' on Burn's CUDA backend, dense and 4-bit, within the CPU backends'
# tolerance, then a short report with --device cuda. cudarc loads the CUDA libraries at run time;
# the toolkit's nvrtc must be on the library path.
#
#   bash scripts/gpu/cuda_tests.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
QUANTBOUND_TEST_CUDA=1 cargo test -p quantbound-llama --features cuda --test forward cuda:: -- --nocapture
out=$(mktemp -d)/report
cargo run --release -p quantbound-cli --features cuda -- report --device cuda \
  --model crates/quantbound-llama/tests/data/tiny_llama/tied_gqa --layer 1 --sensitivity off --out "$out"
test -s "$out/report.json"
grep -o '"backend": *"[^"]*"' "$out/report.json"
