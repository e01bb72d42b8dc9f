#!/usr/bin/env bash
# The GPU check, most important figures first (each step has its own time limit):
#   1. Depth Anything V2 Small bf16 throughput at batch 128 (uint8 on the host -> depth on the host)
#   2. end-to-end `generate --depth depth-anything` (random V2 Small weights), at two sizes: the
#      samples/s of each, and the steady-state rate between them (the one-time compile cancels out)
#   3. DenseDepth bf16 at batch 128, both upsampling forms; `generate --depth densedepth` twice with
#      different --workers, and whether the two runs wrote byte-identical shards on the GPU
#   4. float32 of both models at batch 128
# Figures go to stdout and to $OUT (or bench/out). Meant for a machine with JAX + CUDA and no
# TensorFlow: Keras 3 runs on its JAX backend there. DA_SMALL/DA_LARGE set the two Depth Anything
# generate sizes in placements [100, 300], PLACEMENTS the DenseDepth one [200].
set -u
OUT=${OUT:-bench/out}; mkdir -p "$OUT"
export KERAS_BACKEND=${KERAS_BACKEND:-jax} XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
PY=${PY:-python3}; SIZE=${SIZE:-448}; PLACEMENTS=${PLACEMENTS:-200}; BATCHES=${BATCHES:-10}; B=${B:-128}
DA_SMALL=${DA_SMALL:-100}; DA_LARGE=${DA_LARGE:-300}
quiet() { grep -v -E "absl|oneDNN|cpu_feature_guard"; }
{ nvidia-smi -L; echo "cores: $(nproc)"; df -h /dev/shm | tail -1
  $PY -c "import jax, keras; print('jax', jax.__version__, 'keras', keras.__version__, jax.devices())"; } 2>&1 | tee "$OUT/gpu.txt"

# 1. Depth Anything, model only
timeout ${T_DA:-150} $PY bench/depth_bench.py --models depth-anything --size "$SIZE" --batch-size "$B" \
  --batches "$BATCHES" --repeats 3 --precisions bfloat16 2>&1 | quiet | tee "$OUT/bench_da_bf16.txt"

# 2. Depth Anything, whole generate runs at two sizes
$PY bench/make_random_depth_anything.py /tmp/da-small | tee -a "$OUT/gpu.txt"
for p in "$DA_SMALL" "$DA_LARGE"; do
  rm -rf "/tmp/da-$p"
  timeout ${T_DAGEN:-150} $PY -m fgbg_depth generate --out "/tmp/da-$p" --depth depth-anything --depth-model /tmp/da-small \
    --depth-input-size "$SIZE" --precision bfloat16 --placements "$p" --workers "$(nproc)" 2>&1 \
    | tr '\r' '\n' | grep -E "wrote|samples/s\]$|rror" | tail -3 | tee "$OUT/generate_da_p$p.txt"
  cp "/tmp/da-$p/.fgbg-depth/report.json" "$OUT/report_da_p$p.json" 2>/dev/null
done
$PY - "$OUT/report_da_p$DA_SMALL.json" "$OUT/report_da_p$DA_LARGE.json" <<'PYEOF' 2>&1 | tee "$OUT/generate_da_steady.txt"
import json, sys
runs = []
for path in sys.argv[1:]:
    try:
        r = json.load(open(path))
    except OSError:
        print(f"missing {path}"); continue
    n, t = r["num_samples"], r["timings_s"]["shards"]
    runs.append((n, t))
    print(f"depth-anything generate: {n} samples, shards stage {t:.1f} s = {n / t:.0f} samples/s "
          f"(prepare {r['timings_s']['prepare']:.1f} s, finalize {r['timings_s']['finalize']:.1f} s)")
if len(runs) == 2 and runs[1][1] > runs[0][1]:
    print(f"steady state: {(runs[1][0] - runs[0][0]) / (runs[1][1] - runs[0][1]):.0f} samples/s "
          "(the extra samples of the larger run over its extra time: the compile cancels out)")
PYEOF

# 3. DenseDepth
timeout ${T_BENCH:-130} $PY bench/depth_bench.py --models densedepth --size "$SIZE" --batch-size "$B" --batches "$BATCHES" \
  --repeats 3 --precisions bfloat16 --upsample gather,matmul 2>&1 | quiet | tee "$OUT/bench_bf16.txt"
$PY bench/make_random_weights.py /tmp/random_nyu.h5
T=""; [ -x /usr/bin/time ] && T="/usr/bin/time -v"
W1=$(nproc); W2=$(( $(nproc) * 3 / 4 ))
for w in "$W1" "$W2"; do
  rm -rf "/tmp/dd-$w"
  $T timeout ${T_GEN:-100} $PY -m fgbg_depth generate --out "/tmp/dd-$w" --depth densedepth --depth-input-size "$SIZE" \
    --depth-weights /tmp/random_nyu.h5 --precision bfloat16 --placements "$PLACEMENTS" --workers "$w" 2>&1 \
    | tr '\r' '\n' | grep -E "wrote|samples/s\]$|Elapsed|Maximum resident|rror" | tail -6 | tee "$OUT/generate_w$w.txt"
  cp "/tmp/dd-$w/.fgbg-depth/report.json" "$OUT/report_w$w.json" 2>/dev/null && $PY -c "
import json, sys; r = json.load(open(sys.argv[1]))
print(f\"workers $w: {r['num_samples'] / r['timings_s']['shards']:.0f} samples/s over the shards stage \"
      f\"({r['num_samples']} samples in {r['timings_s']['shards']:.1f} s; prepare {r['timings_s']['prepare']:.1f} s)\")
" "$OUT/report_w$w.json" | tee -a "$OUT/generate_w$w.txt"
done
(cd "/tmp/dd-$W2" && sha256sum data/*.parquet) > /tmp/sums2 2>/dev/null
if [ -s /tmp/sums2 ] && (cd "/tmp/dd-$W1" && sha256sum -c --quiet /tmp/sums2) >/dev/null 2>&1; then
  echo "determinism: the two GPU runs wrote byte-identical shards ($(wc -l </tmp/sums2) files)" | tee "$OUT/determinism.txt"
else
  echo "determinism: the two GPU runs DIFFER (or one failed)" | tee "$OUT/determinism.txt"
fi

# 4. float32
timeout ${T_FP32:-90} $PY bench/depth_bench.py --models depth-anything,densedepth --size "$SIZE" --batch-size "$B" \
  --batches "$BATCHES" --repeats 3 --precisions float32 2>&1 | quiet | tee "$OUT/bench_fp32.txt"
