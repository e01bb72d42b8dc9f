#!/usr/bin/env bash
# Make the sample dataset from the bundled inputs into ./sample-out (and a preview picture).
# Creates ./.venv on first use. Extra arguments go to `fgbg-depth generate`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
.venv/bin/python -m pip install -q -e .
.venv/bin/fgbg-depth generate --out sample-out "$@"
.venv/bin/fgbg-depth preview sample-out --n 8 --out sample-out/.fgbg-depth/preview.png
echo "dataset: sample-out/   preview: sample-out/.fgbg-depth/preview.png"
