#!/usr/bin/env bash
# Run the test suite in ./.venv (created on first use, with the CPU build of TensorFlow for the
# model tests, Ray Data for the ray engine's, SciPy for Poisson blending, ONNX Runtime and onnx for the
# cut-out tests). Extra arguments go to pytest: -m "not slow" is the quick tier.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
.venv/bin/python -m pip install -q -e ".[test,depth,ray,blend,cutout]"
# PyTorch runs the README's DataLoader example; installed only from a CPU wheel already on this disk
# (never a multi-GB download). Without it that one test skips.
for wheel in /opt/wheels/torch-*+cpu-cp3*.whl; do
  [ -f "$wheel" ] && { .venv/bin/python -m pip install -q "$wheel" 2>/dev/null || true; break; }
done
exec .venv/bin/python -m pytest -q "$@"
