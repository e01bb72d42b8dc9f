#!/usr/bin/env bash
# Make the sample dataset from the bundled inputs into ./sample-out (and a preview picture), then
# check it with `fgbg-depth verify`. Creates ./.venv on first use. Extra arguments go to
# `fgbg-depth generate`. (A plain install: scripts/test.sh makes the editable one developers use.)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
.venv/bin/python -m pip install -q .
.venv/bin/fgbg-depth generate --out sample-out "$@"
.venv/bin/fgbg-depth preview sample-out --n 8 --out sample-out/.fgbg-depth/preview.png
.venv/bin/fgbg-depth verify sample-out
echo "dataset: sample-out/   preview: sample-out/.fgbg-depth/preview.png"
