#!/usr/bin/env bash
# The GPU check: DenseDepth throughput per precision and batch size, then one end-to-end generate
# with DenseDepth on the GPU. Figures go to stdout and to $OUT (or bench/out).
# Meant for a machine with JAX + CUDA and no TensorFlow: Keras 3 runs on its JAX backend there.
set -u
OUT=${OUT:-bench/out}; mkdir -p "$OUT"
export KERAS_BACKEND=${KERAS_BACKEND:-jax} XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
PY=${PY:-python3}
nvidia-smi -L 2>/dev/null | tee "$OUT/gpu.txt"
nproc | tee -a "$OUT/gpu.txt"
timeout 260 $PY bench/depth_bench.py --batch-size 64 --batches 16 --repeats 5 2>&1 | grep -v -E "absl|oneDNN" | tee "$OUT/bench_b64.txt"
timeout 150 $PY bench/depth_bench.py --batch-size 128 --batches 8 --repeats 5 --precisions bfloat16 2>&1 | grep -v -E "absl|oneDNN" | tee "$OUT/bench_b128.txt"
$PY bench/make_random_weights.py /tmp/random_nyu.h5
T=""; [ -x /usr/bin/time ] && T="/usr/bin/time -v"
$T timeout 150 $PY -m fgbg_depth generate --out /tmp/dd-out --depth densedepth \
  --depth-weights /tmp/random_nyu.h5 --precision bfloat16 --placements 20 --workers "$(nproc)" 2>&1 \
  | tr '\r' '\n' | grep -E "wrote|samples/s\]$|Elapsed|Maximum resident|error" | tail -8 | tee "$OUT/generate.txt"
