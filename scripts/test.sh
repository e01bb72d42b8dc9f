#!/usr/bin/env bash
# Run the test suite in ./.venv (created on first use, with the CPU build of TensorFlow for the
# DenseDepth tests and Ray Data for the ray engine's). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
.venv/bin/python -m pip install -q -e ".[test,depth,ray]"
exec .venv/bin/python -m pytest -q "$@"
