# Sourced by sample.sh and test.sh: make ./.venv on first use (PYTHON picks the interpreter).
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
